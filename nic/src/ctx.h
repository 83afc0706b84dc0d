/* SPDX-License-Identifier: MIT */
/* The daemon's state, split by the lcore that owns each part (see nic.h: which lcore owns what). */
#ifndef DFT_NIC_CTX_H
#define DFT_NIC_CTX_H

#include <rte_ring.h>

#include "ingest.h"
#include "children.h"
#include "batch.h"
#include "config.h"
#include "filter.h"
#include "hold.h"
#include "region.h"
#include "stats.h"
#include "worker.h"

#define DFT_NIC_BURST 64u

struct dft_nic_ctx {
	const struct dft_nic_config *cfg;
	struct rte_ring *ctl_to_worker;   /* struct dft_ctl_msg *, main -> worker */
	struct rte_ring *ctl_to_main;     /* struct dft_ctl_msg *, worker -> main */
	struct rte_ring *batches;         /* struct dft_batch *, worker -> main, closed batches */

	/* worker-owned */
	struct dft_ingest *ingest;        /* the ingest instance (main creates and destroys it) */
	struct dft_filter filter;
	struct dft_nic_region *regions[DFT_NIC_MAX_REGIONS];
	bool detaching[DFT_NIC_MAX_REGIONS];
	uint64_t detach_deadline[DFT_NIC_MAX_REGIONS]; /* tsc */
	unsigned n_regions;
	struct dft_batch *open;           /* batch being filled, or NULL */
	struct dft_batch *closed;         /* closed but not yet handed over (hand-off ring full) */
	uint64_t tsc_hz, flush_tsc, next_refresh, next_cal;
	uint64_t retired_produced, retired_ring_full, retired_no_ring, retired_dropped_hops;
	/* per tenant: produced, lost_ring_full, lost_no_ring of retired regions */
	uint64_t retired_t[DFT_NIC_MAX_TENANTS][3];
	struct dft_tenant_sched sched;
	struct dft_nic_region_stat region_rows[DFT_NIC_MAX_REGIONS]; /* refresh_counters' publication */
	bool stopping, stopped;
	uint64_t stop_deadline; /* tsc */
	struct dft_slot burst[DFT_NIC_BURST];
	/* the differential filter's state (worker-owned) */
	struct dft_names *names;
	struct dft_profiler *prof;
	struct dft_hold *hold;            /* NULL when the hold window is off */
	struct dft_prof_row *rows;        /* snapshot scratch, max_keys rows */
	struct dft_batch *profile_pending; /* a Profile batch not yet handed over */
	bool final_profile;               /* the shutdown snapshot was built */
	uint64_t now_ns;                  /* monotonic, once per step */
	struct dft_children *children;    /* self time: what each span's children covered */
	uint64_t span_now_ns;             /* span time: the slowest active region's, never going back */
	struct dft_nic_region *clock_min; /* the region span time waits for (NULL: none yet) */
	uint64_t wall_real_ns;            /* the NIC's unix time, once per step: bounds span time */
	uint32_t empty_gname;             /* id of "" (an unnamed component) */
};

/* Create / free the filter's state from ctx->cfg (main, before the worker starts). 0/-errno. */
int dft_worker_init(struct dft_nic_ctx *ctx);
void dft_worker_fini(struct dft_nic_ctx *ctx);

#endif /* DFT_NIC_CTX_H */
