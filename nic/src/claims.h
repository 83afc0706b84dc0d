/* SPDX-License-Identifier: MIT */
/*
 * What the hosts claim they produced and dropped (ring full, no ring, cut hops), read from each
 * region through the ingest view and bounded by elapsed time before it reaches the NIC's and the
 * tenants' counters. Worker lcore only.
 */
#ifndef DFT_NIC_CLAIMS_H
#define DFT_NIC_CLAIMS_H

struct dft_nic_ctx;

/* Recompute produced / lost_ring_full / lost_no_ring / hops_dropped (NIC-wide, per tenant, per region). */
void dft_claims_refresh(struct dft_nic_ctx *ctx);

#endif /* DFT_NIC_CLAIMS_H */
