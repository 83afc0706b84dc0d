/* SPDX-License-Identifier: MIT */
/* Critical path and slack on hand-made traces whose answers are worked out in the comments. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "critical_path.h"

#define S(id_, parent_, start_, end_, comp_)                                                                           \
	{                                                                                                              \
		.id = (id_), .parent = (parent_), .start_ns = (start_), .end_ns = (end_), .component = (comp_)         \
	}

static struct dft_cp *run(const struct dft_cp_span *sp, uint32_t n)
{
	struct dft_cp *cp = NULL;

	assert_int_equal(dft_cp_compute(sp, n, &cp), 0);
	assert_non_null(cp);
	return cp;
}

static void seg_is(const struct dft_cp *cp, uint32_t k, uint32_t span, uint64_t from, uint64_t to)
{
	assert_true(k < cp->n_segs);
	assert_int_equal(cp->segs[k].span, span);
	assert_int_equal(cp->segs[k].from_ns, from);
	assert_int_equal(cp->segs[k].to_ns, to);
}

/* the segments tile [root start, root end] without gaps or overlaps */
static void tiles(const struct dft_cp_span *sp, const struct dft_cp *cp)
{
	uint64_t t = sp[cp->root].start_ns, sum = 0;

	for (uint32_t k = 0; k < cp->n_segs; k++) {
		assert_int_equal(cp->segs[k].from_ns, t);
		t = cp->segs[k].to_ns;
		sum += cp->segs[k].to_ns - cp->segs[k].from_ns;
	}
	assert_int_equal(t, sp[cp->root].end_ns);
	assert_int_equal(sum, cp->total_ns);
}

/* R [0,100] calls A [10,40] then B [40,90]: R 0-10, A, B, R 90-100; no slack anywhere */
static void test_sequential(void **state)
{
	static const struct dft_cp_span sp[] = {S(1, 0, 0, 100, "gw"), S(2, 1, 10, 40, "fa"), S(3, 1, 40, 90, "fb")};
	struct dft_cp *cp = run(sp, 3);

	(void)state;
	assert_int_equal(cp->root, 0);
	assert_int_equal(cp->total_ns, 100);
	assert_int_equal(cp->n_segs, 4);
	seg_is(cp, 0, 0, 0, 10);
	seg_is(cp, 1, 1, 10, 40);
	seg_is(cp, 2, 2, 40, 90);
	seg_is(cp, 3, 0, 90, 100);
	tiles(sp, cp);
	for (int i = 0; i < 3; i++) {
		assert_true(cp->on_path[i]);
		assert_int_equal(cp->slack_ns[i], 0);
	}
	assert_int_equal(cp->path_ns[0], 20);
	/* shares: fb 50, fa 30, gw 20 */
	assert_int_equal(cp->n_shares, 3);
	assert_string_equal(cp->shares[0].component, "fb");
	assert_int_equal(cp->shares[0].ns, 50);
	assert_string_equal(cp->shares[2].component, "gw");
	assert_int_equal(cp->shares[2].ns, 20);
	dft_cp_free(cp);
}

/* R [0,100] fans out A [10,50], B [10,80], C [10,60]: only B is waited on; A could grow 30, C 20 */
static void test_fan_out(void **state)
{
	static const struct dft_cp_span sp[] = {S(1, 0, 0, 100, "gw"), S(2, 1, 10, 50, "f"), S(3, 1, 10, 80, "f"),
	                                        S(4, 1, 10, 60, "f")};
	struct dft_cp *cp = run(sp, 4);

	(void)state;
	assert_int_equal(cp->n_segs, 3);
	seg_is(cp, 0, 0, 0, 10);
	seg_is(cp, 1, 2, 10, 80);
	seg_is(cp, 2, 0, 80, 100);
	tiles(sp, cp);
	assert_false(cp->on_path[1]);
	assert_true(cp->on_path[2]);
	assert_false(cp->on_path[3]);
	assert_int_equal(cp->slack_ns[1], 30);
	assert_int_equal(cp->slack_ns[2], 0);
	assert_int_equal(cp->slack_ns[3], 20);
	dft_cp_free(cp);
}

/*
 * Overlapping: R [0,100], A [0,60], B [50,90] with B1 [55,85] under B. From 100 R waits on B (ends
 * 90), B on B1; from B's start (50) nothing ended (A ends at 60): R's own time. A's slack: the next
 * point R waits at after 60 is B's end, 90 -> 30. A2 [0,20] under A: A waits on it, slack 30 too.
 */
static void test_overlapping(void **state)
{
	static const struct dft_cp_span sp[] = {S(1, 0, 0, 100, "gw"), S(2, 1, 0, 60, "a"), S(3, 1, 50, 90, "b"),
	                                        S(4, 3, 55, 85, "b1"), S(5, 2, 0, 20, "a2")};
	struct dft_cp *cp = run(sp, 5);

	(void)state;
	assert_int_equal(cp->n_segs, 5);
	seg_is(cp, 0, 0, 0, 50);
	seg_is(cp, 1, 2, 50, 55);
	seg_is(cp, 2, 3, 55, 85);
	seg_is(cp, 3, 2, 85, 90);
	seg_is(cp, 4, 0, 90, 100);
	tiles(sp, cp);
	assert_false(cp->on_path[1]);
	assert_false(cp->on_path[4]);
	assert_int_equal(cp->slack_ns[1], 30);
	assert_int_equal(cp->slack_ns[4], 30);
	assert_int_equal(cp->slack_ns[3], 0);
	dft_cp_free(cp);
}

/*
 * Children outliving their parents were not waited on: R [0,100] with A [10,50] (whose child A1
 * [40,70] outlives it) and C [90,120] (outlives R). Path: R 0-10, A 10-50, R 50-100.
 */
static void test_outliving(void **state)
{
	static const struct dft_cp_span sp[] = {S(1, 0, 0, 100, "gw"), S(2, 1, 10, 50, "a"), S(3, 2, 40, 70, "a1"),
	                                        S(4, 1, 90, 120, "c"), S(5, 4, 95, 99, "c1")};
	struct dft_cp *cp = run(sp, 5);

	(void)state;
	assert_int_equal(cp->n_segs, 3);
	seg_is(cp, 0, 0, 0, 10);
	seg_is(cp, 1, 1, 10, 50);
	seg_is(cp, 2, 0, 50, 100);
	tiles(sp, cp);
	assert_int_equal(cp->slack_ns[1], 0);
	assert_int_equal(cp->slack_ns[2], DFT_CP_NO_SLACK);
	assert_int_equal(cp->slack_ns[3], DFT_CP_NO_SLACK);
	assert_int_equal(cp->slack_ns[4], DFT_CP_NO_SLACK); /* under a span nobody waited on */
	assert_false(cp->on_path[2]);
	assert_false(cp->on_path[3]);
	dft_cp_free(cp);
}

static void test_single(void **state)
{
	static const struct dft_cp_span sp[] = {S(7, 0, 5, 25, "fn")};
	struct dft_cp *cp = run(sp, 1);

	(void)state;
	assert_int_equal(cp->root, 0);
	assert_int_equal(cp->total_ns, 20);
	assert_int_equal(cp->n_segs, 1);
	seg_is(cp, 0, 0, 5, 25);
	assert_int_equal(cp->slack_ns[0], 0);
	assert_int_equal(cp->n_shares, 1);
	assert_int_equal(cp->shares[0].ns, 20);
	dft_cp_free(cp);
}

/* rebuilt spans on the path count as estimated time, per component and in total */
static void test_estimated(void **state)
{
	struct dft_cp_span sp[] = {S(1, 0, 0, 100, "ingress"), S(2, 1, 10, 90, "activator"), S(3, 2, 20, 80, "fn")};
	struct dft_cp *cp;

	(void)state;
	sp[0].estimated = sp[1].estimated = true;
	cp = run(sp, 3);
	tiles(sp, cp);
	assert_int_equal(cp->estimated_ns, 40);
	for (uint32_t j = 0; j < cp->n_shares; j++) {
		if (!strcmp(cp->shares[j].component, "fn"))
			assert_int_equal(cp->shares[j].estimated_ns, 0);
		else
			assert_int_equal(cp->shares[j].estimated_ns, 20);
	}
	dft_cp_free(cp);
}

/* a child that started before its parent is clipped: the path never leaves the root's window */
static void test_child_before_parent(void **state)
{
	static const struct dft_cp_span sp[] = {S(1, 0, 10, 100, "gw"), S(2, 1, 0, 50, "a")};
	struct dft_cp *cp = run(sp, 2);

	(void)state;
	assert_int_equal(cp->n_segs, 2);
	seg_is(cp, 0, 1, 10, 50);
	seg_is(cp, 1, 0, 50, 100);
	tiles(sp, cp);
	dft_cp_free(cp);
}

/* hostile shapes: a cycle beside the root, a duplicate id, a self-parent, a span ending before it starts */
static void test_hostile(void **state)
{
	static const struct dft_cp_span sp[] = {S(1, 0, 0, 100, "gw"),  S(2, 3, 10, 20, "x"),
	                                        S(3, 2, 10, 20, "y"),   S(1, 0, 0, 500, "dup"),
	                                        S(4, 4, 0, 10, "self"), S(5, 1, 60, 40, "back")};
	struct dft_cp *cp = run(sp, 6);

	(void)state;
	/* the self-parented span has no parent in the trace and lasts 10: the root stays span 0 */
	assert_int_equal(cp->root, 0);
	tiles(sp, cp);
	assert_int_equal(cp->detached, 4); /* the cycle, the duplicate, the self-parent */
	assert_int_equal(cp->slack_ns[1], DFT_CP_NO_SLACK);
	dft_cp_free(cp);
	assert_int_equal(dft_cp_compute(sp, 0, &cp), -EINVAL);
}

/* a chain of 200000 nested spans is walked without recursion */
static void test_deep_chain(void **state)
{
	const uint32_t n = 200000;
	struct dft_cp_span *sp = calloc(n, sizeof(*sp));
	struct dft_cp *cp;

	(void)state;
	assert_non_null(sp);
	for (uint32_t i = 0; i < n; i++)
		sp[i] = (struct dft_cp_span)S(i + 1, i, i, 2 * (uint64_t)n - i, "c");
	cp = run(sp, n);
	tiles(sp, cp);
	assert_int_equal(cp->n_segs, 2 * n - 1);
	assert_int_equal(cp->slack_ns[n - 1], 0);
	dft_cp_free(cp);
	free(sp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sequential),
	    cmocka_unit_test(test_fan_out),
	    cmocka_unit_test(test_overlapping),
	    cmocka_unit_test(test_outliving),
	    cmocka_unit_test(test_single),
	    cmocka_unit_test(test_estimated),
	    cmocka_unit_test(test_child_before_parent),
	    cmocka_unit_test(test_hostile),
	    cmocka_unit_test(test_deep_chain),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
