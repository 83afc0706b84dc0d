/* SPDX-License-Identifier: MIT */
/*
 * The dmadev ingest backend: slots are copied out of the host region by a DPDK DMA engine
 * (rte_dma), the way a DPU's DMA engine reaches host memory; `dma_skeleton` (a software dmadev,
 * EAL --vdev=dma_skeleton) stands in for hardware in tests. The ring indices are still read from
 * the mapping (two 8-byte loads per poll); the slots, which are the bulk, move by DMA.
 *
 * Setup per region: rte_extmem_register() the mapping and rte_dev_dma_map() it for the device,
 * IOVA = VA (the daemon refuses this backend when EAL did not choose IOVA-as-VA). A copy is one or
 * two DMA operations (the readable span of the ring may wrap) into the ring's DMA-able staging
 * buffer; its slots are then copied into the caller's burst and validated there like any other
 * private copy.
 *
 * A DMA engine answers in microseconds, not nanoseconds: waiting for each copy would leave the
 * core idle for that long per burst. So each poll that hands out slots also starts the copy of the
 * ring's next readable slots (a prefetch), which the engine completes while the worker judges this
 * burst; the next poll of the ring takes it when it starts where the ring's tail now is, and
 * discards it otherwise (the worker released fewer slots than it was given). The prefetched slots
 * are still the host's until released, so the copy reads them as stably as a copy made later
 * would; a host that rewrites them meanwhile gets them validated like any other bytes it wrote.
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
#define DMA_JOB_SLOTS 64u /* slots per copy: the worker's burst */
#define DMA_SPIN_MAX 100000000u /* polls of a copy before the device is declared stuck */

struct dma_ingest {
	struct dft_ingest base;
	int16_t dev;
	struct rte_device *rdev;
	bool ready; /* the device is configured and started (at the first attach) */
	/* operations in the order the engine completes them: a copy is done once `completed`
	 * reaches its done_at; an error fails every copy issued before it was seen */
	uint64_t issued, completed, failed_upto;
};

/* One copy of a ring's slots [pos, pos + n) into that ring's staging buffer. */
struct dma_job {
	uint64_t pos;
	uint64_t done_at; /* the engine's operation count once this copy's are complete */
	uint32_t n;
	bool live;
};

struct dma_region {
	size_t len; /* registered length (page multiple) */
	struct dft_map_rings *rings; /* ring indices: consumer state over the mapping */
	struct dft_slot *staging;    /* DMA_JOB_SLOTS per ring */
	rte_iova_t staging_iova;
	struct dma_job *jobs;        /* one per ring */
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

	if (d->ready)
		rte_dma_stop(d->dev);
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
	rc = -ENOMEM;
	dr->jobs = calloc(r->g.ring_count ? r->g.ring_count : 1, sizeof(*dr->jobs));
	dr->staging = rte_malloc("dft_dma_staging", (size_t)r->g.ring_count * DMA_JOB_SLOTS * sizeof(struct dft_slot),
				 4096);
	if (!dr->jobs || !dr->staging)
		goto err_free_staging;
	dr->staging_iova = rte_malloc_virt2iova(dr->staging);
	r->ingest_priv = dr;
	return 0;
err_free_staging:
	rte_free(dr->staging);
	free(dr->jobs);
	free(dr->rings);
err_unmap:
	if (d->rdev)
		rte_dev_dma_unmap(d->rdev, r->map, (uint64_t)(uintptr_t)r->map, dr->len);
err_unregister:
	rte_extmem_unregister(r->map, dr->len);
err_free:
	free(dr);
	return rc;
}

/* Takes what the engine has completed; an error fails every copy issued so far (they are redone). */
static void dma_reap(struct dma_ingest *d)
{
	uint64_t out = d->issued - d->completed;
	uint16_t last, n;
	bool err = false;

	if (!out)
		return;
	n = rte_dma_completed(d->dev, 0, (uint16_t)(out > UINT16_MAX ? UINT16_MAX : out), &last, &err);
	d->completed += n;
	dft_ctr_add(&dft_nic_ctr.dma_copies, n);
	if (err) {
		enum rte_dma_status_code st[64];

		dft_ctr_add(&dft_nic_ctr.dma_errors, 1);
		d->failed_upto = d->issued;
		/* the failed operation and what followed it are reported here, not by rte_dma_completed */
		n = rte_dma_completed_status(d->dev, 0, (uint16_t)RTE_MIN(d->issued - d->completed, (uint64_t)64), &last,
					     st);
		d->completed += n;
	}
}

/* Waits for job j: 0 when its slots are in the staging buffer, -EIO when they never will be. */
static int dma_job_wait(struct dma_ingest *d, struct dma_job *j)
{
	j->live = false;
	for (uint32_t spin = 0; d->completed < j->done_at; spin++) {
		if (spin == DMA_SPIN_MAX) {
			/* a stuck engine: the next copy waits for these operations as well */
			dft_ctr_add(&dft_nic_ctr.dma_errors, 1);
			return -EIO;
		}
		dma_reap(d);
		if (d->completed < j->done_at)
			rte_pause();
	}
	return j->done_at <= d->failed_upto ? -EIO : 0;
}

/* Starts the copy of up to want slots from pos into ring k's staging buffer (0 or 1 when the ring
 * wraps: the part up to its end). The slots copied, 0 when the engine took nothing. */
static uint32_t dma_job_start(struct dma_ingest *d, struct dma_region *dr, uint32_t k, uint64_t pos, uint32_t want)
{
	struct dft_ring_cons *c = &dr->rings->cons[k];
	struct dma_job *j = &dr->jobs[k];
	rte_iova_t dst = dr->staging_iova + (rte_iova_t)k * DMA_JOB_SLOTS * sizeof(struct dft_slot);
	uint32_t first = (uint32_t)(pos & c->mask);
	uint32_t n1 = want < c->mask + 1 - first ? want : c->mask + 1 - first; /* up to the end of the slots */
	uint32_t n = want;
	uint16_t ops = 0;

	if (rte_dma_copy(d->dev, 0, (rte_iova_t)(uintptr_t)&c->slots[first], dst, n1 * sizeof(struct dft_slot), 0) < 0)
		return 0;
	ops++;
	if (n1 < n) {
		/* descriptors exhausted for the wrapped part: take the first part now, the rest next time */
		if (rte_dma_copy(d->dev, 0, (rte_iova_t)(uintptr_t)c->slots, dst + n1 * sizeof(struct dft_slot),
				 (n - n1) * sizeof(struct dft_slot), 0) < 0)
			n = n1;
		else
			ops++;
	}
	rte_dma_submit(d->dev, 0);
	d->issued += ops;
	*j = (struct dma_job){.pos = pos, .done_at = d->issued, .n = n, .live = true};
	return n;
}

static int dma_poll(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, struct dft_slot *burst,
		    uint32_t max)
{
	struct dma_ingest *d = (struct dma_ingest *)in;
	struct dma_region *dr = r->ingest_priv;
	struct dft_ring_cons *c = &dr->rings->cons[ring];
	struct dma_job *j = &dr->jobs[ring];
	const struct dft_slot *stage = dr->staging + (size_t)ring * DMA_JOB_SLOTS;
	uint32_t n = 0;
	int64_t avail;

	if (max > DMA_JOB_SLOTS)
		max = DMA_JOB_SLOTS;
	if (j->live) {
		uint64_t pos = j->pos;
		uint32_t jn = j->n;

		/* a prefetch from where the tail is now, no larger than asked: it is this poll's copy */
		if (dma_job_wait(d, j) == 0 && pos == c->tail && jn <= max)
			n = jn;
	}
	if (!n) {
		avail = dft_ring_cons_avail(c, max);
		if (avail <= 0)
			return (int)avail;
		n = dma_job_start(d, dr, ring, c->tail, (uint32_t)avail);
		if (!n || dma_job_wait(d, j))
			return 0; /* nothing consumed: the slots stay in the ring for the next poll */
	}
	memcpy(burst, stage, n * sizeof(struct dft_slot));
	/* the next slots are copied while the worker judges these (an impossible head is the next
	 * poll's to report) */
	avail = dft_ring_cons_avail_from(c, n, max);
	if (avail > 0)
		dma_job_start(d, dr, ring, c->tail + n, (uint32_t)avail);
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
	/* the engine may still be copying out of the mapping, or into the staging buffer */
	for (uint32_t k = 0; k < r->g.ring_count; k++)
		if (dr->jobs[k].live)
			dma_job_wait(d, &dr->jobs[k]);
	rte_free(dr->staging);
	free(dr->jobs);
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
