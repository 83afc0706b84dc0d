/* SPDX-License-Identifier: MIT */
/*
 * The LTTng-UST reference run of dft-bench-host: start lttng-sessiond (or use one already running),
 * create a session in a temporary directory with one user-space channel in discard mode, enable the
 * dft_bench:span tracepoint, start, run dft-bench-host-lttng, stop, read the channel's discarded
 * events from `lttng list`, destroy the session, stop the session daemon it started.
 */
#ifndef DFT_BENCH_LTTNG_RUN_H
#define DFT_BENCH_LTTNG_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "bench_util.h"

struct dft_bench_lttng_run {
	struct dft_bench_dist d;
	bool enabled;         /* the tracepoint was live in the child (a session really recorded it) */
	uint64_t spans;
	uint64_t proc_cpu_ns; /* the child's CPU over its threads' run */
	uint64_t wait_cpu_ns;
	uint64_t wall_ns;
	uint64_t lost_events; /* the channel's discarded events */
};

struct dft_bench_lttng_info {
	bool lost_known;
};

/*
 * One measurement with `threads` producer threads. Returns 0, or -errno with *skip naming why LTTng
 * could not be measured (tools or helper missing, session daemon refused): the caller reports it
 * as skipped, not as a failure.
 */
int dft_bench_lttng_measure(const char *bindir, unsigned threads, unsigned rounds, unsigned warm, unsigned batch,
			    unsigned pace_ns, int cpu, struct dft_bench_lttng_run *out, struct dft_bench_lttng_info *info,
			    const char **skip);

#endif /* DFT_BENCH_LTTNG_RUN_H */
