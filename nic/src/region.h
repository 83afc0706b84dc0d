/* SPDX-License-Identifier: MIT */
/* One registered region: created by main, polled by the worker through its ingest instance. */
#ifndef DFT_NIC_REGION_H
#define DFT_NIC_REGION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "contention.h"
#include "dft/abi.h"
#include "dft/clock.h"
#include "reg_policy.h"

#define DFT_NIC_MAX_REGIONS 256u

struct dft_nic_ring_state {
	uint64_t produced;     /* monotonic clamps of the host's counters */
	uint64_t dropped_full;
	uint64_t base_dropped; /* dropped_full when this NIC instance adopted the ring (epoch.c) */
	uint64_t spans_taken;  /* spans read from the ring (valid or not): the NIC's own count */
	bool adopted;          /* an earlier instance read the ring: produced is what this one saw */
	uint64_t dropped_hops; /* also bounded: at most DFT_NIC_HOPS_CUT_PER_SPAN per produced span */
	uint64_t skip_until;   /* tsc: a corrupt ring is left alone until then */
};

struct dft_net_conn;
struct dft_nic_region {
	uint32_t id;
	int fd;                /* the memfd (main owns it); -1 when registered over the network */
	int conn;              /* the host's registration connection (main owns it) */
	struct dft_net_conn *net; /* registered over the network (reg_net.c, main owns it), else NULL */
	/* the memfd mapped by the registration server (main owns it; NULL when registered over the
	 * network). Only the registration server and the backends that read a mapped region (ingest_map.c)
	 * touch it: everything else reads the region through its ingest instance's view (ingest.h). */
	void *map;
	struct dft_region_geom g;
	/* worker-owned from ATTACH to DETACHED */
	struct dft_nic_ring_state *rings;
	struct dft_clock_cal cal;
	uint64_t cal_tsc;
	uint64_t dropped_no_ring;
	uint32_t names_published;
	void *ingest_priv;             /* the ingest backend's per-region state */
	uint32_t peer_pid, peer_uid, peer_gid; /* SO_PEERCRED of the registration connection */
	const struct dft_reg_policy *policy;   /* NULL: the peer may trace as any component */
	uint8_t *comp_ok;              /* per region-local name id: 0 unknown, 1 allowed, 2 refused */
	uint32_t *gname;               /* region-local name id -> NIC-global id (0 = not resolved yet) */
	uint8_t tenant;                /* tenant.h: set at attach */
	uint64_t claims_ns;            /* NIC time of the last reading of the host's counters (0: none) */
	bool has_peer;                 /* peer_* above come from SO_PEERCRED */
	uint64_t span_now_ns;          /* this region's span time: the latest end it wrote (judge.c) */
	uint64_t span_seen_ns;         /* the NIC's monotonic time of its latest span */
	struct dft_contention cont;
};

#endif /* DFT_NIC_REGION_H */
