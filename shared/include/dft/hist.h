/* SPDX-License-Identifier: MIT */
/*
 * Log-bucketed streaming histogram for the profiler: fixed memory, O(1) insert, quantiles with a
 * bounded relative error. Buckets grow geometrically by 2^(1/DFT_HIST_SUB) (sub-buckets per power of
 * two), so a quantile is off by at most ~(2^(1/SUB) - 1) / 2 relative (SUB = 16: < 2.2%).
 *
 * Windowed: a struct dft_hist_win keeps two halves; observations go into the current one, quantiles
 * read both, and rotating drops the older half, so thresholds follow the recent past.
 */
#ifndef DFT_HIST_H
#define DFT_HIST_H

#include <stdint.h>

#define DFT_HIST_SUB_BITS 4u
#define DFT_HIST_SUB (1u << DFT_HIST_SUB_BITS)
#define DFT_HIST_POW 44u /* values up to 2^44 ns (~4.9 hours); larger ones land in the top bucket */
#define DFT_HIST_BUCKETS (DFT_HIST_POW * DFT_HIST_SUB)

struct dft_hist {
	uint64_t count;
	uint64_t sum;
	uint64_t max;
	uint32_t bucket[DFT_HIST_BUCKETS];
};

struct dft_hist_win {
	struct dft_hist half[2];
	unsigned cur;
};

void dft_hist_reset(struct dft_hist *h);
/* q in [0,1]; 0 when empty. */
uint64_t dft_hist_quantile(const struct dft_hist *h, double q);
/* Quantile over the union of several histograms (the two halves of a window). */
uint64_t dft_hist_quantile_n(const struct dft_hist *const *hs, unsigned n, double q);
uint64_t dft_hist_bucket_mid(unsigned b);

void dft_hist_win_reset(struct dft_hist_win *w);
uint64_t dft_hist_win_quantile(const struct dft_hist_win *w, double q);
uint64_t dft_hist_win_count(const struct dft_hist_win *w);
/* Start a new half: the older of the two is forgotten. */
void dft_hist_win_rotate(struct dft_hist_win *w);

/*
 * Adding a value is inline: the NIC adds four per span (duration, self time, queue time, the
 * component's queue time).
 *
 * Values below DFT_HIST_SUB map one-to-one onto the first buckets; above, bucket = (exponent, top
 * DFT_HIST_SUB_BITS bits of the mantissa). This is the HDR-style layout: exact for small values,
 * constant relative width for large ones.
 */
static inline unsigned dft_hist_bucket_of(uint64_t v)
{
	unsigned e, b;

	if (v < DFT_HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
	b = (e - DFT_HIST_SUB_BITS + 1) * DFT_HIST_SUB + (unsigned)((v >> (e - DFT_HIST_SUB_BITS)) & (DFT_HIST_SUB - 1));
	return b < DFT_HIST_BUCKETS ? b : DFT_HIST_BUCKETS - 1;
}

static inline void dft_hist_add(struct dft_hist *h, uint64_t v)
{
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	h->bucket[dft_hist_bucket_of(v)]++;
}

static inline void dft_hist_win_add(struct dft_hist_win *w, uint64_t v)
{
	dft_hist_add(&w->half[w->cur], v);
}

#endif /* DFT_HIST_H */
