/* SPDX-License-Identifier: MIT */
/*
 * What the backends that see a region mapped into the daemon (mmap, dmadev) share: consumer state
 * over the ring headers found from the validated geometry, and the region view read straight from
 * the mapping (ingest.h). Every index the host publishes is checked by dft_ring_cons_avail before a
 * slot is touched; every other field is read once and left to the caller to clamp.
 */
#ifndef DFT_NIC_INGEST_MAP_H
#define DFT_NIC_INGEST_MAP_H

#include "dft/ring.h"
#include "ingest.h"

struct dft_map_rings {
	uint32_t n;
	struct dft_ring_cons cons[];
};

/* Consumers of every ring of r (continuing from the tails stored in the region). 0/-ENOMEM. */
int dft_map_rings_create(const struct dft_nic_region *r, struct dft_map_rings **out);
/* No ring has readable slots (an impossible head counts as empty: it cannot hold a drain up). */
bool dft_map_rings_empty(const struct dft_map_rings *m);

/* The region view over r->map (ingest.h). */
uint32_t dft_map_names_published(struct dft_ingest *in, struct dft_nic_region *r);
int dft_map_name(struct dft_ingest *in, struct dft_nic_region *r, uint32_t published, uint16_t id, char *out,
		 size_t cap);
const struct dft_metrics_page *dft_map_metrics(struct dft_ingest *in, struct dft_nic_region *r);
int dft_map_clock(struct dft_ingest *in, struct dft_nic_region *r, struct dft_clock_cal *out);
void dft_map_claims(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, struct dft_ring_claims *out);
uint64_t dft_map_dropped_no_ring(struct dft_ingest *in, struct dft_nic_region *r);
int dft_map_waiting(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, uint64_t *spans);

#endif /* DFT_NIC_INGEST_MAP_H */
