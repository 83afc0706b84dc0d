/* SPDX-License-Identifier: MIT */
/*
 * The resource-contention rule's input: the region's metrics page, which the host rewrites under a
 * seqlock per entry. The page is hostile memory: count is clamped, every entry is copied out between
 * two reads of its sequence, and a component id that is not a published name is ignored. A torn
 * entry (writer busy) keeps that entry's previous reading, so a busy writer neither turns the rule
 * on nor off. The result is a bitmap over region-local component ids, refreshed at most every
 * metrics_refresh_ns per region, so the per-span cost is one bit test.
 */
#include <string.h>

#include "nic.h"

static bool over(const struct dft_filter_cfg *f, uint32_t throttle, uint32_t conc, uint32_t limit, uint32_t mem)
{
	return (f->cpu_throttle_ppm && throttle >= f->cpu_throttle_ppm) ||
	       (f->concurrency_at_limit && limit > 0 && conc >= limit) || (f->mem_pressure_ppm && mem >= f->mem_pressure_ppm);
}

void dft_contention_refresh(struct dft_contention *c, const struct dft_filter_cfg *f, const void *base,
			    const struct dft_region_geom *g, uint32_t names_published, uint64_t now_ns, bool force)
{
	/* in bounds: metrics_off == DFT_METRICS_OFF and the page lies below names_off (validated) */
	const struct dft_metrics_page *pg =
		(const struct dft_metrics_page *)(const void *)((const uint8_t *)base + g->metrics_off);
	uint32_t count;

	if (!force && now_ns < c->next_ns)
		return;
	c->next_ns = now_ns + f->metrics_refresh_ns;
	memset(c->on, 0, sizeof(c->on));
	if (names_published > g->name_capacity)
		names_published = g->name_capacity;
	count = dft_load_acquire(&pg->count);
	if (count > DFT_METRICS_MAX)
		count = DFT_METRICS_MAX;
	for (uint32_t i = 0; i < count; i++) {
		const struct dft_metric_entry *e = &pg->entry[i];
		uint32_t s1 = dft_load_acquire(&e->seq), s2;
		/* acquire on each field load (rather than one fence, which TSan cannot model) keeps the
		 * second sequence load after all of them: the seqlock reader's half */
		uint16_t id = dft_load_acquire(&e->component_id);
		uint32_t throttle = dft_load_acquire(&e->cpu_throttle_ppm);
		uint32_t conc = dft_load_acquire(&e->concurrency);
		uint32_t limit = dft_load_acquire(&e->concurrency_limit);
		uint32_t mem = dft_load_acquire(&e->mem_pressure_ppm);

		s2 = dft_load_relaxed(&e->seq);
		if ((s1 & 1u) || s1 != s2) {
			c->torn++;
		} else if (id == 0) {
			c->prev_id[i] = 0; /* unused entry */
			c->prev_on[i] = 0;
		} else if (id > names_published) {
			c->bad++;
			c->prev_id[i] = 0;
			c->prev_on[i] = 0;
		} else {
			c->prev_id[i] = id;
			c->prev_on[i] = over(f, throttle, conc, limit, mem);
		}
		if (c->prev_id[i] && c->prev_on[i])
			c->on[c->prev_id[i] / 8] |= (uint8_t)(1u << (c->prev_id[i] % 8));
	}
	/* entries beyond the (new) count are no longer in use */
	for (uint32_t i = count; i < DFT_METRICS_MAX; i++)
		c->prev_id[i] = c->prev_on[i] = 0;
}

bool dft_contention_on(const struct dft_contention *c, uint16_t id)
{
	return id <= DFT_NAME_CAPACITY_MAX && (c->on[id / 8] >> (id % 8)) & 1u;
}
