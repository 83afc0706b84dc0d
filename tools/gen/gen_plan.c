/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <string.h>

#include "gen_plan.h"

const char *dft_gen_anomaly_name(enum dft_gen_anomaly a)
{
	static const char *const names[DFT_GEN_ANOMALY_KINDS] = {
	    NULL, "error", "queueing", "cold_start", "contention", "outlier",
	};

	return (unsigned)a < DFT_GEN_ANOMALY_KINDS ? names[a] : NULL;
}

static uint32_t dft_gen_pick_entry(const struct dft_gen_model *m, unsigned workflows, struct dft_gen_rng *r)
{
	unsigned n = workflows && workflows < m->n_entry ? workflows : m->n_entry;
	double total = 0, x;

	for (unsigned i = 0; i < n; i++)
		total += m->entry[i].weight;
	x = dft_gen_unit(r) * total;
	for (unsigned i = 0; i < n; i++) {
		if (x < m->entry[i].weight)
			return i;
		x -= m->entry[i].weight;
	}
	return n - 1;
}

static uint64_t dft_gen_work(const struct dft_gen_fn *f, const struct dft_gen_hist *rt, struct dft_gen_rng *r)
{
	double ns;

	if (rt && rt->count)
		ns = dft_gen_hist_sample(rt, r) * 1e6;
	else
		ns = dft_gen_lognormal(r, f->median_ns, f->sigma);
	return ns < 1000 ? 1000 : (uint64_t)ns;
}

static void dft_gen_inv_init(struct dft_gen_inv *v, uint32_t fn, int32_t parent, uint32_t group, uint32_t depth)
{
	memset(v, 0, sizeof(*v));
	v->fn = fn;
	v->parent = parent;
	v->group = group;
	v->depth = depth;
	v->error_site = v->queue_site = v->outlier_site = -1;
}

void dft_gen_plan_request(const struct dft_gen_model *m, const struct dft_gen_rates *rates, unsigned workflows,
                          struct dft_gen_rng *r, struct dft_gen_plan *p)
{
	uint32_t e = dft_gen_pick_entry(m, workflows, r);

	p->workflow = e;
	p->n = 1;
	p->cut = 0;
	dft_gen_inv_init(&p->inv[0], m->entry[e].fn, -1, 0, 0);
	p->inv[0].work_ns = dft_gen_work(&m->fn[m->entry[e].fn], m->fn[m->entry[e].fn].rt, r);
	/* breadth first: each invocation's children are contiguous */
	for (uint32_t i = 0; i < p->n; i++) {
		struct dft_gen_inv *v = &p->inv[i];
		const struct dft_gen_fn *f = &m->fn[v->fn];

		v->first_child = p->n;
		for (uint32_t c = 0; c < f->n_calls; c++) {
			const struct dft_gen_call *call = &m->call[f->first_call + c];
			unsigned times;

			if (!dft_gen_chance(r, call->prob))
				continue;
			times = (unsigned)call->mult;
			if (dft_gen_chance(r, call->mult - times))
				times++;
			for (unsigned t = 0; t < times; t++) {
				struct dft_gen_inv *k;

				if (p->n >= DFT_GEN_PLAN_MAX || v->depth + 1 >= DFT_GEN_PLAN_DEPTH) {
					p->cut++;
					continue;
				}
				k = &p->inv[p->n++];
				dft_gen_inv_init(k, call->callee, (int32_t)i, call->group, v->depth + 1);
				k->work_ns = dft_gen_work(&m->fn[call->callee], call->rt, r);
				v->n_child++;
			}
		}
	}
	/* anomalies: each kind strikes a request with its rate, at one invocation chosen uniformly */
	if (dft_gen_chance(r, rates->error)) {
		struct dft_gen_inv *v = &p->inv[dft_gen_below(r, p->n)];

		v->error_site = (int8_t)dft_gen_below(r, DFT_GEN_SITES);
	}
	if (dft_gen_chance(r, rates->queueing)) {
		struct dft_gen_inv *v = &p->inv[dft_gen_below(r, p->n)];

		v->queue_site = (int8_t)dft_gen_below(r, DFT_GEN_FUNCTION);
		v->queue_burst_ns = (uint32_t)fmin(dft_gen_lognormal(r, 80e6, 0.5), 2e9);
	}
	if (dft_gen_chance(r, rates->cold))
		p->inv[dft_gen_below(r, p->n)].cold = 1;
	if (dft_gen_chance(r, rates->outlier)) {
		struct dft_gen_inv *v = &p->inv[dft_gen_below(r, p->n)];

		v->outlier_site = (int8_t)dft_gen_below(r, DFT_GEN_SITES);
		v->outlier_factor = 10 + 30 * dft_gen_unit(r);
	}
}
