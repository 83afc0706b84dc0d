/* SPDX-License-Identifier: MIT */
/* NIC-global names and the profiler: quantiles, thresholds per interval, window rotation, snapshot
 * contents, bounded tables. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nic.h"

#define IVL 1000000000ull
#define US 1000ull

/* |got - want| within the histogram's relative error (2.2%) plus rounding */
#define assert_near(got, want) assert_in_range((got), (want) - (want) / 40 - 1, (want) + (want) / 40 + 1)

static void test_names(void **state)
{
	struct dft_names *n;
	char longname[100];
	uint32_t a, b;

	(void)state;
	assert_int_equal(dft_names_create(3, &n), 0);
	a = dft_names_intern(n, "activator");
	b = dft_names_intern(n, "queue-proxy");
	assert_true(a != 0 && b != 0 && a != b);
	assert_int_equal(dft_names_intern(n, "activator"), a);
	assert_string_equal(dft_names_str(n, a), "activator");
	assert_string_equal(dft_names_str(n, 0), "");
	assert_string_equal(dft_names_str(n, 99), "");
	/* over-long input is cut to DFT_NAME_MAX and still found again */
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_not_equal(dft_names_intern(n, longname), 0);
	assert_int_equal(strlen(dft_names_str(n, 3)), DFT_NAME_MAX);
	assert_int_equal(dft_names_intern(n, longname), 3);
	/* full: 0 and counted; known names still resolve */
	assert_int_equal(dft_names_intern(n, "new"), 0);
	assert_int_equal(dft_names_intern(n, "newer"), 0);
	assert_int_equal(dft_names_full(n), 2);
	assert_int_equal(dft_names_intern(n, "queue-proxy"), b);
	assert_int_equal(dft_names_count(n), 3);
	dft_names_destroy(n);
}

static struct dft_profiler *mk(uint32_t max_keys, uint32_t rotate)
{
	struct dft_prof_cfg c;
	struct dft_profiler *p;

	dft_prof_cfg_defaults(&c);
	c.max_keys = max_keys;
	c.rotate_intervals = rotate;
	assert_int_equal(dft_profiler_create(&c, &p), 0);
	return p;
}

/* A leaf span (no children seen) ending at end. */
static void leaf(struct dft_profiler *p, int k, uint64_t end, uint64_t dur, uint32_t queue)
{
	struct dft_prof_obs o = {.end_ns = end, .duration_ns = dur, .self_ns = dur, .queue_ns = queue};

	dft_profiler_observe(p, k, &o);
}

static void test_quantiles_and_snapshot(void **state)
{
	struct dft_profiler *p = mk(16, 10);
	struct dft_names *n;
	struct dft_prof_row rows[16];
	uint32_t comp, op1, op2;
	int k1, k2;
	unsigned cnt;

	(void)state;
	assert_int_equal(dft_names_create(8, &n), 0);
	comp = dft_names_intern(n, "activator");
	op1 = dft_names_intern(n, "proxy");
	op2 = dft_names_intern(n, "health");
	assert_int_equal(dft_profiler_key(p, comp, 0), -EINVAL); /* op 0 is the component aggregate */
	k1 = dft_profiler_key(p, comp, op1);
	k2 = dft_profiler_key(p, comp, op2);
	assert_true(k1 >= 0 && k2 >= 0 && k1 != k2);
	assert_int_equal(dft_profiler_key(p, comp, op1), k1);
	/* k1 wraps a child: its self time is a fifth of its duration */
	for (uint64_t v = 1; v <= 1000; v++) {
		struct dft_prof_obs o = {.end_ns = IVL + v * US, .duration_ns = v * US, .self_ns = v * US / 5,
					 .queue_ns = (uint32_t)v, .self_known = true};

		dft_profiler_observe(p, k1, &o);
		dft_profiler_count(p, k1, v % 4 == 0);
	}
	leaf(p, k2, IVL, 7 * US, 0);
	dft_profiler_count(p, k2, false);
	/* the snapshot's figures are computed when it is taken */
	cnt = dft_profiler_snapshot(p, n, rows, 16);
	assert_int_equal(cnt, 2); /* the component aggregate is not a ProfileEntry */
	assert_string_equal(rows[0].component, "activator");
	assert_string_equal(rows[0].operation, "proxy");
	assert_int_equal(rows[0].count, 1000);
	assert_int_equal(rows[0].kept, 250);
	assert_int_equal(rows[0].filtered, 750);
	assert_near(rows[0].duration_p50_ns, 500 * US);
	assert_near(rows[0].duration_p99_ns, 990 * US);
	assert_near(rows[0].queue_p99_ns, 990);
	assert_near(rows[0].self_time_ns, 100 * US);
	assert_string_equal(rows[1].operation, "health");
	assert_int_equal(rows[1].count, 1);
	assert_int_equal(rows[1].filtered, 1);
	assert_near(rows[1].duration_p50_ns, 7 * US);
	assert_near(rows[1].self_time_ns, 7 * US);
	/* max bounds the rows */
	assert_int_equal(dft_profiler_snapshot(p, n, rows, 1), 1);
	/* the snapshot clock: due once per interval of the NIC's time; a missed one is not replayed */
	assert_false(dft_profiler_tick(p, 5));
	assert_false(dft_profiler_tick(p, 5 + IVL - 1));
	assert_true(dft_profiler_tick(p, 5 + IVL));
	assert_true(dft_profiler_tick(p, 5 + 10 * IVL));
	assert_false(dft_profiler_tick(p, 5 + 11 * IVL - 1));
	assert_true(dft_profiler_tick(p, 5 + 11 * IVL));
	dft_names_destroy(n);
	dft_profiler_destroy(p);
}

static void test_component_queue_limit(void **state)
{
	struct dft_profiler *p = mk(16, 10);
	struct dft_prof_limits lim;
	int k1, k2, other;

	(void)state;
	/* two operations of one component share the component's queue window */
	k1 = dft_profiler_key(p, 1, 2);
	k2 = dft_profiler_key(p, 1, 3);
	other = dft_profiler_key(p, 4, 2);
	for (unsigned i = 0; i < 100; i++) {
		leaf(p, k1, IVL + i, 10, 1000);
		leaf(p, k2, IVL + i, 10, 1000);
	}
	leaf(p, other, IVL, 10, 50000);
	/* 200 component samples, last refreshed at 128 (< queue_min_samples): no threshold yet */
	dft_profiler_limits(p, k2, &lim);
	assert_int_equal(lim.queue_ns, 0);
	/* one interval of span time later the component's threshold is refreshed: 4 x p99 */
	leaf(p, k1, 2 * IVL + 100, 10, 1000);
	dft_profiler_limits(p, k2, &lim);
	assert_near(lim.queue_ns, 4000);
	dft_profiler_limits(p, other, &lim);
	assert_int_equal(lim.queue_ns, 0);
	dft_profiler_limits(p, -1, &lim);
	assert_int_equal(lim.queue_ns, 0);
	assert_int_equal(lim.self_ns, 0);
	dft_profiler_destroy(p);
}

/* Windows rotate on the key's span time, never below min_window samples. */
static void test_window_rotation(void **state)
{
	struct dft_profiler *p = mk(8, 2); /* rotate every 2 intervals of span time */
	struct dft_prof_row rows[8];
	uint64_t t = IVL;
	int k;

	(void)state;
	k = dft_profiler_key(p, 1, 2);
	for (unsigned i = 0; i < 300; i++, t += 1000) {
		leaf(p, k, t, 1000 * US, 0);
		dft_profiler_count(p, k, false);
	}
	t = 3 * IVL + 1; /* past the first rotation time: rotates on this span */
	for (unsigned i = 0; i < 300; i++, t += 1000) {
		leaf(p, k, t, 10 * US, 0);
		dft_profiler_count(p, k, true);
	}
	assert_int_equal(dft_profiler_snapshot(p, NULL, rows, 8), 1);
	assert_int_equal(rows[0].count, 600); /* both halves */
	assert_int_equal(rows[0].kept, 300);
	assert_int_equal(rows[0].filtered, 300);
	t = 6 * IVL; /* the second rotation drops the 1 ms half */
	leaf(p, k, t, 10 * US, 0);
	assert_int_equal(dft_profiler_snapshot(p, NULL, rows, 8), 1);
	assert_int_equal(rows[0].count, 301);
	assert_near(rows[0].duration_p99_ns, 10 * US);
	/* hours of span time with fewer than min_window (64) samples: nothing is dropped */
	for (unsigned i = 0; i < 60; i++)
		leaf(p, k, t += 60 * IVL, 10 * US, 0);
	assert_int_equal(dft_profiler_snapshot(p, NULL, rows, 8), 1);
	assert_int_equal(rows[0].count, 361);
	dft_profiler_destroy(p);
}

/*
 * The baseline is the median: slow spans, even 5% of them at 30x, do not lift it, and the
 * threshold stays under 10x the median, so a 10x span is kept once the key has 20 samples.
 */
static void test_outlier_threshold_robust(void **state)
{
	struct dft_profiler *p = mk(8, 10);
	struct dft_prof_limits lim;
	uint64_t t = IVL;
	int k;

	(void)state;
	k = dft_profiler_key(p, 1, 2);
	for (unsigned i = 0; i < 7; i++)
		leaf(p, k, t += US, 1000 * US, 0);
	dft_profiler_limits(p, k, &lim);
	assert_int_equal(lim.self_ns, 0); /* fewer than outlier_warmup (8) samples */
	for (unsigned i = 7; i < 20; i++)
		leaf(p, k, t += US, (i % 20 == 13 ? 30000 : 800 + (i * 37) % 400) * US, 0);
	dft_profiler_limits(p, k, &lim);
	assert_true(lim.self_ns > 4 * 1000 * US);
	assert_true(lim.self_ns < 10 * 800 * US);
	for (unsigned i = 20; i < 5000; i++)
		leaf(p, k, t += US, (i % 20 == 13 ? 30000 : 800 + (i * 37) % 400) * US, 0);
	dft_profiler_limits(p, k, &lim);
	/* 5% at 30 ms: the median stays near 1 ms, the threshold near 0.9 x 10 x it */
	assert_true(lim.self_ns > 8 * 1000 * US);
	assert_true(lim.self_ns < 10 * 1000 * US);
	assert_true(dft_profiler_outlier_factor(10, 20) < 10 * 0.66);
	assert_true(dft_profiler_outlier_factor(10, 1000000) < 9.0);
	assert_true(dft_profiler_outlier_factor(10, 1000000) > 8.9);
	dft_profiler_destroy(p);
}

/*
 * A wrapping key learns self time; its inclusive baseline is separate (for spans whose children
 * were not seen), and explained spans stay out of both.
 */
static void test_self_time_and_explained(void **state)
{
	struct dft_profiler *p = mk(8, 10);
	struct dft_prof_limits lim;
	uint64_t t = IVL;
	int k;

	(void)state;
	k = dft_profiler_key(p, 1, 2);
	for (unsigned i = 0; i < 64; i++) {
		struct dft_prof_obs o = {.end_ns = t += US, .duration_ns = 20000 * US, .self_ns = 200 * US,
					 .self_known = true};

		dft_profiler_observe(p, k, &o);
	}
	dft_profiler_limits(p, k, &lim);
	assert_true(lim.wraps);
	assert_true(lim.self_ns > 5 * 200 * US && lim.self_ns < 10 * 200 * US);
	assert_true(lim.duration_ns > 5 * 20000 * US && lim.duration_ns < 10 * 20000 * US);
	/* 64 explained spans (cold starts of 5 s) do not move either baseline */
	for (unsigned i = 0; i < 64; i++) {
		struct dft_prof_obs o = {.end_ns = t += US, .duration_ns = 5000000 * US, .self_ns = 5000000 * US,
					 .self_known = true, .explained = true};

		dft_profiler_observe(p, k, &o);
	}
	{
		struct dft_prof_limits after;

		dft_profiler_limits(p, k, &after);
		assert_int_equal(after.self_ns, lim.self_ns);
		assert_int_equal(after.duration_ns, lim.duration_ns);
	}
	/* spans whose children stop being seen turn the key into a leaf key after a while */
	for (unsigned i = 0; i < 64; i++)
		leaf(p, k, t += US, 300 * US, 0);
	dft_profiler_limits(p, k, &lim);
	assert_false(lim.wraps);
	dft_profiler_destroy(p);
}

/* The same spans give the same thresholds whatever the NIC's clock does meanwhile. */
static void test_speed_invariance(void **state)
{
	struct dft_profiler *a = mk(8, 2), *b = mk(8, 2);
	uint64_t t = IVL;
	int ka, kb;

	(void)state;
	ka = dft_profiler_key(a, 1, 2);
	kb = dft_profiler_key(b, 1, 2);
	for (unsigned i = 0; i < 20000; i++) {
		struct dft_prof_limits la, lb;
		uint64_t d = (500 + (i * 7919) % 1000) * US;

		t += 3 * US;
		leaf(a, ka, t, d, (uint32_t)(i % 977));
		/* b's NIC clock runs a thousand times faster than a's (a replay slowed down) */
		dft_profiler_tick(a, i * 3000ull);
		dft_profiler_tick(b, i * 3000000ull);
		leaf(b, kb, t, d, (uint32_t)(i % 977));
		dft_profiler_limits(a, ka, &la);
		dft_profiler_limits(b, kb, &lb);
		assert_memory_equal(&la, &lb, sizeof(la));
	}
	dft_profiler_destroy(a);
	dft_profiler_destroy(b);
}

/* A span far behind its key's span time restarts the key's clock (counted); stragglers do not. */
static void test_clock_reset(void **state)
{
	struct dft_profiler *p = mk(8, 10);
	struct dft_prof_row rows[8];
	int k;

	(void)state;
	k = dft_profiler_key(p, 1, 2);
	leaf(p, k, 1000 * IVL, 10 * US, 0);
	leaf(p, k, 1000 * IVL - 59 * IVL, 10 * US, 0); /* 59 s late: a straggler */
	assert_int_equal(dft_profiler_clock_resets(p), 0);
	leaf(p, k, 1000 * IVL - 61 * IVL, 10 * US, 0);
	assert_int_equal(dft_profiler_clock_resets(p), 1);
	/* the samples are kept: the baseline survives a clock step */
	assert_int_equal(dft_profiler_snapshot(p, NULL, rows, 8), 1);
	assert_int_equal(rows[0].count, 3);
	dft_profiler_destroy(p);
}

static void test_key_table_full(void **state)
{
	struct dft_profiler *p = mk(4, 10);
	struct dft_prof_limits lim;
	int a, b, c;

	(void)state;
	a = dft_profiler_key(p, 1, 1); /* key + component aggregate */
	b = dft_profiler_key(p, 1, 2); /* shares the aggregate */
	c = dft_profiler_key(p, 2, 1); /* fits, its aggregate does not */
	assert_true(a >= 0 && b >= 0 && c >= 0);
	assert_int_equal(dft_profiler_keys_full(p), 1);
	assert_int_equal(dft_profiler_key(p, 2, 2), -ENOSPC);
	assert_int_equal(dft_profiler_keys_full(p), 2); /* the key itself; no aggregate is tried for it */
	assert_int_equal(dft_profiler_key(p, 1, 2), b); /* known keys still resolve */
	/* a key without an aggregate has a duration profile but no queue threshold */
	for (unsigned i = 0; i < 256; i++)
		leaf(p, c, IVL + i, 1000, 1000);
	leaf(p, -ENOSPC, IVL, 1000, 1000); /* ignored */
	dft_profiler_limits(p, c, &lim);
	assert_int_equal(lim.queue_ns, 0);
	assert_in_range(lim.self_ns, 8 * 1000, 9 * 1000 + 200);
	dft_profiler_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_quantiles_and_snapshot),
		cmocka_unit_test(test_component_queue_limit),
		cmocka_unit_test(test_window_rotation),
		cmocka_unit_test(test_outlier_threshold_robust),
		cmocka_unit_test(test_self_time_and_explained),
		cmocka_unit_test(test_speed_invariance),
		cmocka_unit_test(test_clock_reset),
		cmocka_unit_test(test_key_table_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
