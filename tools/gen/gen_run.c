/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <difftrace/difftrace.h>

#include "gen_run.h"

#define METRICS_TICK_NS   10000000ull /* how often throttling readings are refreshed */
#define THROTTLE_HIGH_PPM 850000u
#define THROTTLE_BASE_PPM 2000u

static volatile sig_atomic_t dft_gen_stopping;

void dft_gen_stop(void)
{
	dft_gen_stopping = 1;
}

void dft_gen_config_defaults(struct dft_gen_config *c)
{
	memset(c, 0, sizeof(*c));
	c->rate = 200;
	c->seconds = 10;
	c->threads = 2;
	c->workflows = 3;
	c->seed = 1;
	c->rates = (struct dft_gen_rates){
	    .error = 0.01, .queueing = 0.015, .cold = 0.005, .contention = 0.002, .outlier = 0.015};
	c->pace = 1;
	c->concurrency = 100;
	c->idle_ms = 60000;
	c->contention_ms = 100;
}

struct dft_gen_worker {
	pthread_t th;
	unsigned idx;
	const struct dft_gen_config *cfg;
	const struct dft_gen_env *env;
	struct dft_gen_shard shard;
	struct dft_gen_truth truth;
	char *part;
	uint64_t n_req;
	int done;
	int rc;
};

static uint64_t dft_gen_realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void dft_gen_sleep_until(uint64_t t)
{
	struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull), .tv_nsec = (long)(t % 1000000000ull)};

	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR && !dft_gen_stopping)
		;
}

static void *dft_gen_worker_main(void *arg)
{
	struct dft_gen_worker *w = arg;
	const struct dft_gen_config *cfg = w->cfg;
	struct dft_gen_rng plan_rng, arrival_rng;
	struct dft_gen_plan *plan = malloc(sizeof(*plan));
	double mean_gap = cfg->rate > 0 ? 1e9 * cfg->threads / cfg->rate : 0, t = 0;

	if (!plan) {
		w->rc = -ENOMEM;
		goto done;
	}
	dft_gen_rng_seed(&plan_rng, cfg->seed, 0x706c616e00000000ull + w->idx);
	dft_gen_rng_seed(&arrival_rng, cfg->seed, 0x6172726900000000ull + w->idx);
	for (uint64_t k = 0; k < w->n_req && !dft_gen_stopping; k++) {
		uint64_t at;

		t += dft_gen_exp(&arrival_rng, mean_gap); /* Poisson arrivals */
		at = w->env->t0 + (uint64_t)t;
		if (cfg->pace)
			dft_gen_sleep_until(at);
		dft_gen_plan_request(cfg->model, &cfg->rates, cfg->workflows, &plan_rng, plan);
		dft_gen_shard_request(&w->shard, plan, at);
	}
	free(plan);
done:
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* The contention targets' metrics entries, refreshed from the window schedule. */
struct dft_gen_metrics {
	uint16_t *ids;
	int *high;
	uint32_t n;
	uint64_t failed;
};

static void dft_gen_metrics_tick(struct dft_gen_metrics *mt, const struct dft_gen_env *env, uint64_t now, int force)
{
	for (uint32_t c = 0; c < mt->n; c++) {
		int high = now >= env->t0 && dft_gen_contention_active(&env->contention, c, now - env->t0);
		struct dft_component_metrics m = {
		    .cpu_throttle_ppm = high ? THROTTLE_HIGH_PPM : THROTTLE_BASE_PPM,
		    .concurrency_limit = c == DFT_GEN_QUEUE_PROXY ? env->concurrency : 0,
		};

		if (!force && high == mt->high[c])
			continue;
		/* -EBUSY cannot happen (one publisher) and -ENOSPC stays so: count, and retry next tick */
		if (dft_metrics_publish(mt->ids[c], &m) == 0)
			mt->high[c] = high;
		else
			mt->failed++;
	}
}

static void dft_gen_progress(const struct dft_gen_worker *ws, unsigned n, uint64_t t0)
{
	struct dft_host_stats st = {0};
	uint64_t req = 0, spans = 0;

	for (unsigned i = 0; i < n; i++) {
		req += __atomic_load_n(&ws[i].shard.c.requests, __ATOMIC_RELAXED);
		spans += __atomic_load_n(&ws[i].shard.c.spans, __ATOMIC_RELAXED);
	}
	dft_stats(&st);
	fprintf(stderr,
	        "difftrace-gen: %.1fs requests %" PRIu64 " spans %" PRIu64 " produced %" PRIu64 " dropped %" PRIu64
	        "\n",
	        (double)(dft_gen_realtime() - t0) / 1e9, req, spans, st.produced, st.dropped_full + st.dropped_no_ring);
}

int dft_gen_run(const struct dft_gen_config *cfg, struct dft_gen_counts *out)
{
	struct dft_gen_env env = {0};
	struct dft_gen_metrics mt = {0};
	struct dft_gen_worker *ws;
	uint64_t total, duration_ns, last_progress;
	unsigned started = 0;
	char **parts = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!cfg->model || !cfg->model->n_entry || cfg->threads == 0 || !(cfg->rate > 0))
		return -EINVAL;
	total = cfg->requests ? cfg->requests : (uint64_t)(cfg->rate * cfg->seconds + 0.5);
	duration_ns = (uint64_t)((double)total / cfg->rate * 1e9);
	dft_gen_stopping = 0;
	env.model = cfg->model;
	env.concurrency = cfg->concurrency;
	env.idle_ns = (uint64_t)cfg->idle_ms * 1000000ull;
	env.seeded_ids = cfg->seeded_ids;
	rc = dft_gen_env_names(&env);
	if (rc)
		goto free_env;
	mt.n = DFT_GEN_PLATFORM_COMPONENTS + cfg->model->n_fn;
	mt.ids = calloc(mt.n, sizeof(*mt.ids));
	mt.high = calloc(mt.n, sizeof(*mt.high));
	ws = calloc(cfg->threads, sizeof(*ws));
	parts = calloc(cfg->threads, sizeof(*parts));
	if (!mt.ids || !mt.high || !ws || !parts) {
		rc = -ENOMEM;
		goto free_arrays;
	}
	for (uint32_t c = 0; c < mt.n; c++)
		mt.ids[c] =
		    c < DFT_GEN_PLATFORM_COMPONENTS ? env.plat_comp[c] : env.fn_comp[c - DFT_GEN_PLATFORM_COMPONENTS];
	/* the region's metrics page has 64 entries: targets beyond what it holds get no windows */
	{
		uint32_t targets = mt.n < 48 ? mt.n : 48;

		rc = dft_gen_contention_build(&env.contention, cfg->seed, cfg->rates.contention, cfg->rate, duration_ns,
		                              targets, (uint64_t)cfg->contention_ms * 1000000ull);
		if (rc)
			goto free_arrays;
		mt.n = targets;
	}
	/* the anchor: simulated time 0, a little ahead so the first requests are not already late */
	env.t0 = dft_gen_realtime() + 20000000ull;
	dft_gen_metrics_tick(&mt, &env, env.t0, 1);
	for (unsigned i = 0; i < cfg->threads; i++) {
		struct dft_gen_worker *w = &ws[i];

		w->idx = i;
		w->cfg = cfg;
		w->env = &env;
		w->n_req = total / cfg->threads + (i < total % cfg->threads);
		if (cfg->truth_path && asprintf(&parts[i], "%s.part%u", cfg->truth_path, i) < 0) {
			parts[i] = NULL;
			rc = -ENOMEM;
			break;
		}
		rc = dft_gen_truth_open(&w->truth, parts[i]);
		if (rc)
			break;
		rc = dft_gen_shard_init(&w->shard, &env, cfg->seed, i, &w->truth);
		if (rc) {
			dft_gen_truth_close(&w->truth);
			break;
		}
		rc = -pthread_create(&w->th, NULL, dft_gen_worker_main, w);
		if (rc) {
			dft_gen_shard_fini(&w->shard);
			dft_gen_truth_close(&w->truth);
			break;
		}
		started++;
	}
	if (rc)
		dft_gen_stop();
	last_progress = dft_gen_realtime();
	for (;;) {
		unsigned done = 0;
		uint64_t now;
		struct timespec tick = {0, (long)METRICS_TICK_NS};

		for (unsigned i = 0; i < started; i++)
			done += __atomic_load_n(&ws[i].done, __ATOMIC_ACQUIRE);
		if (done == started)
			break;
		nanosleep(&tick, NULL);
		now = dft_gen_realtime();
		dft_gen_metrics_tick(&mt, &env, now, 0);
		if (cfg->progress && now - last_progress >= 1000000000ull) {
			last_progress = now;
			dft_gen_progress(ws, started, env.t0);
		}
	}
	/* windows over: leave every component unthrottled */
	dft_gen_metrics_tick(&mt, &env, UINT64_MAX, 1);
	for (unsigned i = 0; i < started; i++) {
		struct dft_gen_worker *w = &ws[i];
		int trc;

		pthread_join(w->th, NULL);
		out->requests += w->shard.c.requests;
		out->spans += w->shard.c.spans;
		out->platform += w->shard.c.platform;
		out->function += w->shard.c.function;
		out->anomalous += w->shard.c.anomalous;
		for (unsigned a = 0; a < DFT_GEN_ANOMALY_KINDS; a++)
			out->by_anomaly[a] += w->shard.c.by_anomaly[a];
		out->plan_cut += w->shard.c.plan_cut;
		out->hdr_fallback += w->shard.c.hdr_fallback;
		trc = dft_gen_truth_close(&w->truth);
		if (!rc && w->rc)
			rc = w->rc;
		if (!rc && trc)
			rc = trc;
		dft_gen_shard_fini(&w->shard);
	}
	out->metrics_failed = mt.failed;
	if (cfg->truth_path && started == cfg->threads) {
		int mrc = dft_gen_truth_merge(cfg->truth_path, parts, started);

		if (!rc)
			rc = mrc;
	} else if (cfg->truth_path) {
		for (unsigned i = 0; i < cfg->threads; i++)
			if (parts[i])
				remove(parts[i]); /* a run that did not start whole leaves no truth */
	}
free_arrays:
	if (parts)
		for (unsigned i = 0; i < cfg->threads; i++)
			free(parts[i]);
	free(parts);
	free(ws);
	free(mt.ids);
	free(mt.high);
free_env:
	dft_gen_env_free(&env);
	return rc;
}
