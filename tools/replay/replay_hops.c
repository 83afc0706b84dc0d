/* SPDX-License-Identifier: MIT */
/*
 * Trace grouping and hop synthesis. In a live system each platform component on a request's path
 * appends its hop to the tracestate header and the function span carries the list; a recording has
 * only the spans, so the list is rebuilt from the function span's platform ancestors.
 */
#include <stdlib.h>
#include <string.h>

#include "dft/hops.h"
#include "replay.h"

static int cmp_trace_span(const void *a, const void *b)
{
	const struct dft_replay_span *x = *(struct dft_replay_span *const *)a;
	const struct dft_replay_span *y = *(struct dft_replay_span *const *)b;
	int c = memcmp(x->trace_id, y->trace_id, sizeof(x->trace_id));

	if (c)
		return c;
	return x->span_id < y->span_id ? -1 : x->span_id > y->span_id;
}

void dft_replay_sort_by_trace(struct dft_replay_span **v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_trace_span);
}

size_t dft_replay_trace_len(struct dft_replay_span *const *v, size_t n)
{
	size_t i;

	for (i = 1; i < n && !memcmp(v[i]->trace_id, v[0]->trace_id, sizeof(v[0]->trace_id)); i++)
		;
	return n ? i : 0;
}

static const struct dft_replay_span *find(struct dft_replay_span *const *t, size_t n, uint64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t[mid]->span_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && t[lo]->span_id == id ? t[lo] : NULL;
}

static int cmp_trace_parent(const void *a, const void *b)
{
	const struct dft_replay_span *x = *(struct dft_replay_span *const *)a;
	const struct dft_replay_span *y = *(struct dft_replay_span *const *)b;
	int c = memcmp(x->trace_id, y->trace_id, sizeof(x->trace_id));

	if (c)
		return c;
	if (x->parent_span_id != y->parent_span_id)
		return x->parent_span_id < y->parent_span_id ? -1 : 1;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return x->span_id < y->span_id ? -1 : x->span_id > y->span_id;
}

void dft_replay_sort_by_parent(struct dft_replay_span **v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_trace_parent);
}

/* index of the first span of bp[0, n) whose parent is >= id */
static size_t first_child(struct dft_replay_span *const *bp, size_t n, uint64_t id)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (bp[mid]->parent_span_id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

#define STEPS_SCAN 64 /* children of one hop looked at for its steps */

/* The list keeps the newest DFT_HOP_LIST_MAX entries: ring[] holds them, total counts all. */
struct hop_acc {
	const struct dft_replay_span *ring[DFT_HOP_LIST_MAX];
	size_t total;
};

static void acc_add(struct hop_acc *a, const struct dft_replay_span *s)
{
	a->ring[a->total % DFT_HOP_LIST_MAX] = s;
	a->total++;
}

void dft_replay_hops_steps(struct dft_replay_span *const *t, struct dft_replay_span *const *bp, size_t n,
                           const struct dft_replay_span *fn, struct dft_hop_list *out)
{
	const struct dft_replay_span *chain[DFT_HOP_LIST_MAX];
	const struct dft_replay_span *p;
	struct hop_acc acc = {.total = 0};
	size_t depth = 0, steps = 0, k = 0, first;
	unsigned cut = 0;

	memset(out, 0, sizeof(*out));
	if (fn->kind != DFT_REPLAY_KIND_FUNCTION)
		return;
	/* innermost first; a cycle in hostile input ends after n steps */
	for (p = fn->parent_span_id ? find(t, n, fn->parent_span_id) : NULL;
	     p && p->kind == DFT_REPLAY_KIND_PLATFORM && steps < n;
	     p = p->parent_span_id ? find(t, n, p->parent_span_id) : NULL, steps++) {
		/* the header leaves the oldest hops out: walking outwards, those are the ones still to come */
		if (depth == DFT_HOP_LIST_MAX)
			cut++;
		else
			chain[depth++] = p;
	}
	/* chain[depth-1] is the outermost: emit from there, each component's span followed by the step
	 * spans it finished before it forwarded the request (its platform children that ended no later
	 * than the next span on the path started), as a proxy appends them to the header */
	for (size_t i = depth; i-- > 0;) {
		const struct dft_replay_span *s = chain[i];
		const struct dft_replay_span *next = i ? chain[i - 1] : fn;

		acc_add(&acc, s);
		if (!bp)
			continue;
		first = first_child(bp, n, s->span_id);
		/* hostile input (a span with thousands of children) costs at most STEPS_SCAN looks per hop */
		for (size_t j = first; j < n && j - first < STEPS_SCAN && bp[j]->parent_span_id == s->span_id; j++) {
			const struct dft_replay_span *c = bp[j];

			if (c == next || c->kind != DFT_REPLAY_KIND_PLATFORM || c->end_ns > next->start_ns ||
			    c->span_id == s->span_id)
				continue;
			acc_add(&acc, c);
		}
	}
	first = acc.total > DFT_HOP_LIST_MAX ? acc.total - DFT_HOP_LIST_MAX : 0;
	cut += (unsigned)first;
	for (size_t i = first; i < acc.total; i++) {
		const struct dft_replay_span *s = acc.ring[i % DFT_HOP_LIST_MAX];

		out->hop[k++] = (struct dft_hop_entry){.parent_span_id = s->parent_span_id,
		                                       .span_id = s->span_id,
		                                       .start_ns = s->start_ns,
		                                       .name_hash = dft_hops_name_hash(s->component, strlen(s->component), s->name,
		                                                                       strlen(s->name))};
	}
	out->n = (uint8_t)k;
	out->cut = (uint8_t)(cut > 255 ? 255 : cut);
}

void dft_replay_hops(struct dft_replay_span *const *t, size_t n, const struct dft_replay_span *fn,
                     struct dft_hop_list *out)
{
	dft_replay_hops_steps(t, NULL, n, fn, out);
}

/* ---- emission in end-time order, paced by the recorded times (--speed) */

static int cmp_end(const void *a, const void *b)
{
	const struct dft_replay_emit *x = a, *y = b;
	int xr = !x->s->parent_span_id, yr = !y->s->parent_span_id;

	if (x->s->end_ns != y->s->end_ns)
		return x->s->end_ns < y->s->end_ns ? -1 : 1;
	/* ends at the same time: a root after the rest, an inner span before the one around it */
	if (xr != yr)
		return xr - yr;
	if (x->s->start_ns != y->s->start_ns)
		return x->s->start_ns > y->s->start_ns ? -1 : 1;
	if (x->s->span_id != y->s->span_id)
		return x->s->span_id < y->s->span_id ? -1 : 1;
	return memcmp(x->s->trace_id, y->s->trace_id, sizeof(x->s->trace_id));
}

void dft_replay_sort_by_end(struct dft_replay_emit *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_end);
}

uint64_t dft_replay_due_ns(uint64_t wall0, uint64_t rec0, uint64_t rec_ns, double speed)
{
	double d;

	if (!(speed > 0) || rec_ns <= rec0)
		return wall0;
	d = (double)(rec_ns - rec0) / speed;
	if (d >= (double)(UINT64_MAX - wall0))
		return UINT64_MAX;
	return wall0 + (uint64_t)d;
}
