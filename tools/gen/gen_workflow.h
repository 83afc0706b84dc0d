/* SPDX-License-Identifier: MIT */
/*
 * The workload model: user functions and the calls they make. A workflow is an entry function; its
 * DAG unfolds as calls: a call fires with a probability (1 for the built-in workflows, learned for
 * trace-derived ones), calls of one group run in parallel, groups run one after another. A fan-in
 * is the caller joining a parallel group before calling the next group (fan-out/fan-in workflow:
 * split calls the workers in parallel, then merge with their results).
 */
#ifndef DFT_GEN_WORKFLOW_H
#define DFT_GEN_WORKFLOW_H

#include <stdint.h>

#include "gen_hist.h"
#include "gen_rng.h"

#define DFT_GEN_NAME_LEN 32 /* what a hop header carries of a name */

struct dft_gen_call {
	uint32_t callee;               /* function index */
	uint32_t group;                /* same group: parallel; groups run in increasing order */
	double prob;                   /* per invocation of the caller */
	double mult;                   /* mean number of calls when the call fires (>= 1) */
	const struct dft_gen_hist *rt; /* learned response time of the callee on this edge, or NULL */
};

struct dft_gen_fn {
	char name[DFT_GEN_NAME_LEN + 1]; /* the function's component name */
	char op[DFT_GEN_NAME_LEN + 1];   /* its span's operation */
	double median_ns, sigma;         /* own processing time when no learned rt applies */
	const struct dft_gen_hist *rt;   /* learned response time as an entry, or NULL */
	uint32_t first_call, n_calls;
};

struct dft_gen_entry {
	uint32_t fn;
	double weight; /* relative share of requests */
};

struct dft_gen_model {
	struct dft_gen_fn *fn;
	uint32_t n_fn, cap_fn;
	struct dft_gen_call *call;
	uint32_t n_call, cap_call;
	struct dft_gen_entry *entry; /* one per workflow */
	uint32_t n_entry, cap_entry;
	struct dft_gen_hist *owned_hist; /* histograms the model owns (trace-learned) */
	uint32_t n_hist;
};

/*
 * The built-in workflows (chain of 3, fan-out/fan-in, single function) and, when workflows exceeds
 * them, random DAGs drawn from seed. Returns 0, -EINVAL (workflows 0), -ENOMEM.
 */
int dft_gen_model_builtin(struct dft_gen_model *m, unsigned workflows, uint64_t seed);
void dft_gen_model_free(struct dft_gen_model *m);

/* Building blocks (the trace-learned model uses them too). Return the new index or -ENOMEM. */
int dft_gen_model_add_fn(struct dft_gen_model *m, const char *name, const char *op, double median_ns, double sigma);
/* Calls of one function must be added together, in order. */
int dft_gen_model_add_call(struct dft_gen_model *m, uint32_t caller, uint32_t callee, uint32_t group, double prob,
                           double mult, const struct dft_gen_hist *rt);
int dft_gen_model_add_entry(struct dft_gen_model *m, uint32_t fn, double weight);

#endif /* DFT_GEN_WORKFLOW_H */
