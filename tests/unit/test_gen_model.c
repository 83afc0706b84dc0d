/* SPDX-License-Identifier: MIT */
/*
 * The topology learned from tests/data/alibaba_sample.csv, whose traces were written with known
 * branching: UM-1 always calls UM-4 first, then UM-2 in 70% of its invocations or UM-3 in 30%; UM-2
 * calls UM-5 in half of its invocations. Response times: UM-1->UM-2 10..20 ms, UM-1->UM-3 30..48 ms.
 * Also the built-in workflows and the request plans drawn from both models.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gen_alibaba.h"
#include "gen_plan.h"

static struct dft_gen_ali_model ali;

static void ignore_report(void *arg, uint64_t line, enum dft_gen_csv_bad why, const char *msg)
{
	(void)arg;
	(void)line;
	(void)why;
	(void)msg;
}

static int learn(void **state)
{
	struct dft_gen_csv c;
	FILE *f = fopen(DFT_GEN_SAMPLE_CSV, "r");
	int rc;

	(void)state;
	if (!f)
		return -1;
	rc = dft_gen_csv_open(&c, f, "sample", 0);
	c.report = ignore_report; /* the sample's 5 malformed rows: test_gen_csv checks them */
	if (!rc)
		rc = dft_gen_ali_learn(&c, &ali);
	fclose(f);
	return rc;
}

static int unlearn(void **state)
{
	(void)state;
	dft_gen_ali_free(&ali);
	return 0;
}

static void test_counts(void **state)
{
	int um1 = dft_gen_ali_service(&ali, "UM-1"), um2 = dft_gen_ali_service(&ali, "UM-2");

	(void)state;
	assert_int_equal(ali.rows, 201);
	assert_int_equal(ali.rpcs, 201 - 42 - 18); /* the two rows of each stateless RPC merged */
	assert_int_equal(ali.traces, 60);
	assert_int_equal(ali.n_svc, 5);
	assert_true(um1 >= 0 && um2 >= 0);
	assert_int_equal(ali.svc[um1].invocations, 60);
	assert_int_equal(ali.svc[um1].roots, 60);
	assert_int_equal(ali.svc[um2].invocations, 42);
	assert_int_equal(ali.svc[um2].roots, 0);
}

static void test_branching(void **state)
{
	int um1 = dft_gen_ali_service(&ali, "UM-1"), um2 = dft_gen_ali_service(&ali, "UM-2");
	const struct dft_gen_ali_edge *b = dft_gen_ali_edge(&ali, um1, "UM-2", "get");
	const struct dft_gen_ali_edge *c = dft_gen_ali_edge(&ali, um1, "UM-3", "put");
	const struct dft_gen_ali_edge *d = dft_gen_ali_edge(&ali, um1, "UM-4", NULL);
	const struct dft_gen_ali_edge *e = dft_gen_ali_edge(&ali, um2, "UM-5", "mget");

	(void)state;
	assert_non_null(b);
	assert_non_null(c);
	assert_non_null(d);
	assert_non_null(e);
	assert_true(fabs(b->prob - 0.7) < 0.02);
	assert_true(fabs(c->prob - 0.3) < 0.02);
	assert_true(fabs(d->prob - 1.0) < 0.02);
	assert_true(fabs(e->prob - 0.5) < 0.02);
	assert_true(fabs(b->mult - 1.0) < 1e-9);
	assert_null(dft_gen_ali_edge(&ali, um1, "UM-2", "put")); /* edges are per interface */
	assert_null(dft_gen_ali_edge(&ali, um1, "UM-5", NULL));  /* UM-5 is UM-2's callee only */
	assert_int_equal(ali.svc[dft_gen_ali_service(&ali, "UM-5")].n_edges, 0);
}

static void test_order(void **state)
{
	int um1 = dft_gen_ali_service(&ali, "UM-1");
	const struct dft_gen_ali_svc *v = &ali.svc[um1];
	const struct dft_gen_ali_edge *first = &ali.edge[v->first_edge];

	(void)state;
	assert_int_equal(v->n_edges, 3);
	/* UM-4 (rpcid 0.1) comes before UM-2 / UM-3 (0.2) */
	assert_string_equal(dft_gen_ali_str(&ali, ali.svc[first->callee].name), "UM-4");
	for (unsigned k = 1; k < v->n_edges; k++)
		assert_true(ali.edge[v->first_edge + k].mean_rank > first->mean_rank);
}

static void test_rt(void **state)
{
	int um1 = dft_gen_ali_service(&ali, "UM-1");
	const struct dft_gen_ali_edge *b = dft_gen_ali_edge(&ali, um1, "UM-2", "get");
	const struct dft_gen_ali_edge *c = dft_gen_ali_edge(&ali, um1, "UM-3", "put");
	struct dft_gen_rng r;

	(void)state;
	/* the caller's (positive) rt is the RPC's, one sample per RPC */
	assert_int_equal(b->rt.count, 42);
	assert_int_equal(c->rt.count, 18);
	assert_true(b->rt.min_ms >= 10 && b->rt.max_ms <= 20);
	assert_true(c->rt.min_ms >= 30 && c->rt.max_ms <= 48);
	assert_true(dft_gen_hist_mean(&c->rt) > dft_gen_hist_mean(&b->rt));
	assert_true(dft_gen_hist_quantile(&b->rt, 0.1) <= dft_gen_hist_quantile(&b->rt, 0.9));
	dft_gen_rng_seed(&r, 3, 0);
	{
		double sum = 0;

		for (int i = 0; i < 5000; i++) {
			double v = dft_gen_hist_sample(&b->rt, &r);

			assert_true(v >= b->rt.min_ms && v <= b->rt.max_ms);
			sum += v;
		}
		/* resampling keeps the mean within the histogram's bin resolution (~30%) */
		assert_true(fabs(sum / 5000 - dft_gen_hist_mean(&b->rt)) < 0.3 * dft_gen_hist_mean(&b->rt));
	}
}

static int plan_has(const struct dft_gen_model *m, const struct dft_gen_plan *p, const char *fn)
{
	for (uint32_t i = 0; i < p->n; i++)
		if (strcmp(m->fn[p->inv[i].fn].name, fn) == 0)
			return 1;
	return 0;
}

static void test_plans_from_learned(void **state)
{
	struct dft_gen_rates none = {0};
	struct dft_gen_model m;
	struct dft_gen_plan p;
	struct dft_gen_rng r;
	unsigned n = 20000, um2 = 0, um3 = 0, um5 = 0;

	(void)state;
	assert_int_equal(dft_gen_ali_to_model(&ali, &m), 0);
	assert_int_equal(m.n_entry, 1);
	assert_string_equal(m.fn[m.entry[0].fn].name, "UM-1");
	dft_gen_rng_seed(&r, 11, 0);
	for (unsigned i = 0; i < n; i++) {
		dft_gen_plan_request(&m, &none, 0, &r, &p);
		assert_string_equal(m.fn[p.inv[0].fn].name, "UM-1");
		assert_true(plan_has(&m, &p, "UM-4"));
		um2 += plan_has(&m, &p, "UM-2");
		um3 += plan_has(&m, &p, "UM-3");
		um5 += plan_has(&m, &p, "UM-5");
		/* the first call is the store, as learned */
		assert_string_equal(m.fn[p.inv[1].fn].name, "UM-4");
		assert_int_equal(p.cut, 0);
	}
	assert_true(fabs((double)um2 / n - 0.7) < 0.02);
	assert_true(fabs((double)um3 / n - 0.3) < 0.02);
	assert_true(fabs((double)um5 / um2 - 0.5) < 0.03);
	dft_gen_model_free(&m);
}

static void test_builtin(void **state)
{
	struct dft_gen_model a, b;
	struct dft_gen_rates rates = {.error = 0.5};
	struct dft_gen_plan p;
	struct dft_gen_rng r;
	unsigned seen[3] = {0}, errors = 0;

	(void)state;
	assert_int_equal(dft_gen_model_builtin(&a, 0, 1), -EINVAL);
	assert_int_equal(dft_gen_model_builtin(&a, 3, 1), 0);
	assert_int_equal(a.n_entry, 3);
	dft_gen_rng_seed(&r, 5, 0);
	for (int i = 0; i < 3000; i++) {
		dft_gen_plan_request(&a, &rates, 3, &r, &p);
		seen[p.workflow]++;
		/* chain of 3, fan-out of 3 workers + merge, single */
		assert_int_equal(p.n, p.workflow == 0 ? 3 : p.workflow == 1 ? 5 : 1);
		for (uint32_t k = 0; k < p.n; k++)
			errors += p.inv[k].error_site >= 0;
	}
	for (int w = 0; w < 3; w++)
		assert_true(seen[w] > 800 && seen[w] < 1200);
	assert_true(errors > 1300 && errors < 1700);
	dft_gen_model_free(&a);

	/* beyond the built-ins: random shapes, the same for the same seed */
	assert_int_equal(dft_gen_model_builtin(&a, 8, 42), 0);
	assert_int_equal(dft_gen_model_builtin(&b, 8, 42), 0);
	assert_int_equal(a.n_entry, 8);
	assert_int_equal(a.n_fn, b.n_fn);
	assert_int_equal(a.n_call, b.n_call);
	for (uint32_t i = 0; i < a.n_fn; i++) {
		assert_string_equal(a.fn[i].name, b.fn[i].name);
		assert_int_equal(a.fn[i].n_calls, b.fn[i].n_calls);
	}
	for (uint32_t i = 0; i < a.n_call; i++)
		assert_true(a.call[i].callee < a.n_fn && a.call[i].prob > 0 && a.call[i].prob <= 1);
	dft_gen_model_free(&a);
	dft_gen_model_free(&b);
}

int main(void)
{
	const struct CMUnitTest learned[] = {
	    cmocka_unit_test(test_counts), cmocka_unit_test(test_branching),          cmocka_unit_test(test_order),
	    cmocka_unit_test(test_rt),     cmocka_unit_test(test_plans_from_learned),
	};
	const struct CMUnitTest builtin[] = {cmocka_unit_test(test_builtin)};

	return cmocka_run_group_tests(builtin, NULL, NULL) | cmocka_run_group_tests(learned, learn, unlearn);
}
