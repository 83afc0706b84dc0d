/* SPDX-License-Identifier: MIT */
/*
 * Registration over the network (reg_net.c; protocol in dft/reg.h steps N1-N5 and at the top of
 * reg_net.c): a host on another machine registers its region by connecting an RC QP to
 * --net-listen, with no Unix socket and no fd. Built with verbs only.
 */
#ifndef DFT_NIC_REG_NET_H
#define DFT_NIC_REG_NET_H

#include <stdint.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "region.h"

/* Send work requests one network-registered QP holds: a READ per ring at most, and spare. */
#define DFT_NET_SQ_SPARE 8u
#define DFT_NET_SQ_CAP (DFT_RING_COUNT_MAX + DFT_NET_SQ_SPARE)

/*
 * What the rdma-read backend uses of a network registration between ATTACH and DETACHED. The main
 * lcore created all of it and frees it (dft_net_conn_free) once the worker gave the region back; the
 * backend only posts to the QP, polls send_cq and registers its own buffer in pd.
 */
struct dft_net_conn_view {
	struct rdma_cm_id *id; /* id->qp: the connection's QP */
	struct ibv_pd *pd;
	struct ibv_cq *send_cq;
	uint64_t raddr, rlen; /* the host's MR (validated: rlen covers the region) */
	uint32_t rkey;
	uint32_t gone; /* atomic, set by main: the connection is down, nothing can be read any more */
};

struct dft_reg_net;

/* Listen with rdma_cm on bind ("ADDR:PORT"; a wildcard address is fine). 0 or -errno. */
int dft_reg_net_create(const char *bind, struct dft_reg_net **out);
/* Connection events, header READs, byes, deadlines; attach/detach as for dft_reg_server_poll.
 * Returns work done. Main lcore only. */
int dft_reg_net_poll(struct dft_reg_net *n, int (*attach)(void *, struct dft_nic_region *),
		     void (*detach)(void *, struct dft_nic_region *), void *arg);
/* After every network region was freed. */
void dft_reg_net_destroy(struct dft_reg_net *n);
/* The backend's view of a region's connection. */
struct dft_net_conn_view *dft_net_conn_view(struct dft_net_conn *c);
/* Called by dft_region_free: disconnect and free the connection (main lcore). */
void dft_net_conn_free(struct dft_net_conn *c);

#endif /* DFT_NIC_REG_NET_H */
