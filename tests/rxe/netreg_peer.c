/* SPDX-License-Identifier: MIT */
/*
 * A hostile network-registration peer, run inside the Soft-RoCE VM by tests/rxe/netreg.sh against a
 * difftrace-nic --net-listen (protocol: nic/src/reg_net.c). Each case makes one connection attempt and
 * checks what the daemon did with it:
 *
 *   netreg_peer --nic ADDR:PORT [--bind ADDR] --case CASE
 *     garbage     private data of random bytes                 -> rejected
 *     noflag      a valid hello without F_REGISTER            -> rejected
 *     short-mr    F_REGISTER, an MR shorter than one header    -> rejected
 *     bad-header  F_REGISTER, a 2-page MR of garbage           -> accepted, then disconnected by the
 *                                                                 daemon once its header READ failed
 *                                                                 validation
 * Exit 0 when the daemon behaved as expected, 1 otherwise (with a line saying what happened).
 */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "dft/reg.h"

enum peer_state { PEER_RESOLVING, PEER_CONNECTING, PEER_ESTABLISHED, PEER_REJECTED, PEER_DISCONNECTED,
		  PEER_FAILED };

static const char *const state_name[] = {"resolving", "connecting", "established", "rejected", "disconnected",
					 "failed"};

struct peer {
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	uint8_t *region;
	enum peer_state state;
};

/* Wait for the next connection event, at most ms. The event type, or -1 on timeout. */
static int next_event(struct peer *p, int ms)
{
	struct pollfd pf = {.fd = p->ec->fd, .events = POLLIN};
	struct rdma_cm_event *ev;
	int type;

	if (poll(&pf, 1, ms) <= 0 || rdma_get_cm_event(p->ec, &ev))
		return -1;
	type = ev->event;
	rdma_ack_cm_event(ev);
	return type;
}

static int connect_with(struct peer *p, const char *what, uint64_t mr_len)
{
	uint8_t pd_buf[56];
	struct rdma_conn_param cp = {.private_data = pd_buf, .private_data_len = sizeof(struct dft_reg_rdma_hello),
				     .responder_resources = 1, .retry_count = 7, .rnr_retry_count = 7};
	struct ibv_qp_init_attr qa = {.qp_type = IBV_QPT_RC};
	struct dft_reg_rdma_hello h = {.instance_id = 0x5eed5eed5eedull, .len = mr_len};

	p->pd = ibv_alloc_pd(p->id->verbs);
	p->cq = p->pd ? ibv_create_cq(p->id->verbs, 2, NULL, NULL, 0) : NULL;
	p->region = aligned_alloc(4096, 2 * 4096);
	if (!p->cq || !p->region)
		return -ENOMEM;
	/* garbage the daemon must not take for a header: random bytes (the magic cannot match by chance
	 * in any run that matters: 64 bits) */
	if (getrandom(p->region, 2 * 4096, 0) != 2 * 4096)
		return -EIO;
	p->mr = ibv_reg_mr(p->pd, p->region, 2 * 4096, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ);
	if (!p->mr)
		return -errno;
	qa.send_cq = qa.recv_cq = p->cq;
	qa.cap.max_send_wr = qa.cap.max_recv_wr = 1;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(p->id, p->pd, &qa))
		return -errno;
	h.addr = (uintptr_t)p->region;
	h.rkey = p->mr->rkey;
	h.flags = DFT_REG_RDMA_F_REGISTER;
	if (!strcmp(what, "noflag"))
		h.flags = 0;
	dft_reg_rdma_hello_encode(&h, pd_buf);
	if (!strcmp(what, "garbage") && getrandom(pd_buf, sizeof(pd_buf), 0) != (ssize_t)sizeof(pd_buf))
		return -EIO;
	if (!strcmp(what, "garbage"))
		cp.private_data_len = sizeof(pd_buf);
	return rdma_connect(p->id, &cp) ? -errno : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"nic", 1, 0, 'n'}, {"bind", 1, 0, 'b'}, {"case", 1, 0, 'c'}, {0, 0, 0, 0}};
	const char *nic = NULL, *bind = NULL, *what = NULL;
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
	struct addrinfo *dst = NULL, *src = NULL;
	char addr[DFT_REG_ADDR_MAX], port_s[8];
	struct peer p = {.state = PEER_RESOLVING};
	uint16_t port;
	bool want_reject;
	int o, ev, ok;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'n': nic = optarg; break;
		case 'b': bind = optarg; break;
		case 'c': what = optarg; break;
		default: return 2;
		}
	}
	if (!nic || !what || dft_reg_net_parse(nic, addr, &port)) {
		fprintf(stderr, "usage: netreg_peer --nic ADDR:PORT [--bind ADDR] --case garbage|noflag|short-mr|bad-header\n");
		return 2;
	}
	want_reject = strcmp(what, "bad-header") != 0;
	snprintf(port_s, sizeof(port_s), "%u", port);
	if (getaddrinfo(addr, port_s, &hints, &dst) || (bind && getaddrinfo(bind, NULL, &hints, &src)))
		return 2;
	p.ec = rdma_create_event_channel();
	if (!p.ec || rdma_create_id(p.ec, &p.id, NULL, RDMA_PS_TCP) ||
	    rdma_resolve_addr(p.id, src ? src->ai_addr : NULL, dst->ai_addr, 2000))
		return 2;
	while (p.state < PEER_ESTABLISHED || (p.state == PEER_ESTABLISHED && !want_reject)) {
		ev = next_event(&p, 10000);
		if (ev == RDMA_CM_EVENT_ADDR_RESOLVED && !rdma_resolve_route(p.id, 2000))
			continue;
		if (ev == RDMA_CM_EVENT_ROUTE_RESOLVED &&
		    !connect_with(&p, what, !strcmp(what, "short-mr") ? 100 : 2 * 4096)) {
			p.state = PEER_CONNECTING;
			continue;
		}
		if (ev == RDMA_CM_EVENT_ESTABLISHED)
			p.state = PEER_ESTABLISHED;
		else if (ev == RDMA_CM_EVENT_REJECTED)
			p.state = PEER_REJECTED;
		else if (ev == RDMA_CM_EVENT_DISCONNECTED)
			p.state = PEER_DISCONNECTED;
		else
			p.state = PEER_FAILED;
	}
	ok = want_reject ? p.state == PEER_REJECTED : p.state == PEER_DISCONNECTED;
	printf("netreg_peer %s: %s (%s)\n", what, state_name[p.state], ok ? "as expected" : "UNEXPECTED");
	if (p.id->qp)
		rdma_destroy_qp(p.id);
	if (p.mr)
		ibv_dereg_mr(p.mr);
	if (p.cq)
		ibv_destroy_cq(p.cq);
	if (p.pd)
		ibv_dealloc_pd(p.pd);
	rdma_destroy_id(p.id);
	rdma_destroy_event_channel(p.ec);
	free(p.region);
	freeaddrinfo(dst);
	if (src)
		freeaddrinfo(src);
	return ok ? 0 : 1;
}
