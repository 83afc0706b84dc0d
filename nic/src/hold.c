/* SPDX-License-Identifier: MIT */
/*
 * The hold window: a platform span the rules would filter is kept back for a while, because the
 * same trace may still turn out anomalous (a later span errors, queues, ...). Then the trace id is
 * remembered and, by the retro scope:
 *   path   (default) the anomalous span's ancestors are reported with DFT_KEEP_RETRO: the hops the
 *          request took to the anomaly, which show where it sat; a held span that is not one is
 *          filtered when a hop list the NIC saw (a function span's) names it, so the collector
 *          can rebuild it like any other normal span, and reported otherwise: a request that
 *          failed before it reached a function has no hop list to rebuild its spans from;
 *   trace  every held span and every later span of the trace is reported.
 * Ancestors end after their descendants, so they mostly arrive after the anomaly: each remembered
 * trace keeps a few span ids it still wants (the parent of every anomalous span, then the parent's
 * parent as each arrives). When the trace's root span ends normally the held spans are filtered at
 * once; a trace whose root never comes is filtered when its hold time (from its first held span)
 * runs out.
 *
 * Memory is fixed at create: a pool of span records, a pool of trace entries (held traces plus
 * remembered anomalous ones), a hash of trace ids with chained buckets, and per trace a singly
 * linked list of its spans. Traces sit on one of two FIFOs ordered by deadline (every trace of a
 * FIFO has the same lifetime), so expiry only looks at FIFO heads. Nothing is allocated per span.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "children.h"
#include "hold.h"
#include "filter.h"

#define NIL UINT32_MAX
#define PATH_PASSES 4u /* held spans scanned at most this often for ancestors that came early */

struct hold_span {
	struct dft_span_rec rec;
	uint32_t next;
};

enum { T_FREE = 0, T_HELD, T_ANOMALOUS, T_EXTENDED };
/* path scope: a trace whose hold ran out keeps the spans no hop list named this much longer, in
 * hold times (a request stuck in a cold start may still fail, and nothing else could show them) */
#define EXTEND_HOLDS 3u

struct hold_trace {
	uint8_t tid[DFT_TRACE_ID_LEN];
	uint32_t chain;            /* next trace in the hash bucket */
	uint32_t prev, next;       /* FIFO links */
	uint32_t head, tail, n;    /* held spans, oldest first */
	uint64_t want[DFT_HOLD_WANT]; /* path scope: ancestor span ids still to come, 0 = free */
	uint64_t deadline;         /* span time */
	uint64_t wall_deadline;    /* the NIC's clock: the bound when span time stands still */
	uint8_t state;
};

struct fifo {
	uint32_t head, tail, n;
};

struct dft_hold {
	struct dft_hold_cfg cfg;
	struct hold_span *spans;
	struct hold_trace *traces;
	uint32_t *bucket;
	uint32_t n_buckets, n_traces;
	uint32_t span_free, trace_free;
	uint32_t rel_head, rel_tail;
	struct fifo held, anom, ext; /* ext: held traces in their extension (path scope) */
	struct dft_children *named; /* path scope: (trace, span) ids hop lists named */
	struct dft_hold_stats st;
};

int dft_hold_create(const struct dft_hold_cfg *cfg, struct dft_hold **out)
{
	struct dft_hold *h;

	*out = NULL;
	if (cfg->max_spans == 0 || cfg->max_spans > (1u << 24) || cfg->remember_traces > (1u << 24))
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->cfg = *cfg;
	h->n_traces = cfg->max_spans + cfg->remember_traces;
	for (h->n_buckets = 16; h->n_buckets < h->n_traces; h->n_buckets <<= 1)
		;
	h->spans = calloc(cfg->max_spans, sizeof(*h->spans));
	h->traces = calloc(h->n_traces, sizeof(*h->traces));
	h->bucket = malloc((size_t)h->n_buckets * sizeof(*h->bucket));
	/* as many named ids as held spans: most named spans are held at the time they matter */
	if (cfg->retro_path && dft_children_create(cfg->max_spans < 4 ? 4 : cfg->max_spans, &h->named)) {
		dft_hold_destroy(h);
		return -ENOMEM;
	}
	if (!h->spans || !h->traces || !h->bucket) {
		dft_hold_destroy(h);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < h->n_buckets; i++)
		h->bucket[i] = NIL;
	for (uint32_t i = 0; i < cfg->max_spans; i++)
		h->spans[i].next = i + 1 < cfg->max_spans ? i + 1 : NIL;
	for (uint32_t i = 0; i < h->n_traces; i++)
		h->traces[i].next = i + 1 < h->n_traces ? i + 1 : NIL;
	h->span_free = 0;
	h->trace_free = 0;
	h->rel_head = h->rel_tail = NIL;
	h->held = h->anom = h->ext = (struct fifo){NIL, NIL, 0};
	*out = h;
	return 0;
}

void dft_hold_destroy(struct dft_hold *h)
{
	if (!h)
		return;
	free(h->spans);
	free(h->traces);
	free(h->bucket);
	dft_children_destroy(h->named);
	free(h);
}

static uint32_t bucket_of(const struct dft_hold *h, const uint8_t *tid)
{
	uint64_t a, b;

	memcpy(&a, tid, 8);
	memcpy(&b, tid + 8, 8);
	/* trace ids are random, but a hostile host may pick them: mix both halves anyway */
	a ^= b * 0x9e3779b97f4a7c15ull;
	a ^= a >> 29;
	a *= 0xbf58476d1ce4e5b9ull;
	return (uint32_t)(a >> 32) & (h->n_buckets - 1);
}

void dft_hold_prefetch_bucket(const struct dft_hold *h, const uint8_t *trace_id)
{
	if (h && h->cfg.enabled)
		__builtin_prefetch(&h->bucket[bucket_of(h, trace_id)]);
}

void dft_hold_prefetch_trace(const struct dft_hold *h, const uint8_t *trace_id)
{
	uint32_t t;

	if (!h || !h->cfg.enabled)
		return;
	t = h->bucket[bucket_of(h, trace_id)];
	if (t != NIL)
		__builtin_prefetch(&h->traces[t], 1);
}

static uint32_t find(const struct dft_hold *h, const uint8_t *tid)
{
	for (uint32_t t = h->bucket[bucket_of(h, tid)]; t != NIL; t = h->traces[t].chain)
		if (!memcmp(h->traces[t].tid, tid, DFT_TRACE_ID_LEN))
			return t;
	return NIL;
}

static void fifo_push(struct dft_hold *h, struct fifo *f, uint32_t t)
{
	h->traces[t].prev = f->tail;
	h->traces[t].next = NIL;
	if (f->tail != NIL)
		h->traces[f->tail].next = t;
	else
		f->head = t;
	f->tail = t;
	f->n++;
}

static void fifo_unlink(struct dft_hold *h, struct fifo *f, uint32_t t)
{
	struct hold_trace *e = &h->traces[t];

	if (e->prev != NIL)
		h->traces[e->prev].next = e->next;
	else
		f->head = e->next;
	if (e->next != NIL)
		h->traces[e->next].prev = e->prev;
	else
		f->tail = e->prev;
	f->n--;
}

static struct fifo *fifo_of(struct dft_hold *h, const struct hold_trace *e)
{
	return e->state == T_HELD ? &h->held : e->state == T_EXTENDED ? &h->ext : &h->anom;
}

static uint32_t trace_new(struct dft_hold *h, const uint8_t *tid)
{
	uint32_t t = h->trace_free, b;
	struct hold_trace *e;

	if (t == NIL)
		return NIL;
	e = &h->traces[t];
	h->trace_free = e->next;
	memcpy(e->tid, tid, DFT_TRACE_ID_LEN);
	memset(e->want, 0, sizeof(e->want));
	e->head = e->tail = NIL;
	e->n = 0;
	b = bucket_of(h, tid);
	e->chain = h->bucket[b];
	h->bucket[b] = t;
	return t;
}

/* Unhash and unlink t from its FIFO and give it back to the pool. */
static void trace_free(struct dft_hold *h, uint32_t t)
{
	struct hold_trace *e = &h->traces[t];
	uint32_t *pp = &h->bucket[bucket_of(h, e->tid)];

	while (*pp != t)
		pp = &h->traces[*pp].chain;
	*pp = e->chain;
	fifo_unlink(h, fifo_of(h, e), t);
	e->state = T_FREE;
	e->next = h->trace_free;
	h->trace_free = t;
}

/* Filter every span held for t; returns how many. */
static uint32_t drop_spans(struct dft_hold *h, uint32_t t, dft_hold_drop_fn drop, void *arg)
{
	struct hold_trace *e = &h->traces[t];
	uint32_t n = 0;

	for (uint32_t s = e->head, next; s != NIL; s = next) {
		next = h->spans[s].next;
		if (drop)
			drop(arg, &h->spans[s].rec);
		h->spans[s].next = h->span_free;
		h->span_free = s;
		n++;
	}
	e->head = e->tail = NIL;
	e->n = 0;
	h->st.held -= n;
	return n;
}

static void set_deadline(struct dft_hold *h, uint32_t t, const struct dft_hold_now *now, uint64_t ns)
{
	/* span time may sit near the top of the range (a host's claim): saturate, never wrap */
	h->traces[t].deadline = now->span_ns + ns < now->span_ns ? UINT64_MAX : now->span_ns + ns;
	h->traces[t].wall_deadline = now->wall_ns + ns * DFT_HOLD_WALL_FACTOR;
}

static bool expired(const struct dft_hold *h, uint32_t t, const struct dft_hold_now *now)
{
	/* both clocks only move forward and every trace of a FIFO got the same lifetime, so the
	 * FIFO stays ordered by either deadline: the head is the first to expire by both */
	return h->traces[t].deadline <= now->span_ns || h->traces[t].wall_deadline <= now->wall_ns;
}

/* Path scope: a hop list the NIC saw named this span, so the collector can rebuild it. */
static bool covered(const struct dft_hold *h, const struct hold_trace *e, uint64_t id)
{
	return dft_children_seen(h->named, e->tid, id);
}

/* Path scope: the trace wants span id `id` (an ancestor of an anomalous span). */
static void want_add(struct dft_hold *h, struct hold_trace *e, uint64_t id)
{
	unsigned free_slot = DFT_HOLD_WANT;

	if (!id)
		return;
	for (unsigned i = 0; i < DFT_HOLD_WANT; i++) {
		if (e->want[i] == id)
			return;
		if (!e->want[i] && free_slot == DFT_HOLD_WANT)
			free_slot = i;
	}
	if (free_slot == DFT_HOLD_WANT) {
		/* more anomalous branches than slots: the oldest wish gives way (counted) */
		memmove(e->want, e->want + 1, sizeof(e->want) - sizeof(e->want[0]));
		free_slot = DFT_HOLD_WANT - 1;
		h->st.want_full++;
	}
	e->want[free_slot] = id;
}

/* Path scope: true when span id is wanted (the wish is fulfilled and cleared). */
static bool want_take(struct hold_trace *e, uint64_t id)
{
	if (!id)
		return false;
	for (unsigned i = 0; i < DFT_HOLD_WANT; i++)
		if (e->want[i] == id) {
			e->want[i] = 0;
			return true;
		}
	return false;
}

/* Move span s to the release queue, marked retro (it stays in the held gauge until reported). */
static void release(struct dft_hold *h, uint32_t s)
{
	h->spans[s].rec.keep_reasons |= DFT_KEEP_RETRO;
	h->spans[s].next = NIL;
	if (h->rel_tail != NIL)
		h->spans[h->rel_tail].next = s;
	else
		h->rel_head = s;
	h->rel_tail = s;
	h->st.released++;
}

/*
 * t turned anomalous because of rec: its held spans are released (trace scope), or those that are
 * rec's ancestors are and the rest filtered (path scope); the trace is remembered.
 */
static void mark_anomalous(struct dft_hold *h, uint32_t t, const struct dft_span_rec *rec,
			   const struct dft_hold_now *now, dft_hold_drop_fn drop, void *arg)
{
	struct hold_trace *e = &h->traces[t];

	memset(e->want, 0, sizeof(e->want));
	if (h->cfg.retro_path) {
		want_add(h, e, rec->parent_span_id);
		/*
		 * Held spans are reported when they are an ancestor of the anomaly (one that reached
		 * the NIC before it: another ring, read first) or when no hop list named them; the
		 * rest are filtered. An ancestor found makes its parent wanted: look again.
		 */
		for (unsigned pass = 0; pass < PATH_PASSES && e->head != NIL; pass++) {
			uint32_t *pp = &e->head, found = 0;

			e->tail = NIL;
			while (*pp != NIL) {
				uint32_t s = *pp;
				const struct dft_span_rec *r = &h->spans[s].rec;
				bool wanted = want_take(e, r->span_id);

				if (wanted || !covered(h, e, r->span_id)) {
					if (wanted) {
						want_add(h, e, r->parent_span_id);
						found++;
					}
					*pp = h->spans[s].next;
					e->n--;
					release(h, s);
					continue;
				}
				e->tail = s;
				pp = &h->spans[s].next;
			}
			if (!found)
				break;
		}
		h->st.path_drops += drop_spans(h, t, drop, arg);
	} else {
		for (uint32_t s = e->head, next; s != NIL; s = next) {
			next = h->spans[s].next;
			release(h, s);
		}
		e->head = e->tail = NIL;
		e->n = 0;
	}
	if (!h->cfg.remember_traces) {
		trace_free(h, t);
		return;
	}
	fifo_unlink(h, fifo_of(h, e), t);
	e->state = T_ANOMALOUS;
	set_deadline(h, t, now, h->cfg.remember_ns);
	fifo_push(h, &h->anom, t);
}

enum dft_fate dft_hold_admit(struct dft_hold *h, struct dft_span_rec *rec, bool holdable,
			     const struct dft_hold_now *now, dft_hold_drop_fn drop, void *arg)
{
	uint32_t keep = rec->keep_reasons, t;
	/* what proves the trace anomalous: not a function span, not an outlier inside the margin */
	uint32_t proof = keep & ~(DFT_KEEP_FUNCTION | (rec->weak ? DFT_KEEP_OUTLIER : 0));
	struct hold_span *sp;
	struct hold_trace *e;

	if (!h || !h->cfg.enabled)
		return keep ? DFT_FATE_REPORT : DFT_FATE_FILTER;
	t = find(h, rec->trace_id);
	if (t != NIL && h->traces[t].state == T_ANOMALOUS) {
		e = &h->traces[t];
		if (!h->cfg.retro_path) {
			if (!keep)
				rec->keep_reasons = DFT_KEEP_RETRO;
			return DFT_FATE_REPORT;
		}
		if (want_take(e, rec->span_id)) {
			/* an ancestor of an anomaly: reported, and the wish moves on to its parent */
			want_add(h, e, rec->parent_span_id);
			if (!keep)
				rec->keep_reasons = DFT_KEEP_RETRO;
			return DFT_FATE_REPORT;
		}
		/* another anomaly in the trace: its path is wanted too */
		if (proof)
			want_add(h, e, rec->parent_span_id);
		if (!keep && !covered(h, e, rec->span_id)) {
			/* no hop list named it (yet): only the span itself can show it */
			rec->keep_reasons = DFT_KEEP_RETRO;
			return DFT_FATE_REPORT;
		}
		return keep ? DFT_FATE_REPORT : DFT_FATE_FILTER;
	}
	if (proof) {
		/* remembering is bounded: the oldest anomalous trace makes room (before taking an entry,
		 * so the trace pool of max_spans + remember_traces can never run dry) */
		if (h->cfg.remember_traces && h->anom.n >= h->cfg.remember_traces) {
			trace_free(h, h->anom.head);
			h->st.anomalous_evicted++;
		}
		if (t == NIL && h->cfg.remember_traces) {
			t = trace_new(h, rec->trace_id);
			if (t != NIL) {
				h->traces[t].state = T_HELD;
				fifo_push(h, &h->held, t);
			}
		}
		if (t != NIL)
			mark_anomalous(h, t, rec, now, drop, arg);
		return DFT_FATE_REPORT;
	}
	if (rec->flags & DFT_SF_ROOT) {
		/* the root ended and nothing in the trace was anomalous: no reason to wait any longer */
		if (t != NIL) {
			h->st.root_drops += drop_spans(h, t, drop, arg);
			trace_free(h, t);
		}
		return keep ? DFT_FATE_REPORT : DFT_FATE_FILTER;
	}
	if (keep)
		return DFT_FATE_REPORT;
	if (!holdable)
		return DFT_FATE_FILTER;
	if (h->span_free == NIL) {
		h->st.overflow++;
		return DFT_FATE_OVERFLOW;
	}
	if (t == NIL) {
		/* cannot fail: held traces <= held spans < max_spans, anomalous ones <= remember_traces */
		t = trace_new(h, rec->trace_id);
		if (t == NIL) {
			h->st.overflow++;
			return DFT_FATE_OVERFLOW;
		}
		h->traces[t].state = T_HELD;
		set_deadline(h, t, now, h->cfg.hold_ns);
		fifo_push(h, &h->held, t);
	}
	e = &h->traces[t];
	sp = &h->spans[h->span_free];
	h->span_free = sp->next;
	sp->rec = *rec;
	sp->rec.cont = NULL; /* the burst it pointed into is gone by release (a held span has none anyway) */
	sp->rec.n_cont = 0;
	sp->next = NIL;
	if (e->tail != NIL)
		h->spans[e->tail].next = (uint32_t)(sp - h->spans);
	else
		e->head = (uint32_t)(sp - h->spans);
	e->tail = (uint32_t)(sp - h->spans);
	e->n++;
	h->st.held++;
	return DFT_FATE_HELD;
}

void dft_hold_saw_hops(struct dft_hold *h, const uint8_t *trace_id, const uint64_t *span_ids, unsigned n)
{
	if (!h || !h->named)
		return;
	/* a full set forgets its oldest ids: such a span counts as not rebuildable and is reported */
	for (unsigned i = 0; i < n; i++)
		dft_children_note(h->named, trace_id, span_ids[i], 0, 0);
}

const struct dft_span_rec *dft_hold_release_peek(const struct dft_hold *h)
{
	return h && h->rel_head != NIL ? &h->spans[h->rel_head].rec : NULL;
}

void dft_hold_release_pop(struct dft_hold *h)
{
	uint32_t s = h->rel_head;

	if (s == NIL)
		return;
	h->rel_head = h->spans[s].next;
	if (h->rel_head == NIL)
		h->rel_tail = NIL;
	h->spans[s].next = h->span_free;
	h->span_free = s;
	h->st.held--;
}

/* Path scope: filter t's held spans that a hop list named; returns how many are left. */
static uint32_t drop_named(struct dft_hold *h, uint32_t t, dft_hold_drop_fn drop, void *arg, unsigned *dropped)
{
	struct hold_trace *e = &h->traces[t];
	uint32_t *pp = &e->head;

	e->tail = NIL;
	while (*pp != NIL) {
		uint32_t s = *pp;

		if (!covered(h, e, h->spans[s].rec.span_id)) {
			e->tail = s;
			pp = &h->spans[s].next;
			continue;
		}
		*pp = h->spans[s].next;
		if (drop)
			drop(arg, &h->spans[s].rec);
		h->spans[s].next = h->span_free;
		h->span_free = s;
		e->n--;
		h->st.held--;
		(*dropped)++;
	}
	return e->n;
}

unsigned dft_hold_expire(struct dft_hold *h, const struct dft_hold_now *now, dft_hold_drop_fn drop, void *arg)
{
	unsigned n = 0;

	if (!h)
		return 0;
	while (h->held.head != NIL && expired(h, h->held.head, now)) {
		uint32_t t = h->held.head, d;
		unsigned named = 0;

		if (h->named && drop_named(h, t, drop, arg, &named)) {
			/* what is left cannot be rebuilt: hold it longer instead of losing it */
			h->st.timeouts += named;
			n += named;
			fifo_unlink(h, &h->held, t);
			h->traces[t].state = T_EXTENDED;
			set_deadline(h, t, now, h->cfg.hold_ns * EXTEND_HOLDS);
			fifo_push(h, &h->ext, t);
			h->st.extended += h->traces[t].n;
			continue;
		}
		d = drop_spans(h, t, drop, arg) + named;
		h->st.timeouts += d;
		n += d;
		trace_free(h, t);
	}
	while (h->ext.head != NIL && expired(h, h->ext.head, now)) {
		uint32_t t = h->ext.head, d = drop_spans(h, t, drop, arg);

		h->st.timeouts += d;
		n += d;
		trace_free(h, t);
	}
	while (h->anom.head != NIL && expired(h, h->anom.head, now))
		trace_free(h, h->anom.head);
	return n;
}

unsigned dft_hold_flush(struct dft_hold *h, dft_hold_drop_fn drop, void *arg)
{
	unsigned n = 0;

	if (!h)
		return 0;
	while (h->held.head != NIL) {
		uint32_t t = h->held.head;

		n += drop_spans(h, t, drop, arg);
		trace_free(h, t);
	}
	while (h->ext.head != NIL) {
		uint32_t t = h->ext.head;

		n += drop_spans(h, t, drop, arg);
		trace_free(h, t);
	}
	return n;
}

void dft_hold_stats(const struct dft_hold *h, struct dft_hold_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!h)
		return;
	*out = h->st;
	out->traces_held = h->held.n + h->ext.n;
	out->traces_anomalous = h->anom.n;
}
