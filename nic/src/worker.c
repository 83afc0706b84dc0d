/* SPDX-License-Identifier: MIT */
/*
 * The pipeline, run by the worker lcore (or by the main lcore in turn when there is only one):
 * control messages -> per ring: copy a burst out of the region -> validate -> filter -> batch ->
 * hand closed batches to the main lcore. Only this code touches the rings and the region's
 * per-ring counters; the host's counters are clamped so they never run backwards.
 */
#include <errno.h>
#include <stdlib.h>

#include <rte_cycles.h>

#include "ctx.h"

#define REFRESH_MS 10u
#define CAL_MS 100u
#define CORRUPT_SKIP_MS 1000u
#define DRAIN_MAX_MS 2000u /* a host that keeps producing after EOF cannot hold a drain up forever */

static void send_to_main(struct dft_nic_ctx *ctx, enum dft_ctl_type type, struct dft_nic_region *r)
{
	struct dft_ctl_msg *m = malloc(sizeof(*m));

	if (!m)
		abort(); /* a lost DETACHED would leak a mapping forever; out of memory here is fatal */
	m->type = type;
	m->region = r;
	/* the reply ring is sized for every region plus STOPPED: it cannot be full */
	while (rte_ring_sp_enqueue(ctx->ctl_to_main, m))
		rte_pause();
}

static uint64_t clamp_up(uint64_t *last, uint64_t now)
{
	if (now > *last)
		*last = now;
	return *last;
}

/* Recompute produced / lost_ring_full / lost_no_ring from the retired totals and live regions. */
static void refresh_counters(struct dft_nic_ctx *ctx)
{
	uint64_t produced = ctx->retired_produced, full = ctx->retired_ring_full, no_ring = ctx->retired_no_ring;

	for (unsigned i = 0; i < ctx->n_regions; i++) {
		struct dft_nic_region *r = ctx->regions[i];
		const struct dft_region_hdr *h = r->base;

		for (uint32_t k = 0; k < r->g.ring_count; k++) {
			struct dft_nic_ring_state *rs = &r->rings[k];

			produced += clamp_up(&rs->produced, dft_load_relaxed(&rs->cons.hdr->produced));
			full += clamp_up(&rs->dropped_full, dft_load_relaxed(&rs->cons.hdr->dropped_full));
		}
		clamp_up(&r->dropped_no_ring, dft_load_relaxed(&h->dropped_no_ring));
		produced += r->dropped_no_ring;
		no_ring += r->dropped_no_ring;
	}
	dft_ctr_set(&dft_nic_ctr.produced, produced);
	dft_ctr_set(&dft_nic_ctr.lost_ring_full, full);
	dft_ctr_set(&dft_nic_ctr.lost_no_ring, no_ring);
}

static void region_attach(struct dft_nic_ctx *ctx, struct dft_nic_region *r)
{
	if (ctx->n_regions >= DFT_NIC_MAX_REGIONS || ctx->ingest->attach(r)) {
		/* cannot happen: main refuses beyond the limit; give it back rather than leak it */
		send_to_main(ctx, DFT_CTL_DETACHED, r);
		return;
	}
	if (dft_clock_cal_read(r->base, &r->cal) == 0)
		r->cal_tsc = 1;
	ctx->detaching[ctx->n_regions] = false;
	ctx->detach_deadline[ctx->n_regions] = 0;
	ctx->regions[ctx->n_regions++] = r;
	refresh_counters(ctx);
}

static void region_retire(struct dft_nic_ctx *ctx, unsigned i)
{
	struct dft_nic_region *r = ctx->regions[i];

	refresh_counters(ctx);
	for (uint32_t k = 0; k < r->g.ring_count; k++) {
		ctx->retired_produced += r->rings[k].produced;
		ctx->retired_ring_full += r->rings[k].dropped_full;
	}
	ctx->retired_produced += r->dropped_no_ring;
	ctx->retired_no_ring += r->dropped_no_ring;
	ctx->ingest->detach(r);
	ctx->n_regions--;
	ctx->regions[i] = ctx->regions[ctx->n_regions];
	ctx->detaching[i] = ctx->detaching[ctx->n_regions];
	ctx->detach_deadline[i] = ctx->detach_deadline[ctx->n_regions];
	dft_ctr_add(&dft_nic_ctr.regions_retired, 1);
	refresh_counters(ctx);
	send_to_main(ctx, DFT_CTL_DETACHED, r);
}

static int handle_ctl(struct dft_nic_ctx *ctx)
{
	void *objs[16];
	unsigned n = rte_ring_sc_dequeue_burst(ctx->ctl_to_worker, objs, 16, NULL);

	for (unsigned i = 0; i < n; i++) {
		struct dft_ctl_msg *m = objs[i];

		switch (m->type) {
		case DFT_CTL_ATTACH:
			region_attach(ctx, m->region);
			break;
		case DFT_CTL_DETACH:
			for (unsigned k = 0; k < ctx->n_regions; k++)
				if (ctx->regions[k] == m->region) {
					ctx->detaching[k] = true;
					ctx->detach_deadline[k] = rte_rdtsc() + ctx->tsc_hz / 1000 * DRAIN_MAX_MS;
				}
			break;
		case DFT_CTL_STOP:
			ctx->stopping = true;
			ctx->stop_deadline = rte_rdtsc() + ctx->tsc_hz / 1000 * DRAIN_MAX_MS;
			break;
		default:
			break;
		}
		free(m);
	}
	return (int)n;
}

/* Move the open batch to the hand-off; false when an earlier closed batch is still waiting. */
static bool close_batch(struct dft_nic_ctx *ctx)
{
	if (ctx->closed) {
		if (rte_ring_sp_enqueue(ctx->batches, ctx->closed))
			return false;
		ctx->closed = NULL;
	}
	if (ctx->open && dft_batch_spans(ctx->open)) {
		dft_ctr_add(&dft_nic_ctr.batches_built, 1);
		if (rte_ring_sp_enqueue(ctx->batches, ctx->open))
			ctx->closed = ctx->open;
		ctx->open = NULL;
	}
	return true;
}

static void count_invalid(enum dft_invalid_reason why)
{
	dft_ctr_add(&dft_nic_ctr.lost_invalid, 1);
	dft_ctr_add(&dft_nic_ctr.invalid[why], 1);
}

/*
 * Validate, filter and batch the spans in burst[0, n). Returns the slots consumed (a span whose
 * continuation slots are not all in the burst yet is left for the next poll), or -EAGAIN when
 * nothing more can be consumed because the hand-off to the main lcore is full.
 */
static int process(struct dft_nic_ctx *ctx, struct dft_nic_region *r, const struct dft_slot *burst, int n)
{
	struct dft_batch_src src = {.base = r->base, .g = &r->g, .names_published = r->names_published,
				    .cal = &r->cal};
	int i = 0;

	while (i < n) {
		const struct dft_slot *s = &burst[i];
		enum dft_invalid_reason why;
		char comp[DFT_NAME_MAX + 1] = "";
		enum dft_kind kind;
		uint32_t keep;
		int need, rc;

		if (dft_slot_validate(s, &r->g, r->names_published, &why)) {
			/* skip its continuation too when the count is believable and all of it is here */
			need = (why != DFT_INVALID_BAD_TYPE && s->n_cont <= DFT_SLOT_CONT_MAX) ? 1 + s->n_cont : 1;
			if (i + need > n) {
				if (i > 0)
					break; /* the rest comes with the next poll: one span, one count */
				need = 1;  /* published without its continuation: the ring itself is lying */
			}
			count_invalid(why);
			i += need;
			continue;
		}
		need = 1 + s->n_cont;
		if (i + need > n)
			break;
		for (int c = 1; c < need; c++)
			if (dft_cont_validate(&burst[i + c], r->names_published, &why))
				break;
		if (why != DFT_INVALID_NONE) {
			count_invalid(why);
			i += need;
			continue;
		}
		if (!(s->flags & DFT_SF_TS_NS) && !r->cal_tsc) {
			count_invalid(DFT_INVALID_BAD_TIME); /* ticks and never a usable calibration */
			i += need;
			continue;
		}
		if (ctx->filter.n_platform)
			dft_name_read(r->base, &r->g, r->names_published, s->component_id ? s->component_id
											  : r->g.component_id,
				      comp, sizeof(comp));
		kind = dft_filter_kind(&ctx->filter, s, r->g.component_kind, comp);
		keep = dft_filter_decide(s, kind);
		if (!keep) {
			dft_ctr_add(&dft_nic_ctr.filtered, 1);
			i += need;
			continue;
		}
		for (int attempt = 0;; attempt++) {
			if (!ctx->open) {
				if (ctx->closed && !close_batch(ctx))
					return i ? i : -EAGAIN;
				if (dft_batch_create(ctx->cfg->batch_spans, &ctx->open))
					return i ? i : -EAGAIN;
				dft_batch_set_open_tsc(ctx->open, rte_rdtsc());
			}
			rc = dft_batch_add(ctx->open, &src, s, &burst[i + 1], kind, keep);
			if (rc == 0 || attempt)
				break;
			if (!close_batch(ctx))
				return i ? i : -EAGAIN;
		}
		if (rc) {
			count_invalid(DFT_INVALID_BAD_NAME); /* cannot fit even an empty batch */
		} else {
			dft_ctr_add(&dft_nic_ctr.batched, 1);
			if (dft_batch_full(ctx->open))
				close_batch(ctx);
		}
		i += need;
	}
	return i;
}

static int poll_region(struct dft_nic_ctx *ctx, struct dft_nic_region *r, uint64_t now)
{
	const struct dft_region_hdr *h = r->base;
	uint32_t np = dft_load_acquire(&h->names_published);
	int work = 0;

	r->names_published = np > r->g.name_capacity ? r->g.name_capacity : np;
	for (uint32_t k = 0; k < r->g.ring_count; k++) {
		struct dft_nic_ring_state *rs = &r->rings[k];
		int n, used;

		if (rs->skip_until > now)
			continue;
		n = ctx->ingest->poll(r, k, ctx->burst, DFT_NIC_BURST);
		if (n < 0) {
			/* impossible head: count once, leave the ring alone for a while, never spin on it */
			dft_ctr_add(&dft_nic_ctr.ring_corrupt, 1);
			dft_ctr_add(&dft_nic_ctr.invalid[DFT_INVALID_RING_CORRUPT], 1);
			rs->skip_until = now + ctx->tsc_hz / 1000 * CORRUPT_SKIP_MS;
			continue;
		}
		if (n == 0)
			continue;
		used = process(ctx, r, ctx->burst, n);
		if (used < 0)
			return work ? work : 0;
		ctx->ingest->release(r, k, (uint32_t)used);
		work += used;
	}
	return work;
}

int dft_worker_step(struct dft_nic_ctx *ctx)
{
	uint64_t now = rte_rdtsc();
	int work = 0;

	if (ctx->stopped)
		return 0;
	work += handle_ctl(ctx);
	if (ctx->closed && !close_batch(ctx))
		return work; /* the main lcore is behind: leave the spans in the rings */
	for (unsigned i = 0; i < ctx->n_regions; i++)
		work += poll_region(ctx, ctx->regions[i], now);
	if (ctx->open && dft_batch_spans(ctx->open) && now - dft_batch_open_tsc(ctx->open) >= ctx->flush_tsc &&
	    __atomic_load_n(&dft_nic_tx_ready, __ATOMIC_RELAXED))
		close_batch(ctx);
	if (now >= ctx->next_cal) {
		for (unsigned i = 0; i < ctx->n_regions; i++) {
			struct dft_clock_cal c;

			/* a failed read (writer busy, hostile values) keeps the last good calibration */
			if (dft_clock_cal_read(ctx->regions[i]->base, &c) == 0) {
				ctx->regions[i]->cal = c;
				ctx->regions[i]->cal_tsc = now | 1;
			}
		}
		ctx->next_cal = now + ctx->tsc_hz / 1000 * CAL_MS;
	}
	if (now >= ctx->next_refresh) {
		refresh_counters(ctx);
		ctx->next_refresh = now + ctx->tsc_hz / 1000 * REFRESH_MS;
	}
	for (unsigned i = 0; i < ctx->n_regions;) {
		if (ctx->detaching[i] && (ctx->ingest->empty(ctx->regions[i]) ||
					  now >= ctx->detach_deadline[i])) {
			region_retire(ctx, i);
			work++;
			continue;
		}
		i++;
	}
	if (ctx->stopping && work == 0) {
		bool empty = true;

		for (unsigned i = 0; i < ctx->n_regions; i++)
			empty = empty && ctx->ingest->empty(ctx->regions[i]);
		/* drained, or a ring that can never drain (corrupt, stalled): stop after a bound */
		if (empty || now >= ctx->stop_deadline) {
			if (close_batch(ctx) && !ctx->closed && close_batch(ctx) && !ctx->closed) {
				refresh_counters(ctx);
				/* the final counters are published; main unmaps whatever is still attached */
				for (unsigned i = 0; i < ctx->n_regions; i++)
					ctx->ingest->detach(ctx->regions[i]);
				ctx->n_regions = 0;
				dft_batch_destroy(ctx->open);
				ctx->open = NULL;
				__atomic_store_n(&ctx->stopped, true, __ATOMIC_RELEASE);
				send_to_main(ctx, DFT_CTL_STOPPED, NULL);
			}
			work++;
		}
	}
	return work;
}

bool dft_worker_stopped(const struct dft_nic_ctx *ctx)
{
	return __atomic_load_n(&ctx->stopped, __ATOMIC_ACQUIRE);
}
