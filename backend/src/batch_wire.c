/* SPDX-License-Identifier: MIT */
/*
 * A decoder written for the one message the collector receives, SpanBatch (proto/difftrace.proto):
 * it fills the same protobuf-c structs protobuf-c's generic unpack fills, from the arena the caller
 * gives, at a fraction of the cost (the generic unpack looks every field up in the descriptor and
 * was ~19% of the collector's instructions per stored span).
 *
 * Wire rules kept from protobuf-c: a varint is at most 10 bytes; 32-bit fields take the low 32 bits;
 * a known field with the wrong wire type fails the message; unknown fields are skipped (protobuf-c
 * keeps them, nothing here reads them); repeated fields may be interleaved; a scalar seen twice keeps
 * the last value. One difference: a singular sub-message (header, counters) seen twice fails the
 * message, where protobuf-c merges the two; no sender writes that.
 *
 * Each message is read twice: once to count its repeated fields (so every array is allocated at its
 * size), once to fill it.
 */
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "batch_wire.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct rd {
	const uint8_t *p, *end;
	void *(*alloc)(void *arg, size_t size);
	void *arg;
};

static inline __attribute__((always_inline)) bool varint(const uint8_t **pp, const uint8_t *end, uint64_t *v)
{
	const uint8_t *p = *pp;
	uint64_t r = 0;

	/* most keys and small values are one byte */
	if (p < end && *p < 0x80) {
		*v = *p;
		*pp = p + 1;
		return true;
	}
	for (unsigned i = 0; i < 10; i++) {
		if (p == end)
			return false;
		r |= (uint64_t)(*p & 0x7f) << (7 * i);
		if (!(*p++ & 0x80)) {
			*pp = p;
			*v = r;
			return true;
		}
	}
	return false;
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static uint32_t le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

/*
 * The next field: its number, wire type and value (varint or fixed in *v; length-delimited as
 * [*sub, *sub + *v)). false: malformed, or a wire type this schema never uses (groups).
 */
static inline __attribute__((always_inline)) bool field(const uint8_t **pp, const uint8_t *end, uint32_t *num, unsigned *wt, uint64_t *v,
                  const uint8_t **sub)
{
	uint64_t key;

	if (!varint(pp, end, &key) || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
		return false;
	*num = (uint32_t)(key >> 3);
	*wt = (unsigned)(key & 7);
	switch (*wt) {
	case WT_VARINT:
		return varint(pp, end, v);
	case WT_I64:
		if (end - *pp < 8)
			return false;
		*v = le64(*pp);
		*pp += 8;
		return true;
	case WT_I32:
		if (end - *pp < 4)
			return false;
		*v = le32(*pp);
		*pp += 4;
		return true;
	case WT_LEN:
		if (!varint(pp, end, v) || *v > (uint64_t)(end - *pp))
			return false;
		*sub = *pp;
		*pp += *v;
		return true;
	default:
		return false;
	}
}

static void *alloc(struct rd *r, size_t size)
{
	return r->alloc(r->arg, size ? size : 1);
}

static char *str_copy(struct rd *r, const uint8_t *p, size_t len)
{
	char *s = alloc(r, len + 1);

	if (s) {
		memcpy(s, p, len);
		s[len] = 0;
	}
	return s;
}

/* a known field's wire type must be the schema's */
#define EXPECT(w)                                                                                                     \
	do {                                                                                                          \
		if (wt != (w))                                                                                        \
			return false;                                                                                 \
	} while (0)

static bool counters(struct rd *r, const uint8_t *p, const uint8_t *end, Difftrace__Counters *c)
{
	uint64_t *f[] = {NULL,
	                 &c->produced,
	                 &c->reported,
	                 &c->filtered,
	                 &c->lost_ring_full,
	                 &c->lost_invalid,
	                 &c->lost_backlog_full,
	                 &c->lost_transport,
	                 &c->lost_hold_overflow,
	                 &c->lost_no_ring,
	                 &c->batches,
	                 &c->adopted};

	(void)r;
	difftrace__counters__init(c);
	while (p < end) {
		const uint8_t *sub;
		uint64_t v;
		uint32_t num;
		unsigned wt;

		if (!field(&p, end, &num, &wt, &v, &sub))
			return false;
		if (num >= 1 && num < sizeof(f) / sizeof(f[0])) {
			EXPECT(WT_VARINT);
			*f[num] = v;
		}
	}
	return true;
}

static bool header(struct rd *r, const uint8_t *p, const uint8_t *end, Difftrace__BatchHeader *h)
{
	difftrace__batch_header__init(h);
	while (p < end) {
		const uint8_t *sub;
		uint64_t v;
		uint32_t num;
		unsigned wt;

		if (!field(&p, end, &num, &wt, &v, &sub))
			return false;
		switch (num) {
		case 1:
			EXPECT(WT_I64);
			h->sender_id = v;
			break;
		case 2:
			EXPECT(WT_VARINT);
			h->sequence = v;
			break;
		case 3:
			EXPECT(WT_I64);
			h->created_ns = v;
			break;
		case 4:
			EXPECT(WT_LEN);
			if (h->counters)
				return false;
			h->counters = alloc(r, sizeof(*h->counters));
			if (!h->counters || !counters(r, sub, sub + v, h->counters))
				return false;
			break;
		case 5:
			EXPECT(WT_I64);
			h->epoch = v;
			break;
		}
	}
	return true;
}

static bool attr(const uint8_t *p, const uint8_t *end, Difftrace__Attr *a)
{
	difftrace__attr__init(a);
	while (p < end) {
		const uint8_t *sub;
		uint64_t v;
		uint32_t num;
		unsigned wt;

		if (!field(&p, end, &num, &wt, &v, &sub))
			return false;
		if (num == 1) {
			EXPECT(WT_VARINT);
			a->key = (uint32_t)v;
		} else if (num == 2) {
			EXPECT(WT_VARINT);
			a->value = (int64_t)(v >> 1) ^ -(int64_t)(v & 1); /* sint64: zigzag */
		}
	}
	return true;
}

static bool hop(const uint8_t *p, const uint8_t *end, Difftrace__Hop *h)
{
	difftrace__hop__init(h);
	while (p < end) {
		const uint8_t *sub;
		uint64_t v;
		uint32_t num;
		unsigned wt;

		if (!field(&p, end, &num, &wt, &v, &sub))
			return false;
		switch (num) {
		case 3:
			EXPECT(WT_I64);
			h->span_id = v;
			break;
		case 4:
			EXPECT(WT_I64);
			h->start_ns = v;
			break;
		case 5:
			EXPECT(WT_I64);
			h->parent_span_id = v;
			break;
		case 6:
			EXPECT(WT_I32);
			h->name_hash = (uint32_t)v;
			break;
		}
	}
	return true;
}

/* Fills the array of a repeated sub-message field (n elements, counted before). */
#define FILL_REPEATED(arr, type, parse)                                                                               \
	do {                                                                                                          \
		type *e = alloc(r, sizeof(*e));                                                                       \
		if (!e || !parse)                                                                                     \
			return false;                                                                                 \
		(arr)[k_##arr++] = e;                                                                                 \
	} while (0)

static bool span(struct rd *r, const uint8_t *p0, const uint8_t *end, Difftrace__Span *s)
{
	const uint8_t *p = p0;
	size_t k_attrs = 0, k_hops = 0;
	Difftrace__Attr **attrs;
	Difftrace__Hop **hops;

	difftrace__span__init(s);
	/* pass 1: the repeated fields' sizes */
	while (p < end) {
		const uint8_t *sub;
		uint64_t v;
		uint32_t num;
		unsigned wt;

		if (!field(&p, end, &num, &wt, &v, &sub))
			return false;
		s->n_attrs += num == 14;
		s->n_hops += num == 15;
	}
	attrs = s->n_attrs ? alloc(r, s->n_attrs * sizeof(*attrs)) : NULL;
	hops = s->n_hops ? alloc(r, s->n_hops * sizeof(*hops)) : NULL;
	if ((s->n_attrs && !attrs) || (s->n_hops && !hops))
		return false;
	s->attrs = attrs;
	s->hops = hops;
	for (p = p0; p < end;) {
		const uint8_t *sub;
		uint64_t v;
		uint32_t num;
		unsigned wt;

		if (!field(&p, end, &num, &wt, &v, &sub))
			return false;
		switch (num) {
		case 1:
			EXPECT(WT_LEN);
			s->trace_id.len = v;
			s->trace_id.data = alloc(r, v);
			if (!s->trace_id.data)
				return false;
			memcpy(s->trace_id.data, sub, v);
			break;
		case 2:
			EXPECT(WT_I64);
			s->span_id = v;
			break;
		case 3:
			EXPECT(WT_I64);
			s->parent_span_id = v;
			break;
		case 4:
			EXPECT(WT_I64);
			s->start_ns = v;
			break;
		case 5:
			EXPECT(WT_I64);
			s->end_ns = v;
			break;
		case 6:
			EXPECT(WT_VARINT);
			s->component = (uint32_t)v;
			break;
		case 7:
			EXPECT(WT_VARINT);
			s->operation = (uint32_t)v;
			break;
		case 8:
			EXPECT(WT_VARINT);
			s->kind = (Difftrace__ComponentKind)(int32_t)v;
			break;
		case 9:
			EXPECT(WT_VARINT);
			s->status = (Difftrace__Status)(int32_t)v;
			break;
		case 10:
			EXPECT(WT_VARINT);
			s->span_kind = (uint32_t)v;
			break;
		case 11:
			EXPECT(WT_VARINT);
			s->queue_ns = v;
			break;
		case 12:
			EXPECT(WT_VARINT);
			s->flags = (uint32_t)v;
			break;
		case 13:
			EXPECT(WT_VARINT);
			s->keep_reasons = (uint32_t)v;
			break;
		case 14:
			EXPECT(WT_LEN);
			FILL_REPEATED(attrs, Difftrace__Attr, attr(sub, sub + v, e));
			break;
		case 15:
			EXPECT(WT_LEN);
			FILL_REPEATED(hops, Difftrace__Hop, hop(sub, sub + v, e));
			break;
		case 16:
			EXPECT(WT_I64);
			s->instance_id = v;
			break;
		case 17:
			EXPECT(WT_VARINT);
			s->pid = (uint32_t)v;
			break;
		case 18:
			EXPECT(WT_LEN);
			s->status_message = str_copy(r, sub, v);
			if (!s->status_message)
				return false;
			break;
		}
	}
	return true;
}

static bool profile_entry(const uint8_t *p, const uint8_t *end, Difftrace__ProfileEntry *e)
{
	uint64_t *f[] = {NULL,          NULL,          NULL,           &e->count, &e->kept, &e->filtered,
	                 &e->duration_p50_ns, &e->duration_p99_ns, &e->queue_p99_ns, &e->self_time_ns};

	difftrace__profile_entry__init(e);
	while (p < end) {
		const uint8_t *sub;
		uint64_t v;
		uint32_t num;
		unsigned wt;

		if (!field(&p, end, &num, &wt, &v, &sub))
			return false;
		if (num >= 1 && num <= 9) {
			EXPECT(WT_VARINT);
			if (num == 1)
				e->component = (uint32_t)v;
			else if (num == 2)
				e->operation = (uint32_t)v;
			else
				*f[num] = v;
		}
	}
	return true;
}

static bool profile(struct rd *r, const uint8_t *p0, const uint8_t *end, Difftrace__Profile *pr)
{
	const uint8_t *p = p0;
	Difftrace__ProfileEntry **entries;
	size_t k_entries = 0;

	difftrace__profile__init(pr);
	while (p < end) {
		const uint8_t *sub;
		uint64_t v;
		uint32_t num;
		unsigned wt;

		if (!field(&p, end, &num, &wt, &v, &sub))
			return false;
		pr->n_entries += num == 2;
	}
	entries = pr->n_entries ? alloc(r, pr->n_entries * sizeof(*entries)) : NULL;
	if (pr->n_entries && !entries)
		return false;
	pr->entries = entries;
	for (p = p0; p < end;) {
		const uint8_t *sub;
		uint64_t v;
		uint32_t num;
		unsigned wt;

		if (!field(&p, end, &num, &wt, &v, &sub))
			return false;
		if (num == 1) {
			EXPECT(WT_I64);
			pr->created_ns = v;
		} else if (num == 2) {
			EXPECT(WT_LEN);
			FILL_REPEATED(entries, Difftrace__ProfileEntry, profile_entry(sub, sub + v, e));
		}
	}
	return true;
}

Difftrace__SpanBatch *dft_batch_unpack(const uint8_t *p0, size_t len, void *(*alloc_fn)(void *arg, size_t size),
                                       void *arg)
{
	struct rd rd = {.p = p0, .end = p0 + len, .alloc = alloc_fn, .arg = arg}, *r = &rd;
	const uint8_t *p = p0, *end = p0 + len;
	size_t k_strings = 0, k_spans = 0, k_profiles = 0;
	Difftrace__SpanBatch *b = alloc(r, sizeof(*b));
	char **strings;
	Difftrace__Span **spans;
	Difftrace__Profile **profiles;

	if (!b)
		return NULL;
	difftrace__span_batch__init(b);
	while (p < end) {
		const uint8_t *sub;
		uint64_t v;
		uint32_t num;
		unsigned wt;

		if (!field(&p, end, &num, &wt, &v, &sub))
			return NULL;
		b->n_strings += num == 2;
		b->n_spans += num == 3;
		b->n_profiles += num == 4;
	}
	strings = b->n_strings ? alloc(r, b->n_strings * sizeof(*strings)) : NULL;
	spans = b->n_spans ? alloc(r, b->n_spans * sizeof(*spans)) : NULL;
	profiles = b->n_profiles ? alloc(r, b->n_profiles * sizeof(*profiles)) : NULL;
	if ((b->n_strings && !strings) || (b->n_spans && !spans) || (b->n_profiles && !profiles))
		return NULL;
	b->strings = strings;
	b->spans = spans;
	b->profiles = profiles;
	for (p = p0; p < end;) {
		const uint8_t *sub;
		uint64_t v;
		uint32_t num;
		unsigned wt;

		if (!field(&p, end, &num, &wt, &v, &sub))
			return NULL;
		switch (num) {
		case 1:
			if (wt != WT_LEN || b->header)
				return NULL;
			b->header = alloc(r, sizeof(*b->header));
			if (!b->header || !header(r, sub, sub + v, b->header))
				return NULL;
			break;
		case 2:
			if (wt != WT_LEN)
				return NULL;
			strings[k_strings] = str_copy(r, sub, v);
			if (!strings[k_strings++])
				return NULL;
			break;
		case 3: {
			Difftrace__Span *e = alloc(r, sizeof(*e));

			if (wt != WT_LEN || !e || !span(r, sub, sub + v, e))
				return NULL;
			spans[k_spans++] = e;
			break;
		}
		case 4: {
			Difftrace__Profile *e = alloc(r, sizeof(*e));

			if (wt != WT_LEN || !e || !profile(r, sub, sub + v, e))
				return NULL;
			profiles[k_profiles++] = e;
			break;
		}
		}
	}
	return b;
}
