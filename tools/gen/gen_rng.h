/* SPDX-License-Identifier: MIT */
/*
 * The generator's random numbers: splitmix64 streams, one per thread and purpose, so a seed fixes
 * every draw whatever the threads' interleaving.
 */
#ifndef DFT_GEN_RNG_H
#define DFT_GEN_RNG_H

#include <math.h>
#include <stdint.h>

struct dft_gen_rng {
	uint64_t s;
};

static inline void dft_gen_rng_seed(struct dft_gen_rng *r, uint64_t seed, uint64_t stream)
{
	/* streams of one seed must not overlap: mix the stream in, not add it */
	r->s = seed ^ (stream * 0xd1b54a32d192ed03ull) ^ 0x2545f4914f6cdd1dull;
}

static inline uint64_t dft_gen_rand(struct dft_gen_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double dft_gen_unit(struct dft_gen_rng *r)
{
	return (double)(dft_gen_rand(r) >> 11) * 0x1p-53;
}

static inline uint64_t dft_gen_below(struct dft_gen_rng *r, uint64_t n)
{
	return n ? dft_gen_rand(r) % n : 0;
}

static inline int dft_gen_chance(struct dft_gen_rng *r, double p)
{
	return p > 0 && dft_gen_unit(r) < p;
}

/* Standard normal (Box-Muller; the second value is thrown away to keep the stream stateless). */
static inline double dft_gen_normal(struct dft_gen_rng *r)
{
	double u1 = 1.0 - dft_gen_unit(r), u2 = dft_gen_unit(r);

	return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Log-normal around a median: the shape of service times, long right tail. */
static inline double dft_gen_lognormal(struct dft_gen_rng *r, double median, double sigma)
{
	return median * exp(sigma * dft_gen_normal(r));
}

static inline double dft_gen_exp(struct dft_gen_rng *r, double mean)
{
	return -mean * log(1.0 - dft_gen_unit(r));
}

#endif /* DFT_GEN_RNG_H */
