/* SPDX-License-Identifier: MIT */
/*
 * The collector's state, shared by the files that make it up and by no one else: collector.c
 * (create, run, destroy), ingest.c (the core every transport feeds), tcp_server.c and
 * tcp_frames.c (the TCP transport), rdma_hookup.c (the RDMA transport).
 */
#ifndef DFT_COLLECTOR_IMPL_H
#define DFT_COLLECTOR_IMPL_H

#include <poll.h>
#include <stdbool.h>
#include <stdint.h>

#include "collector.h"
#include "dedup.h"
#include "ingest.h"
#include "profiles.h"
#include "rdma_hookup.h"
#include "sink.h"
#include "tcp_server.h"

struct dft_collector {
	struct dft_collector_cfg cfg;
	uint16_t port;
	struct pollfd *pfds;
	struct dft_store *store;
	struct dft_dedup dedup;
	struct dft_sink sinks[3];
	unsigned nsinks;
	struct dft_otlp_http *http; /* also sinks[]: the sink owns it */
	struct dft_collector_stats stats;
	struct dft_profiles profiles;
	struct dft_recon *recon;
	struct dft_tcp_server tcp;
	struct dft_rdma_hookup rdma;

	/* the current round */
	uint64_t now_ms;
	uint64_t round_batches;
	uint64_t round_exported;
	uint64_t round_profiles;
	bool round_failed;
};

#endif /* DFT_COLLECTOR_IMPL_H */
