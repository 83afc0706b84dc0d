/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "dft/hist.h"

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
