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

#include "epoch.h"
#include "ctx.h"
#include "handoff.h"
#include "claims.h"
#include "judge.h"

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

/* A region's per-ring claim state and name cache (worker-owned), freed by region_forget. */
static void region_forget(struct dft_nic_region *r)
{
	free(r->gname);
	free(r->rings);
	r->gname = NULL;
	r->rings = NULL;
}

/* The region's calibration as its view shows it now; a failed read keeps the last good one. */
static void calibrate(struct dft_nic_ctx *ctx, struct dft_nic_region *r, uint64_t now)
{
	struct dft_clock_cal c;

	if (dft_view_clock(ctx->ingest, r, &c) == 0) {
		r->cal = c;
		r->cal_tsc = now | 1;
	}
}

static void region_attach(struct dft_nic_ctx *ctx, struct dft_nic_region *r)
{
	r->gname = calloc((size_t)r->g.name_capacity + 1, sizeof(*r->gname));
	r->rings = calloc(r->g.ring_count, sizeof(*r->rings));
	if (!r->gname || !r->rings || ctx->n_regions >= DFT_NIC_MAX_REGIONS || dft_ingest_attach(ctx->ingest, r)) {
		region_forget(r);
		/* cannot happen: main refuses beyond the limit; give it back rather than leak it */
		send_to_main(ctx, DFT_CTL_DETACHED, r);
		return;
	}
	calibrate(ctx, r, 0);
	if (ctx->ingest->ops->waiting) {
		uint64_t adopted = 0;

		for (uint32_t k = 0; k < r->g.ring_count; k++) {
			struct dft_ring_claims cl;
			uint64_t waiting;

			if (ctx->ingest->ops->waiting(ctx->ingest, r, k, &waiting) != 1)
				continue;
			dft_view_claims(ctx->ingest, r, k, &cl);
			dft_nic_adopt_ring(&r->rings[k], &cl);
			adopted += waiting;
		}
		dft_ctr_add(&dft_nic_ctr.adopted, adopted);
	}
	{
		char comp[DFT_NAME_MAX + 1];

		if (dft_view_name(ctx->ingest, r, dft_view_names_published(ctx->ingest, r), r->g.component_id, comp,
				  sizeof(comp)) < 0)
			comp[0] = 0;
		r->tenant = (uint8_t)dft_tenant_of(&ctx->cfg->tenants, r->has_peer, r->peer_uid, comp);
	}
	ctx->detaching[ctx->n_regions] = false;
	ctx->detach_deadline[ctx->n_regions] = 0;
	ctx->regions[ctx->n_regions++] = r;
	dft_claims_refresh(ctx);
}

static void region_retire(struct dft_nic_ctx *ctx, unsigned i)
{
	struct dft_nic_region *r = ctx->regions[i];

	dft_claims_refresh(ctx);
	for (uint32_t k = 0; k < r->g.ring_count; k++) {
		ctx->retired_produced += dft_nic_ring_produced(&r->rings[k]);
		ctx->retired_ring_full += r->rings[k].dropped_full - r->rings[k].base_dropped;
		ctx->retired_dropped_hops += r->rings[k].dropped_hops;
	}
	ctx->retired_produced += r->dropped_no_ring;
	ctx->retired_no_ring += r->dropped_no_ring;
	for (uint32_t k = 0; k < r->g.ring_count; k++) {
		ctx->retired_t[r->tenant][0] += dft_nic_ring_produced(&r->rings[k]);
		ctx->retired_t[r->tenant][1] += r->rings[k].dropped_full - r->rings[k].base_dropped;
	}
	ctx->retired_t[r->tenant][0] += r->dropped_no_ring;
	ctx->retired_t[r->tenant][2] += r->dropped_no_ring;
	dft_ingest_detach(ctx->ingest, r);
	region_forget(r);
	ctx->n_regions--;
	ctx->regions[i] = ctx->regions[ctx->n_regions];
	ctx->detaching[i] = ctx->detaching[ctx->n_regions];
	ctx->detach_deadline[i] = ctx->detach_deadline[ctx->n_regions];
	if (ctx->clock_min == r)
		dft_judge_clock_settle(ctx); /* span time no longer waits for it */
	dft_ctr_add(&dft_nic_ctr.regions_retired, 1);
	dft_claims_refresh(ctx);
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

/*
 * May the region's registering peer trace as component id (a validated, published name)? The
 * answer is cached per name id: names never change once published.
 */
static bool comp_allowed(struct dft_nic_ctx *ctx, struct dft_nic_region *r, uint16_t id)
{
	char name[DFT_NAME_MAX + 1];

	if (!r->policy)
		return true;
	if (id == 0 || id > r->g.name_capacity || !r->comp_ok)
		return false;
	if (!r->comp_ok[id]) {
		if (dft_view_name(ctx->ingest, r, r->names_published, id, name, sizeof(name)) < 0)
			return false; /* not published yet: refused now, looked at again next time */
		r->comp_ok[id] = dft_reg_policy_check(r->policy, r->peer_uid, r->peer_gid, name) ? 2 : 1;
	}
	return r->comp_ok[id] == 1;
}

static void count_invalid(const struct dft_nic_region *r, enum dft_invalid_reason why)

{
	dft_ctr_add(&dft_tenant_ctr[r->tenant].lost_invalid, 1);
	dft_ctr_add(&dft_nic_ctr.lost_invalid, 1);
	dft_ctr_add(&dft_nic_ctr.invalid[why], 1);
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
static bool refresh_names(struct dft_nic_ctx *ctx, struct dft_nic_region *r)
{
	uint32_t np = dft_view_names_published(ctx->ingest, r);

	if (np <= r->names_published)
		return false;
	r->names_published = np;
	return true;
}

/*
 * The children and hold tables are larger than the caches and keyed by random ids, so each span
 * would wait on several misses in turn. Loading a later span's entries while this one is judged
 * overlaps them. The ids come from the burst (the worker's own copy): a lying host only makes a
 * prefetch useless.
 */
#define PF_FAR 8
#define PF_NEAR 4

static void prefetch_far(const struct dft_nic_ctx *ctx, const struct dft_slot *s)
{
	if (s->type != DFT_SLOT_SPAN)
		return;
	dft_children_prefetch(ctx->children, s->trace_id, s->span_id);
	dft_children_prefetch(ctx->children, s->trace_id, s->parent_span_id);
	dft_hold_prefetch_bucket(ctx->hold, s->trace_id);
}

static int process(struct dft_nic_ctx *ctx, struct dft_nic_region *r, const struct dft_slot *burst, int n,
		   uint64_t *spans)
{
	int i = 0;

	for (int j = 0; j < PF_FAR && j < n; j++)
		prefetch_far(ctx, &burst[j]);
	for (int j = 0; j < PF_NEAR && j < n; j++)
		if (burst[j].type == DFT_SLOT_SPAN)
			dft_hold_prefetch_trace(ctx->hold, burst[j].trace_id);
	while (i < n) {
		const struct dft_slot *s = &burst[i];

		if (i + PF_FAR < n)
			prefetch_far(ctx, &burst[i + PF_FAR]);
		if (i + PF_NEAR < n && burst[i + PF_NEAR].type == DFT_SLOT_SPAN)
			dft_hold_prefetch_trace(ctx->hold, burst[i + PF_NEAR].trace_id);
		enum dft_invalid_reason why;
		struct dft_span_rec rec;
		int need, rc;

		if (dft_slot_validate(s, &r->g, r->names_published, &why)) {
			if (why == DFT_INVALID_BAD_NAME && refresh_names(ctx, r))
				continue; /* the same slot again, with the names published meanwhile */
			/* skip its continuation too when the count is believable and all of it is here */
			need = (why != DFT_INVALID_BAD_TYPE && s->n_cont <= DFT_SLOT_CONT_MAX) ? 1 + s->n_cont : 1;
			if (i + need > n) {
				if (i > 0)
					break; /* the rest comes with the next poll: one span, one count */
				need = 1;  /* published without its continuation: the ring itself is lying */
			}
			count_invalid(r, why);
			i += need;
			(*spans)++;
			continue;
		}
		need = 1 + s->n_cont;
		if (i + need > n)
			break;
		dft_conts_validate(&burst[i + 1], (unsigned)(need - 1), &why);
		if (why == DFT_INVALID_BAD_NAME && refresh_names(ctx, r))
			continue;
		if (why != DFT_INVALID_NONE) {
			count_invalid(r, why);
			i += need;
			(*spans)++;
			continue;
		}
		if (!(s->flags & DFT_SF_TS_NS) && !r->cal_tsc) {
			count_invalid(r, DFT_INVALID_BAD_TIME); /* ticks and never a usable calibration */
			i += need;
			(*spans)++;
			continue;
		}
		if (!comp_allowed(ctx, r, s->component_id ? s->component_id : r->g.component_id)) {
			count_invalid(r, DFT_INVALID_NOT_ALLOWED); /* a process tracing as a service it is not */
			i += need;
			(*spans)++;
			continue;
		}
		rc = dft_judge(ctx, r, s, &burst[i + 1], &rec);
		if (rc == DFT_FATE_FILTER || rc == DFT_FATE_HELD || rc == DFT_FATE_OVERFLOW) {
			i += need;
			(*spans)++;
			continue;
		}
		for (int attempt = 0;; attempt++) {
			if (!dft_handoff_open(ctx))
				return i ? i : -EAGAIN;
			rc = dft_batch_add(ctx->open, ctx->names, &rec);
			if (rc == 0 || attempt)
				break;
			if (!dft_handoff_close(ctx))
				return i ? i : -EAGAIN;
		}
		if (rc) {
			count_invalid(r, DFT_INVALID_BAD_NAME); /* cannot fit even an empty batch */
		} else {
			dft_batch_note_tenant(ctx->open, r->tenant);
			dft_judge_reported(ctx, &rec);
			if (dft_batch_full(ctx->open))
				dft_handoff_close(ctx);
		}
		i += need;
		(*spans)++;
	}
	return i;
}

/*
 * Poll region i's rings. fair: the tenants' fair shares apply (first pass of a step); otherwise
 * only their quotas (second pass, when the first left the NIC idle). A draining region (its host
 * gone, or the daemon stopping) is read whatever its tenant's share: what is left must be counted.
 */
static int poll_region(struct dft_nic_ctx *ctx, unsigned i, uint64_t now, bool fair)
{
	struct dft_nic_region *r = ctx->regions[i];
	const struct dft_tenants_cfg *tc = &ctx->cfg->tenants;
	bool sched = tc->n > 1 && !ctx->stopping && !ctx->detaching[i];
	uint64_t backlog_spans = (uint64_t)ctx->cfg->backlog * ctx->cfg->batch_spans;
	int work = 0;

	r->names_published = dft_view_names_published(ctx->ingest, r);
	if (ctx->filter.cfg.contention && ctx->now_ns >= r->cont.next_ns) {
		uint64_t torn = r->cont.torn, bad = r->cont.bad;

		/* the NIC's wall clock stands in for the region's only where a reading carries no time */
		dft_contention_refresh(&r->cont, &ctx->filter.cfg, dft_view_metrics(ctx->ingest, r), &r->g, r->names_published, ctx->now_ns,
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
		if (sched && !dft_tenant_may_poll(&ctx->sched, tc, r->tenant, backlog_spans, fair))
			break;
		n = dft_ingest_poll(ctx->ingest, r, k, ctx->burst, DFT_NIC_BURST);
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
		if (!r->cal_tsc)
			calibrate(ctx, r, now); /* a backend that brings the clock late (rdma-read) */
		used = process(ctx, r, ctx->burst, n, &rs->spans_taken);
		if (used < 0)
			return work ? work : 0;
		dft_ingest_release(ctx->ingest, r, k, (uint32_t)used);
		if (sched)
			dft_tenant_spend(&ctx->sched, tc, r->tenant, (uint32_t)used);
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
	if (ctx->closed && !dft_handoff_close(ctx))
		return work; /* the main lcore is behind: leave the spans in the rings */
	dft_handoff_profile(ctx);
	dft_judge_clock_settle(ctx);
	if (ctx->hold) {
		struct dft_hold_now hn = dft_judge_hold_now(ctx);

		if (dft_hold_expire(ctx->hold, &hn, dft_judge_hold_dropped, ctx))
			work++;
		work += dft_handoff_released(ctx);
		dft_judge_sync_hold(ctx);
	}
	{
		int polled = 0;

		if (ctx->cfg->tenants.n > 1)
			dft_tenant_sched_step(&ctx->sched, &ctx->cfg->tenants, now, ctx->tsc_hz);
		for (unsigned i = 0; i < ctx->n_regions; i++)
			polled += poll_region(ctx, i, now, true);
		/* work-conserving: when the fair pass found little to do, tenants past their share may
		 * use what the others left (their quotas still hold) */
		if (ctx->cfg->tenants.n > 1 && polled < (int)DFT_TENANT_QUANTUM)
			for (unsigned i = 0; i < ctx->n_regions; i++)
				polled += poll_region(ctx, i, now, false);
		work += polled;
	}
	if (ctx->open && dft_batch_spans(ctx->open) && now - dft_batch_open_tsc(ctx->open) >= ctx->flush_tsc &&
	    __atomic_load_n(&dft_nic_tx_ready, __ATOMIC_RELAXED))
		dft_handoff_close(ctx);
	if (now >= ctx->next_cal) {
		/* a failed read (writer busy, hostile values) keeps the last good calibration */
		for (unsigned i = 0; i < ctx->n_regions; i++)
			calibrate(ctx, ctx->regions[i], now);
		ctx->next_cal = now + ctx->tsc_hz / 1000 * CAL_MS;
	}
	dft_handoff_profile_tick(ctx);
	if (now >= ctx->next_refresh) {
		dft_claims_refresh(ctx);
		dft_ctr_set(&dft_nic_ctr.children_evicted, dft_children_evicted(ctx->children));
		dft_ctr_set(&dft_nic_ctr.prof_clock_resets, dft_profiler_clock_resets(ctx->prof));
		ctx->next_refresh = now + ctx->tsc_hz / 1000 * REFRESH_MS;
	}
	for (unsigned i = 0; i < ctx->n_regions;) {
		if (ctx->detaching[i] && (dft_ingest_empty(ctx->ingest, ctx->regions[i]) ||
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
			empty = empty && dft_ingest_empty(ctx->ingest, ctx->regions[i]);
		/* drained, or a ring that can never drain (corrupt, stalled): stop after a bound */
		if (empty || now >= ctx->stop_deadline) {
			/* the hold window is flushed (filtered) before the final counters; what it had
			 * already released is still reported */
			if (ctx->hold) {
				dft_hold_flush(ctx->hold, dft_judge_hold_dropped, ctx);
				dft_handoff_released(ctx);
				dft_judge_sync_hold(ctx);
			}
			if (!dft_hold_release_peek(ctx->hold) && dft_handoff_close(ctx) && !ctx->closed && dft_handoff_close(ctx) &&
			    !ctx->closed && dft_handoff_profile_final(ctx)) {
				dft_claims_refresh(ctx);
				/* the final counters are published; main unmaps whatever is still attached */
				for (unsigned i = 0; i < ctx->n_regions; i++) {
					dft_ingest_detach(ctx->ingest, ctx->regions[i]);
					region_forget(ctx->regions[i]);
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
