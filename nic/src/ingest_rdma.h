/* SPDX-License-Identifier: MIT */
/*
 * The rdma-read backend's state, shared by its three layers: ingest_rdma_read.c (the ops and the
 * region view) over ingest_rdma_cm.c (rdma_cm listener, accept, step 5, network registrations) over
 * ingest_rdma_pass.c (posting and reaping on the QP, one READ pass, dropping a connection).
 * Protocol: the top of ingest_rdma_read.c. Worker lcore only.
 */
#ifndef DFT_NIC_INGEST_RDMA_H
#define DFT_NIC_INGEST_RDMA_H

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "ingest.h"
#include "ingest_rdma_copy.h"
#include "reg_net.h"

#define RR_STAGING_SLOTS 64u /* slots per READ pass (the worker's burst is no larger) */
#define RR_WAIT_MS 1000u     /* a posted operation still incomplete after this: the connection is broken */
#define RR_CM_POLL_MS 1u     /* connection events are looked at this often */
#define RR_METRICS_MS 1u     /* the metrics page is re-read at most this often */
#define RR_NAMES_CHUNK 64u   /* names per READ */
#define RR_SQ_SPARE 8u
/* the header's live part: names_published, dropped_no_ring (the rest is fixed at registration) */
#define RR_HDR_LIVE offsetof(struct dft_region_hdr, reserved)

enum rr_state {
	RR_WAIT,     /* no connection (yet, or any more) */
	RR_ACCEPTED, /* accepted, waiting for ESTABLISHED */
	RR_READY,
};

struct rr_ring {
	uint64_t tail;       /* ours: we are the only writer of the remote tail */
	uint64_t head_cache; /* last head accepted */
};

struct rr_ingest;

struct rr_region {
	struct dft_nic_region *r;
	struct dft_net_conn_view *net; /* registered over the network: main owns id, pd, cq and QP */
	enum rr_state state;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	uint64_t raddr, rlen; /* the host's MR */
	uint32_t rkey;
	uint32_t sq_cap;      /* send WRs in flight at most (== completions the CQ must hold) */
	uint32_t outstanding; /* posted, completion not yet polled */
	bool have_tails;      /* rings[].tail is known (read once, then ours) */
	struct rr_ring *rings;
	uint8_t *fresh; /* per ring: lines[k] was read after the ring last used its head */
	/* the region view (see the top): what the last complete pass brought */
	struct dft_name *name_copy;        /* name_capacity entries */
	uint32_t names_synced;             /* name ids 1..names_synced are in name_copy */
	struct dft_ring_claims *claims;    /* per ring */
	uint64_t dropped_no_ring;
	struct dft_rr_clock clock;         /* the clock block two READs agreed on */
	struct dft_metrics_page metrics;
	uint64_t next_metrics_tsc;
	/* registered buffer: everything RDMA moves lands here first */
	uint8_t *buf;
	size_t buf_len;
	struct dft_region_hdr *hdr;       /* a header copy */
	struct dft_metrics_page *m1, *m2; /* two copies of the metrics page */
	struct dft_name *names;           /* RR_NAMES_CHUNK entries */
	struct dft_slot *staging;
	uint64_t (*lines)[4];             /* per ring: head, produced, dropped_full, dropped_hops */
	uint64_t *tails;
};

/* The instance: one listener, the regions attached to it. */
struct rr_ingest {
	struct dft_ingest base;
	struct rdma_event_channel *ec;
	struct rdma_cm_id *listen;
	uint64_t next_cm_tsc;
	struct rr_region *regions[DFT_NIC_MAX_REGIONS];
	unsigned n;
};

static inline uint64_t ring_raddr(const struct rr_region *q, uint32_t ring)
{
	return q->raddr + q->r->g.rings_off + (uint64_t)ring * q->r->g.ring_stride;
}

/* ---- ingest_rdma_cm.c */
/* Connection events; at most once per RR_CM_POLL_MS. */
void dft_rr_cm_poll(struct rr_ingest *rd);
/* A network registration main saw go down: torn down here, true. */
bool dft_rr_net_gone(struct rr_region *q);
/* A network registration at attach: adopt its connection and run step 5. */
void dft_rr_adopt_net(struct rr_region *q);

/* ---- ingest_rdma_pass.c */
/* The verbs objects of a connection this backend made (a network registration's are main's). */
void dft_rr_verbs_release(struct rr_region *q);
/* Drop the connection (a network registration's goes back to main); the region reads as empty. */
void dft_rr_conn_teardown(struct rr_region *q);
/* The connection is unusable (completion error, timeout): count it and drop it. */
void dft_rr_conn_broken(struct rr_region *q, const char *what);
/* Reap completions until nothing is outstanding. 0, or -EIO after dropping the connection. */
int dft_rr_wait_all(struct rr_region *q);
/* Post a READ or WRITE between our buffer and the host's region at off (fence: after every earlier
 * READ completed). 0 or -EIO. */
int dft_rr_post_f(struct rr_region *q, enum ibv_wr_opcode op, void *local, uint32_t len, uint64_t off, bool fence);
int dft_rr_post(struct rr_region *q, enum ibv_wr_opcode op, void *local, uint32_t len, uint64_t off);
/* One pass of step 6 (producer lines, the header's live part, maybe metrics, new names). 0 or -EIO. */
int dft_rr_read_heads(struct rr_region *q);

#endif /* DFT_NIC_INGEST_RDMA_H */
