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

#include "batch_impl.h"
#include "dft/hash.h"
#include "stats.h"
#include "tenant.h"

#define POOL_MAX 64u /* destroyed span batches kept for reuse (~200 KB each at 256 spans) */

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
