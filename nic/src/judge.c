/* SPDX-License-Identifier: MIT */
/*
 * Judging one validated span (judge.h): its NIC-global names and ns times, what its children
 * covered (self time), the rules, the profile, span time and the hold window. Every span's fate
 * is counted here or by the caller that batches it.
 */
#include <string.h>

#include "ctx.h"
#include "judge.h"

struct judge_src {
	struct dft_nic_ctx *ctx;
	struct dft_nic_region *r;
};

/* A name the region published but this NIC has not interned yet: read it through the view once. */
static __attribute__((noinline)) uint32_t gname_slow(struct dft_nic_ctx *ctx, struct dft_nic_region *r, uint16_t id)
{
	char name[DFT_NAME_MAX + 1];
	uint32_t g;

	if (dft_view_name(ctx->ingest, r, r->names_published, id, name, sizeof(name)) < 0)
		return ctx->empty_gname; /* not published yet (a region component): resolve later */
	g = dft_names_intern(ctx->names, name);
	r->gname[id] = g ? g : UINT32_MAX;
	if (!g)
		dft_ctr_add(&dft_nic_ctr.names_full, 1);
	return g;
}

/* NIC-global id of region-local name id (cached per region: names never change once published).
 * Inline: it runs for the component, the operation and every attribute key of every span. */
static inline uint32_t gname(void *arg, uint16_t id)
{
	struct dft_nic_ctx *ctx = ((struct judge_src *)arg)->ctx;
	struct dft_nic_region *r = ((struct judge_src *)arg)->r;
	uint32_t g;

	if (id == 0 || id > r->g.name_capacity)
		return ctx->empty_gname;
	g = r->gname[id];
	if (g == UINT32_MAX)
		return 0; /* the global table was full when we looked */
	return g ? g : gname_slow(ctx, r, id);
}

void dft_judge_reported(struct dft_nic_ctx *ctx, const struct dft_span_rec *rec)
{
	dft_ctr_add(&dft_nic_ctr.batched, 1);
	dft_ctr_add(&dft_tenant_ctr[rec->tenant].batched, 1);
	for (unsigned b = 0; b < DFT_KEEP_RULES; b++)
		if (rec->keep_reasons & (1u << b))
			dft_ctr_add(&dft_nic_ctr.kept[b], 1);
	dft_profiler_count(ctx->prof, rec->prof_key, true);
}

/* The hold window filtered a held span (root end, timeout, flush). */
void dft_judge_hold_dropped(void *arg, const struct dft_span_rec *rec)
{
	struct dft_nic_ctx *ctx = arg;

	dft_ctr_add(&dft_nic_ctr.filtered, 1);
	dft_ctr_add(&dft_tenant_ctr[rec->tenant].filtered, 1);
	dft_ctr_set(&dft_tenant_ctr[rec->tenant].held, dft_tenant_ctr[rec->tenant].held - 1);
	dft_profiler_count(ctx->prof, rec->prof_key, false);
}

void dft_judge_sync_hold(struct dft_nic_ctx *ctx)
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

/*
 * Span time is kept per region and the NIC's is the slowest active region's. A host writes these
 * times: one region racing ahead (a lying host, or a replay faster than the rest) moves only its
 * own clock, so it cannot make other tenants' held traces expire early; one holding its clock
 * back at worst sends held traces to the wall-clock bound. A region that wrote nothing for a hold
 * time of the NIC's clock is left out, so an idle app does not stop time.
 */
static bool clock_idle(const struct dft_nic_ctx *ctx, const struct dft_nic_region *r)
{
	return ctx->now_ns - r->span_seen_ns > ctx->cfg->hold.hold_ns;
}

void dft_judge_clock_settle(struct dft_nic_ctx *ctx)
{
	struct dft_nic_region *min = NULL;

	for (unsigned i = 0; i < ctx->n_regions; i++) {
		struct dft_nic_region *r = ctx->regions[i];

		if (!r->span_now_ns || clock_idle(ctx, r))
			continue;
		if (!min || r->span_now_ns < min->span_now_ns)
			min = r;
	}
	ctx->clock_min = min;
	if (min && min->span_now_ns > ctx->span_now_ns)
		ctx->span_now_ns = min->span_now_ns;
}

/*
 * The region's span time moves to the latest end it wrote, never back; a span ending more than
 * clock_jump_ns ahead of both that and the NIC's own clock is a claim not acted on (counted).
 */
static void span_clock(struct dft_nic_ctx *ctx, struct dft_nic_region *r, uint64_t end)
{
	uint64_t ref = r->span_now_ns > ctx->wall_real_ns ? r->span_now_ns : ctx->wall_real_ns;
	bool was_idle = clock_idle(ctx, r);

	r->span_seen_ns = ctx->now_ns;
	if (end <= r->span_now_ns)
		return;
	if (end - ref < (1ull << 63) && end - ref > ctx->cfg->prof.clock_jump_ns) {
		dft_ctr_add(&dft_nic_ctr.span_clock_jumps, 1);
		return;
	}
	r->span_now_ns = end;
	/* only the slowest region's progress (or a region joining) can move the NIC's span time */
	if (r == ctx->clock_min || !ctx->clock_min || was_idle)
		dft_judge_clock_settle(ctx);
}

struct dft_hold_now dft_judge_hold_now(const struct dft_nic_ctx *ctx)
{
	return (struct dft_hold_now){.span_ns = ctx->span_now_ns, .wall_ns = ctx->now_ns};
}

/*
 * Decode a validated span into rec (span.h), run the rules and the hold window on it. Returns its
 * fate; for REPORT, rec is what to batch (kind and keep_reasons set). Filtered, held and lost spans
 * are counted here.
 */
enum dft_fate dft_judge(struct dft_nic_ctx *ctx, struct dft_nic_region *r, const struct dft_slot *s,
			const struct dft_slot *cont, struct dft_span_rec *rec)
{
	uint16_t comp_local = s->component_id ? s->component_id : r->g.component_id;
	struct judge_src src = {.ctx = ctx, .r = r};
	struct dft_span_facts x = {0};
	uint64_t start, end, covered;
	struct dft_prof_obs obs;
	struct dft_hold_now now;
	enum dft_fate fate;
	int key = -1;

	dft_span_decode(s, cont, &r->g, &r->cal, gname, &src, rec);
	start = rec->start_ns;
	end = rec->end_ns;
	rec->tenant = r->tenant;
	rec->kind = (uint8_t)dft_filter_kind(&ctx->filter, rec, r->g.component_kind,
					     ctx->filter.n_platform ? dft_names_str(ctx->names, rec->comp) : NULL);
	x.kind = (enum dft_kind)rec->kind;
	x.duration_ns = end - start;
	/* spans arrive as they end, so a span's children have normally been seen before it: note
	 * this one for its parent, take what its own children covered */
	dft_children_note(ctx->children, rec->trace_id, rec->parent_span_id, start, end);
	x.self_known = dft_children_take(ctx->children, rec->trace_id, rec->span_id, start, end, &covered);
	x.self_ns = x.duration_ns - covered;
	span_clock(ctx, r, end);
	now = dft_judge_hold_now(ctx);
	x.contended = ctx->filter.cfg.contention && dft_contention_match(&r->cont, comp_local, start, end);
	if (rec->comp && rec->op) {
		key = dft_profiler_key(ctx->prof, rec->comp, rec->op);
		if (key < 0)
			dft_ctr_set(&dft_nic_ctr.prof_keys_full, dft_profiler_keys_full(ctx->prof));
	}
	dft_profiler_limits(ctx->prof, key, &x.lim);
	rec->keep_reasons = dft_filter_decide(&ctx->filter, rec, &x);
	rec->weak = dft_filter_weak_outlier(rec->keep_reasons, &x);
	rec->prof_key = key;
	/* judged against the thresholds of before this span, then part of the profile */
	obs = (struct dft_prof_obs){.end_ns = end, .duration_ns = x.duration_ns, .self_ns = x.self_ns,
				    .queue_ns = rec->queue_ns, .self_known = x.self_known,
				    .explained = (rec->keep_reasons & (DFT_KEEP_ERROR | DFT_KEEP_EXPLICIT | DFT_KEEP_COLD_START |
								       DFT_KEEP_QUEUEING | DFT_KEEP_CONTENTION)) != 0};
	dft_profiler_observe(ctx->prof, key, &obs);
	if (!ctx->hold) {
		fate = rec->keep_reasons ? DFT_FATE_REPORT : DFT_FATE_FILTER;
	} else {
		/* expiry before admission, span by span: what expires before this span is decided by
		 * the spans' times alone, not by how they were batched on the way here */
		dft_hold_expire(ctx->hold, &now, dft_judge_hold_dropped, ctx);
		if (rec->n_cont) {
			uint64_t ids[DFT_SLOT_CONT_MAX * DFT_HOPS_PER_SLOT];
			unsigned n = 0;

			for (unsigned c = 0; c < rec->n_cont && c < DFT_SLOT_CONT_MAX; c++) {
				const struct dft_hops_slot *hs = (const struct dft_hops_slot *)(const void *)&cont[c];

				for (unsigned k = 0; k < hs->n_hops && k < DFT_HOPS_PER_SLOT; k++)
					ids[n++] = hs->hop[k].span_id;
			}
			dft_hold_saw_hops(ctx->hold, rec->trace_id, ids, n);
		}
		/* a span with continuation slots (hops) is not held: a held record outlives its burst */
		fate = dft_hold_admit(ctx->hold, rec, rec->kind != DFT_KIND_FUNCTION && rec->n_cont == 0, &now,
				      dft_judge_hold_dropped, ctx);
		/* the hold gauges reach the counters once per step (dft_worker_step), not per span */
	}
	if (fate == DFT_FATE_FILTER) {
		dft_ctr_add(&dft_nic_ctr.filtered, 1);
		dft_ctr_add(&dft_tenant_ctr[r->tenant].filtered, 1);
		dft_profiler_count(ctx->prof, key, false);
	} else if (fate == DFT_FATE_OVERFLOW) {
		dft_ctr_add(&dft_nic_ctr.lost_hold_overflow, 1);
		dft_ctr_add(&dft_tenant_ctr[r->tenant].lost_hold_overflow, 1);
	} else if (fate == DFT_FATE_HELD) {
		dft_ctr_add(&dft_tenant_ctr[r->tenant].held, 1);
	}
	return fate;
}
