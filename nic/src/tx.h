/* SPDX-License-Identifier: MIT */
/* Transports behind one interface (tx_tcp.c, tx_rdma.c; backlog.c keeps what they have not had acknowledged). */
#ifndef DFT_NIC_TX_H
#define DFT_NIC_TX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backlog.h"
#include "config.h"

struct dft_tx;
struct dft_tx_ops {
	const char *name;
	int (*create)(const struct dft_nic_config *cfg, struct dft_tx **out);
	void (*destroy)(struct dft_tx *t);
	/* connect/reconnect, send, read ACKs; now = rte_rdtsc(). Returns work done (>0) or 0. */
	int (*poll)(struct dft_tx *t, uint64_t now);
	/* Admit a packed frame (hdr_room bytes reserved in front) of n_spans spans; takes buf.
	 * Returns 0 or -ENOBUFS (backlog full: buf freed, nothing admitted). */
	int (*admit)(struct dft_tx *t, uint64_t seq, uint32_t n_spans, uint8_t *buf, size_t len);
	/* Connected and the backlog at most half full: worth closing batches early for latency. */
	bool (*ready)(const struct dft_tx *t);
	/* The transport's backlog (backlog.h: room, unacknowledged batches, highest acknowledged). */
	const struct dft_backlog *(*backlog)(const struct dft_tx *t);
	/* Drop every unacked batch; returns the spans they held. */
	uint64_t (*discard)(struct dft_tx *t);
	size_t hdr_room;
};
extern const struct dft_tx_ops dft_tx_tcp_ops;
#ifdef DFT_HAVE_RDMA
extern const struct dft_tx_ops dft_tx_rdma_ops;
#endif

#endif /* DFT_NIC_TX_H */
