/* SPDX-License-Identifier: MIT */
/*
 * The rdma-read backend's connections (protocol steps 1-5 and 8 at the top of ingest_rdma_read.c):
 * the rdma_cm listener hosts connect their MR to, accepting a host's connection for its region,
 * step 5 on ESTABLISHED, tearing a connection down, and adopting the connection of a region
 * registered over the network (reg_net.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>

#include "dft/rdma.h"
#include "dft/parse.h"
#include "dft/reg.h"
#include "ingest_rdma.h"

_Static_assert(RR_SQ_SPARE <= DFT_NET_SQ_SPARE, "a network registration's QP holds our send queue");

/* Step 5: the header by READ, validated against the registered geometry; then the tails. */
static void on_established(struct rr_region *q)
{
	const struct dft_region_geom *g = &q->r->g;
	struct dft_region_geom rg;
	uint64_t tail_off = offsetof(struct dft_ring_hdr, tail);
	int rc;

	if (dft_rr_post(q, IBV_WR_RDMA_READ, q->hdr, sizeof(*q->hdr), 0) || dft_rr_wait_all(q))
		return;
	rc = dft_region_validate(q->hdr, q->rlen, &rg);
	if (rc || rg.instance_id != g->instance_id || rg.region_size != g->region_size ||
	    rg.ring_count != g->ring_count || rg.ring_slots != g->ring_slots || rg.rings_off != g->rings_off ||
	    rg.ring_stride != g->ring_stride) {
		dft_rr_conn_broken(q, "the header read by RDMA does not describe the registered region");
		return;
	}
	/* the clock only once a second READ agrees with this one (dft_rr_clock_take) */
	dft_rr_clock_seed(&q->clock, q->hdr);
	q->next_metrics_tsc = 0;
	/* the worker asks the view for a calibration before it converts a slot while it has none */
	if (dft_rr_read_heads(q))
		return;
	for (uint32_t k = 0; k < g->ring_count; k++) {
		if (q->have_tails) {
			q->tails[k] = q->rings[k].tail;
			rc = dft_rr_post(q, IBV_WR_RDMA_WRITE, &q->tails[k], sizeof(uint64_t), ring_raddr(q, k) - q->raddr + tail_off);
		} else {
			rc = dft_rr_post(q, IBV_WR_RDMA_READ, &q->tails[k], sizeof(uint64_t), ring_raddr(q, k) - q->raddr + tail_off);
		}
		if (rc)
			return;
	}
	if (dft_rr_wait_all(q))
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
	dft_rr_verbs_release(q);
	return rc;
}

/* Connection events; called from the worker's ops, at most once per RR_CM_POLL_MS. */
void dft_rr_cm_poll(struct rr_ingest *rd)
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
		if (type == RDMA_CM_EVENT_ESTABLISHED)
			on_established(q);
		else if (dft_rdma_cm_gone(type))
			dft_rr_conn_teardown(q);
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
	rc = dft_rdma_cm_listen(ai->ai_addr, 64, NULL, &rd->ec, &rd->listen);
	if (!rc)
		*port = ntohs(rdma_get_src_port(rd->listen));
free_ai:
	freeaddrinfo(ai);
	return rc;
}

/* A connection main (reg_net.c) set up and saw gone since: stop using it, post nothing more. */
bool dft_rr_net_gone(struct rr_region *q)
{
	if (!q->net || q->state == RR_WAIT || !dft_load_acquire(&q->net->gone))
		return false;
	dft_rr_conn_teardown(q);
	return true;
}

/* Network registration: the connection is up and its header valid; adopt it and run step 5 now. */
void dft_rr_adopt_net(struct rr_region *q)
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
	if (dft_rr_net_gone(q))
		return;
	q->mr = ibv_reg_mr(q->pd, q->buf, q->buf_len, IBV_ACCESS_LOCAL_WRITE);
	if (!q->mr) {
		dft_rr_conn_broken(q, "cannot register the staging buffer");
		return;
	}
	on_established(q);
}
