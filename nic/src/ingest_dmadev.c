/* SPDX-License-Identifier: MIT */
/*
 * The dmadev ingest backend: slots are copied out of the host region by a DPDK DMA engine
 * (rte_dma), the way a DPU's DMA engine reaches host memory; `dma_skeleton` (a software dmadev,
 * EAL --vdev=dma_skeleton) stands in for hardware in tests. The ring indices are still read from
 * the mapping (two 8-byte loads per poll); the slots, which are the bulk, move by DMA.
 *
 * Setup per region: rte_extmem_register() the mapping and rte_dev_dma_map() it for the device,
 * IOVA = VA (the daemon refuses this backend when EAL did not choose IOVA-as-VA). Per poll: one or
 * two copies (the readable span of the ring may wrap) into a DMA-able staging buffer, submitted
 * together, then polled to completion; the slots are then copied into the caller's burst and
 * validated there like any other private copy.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_dev.h>
#include <rte_dmadev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>
#include <rte_memory.h>
#include <rte_pause.h>

#include "ingest.h"
#include "log.h"

#define DMA_NB_DESC 1024u
#define DMA_STAGING_SLOTS 256u
#define DMA_SPIN_MAX 100000000u /* polls of a copy before the device is declared stuck */

static struct {
	int16_t dev;
	struct rte_device *rdev;
	struct dft_slot *staging;
	rte_iova_t staging_iova;
	bool ready;
} dma = {.dev = -1};

struct dma_region {
	size_t len; /* registered length (page multiple) */
};

static int find_rte_device(const char *name)
{
	struct rte_dev_iterator it;
	struct rte_device *d;

	RTE_DEV_FOREACH(d, "bus=vdev", &it) {
		if (strcmp(rte_dev_name(d), name) == 0) {
			dma.rdev = d;
			return 0;
		}
	}
	return -ENODEV; /* not a vdev (a PCI engine): it needs no extra mapping call */
}

/* The first DMA device EAL created, configured with one mem-to-mem channel. */
static int dma_setup(void)
{
	struct rte_dma_conf conf = {.nb_vchans = 1};
	struct rte_dma_vchan_conf vc = {.direction = RTE_DMA_DIR_MEM_TO_MEM, .nb_desc = DMA_NB_DESC};
	struct rte_dma_info info;
	int16_t id;
	int rc;

	if (dma.ready)
		return 0;
	if (rte_eal_iova_mode() != RTE_IOVA_VA) {
		DFT_LOG(ERR, ingest, "--ingest dmadev needs IOVA as VA (EAL --iova-mode=va)");
		return -ENOTSUP;
	}
	id = rte_dma_next_dev(0);
	if (id < 0) {
		DFT_LOG(ERR, ingest, "--ingest dmadev: no DMA device (e.g. EAL --vdev=dma_skeleton)");
		return -ENODEV;
	}
	rc = rte_dma_info_get(id, &info);
	if (rc)
		return rc;
	if (vc.nb_desc > info.max_desc)
		vc.nb_desc = info.max_desc;
	if (vc.nb_desc < info.min_desc)
		vc.nb_desc = info.min_desc;
	rc = rte_dma_configure(id, &conf);
	if (!rc)
		rc = rte_dma_vchan_setup(id, 0, &vc);
	if (!rc)
		rc = rte_dma_start(id);
	if (rc) {
		DFT_LOG(ERR, ingest, "dmadev %s: setup failed (%d)", info.dev_name, rc);
		return rc;
	}
	dma.staging = rte_malloc("dft_dma_staging", DMA_STAGING_SLOTS * sizeof(struct dft_slot), 4096);
	if (!dma.staging) {
		rte_dma_stop(id);
		return -ENOMEM;
	}
	dma.staging_iova = rte_malloc_virt2iova(dma.staging);
	find_rte_device(info.dev_name);
	dma.dev = id;
	dma.ready = true;
	return 0;
}

static int dma_attach(struct dft_nic_region *r)
{
	long pg = sysconf(_SC_PAGESIZE);
	struct dma_region *dr;
	int rc = dma_setup();

	if (rc)
		return rc;
	dr = calloc(1, sizeof(*dr));
	if (!dr)
		return -ENOMEM;
	dr->len = (r->g.region_size + (size_t)pg - 1) & ~((size_t)pg - 1);
	rc = rte_extmem_register(r->base, dr->len, NULL, 0, (size_t)pg);
	if (rc) {
		rc = -rte_errno;
		goto err_free;
	}
	if (dma.rdev) {
		rc = rte_dev_dma_map(dma.rdev, r->base, (uint64_t)(uintptr_t)r->base, dr->len);
		/* a device without an IOMMU mapping step (software engines) reports ENOTSUP: nothing to do */
		if (rc && rte_errno != ENOTSUP) {
			rc = -rte_errno;
			goto err_unregister;
		}
	}
	rc = dft_ingest_mmap_ops.attach(r); /* ring indices: consumer state over the mapping */
	if (rc)
		goto err_unmap;
	r->ingest_priv = dr;
	return 0;
err_unmap:
	if (dma.rdev)
		rte_dev_dma_unmap(dma.rdev, r->base, (uint64_t)(uintptr_t)r->base, dr->len);
err_unregister:
	rte_extmem_unregister(r->base, dr->len);
err_free:
	free(dr);
	return rc;
}

/* Wait for n submitted copies; 0 or -EIO. */
static int dma_wait(uint16_t n)
{
	uint16_t done = 0, last;
	bool err = false;

	for (uint32_t spin = 0; done < n && spin < DMA_SPIN_MAX; spin++) {
		done += rte_dma_completed(dma.dev, 0, (uint16_t)(n - done), &last, &err);
		if (err)
			break;
		if (done < n)
			rte_pause();
	}
	if (err || done < n) {
		dft_ctr_add(&dft_nic_ctr.dma_errors, 1);
		return -EIO;
	}
	return 0;
}

static int dma_poll(struct dft_nic_region *r, uint32_t ring, struct dft_slot *burst, uint32_t max)
{
	struct dft_ring_cons *c = &r->rings[ring].cons;
	uint32_t first, n1, n;
	uint16_t ops = 0;
	int64_t avail;

	if (max > DMA_STAGING_SLOTS)
		max = DMA_STAGING_SLOTS;
	avail = dft_ring_cons_avail(c, max);
	if (avail <= 0)
		return (int)avail;
	n = (uint32_t)avail;
	first = (uint32_t)(c->tail & c->mask);
	n1 = n < c->mask + 1 - first ? n : c->mask + 1 - first; /* up to the end of the slot array */
	if (rte_dma_copy(dma.dev, 0, (rte_iova_t)(uintptr_t)dft_ring_cons_slot(c, 0), dma.staging_iova,
			 n1 * sizeof(struct dft_slot), 0) < 0)
		return 0;
	ops++;
	if (n1 < n) {
		/* descriptors exhausted for the wrapped part: take the first part now, the rest next poll */
		if (rte_dma_copy(dma.dev, 0, (rte_iova_t)(uintptr_t)c->slots, dma.staging_iova + n1 * sizeof(struct dft_slot),
				 (n - n1) * sizeof(struct dft_slot), 0) < 0)
			n = n1;
		else
			ops++;
	}
	rte_dma_submit(dma.dev, 0);
	if (dma_wait(ops))
		return 0; /* nothing consumed: the slots stay in the ring for the next poll */
	dft_ctr_add(&dft_nic_ctr.dma_copies, ops);
	memcpy(burst, dma.staging, n * sizeof(struct dft_slot));
	return (int)n;
}

static void dma_release(struct dft_nic_region *r, uint32_t ring, uint32_t n)
{
	dft_ingest_mmap_ops.release(r, ring, n);
}

static bool dma_empty(struct dft_nic_region *r)
{
	return dft_ingest_mmap_ops.empty(r);
}

static void dma_detach(struct dft_nic_region *r)
{
	struct dma_region *dr = r->ingest_priv;

	dft_ingest_mmap_ops.detach(r);
	if (!dr)
		return;
	if (dma.rdev)
		rte_dev_dma_unmap(dma.rdev, r->base, (uint64_t)(uintptr_t)r->base, dr->len);
	rte_extmem_unregister(r->base, dr->len);
	free(dr);
	r->ingest_priv = NULL;
}

/* The device must be stopped before EAL closes it, or its worker (dma_skeleton's thread) outlives it. */
static void dma_shutdown(void)
{
	if (!dma.ready)
		return;
	rte_dma_stop(dma.dev);
	rte_free(dma.staging);
	dma.staging = NULL;
	dma.ready = false;
}

const struct dft_ingest_ops dft_ingest_dmadev_ops = {
	.name = "dmadev",
	.attach = dma_attach,
	.poll = dma_poll,
	.release = dma_release,
	.empty = dma_empty,
	.detach = dma_detach,
	.shutdown = dma_shutdown,
};
