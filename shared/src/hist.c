/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "dft/hist.h"

/*
 * Values below DFT_HIST_SUB map one-to-one onto the first buckets; above, bucket = (exponent, top
 * DFT_HIST_SUB_BITS bits of the mantissa). This is the HDR-style layout: exact for small values,
 * constant relative width for large ones.
 */
unsigned dft_hist_bucket_of(uint64_t v)
{
	unsigned e, b;

	if (v < DFT_HIST_SUB)
		return (unsigned)v;
	e = 63u - (unsigned)__builtin_clzll(v); /* >= SUB_BITS */
	b = (e - DFT_HIST_SUB_BITS + 1) * DFT_HIST_SUB + (unsigned)((v >> (e - DFT_HIST_SUB_BITS)) & (DFT_HIST_SUB - 1));
	return b < DFT_HIST_BUCKETS ? b : DFT_HIST_BUCKETS - 1;
}

static uint64_t bucket_low(unsigned b)
{
	unsigned e;

	if (b < DFT_HIST_SUB)
		return b;
	e = b / DFT_HIST_SUB - 1 + DFT_HIST_SUB_BITS;
	return ((uint64_t)DFT_HIST_SUB + (b % DFT_HIST_SUB)) << (e - DFT_HIST_SUB_BITS);
}

uint64_t dft_hist_bucket_mid(unsigned b)
{
	uint64_t lo = bucket_low(b), hi;

	if (b < DFT_HIST_SUB)
		return lo;
	hi = b + 1 < DFT_HIST_BUCKETS ? bucket_low(b + 1) : lo * 2;
	return lo + (hi - lo) / 2;
}

void dft_hist_reset(struct dft_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void dft_hist_add(struct dft_hist *h, uint64_t v)
{
	h->count++;
	h->sum += v;
	if (v > h->max)
		h->max = v;
	h->bucket[dft_hist_bucket_of(v)]++;
}

uint64_t dft_hist_quantile_n(const struct dft_hist *const *hs, unsigned n, double q)
{
	uint64_t total = 0, rank, seen = 0, max = 0;

	for (unsigned i = 0; i < n; i++) {
		total += hs[i]->count;
		if (hs[i]->max > max)
			max = hs[i]->max;
	}
	if (total == 0)
		return 0;
	if (q < 0)
		q = 0;
	if (q > 1)
		q = 1;
	/* nearest-rank: the smallest value with at least q*total observations at or below it */
	rank = (uint64_t)(q * (double)total + 0.999999);
	if (rank == 0)
		rank = 1;
	for (unsigned b = 0; b < DFT_HIST_BUCKETS; b++) {
		for (unsigned i = 0; i < n; i++)
			seen += hs[i]->bucket[b];
		if (seen >= rank) {
			uint64_t mid = dft_hist_bucket_mid(b);

			return mid < max ? mid : max;
		}
	}
	return max;
}

uint64_t dft_hist_quantile(const struct dft_hist *h, double q)
{
	return dft_hist_quantile_n(&h, 1, q);
}

void dft_hist_win_reset(struct dft_hist_win *w)
{
	dft_hist_reset(&w->half[0]);
	dft_hist_reset(&w->half[1]);
	w->cur = 0;
}

void dft_hist_win_add(struct dft_hist_win *w, uint64_t v)
{
	dft_hist_add(&w->half[w->cur], v);
}

uint64_t dft_hist_win_quantile(const struct dft_hist_win *w, double q)
{
	const struct dft_hist *hs[2] = {&w->half[0], &w->half[1]};

	return dft_hist_quantile_n(hs, 2, q);
}

uint64_t dft_hist_win_count(const struct dft_hist_win *w)
{
	return w->half[0].count + w->half[1].count;
}

void dft_hist_win_rotate(struct dft_hist_win *w)
{
	w->cur ^= 1u;
	dft_hist_reset(&w->half[w->cur]);
}
