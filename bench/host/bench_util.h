/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by dft-bench-host and dft-bench-e2e: tick calibration, percentiles, CPU time,
 * pinning, and the real daemons (difftrace-collector, difftrace-nic) as child processes on loopback.
 */
#ifndef DFT_BENCH_UTIL_H
#define DFT_BENCH_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* Ticks per ns, measured against CLOCK_MONOTONIC over ~50 ms. */
double dft_bench_tick_per_ns(void);

/* Sort v[0, n) in place and return the value at quantile q (0..1); 0 for n == 0. */
double dft_bench_quantile_sorted(const double *v, size_t n, double q);
void dft_bench_sort(double *v, size_t n);

struct dft_bench_dist {
	double min, median, p99, max;
	size_t n;
};
/* Sorts v. */
void dft_bench_dist_of(double *v, size_t n, struct dft_bench_dist *out);

/* User + system CPU time in ns of the process (RUSAGE_SELF) or the calling thread (RUSAGE_THREAD). */
uint64_t dft_bench_cpu_ns_self(void);
uint64_t dft_bench_cpu_ns_thread(void);
uint64_t dft_bench_now_ns(void); /* CLOCK_MONOTONIC */
void dft_bench_sleep_us(unsigned us);

/* Pin the calling thread to one CPU; -errno. */
int dft_bench_pin(int cpu);
int dft_bench_ncpus(void);

/* The directory the running executable lives in (to find difftrace-nic next to it). */
int dft_bench_exe_dir(char *out, size_t cap);

/* The real daemons on loopback, each a child process, under one temporary work directory. */
struct dft_bench_daemons {
	char dir[256];
	char socket[300];
	char prefix[64];
	char nic_stats[300];
	char coll_stats[300];
	pid_t collector, nic;
	int port;
};

struct dft_bench_daemon_opts {
	const char *bindir;   /* where difftrace-nic and difftrace-collector are */
	int nic_cpu;          /* the NIC's lcore = this CPU */
	bool busy_poll;       /* --busy-poll: the NIC core is dedicated, as a DPU core would be */
	bool hold;            /* hold window on (the daemon's default) */
	bool with_nic;        /* false: collector only (the host-reporting baseline sends to it) */
	int keep_off_cpu;     /* the collector stands for a remote backend: never on this CPU (-1: anywhere) */
};

/* Start the collector (and the NIC when asked) and wait until both are ready. 0 or -errno (a
 * message went to stderr); on failure whatever was started is stopped again. */
int dft_bench_daemons_start(struct dft_bench_daemons *d, const struct dft_bench_daemon_opts *o);
/* SIGTERM and wait (SIGKILL after 10 s); the stats files stay readable until cleanup. */
void dft_bench_daemons_stop(struct dft_bench_daemons *d);
/* Stop what still runs, remove the work and DPDK runtime directories. */
void dft_bench_daemons_cleanup(struct dft_bench_daemons *d);

/* Counters of the running difftrace-nic over its rte_telemetry socket (/difftrace/stats): fills
 * vals[i] for keys[i] (-1 when absent). 0 or -errno. */
int dft_bench_nic_counters(const struct dft_bench_daemons *d, const char *const *keys, int64_t *vals, unsigned n);

/* One counter out of a flat JSON stats file ("key": number); -1 when absent. */
int64_t dft_bench_json_u64(const char *path, const char *key);

/* JSON output helpers: a number or null when !have. */
void dft_bench_json_num(FILE *f, const char *key, double v, bool have, bool comma);

#endif /* DFT_BENCH_UTIL_H */
