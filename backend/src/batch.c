/* SPDX-License-Identifier: MIT */
/*
 * Decoding and semantic validation of SpanBatch frames. The sender is trusted no more than the
 * network: a batch is either valid as a whole or rejected before any of it is stored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "batch_wire.h"
#include "dft/abi.h"
#include "dft/text.h"

/*
 * protobuf-c allocates every sub-message, string and array of a batch separately: a malloc and a
 * free each, a few hundred per batch. They all live exactly as long as the batch, so they come from
 * a bump arena freed whole with it. The budget (DFT_DECODE_MAX_BYTES of requested bytes) bounds
 * what a hostile frame can make the collector allocate.
 */
struct arena_chunk {
	struct arena_chunk *next;
	size_t cap, used;
	_Alignas(16) uint8_t mem[];
};

struct arena {
	struct arena_chunk *head;
	size_t left; /* budget */
	size_t first; /* size of the first chunk: scaled to the frame */
};

#define ARENA_ALIGN 16u

/*
 * One chunk kept for the next batch: a chunk this size comes from mmap, and a fresh one per batch
 * would be page-faulted in every time. Any thread may decode: the slot is swapped atomically.
 */
static struct arena_chunk *arena_spare;

static struct arena_chunk *chunk_get(size_t cap)
{
	struct arena_chunk *c = __atomic_exchange_n(&arena_spare, NULL, __ATOMIC_ACQUIRE);

	if (c && c->cap >= cap)
		return c;
	free(c);
	c = malloc(sizeof(*c) + cap);
	if (c)
		c->cap = cap;
	return c;
}

static void chunk_put(struct arena_chunk *c)
{
	c = __atomic_exchange_n(&arena_spare, c, __ATOMIC_ACQ_REL);
	free(c);
}

static void *arena_alloc(void *data, size_t size)
{
	struct arena *a = data;
	struct arena_chunk *c = a->head;
	size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	uint8_t *p;

	if (size > a->left || need < size)
		return NULL;
	if (!c || c->cap - c->used < need) {
		size_t cap = c ? 2 * c->cap : a->first;

		if (cap < need)
			cap = need;
		c = chunk_get(cap);
		if (!c)
			return NULL;
		c->used = 0;
		c->next = a->head;
		a->head = c;
	}
	p = c->mem + c->used;
	c->used += need;
	a->left -= size;
	return p;
}

static void arena_free(void *data, void *ptr)
{
	/* protobuf-c frees pieces only on a failed unpack; the arena goes as a whole right after */
	(void)data;
	(void)ptr;
}

static void arena_release(struct arena *a)
{
	while (a->head) {
		struct arena_chunk *next = a->head->next;

		/* the last in the list is the first allocated, sized to the frame: the one to keep */
		if (next)
			free(a->head);
		else
			chunk_put(a->head);
		a->head = next;
	}
}

/* The allocator protobuf-c allocated with stays with the message. */
struct dft_decoded_priv {
	struct dft_decoded pub;
	struct arena arena;
	ProtobufCAllocator alloc;
};

int dft_batch_decode(const uint8_t *p, size_t len, struct dft_decoded **out, const char **reason)
{
	struct dft_decoded_priv *d;

	*out = NULL;
	d = calloc(1, sizeof(*d));
	if (!d) {
		*reason = "out of memory";
		return -ENOMEM;
	}
	d->arena.left = DFT_DECODE_MAX_BYTES;
	/* unpacked, a batch takes a few times its packed size: usually one chunk does */
	d->arena.first = len < (SIZE_MAX - 4096) / 8 ? 8 * len + 4096 : SIZE_MAX / 2;
	if (d->arena.first > DFT_DECODE_MAX_BYTES)
		d->arena.first = DFT_DECODE_MAX_BYTES;
	d->alloc.alloc = arena_alloc;
	d->alloc.free = arena_free;
	d->alloc.allocator_data = &d->arena;
	/* the decoder written for SpanBatch (batch_wire.c), same structs as protobuf-c's unpack */
	d->pub.batch = dft_batch_unpack(p, len, arena_alloc, &d->arena);
	if (!d->pub.batch) {
		arena_release(&d->arena);
		free(d);
		*reason = "protobuf decode failed";
		return -EBADMSG;
	}
	*out = &d->pub;
	return 0;
}

void dft_batch_free(struct dft_decoded *dec)
{
	struct dft_decoded_priv *d = (struct dft_decoded_priv *)dec;

	if (!d)
		return;
	arena_release(&d->arena);
	free(d);
}

static bool str_ok(const Difftrace__SpanBatch *b, uint32_t idx)
{
	return idx < b->n_strings && b->strings[idx] != NULL;
}

static int bad(const char **reason, const char *why)
{
	*reason = why;
	return -EBADMSG;
}

static int span_validate(const Difftrace__SpanBatch *b, const Difftrace__Span *s, const char **reason)
{
	size_t i;

	if (!s)
		return bad(reason, "null span");
	if (s->trace_id.len != 16 || !s->trace_id.data)
		return bad(reason, "trace_id is not 16 bytes");
	for (i = 0; i < 16 && s->trace_id.data[i] == 0; i++)
		;
	if (i == 16)
		return bad(reason, "trace_id is all zero");
	if (s->span_id == 0)
		return bad(reason, "span_id is 0");
	if (s->end_ns < s->start_ns)
		return bad(reason, "end_ns before start_ns");
	if (!str_ok(b, s->component))
		return bad(reason, "component string index out of range");
	if (!str_ok(b, s->operation))
		return bad(reason, "operation string index out of range");
	if ((unsigned)s->kind > DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_FUNCTION)
		return bad(reason, "component kind out of range");
	if ((unsigned)s->status > DIFFTRACE__STATUS__STATUS_ERROR)
		return bad(reason, "status out of range");
	if (s->span_kind > 5)
		return bad(reason, "span_kind out of range (OTLP SpanKind 0..5)");
	/* a NIC sends at most DFT_SLOT_ATTRS per span: a sender far past that is broken or hostile, and
	 * must not make the store refuse (and roll back) the work of others */
	if (s->n_attrs > DFT_BATCH_ATTRS_MAX)
		return bad(reason, "more attributes on a span than a NIC sends");
	for (i = 0; i < s->n_attrs; i++) {
		if (!s->attrs[i] || !str_ok(b, s->attrs[i]->key))
			return bad(reason, "attribute key string index out of range");
	}
	for (i = 0; i < s->n_hops; i++) {
		if (!s->hops[i] || s->hops[i]->span_id == 0)
			return bad(reason, "hop without a span id");
	}
	if (s->status_message && s->status_message[0]) {
		/* the NIC sends only what it validated: anything else is a broken or lying sender */
		size_t len = strnlen(s->status_message, DFT_STATUS_MSG_MAX + 1);

		if (len > DFT_STATUS_MSG_MAX)
			return bad(reason, "status_message longer than 120 bytes");
		if (!dft_text_valid(s->status_message, len))
			return bad(reason, "status_message is not printable UTF-8");
		if (s->status != DIFFTRACE__STATUS__STATUS_ERROR)
			return bad(reason, "status_message on a span without status ERROR");
	}
	return 0;
}

static int profile_validate(const Difftrace__SpanBatch *b, const Difftrace__Profile *p, const char **reason)
{
	size_t i;

	if (!p)
		return bad(reason, "null profile");
	for (i = 0; i < p->n_entries; i++) {
		const Difftrace__ProfileEntry *e = p->entries[i];

		if (!e)
			return bad(reason, "null profile entry");
		if (!str_ok(b, e->component) || !str_ok(b, e->operation))
			return bad(reason, "profile entry string index out of range");
	}
	return 0;
}

int dft_batch_validate(const Difftrace__SpanBatch *b, uint64_t hello_sender, const char **reason)
{
	size_t i;
	int rc;

	if (!b->header)
		return bad(reason, "missing header");
	if (b->header->sequence == 0)
		return bad(reason, "sequence 0 (sequences start at 1)");
	if (b->header->sender_id != hello_sender)
		return bad(reason, "sender_id differs from the HELLO");
	for (i = 0; i < b->n_strings; i++) {
		if (b->strings[i] && strnlen(b->strings[i], DFT_BATCH_STRING_MAX + 1) > DFT_BATCH_STRING_MAX)
			return bad(reason, "a string longer than a NIC sends");
	}
	for (i = 0; i < b->n_spans; i++) {
		rc = span_validate(b, b->spans[i], reason);
		if (rc)
			return rc;
	}
	for (i = 0; i < b->n_profiles; i++) {
		rc = profile_validate(b, b->profiles[i], reason);
		if (rc)
			return rc;
	}
	return 0;
}

int dft_batch_check(const uint8_t *p, size_t len, uint64_t sender_id, uint64_t expect_seq, struct dft_decoded **out,
                    const char **reason)
{
	struct dft_decoded *d;
	int rc;

	*out = NULL;
	rc = dft_batch_decode(p, len, &d, reason);
	if (rc)
		return rc;
	rc = dft_batch_validate(d->batch, sender_id, reason);
	if (!rc && expect_seq && d->batch->header->sequence != expect_seq)
		rc = bad(reason, "batch sequence differs from the transport's");
	if (rc) {
		dft_batch_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

size_t dft_batch_hops(const Difftrace__SpanBatch *b)
{
	size_t i, n = 0;

	for (i = 0; i < b->n_spans; i++)
		n += b->spans[i]->n_hops;
	return n;
}
