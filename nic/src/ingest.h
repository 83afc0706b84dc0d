/* SPDX-License-Identifier: MIT */
/*
 * Ingest backends: how the daemon gets slots out of a host region into local memory. `mmap`
 * (the region is mapped: memcpy), `dmadev` (rte_dma copies) and `rdma-read` (verbs RDMA READ of the
 * host's MR, built with verbs only) sit behind the same ops. Every backend hands back private copies:
 * nothing after ingest ever reads the shared region's slots again.
 */
#ifndef DFT_NIC_INGEST_H
#define DFT_NIC_INGEST_H

#include "nic.h"

struct dft_ingest_ops {
	const char *name;
	/* Prepare per-ring consumer state (continuing from the tails stored in the region). 0/-errno. */
	int (*attach)(struct dft_nic_region *r);
	/*
	 * Copy up to max readable slots of ring `ring` into burst[] without giving them back yet.
	 * Returns the number copied, or -EOVERFLOW when the ring's head is impossible (corrupt).
	 */
	int (*poll)(struct dft_nic_region *r, uint32_t ring, struct dft_slot *burst, uint32_t max);
	/* Give the first n slots of the last poll back to the producer. */
	void (*release)(struct dft_nic_region *r, uint32_t ring, uint32_t n);
	/* True when no ring has readable slots left (a corrupt ring counts as empty). */
	bool (*empty)(struct dft_nic_region *r);
	void (*detach)(struct dft_nic_region *r);
	/* Release what the backend set up for the whole daemon (NULL: nothing); before EAL cleanup. */
	void (*shutdown)(void);
};

extern const struct dft_ingest_ops dft_ingest_mmap_ops;
extern const struct dft_ingest_ops dft_ingest_dmadev_ops;
#ifdef DFT_HAVE_RDMA
extern const struct dft_ingest_ops dft_ingest_rdma_read_ops;
/*
 * rdma-read: listen with rdma_cm on bind ("ADDR:PORT", a concrete address; port 0 = ephemeral), before
 * the worker starts. addr/port receive what hosts are told to connect to. 0 or -errno.
 */
int dft_ingest_rdma_read_listen(const char *bind, char *addr, size_t addr_len, uint16_t *port);
#endif
/* mmap ingest: evict each slot's cache lines once read ([ingest] evict; on by default). */
void dft_ingest_mmap_evict(bool on);
/* The backend named by --ingest, or NULL. */
const struct dft_ingest_ops *dft_ingest_by_name(const char *name);

#endif /* DFT_NIC_INGEST_H */
