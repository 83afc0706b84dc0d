/* SPDX-License-Identifier: MIT */
/*
 * The resource-contention rule's input: the region's metrics page, which the host rewrites under a
 * seqlock per entry. The page is hostile memory: count is clamped, every entry is copied out between
 * two reads of its sequence, and a component id that is not a published name is ignored. A torn
 * entry (writer busy) keeps that entry's previous reading, so a busy writer neither turns the rule
 * on nor off. Readings are refreshed at most every metrics_refresh_ns per region.
 *
 * Spans reach the NIC after they end, so "contended right now" is the wrong question: a span that
 * ran inside a contention window arrives when the window may have closed. Each refresh therefore
 * turns the readings into intervals per component (opened by the first reading over a threshold,
 * closed by the first reading under it, both at the readings' own times in the region's clock) and
 * keeps the last DFT_CONTENTION_HIST closed ones; the per-span cost is one table lookup and at most
 * that many interval tests. Hostile timestamps can only change which spans of that same region are
 * kept: every index is bounded and every interval is ordered.
 */
#include <string.h>

#include "contention.h"
#include "filter.h"

static bool over(const struct dft_filter_cfg *f, uint32_t throttle, uint32_t conc, uint32_t limit, uint32_t mem)
{
	return (f->cpu_throttle_ppm && throttle >= f->cpu_throttle_ppm) ||
	       (f->concurrency_at_limit && limit > 0 && conc >= limit) || (f->mem_pressure_ppm && mem >= f->mem_pressure_ppm);
}

/* Index of the component's track, -1 for none. */
static int track_idx(const struct dft_contention *c, uint16_t id)
{
	uint8_t t = id <= DFT_NAME_CAPACITY_MAX ? c->track_of[id] : 0;

	return t && t <= DFT_METRICS_MAX ? t - 1 : -1;
}

/*
 * A track for a component that turns contended. A free one if any, else the closed track whose last
 * edge is oldest: closing runs before opening, so at most DFT_METRICS_MAX - 1 tracks are open here.
 */
static struct dft_contention_track *track_new(struct dft_contention *c, uint16_t id)
{
	struct dft_contention_track *pick = NULL;

	for (unsigned i = 0; i < DFT_METRICS_MAX; i++) {
		struct dft_contention_track *t = &c->track[i];

		if (t->comp == 0) {
			pick = t;
			break;
		}
		if (!t->open && (!pick || t->last_ns < pick->last_ns))
			pick = t;
	}
	if (!pick)
		return NULL; /* cannot happen (see above); the span is then judged without this window */
	if (pick->comp) {
		c->track_of[pick->comp] = 0;
		c->evicted++;
	}
	memset(pick, 0, sizeof(*pick));
	pick->comp = id;
	c->track_of[id] = (uint8_t)(pick - c->track + 1);
	return pick;
}

static void track_close(struct dft_contention_track *t, uint64_t to)
{
	struct dft_contention_iv *iv = &t->iv[t->next];

	iv->from = t->open_from;
	iv->to = to > t->open_from ? to : t->open_from;
	t->next = (uint8_t)((t->next + 1) % DFT_CONTENTION_HIST);
	if (t->n < DFT_CONTENTION_HIST)
		t->n++;
	t->open = false;
	t->last_ns = iv->to;
}

/* Time of the current reading of comp (an entry naming it), else the region's now. */
static uint64_t reading_ns(const struct dft_contention *c, uint16_t id, uint64_t region_now_ns)
{
	for (unsigned i = 0; i < DFT_METRICS_MAX; i++)
		if (c->prev_id[i] == id)
			return c->prev_ns[i];
	return region_now_ns;
}

void dft_contention_refresh(struct dft_contention *c, const struct dft_filter_cfg *f,
			    const struct dft_metrics_page *pg, const struct dft_region_geom *g, uint32_t names_published,
			    uint64_t now_ns, uint64_t region_now_ns, bool force)
{
	uint8_t on[(DFT_NAME_CAPACITY_MAX + 8) / 8];
	uint32_t count;

	if (!force && now_ns < c->next_ns)
		return;
	c->next_ns = now_ns + f->metrics_refresh_ns;
	if (names_published > g->name_capacity)
		names_published = g->name_capacity;
	if (names_published > DFT_NAME_CAPACITY_MAX)
		names_published = DFT_NAME_CAPACITY_MAX;
	count = dft_load_acquire(&pg->count);
	if (count > DFT_METRICS_MAX)
		count = DFT_METRICS_MAX;
	memset(on, 0, sizeof(on));
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
		uint64_t at = dft_load_acquire(&e->updated_ns);

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
			c->prev_ns[i] = at ? at : region_now_ns;
		}
		if (c->prev_id[i] && c->prev_on[i])
			on[c->prev_id[i] / 8] |= (uint8_t)(1u << (c->prev_id[i] % 8));
	}
	/* entries beyond the (new) count are no longer in use */
	for (uint32_t i = count; i < DFT_METRICS_MAX; i++)
		c->prev_id[i] = c->prev_on[i] = 0;

	/* close first: a component no entry calls contended any more ends its interval at the reading
	 * that said so (or now, when its entry went away) */
	for (unsigned k = 0; k < DFT_METRICS_MAX; k++) {
		struct dft_contention_track *t = &c->track[k];

		if (t->open && !((on[t->comp / 8] >> (t->comp % 8)) & 1u))
			track_close(t, reading_ns(c, t->comp, region_now_ns));
	}
	/* then open: the first reading over a threshold starts the interval */
	for (uint32_t i = 0; i < count; i++) {
		uint16_t id = c->prev_id[i];
		int k = id && c->prev_on[i] ? track_idx(c, id) : -1;
		struct dft_contention_track *t = k >= 0 ? &c->track[k] : NULL;

		if (!id || !c->prev_on[i])
			continue;
		if (t && t->open)
			continue;
		if (!t && !(t = track_new(c, id)))
			continue;
		t->open = true;
		t->open_from = c->prev_ns[i];
		t->last_ns = c->prev_ns[i];
	}
	/* tell the host what has been seen (abi.h read_ns): the only word of the page the daemon
	 * writes, and nothing here ever reads it back */
	dft_store_release((uint64_t *)(uintptr_t)&pg->read_ns, region_now_ns);
}

bool dft_contention_on(const struct dft_contention *c, uint16_t id)
{
	int k = track_idx(c, id);

	return k >= 0 && c->track[k].open;
}

bool dft_contention_match(const struct dft_contention *c, uint16_t id, uint64_t start_ns, uint64_t end_ns)
{
	int k = track_idx(c, id);
	const struct dft_contention_track *t;

	if (k < 0)
		return false;
	t = &c->track[k];
	if (end_ns < start_ns)
		end_ns = start_ns;
	if (t->open && end_ns >= t->open_from)
		return true;
	for (unsigned i = 0; i < t->n; i++)
		if (start_ns <= t->iv[i].to && end_ns >= t->iv[i].from)
			return true;
	return false;
}
