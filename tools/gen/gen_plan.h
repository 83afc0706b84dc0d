/* SPDX-License-Identifier: MIT */
/*
 * One request, planned before it is played: which functions it invokes (the model's branching
 * drawn), each function's modelled processing time, and the anomalies injected into it. Times that
 * depend on the platform's state (queueing behind the concurrency limit, scale-from-zero, CPU
 * contention windows) are decided when the plan is played (gen_platform.c).
 */
#ifndef DFT_GEN_PLAN_H
#define DFT_GEN_PLAN_H

#include <stdint.h>

#include "gen_rng.h"
#include "gen_workflow.h"

#define DFT_GEN_PLAN_MAX   64 /* invocations per request; more are cut and counted */
#define DFT_GEN_PLAN_DEPTH 8  /* call depth; deeper calls are cut and counted */

enum dft_gen_anomaly {
	DFT_GEN_NORMAL = 0,
	DFT_GEN_ERROR,
	DFT_GEN_QUEUEING,
	DFT_GEN_COLD_START,
	DFT_GEN_CONTENTION,
	DFT_GEN_OUTLIER,
	DFT_GEN_ANOMALY_KINDS,
};

const char *dft_gen_anomaly_name(enum dft_gen_anomaly a); /* NULL for DFT_GEN_NORMAL */

/* Where on an invocation's path something happens: the three platform hops, then the function. */
enum dft_gen_site {
	DFT_GEN_INGRESS = 0,
	DFT_GEN_ACTIVATOR,
	DFT_GEN_QUEUE_PROXY,
	DFT_GEN_FUNCTION,
	DFT_GEN_SITES,
};

struct dft_gen_rates {
	double error, queueing, cold, contention, outlier; /* per request */
};

struct dft_gen_inv {
	uint32_t fn;
	int32_t parent; /* calling invocation, -1 for the request's entry */
	uint32_t group; /* call group at the caller */
	uint32_t first_child, n_child;
	uint32_t depth;
	uint64_t work_ns;    /* the function's modelled time (children run inside it) */
	int8_t error_site;   /* enum dft_gen_site, -1: none */
	int8_t queue_site;   /* platform site with a queueing burst, -1: none */
	int8_t outlier_site; /* -1: none */
	uint8_t cold;        /* forced scale-from-zero */
	uint32_t queue_burst_ns;
	double outlier_factor;
};

struct dft_gen_plan {
	uint32_t workflow; /* index into the model's entries */
	uint32_t n;
	uint32_t cut; /* invocations left out (DFT_GEN_PLAN_MAX or DFT_GEN_PLAN_DEPTH) */
	struct dft_gen_inv inv[DFT_GEN_PLAN_MAX];
};

/* Plan one request; every draw comes from r, so the plan is a function of the stream alone. */
void dft_gen_plan_request(const struct dft_gen_model *m, const struct dft_gen_rates *rates, unsigned workflows,
                          struct dft_gen_rng *r, struct dft_gen_plan *p);

#endif /* DFT_GEN_PLAN_H */
