/* SPDX-License-Identifier: MIT */
/* An rdma_cm listener the callers poll from their loops (dft/rdma.h). */
#include <errno.h>
#include <fcntl.h>

#include <rdma/rdma_cma.h>

#include "dft/rdma.h"

int dft_rdma_cm_listen(const struct sockaddr *sa, int backlog, void *ctx, struct rdma_event_channel **ec,
		       struct rdma_cm_id **id)
{
	int flags, rc;

	*ec = rdma_create_event_channel();
	if (!*ec)
		return -errno;
	/* polled from a daemon's loop: never block there */
	flags = fcntl((*ec)->fd, F_GETFL);
	if (flags < 0 || fcntl((*ec)->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rc = -errno;
		goto destroy_ec;
	}
	if (rdma_create_id(*ec, id, ctx, RDMA_PS_TCP)) {
		rc = -errno;
		goto destroy_ec;
	}
	if (rdma_bind_addr(*id, (struct sockaddr *)sa) || rdma_listen(*id, backlog)) {
		rc = -errno;
		goto destroy_id;
	}
	return 0;

destroy_id:
	rdma_destroy_id(*id);
	*id = NULL;
destroy_ec:
	rdma_destroy_event_channel(*ec);
	*ec = NULL;
	return rc;
}

bool dft_rdma_cm_gone(int type)
{
	switch (type) {
	case RDMA_CM_EVENT_DISCONNECTED:
	case RDMA_CM_EVENT_CONNECT_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_REJECTED:
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		return true;
	default:
		return false;
	}
}
