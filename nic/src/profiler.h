/* SPDX-License-Identifier: MIT */
/* Per (component, operation) profiles (profiler.c; names: names.h). */
#ifndef DFT_NIC_PROFILER_H
#define DFT_NIC_PROFILER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "names.h"

struct dft_prof_cfg {
	uint64_t interval_ns;       /* span time between threshold refreshes; wall time between snapshots */
	uint32_t rotate_intervals;  /* a key's windows drop their older half every N intervals of span time */
	uint32_t min_window;        /* ... once the newer half holds at least this many samples */
	uint32_t max_keys;          /* (component, operation) keys plus one per component */
	uint32_t outlier_warmup;    /* samples before a key's median judges */
	double outlier_multiple;    /* an outlier is >= this x the median */
	uint32_t queue_min_samples;
	double queue_p99_multiple;
	uint64_t clock_jump_ns;     /* a span this far behind its key's span time restarts the key's clock */
};
void dft_prof_cfg_defaults(struct dft_prof_cfg *c);

/* Thresholds of one key as of its last refresh; 0 = none yet (warm-up, or a median of 0). */
struct dft_prof_limits {
	uint64_t self_ns;      /* on self time (a leaf key: its duration) */
	uint64_t duration_ns;  /* on inclusive duration: a wrapping key's span whose children were not seen */
	uint64_t self_def_ns;  /* outlier_multiple x the medians: what the definition calls an outlier */
	uint64_t duration_def_ns;
	uint64_t queue_ns;     /* from the component's queue-time window */
	bool wraps;            /* the key's spans usually come with children seen on this NIC */
};

/* One span as the profiler learns from it. */
struct dft_prof_obs {
	uint64_t end_ns;       /* span time: moves the key's clock */
	uint64_t duration_ns;
	uint64_t self_ns;      /* duration less what its children covered, when self_known */
	uint32_t queue_ns;
	bool self_known;       /* children of this span were seen */
	bool explained;        /* kept for a reason that is not its duration: left out of the baseline */
};

/* Multiple of the median above which a key with n samples calls a span an outlier (profiler.c). */
double dft_profiler_outlier_factor(double multiple, uint64_t n);

/* One ProfileEntry as the profiler sees it. */
struct dft_prof_row {
	const char *component, *operation;
	uint64_t count, kept, filtered;
	uint64_t duration_p50_ns, duration_p99_ns, queue_p99_ns, self_time_ns;
};

struct dft_profiler;
int dft_profiler_create(const struct dft_prof_cfg *cfg, struct dft_profiler **out);
void dft_profiler_destroy(struct dft_profiler *p);
/* Key of (component, operation) global name ids (op 0 is reserved), added when new; -ENOSPC when the
 * key table is full (counted: the span is still decided, by the rules that need no profile). */
int dft_profiler_key(struct dft_profiler *p, uint32_t comp, uint32_t op);
void dft_profiler_limits(const struct dft_profiler *p, int key, struct dft_prof_limits *out);
/* Learn from a span after it was judged (against the thresholds of before it). */
void dft_profiler_observe(struct dft_profiler *p, int key, const struct dft_prof_obs *o);
/* The span's final fate (a held span's is known only later). */
void dft_profiler_count(struct dft_profiler *p, int key, bool kept);
/* Call often with the NIC's monotonic clock: true once per interval, when a snapshot is due. The
 * thresholds do not depend on it (they follow span time). */
bool dft_profiler_tick(struct dft_profiler *p, uint64_t now_ns);
/* Rows for every key with observations in the window (component aggregates excluded), at most max,
 * with figures computed now. */
unsigned dft_profiler_snapshot(const struct dft_profiler *p, const struct dft_names *names, struct dft_prof_row *rows,
			       unsigned max);
uint32_t dft_profiler_max_keys(const struct dft_profiler *p);
uint64_t dft_profiler_keys_full(const struct dft_profiler *p);
/* Keys whose span clock went back by more than clock_jump_ns and was restarted. */
uint64_t dft_profiler_clock_resets(const struct dft_profiler *p);

#endif /* DFT_NIC_PROFILER_H */
