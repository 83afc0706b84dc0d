/* SPDX-License-Identifier: MIT */
/* The rdma-read backend's READ copies into its region view (ingest_rdma_copy.h). */
#include <string.h>

#include "ingest_rdma_copy.h"

void dft_rr_clock_init(struct dft_rr_clock *c)
{
	memset(c, 0, sizeof(*c));
	c->hdr.clock_seq = 1;
}

void dft_rr_clock_seed(struct dft_rr_clock *c, const struct dft_region_hdr *copy)
{
	memcpy(c->prev, (const uint8_t *)copy + DFT_RR_CLOCK_OFF, DFT_RR_CLOCK_LEN);
}

void dft_rr_clock_take(struct dft_rr_clock *c, const struct dft_region_hdr *copy)
{
	const uint8_t *blk = (const uint8_t *)copy + DFT_RR_CLOCK_OFF;

	if (!(copy->clock_seq & 1u) && !memcmp(blk, c->prev, DFT_RR_CLOCK_LEN))
		memcpy((uint8_t *)&c->hdr + DFT_RR_CLOCK_OFF, blk, DFT_RR_CLOCK_LEN);
	memcpy(c->prev, blk, DFT_RR_CLOCK_LEN);
}

void dft_rr_metrics_merge(struct dft_metrics_page *out, const struct dft_metrics_page *m1,
			  const struct dft_metrics_page *m2)
{
	for (unsigned i = 0; i < DFT_METRICS_MAX; i++) {
		struct dft_metric_entry e = m2->entry[i];

		if (memcmp(&m1->entry[i], &e, sizeof(e)))
			e.seq |= 1u;
		out->entry[i] = e;
	}
	out->count = m2->count;
}
