/* SPDX-License-Identifier: MIT */
/* Judging one validated span (judge.c). Worker-lcore only. */
#ifndef DFT_NIC_JUDGE_H
#define DFT_NIC_JUDGE_H

#include "ctx.h"

/*
 * Decode a validated span s (cont: its continuation slots) into rec, once (span.h), and run the
 * rules and the hold window on it. Returns its fate; for REPORT, rec is what to batch. Filtered,
 * held and lost spans are counted here.
 */
enum dft_fate dft_judge(struct dft_nic_ctx *ctx, struct dft_nic_region *r, const struct dft_slot *s,
			const struct dft_slot *cont, struct dft_span_rec *rec);
/* Count a span that went into a batch (batched, per keep reason, its profile's kept count). */
void dft_judge_reported(struct dft_nic_ctx *ctx, const struct dft_span_rec *rec);
/* dft_hold_drop_fn for the hold window: a held span was filtered (root end, timeout, flush). */
void dft_judge_hold_dropped(void *arg, const struct dft_span_rec *rec);
/* Copy the hold window's gauges and counters into the NIC counters. */
void dft_judge_sync_hold(struct dft_nic_ctx *ctx);
/* The hold window's clocks now: span time and the NIC's monotonic clock of this step. */
struct dft_hold_now dft_judge_hold_now(const struct dft_nic_ctx *ctx);
/* Span time from the regions' clocks (each step: regions come, go and fall idle). */
void dft_judge_clock_settle(struct dft_nic_ctx *ctx);

#endif /* DFT_NIC_JUDGE_H */
