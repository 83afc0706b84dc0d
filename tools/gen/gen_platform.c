/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <difftrace/difftrace.h>

#include "gen_platform.h"

#define US 1000.0
#define MS 1000000.0

#define SPAN_KIND_INTERNAL 1
#define SPAN_KIND_SERVER   2

#define TS_CAP              640       /* a tracestate is at most 512 characters */
#define QUEUE_ANOMALY_NS    (10 * MS) /* queueing beyond this is anomalous whatever caused it */
#define CONTENTION_SLOWDOWN 5.0

struct dft_gen_proxy_desc {
	const char *name;
	double own_ns, sigma; /* the proxy's own processing, split around the forward */
	uint32_t limit;       /* concurrency limit (queue-proxy: the env's) */
	unsigned n_leaf;
	const char *leaf[3]; /* steps before forwarding, each its own short span (and hop) */
	double leaf_ns[3];
};

static const struct dft_gen_proxy_desc dft_gen_proxies[DFT_GEN_PLATFORM_COMPONENTS] = {
    {"ingress-gateway",
     250 * US,
     0.3,
     1000,
     3,
     {"route_match", "ext_authz", "upstream_select"},
     {20 * US, 150 * US, 10 * US}},
    {"activator", 200 * US, 0.3, 500, 2, {"revision_lookup", "throttler_try"}, {15 * US, 30 * US}},
    {"queue-proxy", 80 * US, 0.3, 0, 2, {"breaker_acquire", "stats_report"}, {10 * US, 8 * US}},
};

/* The headers of a request in flight between two components. */
struct dft_gen_hdr {
	char tp[64];
	char ts[TS_CAP];
};

int dft_gen_env_names(struct dft_gen_env *env)
{
	const struct dft_gen_model *m = env->model;

	env->fn_comp = calloc(m->n_fn ? m->n_fn : 1, sizeof(*env->fn_comp));
	env->fn_op = calloc(m->n_fn ? m->n_fn : 1, sizeof(*env->fn_op));
	if (!env->fn_comp || !env->fn_op)
		return -ENOMEM;
	for (unsigned c = 0; c < DFT_GEN_PLATFORM_COMPONENTS; c++) {
		if (!(env->plat_comp[c] = dft_name(dft_gen_proxies[c].name)))
			return -ENOSPC;
		for (unsigned l = 0; l < dft_gen_proxies[c].n_leaf; l++)
			if (!(env->leaf_op[c][l] = dft_name(dft_gen_proxies[c].leaf[l])))
				return -ENOSPC;
	}
	for (uint32_t i = 0; i < m->n_fn; i++)
		if (!(env->fn_comp[i] = dft_name(m->fn[i].name)) || !(env->fn_op[i] = dft_name(m->fn[i].op)))
			return -ENOSPC;
	return 0;
}

void dft_gen_env_free(struct dft_gen_env *env)
{
	free(env->fn_comp);
	free(env->fn_op);
	dft_gen_contention_free(&env->contention);
	env->fn_comp = env->fn_op = NULL;
}

/* ---- concurrency slots: a min-heap of the times each slot becomes free ---- */

static int dft_gen_heap_init(struct dft_gen_heap *h, uint32_t cap, uint64_t t0)
{
	h->n = h->cap = cap;
	h->v = NULL;
	if (!cap)
		return 0;
	h->v = malloc(cap * sizeof(*h->v));
	if (!h->v)
		return -ENOMEM;
	for (uint32_t i = 0; i < cap; i++)
		h->v[i] = t0;
	return 0;
}

/*
 * Take the slot that frees first; returns when it is free. A nested call through the same component
 * may take slots meanwhile: the slot is out of the heap until put back. With every slot taken (only
 * by a request's own nesting), the request does not wait.
 */
static uint64_t dft_gen_heap_take(struct dft_gen_heap *h)
{
	uint64_t top;
	uint32_t i = 0;

	if (h->n == 0)
		return 0;
	top = h->v[0];
	h->v[0] = h->v[--h->n];
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		uint64_t x;

		if (l < h->n && h->v[l] < h->v[m])
			m = l;
		if (r < h->n && h->v[r] < h->v[m])
			m = r;
		if (m == i)
			break;
		x = h->v[i];
		h->v[i] = h->v[m];
		h->v[m] = x;
		i = m;
	}
	return top;
}

static void dft_gen_heap_put(struct dft_gen_heap *h, uint64_t busy_until)
{
	uint32_t i;

	if (h->n >= h->cap)
		return;
	i = h->n++;
	h->v[i] = busy_until;
	while (i > 0 && h->v[(i - 1) / 2] > h->v[i]) {
		uint64_t x = h->v[i];

		h->v[i] = h->v[(i - 1) / 2];
		h->v[(i - 1) / 2] = x;
		i = (i - 1) / 2;
	}
}

int dft_gen_shard_init(struct dft_gen_shard *s, const struct dft_gen_env *env, uint64_t seed, unsigned idx,
                       struct dft_gen_truth *truth)
{
	const struct dft_gen_model *m = env->model;

	memset(s, 0, sizeof(*s));
	s->env = env;
	s->truth = truth;
	dft_gen_rng_seed(&s->rng, seed, 0x74696d6500000000ull + idx);
	dft_gen_rng_seed(&s->ids, seed, 0x6964730000000000ull + idx);
	if (dft_gen_heap_init(&s->slots[0], dft_gen_proxies[0].limit, env->t0) ||
	    dft_gen_heap_init(&s->slots[1], dft_gen_proxies[1].limit, env->t0))
		goto free_shard;
	s->fn_slots = calloc(m->n_fn ? m->n_fn : 1, sizeof(*s->fn_slots));
	s->fn_active = calloc(m->n_fn ? m->n_fn : 1, sizeof(*s->fn_active));
	if (!s->fn_slots || !s->fn_active)
		goto free_shard;
	for (uint32_t i = 0; i < m->n_fn; i++) {
		/* deployed and warm when the run starts: the idle clock starts with it */
		s->fn_active[i] = env->t0;
		if (dft_gen_heap_init(&s->fn_slots[i], env->concurrency, env->t0))
			goto free_shard;
	}
	return 0;

free_shard:
	dft_gen_shard_fini(s);
	return -ENOMEM;
}

void dft_gen_shard_fini(struct dft_gen_shard *s)
{
	if (s->fn_slots && s->env)
		for (uint32_t i = 0; i < s->env->model->n_fn; i++)
			free(s->fn_slots[i].v);
	free(s->fn_slots);
	free(s->fn_active);
	free(s->slots[0].v);
	free(s->slots[1].v);
	s->fn_slots = NULL;
	s->fn_active = NULL;
	s->slots[0].v = s->slots[1].v = NULL;
}

/* ---- spans ---- */

static uint64_t dft_gen_nonzero(struct dft_gen_rng *r)
{
	uint64_t v;

	do
		v = dft_gen_rand(r);
	while (v == 0);
	return v;
}

static void dft_gen_begin(struct dft_gen_shard *s, struct dft_span *sp, uint16_t op, const struct dft_ctx *parent,
                          uint64_t t, uint16_t comp, int function, uint8_t span_kind)
{
	dft_span_begin_at(sp, op, parent, t);
	if (s->env->seeded_ids) {
		uint8_t tid[16];
		uint64_t a = dft_gen_rand(&s->ids), b = dft_gen_nonzero(&s->ids);

		memcpy(tid, &a, 8);
		memcpy(tid + 8, &b, 8);
		dft_span_set_ids(sp, parent ? NULL : tid, dft_gen_nonzero(&s->ids), parent ? parent->span_id : 0);
	}
	dft_span_set_component(sp, comp, function ? DFT_COMPONENT_FUNCTION : DFT_COMPONENT_PLATFORM);
	dft_span_set_kind(sp, span_kind);
}

static void dft_gen_end(struct dft_gen_shard *s, struct dft_span *sp, const struct dft_ctx *parent, uint64_t start,
                        uint64_t end, const char *comp, const char *op, int function, enum dft_gen_anomaly an)
{
	struct dft_gen_truth_rec r;
	struct dft_ctx me;

	dft_gen_delay_end(s->delay, sp, end);
	dft_span_context(sp, &me);
	memcpy(r.trace_id, me.trace_id, 16);
	r.span_id = me.span_id;
	r.parent_span_id = parent ? parent->span_id : 0;
	r.component = comp;
	r.operation = op;
	r.function = function;
	r.start_ns = start;
	r.end_ns = end;
	r.anomaly = an;
	dft_gen_truth_put(s->truth, &r);
	/* one writer; the progress loop reads it from another thread */
	__atomic_store_n(&s->c.spans, s->c.spans + 1, __ATOMIC_RELAXED);
	if (function)
		s->c.function++;
	else
		s->c.platform++;
	if (an != DFT_GEN_NORMAL) {
		s->c.anomalous++;
		s->c.by_anomaly[an]++;
	}
}

static uint64_t dft_gen_ns(double v)
{
	return v < 1 ? 1 : (uint64_t)v;
}

static int dft_gen_contended(const struct dft_gen_shard *s, uint32_t target, uint64_t t)
{
	return t >= s->env->t0 && dft_gen_contention_active(&s->env->contention, target, t - s->env->t0);
}

static uint64_t dft_gen_function(struct dft_gen_shard *s, const struct dft_gen_plan *p, uint32_t i, uint64_t t,
                                 const struct dft_gen_hdr *in, int *failed);

static uint64_t dft_gen_proxy(struct dft_gen_shard *s, const struct dft_gen_plan *p, uint32_t i, unsigned site,
                              uint64_t t, const struct dft_gen_hdr *in, int cold, int *failed)
{
	const struct dft_gen_proxy_desc *d = &dft_gen_proxies[site];
	const struct dft_gen_env *env = s->env;
	const struct dft_gen_inv *v = &p->inv[i];
	const char *route = env->model->fn[v->fn].name;
	struct dft_gen_heap *h = site == DFT_GEN_QUEUE_PROXY ? &s->fn_slots[v->fn] : &s->slots[site];
	enum dft_gen_anomaly an = DFT_GEN_NORMAL;
	struct dft_ctx parent, ctx;
	struct dft_hop_list hops;
	struct dft_gen_hdr out;
	struct dft_span sp;
	int has_parent, contended = dft_gen_contended(s, site, t);
	double slow = contended ? CONTENTION_SLOWDOWN : 1.0, own;
	uint64_t q, free_at, tcur, tend;

	has_parent = in->tp[0] && dft_traceparent_extract(in->tp, sizeof(in->tp), &parent) == 0;
	(void)dft_tracestate_extract(in->ts, sizeof(in->ts), &hops); /* malformed: no hops, carry on */

	/* queue: a little always, the wait for a free slot over the limit, and the injected burst */
	q = dft_gen_ns(dft_gen_exp(&s->rng, 15 * US));
	if (q > 200 * US)
		q = 200 * US;
	free_at = dft_gen_heap_take(h);
	if (free_at > t + q)
		q = free_at - t;
	if (q > QUEUE_ANOMALY_NS)
		an = DFT_GEN_QUEUEING;
	if (v->queue_site == (int)site) {
		q += v->queue_burst_ns;
		an = DFT_GEN_QUEUEING;
	}
	if (site == DFT_GEN_ACTIVATOR && !cold && t - env->idle_ns > s->fn_active[v->fn] && env->idle_ns)
		cold = 1; /* scaled to zero while idle */
	if (site == DFT_GEN_ACTIVATOR && v->cold)
		cold = 1;
	if (cold && site != DFT_GEN_INGRESS)
		an = DFT_GEN_COLD_START;
	if (q > UINT32_MAX)
		q = UINT32_MAX; /* queue_ns is 32 bits: about 4.3 s */

	dft_gen_begin(s, &sp, env->fn_comp[v->fn], has_parent ? &parent : NULL, t, env->plat_comp[site], 0,
	              SPAN_KIND_SERVER);
	dft_span_set_queue_ns(&sp, (uint32_t)q);
	if (cold && site != DFT_GEN_INGRESS)
		dft_span_set_cold_start(&sp);
	dft_span_context(&sp, &ctx);
	/* this component's span and its steps travel on as hops, as a deployed proxy would send them */
	if (dft_hop_list_add(&hops, &sp))
		s->c.hdr_fallback++;
	tcur = t + q;
	for (unsigned l = 0; l < d->n_leaf; l++) {
		struct dft_span leaf;
		/* a step is contended when it starts in a window, whenever its proxy started */
		int step_contended = dft_gen_contended(s, site, tcur);
		uint64_t dur = dft_gen_ns(dft_gen_lognormal(&s->rng, d->leaf_ns[l], 0.3) *
		                          (step_contended ? CONTENTION_SLOWDOWN : 1.0));

		dft_gen_begin(s, &leaf, env->leaf_op[site][l], &ctx, tcur, env->plat_comp[site], 0, SPAN_KIND_INTERNAL);
		if (dft_hop_list_add(&hops, &leaf))
			s->c.hdr_fallback++;
		dft_gen_end(s, &leaf, &ctx, tcur, tcur + dur, d->name, d->leaf[l], 0,
		            step_contended ? DFT_GEN_CONTENTION : DFT_GEN_NORMAL);
		tcur += dur;
	}
	own = dft_gen_lognormal(&s->rng, d->own_ns, d->sigma) * slow;
	if (v->outlier_site == (int)site && an == DFT_GEN_NORMAL)
		an = DFT_GEN_OUTLIER;
	tcur += dft_gen_ns(own * 0.6);
	if (cold && site == DFT_GEN_ACTIVATOR)
		tcur += dft_gen_ns(dft_gen_lognormal(&s->rng, 1200 * MS, 0.3)); /* the pod is scheduled and started */
	else if (cold && site == DFT_GEN_QUEUE_PROXY)
		tcur += dft_gen_ns(dft_gen_lognormal(&s->rng, 150 * MS, 0.3)); /* the user container gets ready */

	if (v->error_site == (int)site) {
		/* the component fails the request (no revision, timeout, overload): nothing is forwarded */
		dft_span_set_status(&sp, DFT_SPAN_ERROR);
		an = DFT_GEN_ERROR;
		*failed = 1;
		tend = tcur + dft_gen_ns(own * 0.4);
	} else {
		uint64_t net = dft_gen_ns(dft_gen_lognormal(&s->rng, 40 * US, 0.3)), ret;
		int n;

		if (dft_traceparent_inject(&ctx, out.tp, sizeof(out.tp)))
			out.tp[0] = 0;
		n = dft_tracestate_inject(&hops, NULL, in->ts, sizeof(in->ts), out.ts, sizeof(out.ts));
		if (n < 0) {
			memcpy(out.ts, in->ts, sizeof(out.ts));
			s->c.hdr_fallback++;
		}
		if (site < DFT_GEN_QUEUE_PROXY)
			ret = dft_gen_proxy(s, p, i, site + 1, tcur + net, &out, cold, failed);
		else
			ret = dft_gen_function(s, p, i, tcur + net, &out, failed);
		tend = ret + net + dft_gen_ns(own * 0.4);
	}
	/* a latency outlier is slow as a whole (a stalled proxy holds the response), which is what an
	 * observer of the span can see: its duration, not the share of it spent in the proxy itself */
	if (v->outlier_site == (int)site)
		tend = t + (uint64_t)((double)(tend - t) * v->outlier_factor);
	if (an == DFT_GEN_NORMAL && contended)
		an = DFT_GEN_CONTENTION;
	dft_gen_end(s, &sp, has_parent ? &parent : NULL, t, tend, d->name, route, 0, an);
	dft_gen_heap_put(h, tend);
	return tend;
}

static uint64_t dft_gen_function(struct dft_gen_shard *s, const struct dft_gen_plan *p, uint32_t i, uint64_t t,
                                 const struct dft_gen_hdr *in, int *failed)
{
	const struct dft_gen_env *env = s->env;
	const struct dft_gen_inv *v = &p->inv[i];
	const struct dft_gen_fn *f = &env->model->fn[v->fn];
	enum dft_gen_anomaly an = DFT_GEN_NORMAL;
	struct dft_hop_list hops; /* the span points at it until it ends */
	struct dft_ctx parent, ctx;
	struct dft_span sp;
	int has_parent, contended = dft_gen_contended(s, DFT_GEN_PLATFORM_COMPONENTS + v->fn, t);
	double work = (double)v->work_ns * (contended ? CONTENTION_SLOWDOWN : 1.0);
	uint64_t tcur, tend;

	has_parent = in->tp[0] && dft_traceparent_extract(in->tp, sizeof(in->tp), &parent) == 0;
	(void)dft_tracestate_extract(in->ts, sizeof(in->ts), &hops);
	dft_gen_begin(s, &sp, env->fn_op[v->fn], has_parent ? &parent : NULL, t, env->fn_comp[v->fn], 1,
	              SPAN_KIND_SERVER);
	dft_span_set_hops(&sp, &hops);
	dft_span_context(&sp, &ctx);
	if (v->outlier_site == DFT_GEN_FUNCTION) {
		work *= v->outlier_factor;
		an = DFT_GEN_OUTLIER;
	}
	tcur = t + dft_gen_ns(v->n_child ? work * 0.3 : work);
	/* calls through the platform again: a group in parallel, the next group after it joined */
	for (uint32_t c = 0; c < v->n_child;) {
		uint32_t g = p->inv[v->first_child + c].group, k = 0;
		uint64_t join = tcur;

		for (; c < v->n_child && p->inv[v->first_child + c].group == g; c++, k++) {
			struct dft_gen_hdr out;
			int child_failed = 0;
			uint64_t ret;

			/* a new outgoing request: traceparent from this span, no hops of our own path */
			if (dft_traceparent_inject(&ctx, out.tp, sizeof(out.tp)))
				out.tp[0] = 0;
			out.ts[0] = 0;
			ret = dft_gen_proxy(s, p, v->first_child + c, DFT_GEN_INGRESS, tcur + k * 20 * (uint64_t)US,
			                    &out, 0, &child_failed);
			if (ret > join)
				join = ret;
		}
		tcur = join;
	}
	tend = v->n_child ? tcur + dft_gen_ns(work * 0.1) : tcur;
	if (v->n_child && tend < t + (uint64_t)work)
		tend = t + (uint64_t)work;
	if (v->error_site == DFT_GEN_FUNCTION) {
		dft_span_set_exception(&sp);
		an = DFT_GEN_ERROR;
		*failed = 1;
	}
	if (an == DFT_GEN_NORMAL && contended)
		an = DFT_GEN_CONTENTION;
	dft_gen_end(s, &sp, has_parent ? &parent : NULL, t, tend, f->name, f->op, 1, an);
	if (tend > s->fn_active[v->fn])
		s->fn_active[v->fn] = tend;
	return tend;
}

uint64_t dft_gen_shard_request(struct dft_gen_shard *s, const struct dft_gen_plan *p, uint64_t t)
{
	struct dft_gen_hdr in = {{0}, {0}}; /* the client sends no trace context: ingress starts the trace */
	int failed = 0;

	__atomic_store_n(&s->c.requests, s->c.requests + 1, __ATOMIC_RELAXED);
	s->c.plan_cut += p->cut;
	return dft_gen_proxy(s, p, 0, DFT_GEN_INGRESS, t, &in, 0, &failed);
}
