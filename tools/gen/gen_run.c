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

#include "dft/clock.h"
#include "gen_run.h"

#define METRICS_TICK_NS   2000000ull /* how often the metrics loop looks, windows or not */
/* difftrace-nic re-reads a region's metrics page every metrics_refresh_us (1 ms): a reading written
 * this long ago has surely been read, so spans that ran in its window may go to the ring */
#define METRICS_SETTLE_NS 3000000ull
#define METRICS_SEEN_POLL_NS 100000ull
#define METRICS_SEEN_CEILING_NS 30000000000ull /* a daemon that never reads the page: give up */
#define MARK_POLL_NS      1000000ull /* a span waiting for the metrics loop looks again this soon */
#define THROTTLE_HIGH_PPM 850000u
#define THROTTLE_BASE_PPM 2000u

static volatile sig_atomic_t dft_gen_stopping;
/* unix ns up to which every contention edge is on the metrics page and has been read (see
 * dft_gen_metrics_catch_up); the workers hand over no span that ended after it */
static uint64_t dft_gen_mark;

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
	struct dft_gen_delay delay;
	char *part;
	uint64_t n_req;
	int done;
	int rc;
};

static void dft_gen_sleep_until(uint64_t t)
{
	struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull), .tv_nsec = (long)(t % 1000000000ull)};

	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR && !dft_gen_stopping)
		;
}

/* Hand over the spans that have ended and whose time the metrics page covers. Returns the next
 * time to look (UINT64_MAX: nothing waits). */
static uint64_t dft_gen_release(struct dft_gen_worker *w, uint64_t now)
{
	uint64_t mark = __atomic_load_n(&dft_gen_mark, __ATOMIC_ACQUIRE);
	uint64_t next = dft_gen_delay_flush(w->shard.delay, now < mark ? now : mark);

	/* ended but not covered yet: the metrics loop is behind (a loaded machine) */
	return next <= now ? now + MARK_POLL_NS : next;
}

/* Paced: sleep until t, handing over the spans that end meanwhile. */
static void dft_gen_wait_until(struct dft_gen_worker *w, uint64_t t)
{
	for (;;) {
		uint64_t now = dft_clock_ns(CLOCK_REALTIME), next = dft_gen_release(w, now);

		if (now >= t || dft_gen_stopping)
			return;
		dft_gen_sleep_until(next < t ? next : t);
	}
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
			dft_gen_wait_until(w, at);
		dft_gen_plan_request(cfg->model, &cfg->rates, cfg->workflows, &plan_rng, plan);
		dft_gen_shard_request(&w->shard, plan, at);
	}
	/* the last requests' spans end after the last arrival: wait for them too (unless stopped) */
	for (;;) {
		uint64_t next = dft_gen_release(w, dft_clock_ns(CLOCK_REALTIME));

		if (next == UINT64_MAX || dft_gen_stopping)
			break;
		dft_gen_sleep_until(next);
	}
	dft_gen_delay_flush(w->shard.delay, UINT64_MAX);
	free(plan);
done:
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* The contention targets' metrics entries, written at the window schedule's edges. */
struct dft_gen_metrics {
	uint16_t *ids;
	int *high;
	uint8_t *touched; /* written since the last settle */
	uint32_t n;
	uint64_t failed;
	uint64_t done; /* every edge up to here (ns since the anchor) is written */
};

static void dft_gen_metrics_put(struct dft_gen_metrics *mt, const struct dft_gen_env *env, uint32_t c, int high,
                                uint64_t at)
{
	struct dft_component_metrics m = {
	    .cpu_throttle_ppm = high ? THROTTLE_HIGH_PPM : THROTTLE_BASE_PPM,
	    .concurrency_limit = c == DFT_GEN_QUEUE_PROXY ? env->concurrency : 0,
	};

	/* -EBUSY cannot happen (one publisher) and -ENOSPC stays so: counted */
	if (dft_metrics_publish_at(mt->ids[c], &m, at) == 0)
		mt->high[c] = high;
	else
		mt->failed++;
	mt->touched[c] = 1;
}

/*
 * Until the daemon has read the page since the last write: the event, not a guess at how often it
 * reads (a loaded machine delays the daemon by tens of ms, and an entry rewritten before it looked
 * hides a window). Without a registered daemon nobody reads: wait METRICS_SETTLE_NS as before. A
 * daemon that does not publish read_ns (older than the field) is waited for up to the ceiling.
 */
static void dft_gen_metrics_settle(struct dft_gen_metrics *mt)
{
	uint64_t written = dft_clock_ns(CLOCK_REALTIME), ceiling = written + METRICS_SEEN_CEILING_NS;
	struct dft_host_stats st;

	if (dft_stats(&st) || !st.registered) {
		dft_gen_sleep_until(written + METRICS_SETTLE_NS);
	} else {
		while (dft_metrics_read_ns() <= written && dft_clock_ns(CLOCK_REALTIME) < ceiling && !dft_gen_stopping)
			dft_gen_sleep_until(dft_clock_ns(CLOCK_REALTIME) + METRICS_SEEN_POLL_NS);
	}
	memset(mt->touched, 0, mt->n);
}

/*
 * Write every window edge up to now, in schedule order, each reading stamped with the edge's own
 * time: the daemon then sees each window exactly where the workers put it, however late this loop
 * runs (a loaded machine delays it by tens of ms). The page holds states, not events, so an entry
 * written twice within one settle time could hide a window from the daemon: wait in between. Then
 * move the mark, once the daemon has surely read what was written.
 */
static void dft_gen_metrics_catch_up(struct dft_gen_metrics *mt, const struct dft_gen_env *env, uint64_t now)
{
	uint64_t t = now > env->t0 ? now - env->t0 : 0, edge;
	int wrote = 0;

	while ((edge = dft_gen_contention_next_edge(&env->contention, mt->done)) <= t) {
		for (uint32_t c = 0; c < mt->n; c++) {
			int high = dft_gen_contention_active(&env->contention, c, edge);

			if (high == mt->high[c])
				continue;
			if (mt->touched[c])
				dft_gen_metrics_settle(mt);
			dft_gen_metrics_put(mt, env, c, high, env->t0 + edge);
			wrote = 1;
		}
		mt->done = edge;
	}
	if (wrote)
		dft_gen_metrics_settle(mt);
	__atomic_store_n(&dft_gen_mark, now, __ATOMIC_RELEASE);
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
	        (double)(dft_clock_ns(CLOCK_REALTIME) - t0) / 1e9, req, spans, st.produced, st.dropped_full + st.dropped_no_ring);
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
	mt.touched = calloc(mt.n, 1);
	ws = calloc(cfg->threads, sizeof(*ws));
	parts = calloc(cfg->threads, sizeof(*parts));
	if (!mt.ids || !mt.high || !mt.touched || !ws || !parts) {
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
	env.t0 = dft_clock_ns(CLOCK_REALTIME) + 20000000ull;
	for (uint32_t c = 0; c < mt.n; c++)
		dft_gen_metrics_put(&mt, &env, c, dft_gen_contention_active(&env.contention, c, 0), env.t0);
	memset(mt.touched, 0, mt.n);
	/* no window, nothing to wait for: spans go as they end */
	__atomic_store_n(&dft_gen_mark, env.contention.n ? env.t0 : UINT64_MAX, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < cfg->threads; i++) {
		struct dft_gen_worker *w = &ws[i];

		w->idx = i;
		w->cfg = cfg;
		w->env = &env;
		w->n_req = total / cfg->threads + (i < total % cfg->threads);
		/* unpaced runs are ahead of the wall clock: nothing to wait for */
		if (cfg->pace) {
			rc = dft_gen_delay_init(&w->delay, DFT_GEN_DELAY_SPANS, DFT_GEN_DELAY_HOPS);
			if (rc)
				break;
		}
		if (cfg->truth_path && asprintf(&parts[i], "%s.part%u", cfg->truth_path, i) < 0) {
			parts[i] = NULL;
			rc = -ENOMEM;
			break;
		}
		rc = dft_gen_truth_open(&w->truth, parts[i]);
		if (rc)
			break;
		rc = dft_gen_shard_init(&w->shard, &env, cfg->seed, i, &w->truth);
		w->shard.delay = cfg->pace ? &w->delay : NULL;
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
	last_progress = dft_clock_ns(CLOCK_REALTIME);
	for (;;) {
		unsigned done = 0;
		uint64_t now;

		for (unsigned i = 0; i < started; i++)
			done += __atomic_load_n(&ws[i].done, __ATOMIC_ACQUIRE);
		if (done == started)
			break;
		now = dft_clock_ns(CLOCK_REALTIME);
		{
			uint64_t edge = dft_gen_contention_next_edge(&env.contention, mt.done);
			uint64_t wake = now + METRICS_TICK_NS;

			if (edge != UINT64_MAX && env.t0 + edge < wake)
				wake = env.t0 + edge;
			dft_gen_sleep_until(wake);
		}
		now = dft_clock_ns(CLOCK_REALTIME);
		if (env.contention.n)
			dft_gen_metrics_catch_up(&mt, &env, now);
		if (cfg->progress && now - last_progress >= 1000000000ull) {
			last_progress = now;
			dft_gen_progress(ws, started, env.t0);
		}
	}
	/* windows over: leave every component unthrottled */
	for (uint32_t c = 0; c < mt.n; c++)
		if (mt.high[c])
			dft_gen_metrics_put(&mt, &env, c, 0, dft_clock_ns(CLOCK_REALTIME));
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
		out->delay_early += w->delay.early;
		if (w->delay.max_depth > out->delay_max)
			out->delay_max = w->delay.max_depth;
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
	if (ws)
		for (unsigned i = 0; i < cfg->threads; i++)
			dft_gen_delay_fini(&ws[i].delay); /* also those of workers that never started */
	if (parts)
		for (unsigned i = 0; i < cfg->threads; i++)
			free(parts[i]);
	free(parts);
	free(ws);
	free(mt.ids);
	free(mt.high);
	free(mt.touched);
free_env:
	dft_gen_env_free(&env);
	return rc;
}
