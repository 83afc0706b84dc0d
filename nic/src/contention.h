/* SPDX-License-Identifier: MIT */
/* Contention tracks from the region's metrics page (contention.c). */
#ifndef DFT_NIC_CONTENTION_H
#define DFT_NIC_CONTENTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dft/abi.h"
#include "dft/validate.h"

struct dft_filter_cfg;
/* The region's metrics page, read under each entry's seqlock (hostile memory).
 * The rule asks "was the component contended at any time while the span ran?", so each component
 * that was ever over a threshold gets a track: the interval open now (if any) and the last
 * DFT_CONTENTION_HIST closed ones, in the region's clock (unix ns). A span that ran inside a window
 * still matches when it reaches the NIC after the window closed. */
#define DFT_CONTENTION_HIST 8u
struct dft_contention_iv {
	uint64_t from, to;
};
struct dft_contention_track {
	uint16_t comp;   /* region-local component id; 0 = free */
	uint8_t n;       /* closed intervals held (<= DFT_CONTENTION_HIST) */
	uint8_t next;    /* where the next closed interval goes (oldest overwritten) */
	bool open;       /* over a threshold as of the last refresh, since open_from */
	uint64_t open_from;
	uint64_t last_ns; /* latest interval edge: the stalest closed track is evicted first */
	struct dft_contention_iv iv[DFT_CONTENTION_HIST];
};
struct dft_contention {
	uint64_t next_ns;                          /* readings are refreshed at most this often */
	uint16_t prev_id[DFT_METRICS_MAX];         /* last consistent reading per entry (torn reads keep it) */
	uint8_t prev_on[DFT_METRICS_MAX];
	uint64_t prev_ns[DFT_METRICS_MAX];         /* the reading's time (region clock) */
	/* region-local component id -> 1 + its track index (0 = never contended); at most 64 components
	 * can be over a threshold at once (one page), so DFT_METRICS_MAX tracks always have room for the
	 * open ones */
	uint8_t track_of[DFT_NAME_CAPACITY_MAX + 1];
	struct dft_contention_track track[DFT_METRICS_MAX];
	uint64_t torn;                             /* entries skipped because the writer was busy */
	uint64_t bad;                              /* entries with an impossible component id */
	uint64_t evicted;                          /* tracks (a component's history) given to another component */
};
/*
 * Re-read the page pg (the region's, as its ingest instance shows it) when next_ns (monotonic now_ns)
 * has passed, or when forced; g is the region's geometry. region_now_ns is the region's clock now (unix ns): the time of a reading whose
 * entry carries none, and the end of an interval whose entry vanished.
 */
void dft_contention_refresh(struct dft_contention *c, const struct dft_filter_cfg *f,
			    const struct dft_metrics_page *pg, const struct dft_region_geom *g, uint32_t names_published, uint64_t now_ns,
			    uint64_t region_now_ns, bool force);
/* The component is over a threshold as of the last refresh. */
bool dft_contention_on(const struct dft_contention *c, uint16_t comp_local_id);
/* The span [start_ns, end_ns] (region clock) overlaps one of the component's contention intervals. */
bool dft_contention_match(const struct dft_contention *c, uint16_t comp_local_id, uint64_t start_ns,
			  uint64_t end_ns);

#endif /* DFT_NIC_CONTENTION_H */
