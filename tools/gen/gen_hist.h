/* SPDX-License-Identifier: MIT */
/*
 * Empirical response-time histogram: log-spaced bins from 10 us to minutes, enough resolution to
 * resample a learned distribution without keeping every observation.
 */
#ifndef DFT_GEN_HIST_H
#define DFT_GEN_HIST_H

#include <stdint.h>

#include "gen_rng.h"

#define DFT_GEN_HIST_BINS 64

struct dft_gen_hist {
	uint64_t count;
	double min_ms, max_ms, sum_ms;
	uint32_t bin[DFT_GEN_HIST_BINS];
};

void dft_gen_hist_add(struct dft_gen_hist *h, double ms);
/* A value drawn from the histogram (ms), within [min, max]; 0 for an empty histogram. */
double dft_gen_hist_sample(const struct dft_gen_hist *h, struct dft_gen_rng *r);
double dft_gen_hist_mean(const struct dft_gen_hist *h);
/* The q-quantile (0..1) at bin resolution. */
double dft_gen_hist_quantile(const struct dft_gen_hist *h, double q);

#endif /* DFT_GEN_HIST_H */
