/* SPDX-License-Identifier: MIT */
/*
 * Critical path and slack (see critical_path.h for the definitions). Everything is iterative and
 * O(n log n): a trace is untrusted data and may be a chain of a hundred thousand spans.
 *
 * 1. Index spans by id; link each to its parent (the first span with that id); pick the root.
 * 2. Each span's children, sorted by end (latest first, then earliest start, then input order).
 * 3. Each span's wait chain: from its end, the child that ended last at or before the cursor;
 *    the cursor moves to that child's start (never before the span's start); repeat.
 * 4. Slack top-down in breadth-first order from the root.
 * 5. The path: walk the chains from the root with an explicit stack, clipping every segment to
 *    the window its ancestors leave ([floor, cursor]), so the segments tile the root exactly.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "critical_path.h"

struct cp_work {
	const struct dft_cp_span *sp;
	uint32_t *by_id;   /* indices sorted by (id, index) */
	uint32_t *kid_off; /* [n + 1]: children of i are kids[kid_off[i] .. kid_off[i + 1]) */
	uint32_t *kids;
	bool *dup;           /* a later span with an id already taken */
	bool *in_chain;      /* waited on by its parent */
	uint64_t *chain_end; /* scratch: one span's chain ends */
	uint32_t *order;     /* breadth-first from the root */
};

struct frame {
	uint32_t idx, pos;
	uint64_t cursor, floor;
};

static const struct dft_cp_span *g_sort_sp; /* qsort has no context argument */

static int cmp_id(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	uint64_t ix = g_sort_sp[x].id, iy = g_sort_sp[y].id;

	if (ix != iy)
		return ix < iy ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int cmp_end_desc(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	const struct dft_cp_span *p = &g_sort_sp[x], *q = &g_sort_sp[y];

	if (p->end_ns != q->end_ns)
		return p->end_ns > q->end_ns ? -1 : 1;
	if (p->start_ns != q->start_ns)
		return p->start_ns < q->start_ns ? -1 : 1;
	return x < y ? -1 : x > y;
}

static int cmp_share(const void *a, const void *b)
{
	const struct dft_cp_share *x = a, *y = b;

	if (x->ns != y->ns)
		return x->ns > y->ns ? -1 : 1;
	return strcmp(x->component, y->component);
}

/* index of the first span with this id, or -1 */
static int32_t find_id(const struct cp_work *w, uint32_t n, uint64_t id)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (w->sp[w->by_id[mid]].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && w->sp[w->by_id[lo]].id == id ? (int32_t)w->by_id[lo] : -1;
}

static uint64_t dur(const struct dft_cp_span *s)
{
	return s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0;
}

/* a span that ends before it starts (clock trouble) is taken as starting at its end */
static uint64_t start_of(const struct dft_cp_span *s)
{
	return s->start_ns < s->end_ns ? s->start_ns : s->end_ns;
}

static void link_parents(struct cp_work *w, struct dft_cp *cp)
{
	uint32_t n = cp->n, i;

	for (i = 0; i < n; i++)
		w->by_id[i] = i;
	g_sort_sp = w->sp;
	qsort(w->by_id, n, sizeof(*w->by_id), cmp_id);
	for (i = 1; i < n; i++)
		if (w->sp[w->by_id[i]].id == w->sp[w->by_id[i - 1]].id)
			w->dup[w->by_id[i]] = true;
	cp->root = -1;
	for (i = 0; i < n; i++) {
		const struct dft_cp_span *s = &w->sp[i];
		int32_t p = s->parent ? find_id(w, n, s->parent) : -1;

		cp->parent_idx[i] = w->dup[i] || p == (int32_t)i ? -1 : p;
		if (w->dup[i] || cp->parent_idx[i] >= 0)
			continue;
		if (cp->root < 0 || dur(s) > dur(&w->sp[cp->root]) ||
		    (dur(s) == dur(&w->sp[cp->root]) && s->start_ns < w->sp[cp->root].start_ns))
			cp->root = (int32_t)i;
	}
}

static void build_children(struct cp_work *w, struct dft_cp *cp)
{
	uint32_t n = cp->n, i;

	memset(w->kid_off, 0, (n + 1) * sizeof(*w->kid_off));
	for (i = 0; i < n; i++)
		if (cp->parent_idx[i] >= 0)
			w->kid_off[cp->parent_idx[i] + 1]++;
	for (i = 0; i < n; i++)
		w->kid_off[i + 1] += w->kid_off[i];
	/* fill using order[] as per-parent write cursors */
	for (i = 0; i < n; i++)
		w->order[i] = w->kid_off[i];
	for (i = 0; i < n; i++)
		if (cp->parent_idx[i] >= 0)
			w->kids[w->order[cp->parent_idx[i]]++] = i;
	g_sort_sp = w->sp;
	for (i = 0; i < n; i++)
		qsort(w->kids + w->kid_off[i], w->kid_off[i + 1] - w->kid_off[i], sizeof(*w->kids), cmp_end_desc);
}

/* Marks span p's wait chain in in_chain[] and writes its ends (descending) to chain_end; count. */
static uint32_t wait_chain(struct cp_work *w, uint32_t p)
{
	const struct dft_cp_span *ps = &w->sp[p];
	uint64_t cursor = ps->end_ns;
	uint32_t k = w->kid_off[p], m = 0;

	while (cursor > ps->start_ns && k < w->kid_off[p + 1]) {
		const struct dft_cp_span *c = &w->sp[w->kids[k]];

		if (c->end_ns > cursor) {
			k++; /* ended after the point the parent waits at: it ran beside a path child */
			continue;
		}
		w->in_chain[w->kids[k]] = true;
		w->chain_end[m++] = c->end_ns;
		cursor = start_of(c) > ps->start_ns ? start_of(c) : ps->start_ns;
		k++;
	}
	return m;
}

/* the smallest of ends[0..m) (descending) that is >= v, or fallback */
static uint64_t next_wait(const uint64_t *ends, uint32_t m, uint64_t v, uint64_t fallback)
{
	uint32_t lo = 0, hi = m;

	/* ends is descending: find the last index with ends[i] >= v */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (ends[mid] >= v)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? ends[lo - 1] : fallback;
}

static void slack_and_chains(struct cp_work *w, struct dft_cp *cp)
{
	uint32_t head = 0, tail = 0, i;

	for (i = 0; i < cp->n; i++)
		cp->slack_ns[i] = DFT_CP_NO_SLACK;
	cp->slack_ns[cp->root] = 0;
	w->order[tail++] = (uint32_t)cp->root;
	while (head < tail) {
		uint32_t p = w->order[head++], m = wait_chain(w, p), k;
		const struct dft_cp_span *ps = &w->sp[p];

		for (k = w->kid_off[p]; k < w->kid_off[p + 1]; k++) {
			uint32_t c = w->kids[k];
			const struct dft_cp_span *cs = &w->sp[c];

			w->order[tail++] = c;
			if (cp->slack_ns[p] == DFT_CP_NO_SLACK || cs->end_ns > ps->end_ns)
				continue; /* not waited on: nor is anything below it */
			if (w->in_chain[c]) {
				cp->slack_ns[c] = cp->slack_ns[p];
			} else {
				uint64_t dl = next_wait(w->chain_end, m, cs->end_ns, ps->end_ns);
				uint64_t s = dl - cs->end_ns + (uint64_t)cp->slack_ns[p];

				cp->slack_ns[c] = s > INT64_MAX ? INT64_MAX : (int64_t)s;
			}
		}
	}
	cp->detached = cp->n - tail;
}

static void emit(struct dft_cp *cp, uint32_t idx, uint64_t from, uint64_t to)
{
	struct dft_cp_seg *last = cp->n_segs ? &cp->segs[cp->n_segs - 1] : NULL;

	if (to <= from)
		return;
	/* emitted backwards in time: a span's adjacent pieces merge */
	if (last && last->span == idx && last->from_ns == to) {
		last->from_ns = from;
		return;
	}
	cp->segs[cp->n_segs++] = (struct dft_cp_seg){.span = idx, .from_ns = from, .to_ns = to};
}

static void walk_path(struct cp_work *w, struct dft_cp *cp, struct frame *st)
{
	const struct dft_cp_span *r = &w->sp[cp->root];
	uint32_t top = 0, i;

	st[top++] = (struct frame){
	    .idx = (uint32_t)cp->root, .pos = w->kid_off[cp->root], .cursor = r->end_ns, .floor = r->start_ns};
	cp->on_path[cp->root] = true;
	while (top) {
		struct frame *f = &st[top - 1];
		uint32_t c = UINT32_MAX;

		while (f->pos < w->kid_off[f->idx + 1]) {
			uint32_t k = w->kids[f->pos++];

			if (w->in_chain[k]) {
				c = k;
				break;
			}
		}
		if (c == UINT32_MAX || f->cursor <= f->floor || w->sp[c].end_ns <= f->floor) {
			emit(cp, f->idx, f->floor, f->cursor);
			top--;
			continue;
		}
		emit(cp, f->idx, w->sp[c].end_ns, f->cursor);
		f->cursor = start_of(&w->sp[c]) > f->floor ? start_of(&w->sp[c]) : f->floor;
		cp->on_path[c] = true;
		st[top] = (struct frame){.idx = c, .pos = w->kid_off[c], .cursor = w->sp[c].end_ns, .floor = f->cursor};
		top++;
	}
	/* backwards to forwards */
	for (i = 0; i < cp->n_segs / 2; i++) {
		struct dft_cp_seg t = cp->segs[i];

		cp->segs[i] = cp->segs[cp->n_segs - 1 - i];
		cp->segs[cp->n_segs - 1 - i] = t;
	}
	for (i = 0; i < cp->n_segs; i++) {
		uint64_t d = cp->segs[i].to_ns - cp->segs[i].from_ns;

		cp->path_ns[cp->segs[i].span] += d;
		if (w->sp[cp->segs[i].span].estimated)
			cp->estimated_ns += d;
	}
}

static const char *comp_of(const struct dft_cp_span *s)
{
	return s->component ? s->component : "";
}

static void shares(struct cp_work *w, struct dft_cp *cp)
{
	uint32_t i, j;

	for (i = 0; i < cp->n; i++) {
		const char *c = comp_of(&w->sp[i]);

		if (!cp->path_ns[i])
			continue;
		for (j = 0; j < cp->n_shares && strcmp(cp->shares[j].component, c); j++)
			;
		if (j == cp->n_shares)
			cp->shares[cp->n_shares++] = (struct dft_cp_share){.component = c};
		cp->shares[j].ns += cp->path_ns[i];
		if (w->sp[i].estimated)
			cp->shares[j].estimated_ns += cp->path_ns[i];
	}
	qsort(cp->shares, cp->n_shares, sizeof(*cp->shares), cmp_share);
}

void dft_cp_free(struct dft_cp *cp)
{
	if (!cp)
		return;
	free(cp->on_path);
	free(cp->path_ns);
	free(cp->slack_ns);
	free(cp->parent_idx);
	free(cp->segs);
	free(cp->shares);
	free(cp);
}

int dft_cp_compute(const struct dft_cp_span *sp, uint32_t n, struct dft_cp **out)
{
	struct cp_work w = {.sp = sp};
	struct frame *stack = NULL;
	struct dft_cp *cp;
	int rc = -ENOMEM;

	*out = NULL;
	if (n == 0 || n > INT32_MAX / 2)
		return -EINVAL;
	cp = calloc(1, sizeof(*cp));
	if (!cp)
		return -ENOMEM;
	cp->n = n;
	cp->on_path = calloc(n, sizeof(*cp->on_path));
	cp->path_ns = calloc(n, sizeof(*cp->path_ns));
	cp->slack_ns = calloc(n, sizeof(*cp->slack_ns));
	cp->parent_idx = calloc(n, sizeof(*cp->parent_idx));
	cp->segs = calloc(2 * (size_t)n + 1, sizeof(*cp->segs));
	cp->shares = calloc(n, sizeof(*cp->shares));
	if (!cp->on_path || !cp->path_ns || !cp->slack_ns || !cp->parent_idx || !cp->segs || !cp->shares)
		goto free_cp;
	w.by_id = calloc(n, sizeof(*w.by_id));
	w.kid_off = calloc((size_t)n + 1, sizeof(*w.kid_off));
	w.kids = calloc(n, sizeof(*w.kids));
	w.dup = calloc(n, sizeof(*w.dup));
	w.in_chain = calloc(n, sizeof(*w.in_chain));
	w.chain_end = calloc(n, sizeof(*w.chain_end));
	w.order = calloc(n, sizeof(*w.order));
	stack = calloc(n, sizeof(*stack));
	if (!w.by_id || !w.kid_off || !w.kids || !w.dup || !w.in_chain || !w.chain_end || !w.order || !stack)
		goto free_work;

	link_parents(&w, cp);
	if (cp->root < 0) {
		/* every span has a parent in the trace: only cycles (or duplicates); take the longest */
		uint32_t i;

		for (i = 0; i < n; i++)
			if (!w.dup[i] && (cp->root < 0 || dur(&sp[i]) > dur(&sp[cp->root])))
				cp->root = (int32_t)i;
		cp->parent_idx[cp->root] = -1;
	}
	cp->total_ns = dur(&sp[cp->root]);
	build_children(&w, cp);
	slack_and_chains(&w, cp);
	walk_path(&w, cp, stack);
	shares(&w, cp);
	*out = cp;
	rc = 0;
free_work:
	free(stack);
	free(w.order);
	free(w.chain_end);
	free(w.in_chain);
	free(w.dup);
	free(w.kids);
	free(w.kid_off);
	free(w.by_id);
free_cp:
	if (rc)
		dft_cp_free(cp);
	return rc;
}
