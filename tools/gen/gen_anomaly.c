/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gen_anomaly.h"
#include "gen_rng.h"

#define CONTENTION_MAX_WINDOWS 100000

int dft_gen_contention_build(struct dft_gen_contention *c, uint64_t seed, double per_request, double requests_per_s,
                             uint64_t duration_ns, uint32_t n_comp, uint64_t len_ns)
{
	struct dft_gen_rng r;
	double per_ns = per_request * requests_per_s / 1e9, t = 0;
	uint32_t cap = 0;

	memset(c, 0, sizeof(*c));
	c->len_ns = len_ns;
	if (per_request < 0 || requests_per_s < 0)
		return -EINVAL;
	if (!(per_ns > 0) || n_comp == 0 || len_ns == 0)
		return 0;
	dft_gen_rng_seed(&r, seed, 0x636f6e74656e64ull);
	for (;;) {
		t += dft_gen_exp(&r, 1.0 / per_ns);
		if (t >= (double)duration_ns || c->n >= CONTENTION_MAX_WINDOWS)
			break;
		if (c->n == cap) {
			struct dft_gen_window *w;

			cap = cap ? cap * 2 : 64;
			w = realloc(c->w, cap * sizeof(*w));
			if (!w) {
				dft_gen_contention_free(c);
				return -ENOMEM;
			}
			c->w = w;
		}
		c->w[c->n].start = (uint64_t)t;
		c->w[c->n].end = (uint64_t)t + len_ns;
		c->w[c->n].comp = (uint32_t)dft_gen_below(&r, n_comp);
		c->n++;
	}
	return 0;
}

int dft_gen_contention_active(const struct dft_gen_contention *c, uint32_t comp, uint64_t t)
{
	uint32_t lo = 0, hi = c->n;

	/* the first window starting after t; windows open at t started within len_ns before it */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (c->w[mid].start <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo-- > 0 && c->w[lo].start + c->len_ns > t)
		if (c->w[lo].comp == comp)
			return 1;
	return 0;
}

uint64_t dft_gen_contention_next_edge(const struct dft_gen_contention *c, uint64_t t)
{
	uint32_t lo = 0, hi = c->n;
	uint64_t best = UINT64_MAX;

	/* starts and ends are both sorted (one length): the first window whose end is after t holds
	 * the next end, and the first from there whose start is after t the next start */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (c->w[mid].end <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < c->n)
		best = c->w[lo].end;
	for (; lo < c->n; lo++) {
		if (c->w[lo].start > t) {
			if (c->w[lo].start < best)
				best = c->w[lo].start;
			break;
		}
	}
	return best;
}

void dft_gen_contention_free(struct dft_gen_contention *c)
{
	free(c->w);
	memset(c, 0, sizeof(*c));
}
