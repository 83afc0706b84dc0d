/* SPDX-License-Identifier: MIT */
/* The children table: what a span's children covered, bounded memory, hostile times. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "children.h"

static const uint8_t T1[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t T2[16] = {16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1};

static void test_cover(void **state)
{
	struct dft_children *c;
	uint64_t cov;

	(void)state;
	assert_int_equal(dft_children_create(64, &c), 0);
	/* sequential children of span 7: their sum */
	dft_children_note(c, T1, 7, 100, 200);
	dft_children_note(c, T1, 7, 300, 350);
	/* same span id, other trace: another entry */
	dft_children_note(c, T2, 7, 100, 1000);
	assert_true(dft_children_take(c, T1, 7, 0, 1000, &cov));
	assert_int_equal(cov, 150);
	/* taken: gone */
	assert_false(dft_children_take(c, T1, 7, 0, 1000, &cov));
	assert_int_equal(cov, 0);
	/* only what lies inside the parent counts */
	assert_true(dft_children_take(c, T2, 7, 500, 800, &cov));
	assert_int_equal(cov, 300);
	/* parallel children: the hull, not the sum */
	dft_children_note(c, T1, 9, 100, 200);
	dft_children_note(c, T1, 9, 100, 200);
	dft_children_note(c, T1, 9, 150, 200);
	assert_true(dft_children_take(c, T1, 9, 0, 1000, &cov));
	assert_int_equal(cov, 100);
	/* a root has no parent to note; an end before the start is a zero-length child */
	dft_children_note(c, T1, 0, 1, 2);
	assert_false(dft_children_take(c, T1, 0, 0, 10, &cov));
	dft_children_note(c, T1, 11, 500, 100);
	assert_true(dft_children_take(c, T1, 11, 0, 1000, &cov));
	assert_int_equal(cov, 0);
	/* hostile huge times cannot overflow the sum */
	dft_children_note(c, T1, 12, 0, UINT64_MAX);
	dft_children_note(c, T1, 12, 0, UINT64_MAX);
	assert_true(dft_children_take(c, T1, 12, 10, 20, &cov));
	assert_int_equal(cov, 10);
	assert_int_equal(dft_children_evicted(c), 0);
	dft_children_destroy(c);
}

static void test_bounded(void **state)
{
	struct dft_children *c;
	uint64_t cov, found = 0;

	(void)state;
	assert_int_equal(dft_children_create(3, &c), -EINVAL);
	assert_int_equal(dft_children_create(16, &c), 0);
	/* 1000 parents into 16 entries: the oldest give way, counted; the newest are still there */
	for (uint64_t p = 1; p <= 1000; p++)
		dft_children_note(c, T1, p, 0, 10);
	assert_int_equal(dft_children_evicted(c), 1000 - 16);
	for (uint64_t p = 1; p <= 1000; p++)
		found += dft_children_take(c, T1, p, 0, 100, &cov);
	assert_int_equal(found, 16);
	assert_true(dft_children_take(c, T1, 1000, 0, 100, &cov) == false);
	dft_children_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cover),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
