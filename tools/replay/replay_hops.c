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

void dft_replay_hops(struct dft_replay_span *const *t, size_t n, const struct dft_replay_span *fn,
                     struct dft_hop_list *out)
{
	const struct dft_replay_span *chain[DFT_HOP_LIST_MAX];
	const struct dft_replay_span *p;
	size_t depth = 0, steps = 0, k = 0;
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
	/* chain[depth-1] is the outermost: emit from there */
	for (size_t i = depth; i-- > 0;) {
		const struct dft_replay_span *s = chain[i];

		out->hop[k++] = (struct dft_hop_entry){.parent_span_id = s->parent_span_id,
		                                       .span_id = s->span_id,
		                                       .start_ns = s->start_ns,
		                                       .name_hash = dft_hops_name_hash(s->component, strlen(s->component), s->name,
		                                                                       strlen(s->name))};
	}
	out->n = (uint8_t)k;
	out->cut = (uint8_t)(cut > 255 ? 255 : cut);
}
