/* SPDX-License-Identifier: MIT */
/*
 * Decoding and semantic validation of SpanBatch frames. The sender is trusted no more than the
 * network: a batch is either valid as a whole or rejected before any of it is stored.
 */
#include <errno.h>
#include <stdlib.h>

#include "collector.h"

/* Every allocation carries its size in front so the budget can be given back on free. */
struct decode_budget {
	size_t left;
};

#define ALLOC_HDR 16u

static void *budget_alloc(void *data, size_t size)
{
	struct decode_budget *bud = data;
	uint8_t *p;

	if (size > bud->left || size > SIZE_MAX - ALLOC_HDR)
		return NULL;
	p = malloc(size + ALLOC_HDR);
	if (!p)
		return NULL;
	bud->left -= size;
	*(size_t *)p = size;
	return p + ALLOC_HDR;
}

static void budget_free(void *data, void *ptr)
{
	struct decode_budget *bud = data;
	uint8_t *p;

	if (!ptr)
		return;
	p = (uint8_t *)ptr - ALLOC_HDR;
	bud->left += *(size_t *)p;
	free(p);
}

/* The allocator protobuf-c frees with must be the one it allocated with: keep it with the message. */
struct dft_decoded_priv {
	struct dft_decoded pub;
	struct decode_budget budget;
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
	d->budget.left = DFT_DECODE_MAX_BYTES;
	d->alloc.alloc = budget_alloc;
	d->alloc.free = budget_free;
	d->alloc.allocator_data = &d->budget;
	d->pub.batch = difftrace__span_batch__unpack(&d->alloc, len, p);
	if (!d->pub.batch) {
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
	difftrace__span_batch__free_unpacked(d->pub.batch, &d->alloc);
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
	for (i = 0; i < s->n_attrs; i++) {
		if (!s->attrs[i] || !str_ok(b, s->attrs[i]->key))
			return bad(reason, "attribute key string index out of range");
	}
	for (i = 0; i < s->n_hops; i++) {
		if (!s->hops[i] || s->hops[i]->span_id == 0)
			return bad(reason, "hop without a span id");
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
