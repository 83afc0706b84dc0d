/* SPDX-License-Identifier: MIT */
/* W3C traceparent inject/extract: round trip, every malformation rejected, future versions. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <difftrace/difftrace.h>

static const char valid[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

static void test_roundtrip(void **state)
{
	struct dft_ctx in = {.span_id = 0x00f067aa0ba902b7ull, .trace_flags = 0x01}, out;
	char buf[56];

	(void)state;
	for (int i = 0; i < 16; i++)
		in.trace_id[i] = (uint8_t)(0x4b + 37 * i);
	assert_int_equal(dft_traceparent_inject(&in, buf, sizeof(buf)), 0);
	assert_int_equal(strlen(buf), 55);
	memset(&out, 0xaa, sizeof(out));
	assert_int_equal(dft_traceparent_extract(buf, strlen(buf), &out), 0);
	assert_memory_equal(out.trace_id, in.trace_id, 16);
	assert_int_equal(out.span_id, in.span_id);
	assert_int_equal(out.trace_flags, in.trace_flags);
}

static void test_known_header(void **state)
{
	static const uint8_t tid[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
	                                0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
	struct dft_ctx out;
	char buf[64];

	(void)state;
	assert_int_equal(dft_traceparent_extract(valid, strlen(valid), &out), 0);
	assert_memory_equal(out.trace_id, tid, 16);
	assert_int_equal(out.span_id, 0x00f067aa0ba902b7ull);
	assert_int_equal(out.trace_flags, 1);
	assert_int_equal(dft_traceparent_inject(&out, buf, sizeof(buf)), 0);
	assert_string_equal(buf, valid);
	/* a buffer size instead of the exact length: the header ends at its NUL */
	assert_int_equal(dft_traceparent_extract(buf, sizeof(buf), &out), 0);
}

static void test_inject_limits(void **state)
{
	struct dft_ctx c = {.trace_id = {1}, .span_id = 1};
	char buf[56];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(dft_traceparent_inject(&c, buf, 55), -ENOSPC);
	assert_int_equal(buf[0], 'x'); /* nothing written on failure */
	assert_int_equal(dft_traceparent_inject(&c, buf, 56), 0);
	c.span_id = 0;
	assert_int_equal(dft_traceparent_inject(&c, buf, 56), -EINVAL);
	c.span_id = 1;
	memset(c.trace_id, 0, 16);
	assert_int_equal(dft_traceparent_inject(&c, buf, 56), -EINVAL);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
	    "",
	    "00",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",   /* short */
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", /* 00 with extra */
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011", /* 00 too long */
	    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  /* upper-case trace */
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",  /* upper-case span */
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",  /* upper-case flags */
	    "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* upper-case version */
	    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* forbidden version */
	    "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  /* zero trace id */
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  /* zero span id */
	    "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  /* separator */
	    "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
	    "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01", /* non-hex */
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",
	    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
	    "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", /* leading space */
	    "00-4bf92f3577b34da6a3ce929d0e0e4736--0f067aa0ba902b7-01",
	    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", /* future: no '-' after flags */
	    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",     /* future but too short */
	};
	struct dft_ctx out;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&out, 0x5a, sizeof(out));
		if (dft_traceparent_extract(bad[i], strlen(bad[i]), &out) != -EINVAL)
			fail_msg("accepted malformed header #%zu \"%s\"", i, bad[i]);
		/* out untouched on failure */
		assert_int_equal(out.span_id, 0x5a5a5a5a5a5a5a5aull);
	}
	/* a valid header cut short by len is rejected too */
	assert_int_equal(dft_traceparent_extract(valid, 54, &out), -EINVAL);
	assert_int_equal(dft_traceparent_extract(NULL, 55, &out), -EINVAL);
}

static void test_future_version(void **state)
{
	static const char *const ok[] = {
	    "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
	    "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds",
	    "fe-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-",
	};
	struct dft_ctx out;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (dft_traceparent_extract(ok[i], strlen(ok[i]), &out) != 0)
			fail_msg("rejected future-version header \"%s\"", ok[i]);
		assert_int_equal(out.span_id, 0x00f067aa0ba902b7ull);
	}
	assert_int_equal(out.trace_flags, 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),      cmocka_unit_test(test_known_header),
	    cmocka_unit_test(test_inject_limits),  cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_future_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
