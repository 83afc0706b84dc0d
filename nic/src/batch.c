/* SPDX-License-Identifier: MIT */
/*
 * SpanBatch builder. All memory of a batch is allocated once, at create, for `cap` spans; a span
 * that does not fit (spans, hops or strings) makes dft_batch_add return -ENOSPC so the caller
 * closes the batch. Names travel once per batch in the string table: spans arrive decoded (span.h)
 * with NIC-global name ids, so the same component from two regions with different local ids is one
 * id and one string.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "dft/hash.h"
#include "batch.h"
#include "stats.h"
#include "tenant.h"

#define STR_LEN (DFT_NAME_MAX + 1)
#define HOPS_PER_SPAN_AVG 4u
#define NAME_CACHE 64u /* NIC-global name id -> string index, direct-mapped, per batch */
#define POOL_MAX 64u   /* destroyed span batches kept for reuse (~200 KB each at 256 spans) */

struct name_cache_entry {
	uint32_t id;  /* 0 = empty */
	uint32_t idx; /* string index */
};

struct dft_batch {
	uint32_t cap, n_spans;
	uint32_t hop_cap, n_hops;
	uint32_t str_cap, n_strings, hash_size;
	uint64_t open_tsc;
	uint32_t n_entries;
	uint32_t tenants[DFT_NIC_MAX_TENANTS]; /* spans per tenant: who gains or loses with the batch */
	Difftrace__Span *spans;
	Difftrace__Span **span_ptrs;
	Difftrace__Attr *attrs;
	Difftrace__Attr **attr_ptrs;
	Difftrace__Hop *hops;
	Difftrace__Hop **hop_ptrs;
	uint8_t (*trace_ids)[DFT_TRACE_ID_LEN];
	char (*msgs)[DFT_STATUS_MSG_MAX + 1]; /* per span: its status message, validated */
	char *arena;      /* str_cap * STR_LEN */
	char **strings;
	uint32_t *str_len;  /* per string: its length (the encoder's size pass) */
	uint32_t *span_len; /* per span: its encoded body size (between pack's two passes) */
	uint32_t *hash;   /* string index + 1, 0 = empty */
	/* a profile batch (dft_batch_profile) carries one Profile and no spans */
	Difftrace__Profile profile;
	Difftrace__Profile *profile_ptr;
	Difftrace__ProfileEntry *entries;
	Difftrace__ProfileEntry **entry_ptrs;
	struct name_cache_entry nc[NAME_CACHE]; /* names already in the string table */
};

/*
 * Batches are created on the worker lcore and destroyed on the main lcore, one every few hundred
 * spans; allocating ~200 KB each time made the allocator return the memory to the kernel and fault
 * it back in, which cost more than everything else the batcher does. Destroyed span batches wait
 * here (bounded) for the next create of the same capacity.
 */
static struct {
	pthread_mutex_t mu;
	struct dft_batch *free[POOL_MAX];
	unsigned n;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void batch_free(struct dft_batch *b);

static struct dft_batch *pool_take(uint32_t cap)
{
	struct dft_batch *b = NULL;

	pthread_mutex_lock(&pool.mu);
	for (unsigned i = 0; i < pool.n; i++)
		if (pool.free[i]->cap == cap) {
			b = pool.free[i];
			pool.free[i] = pool.free[--pool.n];
			break;
		}
	pthread_mutex_unlock(&pool.mu);
	if (!b)
		return NULL;
	/* everything else is written before it is read again (add, pack) */
	b->n_spans = b->n_hops = b->n_strings = 0;
	b->open_tsc = 0;
	memset(b->nc, 0, sizeof(b->nc));
	memset(b->tenants, 0, sizeof(b->tenants));
	memset(b->hash, 0, (size_t)b->hash_size * sizeof(*b->hash));
	return b;
}

static bool pool_put(struct dft_batch *b)
{
	bool kept = false;

	if (b->entries) /* profile batches are rare and sized by their rows */
		return false;
	pthread_mutex_lock(&pool.mu);
	if (pool.n < POOL_MAX) {
		pool.free[pool.n++] = b;
		kept = true;
	}
	pthread_mutex_unlock(&pool.mu);
	return kept;
}

int dft_batch_create(uint32_t cap, struct dft_batch **out)
{
	struct dft_batch *b;

	*out = NULL;
	if (cap == 0)
		return -EINVAL;
	b = pool_take(cap);
	if (b) {
		*out = b;
		return 0;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->cap = cap;
	b->hop_cap = cap * HOPS_PER_SPAN_AVG;
	if (b->hop_cap < DFT_SLOT_CONT_MAX * DFT_HOPS_PER_SLOT)
		b->hop_cap = DFT_SLOT_CONT_MAX * DFT_HOPS_PER_SLOT;
	/* room for one span's worst case (2 names + 4 attrs; hops carry no strings) plus typical reuse */
	b->str_cap = 2 * cap + 2 + DFT_SLOT_ATTRS;
	for (b->hash_size = 64; b->hash_size < 2 * b->str_cap; b->hash_size <<= 1)
		;
	b->spans = calloc(cap, sizeof(*b->spans));
	b->span_ptrs = calloc(cap, sizeof(*b->span_ptrs));
	b->attrs = calloc((size_t)cap * DFT_SLOT_ATTRS, sizeof(*b->attrs));
	b->attr_ptrs = calloc((size_t)cap * DFT_SLOT_ATTRS, sizeof(*b->attr_ptrs));
	b->hops = calloc(b->hop_cap, sizeof(*b->hops));
	b->hop_ptrs = calloc(b->hop_cap, sizeof(*b->hop_ptrs));
	b->trace_ids = calloc(cap, sizeof(*b->trace_ids));
	b->msgs = calloc(cap, sizeof(*b->msgs));
	b->arena = calloc(b->str_cap, STR_LEN);
	b->strings = calloc(b->str_cap, sizeof(*b->strings));
	b->str_len = calloc(b->str_cap, sizeof(*b->str_len));
	b->span_len = calloc(cap, sizeof(*b->span_len));
	b->hash = calloc(b->hash_size, sizeof(*b->hash));
	if (!b->spans || !b->span_ptrs || !b->attrs || !b->attr_ptrs || !b->hops || !b->hop_ptrs || !b->trace_ids ||
	    !b->msgs || !b->arena || !b->strings || !b->str_len || !b->span_len || !b->hash) {
		batch_free(b);
		return -ENOMEM;
	}
	*out = b;
	return 0;
}

void dft_batch_destroy(struct dft_batch *b)
{
	if (!b || pool_put(b))
		return;
	batch_free(b);
}

static void batch_free(struct dft_batch *b)
{
	free(b->spans);
	free(b->span_ptrs);
	free(b->attrs);
	free(b->attr_ptrs);
	free(b->hops);
	free(b->hop_ptrs);
	free(b->trace_ids);
	free(b->msgs);
	free(b->arena);
	free(b->strings);
	free(b->str_len);
	free(b->span_len);
	free(b->hash);
	free(b->entries);
	free(b->entry_ptrs);
	free(b);
}

uint32_t dft_batch_spans(const struct dft_batch *b)
{
	return b->n_spans;
}

void dft_batch_note_tenant(struct dft_batch *b, unsigned tenant)
{
	if (tenant < DFT_NIC_MAX_TENANTS)
		b->tenants[tenant]++;
}

const uint32_t *dft_batch_tenants(const struct dft_batch *b)
{
	return b->tenants;
}

uint64_t dft_batch_open_tsc(const struct dft_batch *b)
{
	return b->open_tsc;
}

void dft_batch_set_open_tsc(struct dft_batch *b, uint64_t tsc)
{
	b->open_tsc = tsc;
}

bool dft_batch_empty(const struct dft_batch *b)
{
	return b->n_spans == 0 && !b->profile_ptr;
}

bool dft_batch_full(const struct dft_batch *b)
{
	return b->n_spans >= b->cap;
}

/* Index of s in the string table, adding it; -ENOSPC when the table is full. */
static int64_t str_index(struct dft_batch *b, const char *s)
{
	uint32_t mask = b->hash_size - 1;

	for (uint32_t h = dft_fnv32_str(s) & mask;; h = (h + 1) & mask) {
		uint32_t v = b->hash[h];
		size_t len;
		char *dst;

		if (v) {
			if (!strcmp(b->strings[v - 1], s))
				return v - 1;
			continue;
		}
		if (b->n_strings >= b->str_cap)
			return -ENOSPC;
		dst = b->arena + (size_t)b->n_strings * STR_LEN;
		len = strnlen(s, STR_LEN - 1);
		memcpy(dst, s, len);
		dst[len] = 0;
		b->strings[b->n_strings] = dst;
		b->str_len[b->n_strings] = (uint32_t)len;
		b->hash[h] = ++b->n_strings;
		return b->n_strings - 1;
	}
}

/* Forget the strings added after the first n0 so the batch stays exactly as it was. */
static void forget_strings(struct dft_batch *b, uint32_t n0)
{
	while (b->n_strings > n0) {
		uint32_t mask = b->hash_size - 1, idx = b->n_strings - 1;

		for (uint32_t h = dft_fnv32_str(b->strings[idx]) & mask;; h = (h + 1) & mask)
			if (b->hash[h] == idx + 1) {
				b->hash[h] = 0;
				break;
			}
		b->n_strings--;
	}
	for (unsigned i = 0; i < NAME_CACHE; i++)
		if (b->nc[i].id && b->nc[i].idx >= n0)
			b->nc[i].id = 0;
}

/* String index of NIC-global name id (0 and unknown ids: ""); -ENOSPC when the table is full. */
static int64_t name_index(struct dft_batch *b, const struct dft_names *names, uint32_t id)
{
	struct name_cache_entry *e = &b->nc[id % NAME_CACHE];
	int64_t idx;

	if (id && e->id == id)
		return e->idx;
	idx = str_index(b, dft_names_str(names, id));
	if (idx >= 0 && id) {
		e->id = id;
		e->idx = (uint32_t)idx;
	}
	return idx;
}

int dft_batch_add(struct dft_batch *b, const struct dft_names *names, const struct dft_span_rec *r)
{
	uint32_t n_hops = 0, strings0 = b->n_strings, hops0 = b->n_hops;
	const struct dft_slot *cont = r->cont;
	unsigned n_cont = cont ? r->n_cont : 0;
	Difftrace__Span *sp;
	int64_t comp, op;

	if (b->n_spans >= b->cap)
		return -ENOSPC;
	for (unsigned c = 0; c < n_cont; c++)
		if (cont[c].type == DFT_SLOT_HOPS)
			n_hops += ((const struct dft_hops_slot *)(const void *)&cont[c])->n_hops;
	if (b->n_hops + n_hops > b->hop_cap)
		return -ENOSPC;
	sp = &b->spans[b->n_spans];
	difftrace__span__init(sp);
	comp = name_index(b, names, r->comp);
	op = name_index(b, names, r->op);
	if (comp < 0 || op < 0)
		goto undo_strings;
	memcpy(b->trace_ids[b->n_spans], r->trace_id, DFT_TRACE_ID_LEN);
	sp->trace_id.data = b->trace_ids[b->n_spans];
	sp->trace_id.len = DFT_TRACE_ID_LEN;
	sp->span_id = r->span_id;
	sp->parent_span_id = r->parent_span_id;
	sp->start_ns = r->start_ns;
	sp->end_ns = r->end_ns;
	sp->component = (uint32_t)comp;
	sp->operation = (uint32_t)op;
	sp->kind = (Difftrace__ComponentKind)r->kind;
	sp->status = (Difftrace__Status)r->status;
	sp->span_kind = r->span_kind;
	sp->queue_ns = r->queue_ns;
	sp->flags = r->flags;
	sp->keep_reasons = r->keep_reasons;
	sp->instance_id = r->instance_id;
	sp->pid = r->pid;
	sp->n_attrs = r->n_attrs;
	sp->attrs = &b->attr_ptrs[(size_t)b->n_spans * DFT_SLOT_ATTRS];
	for (unsigned i = 0; i < r->n_attrs && i < DFT_SLOT_ATTRS; i++) {
		Difftrace__Attr *a = &b->attrs[(size_t)b->n_spans * DFT_SLOT_ATTRS + i];
		int64_t k = name_index(b, names, r->attr_key[i]);

		if (k < 0)
			goto undo_strings;
		difftrace__attr__init(a);
		a->key = (uint32_t)k;
		a->value = r->attr_val[i];
		sp->attrs[i] = a;
	}
	sp->n_hops = n_hops;
	sp->hops = n_hops ? &b->hop_ptrs[b->n_hops] : NULL;
	for (unsigned c = 0; c < n_cont; c++) {
		const struct dft_hops_slot *hs = (const struct dft_hops_slot *)(const void *)&cont[c];

		if (hs->type != DFT_SLOT_HOPS)
			continue;
		for (unsigned i = 0; i < hs->n_hops; i++) {
			Difftrace__Hop *h = &b->hops[b->n_hops];

			difftrace__hop__init(h);
			h->name_hash = hs->hop[i].name_hash;
			h->span_id = hs->hop[i].span_id;
			h->start_ns = hs->hop[i].start_ns;
			h->parent_span_id = hs->hop[i].parent_span_id;
			b->hop_ptrs[b->n_hops++] = h;
		}
	}
	/* dft_conts_validate put a message slot last; its text is hostile bytes until read here */
	if (n_cont && cont[n_cont - 1].type == DFT_SLOT_STATUS_MSG) {
		/* OTLP: a description belongs to an error; a host that claims one elsewhere loses it here
		 * rather than get the collector to refuse the batch its neighbours' spans are in */
		if (r->status == DFT_STATUS_ERROR &&
		    dft_status_msg_read(&cont[n_cont - 1], b->msgs[b->n_spans], sizeof(b->msgs[0])) > 0)
			sp->status_message = b->msgs[b->n_spans];
		else
			dft_ctr_add(&dft_nic_ctr.status_msg_invalid, 1); /* the span goes without it */
	}
	b->span_ptrs[b->n_spans++] = sp;
	return 0;

undo_strings:
	forget_strings(b, strings0);
	b->n_hops = hops0;
	return -ENOSPC;
}

int dft_batch_profile(uint64_t created_ns, const struct dft_prof_row *rows, unsigned n, struct dft_batch **out)
{
	struct dft_batch *b;
	int rc;

	*out = NULL;
	if (n == 0)
		return -EINVAL;
	/* one span of room is never used; the string table is sized for every row's two names */
	rc = dft_batch_create(n + 1, &b);
	if (rc)
		return rc;
	b->entries = calloc(n, sizeof(*b->entries));
	b->entry_ptrs = calloc(n, sizeof(*b->entry_ptrs));
	if (!b->entries || !b->entry_ptrs) {
		dft_batch_destroy(b);
		return -ENOMEM;
	}
	difftrace__profile__init(&b->profile);
	b->profile.created_ns = created_ns;
	for (unsigned i = 0; i < n; i++) {
		Difftrace__ProfileEntry *e = &b->entries[i];
		int64_t c = str_index(b, rows[i].component), o = str_index(b, rows[i].operation);

		if (c < 0 || o < 0)
			break; /* cannot happen: str_cap >= 2 * (n + 1) */
		difftrace__profile_entry__init(e);
		e->component = (uint32_t)c;
		e->operation = (uint32_t)o;
		e->count = rows[i].count;
		e->kept = rows[i].kept;
		e->filtered = rows[i].filtered;
		e->duration_p50_ns = rows[i].duration_p50_ns;
		e->duration_p99_ns = rows[i].duration_p99_ns;
		e->queue_p99_ns = rows[i].queue_p99_ns;
		e->self_time_ns = rows[i].self_time_ns;
		b->entry_ptrs[b->n_entries++] = e;
	}
	b->profile.n_entries = b->n_entries;
	b->profile.entries = b->entry_ptrs;
	b->profile_ptr = &b->profile;
	*out = b;
	return 0;
}

/*
 * The SpanBatch encoder. protobuf-c's generic packer walks the descriptor of every field of every
 * span twice (size, then pack): ~250 ns per span, more than the rest of the NIC pipeline. The spans
 * and the string table are written here by hand for this one schema (proto/difftrace.proto), in
 * the bytes protobuf-c would write: fields in field-number order, proto3 zero values left out,
 * int32 enums as sign-extended varints. The header and profiles (one each per batch at most) still
 * go through protobuf-c. tests/unit/test_batch.c checks every batch it builds against protobuf-c's
 * own encoding of the decoded message, byte for byte.
 */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "fixed64/fixed32 are copied little-endian");

static inline size_t vsize(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static inline uint8_t *vput(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint64_t enum_wire(int v)
{
	return (uint64_t)(int64_t)v; /* int32: a negative value is ten bytes, as protobuf-c writes it */
}

static inline uint64_t zigzag64(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* optional scalar fields with one-byte tags: the size of tag + varint when v != 0 */
#define VSZ(v) ((v) ? 1 + vsize(v) : 0)
#define F64SZ(v) ((v) ? 9 : 0)

static inline size_t attr_body(const Difftrace__Attr *a)
{
	return VSZ(a->key) + VSZ(zigzag64(a->value));
}

static inline size_t hop_body(const Difftrace__Hop *h)
{
	return F64SZ(h->span_id) + F64SZ(h->start_ns) + F64SZ(h->parent_span_id) + (h->name_hash ? 5 : 0);
}

static size_t span_body(const Difftrace__Span *sp)
{
	size_t n = 0;

	if (sp->trace_id.len)
		n += 1 + vsize(sp->trace_id.len) + sp->trace_id.len;
	n += F64SZ(sp->span_id) + F64SZ(sp->parent_span_id) + F64SZ(sp->start_ns) + F64SZ(sp->end_ns);
	n += VSZ(sp->component) + VSZ(sp->operation) + VSZ(enum_wire(sp->kind)) + VSZ(enum_wire(sp->status));
	n += VSZ(sp->span_kind) + VSZ(sp->queue_ns) + VSZ(sp->flags) + VSZ(sp->keep_reasons);
	for (size_t i = 0; i < sp->n_attrs; i++) {
		size_t a = attr_body(sp->attrs[i]);

		n += 1 + vsize(a) + a;
	}
	for (size_t i = 0; i < sp->n_hops; i++) {
		size_t h = hop_body(sp->hops[i]);

		n += 1 + vsize(h) + h;
	}
	/* fields 16-18 have two-byte tags */
	if (sp->instance_id)
		n += 2 + 8;
	if (sp->pid)
		n += 2 + vsize(sp->pid);
	if (sp->status_message && sp->status_message[0]) {
		size_t l = strlen(sp->status_message);

		n += 2 + vsize(l) + l;
	}
	return n;
}

static inline uint8_t *put_f64(uint8_t *p, uint8_t tag, uint64_t v)
{
	if (!v)
		return p;
	*p++ = tag;
	memcpy(p, &v, 8);
	return p + 8;
}

static inline uint8_t *put_v(uint8_t *p, uint8_t tag, uint64_t v)
{
	if (!v)
		return p;
	*p++ = tag;
	return vput(p, v);
}

static uint8_t *span_write(uint8_t *p, const Difftrace__Span *sp)
{
	if (sp->trace_id.len) {
		*p++ = 1 << 3 | 2;
		p = vput(p, sp->trace_id.len);
		memcpy(p, sp->trace_id.data, sp->trace_id.len);
		p += sp->trace_id.len;
	}
	p = put_f64(p, 2 << 3 | 1, sp->span_id);
	p = put_f64(p, 3 << 3 | 1, sp->parent_span_id);
	p = put_f64(p, 4 << 3 | 1, sp->start_ns);
	p = put_f64(p, 5 << 3 | 1, sp->end_ns);
	p = put_v(p, 6 << 3, sp->component);
	p = put_v(p, 7 << 3, sp->operation);
	p = put_v(p, 8 << 3, enum_wire(sp->kind));
	p = put_v(p, 9 << 3, enum_wire(sp->status));
	p = put_v(p, 10 << 3, sp->span_kind);
	p = put_v(p, 11 << 3, sp->queue_ns);
	p = put_v(p, 12 << 3, sp->flags);
	p = put_v(p, 13 << 3, sp->keep_reasons);
	for (size_t i = 0; i < sp->n_attrs; i++) {
		const Difftrace__Attr *a = sp->attrs[i];

		*p++ = 14 << 3 | 2;
		p = vput(p, attr_body(a));
		p = put_v(p, 1 << 3, a->key);
		p = put_v(p, 2 << 3, zigzag64(a->value));
	}
	for (size_t i = 0; i < sp->n_hops; i++) {
		const Difftrace__Hop *h = sp->hops[i];

		*p++ = 15 << 3 | 2;
		p = vput(p, hop_body(h));
		p = put_f64(p, 3 << 3 | 1, h->span_id);
		p = put_f64(p, 4 << 3 | 1, h->start_ns);
		p = put_f64(p, 5 << 3 | 1, h->parent_span_id);
		if (h->name_hash) {
			*p++ = 6 << 3 | 5;
			memcpy(p, &h->name_hash, 4);
			p += 4;
		}
	}
	if (sp->instance_id) {
		*p++ = (uint8_t)(16 << 3 | 1 | 0x80); /* tag 129 as a varint: 0x81 0x01 */
		*p++ = 1;
		memcpy(p, &sp->instance_id, 8);
		p += 8;
	}
	if (sp->pid) {
		*p++ = (uint8_t)((17 << 3) | 0x80); /* tag 136: 0x88 0x01 */
		*p++ = 1;
		p = vput(p, sp->pid);
	}
	if (sp->status_message && sp->status_message[0]) {
		size_t l = strlen(sp->status_message);

		*p++ = (uint8_t)((18 << 3 | 2) | 0x80); /* tag 146: 0x92 0x01 */
		*p++ = 1;
		p = vput(p, l);
		memcpy(p, sp->status_message, l);
		p += l;
	}
	return p;
}

int dft_batch_pack(struct dft_batch *b, uint64_t sender_id, uint64_t seq, uint64_t created_ns,
		   const Difftrace__Counters *ctr, size_t hdr_room, uint8_t **out, size_t *out_len)
{
	Difftrace__BatchHeader hdr = DIFFTRACE__BATCH_HEADER__INIT;
	Difftrace__Counters c = *ctr;
	size_t len, hlen, plen = 0;
	uint8_t *buf, *p;

	hdr.sender_id = sender_id;
	hdr.sequence = seq;
	hdr.created_ns = created_ns;
	hdr.counters = &c;
	/* SpanBatch: header = 1, strings = 2, spans = 3, profiles = 4 */
	hlen = difftrace__batch_header__get_packed_size(&hdr);
	len = 1 + vsize(hlen) + hlen;
	if (b) {
		for (uint32_t i = 0; i < b->n_strings; i++)
			len += 1 + vsize(b->str_len[i]) + b->str_len[i];
		for (uint32_t i = 0; i < b->n_spans; i++) {
			size_t n = span_body(b->span_ptrs[i]);

			b->span_len[i] = (uint32_t)n;
			len += 1 + vsize(n) + n;
		}
		if (b->profile_ptr) {
			plen = difftrace__profile__get_packed_size(b->profile_ptr);
			len += 1 + vsize(plen) + plen;
		}
	}
	buf = malloc(hdr_room + len);
	if (!buf)
		return -ENOMEM;
	p = buf + hdr_room;
	*p++ = 1 << 3 | 2;
	p = vput(p, hlen);
	p += difftrace__batch_header__pack(&hdr, p);
	if (b) {
		for (uint32_t i = 0; i < b->n_strings; i++) {
			*p++ = 2 << 3 | 2;
			p = vput(p, b->str_len[i]);
			memcpy(p, b->strings[i], b->str_len[i]);
			p += b->str_len[i];
		}
		for (uint32_t i = 0; i < b->n_spans; i++) {
			*p++ = 3 << 3 | 2;
			p = vput(p, b->span_len[i]);
			p = span_write(p, b->span_ptrs[i]);
		}
		if (b->profile_ptr) {
			*p++ = 4 << 3 | 2;
			p = vput(p, plen);
			p += difftrace__profile__pack(b->profile_ptr, p);
		}
	}
	if ((size_t)(p - buf) != hdr_room + len) { /* a size pass that disagrees with the write pass */
		free(buf);
		return -EPROTO;
	}
	*out = buf;
	*out_len = hdr_room + len;
	return 0;
}
