/* SPDX-License-Identifier: MIT */
/* Order statistics over benchmark repetitions (shared by the bench executables). */
#ifndef DFT_BENCH_STATS_UTIL_H
#define DFT_BENCH_STATS_UTIL_H

struct dft_bstats {
	double min, median, p99, max, mean;
	unsigned n;
};

/* Sorts v[0, n) in place; p99 is the nearest-rank 99th percentile (the max below 100 samples). */
void dft_bstats_compute(struct dft_bstats *out, double *v, unsigned n);

#endif /* DFT_BENCH_STATS_UTIL_H */
