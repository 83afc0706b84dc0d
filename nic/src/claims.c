/* SPDX-License-Identifier: MIT */
/* The NIC's loss and production accounting from the hosts' claims (claims.h). */
#include <string.h>

#include "claims.h"
#include "ctx.h"
#include "ctr.h"
#include "epoch.h"
#include "stats.h"
#include "tenant.h"

/*
 * Recompute produced / lost_ring_full / lost_no_ring / hops_dropped from the retired totals and live
 * regions. hops_dropped is not part of the span identity (a cut hop is a hop, not a span): it says
 * how many request-path hops the collector cannot rebuild because the host left them out.
 */
void dft_claims_refresh(struct dft_nic_ctx *ctx)
{
	uint64_t produced = ctx->retired_produced, full = ctx->retired_ring_full, no_ring = ctx->retired_no_ring;
	uint64_t hops = ctx->retired_dropped_hops;
	uint64_t tp[DFT_NIC_MAX_TENANTS][3];

	memcpy(tp, ctx->retired_t, sizeof(tp));

	for (unsigned i = 0; i < ctx->n_regions; i++) {
		struct dft_nic_region *r = ctx->regions[i];
		struct dft_nic_region_stat *row = &ctx->region_rows[i];

		/*
		 * A ring cannot produce or drop spans faster than one a nanosecond (plus a ring's worth):
		 * claims beyond that are cut here, so a host scribbling over its counters moves its own account by what time
		 * allows and nobody else's. The first reading may cover drops from before this daemon
		 * saw the region (an app that started first): up to 2^32 of them.
		 */
		uint64_t budget = r->claims_ns && ctx->now_ns > r->claims_ns ? ctx->now_ns - r->claims_ns : 0;

		if (!r->claims_ns)
			budget = 1ull << 32;
		r->claims_ns = ctx->now_ns ? ctx->now_ns : 1;
		*row = (struct dft_nic_region_stat){.id = r->id, .pid = r->g.pid, .peer_pid = r->peer_pid,
						    .peer_uid = r->peer_uid, .instance_id = r->g.instance_id};
		for (uint32_t k = 0; k < r->g.ring_count; k++) {
			struct dft_nic_ring_state *rs = &r->rings[k];
			uint64_t full_max = rs->dropped_full + budget, made_max;
			struct dft_ring_claims cl;

			dft_view_claims(ctx->ingest, r, k, &cl);
			row->lost_ring_full += dft_claim_clamp(&rs->dropped_full, cl.dropped_full,
							       full_max < budget ? UINT64_MAX : full_max) -
					       rs->base_dropped;
			/* every ingest backend sees time, not every one keeps the ring's tail here */
			made_max = rs->produced + budget + r->g.ring_slots;
			dft_claim_clamp(&rs->produced, cl.produced, made_max < rs->produced ? UINT64_MAX : made_max);
			row->produced += dft_nic_ring_produced(rs);
			/* after produced: the bound uses this refresh's clamp of it (saturating: hostile) */
			row->hops_dropped += dft_claim_clamp(&rs->dropped_hops, cl.dropped_hops,
							     rs->produced > UINT64_MAX / DFT_NIC_HOPS_CUT_PER_SPAN
								     ? UINT64_MAX
								     : rs->produced * DFT_NIC_HOPS_CUT_PER_SPAN);
		}
		dft_claim_clamp(&r->dropped_no_ring, dft_view_dropped_no_ring(ctx->ingest, r),
				r->dropped_no_ring + budget < budget ? UINT64_MAX : r->dropped_no_ring + budget);
		row->produced += r->dropped_no_ring;
		row->lost_no_ring = r->dropped_no_ring;
		produced += row->produced;
		full += row->lost_ring_full;
		no_ring += row->lost_no_ring;
		hops += row->hops_dropped;
		/* a region's claims go to its own tenant only: a lying host spoils its tenant's account */
		tp[r->tenant][0] += row->produced;
		tp[r->tenant][1] += row->lost_ring_full;
		tp[r->tenant][2] += row->lost_no_ring;
	}
	for (unsigned t = 0; t < ctx->cfg->tenants.n; t++) {
		dft_ctr_set(&dft_tenant_ctr[t].produced, tp[t][0]);
		dft_ctr_set(&dft_tenant_ctr[t].lost_ring_full, tp[t][1]);
		dft_ctr_set(&dft_tenant_ctr[t].lost_no_ring, tp[t][2]);
	}
	/* each region's share as well: a host whose claims look wrong is found by its row */
	dft_nic_regions_publish(ctx->region_rows, ctx->n_regions);
	dft_ctr_set(&dft_nic_ctr.produced, produced);
	dft_ctr_set(&dft_nic_ctr.lost_ring_full, full);
	dft_ctr_set(&dft_nic_ctr.lost_no_ring, no_ring);
	dft_ctr_set(&dft_nic_ctr.hops_dropped, hops);
}
