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
	for (uint64_t v = 1; v <= 1000; v++) {
		dft_profiler_observe(p, k1, v * US, v);
		dft_profiler_count(p, k1, v % 4 == 0);
	}
	dft_profiler_observe(p, k2, 7 * US, 0);
	dft_profiler_count(p, k2, false);
	/* nothing is recomputed before the first interval ends */
	assert_false(dft_profiler_tick(p, 5));
	assert_int_equal(dft_profiler_snapshot(p, n, rows, 16), 2);
	assert_int_equal(rows[0].duration_p99_ns, 0);
	assert_false(dft_profiler_tick(p, 5 + IVL - 1));
	assert_true(dft_profiler_tick(p, 5 + IVL));
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
	assert_int_equal(rows[0].self_time_ns, rows[0].duration_p50_ns);
	assert_string_equal(rows[1].operation, "health");
	assert_int_equal(rows[1].count, 1);
	assert_int_equal(rows[1].filtered, 1);
	assert_near(rows[1].duration_p50_ns, 7 * US);
	/* max bounds the rows */
	assert_int_equal(dft_profiler_snapshot(p, n, rows, 1), 1);
	/* a missed interval is not replayed: the next tick is one interval after now */
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
		dft_profiler_observe(p, k1, 10, 1000);
		dft_profiler_observe(p, k2, 10, 1000);
	}
	dft_profiler_observe(p, other, 10, 50000);
	dft_profiler_tick(p, 0);
	dft_profiler_tick(p, IVL);
	dft_profiler_limits(p, k2, &lim);
	assert_near(lim.queue_ns, 4000); /* 200 component samples: 4 x p99 */
	assert_int_equal(lim.duration_ns, 0); /* 100 per operation: still warming up */
	dft_profiler_limits(p, other, &lim);
	assert_int_equal(lim.queue_ns, 0);
	dft_profiler_limits(p, -1, &lim);
	assert_int_equal(lim.queue_ns, 0);
	assert_int_equal(lim.duration_ns, 0);
	dft_profiler_destroy(p);
}

static void test_window_rotation(void **state)
{
	struct dft_profiler *p = mk(8, 2);
	struct dft_prof_row rows[8];
	uint64_t t = 0;
	int k;

	(void)state;
	k = dft_profiler_key(p, 1, 2);
	dft_profiler_tick(p, t);
	for (unsigned i = 0; i < 300; i++) {
		dft_profiler_observe(p, k, 1000 * US, 0);
		dft_profiler_count(p, k, false);
	}
	assert_true(dft_profiler_tick(p, t += IVL)); /* interval 1 */
	assert_true(dft_profiler_tick(p, t += IVL)); /* interval 2: rotate, the 1 ms half is now the older one */
	assert_int_equal(dft_profiler_snapshot(p, NULL, rows, 8), 1);
	assert_int_equal(rows[0].count, 300);
	for (unsigned i = 0; i < 300; i++) {
		dft_profiler_observe(p, k, 10 * US, 0);
		dft_profiler_count(p, k, true);
	}
	assert_true(dft_profiler_tick(p, t += IVL));
	assert_int_equal(dft_profiler_snapshot(p, NULL, rows, 8), 1);
	assert_int_equal(rows[0].count, 600); /* both halves */
	assert_int_equal(rows[0].kept, 300);
	assert_int_equal(rows[0].filtered, 300);
	assert_near(rows[0].duration_p99_ns, 1000 * US);
	assert_true(dft_profiler_tick(p, t += IVL)); /* interval 4: rotate drops the 1 ms half */
	assert_int_equal(dft_profiler_snapshot(p, NULL, rows, 8), 1);
	assert_int_equal(rows[0].count, 300);
	assert_int_equal(rows[0].filtered, 0);
	assert_int_equal(rows[0].kept, 300);
	/* thresholds are recomputed before the rotation, still from both halves */
	assert_near(rows[0].duration_p99_ns, 1000 * US);
	assert_true(dft_profiler_tick(p, t += IVL));
	assert_int_equal(dft_profiler_snapshot(p, NULL, rows, 8), 1);
	assert_near(rows[0].duration_p99_ns, 10 * US);
	assert_true(dft_profiler_tick(p, t += IVL)); /* interval 6: rotate drops the 10 us half too */
	assert_int_equal(dft_profiler_snapshot(p, NULL, rows, 8), 0);
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
	for (unsigned i = 0; i < 300; i++)
		dft_profiler_observe(p, c, 1000, 1000);
	dft_profiler_observe(p, -ENOSPC, 1000, 1000); /* ignored */
	dft_profiler_tick(p, 0);
	dft_profiler_tick(p, IVL);
	dft_profiler_limits(p, c, &lim);
	assert_int_equal(lim.queue_ns, 0);
	assert_near(lim.duration_ns, 3000);
	dft_profiler_destroy(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_quantiles_and_snapshot),
		cmocka_unit_test(test_component_queue_limit),
		cmocka_unit_test(test_window_rotation),
		cmocka_unit_test(test_key_table_full),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
