/* SPDX-License-Identifier: MIT */
/*
 * What the NIC saw of each span's children, so the outlier rule can judge a span that wraps other
 * spans by its self time (its duration less the time its children covered) instead of its
 * inclusive duration: a platform span that wraps a slow function, or a slow hop further down, is
 * not slow itself. Spans reach the NIC when they end, so a child is normally seen before its
 * parent; the parent takes (and frees) its entry when it arrives.
 *
 * Fixed memory: a 4-way set-associative table keyed by (trace id, parent span id). A full set
 * gives up its oldest entry (counted); nothing is allocated per span. Keys come from hostile
 * memory: they only ever decide which bounded set an entry lands in.
 */
#ifndef DFT_NIC_CHILDREN_H
#define DFT_NIC_CHILDREN_H

#include <stdbool.h>
#include <stdint.h>

struct dft_children;

/* A table of at least cap entries (rounded up to a power of two, 4..2^24). 0/-EINVAL/-ENOMEM. */
int dft_children_create(uint32_t cap, struct dft_children **out);
void dft_children_destroy(struct dft_children *c);
/* Record a child [start, end] of (trace id, parent span id); parent 0 (a root) is ignored. */
void dft_children_note(struct dft_children *c, const uint8_t trace_id[16], uint64_t parent, uint64_t start,
		       uint64_t end);
/*
 * Take the children of span (trace id, span id) that ran [start, end]: true and *covered_ns = the
 * time inside [start, end] they covered (the union when they ran one after another or all at
 * once, an upper bound of it otherwise) when any was seen; the entry is freed.
 */
bool dft_children_take(struct dft_children *c, const uint8_t trace_id[16], uint64_t span, uint64_t start,
		       uint64_t end, uint64_t *covered_ns);
/* True when (trace id, id) has an entry (noted as a parent), without taking it. The hold window
 * keeps a second table of this kind as a set: the span ids hop lists named. */
bool dft_children_seen(const struct dft_children *c, const uint8_t trace_id[16], uint64_t id);
/* Start loading the set (trace id, id) lands in, so a later note/take/seen finds it in cache:
 * the table is larger than the caches and every lookup is otherwise a miss. */
void dft_children_prefetch(const struct dft_children *c, const uint8_t trace_id[16], uint64_t id);
/* Entries given up to make room (a parent arriving after that is judged by its duration). */
uint64_t dft_children_evicted(const struct dft_children *c);

#endif /* DFT_NIC_CHILDREN_H */
