/* SPDX-License-Identifier: MIT */
/*
 * The mmap ingest backend: the region is mapped into the daemon (emulation on a host core, or a DPU
 * that sees host memory). Ring consumers and the region view come from ingest_map.c; this file
 * copies slots out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ingest_map.h"

struct mmap_ingest {
	struct dft_ingest base;
	bool evict; /* [ingest] evict, and the CPU can */
};

#if defined(__x86_64__)
#include <cpuid.h>

/*
 * After copying a slot out, the daemon evicts its two lines (clflushopt). Emulated on a spare core,
 * the daemon's reads leave the lines in its own cache, and when the producer laps the ring each of
 * its stores must first take its line back from this core: measured with dft-bench-host, ~60 ns of
 * the application's ~90 ns per span. Evicted, the producer finds them in memory, which its
 * sequential stores prefetch well (27 ns per span). The flush costs the daemon ~4 ns per span
 * (dft-bench-nic ingest_filter, docs/benchmarks.md), far less than it saves the application. A DPU
 * reading by DMA or RDMA never owns the lines.
 */
static bool cpu_can_evict(void)
{
	unsigned a, b, c, d;

	/* CPUID leaf 7, EBX bit 23: CLFLUSHOPT */
	return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 23));
}

__attribute__((target("clflushopt"))) static void mmap_evict(const char *slot)
{
	__builtin_ia32_clflushopt((void *)slot);
	__builtin_ia32_clflushopt((void *)(slot + DFT_CACHELINE));
}
#else
static bool cpu_can_evict(void)
{
	return false;
}

static void mmap_evict(const char *slot)
{
	(void)slot;
}
#endif

static int mmap_create(const struct dft_ingest_cfg *cfg, struct dft_ingest **out)
{
	struct mmap_ingest *m = calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->base.ops = &dft_ingest_mmap_ops;
	m->evict = cfg->evict_slots && cpu_can_evict();
	*out = &m->base;
	return 0;
}

static void mmap_destroy(struct dft_ingest *in)
{
	free(in);
}

static int mmap_attach(struct dft_ingest *in, struct dft_nic_region *r)
{
	struct dft_map_rings *m;
	int rc;

	(void)in;
	if (!r->map)
		return -EINVAL; /* registered over the network: nothing to map */
	rc = dft_map_rings_create(r, &m);
	if (rc)
		return rc;
	r->ingest_priv = m;
	return 0;
}

static int mmap_poll(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, struct dft_slot *burst,
		     uint32_t max)
{
	struct dft_ring_cons *c = &((struct dft_map_rings *)r->ingest_priv)->cons[ring];
	int64_t n = dft_ring_cons_avail(c, max);
	uint64_t ahead;

	if (n < 0)
		return (int)n;
	if (((struct mmap_ingest *)in)->evict) {
		for (int64_t i = 0; i < n; i++) {
			const char *src = (const char *)dft_ring_cons_slot(c, (uint64_t)i);

			memcpy(&burst[i], src, sizeof(burst[i]));
			mmap_evict(src);
		}
	} else {
		for (int64_t i = 0; i < n; i++)
			memcpy(&burst[i], dft_ring_cons_slot(c, (uint64_t)i), sizeof(burst[i]));
	}
	/* the next burst of this ring is read only after every other ring's: ask for it now, so many
	 * rings do not leave the hardware prefetcher with more streams than it follows. Only slots
	 * already published (below the head we loaded): a line the producer has yet to write must not
	 * be pulled over here, or its next write would pay for taking it back. Slot addresses are
	 * masked into the ring, so this never touches memory outside the mapping. */
	ahead = c->head_cache - c->tail - (uint64_t)n;
	if (ahead > max)
		ahead = max;
	for (uint32_t i = 0; i < (uint32_t)ahead; i++) {
		const char *next = (const char *)dft_ring_cons_slot(c, (uint64_t)n + i);

		__builtin_prefetch(next);
		__builtin_prefetch(next + DFT_CACHELINE);
	}
	return (int)n;
}

static void mmap_release(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, uint32_t n)
{
	(void)in;
	if (n)
		dft_ring_cons_release(&((struct dft_map_rings *)r->ingest_priv)->cons[ring], n);
}

static bool mmap_empty(struct dft_ingest *in, struct dft_nic_region *r)
{
	(void)in;
	return dft_map_rings_empty(r->ingest_priv);
}

static void mmap_detach(struct dft_ingest *in, struct dft_nic_region *r)
{
	(void)in;
	free(r->ingest_priv);
	r->ingest_priv = NULL;
}

const struct dft_ingest_ops dft_ingest_mmap_ops = {
	.name = "mmap",
	.create = mmap_create,
	.destroy = mmap_destroy,
	.attach = mmap_attach,
	.poll = mmap_poll,
	.release = mmap_release,
	.empty = mmap_empty,
	.detach = mmap_detach,
	.names_published = dft_map_names_published,
	.name_read = dft_map_name,
	.metrics = dft_map_metrics,
	.clock = dft_map_clock,
	.claims = dft_map_claims,
	.dropped_no_ring = dft_map_dropped_no_ring,
	.waiting = dft_map_waiting,
};
