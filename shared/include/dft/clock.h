/* SPDX-License-Identifier: MIT */
/*
 * Clock helpers. The span hot path reads the CPU tick counter only (a clock_gettime costs ~28 ns
 * on these VMs); the region publishes the tick -> unix ns calibration and the NIC side converts.
 */
#ifndef DFT_CLOCK_H
#define DFT_CLOCK_H

#include <stdint.h>
#include <errno.h>
#include <time.h>

#include "dft/abi.h"
#include "dft/ring.h"

static inline uint64_t dft_ticks(void)
{
#if defined(__x86_64__) || defined(__i386__)
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
#elif defined(__aarch64__)
	uint64_t v;

	__asm__ __volatile__("mrs %0, cntvct_el0" : "=r"(v));
	return v;
#else
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
#endif
}

static inline uint64_t dft_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Calibration as the consumer holds it after a consistent seqlock read of the region header. */
struct dft_clock_cal {
	uint64_t tick_base;
	uint64_t ns_base;
	uint64_t tick_mult;
	uint32_t tick_shift;
};

static inline uint64_t dft_ticks_to_ns(const struct dft_clock_cal *c, uint64_t ticks)
{
	/* ticks before the base (another core's TSC a hair behind) convert backwards */
	if (ticks >= c->tick_base)
		return c->ns_base + (uint64_t)(((unsigned __int128)(ticks - c->tick_base) * c->tick_mult) >> c->tick_shift);
	return c->ns_base - (uint64_t)(((unsigned __int128)(c->tick_base - ticks) * c->tick_mult) >> c->tick_shift);
}

/*
 * Seqlock read of the calibration from a (hostile) region header. Returns 0, or -EAGAIN after a few
 * tries when the writer keeps it odd (a stuck or hostile host): the caller keeps its old copy.
 */
static inline int dft_clock_cal_read(const struct dft_region_hdr *h, struct dft_clock_cal *out)
{
	for (int i = 0; i < 8; i++) {
		uint32_t s1 = dft_load_acquire(&h->clock_seq);
		struct dft_clock_cal c;

		if (s1 & 1u)
			continue;
		/* acquire on each field (not one fence: TSan cannot model fences) keeps the re-read of
		 * clock_seq below after every field read, which is what makes the seqlock check valid */
		c.tick_base = dft_load_acquire(&h->tick_base);
		c.ns_base = dft_load_acquire(&h->ns_base);
		c.tick_mult = dft_load_acquire(&h->tick_mult);
		c.tick_shift = dft_load_acquire(&h->tick_shift);
		if (dft_load_relaxed(&h->clock_seq) != s1)
			continue;
		if (c.tick_shift > 63)
			return -EINVAL;
		*out = c;
		return 0;
	}
	return -EAGAIN;
}

#endif /* DFT_CLOCK_H */
