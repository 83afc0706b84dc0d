/* SPDX-License-Identifier: MIT */
/*
 * The rdma-read ingest backend: ring indices and slots leave the host by RDMA READ, the consumer
 * tail goes back by RDMA WRITE, so the host CPU does nothing for the data path. This is how a
 * DPU's Arm cores reach host memory without DOCA. Protocol, step by step (also docs/rdma.md):
 *
 *   1. At start the daemon listens with rdma_cm on --rdma-ingest-bind ADDR:PORT (a concrete address:
 *      it is what hosts are told to connect to).
 *   2. A host registers over the Unix socket as usual, with DFT_REG_F_RDMA_READ; after the status-0
 *      reply the daemon sends struct dft_reg_rdma_at (its listen address and port).
 *   3. The host's registration thread registers the whole region as an MR (LOCAL_WRITE|REMOTE_READ|
 *      REMOTE_WRITE) and connects an RC QP with struct dft_reg_rdma_hello as private data: instance
 *      id, MR address, rkey, length, and responder resources for our READs.
 *   4. Here, on the connect request: the instance id picks the registered region (none, or one that
 *      is already connected: reject); the length must cover the region size validated at
 *      registration; a QP with room for one READ per ring is created and the request accepted.
 *   5. On ESTABLISHED: RDMA READ the region header and validate it like a mapped one (the geometry
 *      must equal the registered one), then READ every ring's tail (the consumer position a previous
 *      daemon left) or, on a reconnect, WRITE ours. Only then is the region polled.
 *   6. Per poll pass: one RDMA READ per ring of its producer line (head and the host's counters),
 *      then, fenced behind them, one of the header's live fields (names_published, dropped_no_ring,
 *      clock), all posted together and waited for once; then the names published since the last pass
 *      and, at most once per RR_METRICS_MS, the metrics page (twice: an entry that differs between
 *      the copies was being written and is marked torn). A head behind the tail or more than a ring
 *      ahead is -EOVERFLOW (the worker counts it and leaves the ring alone), exactly as for a mapped
 *      ring. Then one READ of the readable slots, two when they wrap, into private staging memory;
 *      the worker validates the copies as always.
 *   7. On release: RDMA WRITE of the new tail (8 bytes) into the ring header's consumer line. Posted,
 *      not waited for: completions are reaped before the next READ.
 *   8. A failed completion, a READ that takes over RR_WAIT_MS, or a disconnect event drops the
 *      connection; the region reads as empty until the host reconnects (then step 5 writes our
 *      tails back). The host's socket EOF detaches the region as for any backend.
 *
 * Nothing is read through the mapping (r->map): the region view (ingest.h) answers from what the
 * passes above brought, kept per region in private memory: the names published so far, one merged
 * copy of the metrics page, the clock block (taken only when two READs agree) and each ring's
 * counters. The daemon still receives the memfd at registration and validates the header there.
 *
 * The ops and the region view live here, steps 1-5 and 8 (the connections) in ingest_rdma_cm.c, the
 * QP operations and step 6's READ pass in ingest_rdma_pass.c (each layer uses only the ones below
 * it); the state they share is in ingest_rdma.h.
 *
 * A region registered over the network (reg_net.c, r->net set) has no fd and no mapping: steps 1-4
 * are that file's (its own listener, the hello flagged DFT_REG_RDMA_F_REGISTER, the header READ and
 * validated before the region exists). At attach this backend adopts that connection's QP, PD and
 * send CQ (main keeps the rdma_cm id's events and frees it all after the region came back), registers
 * its own buffer in that PD and runs step 5 at once. The connection cannot come back once lost: a
 * broken one is disconnected (main then detaches the region) and one main saw go down is marked
 * gone, after which nothing is posted to it. The host reconnecting is a new registration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_pause.h>

#include "ingest_rdma.h"

static void rr_region_free(struct rr_region *q)
{
	free(q->buf);
	free(q->name_copy);
	free(q->claims);
	free(q->fresh);
	free(q->rings);
	free(q);
}

static int rr_attach(struct dft_ingest *in, struct dft_nic_region *r)
{
	struct rr_ingest *rd = (struct rr_ingest *)in;
	uint32_t rc_n = r->g.ring_count;
	struct rr_region *q;
	size_t len;

	if (!rd->listen && !r->net)
		return -ENOTCONN; /* main did not set the listener up: cannot happen after a clean start */
	if (rd->n >= DFT_NIC_MAX_REGIONS)
		return -ENOSPC;
	q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->r = r;
	q->net = r->net ? dft_net_conn_view(r->net) : NULL;
	q->rings = calloc(rc_n, sizeof(*q->rings));
	q->fresh = calloc(rc_n, 1);
	q->claims = calloc(rc_n, sizeof(*q->claims));
	q->name_copy = calloc(r->g.name_capacity ? r->g.name_capacity : 1, sizeof(*q->name_copy));
	len = 3 * (size_t)DFT_PAGE + RR_NAMES_CHUNK * sizeof(struct dft_name) +
	      RR_STAGING_SLOTS * sizeof(struct dft_slot) + (size_t)rc_n * (sizeof(q->lines[0]) + sizeof(uint64_t));
	q->buf_len = (len + DFT_PAGE - 1) & ~((size_t)DFT_PAGE - 1);
	q->buf = aligned_alloc(DFT_PAGE, q->buf_len);
	if (!q->rings || !q->fresh || !q->claims || !q->name_copy || !q->buf) {
		rr_region_free(q);
		return -ENOMEM;
	}
	memset(q->buf, 0, q->buf_len);
	/* page-sized parts first, the index words last */
	q->hdr = (struct dft_region_hdr *)(void *)q->buf;
	q->m1 = (struct dft_metrics_page *)(void *)(q->buf + DFT_PAGE);
	q->m2 = (struct dft_metrics_page *)(void *)(q->buf + 2 * DFT_PAGE);
	q->names = (struct dft_name *)(void *)(q->buf + 3 * DFT_PAGE);
	q->staging = (struct dft_slot *)(void *)(q->names + RR_NAMES_CHUNK);
	q->lines = (uint64_t(*)[4])(void *)(q->staging + RR_STAGING_SLOTS);
	q->tails = (uint64_t *)(void *)(q->lines + rc_n);
	/* the view has no calibration until two READs brought the same clock */
	dft_rr_clock_init(&q->clock);
	r->ingest_priv = q;
	rd->regions[rd->n++] = q;
	if (q->net)
		dft_rr_adopt_net(q);
	return 0;
}

static int rr_poll(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, struct dft_slot *burst,
		   uint32_t max)
{
	struct rr_region *q = r->ingest_priv;
	struct rr_ring *s;
	uint64_t size = r->g.ring_slots, n, first, n1, slots_off;

	dft_rr_cm_poll((struct rr_ingest *)in);
	if (!q || dft_rr_net_gone(q) || q->state != RR_READY)
		return 0;
	s = &q->rings[ring];
	n = s->head_cache - s->tail;
	if (n == 0) {
		uint64_t head;

		if (!q->fresh[ring] && dft_rr_read_heads(q))
			return 0;
		q->fresh[ring] = 0;
		head = q->lines[ring][0]; /* hostile: loaded once, checked before anything is read */
		n = head - s->tail;
		if (n > size)
			return -EOVERFLOW;
		s->head_cache = head;
		if (n == 0)
			return 0;
	}
	if (max > RR_STAGING_SLOTS)
		max = RR_STAGING_SLOTS;
	if (n > max)
		n = max;
	first = s->tail & (size - 1);
	n1 = n < size - first ? n : size - first; /* up to the end of the slot array */
	slots_off = ring_raddr(q, ring) - q->raddr + sizeof(struct dft_ring_hdr);
	if (dft_rr_post(q, IBV_WR_RDMA_READ, q->staging, (uint32_t)(n1 * sizeof(struct dft_slot)),
		 slots_off + first * sizeof(struct dft_slot)))
		return 0;
	if (n1 < n && dft_rr_post(q, IBV_WR_RDMA_READ, q->staging + n1, (uint32_t)((n - n1) * sizeof(struct dft_slot)), slots_off))
		return 0;
	if (dft_rr_wait_all(q))
		return 0; /* nothing consumed: the slots stay in the ring for the next connection */
	memcpy(burst, q->staging, n * sizeof(struct dft_slot));
	return (int)n;
}

static void rr_release(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, uint32_t n)
{
	struct rr_region *q = r->ingest_priv;

	(void)in;
	if (!q || !n)
		return;
	q->rings[ring].tail += n;
	if (dft_rr_net_gone(q) || q->state != RR_READY)
		return; /* written back when the host reconnects */
	/* a WRITE still in flight from this word may carry the newer value: harmless, tails only grow */
	q->tails[ring] = q->rings[ring].tail;
	dft_rr_post(q, IBV_WR_RDMA_WRITE, &q->tails[ring], sizeof(uint64_t),
	     ring_raddr(q, ring) - q->raddr + offsetof(struct dft_ring_hdr, tail));
}

static bool rr_empty(struct dft_ingest *in, struct dft_nic_region *r)
{
	struct rr_region *q = r->ingest_priv;
	uint64_t size = r->g.ring_slots;

	dft_rr_cm_poll((struct rr_ingest *)in);
	/* without a connection nothing more can be read: it must not hold a drain up */
	if (!q || dft_rr_net_gone(q) || q->state != RR_READY || dft_rr_read_heads(q))
		return true;
	for (uint32_t k = 0; k < r->g.ring_count; k++) {
		uint64_t pending = q->lines[k][0] - q->rings[k].tail;

		if (pending != 0 && pending <= size)
			return false;
	}
	return true;
}

static void rr_detach(struct dft_ingest *in, struct dft_nic_region *r)
{
	struct rr_ingest *rd = (struct rr_ingest *)in;
	struct rr_region *q = r->ingest_priv;

	if (!q)
		return;
	for (unsigned i = 0; i < rd->n; i++)
		if (rd->regions[i] == q) {
			rd->regions[i] = rd->regions[--rd->n];
			break;
		}
	if (q->state == RR_READY)
		dft_rr_wait_all(q); /* the last tail WRITEs land before the QP goes */
	if (q->net) {
		/* main disconnects and frees the connection once the region is back */
		dft_rr_verbs_release(q);
		q->id = NULL;
		q->state = RR_WAIT;
	} else {
		dft_rr_conn_teardown(q);
	}
	rr_region_free(q);
	r->ingest_priv = NULL;
}

static int rr_create(const struct dft_ingest_cfg *cfg, struct dft_ingest **out)
{
	struct rr_ingest *rd = calloc(1, sizeof(*rd));

	(void)cfg;
	*out = NULL;
	if (!rd)
		return -ENOMEM;
	rd->base.ops = &dft_ingest_rdma_read_ops;
	*out = &rd->base;
	return 0;
}

static void rr_destroy(struct dft_ingest *in)
{
	struct rr_ingest *rd = (struct rr_ingest *)in;
	struct rdma_cm_event *ev;

	if (rd->listen)
		rdma_destroy_id(rd->listen);
	if (rd->ec) {
		/* connect requests nobody took: reject them so their ids can go with the channel */
		while (rdma_get_cm_event(rd->ec, &ev) == 0) {
			struct rdma_cm_id *id = ev->event == RDMA_CM_EVENT_CONNECT_REQUEST ? ev->id : NULL;

			rdma_ack_cm_event(ev);
			if (id) {
				rdma_reject(id, NULL, 0);
				rdma_destroy_id(id);
			}
		}
		rdma_destroy_event_channel(rd->ec);
	}
	free(rd);
}

/* ---- the region view: what the last complete pass brought (see the top) */
static uint32_t rr_names_published(struct dft_ingest *in, struct dft_nic_region *r)
{
	const struct rr_region *q = r->ingest_priv;

	(void)in;
	return q->names_synced;
}

static int rr_name(struct dft_ingest *in, struct dft_nic_region *r, uint32_t published, uint16_t id, char *out,
		   size_t cap)
{
	const struct rr_region *q = r->ingest_priv;

	(void)in;
	if (published > q->names_synced)
		published = q->names_synced;
	return dft_name_table_read(q->name_copy, r->g.name_capacity, published, id, out, cap);
}

static const struct dft_metrics_page *rr_metrics(struct dft_ingest *in, struct dft_nic_region *r)
{
	(void)in;
	return &((const struct rr_region *)r->ingest_priv)->metrics;
}

static int rr_clock(struct dft_ingest *in, struct dft_nic_region *r, struct dft_clock_cal *out)
{
	(void)in;
	return dft_clock_cal_read(&((const struct rr_region *)r->ingest_priv)->clock.hdr, out);
}

static void rr_claims(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, struct dft_ring_claims *out)
{
	(void)in;
	*out = ((const struct rr_region *)r->ingest_priv)->claims[ring];
}

static uint64_t rr_dropped_no_ring(struct dft_ingest *in, struct dft_nic_region *r)
{
	(void)in;
	return ((const struct rr_region *)r->ingest_priv)->dropped_no_ring;
}

const struct dft_ingest_ops dft_ingest_rdma_read_ops = {
	.name = "rdma-read",
	.create = rr_create,
	.destroy = rr_destroy,
	.attach = rr_attach,
	.poll = rr_poll,
	.release = rr_release,
	.empty = rr_empty,
	.detach = rr_detach,
	.names_published = rr_names_published,
	.name_read = rr_name,
	.metrics = rr_metrics,
	.clock = rr_clock,
	.claims = rr_claims,
	.dropped_no_ring = rr_dropped_no_ring,
};
