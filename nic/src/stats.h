/* SPDX-License-Identifier: MIT */
/* The daemon's counters, one writer each, and their publication (stats.c). */
#ifndef DFT_NIC_STATS_H
#define DFT_NIC_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctr.h"
#include "dft/validate.h"
#include "filter.h"

struct dft_nic_counters {
	/* written by the worker */
	uint64_t produced;
	uint64_t lost_ring_full;
	uint64_t lost_no_ring;
	uint64_t filtered;
	uint64_t lost_invalid;
	uint64_t batched; /* spans put into a batch (open, handed over, or in the backlog) */
	uint64_t batches_built;
	uint64_t ring_corrupt;
	uint64_t regions_retired;
	uint64_t invalid[DFT_INVALID_COUNT];
	uint64_t lost_hold_overflow;
	uint64_t kept[DFT_KEEP_RULES]; /* per keep_reasons bit: spans reported with that bit */
	uint64_t held;                 /* gauge: spans in the hold window (held or queued for release) */
	uint64_t hold_timeouts;        /* held spans filtered because their hold time ran out */
	uint64_t hold_root_drops;      /* held spans filtered when their trace's root ended normally */
	uint64_t hold_released;        /* held spans reported because the trace turned anomalous */
	uint64_t anomalous_evicted;    /* remembered anomalous traces forgotten early (memory full) */
	uint64_t hold_path_drops;      /* held spans filtered: in an anomalous trace, off every anomaly's path */
	uint64_t hold_want_full;       /* wanted ancestors given up for a newer one */
	uint64_t hold_extended;        /* held spans kept past their hold time: no hop list named them */
	uint64_t names_full;
	uint64_t prof_keys_full;
	uint64_t children_evicted;     /* children-table entries given up before their parent came */
	uint64_t prof_clock_resets;    /* profiler keys whose span clock went back and was restarted */
	uint64_t span_clock_jumps;     /* spans ending too far ahead of span time to move it */
	uint64_t profiles_built;
	uint64_t profiles_dropped;
	uint64_t metrics_torn;
	uint64_t metrics_bad;
	uint64_t dma_copies; /* dmadev ingest: copies completed by the DMA engine */
	uint64_t dma_errors;
	uint64_t rdma_reads;  /* rdma-read ingest: READ / WRITE work requests completed, failures */
	uint64_t rdma_writes;
	uint64_t rdma_errors;
	uint64_t hops_dropped; /* hops the host libraries cut from spans (ring headers' dropped_hops, clamped) */
	uint64_t status_msg_invalid; /* status messages left out of reported spans: not 1..120 bytes of
				      * printable UTF-8 (the span itself is reported) */
	uint64_t adopted; /* spans waiting in rings an earlier NIC instance had read from (epoch.c) */
	/* written by the main lcore */
	uint64_t reported;
	uint64_t lost_backlog_full;
	uint64_t lost_transport;
	uint64_t batches_sent;
	uint64_t batches_acked;
	uint64_t batches_admitted;
	uint64_t connects;
	uint64_t connect_failures;     /* attempts to reach the collector that failed */
	uint64_t disconnects;
	uint64_t regions_attached;
	uint64_t regions_refused;
	uint64_t regions_net; /* of regions_attached: registered over the network (reg_net.c) */
	uint64_t reg_conns_timed_out; /* registration connections closed: no message within await_ms */
	uint64_t reg_conns_evicted;   /* ... closed to make room: every slot held, this one the oldest waiting */
	uint64_t backlog_batches;
	uint64_t collector_busy; /* BUSY frames: the collector's storage was failing (tx_tcp.c) */
};

/*
 * A counter the host writes is a claim. The NIC keeps its own copy per ring and moves it only up
 * (a host that rewrites the counter smaller, or a torn read, cannot make the total run backwards)
 * and never past bound (what the host's other claims make possible), so a lying host inflates at
 * most its own region's share. Returns the clamped value.
 */
static inline uint64_t dft_claim_clamp(uint64_t *last, uint64_t now, uint64_t bound)
{
	if (now > bound)
		now = bound;
	if (now > *last)
		*last = now;
	return *last;
}

/* A hop list counts its hops in a uint8_t: one span can make the host cut at most this many. */
#define DFT_NIC_HOPS_CUT_PER_SPAN 255u

extern struct dft_nic_counters dft_nic_ctr;
/* Written by the main lcore: the transport is up with room to spare. While it is not, the worker
 * closes batches only when full (not on --flush-us), so an outage fills the backlog with full
 * batches instead of thousands of near-empty ones. */
extern bool dft_nic_tx_ready;

/*
 * One live region's share of the counters its host writes, as the worker clamped them: a lying host
 * shows up here, in its own row (telemetry /difftrace/regions).
 */
struct dft_nic_region_stat {
	uint32_t id;  /* registration id */
	uint32_t pid; /* as the region declared it */
	uint32_t peer_pid, peer_uid; /* as the kernel (SO_PEERCRED) saw the registering process */
	uint64_t instance_id;
	uint64_t produced, lost_ring_full, lost_no_ring, hops_dropped;
};

/* The worker publishes its live regions' rows (at most DFT_NIC_MAX_REGIONS) under a seqlock. */
void dft_nic_regions_publish(const struct dft_nic_region_stat *v, unsigned n);
/*
 * Any thread: copy the latest publication into out[0, max). Returns the number of live regions
 * (which may exceed max: only max are copied), or -EBUSY when the worker kept rewriting it.
 */
int dft_nic_regions_read(struct dft_nic_region_stat *out, unsigned max);

/* A consistent-enough snapshot with the derived in_flight. */
struct dft_nic_snapshot {
	struct dft_nic_counters c;
	uint64_t in_flight;
};
void dft_nic_snapshot(struct dft_nic_snapshot *s);
int dft_nic_telemetry_register(void);
/* Write the counters as JSON to path via path.tmp + rename. Returns 0 or -errno. */
int dft_nic_stats_write(const char *path);

#endif /* DFT_NIC_STATS_H */
