/* SPDX-License-Identifier: MIT */
/* The pipeline on the worker lcore (worker.c) and its control messages from and to main. */
#ifndef DFT_NIC_WORKER_H
#define DFT_NIC_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "region.h"

enum dft_ctl_type {
	DFT_CTL_ATTACH = 1,  /* main -> worker: region ready */
	DFT_CTL_DETACH,      /* main -> worker: host gone, drain and retire */
	DFT_CTL_STOP,        /* main -> worker: drain everything, close the batch, stop */
	DFT_CTL_DETACHED,    /* worker -> main: region retired, unmap it */
	DFT_CTL_STOPPED,     /* worker -> main: drained, last batch handed over */
};

struct dft_ctl_msg {
	enum dft_ctl_type type;
	struct dft_nic_region *region;
};

struct dft_nic_ctx;
/* One pass of the pipeline; returns work done (slots, messages). */
int dft_worker_step(struct dft_nic_ctx *ctx);
bool dft_worker_stopped(const struct dft_nic_ctx *ctx);

#endif /* DFT_NIC_WORKER_H */
