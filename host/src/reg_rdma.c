/* SPDX-License-Identifier: MIT */
/*
 * The host half of rdma-read ingest (dft/reg.h step 5, docs/rdma.md), run only by the registration
 * thread, never by the app's threads.
 *
 * When the daemon answers a registration with struct dft_reg_rdma_at, this file registers the whole
 * region as an MR (LOCAL_WRITE | REMOTE_READ | REMOTE_WRITE) and connects an RC QP to the daemon's
 * rdma_cm listener, with struct dft_reg_rdma_hello (instance id, MR address, rkey, length) as the
 * connect private data. Once ESTABLISHED there is nothing more to do: the daemon READs ring heads
 * and slots and WRITEs consumer tails; this QP never posts a work request.
 *
 *   IDLE --(at message, retry time)--> RESOLVING (address, then route) --> CONNECTING --> CONNECTED
 *    ^   rejected / unreachable / error / disconnected: retry after 100 ms doubling to 2 s   |
 *    +-----------------------------------------------------------------------------------------+
 *
 * Everything is non-blocking: rdma_cm events arrive on a channel whose fd the registration thread
 * polls beside its socket. Without an RDMA device the library never offers the flag, and a daemon
 * that ingests by rdma-read refuses the region (the app still never waits).
 *
 * Registration over the network (DFT_NIC=ADDR:PORT, dft/reg.h N1-N5): there is no socket and no
 * "connect here" message; the thread connects to DFT_NIC from the start, with
 * DFT_REG_RDMA_F_REGISTER in the hello, and the same state machine retries (100 ms doubling to 2 s)
 * whenever the daemon is absent, refuses, or goes away. CONNECTED is "registered". At the end the
 * QP SENDs its one message, the bye, and waits (bounded) for the daemon to disconnect.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "dft/reg.h"
#include "host_internal.h"

#define RR_RETRY_MIN_MS 100u
#define RR_RETRY_MAX_MS 2000u
#define RR_RESOLVE_MS 2000
#define RR_RESPONDER_RESOURCES 16u /* READs of the daemon we let be in flight at once */

enum rr_state { RR_IDLE, RR_RESOLVING, RR_CONNECTING, RR_CONNECTED };

static struct {
	int capable; /* -1 unknown, 0 no RDMA device, 1 yes */
	enum rr_state state;
	bool want; /* the daemon asked for a connection (network registration: always) */
	bool net;  /* registration over the network (DFT_NIC) */
	struct dft_reg_rdma_at at;
	uint8_t acc[sizeof(struct dft_reg_rdma_at)]; /* bytes of the at message received so far */
	size_t acc_len;
	uint64_t retry_at_ms;
	uint32_t retry_ms;
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
} rr = {.capable = -1};

uint32_t dft_reg_rdma_flags(void)
{
	if (rr.capable < 0) {
		int n = 0;
		struct ibv_device **l = ibv_get_device_list(&n);

		rr.capable = l && n > 0;
		if (l)
			ibv_free_device_list(l);
	}
	return rr.capable ? DFT_REG_F_RDMA_READ : 0;
}

static void conn_teardown(void)
{
	if (rr.id && rr.state == RR_CONNECTED)
		rdma_disconnect(rr.id);
	if (rr.id && rr.id->qp)
		rdma_destroy_qp(rr.id);
	if (rr.mr)
		ibv_dereg_mr(rr.mr);
	if (rr.cq)
		ibv_destroy_cq(rr.cq);
	if (rr.pd)
		ibv_dealloc_pd(rr.pd);
	if (rr.id)
		rdma_destroy_id(rr.id);
	rr.id = NULL;
	rr.mr = NULL;
	rr.cq = NULL;
	rr.pd = NULL;
	rr.state = RR_IDLE;
}

/* N5: the one SEND this QP makes. 0 or -errno. */
static int send_bye(void)
{
	uint8_t bye[sizeof(struct dft_reg_rdma_bye)];
	struct ibv_sge sge = {.addr = (uintptr_t)bye, .length = sizeof(bye)};
	struct ibv_send_wr wr = {.sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_SEND,
				 .send_flags = IBV_SEND_INLINE | IBV_SEND_SIGNALED}, *bad;

	dft_reg_rdma_bye_encode(bye);
	return ibv_post_send(rr.id->qp, &wr, &bad) ? -EIO : 0;
}

static void conn_retry_later(uint64_t now_ms)
{
	conn_teardown();
	rr.retry_at_ms = now_ms + rr.retry_ms;
	rr.retry_ms = rr.retry_ms * 2 > RR_RETRY_MAX_MS ? RR_RETRY_MAX_MS : rr.retry_ms * 2;
}

void dft_reg_rdma_reset(void)
{
	/* a fresh registration thread (or a forked child): whatever is here belongs to an earlier one,
	 * which tore it down itself (or lives in the parent) */
	memset(&rr.at, 0, sizeof(rr.at));
	rr.state = RR_IDLE;
	rr.want = false;
	rr.net = false;
	rr.acc_len = 0;
	rr.ec = NULL;
	rr.id = NULL;
	rr.pd = NULL;
	rr.cq = NULL;
	rr.mr = NULL;
}

void dft_reg_rdma_stop(unsigned linger_ms)
{
	uint64_t deadline = dft_clock_ns(CLOCK_MONOTONIC) / 1000000u + linger_ms;

	/* network registration: the bye tells the daemon to read what is left, then let go (N5) */
	if (linger_ms && rr.net && rr.state == RR_CONNECTED && send_bye())
		linger_ms = 0; /* the QP is broken: nobody is reading any more */
	/*
	 * Leaving while the daemon may still be reading would fail its READs (and stall it until they
	 * time out): let it disconnect first, for at most linger_ms. It does once it saw our EOF on the
	 * registration socket and read what was left.
	 */
	while (linger_ms && rr.state == RR_CONNECTED) {
		uint64_t now = dft_clock_ns(CLOCK_MONOTONIC) / 1000000u;
		struct pollfd p = {.fd = rr.ec->fd, .events = POLLIN};

		if (now >= deadline || poll(&p, 1, (int)(deadline - now)) <= 0)
			break;
		rr.want = false; /* a disconnect now is final */
		dft_reg_rdma_poll(now);
	}
	conn_teardown();
	if (rr.ec)
		rdma_destroy_event_channel(rr.ec);
	rr.ec = NULL;
	rr.want = false;
	rr.acc_len = 0;
}

void dft_reg_rdma_net_start(const char *addr, uint16_t port, uint64_t now_ms)
{
	if (dft_reg_rdma_at_make(&rr.at, addr, port))
		return; /* DFT_NIC was checked at dft_init: cannot happen */
	rr.net = true;
	rr.want = true;
	rr.retry_ms = RR_RETRY_MIN_MS;
	rr.retry_at_ms = now_ms;
}

bool dft_reg_rdma_connected(void)
{
	return rr.state == RR_CONNECTED;
}

void dft_reg_rdma_feed(const void *p, size_t n, uint64_t now_ms)
{
	size_t take;

	if (rr.want || rr.net || rr.acc_len >= sizeof(rr.acc))
		return; /* one message per registration; anything after it is ignored like before */
	take = n < sizeof(rr.acc) - rr.acc_len ? n : sizeof(rr.acc) - rr.acc_len;
	memcpy(rr.acc + rr.acc_len, p, take);
	rr.acc_len += take;
	if (rr.acc_len < sizeof(rr.acc))
		return;
	if (dft_reg_rdma_at_check(rr.acc, rr.acc_len, &rr.at) || !dft_reg_rdma_flags())
		return;
	rr.want = true;
	rr.retry_ms = RR_RETRY_MIN_MS;
	rr.retry_at_ms = now_ms;
}

int dft_reg_rdma_fd(void)
{
	return rr.ec ? rr.ec->fd : -1;
}

uint64_t dft_reg_rdma_wake_ms(void)
{
	return rr.want && rr.state == RR_IDLE ? rr.retry_at_ms : UINT64_MAX;
}

static int start_connect(void)
{
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM}, *dst,
			*src = NULL;
	char port[8];
	int rc;

	if (!rr.ec) {
		rr.ec = rdma_create_event_channel();
		if (!rr.ec)
			return -errno;
		if (fcntl(rr.ec->fd, F_SETFL, fcntl(rr.ec->fd, F_GETFL) | O_NONBLOCK))
			return -errno;
	}
	snprintf(port, sizeof(port), "%u", rr.at.port);
	if (getaddrinfo(rr.at.addr, port, &hints, &dst))
		return -EINVAL;
	/* network registration: DFT_NIC_BIND picks the local device (checked numeric at dft_init) */
	if (rr.net && dft_host.nic_bind[0] && getaddrinfo(dft_host.nic_bind, NULL, &hints, &src)) {
		freeaddrinfo(dst);
		return -EINVAL;
	}
	rc = rdma_create_id(rr.ec, &rr.id, NULL, RDMA_PS_TCP) ? -errno : 0;
	if (!rc && rdma_resolve_addr(rr.id, src ? src->ai_addr : NULL, dst->ai_addr, RR_RESOLVE_MS))
		rc = -errno;
	if (src)
		freeaddrinfo(src);
	freeaddrinfo(dst);
	if (!rc)
		rr.state = RR_RESOLVING;
	return rc;
}

/* Route known: the MR, a QP that only answers the daemon's READs and WRITEs, and the connect. */
static int connect_route(void)
{
	struct ibv_qp_init_attr qa = {.qp_type = IBV_QPT_RC};
	struct dft_reg_rdma_hello h = {0};
	uint8_t pd_buf[sizeof(struct dft_reg_rdma_hello)];
	struct rdma_conn_param cp = {.private_data = pd_buf, .private_data_len = sizeof(pd_buf), .retry_count = 7,
				     .rnr_retry_count = 7};
	struct ibv_device_attr da;

	if (ibv_query_device(rr.id->verbs, &da))
		return -errno;
	rr.pd = ibv_alloc_pd(rr.id->verbs);
	if (!rr.pd)
		return -ENOMEM;
	rr.cq = ibv_create_cq(rr.id->verbs, 2, NULL, NULL, 0);
	if (!rr.cq)
		return -ENOMEM;
	rr.mr = ibv_reg_mr(rr.pd, dft_host.base, dft_host.size,
			   IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE);
	if (!rr.mr)
		return errno ? -errno : -ENOMEM;
	qa.send_cq = qa.recv_cq = rr.cq;
	qa.cap.max_send_wr = qa.cap.max_recv_wr = 1;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	qa.cap.max_inline_data = sizeof(struct dft_reg_rdma_bye); /* the bye goes inline: no MR for it */
	if (rdma_create_qp(rr.id, rr.pd, &qa))
		return -errno;
	h.instance_id = dft_host.hdr->instance_id;
	h.addr = (uint64_t)(uintptr_t)dft_host.base;
	h.len = dft_host.size;
	h.rkey = rr.mr->rkey;
	h.flags = rr.net ? DFT_REG_RDMA_F_REGISTER : 0;
	dft_reg_rdma_hello_encode(&h, pd_buf);
	cp.responder_resources = (uint8_t)(da.max_qp_rd_atom < (int)RR_RESPONDER_RESOURCES ? da.max_qp_rd_atom
											     : (int)RR_RESPONDER_RESOURCES);
	cp.initiator_depth = 0; /* we never read from the daemon */
	if (rdma_connect(rr.id, &cp))
		return -errno;
	rr.state = RR_CONNECTING;
	return 0;
}

void dft_reg_rdma_poll(uint64_t now_ms)
{
	struct rdma_cm_event *ev;

	if (rr.want && rr.state == RR_IDLE && now_ms >= rr.retry_at_ms && start_connect())
		conn_retry_later(now_ms);
	while (rr.ec && rdma_get_cm_event(rr.ec, &ev) == 0) {
		enum rdma_cm_event_type type = ev->event;
		bool ours = ev->id == rr.id;

		rdma_ack_cm_event(ev); /* before any rdma_destroy_id, which waits for acks */
		if (!ours)
			continue;
		switch (type) {
		case RDMA_CM_EVENT_ADDR_RESOLVED:
			if (rdma_resolve_route(rr.id, RR_RESOLVE_MS))
				conn_retry_later(now_ms);
			break;
		case RDMA_CM_EVENT_ROUTE_RESOLVED:
			if (connect_route())
				conn_retry_later(now_ms);
			break;
		case RDMA_CM_EVENT_ESTABLISHED:
			rr.state = RR_CONNECTED;
			rr.retry_ms = RR_RETRY_MIN_MS;
			break;
		case RDMA_CM_EVENT_TIMEWAIT_EXIT:
			break;
		default: /* errors, rejects, unreachable, disconnected, device removal */
			if (rr.want)
				conn_retry_later(now_ms);
			else
				conn_teardown();
			break;
		}
	}
}
