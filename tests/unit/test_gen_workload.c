/* SPDX-License-Identifier: MIT */
/*
 * The generator core against a daemon-less libdifftrace: fixed request counts, fixed seeds, no
 * pacing. Everything is checked from the ground-truth file: platform share, every trace a tree whose
 * parent links resolve, spans ended children first and inside their parents, anomaly counts against
 * their rates, and the same seed giving the same run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <difftrace/difftrace.h>

#include "gen_run.h"

struct span {
	char trace[33];
	uint64_t id, parent;
	char component[40], operation[40];
	int function;
	uint64_t start, end;
	int anomaly; /* enum dft_gen_anomaly */
	long parent_idx;
};

struct truth {
	struct span *s;
	size_t n;
};

static char dir[] = "/tmp/test_gen_workload.XXXXXX";
static struct dft_gen_model builtin;

static int str_field(const char *line, const char *key, char *out, size_t cap)
{
	char pat[48];
	const char *p, *q;

	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	p = strstr(line, pat);
	if (!p)
		return -1;
	p += strlen(pat);
	q = strchr(p, '"');
	if (!q || (size_t)(q - p) >= cap)
		return -1;
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = 0;
	return 0;
}

static int num_field(const char *line, const char *key, uint64_t *out, int base)
{
	char pat[48], buf[40];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(line, pat);
	if (!p)
		return -1;
	p += strlen(pat);
	if (*p == '"') {
		if (str_field(line, key, buf, sizeof(buf)))
			return -1;
		p = buf;
	}
	*out = strtoull(p, NULL, base);
	return 0;
}

static int anomaly_of(const char *line)
{
	char a[32];

	if (strstr(line, "\"anomaly\":null"))
		return assert_non_null(strstr(line, "\"anomalous\":false")), DFT_GEN_NORMAL;
	assert_int_equal(str_field(line, "anomaly", a, sizeof(a)), 0);
	assert_non_null(strstr(line, "\"anomalous\":true"));
	for (int k = 1; k < DFT_GEN_ANOMALY_KINDS; k++)
		if (strcmp(a, dft_gen_anomaly_name(k)) == 0)
			return k;
	fail_msg("unknown anomaly %s", a);
	return -1;
}

static int cmp_key(const void *a, const void *b)
{
	const struct span *x = *(struct span *const *)a, *y = *(struct span *const *)b;
	int c = strcmp(x->trace, y->trace);

	return c ? c : x->id < y->id ? -1 : x->id > y->id;
}

static struct span *find(struct span **idx, size_t n, const char *trace, uint64_t id)
{
	struct span key, *kp = &key, **hit;

	memcpy(key.trace, trace, sizeof(key.trace));
	key.id = id;
	hit = bsearch(&kp, idx, n, sizeof(*idx), cmp_key);
	return hit ? *hit : NULL;
}

static void load(const char *path, struct truth *t)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	size_t cap = 0;
	struct span **idx;

	assert_non_null(f);
	memset(t, 0, sizeof(*t));
	while (fgets(line, sizeof(line), f)) {
		struct span *s;

		if (t->n == cap) {
			cap = cap ? 2 * cap : 4096;
			t->s = realloc(t->s, cap * sizeof(*t->s));
			assert_non_null(t->s);
		}
		s = &t->s[t->n++];
		assert_int_equal(str_field(line, "trace_id", s->trace, sizeof(s->trace)), 0);
		assert_int_equal(strlen(s->trace), 32);
		assert_int_equal(num_field(line, "span_id", &s->id, 16), 0);
		assert_int_equal(num_field(line, "parent_span_id", &s->parent, 16), 0);
		assert_int_equal(str_field(line, "component", s->component, sizeof(s->component)), 0);
		assert_int_equal(str_field(line, "operation", s->operation, sizeof(s->operation)), 0);
		s->function = strstr(line, "\"kind\":\"function\"") != NULL;
		assert_true(s->function || strstr(line, "\"kind\":\"platform\""));
		assert_int_equal(num_field(line, "start_ns", &s->start, 10), 0);
		assert_int_equal(num_field(line, "end_ns", &s->end, 10), 0);
		s->anomaly = anomaly_of(line);
		assert_true(s->id != 0 && s->start <= s->end);
	}
	fclose(f);
	/* resolve parents: index by (trace, span id) */
	idx = malloc((t->n + 1) * sizeof(*idx));
	assert_non_null(idx);
	for (size_t i = 0; i < t->n; i++)
		idx[i] = &t->s[i];
	qsort(idx, t->n, sizeof(*idx), cmp_key);
	for (size_t i = 1; i < t->n; i++)
		if (cmp_key(&idx[i - 1], &idx[i]) == 0)
			fail_msg("span %016" PRIx64 " twice in trace %s", idx[i]->id, idx[i]->trace);
	for (size_t i = 0; i < t->n; i++) {
		struct span *s = &t->s[i], *p;

		s->parent_idx = -1;
		if (!s->parent)
			continue;
		p = find(idx, t->n, s->trace, s->parent);
		if (!p)
			fail_msg("line %zu: parent %016" PRIx64 " not in trace %s", i + 1, s->parent, s->trace);
		s->parent_idx = p - t->s;
	}
	free(idx);
}

static void run(struct dft_gen_config *cfg, const char *name, struct dft_gen_counts *res, struct truth *t)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cfg->truth_path = path;
	assert_int_equal(dft_gen_run(cfg, res), 0);
	load(path, t);
	assert_int_equal(t->n, res->spans);
	unlink(path);
}

static void base_config(struct dft_gen_config *cfg, uint64_t requests, uint64_t seed)
{
	dft_gen_config_defaults(cfg);
	cfg->model = &builtin;
	cfg->requests = requests;
	cfg->seed = seed;
	cfg->pace = 0;
	cfg->threads = 3;
}

static void test_defaults_share_and_trees(void **state)
{
	struct dft_gen_config cfg;
	struct dft_gen_counts res;
	struct truth t;
	size_t roots = 0, platform = 0;

	(void)state;
	base_config(&cfg, 900, 7);
	run(&cfg, "defaults.jsonl", &res, &t);
	assert_int_equal(res.requests, 900);
	for (size_t i = 0; i < t.n; i++) {
		const struct span *s = &t.s[i];

		platform += !s->function;
		if (s->parent_idx < 0) {
			/* a trace starts at the ingress gateway, with the client's request */
			roots++;
			assert_string_equal(s->component, "ingress-gateway");
			continue;
		}
		/* ended children first: the parent's line comes later in its thread's part */
		assert_true((size_t)s->parent_idx > i);
		assert_true(s->start >= t.s[s->parent_idx].start && s->end <= t.s[s->parent_idx].end);
		/* a function is entered from its queue-proxy only */
		if (s->function)
			assert_string_equal(t.s[s->parent_idx].component, "queue-proxy");
	}
	assert_int_equal(roots, 900); /* one tree per request */
	assert_int_equal(platform, res.platform);
	assert_true((double)platform / (double)t.n >= 0.9);
	/* defaults: a few % of the requests carry an anomaly, a small share of the spans */
	assert_true(res.anomalous > 0 && (double)res.anomalous / (double)t.n < 0.05);
	free(t.s);
}

static unsigned traces_with(const struct truth *t, int anomaly)
{
	unsigned n = 0;

	for (size_t i = 0; i < t->n; i++) {
		int first = 1;

		if (t->s[i].anomaly != anomaly)
			continue;
		/* count each trace once: the first such span of its trace in the file */
		for (size_t j = 0; j < i && first; j++)
			if (t->s[j].anomaly == anomaly && strcmp(t->s[j].trace, t->s[i].trace) == 0)
				first = 0;
		n += first;
	}
	return n;
}

static void within(const char *what, double got, double n, double p)
{
	double sd = sqrt(n * p * (1 - p));

	if (fabs(got - n * p) > 4 * sd + 2)
		fail_msg("%s: %g, expected %g +- %g", what, got, n * p, 4 * sd + 2);
}

static void test_anomaly_rates(void **state)
{
	struct dft_gen_config cfg;
	struct dft_gen_counts res;
	struct truth t;
	double n = 2000;
	unsigned cold_spans = 0;

	(void)state;
	base_config(&cfg, (uint64_t)n, 99);
	cfg.rates = (struct dft_gen_rates){.error = 0.05, .queueing = 0.04, .cold = 0.03, .outlier = 0.06};
	run(&cfg, "rates.jsonl", &res, &t);
	/* each kind strikes a request with its rate; an error or a burst may hide behind another
	 * kind on the same span, so the count is of traces showing the kind */
	within("error traces", traces_with(&t, DFT_GEN_ERROR), n, 0.05);
	within("queueing traces", traces_with(&t, DFT_GEN_QUEUEING), n, 0.04);
	within("cold-start traces", traces_with(&t, DFT_GEN_COLD_START), n, 0.03);
	within("outlier traces", traces_with(&t, DFT_GEN_OUTLIER), n, 0.06);
	assert_int_equal(res.by_anomaly[DFT_GEN_CONTENTION], 0);
	for (size_t i = 0; i < t.n; i++) {
		const struct span *s = &t.s[i];

		if (s->anomaly != DFT_GEN_COLD_START)
			continue;
		/* a cold start shows on the activator holding the request and the new pod's queue-proxy */
		assert_true(strcmp(s->component, "activator") == 0 || strcmp(s->component, "queue-proxy") == 0);
		cold_spans++;
		if (strcmp(s->component, "activator") == 0)
			assert_true(s->end - s->start > 300000000ull); /* scheduling a pod takes long */
	}
	assert_true(cold_spans >= 2 * traces_with(&t, DFT_GEN_COLD_START) - 2);
	free(t.s);

	/* no rates, no anomalies (nothing idles long enough to scale to zero) */
	base_config(&cfg, 500, 99);
	cfg.rates = (struct dft_gen_rates){0};
	run(&cfg, "clean.jsonl", &res, &t);
	assert_int_equal(res.anomalous, 0);
	free(t.s);
}

static void test_contention(void **state)
{
	struct dft_gen_config cfg;
	struct dft_gen_counts res;
	struct truth t;
	unsigned contended = 0;

	(void)state;
	base_config(&cfg, 3000, 5);
	cfg.rates = (struct dft_gen_rates){.contention = 0.01};
	cfg.rate = 1000;
	run(&cfg, "contention.jsonl", &res, &t);
	for (size_t i = 0; i < t.n; i++)
		contended += t.s[i].anomaly == DFT_GEN_CONTENTION;
	assert_true(contended > 0);
	assert_int_equal(contended, res.by_anomaly[DFT_GEN_CONTENTION]);
	free(t.s);
}

static void test_same_seed(void **state)
{
	struct dft_gen_config cfg;
	struct dft_gen_counts r1, r2, r3;
	struct truth a, b, c;

	(void)state;
	base_config(&cfg, 400, 1234);
	cfg.seeded_ids = 1;
	run(&cfg, "s1.jsonl", &r1, &a);
	usleep(3000); /* a different anchor */
	run(&cfg, "s2.jsonl", &r2, &b);
	assert_int_equal(a.n, b.n);
	for (size_t i = 0; i < a.n; i++) {
		/* seeded ids: the same file but for the anchor, one shift for every timestamp */
		assert_string_equal(a.s[i].trace, b.s[i].trace);
		assert_int_equal(a.s[i].id, b.s[i].id);
		assert_int_equal(a.s[i].parent, b.s[i].parent);
		assert_string_equal(a.s[i].component, b.s[i].component);
		assert_string_equal(a.s[i].operation, b.s[i].operation);
		assert_int_equal(a.s[i].anomaly, b.s[i].anomaly);
		assert_int_equal(a.s[i].start - a.s[0].start, b.s[i].start - b.s[0].start);
		assert_int_equal(a.s[i].end - a.s[i].start, b.s[i].end - b.s[i].start);
	}
	/* library ids: the same structure, other ids */
	cfg.seeded_ids = 0;
	run(&cfg, "s3.jsonl", &r3, &c);
	assert_int_equal(a.n, c.n);
	assert_true(strcmp(a.s[0].trace, c.s[0].trace) != 0);
	for (size_t i = 0; i < a.n; i++) {
		assert_string_equal(a.s[i].component, c.s[i].component);
		assert_int_equal(a.s[i].parent_idx, c.s[i].parent_idx);
		assert_int_equal(a.s[i].anomaly, c.s[i].anomaly);
		assert_int_equal(a.s[i].end - a.s[i].start, c.s[i].end - c.s[i].start);
	}
	free(a.s);
	free(c.s);
	/* another seed, another run */
	cfg.seed = 1235;
	run(&cfg, "s4.jsonl", &r3, &c);
	{
		size_t same = 0, n = c.n < b.n ? c.n : b.n;

		for (size_t i = 0; i < n; i++)
			same += c.s[i].end - c.s[i].start == b.s[i].end - b.s[i].start;
		assert_true(same < n / 2);
	}
	free(b.s);
	free(c.s);
}

static void test_paced(void **state)
{
	struct dft_gen_config cfg;
	struct dft_gen_counts res;
	struct truth t;
	struct timespec t0, t1;
	double wall;

	(void)state;
	/* --rate and --seconds hold in wall time: 100 requests at 400/s take about 0.25 s */
	base_config(&cfg, 0, 3);
	cfg.pace = 1;
	cfg.rate = 400;
	cfg.seconds = 0.25;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run(&cfg, "paced.jsonl", &res, &t);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_int_equal(res.requests, 100);
	assert_true(wall > 0.12 && wall < 2.0);
	free(t.s);
}

static int setup(void **state)
{
	struct dft_options o = {.size = sizeof(o), .flags = DFT_OPT_NO_DAEMON, .ring_slots = 1024};

	(void)state;
	if (!mkdtemp(dir))
		return -1;
	if (dft_init("gen-test", DFT_COMPONENT_PLATFORM, &o))
		return -1;
	return dft_gen_model_builtin(&builtin, 3, 1);
}

static int teardown(void **state)
{
	(void)state;
	dft_gen_model_free(&builtin);
	dft_fini(0);
	rmdir(dir);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults_share_and_trees),
	    cmocka_unit_test(test_anomaly_rates),
	    cmocka_unit_test(test_contention),
	    cmocka_unit_test(test_same_seed),
	    cmocka_unit_test(test_paced),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
