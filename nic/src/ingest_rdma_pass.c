/* SPDX-License-Identifier: MIT */
/*
 * The rdma-read backend's bottom layer (protocol at the top of ingest_rdma_read.c): posting READs
 * and WRITEs on a region's QP and reaping their completions, one pass of step 6 (producer lines, the
 * header's live part, the metrics page, new names) into the region view, and dropping a connection
 * that failed. Used by the connections (ingest_rdma_cm.c) and the ops (ingest_rdma_read.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_pause.h>

#include "ingest_rdma.h"
#include "log.h"

/* The verbs objects of a connection, in reverse order of creation (the QP goes before). */
void dft_rr_verbs_release(struct rr_region *q)
{
	if (q->mr)
		ibv_dereg_mr(q->mr);
	if (q->net) { /* the rest is main's (reg_net.c) */
		q->mr = NULL;
		q->cq = NULL;
		q->pd = NULL;
		return;
	}
	if (q->cq)
		ibv_destroy_cq(q->cq);
	if (q->pd)
		ibv_dealloc_pd(q->pd);
	q->mr = NULL;
	q->cq = NULL;
	q->pd = NULL;
}

void dft_rr_conn_teardown(struct rr_region *q)
{
	if (q->net) {
		/* main hears of it (DISCONNECTED) and detaches the region; a gone one is down already */
		if (q->id && !dft_load_acquire(&q->net->gone))
			rdma_disconnect(q->id);
		dft_rr_verbs_release(q);
		q->id = NULL;
		q->outstanding = 0;
		q->state = RR_WAIT;
		return;
	}
	if (q->id && q->state == RR_READY)
		rdma_disconnect(q->id);
	if (q->id && q->id->qp)
		rdma_destroy_qp(q->id);
	dft_rr_verbs_release(q);
	if (q->id)
		rdma_destroy_id(q->id);
	q->id = NULL;
	q->outstanding = 0;
	q->state = RR_WAIT;
}

/* The connection is unusable (completion error, timeout): count it and drop it. */
void dft_rr_conn_broken(struct rr_region *q, const char *what)
{
	dft_ctr_add(&dft_nic_ctr.rdma_errors, 1);
	DFT_LOG(WARNING, ingest, "rdma-read region %u: %s; waiting for the host to reconnect", q->r->id, what);
	dft_rr_conn_teardown(q);
}

/* Reap completions until nothing is outstanding. 0, or -EIO after dropping the connection. */
int dft_rr_wait_all(struct rr_region *q)
{
	uint64_t deadline = 0;
	struct ibv_wc wc[16];

	while (q->outstanding) {
		int n = ibv_poll_cq(q->cq, 16, wc);

		if (n < 0) {
			dft_rr_conn_broken(q, "completion queue error");
			return -EIO;
		}
		for (int i = 0; i < n; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				char why[96];

				snprintf(why, sizeof(why), "completion error %s", ibv_wc_status_str(wc[i].status));
				dft_rr_conn_broken(q, why);
				return -EIO;
			}
			if (wc[i].opcode == IBV_WC_RDMA_READ)
				dft_ctr_add(&dft_nic_ctr.rdma_reads, 1);
			else
				dft_ctr_add(&dft_nic_ctr.rdma_writes, 1);
		}
		q->outstanding -= (uint32_t)n;
		if (n)
			continue;
		if (!deadline)
			deadline = rte_rdtsc() + rte_get_tsc_hz() / 1000 * RR_WAIT_MS;
		else if (rte_rdtsc() > deadline) {
			dft_rr_conn_broken(q, "operation timed out");
			return -EIO;
		}
		rte_pause();
	}
	return 0;
}

/*
 * Post one READ or WRITE between our buffer and the host's region (offset off). fence: start only
 * after every earlier READ completed (what the host published before a head we read is then seen by
 * this READ). 0 or -EIO.
 */
int dft_rr_post_f(struct rr_region *q, enum ibv_wr_opcode op, void *local, uint32_t len, uint64_t off, bool fence)
{
	struct ibv_sge sge = {.addr = (uintptr_t)local, .length = len, .lkey = q->mr->lkey};
	struct ibv_send_wr wr = {.sg_list = &sge, .num_sge = 1, .opcode = op,
				 .send_flags = IBV_SEND_SIGNALED | (fence ? IBV_SEND_FENCE : 0)}, *bad;

	if (!q->id)
		return -EIO; /* dropped earlier in this pass */
	/* off + len lies inside the validated region, which lies inside the MR the host declared */
	wr.wr.rdma.remote_addr = q->raddr + off;
	wr.wr.rdma.rkey = q->rkey;
	if (q->outstanding >= q->sq_cap && dft_rr_wait_all(q))
		return -EIO;
	if (ibv_post_send(q->id->qp, &wr, &bad)) {
		dft_rr_conn_broken(q, "post failed");
		return -EIO;
	}
	q->outstanding++;
	return 0;
}

int dft_rr_post(struct rr_region *q, enum ibv_wr_opcode op, void *local, uint32_t len, uint64_t off)
{
	return dft_rr_post_f(q, op, local, len, off, false);
}

/* Names published since the last sync, into name_copy (they never change once published). */
static int sync_names(struct rr_region *q, uint32_t np)
{
	const struct dft_region_geom *g = &q->r->g;

	if (np > g->name_capacity)
		np = g->name_capacity;
	while (q->names_synced < np) {
		uint32_t n = np - q->names_synced < RR_NAMES_CHUNK ? np - q->names_synced : RR_NAMES_CHUNK;
		uint64_t off = g->names_off + (uint64_t)q->names_synced * sizeof(struct dft_name);

		if (dft_rr_post(q, IBV_WR_RDMA_READ, q->names, n * (uint32_t)sizeof(struct dft_name), off) || dft_rr_wait_all(q))
			return -EIO;
		memcpy(&q->name_copy[q->names_synced], q->names, n * sizeof(struct dft_name));
		q->names_synced += n;
	}
	return 0;
}

/*
 * One pass (step 6): every ring's producer line, then (fenced) the header's live part and maybe the
 * metrics page, in one round trip; then new names. Fills the view. 0 or -EIO.
 */
int dft_rr_read_heads(struct rr_region *q)
{
	const struct dft_region_geom *g = &q->r->g;
	bool metrics = rte_rdtsc() >= q->next_metrics_tsc;

	for (uint32_t k = 0; k < g->ring_count; k++)
		if (dft_rr_post(q, IBV_WR_RDMA_READ, q->lines[k], sizeof(q->lines[k]), ring_raddr(q, k) - q->raddr))
			return -EIO;
	if (dft_rr_post_f(q, IBV_WR_RDMA_READ, q->hdr, RR_HDR_LIVE, 0, true))
		return -EIO;
	if (metrics && (dft_rr_post(q, IBV_WR_RDMA_READ, q->m1, sizeof(*q->m1), g->metrics_off) ||
			dft_rr_post_f(q, IBV_WR_RDMA_READ, q->m2, sizeof(*q->m2), g->metrics_off, true)))
		return -EIO;
	if (dft_rr_wait_all(q))
		return -EIO;
	/* head is used from lines[] (loaded once by the caller); the counters are the view's, and the
	 * worker clamps them so they never run backwards */
	for (uint32_t k = 0; k < g->ring_count; k++)
		q->claims[k] = (struct dft_ring_claims){.produced = q->lines[k][1], .dropped_full = q->lines[k][2],
							.dropped_hops = q->lines[k][3]};
	dft_rr_clock_take(&q->clock, q->hdr);
	q->dropped_no_ring = q->hdr->dropped_no_ring;
	if (metrics) {
		dft_rr_metrics_merge(&q->metrics, q->m1, q->m2);
		q->next_metrics_tsc = rte_rdtsc() + rte_get_tsc_hz() / 1000 * RR_METRICS_MS;
	}
	if (sync_names(q, q->hdr->names_published))
		return -EIO;
	memset(q->fresh, 1, g->ring_count);
	return 0;
}
