/* SPDX-License-Identifier: MIT */
/*
 * The RowBinary writer the ClickHouse store inserts with (backend/src/ch_http.c): little-endian
 * integers, LEB128 lengths, strings, and the bound that makes an oversized round fail instead of
 * growing without limit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "ch_http.h"

static void test_integers(void **state)
{
	struct dft_rb_buf b = {.max = 1024};
	static const uint8_t want[] = {0x2a, 0x04, 0x03, 0x02, 0x01, 0x08, 0x07, 0x06, 0x05, 0x04,
	                               0x03, 0x02, 0x01, 0x00, 0x7f, 0x80, 0x01, 0xac, 0x02};

	(void)state;
	dft_rbb_u8(&b, 42);
	dft_rbb_u32(&b, 0x01020304);
	dft_rbb_u64(&b, 0x0102030405060708ull);
	dft_rbb_varint(&b, 0);
	dft_rbb_varint(&b, 127);
	dft_rbb_varint(&b, 128);
	dft_rbb_varint(&b, 300);
	assert_false(b.overflow);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.p, want, sizeof(want));
	dft_rbb_free(&b);
}

static void test_strings_and_bound(void **state)
{
	struct dft_rb_buf b = {.max = 8};

	(void)state;
	dft_rbb_str(&b, "abc", 3);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.p,
	                    "\x03"
	                    "abc",
	                    4);
	dft_rbb_str(&b, "", 0);
	assert_int_equal(b.len, 5);
	/* past max: nothing more is written and the buffer says it is unusable */
	dft_rbb_str(&b, "defgh", 5);
	assert_true(b.overflow);
	dft_rbb_u8(&b, 1);
	assert_true(b.len <= 8);
	dft_rbb_free(&b);
	assert_false(b.overflow);
	assert_int_equal(b.len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_integers),
	    cmocka_unit_test(test_strings_and_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
