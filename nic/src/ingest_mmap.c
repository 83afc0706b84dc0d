/* SPDX-License-Identifier: MIT */
/*
 * The mmap ingest backend: the region is mapped into the daemon (emulation on a host core, or a DPU
 * that sees host memory). Ring headers are found from the validated geometry only; every index the
 * host publishes is checked by dft_ring_cons_avail before a slot is touched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

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
static int dft_mmap_evict = -1; /* -1: not probed yet */
static bool dft_mmap_evict_on = true;

static bool mmap_can_evict(void)
{
	if (!dft_mmap_evict_on)
		return false;
	if (dft_mmap_evict < 0) {
		unsigned a, b, c, d;

		/* CPUID leaf 7, EBX bit 23: CLFLUSHOPT */
		dft_mmap_evict = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 23));
	}
	return dft_mmap_evict;
}

__attribute__((target("clflushopt"))) static void mmap_evict(const char *slot)
{
	__builtin_ia32_clflushopt((void *)slot);
	__builtin_ia32_clflushopt((void *)(slot + DFT_CACHELINE));
}
#else
static bool dft_mmap_evict_on;

static bool mmap_can_evict(void)
{
	return false;
}

static void mmap_evict(const char *slot)
{
	(void)slot;
}
#endif

static struct dft_ring_hdr *ring_hdr(const struct dft_nic_region *r, uint32_t i)
{
	/* in bounds: rings_off + ring_count * ring_stride == region_size <= map_len (validated) */
	return dft_region_ring(r->base, r->g.rings_off, r->g.ring_stride, i);
}

void dft_ingest_mmap_evict(bool on)
{
	dft_mmap_evict_on = on;
}

static int mmap_attach(struct dft_nic_region *r)
{
	r->rings = calloc(r->g.ring_count, sizeof(*r->rings));
	if (!r->rings)
		return -ENOMEM;
	for (uint32_t i = 0; i < r->g.ring_count; i++)
		dft_ring_cons_attach(&r->rings[i].cons, ring_hdr(r, i), r->g.ring_slots);
	return 0;
}

static int mmap_poll(struct dft_nic_region *r, uint32_t ring, struct dft_slot *burst, uint32_t max)
{
	struct dft_ring_cons *c = &r->rings[ring].cons;
	int64_t n = dft_ring_cons_avail(c, max);
	uint64_t ahead;

	if (n < 0)
		return (int)n;
	if (mmap_can_evict()) {
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

static void mmap_release(struct dft_nic_region *r, uint32_t ring, uint32_t n)
{
	if (n)
		dft_ring_cons_release(&r->rings[ring].cons, n);
}

static bool mmap_empty(struct dft_nic_region *r)
{
	for (uint32_t i = 0; i < r->g.ring_count; i++) {
		struct dft_ring_cons *c = &r->rings[i].cons;

		uint64_t pending = dft_load_acquire(&c->hdr->head) - c->tail; /* [R1] */

		/* an impossible head has nothing readable behind it: it cannot hold a drain up */
		if (pending != 0 && pending <= (uint64_t)c->mask + 1)
			return false;
	}
	return true;
}

static void mmap_detach(struct dft_nic_region *r)
{
	free(r->rings);
	r->rings = NULL;
}

const struct dft_ingest_ops dft_ingest_mmap_ops = {
	.name = "mmap",
	.attach = mmap_attach,
	.poll = mmap_poll,
	.release = mmap_release,
	.empty = mmap_empty,
	.detach = mmap_detach,
};

const struct dft_ingest_ops *dft_ingest_by_name(const char *name)
{
	static const struct dft_ingest_ops *const all[] = {
		&dft_ingest_mmap_ops,
		&dft_ingest_dmadev_ops,
#ifdef DFT_HAVE_RDMA
		&dft_ingest_rdma_read_ops,
#endif
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (!strcmp(all[i]->name, name))
			return all[i];
	return NULL;
}
