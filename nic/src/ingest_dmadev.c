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

#include "ingest_map.h"
#include "log.h"

#define DMA_NB_DESC 1024u
#define DMA_STAGING_SLOTS 256u
#define DMA_SPIN_MAX 100000000u /* polls of a copy before the device is declared stuck */

struct dma_ingest {
	struct dft_ingest base;
	int16_t dev;
	struct rte_device *rdev;
	struct dft_slot *staging;
	rte_iova_t staging_iova;
	bool ready; /* the device is configured and started (at the first attach) */
};

struct dma_region {
	size_t len; /* registered length (page multiple) */
	struct dft_map_rings *rings; /* ring indices: consumer state over the mapping */
};

static int find_rte_device(struct dma_ingest *d, const char *name)
{
	struct rte_dev_iterator it;
	struct rte_device *dev;

	RTE_DEV_FOREACH(dev, "bus=vdev", &it) {
		if (strcmp(rte_dev_name(dev), name) == 0) {
			d->rdev = dev;
			return 0;
		}
	}
	return -ENODEV; /* not a vdev (a PCI engine): it needs no extra mapping call */
}

/* The first DMA device EAL created, configured with one mem-to-mem channel. */
static int dma_setup(struct dma_ingest *d)
{
	struct rte_dma_conf conf = {.nb_vchans = 1};
	struct rte_dma_vchan_conf vc = {.direction = RTE_DMA_DIR_MEM_TO_MEM, .nb_desc = DMA_NB_DESC};
	struct rte_dma_info info;
	int16_t id;
	int rc;

	if (d->ready)
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
	d->staging = rte_malloc("dft_dma_staging", DMA_STAGING_SLOTS * sizeof(struct dft_slot), 4096);
	if (!d->staging) {
		rte_dma_stop(id);
		return -ENOMEM;
	}
	d->staging_iova = rte_malloc_virt2iova(d->staging);
	find_rte_device(d, info.dev_name);
	d->dev = id;
	d->ready = true;
	return 0;
}

static int dma_create(const struct dft_ingest_cfg *cfg, struct dft_ingest **out)
{
	struct dma_ingest *d = calloc(1, sizeof(*d));

	(void)cfg;
	*out = NULL;
	if (!d)
		return -ENOMEM;
	d->base.ops = &dft_ingest_dmadev_ops;
	d->dev = -1;
	*out = &d->base;
	return 0;
}

/* The device must be stopped before EAL closes it, or its worker (dma_skeleton's thread) outlives it. */
static void dma_destroy(struct dft_ingest *in)
{
	struct dma_ingest *d = (struct dma_ingest *)in;

	if (d->ready) {
		rte_dma_stop(d->dev);
		rte_free(d->staging);
	}
	free(d);
}

static int dma_attach(struct dft_ingest *in, struct dft_nic_region *r)
{
	struct dma_ingest *d = (struct dma_ingest *)in;
	long pg = sysconf(_SC_PAGESIZE);
	struct dma_region *dr;
	int rc = r->map ? dma_setup(d) : -EINVAL;

	if (rc)
		return rc;
	dr = calloc(1, sizeof(*dr));
	if (!dr)
		return -ENOMEM;
	dr->len = (r->g.region_size + (size_t)pg - 1) & ~((size_t)pg - 1);
	rc = rte_extmem_register(r->map, dr->len, NULL, 0, (size_t)pg);
	if (rc) {
		rc = -rte_errno;
		goto err_free;
	}
	if (d->rdev) {
		rc = rte_dev_dma_map(d->rdev, r->map, (uint64_t)(uintptr_t)r->map, dr->len);
		/* a device without an IOMMU mapping step (software engines) reports ENOTSUP: nothing to do */
		if (rc && rte_errno != ENOTSUP) {
			rc = -rte_errno;
			goto err_unregister;
		}
	}
	rc = dft_map_rings_create(r, &dr->rings);
	if (rc)
		goto err_unmap;
	r->ingest_priv = dr;
	return 0;
err_unmap:
	if (d->rdev)
		rte_dev_dma_unmap(d->rdev, r->map, (uint64_t)(uintptr_t)r->map, dr->len);
err_unregister:
	rte_extmem_unregister(r->map, dr->len);
err_free:
	free(dr);
	return rc;
}

/* Wait for n submitted copies; 0 or -EIO. */
static int dma_wait(struct dma_ingest *d, uint16_t n)
{
	uint16_t done = 0, last;
	bool err = false;

	for (uint32_t spin = 0; done < n && spin < DMA_SPIN_MAX; spin++) {
		done += rte_dma_completed(d->dev, 0, (uint16_t)(n - done), &last, &err);
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

static int dma_poll(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, struct dft_slot *burst,
		    uint32_t max)
{
	struct dma_ingest *d = (struct dma_ingest *)in;
	struct dft_ring_cons *c = &((struct dma_region *)r->ingest_priv)->rings->cons[ring];
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
	if (rte_dma_copy(d->dev, 0, (rte_iova_t)(uintptr_t)dft_ring_cons_slot(c, 0), d->staging_iova,
			 n1 * sizeof(struct dft_slot), 0) < 0)
		return 0;
	ops++;
	if (n1 < n) {
		/* descriptors exhausted for the wrapped part: take the first part now, the rest next poll */
		if (rte_dma_copy(d->dev, 0, (rte_iova_t)(uintptr_t)c->slots,
				 d->staging_iova + n1 * sizeof(struct dft_slot), (n - n1) * sizeof(struct dft_slot), 0) < 0)
			n = n1;
		else
			ops++;
	}
	rte_dma_submit(d->dev, 0);
	if (dma_wait(d, ops))
		return 0; /* nothing consumed: the slots stay in the ring for the next poll */
	dft_ctr_add(&dft_nic_ctr.dma_copies, ops);
	memcpy(burst, d->staging, n * sizeof(struct dft_slot));
	return (int)n;
}

static void dma_release(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, uint32_t n)
{
	(void)in;
	if (n)
		dft_ring_cons_release(&((struct dma_region *)r->ingest_priv)->rings->cons[ring], n);
}

static bool dma_empty(struct dft_ingest *in, struct dft_nic_region *r)
{
	(void)in;
	return dft_map_rings_empty(((struct dma_region *)r->ingest_priv)->rings);
}

static void dma_detach(struct dft_ingest *in, struct dft_nic_region *r)
{
	struct dma_ingest *d = (struct dma_ingest *)in;
	struct dma_region *dr = r->ingest_priv;

	if (!dr)
		return;
	free(dr->rings);
	if (d->rdev)
		rte_dev_dma_unmap(d->rdev, r->map, (uint64_t)(uintptr_t)r->map, dr->len);
	rte_extmem_unregister(r->map, dr->len);
	free(dr);
	r->ingest_priv = NULL;
}

const struct dft_ingest_ops dft_ingest_dmadev_ops = {
	.name = "dmadev",
	.create = dma_create,
	.destroy = dma_destroy,
	.attach = dma_attach,
	.poll = dma_poll,
	.release = dma_release,
	.empty = dma_empty,
	.detach = dma_detach,
	/* the ring indices and the rest of the view are read from the mapping; the slots, the bulk, by DMA */
	.names_published = dft_map_names_published,
	.name_read = dft_map_name,
	.metrics = dft_map_metrics,
	.clock = dft_map_clock,
	.claims = dft_map_claims,
	.dropped_no_ring = dft_map_dropped_no_ring,
};
