/* SPDX-License-Identifier: MIT */
/*
 * The simulated platform: every invocation of a function passes ingress-gateway -> activator ->
 * queue-proxy -> function and back. Each platform component is a proxy: it takes the request's
 * traceparent and tracestate, queues (its concurrency limit, plus a little), opens its span with the
 * extracted parent, does a few steps of its own (short internal spans), appends its hop to the
 * tracestate, forwards, and ends its span after the downstream returned. All times are modelled
 * and written with explicit timestamps; spans end children first, as real proxies end them.
 *
 * A shard is one worker thread's platform: its own instances, concurrency slots and idle timers,
 * so a seed gives the same run whatever the threads' interleaving.
 */
#ifndef DFT_GEN_PLATFORM_H
#define DFT_GEN_PLATFORM_H

#include <stdint.h>

#include "gen_anomaly.h"
#include "gen_delay.h"
#include "gen_plan.h"
#include "gen_truth.h"
#include "gen_workflow.h"

#define DFT_GEN_PLATFORM_COMPONENTS 3

/* What every shard shares, read-only while the run lasts. */
struct dft_gen_env {
	const struct dft_gen_model *model;
	struct dft_gen_contention contention; /* targets: 0..2 platform, 3 + i function i */
	uint64_t t0;                          /* unix ns the simulated clock is anchored at */
	uint32_t concurrency;                 /* queue-proxy container concurrency (0: unlimited) */
	uint64_t idle_ns;                     /* scale to zero after this much idle */
	int seeded_ids;                       /* ids from the seed (dft_span_set_ids), not the library */
	/* interned names */
	uint16_t plat_comp[DFT_GEN_PLATFORM_COMPONENTS];
	uint16_t leaf_op[DFT_GEN_PLATFORM_COMPONENTS][3];
	uint16_t *fn_comp, *fn_op; /* per function; fn_comp doubles as the hops' route operation */
};

struct dft_gen_counts {
	uint64_t requests, spans, platform, function, anomalous;
	uint64_t by_anomaly[DFT_GEN_ANOMALY_KINDS];
	uint64_t plan_cut;       /* invocations the plan left out */
	uint64_t hdr_fallback;   /* tracestate injections that failed (incoming header forwarded) */
	uint64_t metrics_failed; /* (run-level) metrics entries that could not be published */
	uint64_t delay_early;    /* (run-level) spans handed over before their end: delay queue full */
	uint64_t delay_max;      /* (run-level) the most spans one thread held back at once */
};

struct dft_gen_heap {
	uint64_t *v;
	uint32_t n, cap;
};

struct dft_gen_shard {
	const struct dft_gen_env *env;
	struct dft_gen_rng rng;                                     /* service, queue and network times */
	struct dft_gen_rng ids;                                     /* seeded ids */
	struct dft_gen_heap slots[DFT_GEN_PLATFORM_COMPONENTS - 1]; /* ingress, activator */
	struct dft_gen_heap *fn_slots;                              /* queue-proxy, per function */
	uint64_t *fn_active;                                        /* per function: last busy time */
	struct dft_gen_truth *truth;
	struct dft_gen_delay *delay; /* spans wait here for their end (NULL: handed over at once) */
	struct dft_gen_counts c; /* written by the shard's thread only; read relaxed for progress */
};

/* env must outlive the shard. Returns 0 or -ENOMEM. */
int dft_gen_shard_init(struct dft_gen_shard *s, const struct dft_gen_env *env, uint64_t seed, unsigned idx,
                       struct dft_gen_truth *truth);
void dft_gen_shard_fini(struct dft_gen_shard *s);

/* Play one planned request arriving at unix ns t; returns when it has left the ingress. */
uint64_t dft_gen_shard_request(struct dft_gen_shard *s, const struct dft_gen_plan *p, uint64_t t);

/* Intern the platform's names and the model's (dft_init must have run). Returns 0 or -ENOSPC. */
int dft_gen_env_names(struct dft_gen_env *env);
void dft_gen_env_free(struct dft_gen_env *env);

#endif /* DFT_GEN_PLATFORM_H */
