/* SPDX-License-Identifier: MIT */
/*
 * The timed loop every system of dft-bench-host runs: rounds of `batch` spans timed as a whole with
 * the tick counter (one tick read per batch, so the timer is not part of a span's cost), divided by
 * batch; between rounds a pacing wait that lets the consumer catch up, whose own CPU time is
 * measured precisely (CLOCK_THREAD_CPUTIME_ID) so it can be taken out of the CPU per span.
 */
#ifndef DFT_BENCH_SPAN_LOOP_H
#define DFT_BENCH_SPAN_LOOP_H

#include <stdint.h>
#include <time.h>

#include "dft/clock.h"

struct dft_bench_thread_res {
	double *samples;      /* ns per span of each timed round (after warm-up) */
	unsigned n_samples;
	uint64_t spans;       /* spans emitted, warm-up included */
	uint64_t wait_cpu_ns; /* CPU time spent in pacing waits */
	uint64_t wall_ns;
	uint64_t thread_cpu_ns;
};

static inline uint64_t dft_bench_thread_cpu_exact(void)
{
	return dft_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/*
 * res: struct dft_bench_thread_res * with samples[rounds - warm]; WAIT: a statement run before each
 * round; then the statement (a braced block) emitting span i of a round.
 */
#define DFT_BENCH_ROUNDS(res, rounds, warm, batch, tick_per_ns, WAIT, ...)                                \
	do {                                                                                                  \
		uint64_t w0_ = dft_clock_ns(CLOCK_MONOTONIC), c0_ = dft_bench_thread_cpu_exact();                \
		for (unsigned r_ = 0; r_ < (rounds); r_++) {                                                  \
			uint64_t wc_ = dft_bench_thread_cpu_exact(), t0_, t1_;                                \
			WAIT;                                                                                 \
			(res)->wait_cpu_ns += dft_bench_thread_cpu_exact() - wc_;                             \
			t0_ = dft_ticks();                                                                    \
			for (unsigned i = 0; i < (batch); i++) {                                              \
				__VA_ARGS__                                                                          \
			}                                                                                     \
			t1_ = dft_ticks();                                                                    \
			(res)->spans += (batch);                                                              \
			if (r_ >= (warm))                                                                     \
				(res)->samples[(res)->n_samples++] =                                          \
				    (double)(t1_ - t0_) / (tick_per_ns) / (double)(batch);                    \
		}                                                                                             \
		(res)->wall_ns = dft_clock_ns(CLOCK_MONOTONIC) - w0_;                                         \
		(res)->thread_cpu_ns = dft_bench_thread_cpu_exact() - c0_;                                    \
	} while (0)

#endif /* DFT_BENCH_SPAN_LOOP_H */
