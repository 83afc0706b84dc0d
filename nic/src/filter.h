/* SPDX-License-Identifier: MIT */
/* The differential filter's rules (filter.c; docs/filter.md documents each with its key). */
#ifndef DFT_NIC_FILTER_H
#define DFT_NIC_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "profiler.h"
#include "span.h"

#define DFT_NIC_MAX_PLATFORM 32u

/* keep_reasons bits (Span.keep_reasons); a span kept for several reasons carries every bit */
#define DFT_KEEP_FUNCTION 1u     /* the span's component is a user function */
#define DFT_KEEP_ERROR 2u        /* status ERROR or DFT_SF_EXCEPTION */
#define DFT_KEEP_EXPLICIT 4u     /* DFT_SF_KEEP */
#define DFT_KEEP_COLD_START 8u   /* DFT_SF_COLD_START */
#define DFT_KEEP_QUEUEING 16u    /* queue_ns over the floor or over a multiple of the component's p99 */
#define DFT_KEEP_OUTLIER 32u     /* self time over a multiple of the (component, operation) median */
#define DFT_KEEP_CONTENTION 64u  /* the component's metrics entry is over a threshold */
#define DFT_KEEP_RETRO 128u      /* held, then reported because its trace turned out anomalous */
#define DFT_KEEP_RULES 8u        /* number of bits above */

struct dft_filter_cfg {
	bool keep_function, keep_error, keep_explicit, keep_cold_start;
	bool queueing, outlier, contention;
	uint64_t queue_floor_ns;      /* 0 = no absolute floor */
	double queue_p99_multiple;
	uint32_t queue_min_samples;
	double outlier_multiple;      /* an outlier is >= this x its key's median (self) time */
	uint32_t outlier_warmup;      /* samples before the key's median judges */
	uint64_t outlier_ceiling_ns;  /* before that: keep a span longer than this; 0 = off */
	uint32_t cpu_throttle_ppm;    /* 0 = not a trigger */
	uint32_t mem_pressure_ppm;    /* 0 = not a trigger */
	bool concurrency_at_limit;
	uint64_t metrics_refresh_ns;
};
void dft_filter_cfg_defaults(struct dft_filter_cfg *c);

struct dft_filter {
	struct dft_filter_cfg cfg;
	unsigned n_platform;
	const char (*platform)[DFT_NAME_MAX + 1];
};

/* What the rules look at besides the slot. */
struct dft_span_facts {
	enum dft_kind kind;
	uint64_t duration_ns;
	uint64_t self_ns;            /* when self_known: duration less its children's time */
	bool self_known;
	bool contended;              /* the component's metrics entry is over a threshold */
	struct dft_prof_limits lim;  /* the profile's thresholds (0 = none yet) */
};

/* Effective component kind of a decoded span whose component name is comp. */
enum dft_kind dft_filter_kind(const struct dft_filter *f, const struct dft_span_rec *s, uint8_t region_kind,
			      const char *comp);
/* keep_reasons for the span (0 = the rules would filter it). */
uint32_t dft_filter_decide(const struct dft_filter *f, const struct dft_span_rec *s, const struct dft_span_facts *x);
/*
 * Whether keep (from dft_filter_decide on x) only holds an outlier below outlier_multiple x its
 * median: inside the margin the threshold leaves for an uncertain median. Such a span is kept,
 * but does not make its trace anomalous for the hold window.
 */
bool dft_filter_weak_outlier(uint32_t keep, const struct dft_span_facts *x);
/* Counter name of keep_reasons bit i ("function", ...). */
const char *dft_keep_reason_name(unsigned bit);

#endif /* DFT_NIC_FILTER_H */
