/* SPDX-License-Identifier: MIT */
/*
 * A minimal TCP peer for the transport stage: accepts one connection on 127.0.0.1, answers the
 * HELLO with ACK(sender, 0) and acknowledges BATCH frames in arrival order (one cumulative ACK per
 * read burst) without decoding them. It measures what the NIC's transport costs the NIC, not what a
 * collector costs (dft-bench-collector does that).
 */
#ifndef DFT_BENCH_SINK_H
#define DFT_BENCH_SINK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct dft_sink_srv {
	int lfd;
	uint16_t port;
	int cpu;             /* pinned to this CPU (-1: not pinned) */
	pthread_t thread;
	bool running;
	volatile bool stop;
	uint64_t frames, bytes; /* written by the sink thread, read after join */
};

/* Listen on 127.0.0.1:0 and start the thread. 0/-errno. */
int dft_sink_start(struct dft_sink_srv *s, int cpu);
void dft_sink_stop(struct dft_sink_srv *s);

#endif /* DFT_BENCH_SINK_H */
