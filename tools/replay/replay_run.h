/* SPDX-License-Identifier: MIT */
#ifndef DFT_REPLAY_RUN_H
#define DFT_REPLAY_RUN_H

#include <stdbool.h>
#include <stdint.h>

struct dft_replay_opts {
	const char *in;        /* path, or "-" for stdin */
	const char *platform;  /* --platform-components, may be NULL */
	const char *component; /* dft_init's component */
	unsigned threads;
	double rate; /* spans/s over all threads; 0: as fast as the rings drain */
	/* by_time: spans in end-time order, each when its recorded end is due at speed (1: the recorded
	 * pace, 0: as fast as the rings drain); else trace by trace (and --rate) */
	bool by_time;
	double speed;
	unsigned fini_ms, connect_ms, batch_lines;
	bool strict, no_daemon;
};

struct dft_replay_result {
	uint64_t lines, traces, spans, skipped;
	uint64_t produced, dropped, hops_dropped; /* from dft_stats */
	uint64_t hops, hops_cut;                  /* synthesized, left out beyond 16 */
	uint64_t names_truncated, spans_unnamed, attrs_unnamed;
	uint64_t attrs_cut, queue_clamped, reconstructed_skipped;
	uint64_t backoffs;
	uint64_t status_messages, status_messages_refused; /* handed to the library; refused by it */
	uint64_t late; /* --speed > 0: spans emitted more than 1 ms after they were due */
	int fini; /* dft_fini's result */
};

/* Returns 0, 1 (runtime error, message on stderr) or 2 (--strict and a malformed line). */
int dft_replay_run(const struct dft_replay_opts *o, struct dft_replay_result *r);

#endif /* DFT_REPLAY_RUN_H */
