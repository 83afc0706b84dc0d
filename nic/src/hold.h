/* SPDX-License-Identifier: MIT */
/* The hold window: retroactive keep (hold.c). */
#ifndef DFT_NIC_HOLD_H
#define DFT_NIC_HOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "span.h"

/* [hold] settings (config.c) */
struct dft_hold_cfg {
	bool enabled;
	uint32_t max_spans;
	uint64_t hold_ns;
	uint32_t remember_traces;
	uint64_t remember_ns;
	bool retro_path;  /* retro scope: the anomalies' ancestors (true) or whole traces */
};

/* struct dft_span_rec: span.h */

enum dft_fate {
	DFT_FATE_REPORT = 0, /* batch it now with rec->keep_reasons */
	DFT_FATE_FILTER,     /* count it filtered */
	DFT_FATE_HELD,       /* the hold window has it */
	DFT_FATE_OVERFLOW,   /* it would have been held but the window is full: lost_hold_overflow */
};

struct dft_hold;
/* Called for every held span the window filters (root end, timeout, flush). */
typedef void (*dft_hold_drop_fn)(void *arg, const struct dft_span_rec *r);
int dft_hold_create(const struct dft_hold_cfg *cfg, struct dft_hold **out);
void dft_hold_destroy(struct dft_hold *h);
/*
 * The window's two clocks. Hold and remember times run on span time (the latest end time the NIC
 * has seen, never going back), so a recording replayed at any speed is held as live traffic is;
 * the NIC's monotonic clock bounds them at DFT_HOLD_WALL_FACTOR times as long, for when spans stop
 * coming or a host's clock stands still.
 */
struct dft_hold_now {
	uint64_t span_ns;
	uint64_t wall_ns;
};
#define DFT_HOLD_WALL_FACTOR 4u
#define DFT_HOLD_WANT 4u /* path scope: ancestors a remembered trace waits for at once */
/*
 * Decide the fate of a span the rules have judged (rec->keep_reasons). holdable: a platform span
 * the window may keep back. Marks anomalous traces (moving their held spans to the release queue),
 * drops a trace's held spans when its root ends normally.
 */
enum dft_fate dft_hold_admit(struct dft_hold *h, struct dft_span_rec *rec, bool holdable,
			     const struct dft_hold_now *now, dft_hold_drop_fn drop, void *arg);
/* Start loading what admitting a span of this trace will read. Two steps, a few spans apart: the
 * first loads the trace's hash bucket, the second (when the bucket has arrived) its first entry. */
void dft_hold_prefetch_bucket(const struct dft_hold *h, const uint8_t *trace_id);
void dft_hold_prefetch_trace(const struct dft_hold *h, const uint8_t *trace_id);
/* A span of this trace carried hops naming span_ids[0, n) (path scope: those can be rebuilt, so
 * they need not be reported). Call before admitting that span. */
void dft_hold_saw_hops(struct dft_hold *h, const uint8_t *trace_id, const uint64_t *span_ids, unsigned n);
/* The oldest span waiting to be reported (keep_reasons has DFT_KEEP_RETRO), or NULL. */
const struct dft_span_rec *dft_hold_release_peek(const struct dft_hold *h);
void dft_hold_release_pop(struct dft_hold *h);
/* Filter the held spans of traces whose hold time ran out; forget expired anomalous traces. */
unsigned dft_hold_expire(struct dft_hold *h, const struct dft_hold_now *now, dft_hold_drop_fn drop, void *arg);
/* Filter every held span (shutdown); the release queue is left for the caller to report. */
unsigned dft_hold_flush(struct dft_hold *h, dft_hold_drop_fn drop, void *arg);
struct dft_hold_stats {
	uint64_t held;           /* spans held or queued for release now */
	uint64_t timeouts, root_drops, released, overflow, anomalous_evicted;
	uint64_t path_drops;     /* path scope: held spans of an anomalous trace not on an anomaly's path */
	uint64_t want_full;      /* path scope: wanted ancestors given up for a newer one */
	uint64_t extended;       /* path scope: spans held longer because no hop list named them */
	uint32_t traces_held, traces_anomalous;
};
void dft_hold_stats(const struct dft_hold *h, struct dft_hold_stats *out);

#endif /* DFT_NIC_HOLD_H */
