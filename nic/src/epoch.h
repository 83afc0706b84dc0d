/* SPDX-License-Identifier: MIT */
/* This NIC instance's epoch and the adoption of rings an earlier instance read (epoch.c). */
#ifndef DFT_NIC_EPOCH_H
#define DFT_NIC_EPOCH_H

#include <stdbool.h>
#include <stdint.h>

/* random, non-zero, set once before any batch */
extern uint64_t dft_nic_epoch;
int dft_nic_epoch_init(void);
/* Main lcore, written by the transport: the collector said BUSY and nothing was acknowledged
 * since (health "degraded: collector storage" in the stats). */
extern bool dft_nic_collector_busy;
struct dft_nic_ring_state;
struct dft_ring_claims;
/* Worker, at attach, for a ring an earlier instance read (ingest's waiting op): its base from
 * what the host claims now. */
void dft_nic_adopt_ring(struct dft_nic_ring_state *rs, const struct dft_ring_claims *cl);
/* This instance's produced for a ring: the host's claim (clamped), or for an adopted ring the
 * spans this instance read plus the drops since it adopted the ring. */
uint64_t dft_nic_ring_produced(const struct dft_nic_ring_state *rs);

#endif /* DFT_NIC_EPOCH_H */
