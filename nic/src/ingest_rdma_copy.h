/* SPDX-License-Identifier: MIT */
/*
 * What the rdma-read backend makes of its READ copies before the region view shows them, without
 * verbs (built everywhere, tested in test_ingest): one RDMA READ is not atomic, so a copy taken while
 * the host rewrote a seqlocked block can be torn without its sequence showing it.
 */
#ifndef DFT_NIC_INGEST_RDMA_COPY_H
#define DFT_NIC_INGEST_RDMA_COPY_H

#include <stddef.h>
#include <stdint.h>

#include "dft/abi.h"

#define DFT_RR_CLOCK_OFF offsetof(struct dft_region_hdr, clock_seq)
#define DFT_RR_CLOCK_LEN (offsetof(struct dft_region_hdr, names_published) - DFT_RR_CLOCK_OFF)

/* The clock block the view answers from (hdr: only its clock fields are used) and the last copy. */
struct dft_rr_clock {
	struct dft_region_hdr hdr;
	uint8_t prev[DFT_RR_CLOCK_LEN];
};

/* No calibration yet: clock_seq odd, so dft_clock_cal_read on hdr fails. */
void dft_rr_clock_init(struct dft_rr_clock *c);
/* Remember copy's clock block as the previous READ's (the first READ of a connection). */
void dft_rr_clock_seed(struct dft_rr_clock *c, const struct dft_region_hdr *copy);
/* A header READ: its clock block is taken only when the previous READ saw the same bytes and the
 * seqlock was even; it becomes the previous either way. */
void dft_rr_clock_take(struct dft_rr_clock *c, const struct dft_region_hdr *copy);
/* Two back-to-back READ copies of the metrics page into out: an entry that differs between them was
 * being written and gets an odd seq (the contention reader counts it torn, keeps its last reading).
 * The count is m2's, hostile like any count: the reader clamps it. */
void dft_rr_metrics_merge(struct dft_metrics_page *out, const struct dft_metrics_page *m1,
			  const struct dft_metrics_page *m2);

#endif /* DFT_NIC_INGEST_RDMA_COPY_H */
