/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dft/parse.h"

static void test_u64(void **state)
{
	static const char *const bad[] = {"", "-1", "+1", " 1", "1 ", "1x", "0x10", "18446744073709551616", NULL};
	uint64_t v = 7;

	(void)state;
	assert_int_equal(dft_parse_u64("0", 0, 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(dft_parse_u64("18446744073709551615", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(dft_parse_u64("10", 0, 9, &v), -EINVAL); /* above hi */
	assert_int_equal(dft_parse_u64("4", 5, 9, &v), -EINVAL);  /* below lo */
	for (int i = 0; bad[i]; i++)
		if (dft_parse_u64(bad[i], 0, UINT64_MAX, &v) != -EINVAL)
			fail_msg("accepted '%s'", bad[i]);
	assert_int_equal(dft_parse_u64(NULL, 0, 1, &v), -EINVAL);
}

static void test_hostport(void **state)
{
	char a[] = "127.0.0.1:4790", b[] = "[::1]:0", c[] = "collector.example:65535";
	char bad1[] = ":80", bad2[] = "host", bad3[] = "host:65536", bad4[] = "[::1:80", bad5[] = "h:0", bad6[] = "[]:80";
	const char *host;
	uint16_t port;

	(void)state;
	assert_int_equal(dft_parse_hostport(a, 0, &host, &port), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 4790);
	assert_int_equal(dft_parse_hostport(b, 0, &host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 0);
	assert_int_equal(dft_parse_hostport(c, 1, &host, &port), 0);
	assert_int_equal(port, 65535);
	assert_int_equal(dft_parse_hostport(bad1, 0, &host, &port), -EINVAL);
	assert_int_equal(dft_parse_hostport(bad2, 0, &host, &port), -EINVAL);
	assert_int_equal(dft_parse_hostport(bad3, 0, &host, &port), -EINVAL);
	assert_int_equal(dft_parse_hostport(bad4, 0, &host, &port), -EINVAL);
	assert_int_equal(dft_parse_hostport(bad5, 1, &host, &port), -EINVAL); /* port 0 where a real one is needed */
	assert_int_equal(dft_parse_hostport(bad6, 0, &host, &port), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_u64),
		cmocka_unit_test(test_hostport),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
