/* SPDX-License-Identifier: MIT */
/*
 * A synthetic host region for the benchmarks: laid out with dft_region_hdr_init, names and clock
 * calibration published the way libdifftrace publishes them, and span slots written through the
 * producer half of dft/ring.h (reserve, fill, commit), so the NIC side sees exactly what a traced
 * application would leave in shared memory.
 */
#ifndef DFT_BENCH_SYNTH_H
#define DFT_BENCH_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dft/abi.h"
#include "dft/ring.h"
#include "dft/validate.h"

/* What the slots look like. */
enum dft_synth_mix {
	/* platform components, traces of DFT_SYNTH_TRACE_LEN spans ending with a normal root: the
	 * differential filter (hold window included) reports none of them */
	DFT_SYNTH_PLATFORM_NORMAL,
	/* user-function spans: every one is kept, batched and sent */
	DFT_SYNTH_FUNCTION,
	/* traces of DFT_SYNTH_TRACE_LEN spans, keep_ppm per million of them user-function traces (every
	 * span kept, written as DFT_SYNTH_FUNCTION writes them, the kind set per span) and the rest
	 * platform traces as DFT_SYNTH_PLATFORM_NORMAL: the share of spans the NIC keeps is
	 * keep_ppm / 1e6 exactly, spread evenly over the stream, whatever the hold window does */
	DFT_SYNTH_KEEP_SHARE,
};

#define DFT_SYNTH_TRACE_LEN 8u
#define DFT_SYNTH_NAMES 8u

struct dft_synth {
	void *base;
	size_t len;
	struct dft_region_geom g;
	struct dft_ring_prod *prod; /* one producer view per ring */
	enum dft_synth_mix mix;
	uint64_t next_id;           /* span ids (and trace ids) are unique over the region's life */
	uint64_t tick_hz;           /* 0: slots carry unix ns (DFT_SF_TS_NS) instead of ticks */
	uint32_t keep_ppm;          /* DFT_SYNTH_KEEP_SHARE: kept traces per million (0 after create) */
};

/*
 * Map an anonymous, page-aligned region of ring_count rings of ring_slots slots. tick_hz != 0
 * publishes a tick -> ns calibration and writes tick timestamps; 0 writes unix ns. 0/-errno.
 */
int dft_synth_create(uint32_t ring_count, uint32_t ring_slots, enum dft_synth_mix mix, uint64_t tick_hz,
		     struct dft_synth *out);
void dft_synth_destroy(struct dft_synth *s);
/* Write up to n span slots into ring k (fewer when it is full). Returns the slots written. */
uint32_t dft_synth_fill(struct dft_synth *s, uint32_t k, uint32_t n);
/* Fill every ring completely. Returns the slots written. */
uint64_t dft_synth_fill_all(struct dft_synth *s);
/* One span slot as dft_synth_fill writes it (for callers that feed a batcher directly). */
void dft_synth_slot(struct dft_synth *s, struct dft_slot *out);

#endif /* DFT_BENCH_SYNTH_H */
