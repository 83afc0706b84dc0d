/* SPDX-License-Identifier: MIT */
/* The worker's hand-off of batches and profiles to the main lcore (handoff.c). Worker-lcore only. */
#ifndef DFT_NIC_HANDOFF_H
#define DFT_NIC_HANDOFF_H

#include <stdbool.h>

#include "ctx.h"

/* Move the open batch to the hand-off; false when an earlier closed batch is still waiting. */
bool dft_handoff_close(struct dft_nic_ctx *ctx);
/* A batch with room for one more span is open; false when the hand-off to main is full. */
bool dft_handoff_open(struct dft_nic_ctx *ctx);
/* Report the spans the hold window released (their traces turned anomalous). Returns work done. */
int dft_handoff_released(struct dft_nic_ctx *ctx);
/* Hand the pending Profile batch to main (after any closed span batch). */
void dft_handoff_profile(struct dft_nic_ctx *ctx);
/* Build a Profile batch when one is due (NIC clock) and profiles are shipped. */
void dft_handoff_profile_tick(struct dft_nic_ctx *ctx);
/* The shutdown snapshot, built once and handed over; true once it is. */
bool dft_handoff_profile_final(struct dft_nic_ctx *ctx);

#endif /* DFT_NIC_HANDOFF_H */
