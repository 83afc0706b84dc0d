/* SPDX-License-Identifier: MIT */
#include <math.h>

#include "gen_hist.h"

#define HIST_LO_MS 0.01
#define HIST_RATIO 1.3 /* 1.3^64 * 10 us: about 54 hours, far beyond any response time */

static unsigned dft_gen_hist_bin(double ms)
{
	double b;

	if (!(ms > HIST_LO_MS))
		return 0;
	b = log(ms / HIST_LO_MS) / log(HIST_RATIO);
	return b >= DFT_GEN_HIST_BINS - 1 ? DFT_GEN_HIST_BINS - 1 : (unsigned)b;
}

static double dft_gen_hist_edge(unsigned i)
{
	return HIST_LO_MS * pow(HIST_RATIO, (double)i);
}

void dft_gen_hist_add(struct dft_gen_hist *h, double ms)
{
	if (!(ms >= 0)) /* NaN and negatives are the caller's bug; do not poison the sums */
		return;
	if (h->count == 0 || ms < h->min_ms)
		h->min_ms = ms;
	if (h->count == 0 || ms > h->max_ms)
		h->max_ms = ms;
	h->count++;
	h->sum_ms += ms;
	if (h->bin[dft_gen_hist_bin(ms)] < UINT32_MAX)
		h->bin[dft_gen_hist_bin(ms)]++;
}

static double dft_gen_hist_clamp(const struct dft_gen_hist *h, double v)
{
	return v < h->min_ms ? h->min_ms : v > h->max_ms ? h->max_ms : v;
}

double dft_gen_hist_sample(const struct dft_gen_hist *h, struct dft_gen_rng *r)
{
	uint64_t total = 0, pick, acc = 0;

	for (unsigned i = 0; i < DFT_GEN_HIST_BINS; i++)
		total += h->bin[i];
	if (total == 0)
		return 0;
	pick = dft_gen_below(r, total);
	for (unsigned i = 0; i < DFT_GEN_HIST_BINS; i++) {
		acc += h->bin[i];
		if (pick < acc) {
			/* log-uniform inside the bin: the bins themselves are log-spaced */
			double lo = i ? dft_gen_hist_edge(i) : 0, hi = dft_gen_hist_edge(i + 1), v;

			if (i == 0)
				v = dft_gen_unit(r) * hi;
			else
				v = lo * pow(hi / lo, dft_gen_unit(r));
			return dft_gen_hist_clamp(h, v);
		}
	}
	return h->max_ms;
}

double dft_gen_hist_mean(const struct dft_gen_hist *h)
{
	return h->count ? h->sum_ms / (double)h->count : 0;
}

double dft_gen_hist_quantile(const struct dft_gen_hist *h, double q)
{
	uint64_t total = 0, acc = 0;
	double want;

	for (unsigned i = 0; i < DFT_GEN_HIST_BINS; i++)
		total += h->bin[i];
	if (total == 0)
		return 0;
	want = q * (double)total;
	for (unsigned i = 0; i < DFT_GEN_HIST_BINS; i++) {
		acc += h->bin[i];
		if ((double)acc >= want && acc)
			return dft_gen_hist_clamp(
			    h, sqrt((i ? dft_gen_hist_edge(i) : HIST_LO_MS / 1.3) * dft_gen_hist_edge(i + 1)));
	}
	return h->max_ms;
}
