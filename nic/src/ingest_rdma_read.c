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
 * A region registered over the network (reg_net.c, r->net set) has no fd and no mapping: steps 1-4
 * are that file's (its own listener, the hello flagged DFT_REG_RDMA_F_REGISTER, the header READ and
 * validated before the region exists). At attach this backend adopts that connection's QP, PD and
 * send CQ (main keeps the rdma_cm id's events and frees it all after the region came back), registers
 * its own buffer in that PD and runs step 5 at once. The connection cannot come back once lost: a
 * broken one is disconnected (main then detaches the region) and one main saw go down is marked
 * gone, after which nothing is posted to it. The host reconnecting is a new registration.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>
#include <rte_cycles.h>
#include <rte_pause.h>

#include "dft/parse.h"
#include "dft/reg.h"
#include "ingest.h"
#include "reg_net.h"

#define RR_STAGING_SLOTS 64u /* slots per READ pass (the worker's burst is no larger) */
#define RR_WAIT_MS 1000u     /* a posted operation still incomplete after this: the connection is broken */
#define RR_CM_POLL_MS 1u     /* connection events are looked at this often */
#define RR_METRICS_MS 1u     /* the metrics page is re-read at most this often */
#define RR_NAMES_CHUNK 64u   /* names per READ */
#define RR_SQ_SPARE 8u
/* the header's live part: names_published, dropped_no_ring (the rest is fixed at registration) */
#define RR_HDR_LIVE offsetof(struct dft_region_hdr, reserved)
#define RR_CLOCK_OFF offsetof(struct dft_region_hdr, clock_seq)
#define RR_CLOCK_LEN (offsetof(struct dft_region_hdr, names_published) - RR_CLOCK_OFF)

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
	struct dft_region_hdr clock_hdr;   /* only its clock block is used; clock_seq odd until a READ agreed */
	struct dft_metrics_page metrics;
	uint8_t clock_prev[RR_CLOCK_LEN];
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

static uint64_t ring_raddr(const struct rr_region *q, uint32_t ring)
{
	return q->raddr + q->r->g.rings_off + (uint64_t)ring * q->r->g.ring_stride;
}

/* The verbs objects of a connection, in reverse order of creation (the QP goes before). */
static void verbs_release(struct rr_region *q)
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

static void conn_teardown(struct rr_region *q)
{
	if (q->net) {
		/* main hears of it (DISCONNECTED) and detaches the region; a gone one is down already */
		if (q->id && !dft_load_acquire(&q->net->gone))
			rdma_disconnect(q->id);
		verbs_release(q);
		q->id = NULL;
		q->outstanding = 0;
		q->state = RR_WAIT;
		return;
	}
	if (q->id && q->state == RR_READY)
		rdma_disconnect(q->id);
	if (q->id && q->id->qp)
		rdma_destroy_qp(q->id);
	verbs_release(q);
	if (q->id)
		rdma_destroy_id(q->id);
	q->id = NULL;
	q->outstanding = 0;
	q->state = RR_WAIT;
}

/* The connection is unusable (completion error, timeout): count it and drop it. */
static void conn_broken(struct rr_region *q, const char *what)
{
	dft_ctr_add(&dft_nic_ctr.rdma_errors, 1);
	fprintf(stderr, "difftrace-nic: rdma-read region %u: %s; waiting for the host to reconnect\n", q->r->id, what);
	conn_teardown(q);
}

/* Reap completions until nothing is outstanding. 0, or -EIO after dropping the connection. */
static int wait_all(struct rr_region *q)
{
	uint64_t deadline = 0;
	struct ibv_wc wc[16];

	while (q->outstanding) {
		int n = ibv_poll_cq(q->cq, 16, wc);

		if (n < 0) {
			conn_broken(q, "completion queue error");
			return -EIO;
		}
		for (int i = 0; i < n; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				char why[96];

				snprintf(why, sizeof(why), "completion error %s", ibv_wc_status_str(wc[i].status));
				conn_broken(q, why);
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
			conn_broken(q, "operation timed out");
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
static int post_f(struct rr_region *q, enum ibv_wr_opcode op, void *local, uint32_t len, uint64_t off, bool fence)
{
	struct ibv_sge sge = {.addr = (uintptr_t)local, .length = len, .lkey = q->mr->lkey};
	struct ibv_send_wr wr = {.sg_list = &sge, .num_sge = 1, .opcode = op,
				 .send_flags = IBV_SEND_SIGNALED | (fence ? IBV_SEND_FENCE : 0)}, *bad;

	if (!q->id)
		return -EIO; /* dropped earlier in this pass */
	/* off + len lies inside the validated region, which lies inside the MR the host declared */
	wr.wr.rdma.remote_addr = q->raddr + off;
	wr.wr.rdma.rkey = q->rkey;
	if (q->outstanding >= q->sq_cap && wait_all(q))
		return -EIO;
	if (ibv_post_send(q->id->qp, &wr, &bad)) {
		conn_broken(q, "post failed");
		return -EIO;
	}
	q->outstanding++;
	return 0;
}

static int post(struct rr_region *q, enum ibv_wr_opcode op, void *local, uint32_t len, uint64_t off)
{
	return post_f(q, op, local, len, off, false);
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

		if (post(q, IBV_WR_RDMA_READ, q->names, n * (uint32_t)sizeof(struct dft_name), off) || wait_all(q))
			return -EIO;
		memcpy(&q->name_copy[q->names_synced], q->names, n * sizeof(struct dft_name));
		q->names_synced += n;
	}
	return 0;
}

/*
 * The clock block of a READ copy goes into the view only when the previous READ saw the same bytes
 * and the seqlock was even: one READ is not atomic, so a copy taken while the host rewrote the
 * block could be torn without its clock_seq showing it.
 */
static void take_clock(struct rr_region *q, const struct dft_region_hdr *copy)
{
	const uint8_t *blk = (const uint8_t *)copy + RR_CLOCK_OFF;

	if (!(copy->clock_seq & 1u) && !memcmp(blk, q->clock_prev, RR_CLOCK_LEN))
		memcpy((uint8_t *)&q->clock_hdr + RR_CLOCK_OFF, blk, RR_CLOCK_LEN);
	memcpy(q->clock_prev, blk, RR_CLOCK_LEN);
}

/* Two READ copies of the metrics page: an entry that differs between them was being written. */
static void take_metrics(struct rr_region *q)
{
	struct dft_metrics_page *sh = &q->metrics;

	for (unsigned i = 0; i < DFT_METRICS_MAX; i++) {
		struct dft_metric_entry e = q->m2->entry[i];

		if (memcmp(&q->m1->entry[i], &e, sizeof(e)))
			e.seq |= 1u; /* the reader counts it torn and keeps its last reading */
		sh->entry[i] = e;
	}
	sh->count = q->m2->count; /* hostile like any count: the reader clamps it */
}

/*
 * One pass (step 6): every ring's producer line, then (fenced) the header's live part and maybe the
 * metrics page, in one round trip; then new names. Fills the view. 0 or -EIO.
 */
static int read_heads(struct rr_region *q)
{
	const struct dft_region_geom *g = &q->r->g;
	bool metrics = rte_rdtsc() >= q->next_metrics_tsc;

	for (uint32_t k = 0; k < g->ring_count; k++)
		if (post(q, IBV_WR_RDMA_READ, q->lines[k], sizeof(q->lines[k]), ring_raddr(q, k) - q->raddr))
			return -EIO;
	if (post_f(q, IBV_WR_RDMA_READ, q->hdr, RR_HDR_LIVE, 0, true))
		return -EIO;
	if (metrics && (post(q, IBV_WR_RDMA_READ, q->m1, sizeof(*q->m1), g->metrics_off) ||
			post_f(q, IBV_WR_RDMA_READ, q->m2, sizeof(*q->m2), g->metrics_off, true)))
		return -EIO;
	if (wait_all(q))
		return -EIO;
	/* head is used from lines[] (loaded once by the caller); the counters are the view's, and the
	 * worker clamps them so they never run backwards */
	for (uint32_t k = 0; k < g->ring_count; k++)
		q->claims[k] = (struct dft_ring_claims){.produced = q->lines[k][1], .dropped_full = q->lines[k][2],
							.dropped_hops = q->lines[k][3]};
	take_clock(q, q->hdr);
	q->dropped_no_ring = q->hdr->dropped_no_ring;
	if (metrics) {
		take_metrics(q);
		q->next_metrics_tsc = rte_rdtsc() + rte_get_tsc_hz() / 1000 * RR_METRICS_MS;
	}
	if (sync_names(q, q->hdr->names_published))
		return -EIO;
	memset(q->fresh, 1, g->ring_count);
	return 0;
}

/* Step 5: the header by READ, validated against the registered geometry; then the tails. */
static void on_established(struct rr_region *q)
{
	const struct dft_region_geom *g = &q->r->g;
	struct dft_region_geom rg;
	uint64_t tail_off = offsetof(struct dft_ring_hdr, tail);
	int rc;

	if (post(q, IBV_WR_RDMA_READ, q->hdr, sizeof(*q->hdr), 0) || wait_all(q))
		return;
	rc = dft_region_validate(q->hdr, q->rlen, &rg);
	if (rc || rg.instance_id != g->instance_id || rg.region_size != g->region_size ||
	    rg.ring_count != g->ring_count || rg.ring_slots != g->ring_slots || rg.rings_off != g->rings_off ||
	    rg.ring_stride != g->ring_stride) {
		conn_broken(q, "the header read by RDMA does not describe the registered region");
		return;
	}
	/* the clock only once a second READ agrees with this one (take_clock) */
	memcpy(q->clock_prev, (uint8_t *)q->hdr + RR_CLOCK_OFF, RR_CLOCK_LEN);
	q->next_metrics_tsc = 0;
	/* the worker asks the view for a calibration before it converts a slot while it has none */
	if (read_heads(q))
		return;
	for (uint32_t k = 0; k < g->ring_count; k++) {
		if (q->have_tails) {
			q->tails[k] = q->rings[k].tail;
			rc = post(q, IBV_WR_RDMA_WRITE, &q->tails[k], sizeof(uint64_t), ring_raddr(q, k) - q->raddr + tail_off);
		} else {
			rc = post(q, IBV_WR_RDMA_READ, &q->tails[k], sizeof(uint64_t), ring_raddr(q, k) - q->raddr + tail_off);
		}
		if (rc)
			return;
	}
	if (wait_all(q))
		return;
	if (!q->have_tails) {
		for (uint32_t k = 0; k < g->ring_count; k++)
			q->rings[k].tail = q->rings[k].head_cache = q->tails[k];
		q->have_tails = true;
	}
	memset(q->fresh, 0, g->ring_count); /* heads are read again after the tails */
	q->state = RR_READY;
}

static struct rr_region *find_instance(struct rr_ingest *rd, uint64_t instance_id)
{
	for (unsigned i = 0; i < rd->n; i++)
		if (!rd->regions[i]->net && rd->regions[i]->r->g.instance_id == instance_id)
			return rd->regions[i];
	return NULL;
}

static struct rr_region *find_id(struct rr_ingest *rd, const struct rdma_cm_id *id)
{
	for (unsigned i = 0; i < rd->n; i++)
		if (rd->regions[i]->id == id)
			return rd->regions[i];
	return NULL;
}

/* Step 4. On failure the caller rejects and destroys id; nothing of q refers to it. */
static int accept_conn(struct rr_ingest *rd, struct rdma_cm_id *id, const struct dft_reg_rdma_hello *h,
		       uint8_t host_rd_atom)
{
	struct rr_region *q = find_instance(rd, h->instance_id);
	struct ibv_qp_init_attr qa = {.qp_type = IBV_QPT_RC, .sq_sig_all = 1};
	struct rdma_conn_param cp = {.retry_count = 7, .rnr_retry_count = 7};
	struct ibv_device_attr da;
	int rc;

	if (!q || (h->flags & DFT_REG_RDMA_F_REGISTER))
		return -ENOENT; /* a network registration belongs on --net-listen */
	if (q->state != RR_WAIT)
		return -EBUSY; /* one connection per region */
	if (h->len < q->r->g.region_size || h->len > DFT_REGION_MAP_MAX || h->addr > UINT64_MAX - h->len)
		return -EINVAL;
	if (!host_rd_atom || ibv_query_device(id->verbs, &da))
		return -EPROTO;
	q->pd = ibv_alloc_pd(id->verbs);
	if (!q->pd)
		goto fail;
	q->sq_cap = q->r->g.ring_count + RR_SQ_SPARE;
	q->cq = ibv_create_cq(id->verbs, (int)q->sq_cap + 8, NULL, NULL, 0);
	if (!q->cq)
		goto fail;
	q->mr = ibv_reg_mr(q->pd, q->buf, q->buf_len, IBV_ACCESS_LOCAL_WRITE);
	if (!q->mr)
		goto fail;
	qa.send_cq = qa.recv_cq = q->cq;
	qa.cap.max_send_wr = q->sq_cap;
	qa.cap.max_recv_wr = 1;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(id, q->pd, &qa))
		goto fail;
	cp.initiator_depth = host_rd_atom < da.max_qp_init_rd_atom ? host_rd_atom : (uint8_t)da.max_qp_init_rd_atom;
	cp.responder_resources = 0; /* the host never reads from us */
	q->id = id;
	if (rdma_accept(id, &cp)) {
		rc = -errno;
		rdma_destroy_qp(id);
		q->id = NULL;
		goto fail_rc;
	}
	q->raddr = h->addr;
	q->rlen = h->len;
	q->rkey = h->rkey;
	q->state = RR_ACCEPTED;
	return 0;

fail:
	rc = errno ? -errno : -ENOMEM;
fail_rc:
	verbs_release(q);
	return rc;
}

/* Connection events; called from the worker's ops, at most once per RR_CM_POLL_MS. */
static void cm_poll(struct rr_ingest *rd)
{
	struct rdma_cm_event *ev;

	if (!rd->ec || rte_rdtsc() < rd->next_cm_tsc)
		return;
	rd->next_cm_tsc = rte_rdtsc() + rte_get_tsc_hz() / 1000 * RR_CM_POLL_MS;
	while (rdma_get_cm_event(rd->ec, &ev) == 0) {
		enum rdma_cm_event_type type = ev->event;
		struct rdma_cm_id *id = ev->id;
		struct dft_reg_rdma_hello h;
		struct rr_region *q;
		uint8_t rd_atom;
		int rc;

		if (type == RDMA_CM_EVENT_CONNECT_REQUEST) {
			rc = dft_reg_rdma_hello_decode(ev->param.conn.private_data, ev->param.conn.private_data_len, &h);
			/* the request shows the host's responder resources as what we may initiate */
			rd_atom = ev->param.conn.initiator_depth;
			rdma_ack_cm_event(ev); /* the private data is copied: the id lives on without the event */
			if (!rc)
				rc = accept_conn(rd, id, &h, rd_atom);
			if (rc) {
				/* the host retries: a region it registered a moment ago may not be attached yet */
				rdma_reject(id, NULL, 0);
				rdma_destroy_id(id);
			}
			continue;
		}
		rdma_ack_cm_event(ev);
		q = find_id(rd, id);
		if (!q)
			continue;
		switch (type) {
		case RDMA_CM_EVENT_ESTABLISHED:
			on_established(q);
			break;
		case RDMA_CM_EVENT_DISCONNECTED:
		case RDMA_CM_EVENT_CONNECT_ERROR:
		case RDMA_CM_EVENT_UNREACHABLE:
		case RDMA_CM_EVENT_REJECTED:
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
			conn_teardown(q);
			break;
		default:
			break;
		}
	}
}

int dft_ingest_rdma_read_listen(struct dft_ingest *in, const char *bind, char *addr, size_t addr_len,
				uint16_t *port)
{
	struct rr_ingest *rd = (struct rr_ingest *)in;
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST, .ai_socktype = SOCK_STREAM}, *ai = NULL;
	char buf[256];
	const char *host;
	uint16_t p;
	int rc;

	if (snprintf(buf, sizeof(buf), "%s", bind) >= (int)sizeof(buf) || dft_parse_hostport(buf, 0, &host, &p))
		return -EINVAL;
	if (getaddrinfo(host, NULL, &hints, &ai))
		return -EINVAL;
	if (ai->ai_family == AF_INET) {
		struct sockaddr_in *sa = (struct sockaddr_in *)ai->ai_addr;

		rc = sa->sin_addr.s_addr == htonl(INADDR_ANY) ? -EDESTADDRREQ : 0;
		sa->sin_port = htons(p);
	} else {
		struct sockaddr_in6 *sa = (struct sockaddr_in6 *)ai->ai_addr;

		rc = IN6_IS_ADDR_UNSPECIFIED(&sa->sin6_addr) ? -EDESTADDRREQ : 0;
		sa->sin6_port = htons(p);
	}
	if (rc) /* hosts are told this address: a wildcard would tell them nothing */
		goto free_ai;
	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, (socklen_t)addr_len, NULL, 0, NI_NUMERICHOST)) {
		rc = -EINVAL;
		goto free_ai;
	}
	rd->ec = rdma_create_event_channel();
	if (!rd->ec) {
		rc = -errno;
		goto free_ai;
	}
	/* polled from the worker's loop: never block there */
	if (fcntl(rd->ec->fd, F_SETFL, fcntl(rd->ec->fd, F_GETFL) | O_NONBLOCK)) {
		rc = -errno;
		goto destroy_ec;
	}
	if (rdma_create_id(rd->ec, &rd->listen, NULL, RDMA_PS_TCP)) {
		rc = -errno;
		goto destroy_ec;
	}
	if (rdma_bind_addr(rd->listen, ai->ai_addr) || rdma_listen(rd->listen, 64)) {
		rc = -errno;
		goto destroy_id;
	}
	*port = ntohs(rdma_get_src_port(rd->listen));
	freeaddrinfo(ai);
	return 0;

destroy_id:
	rdma_destroy_id(rd->listen);
	rd->listen = NULL;
destroy_ec:
	rdma_destroy_event_channel(rd->ec);
	rd->ec = NULL;
free_ai:
	freeaddrinfo(ai);
	return rc;
}

_Static_assert(RR_SQ_SPARE <= DFT_NET_SQ_SPARE, "a network registration's QP holds our send queue");

/* A connection main (reg_net.c) set up and saw gone since: stop using it, post nothing more. */
static bool net_gone(struct rr_region *q)
{
	if (!q->net || q->state == RR_WAIT || !dft_load_acquire(&q->net->gone))
		return false;
	conn_teardown(q);
	return true;
}

static void rr_region_free(struct rr_region *q)
{
	free(q->buf);
	free(q->name_copy);
	free(q->claims);
	free(q->fresh);
	free(q->rings);
	free(q);
}

/* Network registration: the connection is up and its header valid; adopt it and run step 5 now. */
static void adopt_net(struct rr_region *q)
{
	const struct dft_net_conn_view *v = q->net;

	q->id = v->id;
	q->pd = v->pd;
	q->cq = v->send_cq;
	q->raddr = v->raddr;
	q->rlen = v->rlen;
	q->rkey = v->rkey;
	q->sq_cap = q->r->g.ring_count + RR_SQ_SPARE;
	q->state = RR_ACCEPTED;
	if (net_gone(q))
		return;
	q->mr = ibv_reg_mr(q->pd, q->buf, q->buf_len, IBV_ACCESS_LOCAL_WRITE);
	if (!q->mr) {
		conn_broken(q, "cannot register the staging buffer");
		return;
	}
	on_established(q);
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
	/* an odd clock_seq: the view has no calibration until a READ brought the real clock */
	q->clock_hdr.clock_seq = 1;
	r->ingest_priv = q;
	rd->regions[rd->n++] = q;
	if (q->net)
		adopt_net(q);
	return 0;
}

static int rr_poll(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, struct dft_slot *burst,
		   uint32_t max)
{
	struct rr_region *q = r->ingest_priv;
	struct rr_ring *s;
	uint64_t size = r->g.ring_slots, n, first, n1, slots_off;

	cm_poll((struct rr_ingest *)in);
	if (!q || net_gone(q) || q->state != RR_READY)
		return 0;
	s = &q->rings[ring];
	n = s->head_cache - s->tail;
	if (n == 0) {
		uint64_t head;

		if (!q->fresh[ring] && read_heads(q))
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
	if (post(q, IBV_WR_RDMA_READ, q->staging, (uint32_t)(n1 * sizeof(struct dft_slot)),
		 slots_off + first * sizeof(struct dft_slot)))
		return 0;
	if (n1 < n && post(q, IBV_WR_RDMA_READ, q->staging + n1, (uint32_t)((n - n1) * sizeof(struct dft_slot)), slots_off))
		return 0;
	if (wait_all(q))
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
	if (net_gone(q) || q->state != RR_READY)
		return; /* written back when the host reconnects */
	/* a WRITE still in flight from this word may carry the newer value: harmless, tails only grow */
	q->tails[ring] = q->rings[ring].tail;
	post(q, IBV_WR_RDMA_WRITE, &q->tails[ring], sizeof(uint64_t),
	     ring_raddr(q, ring) - q->raddr + offsetof(struct dft_ring_hdr, tail));
}

static bool rr_empty(struct dft_ingest *in, struct dft_nic_region *r)
{
	struct rr_region *q = r->ingest_priv;
	uint64_t size = r->g.ring_slots;

	cm_poll((struct rr_ingest *)in);
	/* without a connection nothing more can be read: it must not hold a drain up */
	if (!q || net_gone(q) || q->state != RR_READY || read_heads(q))
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
		wait_all(q); /* the last tail WRITEs land before the QP goes */
	if (q->net) {
		/* main disconnects and frees the connection once the region is back */
		verbs_release(q);
		q->id = NULL;
		q->state = RR_WAIT;
	} else {
		conn_teardown(q);
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
	return dft_clock_cal_read(&((const struct rr_region *)r->ingest_priv)->clock_hdr, out);
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
