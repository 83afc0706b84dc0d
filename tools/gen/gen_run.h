/* SPDX-License-Identifier: MIT */
/*
 * The generator core: worker threads, each with its own shard of the platform and its own slice of
 * the requests, paced in wall time; a paced worker hands each span to libdifftrace once the wall
 * clock has passed its end (gen_delay.h) and the metrics page covers that time. A metrics loop on
 * the calling thread writes the components' CPU throttling at the contention windows' edges (each
 * reading stamped with its edge's time) and prints progress. dft_init must have run.
 */
#ifndef DFT_GEN_RUN_H
#define DFT_GEN_RUN_H

#include <stdint.h>

#include "gen_platform.h"

struct dft_gen_config {
	const struct dft_gen_model *model;
	double rate; /* requests per second, all threads together */
	double seconds;
	uint64_t requests; /* 0: rate x seconds */
	unsigned threads;
	unsigned workflows; /* how many of the model's entries are used (0: all) */
	uint64_t seed;
	struct dft_gen_rates rates;
	const char *truth_path; /* NULL: no ground truth */
	int pace;               /* sleep until each request's arrival time */
	int seeded_ids;
	int progress; /* progress lines on stderr once a second */
	uint32_t concurrency;
	uint32_t idle_ms;
	uint32_t contention_ms;
};

void dft_gen_config_defaults(struct dft_gen_config *c);

/* Runs to the end (or until dft_gen_stop). Returns 0, -ENOMEM, -ENOSPC (names), -errno (truth). */
int dft_gen_run(const struct dft_gen_config *cfg, struct dft_gen_counts *out);

/* Async-signal-safe: workers stop after their current request. */
void dft_gen_stop(void);

#endif /* DFT_GEN_RUN_H */
