/* SPDX-License-Identifier: MIT */
/*
 * The delay queue: a real component hands a span to its tracer when the span ends, but the
 * generator models a whole request when it arrives, with end times in the future. A span that
 * reached the ring before its end would reach the NIC before the metrics page could say anything
 * about the time it ran in (the contention rule), so each worker thread keeps its finished spans
 * here, by end time, and hands them to libdifftrace once the wall clock has passed their end.
 *
 * Bounded: a full queue (or a full pool of hop lists) hands a span over early instead of growing,
 * and counts it. Spans leave in (end time, arrival) order, so a parent that ends with its child
 * still follows it. One queue per thread, no locks.
 */
#ifndef DFT_GEN_DELAY_H
#define DFT_GEN_DELAY_H

#include <stdint.h>

#include <difftrace/difftrace.h>

#define DFT_GEN_DELAY_SPANS 8192u /* spans waiting for their end, per worker thread (200 req/s: ~200) */
#define DFT_GEN_DELAY_HOPS  1024u /* of which carry a hop list */

struct dft_gen_delayed {
	uint64_t end_ns;
	uint64_t seq;  /* arrival order: ties leave first in, first out */
	int32_t hops;  /* index in the hop pool, -1 for none */
	struct dft_span sp;
};

struct dft_gen_delay {
	struct dft_gen_delayed *heap; /* min-heap by (end_ns, seq) */
	uint32_t n, cap;
	struct dft_hop_list *hop; /* copies of the queued spans' hop lists */
	uint32_t *hop_free;       /* stack of free hop-pool indices */
	uint32_t n_hop_free, hop_cap;
	uint64_t seq;
	uint64_t early;     /* spans handed over before their end: the queue or the hop pool was full */
	uint32_t max_depth; /* the most spans that waited at once */
};

/* cap spans, hop_cap of them with hops. Returns 0 or -ENOMEM (-EINVAL for cap 0). */
int dft_gen_delay_init(struct dft_gen_delay *d, uint32_t cap, uint32_t hop_cap);
void dft_gen_delay_fini(struct dft_gen_delay *d);

/*
 * End sp at end_ns (unix ns) once the wall clock has passed it. d == NULL: at once. sp (and its hop
 * list) may be reused as soon as this returns: the queue keeps copies.
 */
void dft_gen_delay_end(struct dft_gen_delay *d, const struct dft_span *sp, uint64_t end_ns);

/* Hand over every span whose end is at or before limit_ns (the wall clock, or less while the metrics
 * page does not cover it yet). Returns the next end waiting (UINT64_MAX when none). */
uint64_t dft_gen_delay_flush(struct dft_gen_delay *d, uint64_t limit_ns);

#endif /* DFT_GEN_DELAY_H */
