/* SPDX-License-Identifier: MIT */
/*
 * Ingest backends: how the daemon reaches a host region. `mmap` (the region is mapped: memcpy),
 * `dmadev` (rte_dma copies) and `rdma-read` (verbs RDMA READ of the host's MR, built with verbs
 * only) sit behind the same ops, one instance per daemon made by create(cfg).
 *
 * An instance does two things for each attached region:
 *  - slots: poll copies readable slots into the caller's burst (private memory: nothing after
 *    ingest reads the shared region's slots again), release gives them back to the producer;
 *  - the region view: the live header fields (names_published, dropped_no_ring), a name, the metrics
 *    page, the clock calibration and a ring's counters, as this backend last saw them. The worker
 *    reads a region only through these: a backend that reaches the host by DMA or RDMA answers from
 *    its own copies, and no code above it knows or cares where the bytes came from.
 * Everything the view returns is still the host's claim (hostile): callers clamp and validate it.
 */
#ifndef DFT_NIC_INGEST_H
#define DFT_NIC_INGEST_H

#include "dft/clock.h"
#include "region.h"
#include "stats.h"

/* A ring's counters as its host wrote them (claims: the worker clamps them, worker.c). */
struct dft_ring_claims {
	uint64_t produced, dropped_full, dropped_hops;
};

struct dft_ingest_cfg {
	const char *name;  /* backend: "mmap", "dmadev", "rdma-read" */
	bool evict_slots;  /* mmap: evict each slot's cache lines once read ([ingest] evict) */
};

struct dft_ingest_ops;
/* Every backend's instance starts with this. */
struct dft_ingest {
	const struct dft_ingest_ops *ops;
};

struct dft_ingest_ops {
	const char *name;
	int (*create)(const struct dft_ingest_cfg *cfg, struct dft_ingest **out);
	/* After every region was detached; releases what the instance set up (before EAL cleanup). */
	void (*destroy)(struct dft_ingest *in);
	/* Prepare per-ring consumer state (continuing from the tails stored in the region). 0/-errno. */
	int (*attach)(struct dft_ingest *in, struct dft_nic_region *r);
	/*
	 * Copy up to max readable slots of ring `ring` into burst[] without giving them back yet.
	 * Returns the number copied, or -EOVERFLOW when the ring's head is impossible (corrupt).
	 */
	int (*poll)(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, struct dft_slot *burst,
		    uint32_t max);
	/* Give the first n slots of the last poll back to the producer. */
	void (*release)(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, uint32_t n);
	/* True when no ring has readable slots left (a corrupt ring counts as empty). */
	bool (*empty)(struct dft_ingest *in, struct dft_nic_region *r);
	void (*detach)(struct dft_ingest *in, struct dft_nic_region *r);

	/* ---- the region view (attached regions only) */
	/* The header's names_published (unclamped claim). */
	uint32_t (*names_published)(struct dft_ingest *in, struct dft_nic_region *r);
	/* Name id (1..published) as dft_name_read copies it. Length, or -ENOENT. */
	int (*name_read)(struct dft_ingest *in, struct dft_nic_region *r, uint32_t published, uint16_t id, char *out,
		    size_t cap);
	/* The metrics page to read under its entries' seqlocks (never NULL). */
	const struct dft_metrics_page *(*metrics)(struct dft_ingest *in, struct dft_nic_region *r);
	/* The clock calibration: 0, or -EAGAIN / -EINVAL as dft_clock_cal_read. */
	int (*clock)(struct dft_ingest *in, struct dft_nic_region *r, struct dft_clock_cal *out);
	void (*claims)(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, struct dft_ring_claims *out);
	uint64_t (*dropped_no_ring)(struct dft_ingest *in, struct dft_nic_region *r);
	/*
	 * Optional (NULL: rings are never adopted). At attach: the spans waiting in a ring an earlier
	 * daemon instance had read from (1, *spans set), or 0 when the ring was never read (epoch.c).
	 */
	int (*waiting)(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, uint64_t *spans);
};

extern const struct dft_ingest_ops dft_ingest_mmap_ops;
extern const struct dft_ingest_ops dft_ingest_dmadev_ops;
#ifdef DFT_HAVE_RDMA
extern const struct dft_ingest_ops dft_ingest_rdma_read_ops;
/*
 * rdma-read: listen with rdma_cm on bind ("ADDR:PORT", a concrete address; port 0 = ephemeral), before
 * the worker starts. addr/port receive what hosts are told to connect to. 0 or -errno.
 */
int dft_ingest_rdma_read_listen(struct dft_ingest *in, const char *bind, char *addr, size_t addr_len,
				uint16_t *port);
#endif
/* The backend named by name, or NULL. */
const struct dft_ingest_ops *dft_ingest_by_name(const char *name);
/* An instance of the backend cfg->name: 0, -ENOENT (not built in) or the backend's -errno. */
int dft_ingest_create(const struct dft_ingest_cfg *cfg, struct dft_ingest **out);
void dft_ingest_destroy(struct dft_ingest *in);

static inline int dft_ingest_attach(struct dft_ingest *in, struct dft_nic_region *r)
{
	return in->ops->attach(in, r);
}

static inline int dft_ingest_poll(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring,
				  struct dft_slot *burst, uint32_t max)
{
	return in->ops->poll(in, r, ring, burst, max);
}

static inline void dft_ingest_release(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, uint32_t n)
{
	in->ops->release(in, r, ring, n);
}

static inline bool dft_ingest_empty(struct dft_ingest *in, struct dft_nic_region *r)
{
	return in->ops->empty(in, r);
}

static inline void dft_ingest_detach(struct dft_ingest *in, struct dft_nic_region *r)
{
	in->ops->detach(in, r);
}

/* names_published clamped to the region's name capacity. */
static inline uint32_t dft_view_names_published(struct dft_ingest *in, struct dft_nic_region *r)
{
	uint32_t np = in->ops->names_published(in, r);

	return np > r->g.name_capacity ? r->g.name_capacity : np;
}

static inline int dft_view_name(struct dft_ingest *in, struct dft_nic_region *r, uint32_t published, uint16_t id,
				char *out, size_t cap)
{
	return in->ops->name_read(in, r, published, id, out, cap);
}

static inline const struct dft_metrics_page *dft_view_metrics(struct dft_ingest *in, struct dft_nic_region *r)
{
	return in->ops->metrics(in, r);
}

static inline int dft_view_clock(struct dft_ingest *in, struct dft_nic_region *r, struct dft_clock_cal *out)
{
	return in->ops->clock(in, r, out);
}

static inline void dft_view_claims(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring,
				   struct dft_ring_claims *out)
{
	in->ops->claims(in, r, ring, out);
}

static inline uint64_t dft_view_dropped_no_ring(struct dft_ingest *in, struct dft_nic_region *r)
{
	return in->ops->dropped_no_ring(in, r);
}

#endif /* DFT_NIC_INGEST_H */
