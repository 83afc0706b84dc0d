/* SPDX-License-Identifier: MIT */
/*
 * The host-reporting baseline: what an OpenTelemetry SDK's batch span processor and exporter do,
 * built from difftrace's own modules. The application keeps using libdifftrace (its per-thread ring
 * is the bounded in-process queue); a background thread of the SAME process takes the registration
 * that difftrace-nic would take, and runs validate -> filter (with the profiler) -> protobuf batch ->
 * TCP frames to the real difftrace-collector. The only difference from the offloaded case is where
 * that pipeline runs, so the application's CPU per span shows what offloading saves.
 */
#ifndef DFT_BENCH_HOSTREP_H
#define DFT_BENCH_HOSTREP_H

#include <stdbool.h>
#include <stdint.h>

struct dft_hostrep_opts {
	const char *socket_path; /* where libdifftrace registers (DFT_SOCKET / dft_options.socket_path) */
	int collector_port;      /* difftrace-collector on 127.0.0.1 */
	int cpu;                 /* pin the reporting thread here; -1: no pinning */
	uint32_t batch_spans;    /* 0: 256, the daemon's default */
	uint32_t flush_us;       /* 0: 1000 */
};

struct dft_hostrep_stats {
	uint64_t consumed;  /* spans taken out of the rings */
	uint64_t filtered;  /* the rules left them out */
	uint64_t batched;   /* put into a batch */
	uint64_t reported;  /* acknowledged by the collector */
	uint64_t invalid;
	uint64_t lost_backlog_full;
	uint64_t batches;
	uint64_t thread_cpu_ns; /* the reporting thread's own CPU time so far */
};

struct dft_hostrep;
/* Start the reporting thread (listening on socket_path). 0 or -errno. */
int dft_hostrep_start(const struct dft_hostrep_opts *o, struct dft_hostrep **out);
/* Everything consumed so far has been filtered or acknowledged (or lost, counted). */
bool dft_hostrep_idle(struct dft_hostrep *h);
void dft_hostrep_stats(struct dft_hostrep *h, struct dft_hostrep_stats *out);
/* Drain, wait up to 5 s for the collector's ACKs, stop the thread, free. */
void dft_hostrep_stop(struct dft_hostrep *h);

#endif /* DFT_BENCH_HOSTREP_H */
