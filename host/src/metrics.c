/* SPDX-License-Identifier: MIT */
/*
 * Component metrics in the region's metrics page: one entry per component, each under its own
 * seqlock so the daemon reads a consistent reading without ever making the host wait.
 *
 *   [M1] an entry is complete (component id and first reading) before the store-release of count
 *        that makes it visible; readers load count with acquire and never look past it.
 *   [M2] seqlock write, as the clock's [C1]: seq goes odd (CAS, acquire: a writer that follows
 *        another starts after the other's last store), every field is stored with release (so a
 *        reader that sees a new value also sees seq odd or newer and retries), then seq goes even
 *        with release.
 */
#include <errno.h>

#include "host_internal.h"

static struct dft_metrics_page *dft_metrics_page(void)
{
	return (struct dft_metrics_page *)(void *)((char *)dft_host.base + DFT_METRICS_OFF);
}

static struct dft_metric_entry *dft_metrics_find(struct dft_metrics_page *p, uint16_t id)
{
	uint32_t count = dft_load_acquire(&p->count); /* [M1] */

	for (uint32_t i = 0; i < count && i < DFT_METRICS_MAX; i++)
		if (dft_load_relaxed(&p->entry[i].component_id) == id)
			return &p->entry[i];
	return NULL;
}

static void dft_metrics_store(struct dft_metric_entry *e, const struct dft_component_metrics *m, uint64_t now)
{
	dft_store_release(&e->cpu_throttle_ppm, m->cpu_throttle_ppm);
	dft_store_release(&e->concurrency, m->concurrency);
	dft_store_release(&e->concurrency_limit, m->concurrency_limit);
	dft_store_release(&e->mem_pressure_ppm, m->mem_pressure_ppm);
	dft_store_release(&e->updated_ns, now);
}

/* First reading of a component: 0 (entry added), -EEXIST (another thread added it), -ENOSPC. */
static int dft_metrics_add(struct dft_metrics_page *p, uint16_t id, const struct dft_component_metrics *m, uint64_t now)
{
	struct dft_metric_entry *e;
	uint32_t count;
	int rc = 0;

	pthread_mutex_lock(&dft_host.metrics_lock);
	if (dft_metrics_find(p, id)) {
		rc = -EEXIST;
		goto unlock;
	}
	count = dft_load_relaxed(&p->count);
	if (count >= DFT_METRICS_MAX) {
		rc = -ENOSPC;
		goto unlock;
	}
	/* nobody reads past count yet: the seqlock is not needed for the first reading */
	e = &p->entry[count];
	dft_store_relaxed(&e->component_id, id);
	dft_metrics_store(e, m, now);
	dft_store_release(&p->count, count + 1); /* [M1] */
unlock:
	pthread_mutex_unlock(&dft_host.metrics_lock);
	return rc;
}

int dft_metrics_publish_at(uint16_t component_id, const struct dft_component_metrics *m, uint64_t now)
{
	struct dft_metrics_page *p;
	struct dft_metric_entry *e;
	uint32_t seq;
	int rc;

	if (!m || !component_id || !now || !dft_load_acquire(&dft_host.live) ||
	    component_id > dft_load_acquire(&dft_host.hdr->names_published))
		return -EINVAL;
	p = dft_metrics_page();
	e = dft_metrics_find(p, component_id);
	if (unlikely(!e)) {
		rc = dft_metrics_add(p, component_id, m, now);
		if (rc != -EEXIST)
			return rc;
		e = dft_metrics_find(p, component_id);
	}
	seq = dft_load_relaxed(&e->seq);
	if ((seq & 1u) ||
	    !__atomic_compare_exchange_n(&e->seq, &seq, seq + 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) /* [M2] */
		return -EBUSY;
	dft_metrics_store(e, m, now);
	dft_store_release(&e->seq, seq + 2); /* [M2] */
	return 0;
}

uint64_t dft_metrics_read_ns(void)
{
	if (!dft_load_acquire(&dft_host.live))
		return 0;
	return dft_load_acquire(&dft_metrics_page()->read_ns);
}

int dft_metrics_publish(uint16_t component_id, const struct dft_component_metrics *m)
{
	struct dft_clock_cal cal;

	if (!dft_load_acquire(&dft_host.live))
		return -EINVAL;
	/* the reading's time from the tick counter: clock_gettime would be a syscall on some VMs */
	dft_clock_current(&cal);
	return dft_metrics_publish_at(component_id, m, dft_ticks_to_ns(&cal, dft_ticks()));
}
