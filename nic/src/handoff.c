/* SPDX-License-Identifier: MIT */
/*
 * The hand-off from the worker to the main lcore (handoff.h): the open batch, the closed one
 * waiting for room on the ring, the spans the hold window released, and the Profile batches.
 */
#include <rte_cycles.h>
#include <rte_ring.h>

#include "ctx.h"
#include "handoff.h"
#include "judge.h"

/* Move the open batch to the hand-off; false when an earlier closed batch is still waiting. */
bool dft_handoff_close(struct dft_nic_ctx *ctx)
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

/* A batch with room for one more span is open; false when the hand-off to main is full. */
bool dft_handoff_open(struct dft_nic_ctx *ctx)
{
	if (ctx->open && dft_batch_full(ctx->open) && !dft_handoff_close(ctx))
		return false;
	if (!ctx->open) {
		if (ctx->closed && !dft_handoff_close(ctx))
			return false;
		if (dft_batch_create(ctx->cfg->batch_spans, &ctx->open))
			return false;
		dft_batch_set_open_tsc(ctx->open, rte_rdtsc());
	}
	return true;
}

/* Report the spans the hold window released (their traces turned anomalous). Returns work done. */
int dft_handoff_released(struct dft_nic_ctx *ctx)
{
	const struct dft_span_rec *rec;
	int work = 0;

	while ((rec = dft_hold_release_peek(ctx->hold))) {
		if (!dft_handoff_open(ctx))
			break;
		if (dft_batch_add(ctx->open, ctx->names, rec)) {
			if (dft_batch_spans(ctx->open) == 0) {
				/* cannot fit even an empty batch (cannot happen: 6 names at most): filter it */
				dft_judge_hold_dropped(ctx, rec);
				dft_hold_release_pop(ctx->hold);
				continue;
			}
			if (!dft_handoff_close(ctx))
				break;
			continue;
		}
		dft_batch_note_tenant(ctx->open, rec->tenant);
		dft_judge_reported(ctx, rec);
		/* it leaves the hold window: out of its tenant's held gauge */
		dft_ctr_set(&dft_tenant_ctr[rec->tenant].held, dft_tenant_ctr[rec->tenant].held - 1);
		dft_hold_release_pop(ctx->hold);
		work++;
		if (dft_batch_full(ctx->open))
			dft_handoff_close(ctx);
	}
	if (work)
		dft_judge_sync_hold(ctx);
	return work;
}

/* Hand the pending Profile batch to main (after any closed span batch). */
void dft_handoff_profile(struct dft_nic_ctx *ctx)
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

void dft_handoff_profile_tick(struct dft_nic_ctx *ctx)
{
	if (dft_profiler_tick(ctx->prof, ctx->now_ns) && ctx->cfg->ship_profiles)
		profile_build(ctx);
}

/*
 * At shutdown the last partial interval goes out too: it summarises the spans filtered since the
 * previous snapshot, and the collector names reconstructed hops from it. True once handed over.
 */
bool dft_handoff_profile_final(struct dft_nic_ctx *ctx)
{
	if (!ctx->final_profile && ctx->cfg->ship_profiles) {
		ctx->final_profile = true;
		profile_build(ctx);
	}
	dft_handoff_profile(ctx);
	return ctx->profile_pending == NULL;
}
