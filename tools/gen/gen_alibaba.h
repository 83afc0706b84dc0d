/* SPDX-License-Identifier: MIT */
/*
 * Topology learned from Alibaba 2021 CallGraph rows (Palette-style). The rows of an RPC (caller's
 * with rt > 0, callee's with rt < 0) are merged by (traceid, rpcid, um, dm, interface). An
 * invocation of service S is (traceid, rpcid of the call into S, S); its outgoing calls are the
 * RPCs with um = S whose rpcid is that rpcid plus one component, ordered by that last component.
 * Per service: invocations, and per outgoing call (dm, interface) the share of invocations making
 * it (branching), the mean calls when made, the mean position (order) and the empirical response
 * time histogram. An invocation without an incoming RPC is a root: roots weigh the entry services.
 */
#ifndef DFT_GEN_ALIBABA_H
#define DFT_GEN_ALIBABA_H

#include <stdint.h>

#include "gen_csv.h"
#include "gen_hist.h"
#include "gen_workflow.h"

struct dft_gen_ali_edge {
	uint32_t callee;   /* service index */
	uint32_t iface;    /* string id */
	uint64_t inv_with; /* caller invocations making this call */
	uint64_t calls;
	double prob, mult, mean_rank;
	struct dft_gen_hist rt;
};

struct dft_gen_ali_svc {
	uint32_t name;  /* string id */
	uint32_t iface; /* the interface it is called on most (string id), or UINT32_MAX */
	uint64_t invocations, roots;
	uint32_t first_edge, n_edges; /* by mean_rank */
	struct dft_gen_hist rt_in;    /* response time of calls into it */
};

struct dft_gen_ali_model {
	char **str;
	uint32_t n_str, cap_str;
	uint32_t *hash; /* string ids + 1, open addressing */
	uint32_t hash_cap;
	struct dft_gen_ali_svc *svc;
	uint32_t n_svc;
	struct dft_gen_ali_edge *edge;
	uint32_t n_edge;
	uint64_t rows, rpcs, invocations, traces;
};

/* Learn from every row c yields. Returns 0, -ENOMEM, or the reader's error (-EINVAL strict, -EIO). */
int dft_gen_ali_learn(struct dft_gen_csv *c, struct dft_gen_ali_model *m);
void dft_gen_ali_free(struct dft_gen_ali_model *m);

const char *dft_gen_ali_str(const struct dft_gen_ali_model *m, uint32_t id);
/* Service index by name, or -1. */
int dft_gen_ali_service(const struct dft_gen_ali_model *m, const char *name);
/* The edge from service to callee name (any interface when iface is NULL), or NULL. */
const struct dft_gen_ali_edge *dft_gen_ali_edge(const struct dft_gen_ali_model *m, int service, const char *callee,
                                                const char *iface);

/* Services become functions, edges calls (one after another, in learned order); roots the entries.
 * The workload model points into a's histograms: a must outlive it. Returns 0, -ENOMEM, -ENOENT (no root). */
int dft_gen_ali_to_model(const struct dft_gen_ali_model *a, struct dft_gen_model *out);

#endif /* DFT_GEN_ALIBABA_H */
