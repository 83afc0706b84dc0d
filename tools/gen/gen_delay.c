/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dft/clock.h"
#include "gen_delay.h"

int dft_gen_delay_init(struct dft_gen_delay *d, uint32_t cap, uint32_t hop_cap)
{
	memset(d, 0, sizeof(*d));
	if (cap == 0)
		return -EINVAL;
	d->heap = malloc((size_t)cap * sizeof(*d->heap));
	d->hop = hop_cap ? malloc((size_t)hop_cap * sizeof(*d->hop)) : NULL;
	d->hop_free = hop_cap ? malloc((size_t)hop_cap * sizeof(*d->hop_free)) : NULL;
	if (!d->heap || (hop_cap && (!d->hop || !d->hop_free))) {
		dft_gen_delay_fini(d);
		return -ENOMEM;
	}
	d->cap = cap;
	d->hop_cap = hop_cap;
	for (uint32_t i = 0; i < hop_cap; i++)
		d->hop_free[i] = hop_cap - 1 - i;
	d->n_hop_free = hop_cap;
	return 0;
}

void dft_gen_delay_fini(struct dft_gen_delay *d)
{
	free(d->heap);
	free(d->hop);
	free(d->hop_free);
	memset(d, 0, sizeof(*d));
}

static int dft_gen_delay_before(const struct dft_gen_delayed *a, const struct dft_gen_delayed *b)
{
	return a->end_ns < b->end_ns || (a->end_ns == b->end_ns && a->seq < b->seq);
}

static void dft_gen_delay_swap(struct dft_gen_delayed *a, struct dft_gen_delayed *b)
{
	struct dft_gen_delayed x = *a;

	*a = *b;
	*b = x;
}

/* Hand one span to libdifftrace; its hop-pool entry (if any) is free once the ring has the span. */
static void dft_gen_delay_emit(struct dft_gen_delay *d, struct dft_gen_delayed *e)
{
	if (e->hops >= 0)
		e->sp.hops = &d->hop[e->hops];
	dft_span_end_at(&e->sp, e->end_ns);
	if (e->hops >= 0)
		d->hop_free[d->n_hop_free++] = (uint32_t)e->hops;
}

/* Remove the earliest span into *out. */
static void dft_gen_delay_pop(struct dft_gen_delay *d, struct dft_gen_delayed *out)
{
	uint32_t i = 0;

	*out = d->heap[0];
	d->heap[0] = d->heap[--d->n];
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < d->n && dft_gen_delay_before(&d->heap[l], &d->heap[m]))
			m = l;
		if (r < d->n && dft_gen_delay_before(&d->heap[r], &d->heap[m]))
			m = r;
		if (m == i)
			break;
		dft_gen_delay_swap(&d->heap[i], &d->heap[m]);
		i = m;
	}
}

static void dft_gen_delay_push(struct dft_gen_delay *d, const struct dft_gen_delayed *e)
{
	uint32_t i = d->n++;

	d->heap[i] = *e;
	while (i > 0 && dft_gen_delay_before(&d->heap[i], &d->heap[(i - 1) / 2])) {
		dft_gen_delay_swap(&d->heap[i], &d->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	if (d->n > d->max_depth)
		d->max_depth = d->n;
}

/* A span handed over now although it may not have ended yet: counted when it had not. */
static void dft_gen_delay_force(struct dft_gen_delay *d, struct dft_gen_delayed *e)
{
	if (e->end_ns > dft_clock_ns(CLOCK_REALTIME))
		d->early++;
	dft_gen_delay_emit(d, e);
}

void dft_gen_delay_end(struct dft_gen_delay *d, const struct dft_span *sp, uint64_t end_ns)
{
	struct dft_gen_delayed e = {.end_ns = end_ns, .hops = -1, .sp = *sp};

	if (!d) {
		dft_span_end_at(&e.sp, end_ns);
		return;
	}
	e.seq = d->seq++;
	if (sp->hops && d->n_hop_free == 0) {
		dft_gen_delay_force(d, &e); /* hop lists are big: their pool is the smaller bound */
		return;
	}
	if (d->n == d->cap) {
		struct dft_gen_delayed top;

		/* full: whichever ends first goes now, so spans still leave in end order */
		if (!dft_gen_delay_before(&d->heap[0], &e)) {
			dft_gen_delay_force(d, &e);
			return;
		}
		dft_gen_delay_pop(d, &top);
		dft_gen_delay_force(d, &top);
	}
	if (sp->hops) {
		e.hops = (int32_t)d->hop_free[--d->n_hop_free];
		d->hop[e.hops] = *sp->hops;
		e.sp.hops = NULL; /* re-pointed into the pool when it leaves: the heap moves entries */
	}
	dft_gen_delay_push(d, &e);
}

uint64_t dft_gen_delay_flush(struct dft_gen_delay *d, uint64_t limit_ns)
{
	if (!d)
		return UINT64_MAX;
	while (d->n && d->heap[0].end_ns <= limit_ns) {
		struct dft_gen_delayed e;

		dft_gen_delay_pop(d, &e);
		dft_gen_delay_emit(d, &e);
	}
	return d->n ? d->heap[0].end_ns : UINT64_MAX;
}
