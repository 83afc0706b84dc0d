/* SPDX-License-Identifier: MIT */
/*
 * dft-bench-host-lttng: the LTTng-UST side of dft-bench-host, a separate process so that
 * liblttng-ust (its constructor, listener threads and registration) never runs inside the process
 * whose CPU time difftrace is charged with. dft-bench-host starts the session daemon and an active
 * session first, then runs this; it registers at start-up (LTTNG_UST_REGISTER_TIMEOUT default).
 *
 *   dft-bench-host-lttng THREADS ROUNDS WARM BATCH PACE_NS APP_CPU
 * prints one JSON object: the distribution of ns per event, spans and CPU times.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "lttng_tp.h"
#include "span_loop.h"

struct worker {
	pthread_t th;
	unsigned rounds, warm, batch, pace_ns;
	int cpu;
	double tick_per_ns;
	struct dft_bench_thread_res res;
};

static pthread_barrier_t start_barrier;

static void *run(void *arg)
{
	struct worker *w = arg;
	uint8_t trace_id[16];
	uint64_t rng = dft_ticks() | 1, parent = 0x1234567890abcdefull;

	dft_bench_pin(w->cpu);
	memset(trace_id, 0x5a, sizeof(trace_id));
	pthread_barrier_wait(&start_barrier);
	DFT_BENCH_ROUNDS(&w->res, w->rounds, w->warm, w->batch, w->tick_per_ns,
			 dft_bench_sleep_us((w->batch * w->pace_ns + 999) / 1000), {
				 uint64_t start = dft_ticks(), id;

				 rng ^= rng << 13;
				 rng ^= rng >> 7;
				 rng ^= rng << 17;
				 id = rng;
				 lttng_ust_tracepoint(dft_bench, span, trace_id, id, parent, start, dft_ticks(), 1, 2,
						      (int64_t)i, 3, 42);
			 });
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned threads, rounds, warm, batch, pace;
	int cpu, enabled;
	struct worker *w;
	double *all, tpn;
	size_t n = 0;
	uint64_t spans = 0, wait_cpu = 0, wall = 0, cpu0, cpu1;
	struct dft_bench_dist d;

	if (argc != 7) {
		fprintf(stderr, "usage: %s THREADS ROUNDS WARM BATCH PACE_NS APP_CPU\n", argv[0]);
		return 2;
	}
	threads = (unsigned)atoi(argv[1]);
	rounds = (unsigned)atoi(argv[2]);
	warm = (unsigned)atoi(argv[3]);
	batch = (unsigned)atoi(argv[4]);
	pace = (unsigned)atoi(argv[5]);
	cpu = atoi(argv[6]);
	if (threads < 1 || threads > 64 || rounds <= warm || batch < 1)
		return 2;
	enabled = lttng_ust_tracepoint_enabled(dft_bench, span) ? 1 : 0;
	tpn = dft_bench_tick_per_ns();
	w = calloc(threads, sizeof(*w));
	all = calloc((size_t)threads * rounds, sizeof(*all));
	if (!w || !all)
		return 1;
	pthread_barrier_init(&start_barrier, NULL, threads);
	cpu0 = dft_bench_cpu_ns_self();
	for (unsigned t = 0; t < threads; t++) {
		w[t] = (struct worker){.rounds = rounds, .warm = warm, .batch = batch, .pace_ns = pace, .cpu = cpu,
				       .tick_per_ns = tpn};
		w[t].res.samples = all + (size_t)t * rounds;
		pthread_create(&w[t].th, NULL, run, &w[t]);
	}
	for (unsigned t = 0; t < threads; t++)
		pthread_join(w[t].th, NULL);
	cpu1 = dft_bench_cpu_ns_self();
	/* still enabled at the end: the session lived through the whole run (nobody stopped its daemon) */
	if (!lttng_ust_tracepoint_enabled(dft_bench, span))
		enabled = 0;
	for (unsigned t = 0; t < threads; t++) {
		memmove(all + n, w[t].res.samples, w[t].res.n_samples * sizeof(*all));
		n += w[t].res.n_samples;
		spans += w[t].res.spans;
		wait_cpu += w[t].res.wait_cpu_ns;
		if (w[t].res.wall_ns > wall)
			wall = w[t].res.wall_ns;
	}
	dft_bench_dist_of(all, n, &d);
	printf("{\"enabled\":%d,\"threads\":%u,\"min\":%.3f,\"median\":%.3f,\"p99\":%.3f,\"spans\":%llu,"
	       "\"proc_cpu_ns\":%llu,\"wait_cpu_ns\":%llu,\"wall_ns\":%llu}\n",
	       enabled, threads, d.min, d.median, d.p99, (unsigned long long)spans, (unsigned long long)(cpu1 - cpu0),
	       (unsigned long long)wait_cpu, (unsigned long long)wall);
	free(all);
	free(w);
	return 0;
}
