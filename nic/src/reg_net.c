/* SPDX-License-Identifier: MIT */
/*
 * Registration over the network: a host on another machine (a DPU's host, a peer across a fabric)
 * registers its region with no Unix socket, no fd and no shared path. Main lcore only; the
 * connection's QP is then the one the rdma-read backend reads the rings through.
 *
 * Protocol, step by step (dft/reg.h N1-N5, docs/rdma.md):
 *
 *   1. Listen. At start the daemon creates an rdma_cm listener on --net-listen ADDR:PORT
 *      ([ingest] listen). Only with --ingest rdma-read: the region is reached by RDMA READ alone.
 *   2. Connect (host). libdifftrace with DFT_NIC=ADDR:PORT registers its whole region as an MR
 *      (LOCAL_WRITE | REMOTE_READ | REMOTE_WRITE) on its registration thread and connects an RC QP
 *      with struct dft_reg_rdma_hello as the private data (little-endian): instance id, MR address,
 *      length and rkey, flags = DFT_REG_RDMA_F_REGISTER, and up to 16 responder resources.
 *   3. Bound the request (here). Everything in it is a claim of an unknown peer: the hello must
 *      decode (magic, version, no unknown flag, no reserved bit), carry F_REGISTER, an MR length
 *      between one header page and DFT_REGION_MAP_MAX that does not wrap the address space, and an
 *      offer of responder resources; its instance id must not be connected already; a connection
 *      slot must be free (at most DFT_NIC_MAX_REGIONS, pending ones included). Else: reject, count
 *      regions_refused, log (at most one line a second).
 *   4. Accept. A PD, a send CQ and a QP with room for one READ per ring (DFT_RING_COUNT_MAX) and a
 *      receive CQ; one local buffer (the header page and the bye word) registered LOCAL_WRITE only:
 *      the host can read or write nothing of the daemon. One receive is posted (step 8), then the
 *      request is accepted with an initiator depth of the host's offer capped by the device.
 *   5. Header by READ. On ESTABLISHED the daemon RDMA READs the region header (one page) out of the
 *      MR and validates it exactly like a mapped header (dft_region_validate, against the MR length
 *      from the hello, never the header's own size); its instance id must be the hello's. A failed
 *      READ, an invalid header or no header within NET_SETUP_MS: disconnect, refusal counted.
 *   6. Attach. A region without fd or mapping (r->net set, geometry from the validated copy) goes to
 *      the worker like any other; the rdma-read backend adopts the QP, READs the header once more
 *      (compared with this geometry) and the tails, and polls (docs/rdma.md, steps 6-8 of the
 *      rdma-read protocol).
 *   7. Liveness. The connection is the registration: DISCONNECTED (host gone, cable cut, QP error the
 *      backend turned into a disconnect) marks the connection gone — nothing more can be read — and
 *      detaches the region. The host reconnects in the background (100 ms doubling to 2 s) and
 *      registers again; the daemon continues from the tails stored in the region.
 *   8. Bye. dft_fini on the host drains its rings, then SENDs one struct dft_reg_rdma_bye: its
 *      receive completes here and the region is detached with the QP still up, so the worker reads
 *      what is left and the final counters, as after a Unix-socket EOF. When the worker gave the
 *      region back, this file disconnects and frees the connection; the host waits for that
 *      (bounded) before it deregisters its MR. Anything but an 8-byte bye is a protocol error:
 *      disconnect (gone) and detach.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>

#include "dft/rdma.h"
#include "dft/parse.h"
#include "dft/reg.h"
#include "reg_net.h"
#include "reg_server.h"
#include "stats.h"
#include "log.h"

#define NET_SETUP_MS 2000u        /* ESTABLISHED and a valid header READ within this */
#define NET_BUF_LEN (2u * DFT_PAGE) /* the header page, then the bye receive */
#define NET_BYE_OFF DFT_PAGE
#define NET_BYE_LEN 16u           /* room past 8 bytes: a longer SEND is refused, not a QP error */
#define NET_REGION_ID_BASE 0x40000000u /* region ids apart from the Unix-socket server's */

enum net_state {
	NET_FREE = 0,
	NET_ACCEPTED,  /* accepted, waiting for ESTABLISHED */
	NET_READING,   /* the header READ is posted */
	NET_ATTACHED,  /* the worker has the region */
	NET_DETACHING, /* detach asked (bye or gone); the worker gives the region back, then we free */
};

struct dft_net_conn {
	struct dft_net_conn_view v; /* what the backend uses */
	struct dft_reg_net *owner;
	enum net_state state;
	bool connected; /* ESTABLISHED and no DISCONNECTED since: rdma_disconnect is ours to call */
	uint64_t instance_id;
	uint64_t deadline_tsc;
	struct ibv_cq *recv_cq;
	struct ibv_mr *mr;
	uint8_t *buf;
	struct dft_nic_region *region;
	char peer[INET6_ADDRSTRLEN];
};

struct dft_reg_net {
	struct rdma_event_channel *ec;
	struct rdma_cm_id *listen;
	struct dft_net_conn *conns[DFT_NIC_MAX_REGIONS];
	uint32_t next_region_id;
	uint64_t next_log_tsc;
	uint64_t unlogged; /* refusals since the last line */
};

struct dft_net_conn_view *dft_net_conn_view(struct dft_net_conn *c)
{
	return &c->v;
}

static uint64_t ms_tsc(uint64_t ms)
{
	return rte_get_tsc_hz() / 1000 * ms;
}

static void peer_name(struct rdma_cm_id *id, char *out, size_t len)
{
	struct sockaddr *sa = rdma_get_peer_addr(id);

	snprintf(out, len, "?");
	if (sa && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
	else if (sa && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
}

/* Count a refusal; one log line a second at most, saying how many went unlogged. */
static void refused(struct dft_reg_net *n, const char *peer, const char *why, int rc)
{
	uint64_t now = rte_rdtsc();
	char more[64] = "";

	dft_ctr_add(&dft_nic_ctr.regions_refused, 1);
	if (now < n->next_log_tsc) {
		n->unlogged++;
		return;
	}
	if (n->unlogged)
		snprintf(more, sizeof(more), "; %lu more refused since the last report", (unsigned long)n->unlogged);
	DFT_LOG(WARNING, reg, "network registration from %s refused: %s (%s)%s", peer, why, strerror(-rc), more);
	n->unlogged = 0;
	n->next_log_tsc = now + ms_tsc(1000);
}

/* Tear a connection down in exact reverse order of conn_accept; the slot is free again. */
static void conn_free(struct dft_net_conn *c)
{
	struct dft_reg_net *n = c->owner;

	if (c->connected)
		rdma_disconnect(c->v.id);
	if (c->v.id->qp)
		rdma_destroy_qp(c->v.id);
	ibv_dereg_mr(c->mr);
	ibv_destroy_cq(c->recv_cq);
	ibv_destroy_cq(c->v.send_cq);
	ibv_dealloc_pd(c->v.pd);
	rdma_destroy_id(c->v.id);
	free(c->buf);
	for (unsigned i = 0; n && i < DFT_NIC_MAX_REGIONS; i++)
		if (n->conns[i] == c)
			n->conns[i] = NULL;
	free(c);
}

void dft_net_conn_free(struct dft_net_conn *c)
{
	if (c)
		conn_free(c);
}

/* Step 4. On failure nothing of the connection is left and the caller rejects and destroys id. */
static int conn_accept(struct dft_reg_net *n, unsigned slot, struct rdma_cm_id *id,
		       const struct dft_reg_rdma_hello *h, uint8_t host_rd_atom)
{
	struct ibv_qp_init_attr qa = {.qp_type = IBV_QPT_RC, .sq_sig_all = 1};
	struct rdma_conn_param cp = {.retry_count = 7, .rnr_retry_count = 7};
	struct ibv_recv_wr rw = {0}, *bad;
	struct ibv_sge sge;
	struct ibv_device_attr da;
	struct dft_net_conn *c;
	int rc = -ENOMEM;

	if (ibv_query_device(id->verbs, &da))
		return -errno;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->buf = aligned_alloc(DFT_PAGE, NET_BUF_LEN);
	if (!c->buf)
		goto free_conn;
	memset(c->buf, 0, NET_BUF_LEN);
	c->v.pd = ibv_alloc_pd(id->verbs);
	if (!c->v.pd)
		goto free_buf;
	c->v.send_cq = ibv_create_cq(id->verbs, (int)DFT_NET_SQ_CAP + 8, NULL, NULL, 0);
	if (!c->v.send_cq)
		goto dealloc_pd;
	c->recv_cq = ibv_create_cq(id->verbs, 2, NULL, NULL, 0);
	if (!c->recv_cq)
		goto destroy_send_cq;
	c->mr = ibv_reg_mr(c->v.pd, c->buf, NET_BUF_LEN, IBV_ACCESS_LOCAL_WRITE);
	if (!c->mr)
		goto destroy_recv_cq;
	qa.send_cq = c->v.send_cq;
	qa.recv_cq = c->recv_cq;
	qa.cap.max_send_wr = DFT_NET_SQ_CAP;
	qa.cap.max_recv_wr = 1;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(id, c->v.pd, &qa)) {
		rc = -errno;
		goto dereg_mr;
	}
	sge = (struct ibv_sge){.addr = (uintptr_t)(c->buf + NET_BYE_OFF), .length = NET_BYE_LEN, .lkey = c->mr->lkey};
	rw.sg_list = &sge;
	rw.num_sge = 1;
	if (ibv_post_recv(id->qp, &rw, &bad)) {
		rc = -EIO;
		goto destroy_qp;
	}
	cp.initiator_depth = host_rd_atom < da.max_qp_init_rd_atom ? host_rd_atom : (uint8_t)da.max_qp_init_rd_atom;
	cp.responder_resources = 0; /* the host never reads from us */
	if (rdma_accept(id, &cp)) {
		rc = -errno;
		goto destroy_qp;
	}
	c->v.id = id;
	c->v.raddr = h->addr;
	c->v.rlen = h->len;
	c->v.rkey = h->rkey;
	c->owner = n;
	c->instance_id = h->instance_id;
	c->state = NET_ACCEPTED;
	c->deadline_tsc = rte_rdtsc() + ms_tsc(NET_SETUP_MS);
	peer_name(id, c->peer, sizeof(c->peer));
	n->conns[slot] = c;
	return 0;

destroy_qp:
	rdma_destroy_qp(id);
dereg_mr:
	ibv_dereg_mr(c->mr);
destroy_recv_cq:
	ibv_destroy_cq(c->recv_cq);
destroy_send_cq:
	ibv_destroy_cq(c->v.send_cq);
dealloc_pd:
	ibv_dealloc_pd(c->v.pd);
free_buf:
	free(c->buf);
free_conn:
	free(c);
	return rc;
}

/* Step 3: bound what an unknown peer asks for, then accept or reject. */
static void on_connect_request(struct dft_reg_net *n, struct rdma_cm_id *id, const struct dft_reg_rdma_hello *h,
			       int decoded, uint8_t host_rd_atom)
{
	const char *why = NULL;
	char peer[INET6_ADDRSTRLEN];
	unsigned slot = DFT_NIC_MAX_REGIONS;
	int rc = decoded;

	if (rc)
		why = "connect data is no registration hello";
	else if (!(h->flags & DFT_REG_RDMA_F_REGISTER))
		why = "hello without the network-registration flag (a Unix-socket host connects to --rdma-ingest-bind)",
		rc = -EPROTO;
	else if (h->len < sizeof(struct dft_region_hdr) || h->len > DFT_REGION_MAP_MAX || h->addr > UINT64_MAX - h->len)
		why = "MR length out of bounds", rc = -EINVAL;
	else if (!host_rd_atom)
		why = "the host offers no responder resources: its region could not be READ", rc = -EPROTO;
	for (unsigned i = 0; !why && i < DFT_NIC_MAX_REGIONS; i++) {
		if (n->conns[i] && n->conns[i]->instance_id == h->instance_id)
			why = "that region is connected already", rc = -EBUSY;
		else if (!n->conns[i] && slot == DFT_NIC_MAX_REGIONS)
			slot = i;
	}
	if (!why && slot == DFT_NIC_MAX_REGIONS)
		why = "no connection slot left", rc = -ENOSPC;
	if (!why) {
		rc = conn_accept(n, slot, id, h, host_rd_atom);
		if (!rc)
			return;
		why = "cannot set the connection up";
	}
	peer_name(id, peer, sizeof(peer));
	refused(n, peer, why, rc);
	rdma_reject(id, NULL, 0);
	rdma_destroy_id(id);
}

/* A connection that never became a region: count it, tell why, free it. */
static void setup_failed(struct dft_net_conn *c, const char *why, int rc)
{
	refused(c->owner, c->peer, why, rc);
	conn_free(c);
}

/* Step 5: post the READ of the header page. */
static void on_established(struct dft_net_conn *c)
{
	struct ibv_sge sge = {.addr = (uintptr_t)c->buf, .length = sizeof(struct dft_region_hdr), .lkey = c->mr->lkey};
	struct ibv_send_wr wr = {.sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_RDMA_READ,
				 .send_flags = IBV_SEND_SIGNALED}, *bad;

	c->connected = true;
	/* in the MR: the hello's length covers at least one header page (step 3) */
	wr.wr.rdma.remote_addr = c->v.raddr;
	wr.wr.rdma.rkey = c->v.rkey;
	if (ibv_post_send(c->v.id->qp, &wr, &bad)) {
		setup_failed(c, "cannot post the header READ", -EIO);
		return;
	}
	c->state = NET_READING;
}

/* The connection is down while the worker may hold the region: it must read nothing more. */
static void gone(struct dft_net_conn *c, void (*detach)(void *, struct dft_nic_region *), void *arg)
{
	dft_store_release(&c->v.gone, 1);
	if (c->state == NET_ATTACHED) {
		c->state = NET_DETACHING;
		detach(arg, c->region);
	}
}

/* Steps 5-6: the READ completed; validate the copy and hand the region over. Returns work done. */
static int header_read(struct dft_reg_net *n, struct dft_net_conn *c, int (*attach)(void *, struct dft_nic_region *),
		       void *arg)
{
	struct dft_nic_region *r;
	struct dft_region_geom g;
	struct ibv_wc wc;
	int k = ibv_poll_cq(c->v.send_cq, 1, &wc), rc;

	if (k == 0) {
		if (rte_rdtsc() > c->deadline_tsc)
			setup_failed(c, "no header READ within the setup time", -ETIMEDOUT);
		return 0;
	}
	if (k < 0 || wc.status != IBV_WC_SUCCESS) {
		setup_failed(c, k < 0 ? "completion queue error" : ibv_wc_status_str(wc.status), -EIO);
		return 1;
	}
	/* the copy is ours; the validator loads each field once */
	rc = dft_region_validate((const struct dft_region_hdr *)(void *)c->buf, c->v.rlen, &g);
	if (rc) {
		setup_failed(c, "the header READ from its MR is not a valid region", rc);
		return 1;
	}
	if (g.instance_id != c->instance_id) {
		setup_failed(c, "the header's instance id is not the hello's", -EPROTO);
		return 1;
	}
	g.map_len = g.region_size; /* no mapping: the geometry describes the region, not the MR */
	r = calloc(1, sizeof(*r));
	if (!r) {
		setup_failed(c, "out of memory", -ENOMEM);
		return 1;
	}
	r->id = NET_REGION_ID_BASE + ++n->next_region_id;
	r->fd = -1;
	r->conn = -1;
	r->g = g;
	r->net = c;
	rc = attach(arg, r);
	if (rc) {
		free(r); /* nothing else was set up for it */
		setup_failed(c, "no room for another region", rc);
		return 1;
	}
	c->region = r;
	c->state = NET_ATTACHED;
	dft_ctr_add(&dft_nic_ctr.regions_attached, 1);
	dft_ctr_add(&dft_nic_ctr.regions_net, 1);
	return 1;
}

/* Step 8 on an attached connection: the host's bye, or the receive flushed by a dead QP. */
static int watch_bye(struct dft_net_conn *c, void (*detach)(void *, struct dft_nic_region *), void *arg)
{
	struct ibv_wc wc;
	int k = ibv_poll_cq(c->recv_cq, 1, &wc);

	if (k == 0)
		return 0;
	if (k > 0 && wc.status == IBV_WC_SUCCESS && dft_reg_rdma_bye_check(c->buf + NET_BYE_OFF, wc.byte_len) == 0) {
		/* the QP stays up: the worker drains what is left, then we disconnect */
		c->state = NET_DETACHING;
		detach(arg, c->region);
		return 1;
	}
	if (k > 0 && wc.status == IBV_WC_SUCCESS) {
		dft_ctr_add(&dft_nic_ctr.rdma_errors, 1);
		DFT_LOG(WARNING, reg, "region %u (%s): a SEND that is no bye; disconnecting", c->region->id, c->peer);
	}
	rdma_disconnect(c->v.id);
	c->connected = false;
	gone(c, detach, arg);
	return 1;
}

static struct dft_net_conn *find_id(struct dft_reg_net *n, const struct rdma_cm_id *id)
{
	for (unsigned i = 0; i < DFT_NIC_MAX_REGIONS; i++)
		if (n->conns[i] && n->conns[i]->v.id == id)
			return n->conns[i];
	return NULL;
}

int dft_reg_net_poll(struct dft_reg_net *n, int (*attach)(void *, struct dft_nic_region *),
		     void (*detach)(void *, struct dft_nic_region *), void *arg)
{
	struct rdma_cm_event *ev;
	int work = 0;

	while (rdma_get_cm_event(n->ec, &ev) == 0) {
		enum rdma_cm_event_type type = ev->event;
		struct rdma_cm_id *id = ev->id;
		struct dft_net_conn *c;

		work++;
		if (type == RDMA_CM_EVENT_CONNECT_REQUEST) {
			struct dft_reg_rdma_hello h;
			int rc = dft_reg_rdma_hello_decode(ev->param.conn.private_data, ev->param.conn.private_data_len, &h);
			/* the request shows the host's responder resources as what we may initiate */
			uint8_t rd_atom = ev->param.conn.initiator_depth;

			rdma_ack_cm_event(ev); /* the hello is copied: the id lives on without the event */
			on_connect_request(n, id, &h, rc, rd_atom);
			continue;
		}
		rdma_ack_cm_event(ev); /* before any rdma_destroy_id, which waits for the acks */
		c = find_id(n, id);
		if (!c)
			continue;
		switch (type) {
		case RDMA_CM_EVENT_ESTABLISHED:
			if (c->state == NET_ACCEPTED)
				on_established(c);
			break;
		case RDMA_CM_EVENT_TIMEWAIT_EXIT:
			break;
		default: /* disconnected, connect error, unreachable, rejected, device removal */
			c->connected = false;
			if (c->state == NET_ACCEPTED || c->state == NET_READING)
				conn_free(c); /* the host left during setup: no refusal, it retries */
			else
				gone(c, detach, arg);
			break;
		}
	}
	for (unsigned i = 0; i < DFT_NIC_MAX_REGIONS; i++) {
		struct dft_net_conn *c = n->conns[i];

		if (!c)
			continue;
		if (c->state == NET_ACCEPTED && rte_rdtsc() > c->deadline_tsc)
			setup_failed(c, "not established within the setup time", -ETIMEDOUT), work++;
		else if (c->state == NET_READING)
			work += header_read(n, c, attach, arg);
		else if (c->state == NET_ATTACHED)
			work += watch_bye(c, detach, arg);
	}
	return work;
}

int dft_reg_net_create(const char *bind, struct dft_reg_net **out)
{
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_PASSIVE, .ai_socktype = SOCK_STREAM}, *ai = NULL;
	struct dft_reg_net *n;
	char buf[256], port_s[8];
	const char *host;
	uint16_t port;
	int rc;

	*out = NULL;
	if (snprintf(buf, sizeof(buf), "%s", bind) >= (int)sizeof(buf) || dft_parse_hostport(buf, 1, &host, &port))
		return -EINVAL;
	snprintf(port_s, sizeof(port_s), "%u", port);
	if (getaddrinfo(host, port_s, &hints, &ai))
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n) {
		rc = -ENOMEM;
		goto free_ai;
	}
	rc = dft_rdma_cm_listen(ai->ai_addr, 64, NULL, &n->ec, &n->listen);
	if (rc)
		goto free_n;
	freeaddrinfo(ai);
	*out = n;
	return 0;

free_n:
	free(n);
free_ai:
	freeaddrinfo(ai);
	return rc;
}

void dft_reg_net_destroy(struct dft_reg_net *n)
{
	struct rdma_cm_event *ev;

	if (!n)
		return;
	for (unsigned i = 0; i < DFT_NIC_MAX_REGIONS; i++) {
		struct dft_net_conn *c = n->conns[i];

		if (!c)
			continue;
		if (c->region) /* main forgets every region first; should one remain, it frees this later */
			c->owner = NULL, n->conns[i] = NULL;
		else
			conn_free(c);
	}
	rdma_destroy_id(n->listen);
	/* connect requests nobody took: reject them so their ids can go with the channel */
	while (rdma_get_cm_event(n->ec, &ev) == 0) {
		struct rdma_cm_id *id = ev->event == RDMA_CM_EVENT_CONNECT_REQUEST ? ev->id : NULL;

		rdma_ack_cm_event(ev);
		if (id) {
			rdma_reject(id, NULL, 0);
			rdma_destroy_id(id);
		}
	}
	rdma_destroy_event_channel(n->ec);
	free(n);
}
