/* SPDX-License-Identifier: MIT */
/*
 * The pipeline, run by the worker lcore (or by the main lcore in turn when there is only one):
 * control messages -> per ring: copy a burst out of the region -> validate -> filter -> batch ->
 * hand closed batches to the main lcore. Only this code touches the rings and the region's
 * per-ring counters; the host's counters are clamped so they never run backwards.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_cycles.h>

#include "ctx.h"

#define REFRESH_MS 10u
#define CAL_MS 100u
#define CORRUPT_SKIP_MS 1000u
#define POLL_PACE_US 2u /* a caught-up ring is polled again after this long: 2 us of delivery latency */
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

/*
 * Recompute produced / lost_ring_full / lost_no_ring / hops_dropped from the retired totals and live
 * regions. hops_dropped is not part of the span identity (a cut hop is a hop, not a span): it says
 * how many request-path hops the collector cannot rebuild because the host left them out.
 */
static void refresh_counters(struct dft_nic_ctx *ctx)
{
	uint64_t produced = ctx->retired_produced, full = ctx->retired_ring_full, no_ring = ctx->retired_no_ring;
	uint64_t hops = ctx->retired_dropped_hops;

	for (unsigned i = 0; i < ctx->n_regions; i++) {
		struct dft_nic_region *r = ctx->regions[i];
		const struct dft_region_hdr *h = r->base;
		struct dft_nic_region_stat *row = &ctx->region_rows[i];

		*row = (struct dft_nic_region_stat){.id = r->id, .pid = r->g.pid, .peer_pid = r->peer_pid,
						    .peer_uid = r->peer_uid, .instance_id = r->g.instance_id};
		for (uint32_t k = 0; k < r->g.ring_count; k++) {
			struct dft_nic_ring_state *rs = &r->rings[k];

			row->produced += clamp_up(&rs->produced, dft_load_relaxed(&rs->cons.hdr->produced));
			row->lost_ring_full += clamp_up(&rs->dropped_full, dft_load_relaxed(&rs->cons.hdr->dropped_full));
			/* after produced: the bound uses this refresh's clamp of it (saturating: hostile) */
			row->hops_dropped += dft_claim_clamp(&rs->dropped_hops,
							     dft_load_relaxed(&rs->cons.hdr->dropped_hops),
							     rs->produced > UINT64_MAX / DFT_NIC_HOPS_CUT_PER_SPAN
								     ? UINT64_MAX
								     : rs->produced * DFT_NIC_HOPS_CUT_PER_SPAN);
		}
		clamp_up(&r->dropped_no_ring, dft_load_relaxed(&h->dropped_no_ring));
		row->produced += r->dropped_no_ring;
		row->lost_no_ring = r->dropped_no_ring;
		produced += row->produced;
		full += row->lost_ring_full;
		no_ring += row->lost_no_ring;
		hops += row->hops_dropped;
	}
	/* each region's share as well: a host whose claims look wrong is found by its row */
	dft_nic_regions_publish(ctx->region_rows, ctx->n_regions);
	dft_ctr_set(&dft_nic_ctr.produced, produced);
	dft_ctr_set(&dft_nic_ctr.lost_ring_full, full);
	dft_ctr_set(&dft_nic_ctr.lost_no_ring, no_ring);
	dft_ctr_set(&dft_nic_ctr.hops_dropped, hops);
}

static void region_attach(struct dft_nic_ctx *ctx, struct dft_nic_region *r)
{
	r->gname = calloc((size_t)r->g.name_capacity + 1, sizeof(*r->gname));
	if (!r->gname || ctx->n_regions >= DFT_NIC_MAX_REGIONS || ctx->ingest->attach(r)) {
		free(r->gname);
		r->gname = NULL;
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
		ctx->retired_dropped_hops += r->rings[k].dropped_hops;
	}
	ctx->retired_produced += r->dropped_no_ring;
	ctx->retired_no_ring += r->dropped_no_ring;
	ctx->ingest->detach(r);
	free(r->gname);
	r->gname = NULL;
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

/*
 * May the region's registering peer trace as component id (a validated, published name)? The
 * answer is cached per name id: names never change once published.
 */
static bool comp_allowed(struct dft_nic_region *r, uint16_t id)
{
	char name[DFT_NAME_MAX + 1];

	if (!r->policy)
		return true;
	if (id == 0 || id > r->g.name_capacity || !r->comp_ok)
		return false;
	if (!r->comp_ok[id]) {
		if (dft_name_read(r->base, &r->g, r->names_published, id, name, sizeof(name)) < 0)
			return false; /* not published yet: refused now, looked at again next time */
		r->comp_ok[id] = dft_reg_policy_check(r->policy, r->peer_uid, r->peer_gid, name) ? 2 : 1;
	}
	return r->comp_ok[id] == 1;
}

static void count_invalid(enum dft_invalid_reason why)
{
	dft_ctr_add(&dft_nic_ctr.lost_invalid, 1);
	dft_ctr_add(&dft_nic_ctr.invalid[why], 1);
}

/* A batch with room for one more span is open; false when the hand-off to main is full. */
static bool ensure_open(struct dft_nic_ctx *ctx)
{
	if (ctx->open && dft_batch_full(ctx->open) && !close_batch(ctx))
		return false;
	if (!ctx->open) {
		if (ctx->closed && !close_batch(ctx))
			return false;
		if (dft_batch_create(ctx->cfg->batch_spans, &ctx->open))
			return false;
		dft_batch_set_open_tsc(ctx->open, rte_rdtsc());
	}
	return true;
}

/* NIC-global id of region-local name id (cached per region: names never change once published). */
static uint32_t gname(struct dft_nic_ctx *ctx, struct dft_nic_region *r, uint16_t id)
{
	char name[DFT_NAME_MAX + 1];
	uint32_t g;

	if (id == 0 || id > r->g.name_capacity)
		return ctx->empty_gname;
	g = r->gname[id];
	if (g == UINT32_MAX)
		return 0; /* the global table was full when we looked */
	if (g)
		return g;
	if (dft_name_read(r->base, &r->g, r->names_published, id, name, sizeof(name)) < 0)
		return ctx->empty_gname; /* not published yet (a region component): resolve later */
	g = dft_names_intern(ctx->names, name);
	r->gname[id] = g ? g : UINT32_MAX;
	if (!g)
		dft_ctr_add(&dft_nic_ctr.names_full, 1);
	return g;
}

static void count_reported(struct dft_nic_ctx *ctx, const struct dft_span_rec *rec)
{
	dft_ctr_add(&dft_nic_ctr.batched, 1);
	for (unsigned b = 0; b < DFT_KEEP_RULES; b++)
		if (rec->keep_reasons & (1u << b))
			dft_ctr_add(&dft_nic_ctr.kept[b], 1);
	dft_profiler_count(ctx->prof, rec->prof_key, true);
}

/* The hold window filtered a held span (root end, timeout, flush). */
static void hold_dropped(void *arg, const struct dft_span_rec *rec)
{
	struct dft_nic_ctx *ctx = arg;

	dft_ctr_add(&dft_nic_ctr.filtered, 1);
	dft_profiler_count(ctx->prof, rec->prof_key, false);
}

static void sync_hold(struct dft_nic_ctx *ctx)
{
	struct dft_hold_stats st;

	if (!ctx->hold)
		return;
	dft_hold_stats(ctx->hold, &st);
	dft_ctr_set(&dft_nic_ctr.held, st.held);
	dft_ctr_set(&dft_nic_ctr.hold_timeouts, st.timeouts);
	dft_ctr_set(&dft_nic_ctr.hold_root_drops, st.root_drops);
	dft_ctr_set(&dft_nic_ctr.hold_released, st.released);
	dft_ctr_set(&dft_nic_ctr.anomalous_evicted, st.anomalous_evicted);
	dft_ctr_set(&dft_nic_ctr.hold_path_drops, st.path_drops);
	dft_ctr_set(&dft_nic_ctr.hold_want_full, st.want_full);
	dft_ctr_set(&dft_nic_ctr.hold_extended, st.extended);
}

static uint64_t span_ns(const struct dft_nic_region *r, const struct dft_slot *s, uint64_t t)
{
	return (s->flags & DFT_SF_TS_NS) ? t : dft_ticks_to_ns(&r->cal, t);
}

/*
 * Span time moves to the latest end time seen. A host writes these times, so one further ahead
 * than clock_jump_ns of both span time and the NIC's own clock is a claim not acted on (counted):
 * it cannot make every held trace expire at once. It never goes back (stragglers and hosts whose
 * clock went back leave it where it is; the hold window's wall-clock bound covers them).
 */
static void span_clock(struct dft_nic_ctx *ctx, uint64_t end)
{
	uint64_t ref = ctx->span_now_ns > ctx->wall_real_ns ? ctx->span_now_ns : ctx->wall_real_ns;

	if (end <= ctx->span_now_ns)
		return;
	if (end - ref < (1ull << 63) && end - ref > ctx->cfg->prof.clock_jump_ns) {
		dft_ctr_add(&dft_nic_ctr.span_clock_jumps, 1);
		return;
	}
	ctx->span_now_ns = end;
}

static struct dft_hold_now hold_now(const struct dft_nic_ctx *ctx)
{
	return (struct dft_hold_now){.span_ns = ctx->span_now_ns, .wall_ns = ctx->now_ns};
}

/*
 * Run the rules and the hold window on a validated span. Returns its fate; for REPORT, rec has
 * the keep_reasons to batch it with. Filtered, held and lost spans are counted here.
 */
static enum dft_fate judge(struct dft_nic_ctx *ctx, struct dft_nic_region *r, const struct dft_slot *s,
			   const struct dft_slot *cont, enum dft_kind *kind, struct dft_span_rec *rec)
{
	uint16_t comp_local = s->component_id ? s->component_id : r->g.component_id;
	uint32_t comp = gname(ctx, r, comp_local), op = gname(ctx, r, s->op_id);
	struct dft_span_facts x = {0};
	uint64_t start = span_ns(r, s, s->start), end = span_ns(r, s, s->end), covered;
	struct dft_prof_obs obs;
	struct dft_hold_now now;
	enum dft_fate fate;
	int key = -1;

	*kind = dft_filter_kind(&ctx->filter, s, r->g.component_kind,
				ctx->filter.n_platform ? dft_names_str(ctx->names, comp) : NULL);
	x.kind = *kind;
	x.duration_ns = end > start ? end - start : 0;
	if (end < start)
		end = start;
	/* spans arrive as they end, so a span's children have normally been seen before it: note
	 * this one for its parent, take what its own children covered */
	dft_children_note(ctx->children, s->trace_id, s->parent_span_id, start, end);
	x.self_known = dft_children_take(ctx->children, s->trace_id, s->span_id, start, end, &covered);
	x.self_ns = x.duration_ns - covered;
	span_clock(ctx, end);
	now = hold_now(ctx);
	x.contended = ctx->filter.cfg.contention && dft_contention_match(&r->cont, comp_local, start, end);
	if (comp && op) {
		key = dft_profiler_key(ctx->prof, comp, op);
		if (key < 0)
			dft_ctr_set(&dft_nic_ctr.prof_keys_full, dft_profiler_keys_full(ctx->prof));
	}
	dft_profiler_limits(ctx->prof, key, &x.lim);
	rec->keep_reasons = dft_filter_decide(&ctx->filter, s, &x);
	rec->weak = dft_filter_weak_outlier(rec->keep_reasons, &x);
	rec->prof_key = key;
	/* judged against the thresholds of before this span, then part of the profile */
	obs = (struct dft_prof_obs){.end_ns = end, .duration_ns = x.duration_ns, .self_ns = x.self_ns,
				    .queue_ns = s->queue_ns, .self_known = x.self_known,
				    .explained = (rec->keep_reasons & (DFT_KEEP_ERROR | DFT_KEEP_EXPLICIT | DFT_KEEP_COLD_START |
								       DFT_KEEP_QUEUEING | DFT_KEEP_CONTENTION)) != 0};
	dft_profiler_observe(ctx->prof, key, &obs);
	if (!ctx->hold) {
		fate = rec->keep_reasons ? DFT_FATE_REPORT : DFT_FATE_FILTER;
	} else {
		memcpy(rec->trace_id, s->trace_id, DFT_TRACE_ID_LEN);
		rec->span_id = s->span_id;
		rec->parent_span_id = s->parent_span_id;
		rec->start_ns = start;
		rec->end_ns = end;
		rec->instance_id = r->g.instance_id;
		rec->pid = r->g.pid;
		rec->comp = comp;
		rec->op = op;
		rec->n_attrs = s->n_attrs;
		for (unsigned a = 0; a < s->n_attrs; a++) {
			rec->attr_key[a] = gname(ctx, r, s->attr_key[a]);
			rec->attr_val[a] = s->attr_val[a];
		}
		rec->queue_ns = s->queue_ns;
		rec->flags = s->flags;
		rec->status = s->status;
		rec->span_kind = s->span_kind;
		rec->kind = (uint8_t)*kind;
		/* a span with hops is not held: a hold record has no room for them */
		/* expiry before admission, span by span: what expires before this span is decided by
		 * the spans' times alone, not by how they were batched on the way here */
		dft_hold_expire(ctx->hold, &now, hold_dropped, ctx);
		if (s->n_cont) {
			uint64_t ids[DFT_SLOT_CONT_MAX * DFT_HOPS_PER_SLOT];
			unsigned n = 0;

			for (unsigned c = 0; c < s->n_cont && c < DFT_SLOT_CONT_MAX; c++) {
				const struct dft_hops_slot *hs = (const struct dft_hops_slot *)(const void *)&cont[c];

				for (unsigned k = 0; k < hs->n_hops && k < DFT_HOPS_PER_SLOT; k++)
					ids[n++] = hs->hop[k].span_id;
			}
			dft_hold_saw_hops(ctx->hold, s->trace_id, ids, n);
		}
		fate = dft_hold_admit(ctx->hold, rec, *kind != DFT_KIND_FUNCTION && s->n_cont == 0, &now, hold_dropped,
				      ctx);
		/* the hold gauges reach the counters once per step (dft_worker_step), not per span */
	}
	if (fate == DFT_FATE_FILTER) {
		dft_ctr_add(&dft_nic_ctr.filtered, 1);
		dft_profiler_count(ctx->prof, key, false);
	} else if (fate == DFT_FATE_OVERFLOW) {
		dft_ctr_add(&dft_nic_ctr.lost_hold_overflow, 1);
	}
	return fate;
}

/* Report the spans the hold window released (their traces turned anomalous). Returns work done. */
static int drain_released(struct dft_nic_ctx *ctx)
{
	const struct dft_span_rec *rec;
	int work = 0;

	while ((rec = dft_hold_release_peek(ctx->hold))) {
		if (!ensure_open(ctx))
			break;
		if (dft_batch_add_rec(ctx->open, ctx->names, rec)) {
			if (dft_batch_spans(ctx->open) == 0) {
				/* cannot fit even an empty batch (cannot happen: 6 names at most): filter it */
				hold_dropped(ctx, rec);
				dft_hold_release_pop(ctx->hold);
				continue;
			}
			if (!close_batch(ctx))
				break;
			continue;
		}
		count_reported(ctx, rec);
		dft_hold_release_pop(ctx->hold);
		work++;
		if (dft_batch_full(ctx->open))
			close_batch(ctx);
	}
	if (work)
		sync_hold(ctx);
	return work;
}

/* Hand the pending Profile batch to main (after any closed span batch). */
static void profile_handover(struct dft_nic_ctx *ctx)
{
	if (!ctx->profile_pending || ctx->closed)
		return;
	if (rte_ring_sp_enqueue(ctx->batches, ctx->profile_pending) == 0) {
		ctx->profile_pending = NULL;
		dft_ctr_add(&dft_nic_ctr.batches_built, 1);
		dft_ctr_add(&dft_nic_ctr.profiles_built, 1);
	}
}

static void profile_build(struct dft_nic_ctx *ctx)
{
	struct dft_batch *b;
	unsigned n;

	n = dft_profiler_snapshot(ctx->prof, ctx->names, ctx->rows, dft_profiler_max_keys(ctx->prof));
	if (n == 0 || dft_batch_profile(dft_clock_ns(CLOCK_REALTIME), ctx->rows, n, &b))
		return;
	if (ctx->profile_pending) {
		/* main has not taken the last one for a whole interval: the newer snapshot replaces it */
		dft_batch_destroy(ctx->profile_pending);
		dft_ctr_add(&dft_nic_ctr.profiles_dropped, 1);
	}
	ctx->profile_pending = b;
}

static void profile_tick(struct dft_nic_ctx *ctx)
{
	if (dft_profiler_tick(ctx->prof, ctx->now_ns) && ctx->cfg->ship_profiles)
		profile_build(ctx);
}

/*
 * At shutdown the last partial interval goes out too: it summarises the spans filtered since the
 * previous snapshot, and the collector names reconstructed hops from it. True once handed over.
 */
static bool profile_final(struct dft_nic_ctx *ctx)
{
	if (!ctx->final_profile && ctx->cfg->ship_profiles) {
		ctx->final_profile = true;
		profile_build(ctx);
	}
	profile_handover(ctx);
	return ctx->profile_pending == NULL;
}

int dft_worker_init(struct dft_nic_ctx *ctx)
{
	const struct dft_nic_config *cfg = ctx->cfg;
	int rc;

	ctx->filter.cfg = cfg->filter;
	ctx->filter.n_platform = cfg->n_platform;
	ctx->filter.platform = (const char(*)[DFT_NAME_MAX + 1])cfg->platform;
	rc = dft_names_create(cfg->max_names, &ctx->names);
	if (rc)
		return rc;
	ctx->empty_gname = dft_names_intern(ctx->names, "");
	rc = dft_profiler_create(&cfg->prof, &ctx->prof);
	if (rc)
		goto destroy_names;
	rc = dft_children_create(cfg->max_children, &ctx->children);
	if (rc)
		goto destroy_prof;
	ctx->rows = calloc(cfg->prof.max_keys, sizeof(*ctx->rows));
	if (!ctx->rows) {
		rc = -ENOMEM;
		goto destroy_children;
	}
	if (cfg->hold.enabled) {
		rc = dft_hold_create(&cfg->hold, &ctx->hold);
		if (rc)
			goto free_rows;
	}
	return 0;

free_rows:
	free(ctx->rows);
	ctx->rows = NULL;
destroy_children:
	dft_children_destroy(ctx->children);
	ctx->children = NULL;
destroy_prof:
	dft_profiler_destroy(ctx->prof);
	ctx->prof = NULL;
destroy_names:
	dft_names_destroy(ctx->names);
	ctx->names = NULL;
	return rc;
}

void dft_worker_fini(struct dft_nic_ctx *ctx)
{
	dft_hold_destroy(ctx->hold);
	free(ctx->rows);
	dft_children_destroy(ctx->children);
	dft_profiler_destroy(ctx->prof);
	dft_names_destroy(ctx->names);
	dft_batch_destroy(ctx->profile_pending);
	ctx->children = NULL;
	ctx->hold = NULL;
	ctx->rows = NULL;
	ctx->prof = NULL;
	ctx->names = NULL;
	ctx->profile_pending = NULL;
}

/*
 * Validate, filter and batch the spans in burst[0, n). Returns the slots consumed (a span whose
 * continuation slots are not all in the burst yet is left for the next poll), or -EAGAIN when
 * nothing more can be consumed because the hand-off to the main lcore is full.
 */
/*
 * The host publishes a new name before the slot that uses it, and that slot before the head that
 * makes it readable: a name id beyond the count read at the start of the poll may have been
 * published since. Re-read once (after the head load, so the newer count is visible) before calling
 * the slot invalid. Returns true when the count grew.
 */
static bool refresh_names(struct dft_nic_region *r)
{
	uint32_t np = dft_load_acquire(&((const struct dft_region_hdr *)r->base)->names_published);

	if (np > r->g.name_capacity)
		np = r->g.name_capacity;
	if (np <= r->names_published)
		return false;
	r->names_published = np;
	return true;
}

static int process(struct dft_nic_ctx *ctx, struct dft_nic_region *r, const struct dft_slot *burst, int n)
{
	struct dft_batch_src src = {.base = r->base, .g = &r->g, .names_published = r->names_published,
				    .cal = &r->cal};
	int i = 0;

	while (i < n) {
		const struct dft_slot *s = &burst[i];
		enum dft_invalid_reason why;
		struct dft_span_rec rec;
		enum dft_kind kind;
		int need, rc;

		if (dft_slot_validate(s, &r->g, r->names_published, &why)) {
			if (why == DFT_INVALID_BAD_NAME && refresh_names(r)) {
				src.names_published = r->names_published;
				continue; /* the same slot again, with the names published meanwhile */
			}
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
		dft_conts_validate(&burst[i + 1], (unsigned)(need - 1), &why);
		if (why == DFT_INVALID_BAD_NAME && refresh_names(r)) {
			src.names_published = r->names_published;
			continue;
		}
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
		if (!comp_allowed(r, s->component_id ? s->component_id : r->g.component_id)) {
			count_invalid(DFT_INVALID_NOT_ALLOWED); /* a process tracing as a service it is not */
			i += need;
			continue;
		}
		rc = judge(ctx, r, s, &burst[i + 1], &kind, &rec);
		if (rc == DFT_FATE_FILTER || rc == DFT_FATE_HELD || rc == DFT_FATE_OVERFLOW) {
			i += need;
			continue;
		}
		for (int attempt = 0;; attempt++) {
			if (!ensure_open(ctx))
				return i ? i : -EAGAIN;
			rc = dft_batch_add(ctx->open, &src, s, &burst[i + 1], kind, rec.keep_reasons);
			if (rc == 0 || attempt)
				break;
			if (!close_batch(ctx))
				return i ? i : -EAGAIN;
		}
		if (rc) {
			count_invalid(DFT_INVALID_BAD_NAME); /* cannot fit even an empty batch */
		} else {
			count_reported(ctx, &rec);
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
	if (ctx->filter.cfg.contention && ctx->now_ns >= r->cont.next_ns) {
		uint64_t torn = r->cont.torn, bad = r->cont.bad;

		/* the NIC's wall clock stands in for the region's only where a reading carries no time */
		dft_contention_refresh(&r->cont, &ctx->filter.cfg, r->base, &r->g, r->names_published, ctx->now_ns,
				       dft_clock_ns(CLOCK_REALTIME), false);
		if (r->cont.torn != torn)
			dft_ctr_add(&dft_nic_ctr.metrics_torn, r->cont.torn - torn);
		if (r->cont.bad != bad)
			dft_ctr_add(&dft_nic_ctr.metrics_bad, r->cont.bad - bad);
	}
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
		if (n < (int)DFT_NIC_BURST) {
			/*
			 * Caught up: leave this ring alone for POLL_PACE_US. Polling its head (and reading
			 * slots the producer is still writing next to) pulls those cache lines away from the
			 * producing core on every span; paced, it pays for that once per burst.
			 */
			rs->skip_until = now + ctx->tsc_hz / 1000000 * POLL_PACE_US;
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
	ctx->now_ns = dft_clock_ns(CLOCK_MONOTONIC);
	ctx->wall_real_ns = dft_clock_ns(CLOCK_REALTIME);
	work += handle_ctl(ctx);
	if (ctx->closed && !close_batch(ctx))
		return work; /* the main lcore is behind: leave the spans in the rings */
	profile_handover(ctx);
	if (ctx->hold) {
		struct dft_hold_now hn = hold_now(ctx);

		if (dft_hold_expire(ctx->hold, &hn, hold_dropped, ctx))
			work++;
		work += drain_released(ctx);
		sync_hold(ctx);
	}
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
	profile_tick(ctx);
	if (now >= ctx->next_refresh) {
		refresh_counters(ctx);
		dft_ctr_set(&dft_nic_ctr.children_evicted, dft_children_evicted(ctx->children));
		dft_ctr_set(&dft_nic_ctr.prof_clock_resets, dft_profiler_clock_resets(ctx->prof));
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
			/* the hold window is flushed (filtered) before the final counters; what it had
			 * already released is still reported */
			if (ctx->hold) {
				dft_hold_flush(ctx->hold, hold_dropped, ctx);
				drain_released(ctx);
				sync_hold(ctx);
			}
			if (!dft_hold_release_peek(ctx->hold) && close_batch(ctx) && !ctx->closed && close_batch(ctx) &&
			    !ctx->closed && profile_final(ctx)) {
				refresh_counters(ctx);
				/* the final counters are published; main unmaps whatever is still attached */
				for (unsigned i = 0; i < ctx->n_regions; i++) {
					ctx->ingest->detach(ctx->regions[i]);
					free(ctx->regions[i]->gname);
					ctx->regions[i]->gname = NULL;
				}
				if (ctx->profile_pending) {
					dft_batch_destroy(ctx->profile_pending);
					ctx->profile_pending = NULL;
					dft_ctr_add(&dft_nic_ctr.profiles_dropped, 1);
				}
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
