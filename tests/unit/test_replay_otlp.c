/* SPDX-License-Identifier: MIT */
/* difftrace-replay's OTLP JSON line parser: a valid line field by field, and malformed lines, each
 * rejected with its line number and nothing of it kept. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "replay.h"

#define TID "0af7651916cd43dd8448eb211c80319c"

static const char good[] =
    "{\"resourceSpans\":["
    "{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"activator\"}},"
    "{\"key\":\"difftrace.component.kind\",\"value\":{\"stringValue\":\"platform\"}}]},"
    "\"scopeSpans\":[{\"scope\":{\"name\":\"difftrace\"},\"spans\":["
    "{\"traceId\":\"" TID "\",\"spanId\":\"00f067aa0ba902b7\",\"parentSpanId\":\"\",\"name\":\"proxy\","
    "\"kind\":2,\"startTimeUnixNano\":\"1700000000000000123\",\"endTimeUnixNano\":\"1700000000000900123\","
    "\"attributes\":[{\"key\":\"difftrace.queue_ns\",\"value\":{\"intValue\":\"4500\"}},"
    "{\"key\":\"difftrace.cold_start\",\"value\":{\"boolValue\":true}},"
    "{\"key\":\"http.status\",\"value\":{\"intValue\":\"503\"}},"
    "{\"key\":\"note\",\"value\":{\"stringValue\":\"ignored\"}}],"
    "\"status\":{\"code\":2,\"message\":\"no ready revision\\ntry later\"}}]}]},"
    "{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"fn-a\"}}]},"
    "\"scopeSpans\":[{\"spans\":["
    "{\"traceId\":\"" TID "\",\"spanId\":\"B7AD6B7169203331\",\"parentSpanId\":\"00f067aa0ba902b7\","
    "\"name\":\"handle\",\"startTimeUnixNano\":1700000000000100000,\"endTimeUnixNano\":\"1700000000000800000\","
    "\"attributes\":[{\"key\":\"a1\",\"value\":{\"intValue\":\"1\"}},{\"key\":\"a2\",\"value\":{\"intValue\":2}},"
    "{\"key\":\"a3\",\"value\":{\"intValue\":\"-3\"}},{\"key\":\"a4\",\"value\":{\"intValue\":\"4\"}},"
    "{\"key\":\"a5\",\"value\":{\"intValue\":\"5\"}}]}"
    "]}]}]}\n";

static void test_valid_line(void **state)
{
	static const uint8_t tid[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
	                                0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
	struct dft_replay_batch b;
	struct dft_replay_span *s;
	char err[256] = "";

	(void)state;
	dft_replay_batch_init(&b);
	assert_int_equal(dft_replay_parse_line(&b, good, strlen(good), 1, err, sizeof(err)), 0);
	assert_int_equal(b.n, 2);

	s = &b.spans[0];
	assert_memory_equal(s->trace_id, tid, 16);
	assert_true(s->span_id == 0x00f067aa0ba902b7ull);
	assert_true(s->parent_span_id == 0);
	assert_string_equal(s->name, "proxy");
	assert_string_equal(s->component, "activator");
	assert_int_equal(s->kind, DFT_REPLAY_KIND_PLATFORM);
	assert_int_equal(s->span_kind, 2);
	assert_int_equal(s->status, 2);
	/* one line: the newline became a space */
	assert_int_equal(s->status_message_len, 27);
	assert_memory_equal(s->status_message, "no ready revision try later", 27);
	assert_true(s->start_ns == 1700000000000000123ull);
	assert_true(s->end_ns == 1700000000000900123ull);
	assert_int_equal(s->queue_ns, 4500);
	assert_true(s->cold_start);
	assert_int_equal(s->n_attrs, 1); /* queue_ns and cold_start are not attributes; strings do not travel */
	assert_string_equal(s->attr_key[0], "http.status");
	assert_int_equal(s->attr_val[0], 503);

	s = &b.spans[1];
	assert_true(s->span_id == 0xb7ad6b7169203331ull);
	assert_true(s->parent_span_id == 0x00f067aa0ba902b7ull);
	assert_string_equal(s->component, "fn-a");
	assert_int_equal(s->kind, DFT_REPLAY_KIND_UNSET);
	assert_int_equal(s->span_kind, 0);
	assert_int_equal(s->status, 0);
	assert_null(s->status_message);
	assert_false(s->cold_start);
	assert_int_equal(s->queue_ns, 0);
	assert_true(s->start_ns == 1700000000000100000ull);
	assert_int_equal(s->n_attrs, DFT_REPLAY_ATTRS);
	assert_string_equal(s->attr_key[2], "a3");
	assert_int_equal(s->attr_val[2], -3);
	assert_int_equal(b.attrs_cut, 1);

	/* the kind list decides what the resource did not say */
	dft_replay_resolve_kinds(&b, "ingress,fn-a");
	assert_int_equal(b.spans[1].kind, DFT_REPLAY_KIND_PLATFORM);
	assert_int_equal(b.spans[0].kind, DFT_REPLAY_KIND_PLATFORM);
	b.spans[1].kind = DFT_REPLAY_KIND_UNSET;
	dft_replay_resolve_kinds(&b, "fn-ab,fn");
	assert_int_equal(b.spans[1].kind, DFT_REPLAY_KIND_FUNCTION);

	/* a second line appends; reset forgets */
	assert_int_equal(dft_replay_parse_line(&b, good, strlen(good), 2, err, sizeof(err)), 0);
	assert_int_equal(b.n, 4);
	assert_string_equal(b.spans[3].name, "handle");
	dft_replay_batch_reset(&b);
	assert_int_equal(b.n, 0);
	assert_int_equal(dft_replay_parse_line(&b, "  \r\n", 4, 3, err, sizeof(err)), 0);
	assert_int_equal(b.n, 0);
	dft_replay_batch_free(&b);
}

static void test_reconstructed_skipped(void **state)
{
	static const char line[] =
	    "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":"
	    "\"x\"}}]},\"scopeSpans\":[{\"spans\":[{\"traceId\":\"" TID "\",\"spanId\":\"0000000000000001\","
	    "\"name\":\"n\",\"startTimeUnixNano\":\"5\",\"endTimeUnixNano\":\"6\",\"attributes\":[{\"key\":"
	    "\"difftrace.reconstructed\",\"value\":{\"boolValue\":true}}]}]}]}]}";
	struct dft_replay_batch b;
	char err[256];

	(void)state;
	dft_replay_batch_init(&b);
	assert_int_equal(dft_replay_parse_line(&b, line, strlen(line), 1, err, sizeof(err)), 0);
	assert_int_equal(b.n, 0);
	assert_int_equal(b.reconstructed_skipped, 1);
	dft_replay_batch_free(&b);
}

/* a line built from the good one with one substring replaced */
static void expect_bad(const char *from, const char *to, unsigned long lineno, const char *what)
{
	char line[sizeof(good) + 256], err[256] = "", prefix[32];
	const char *p = strstr(good, from);
	struct dft_replay_batch b;

	assert_non_null(p);
	snprintf(line, sizeof(line), "%.*s%s%s", (int)(p - good), good, to, p + strlen(from));
	dft_replay_batch_init(&b);
	/* a valid line before: the bad one must not disturb it */
	assert_int_equal(dft_replay_parse_line(&b, good, strlen(good), lineno - 1, err, sizeof(err)), 0);
	assert_int_equal(dft_replay_parse_line(&b, line, strlen(line), lineno, err, sizeof(err)), -EINVAL);
	assert_int_equal(b.n, 2);
	snprintf(prefix, sizeof(prefix), "line %lu: ", lineno);
	assert_true(strncmp(err, prefix, strlen(prefix)) == 0);
	if (!strstr(err, what))
		fail_msg("error '%s' does not name '%s'", err, what);
	dft_replay_batch_free(&b);
}

static void test_malformed(void **state)
{
	(void)state;
	expect_bad("{\"resourceSpans\"", "{\"resourceSpans\" x", 7, "bad JSON");
	expect_bad("]}]}]}\n", "]}]}", 8, "bad JSON");
	expect_bad("resourceSpans", "resourceSpan", 9, "resourceSpans");
	/* bad hex ids: wrong digit, wrong length, base64, all zero */
	expect_bad("\"traceId\":\"0af7", "\"traceId\":\"0ag7", 10, "traceId");
	expect_bad("\"spanId\":\"00f067aa0ba902b7\"", "\"spanId\":\"00f067aa0ba902b\"", 11, "spanId");
	expect_bad("\"spanId\":\"00f067aa0ba902b7\"", "\"spanId\":\"APBnqguqArc=\"", 12, "spanId");
	expect_bad("\"spanId\":\"00f067aa0ba902b7\"", "\"spanId\":\"0000000000000000\"", 13, "spanId");
	expect_bad("\"parentSpanId\":\"00f067aa0ba902b7\"", "\"parentSpanId\":\"xx\"", 14, "parentSpanId");
	expect_bad("\"traceId\":\"" TID "\",\"spanId\":\"B7AD",
	           "\"traceId\":\"AKp1GRbNQ92ESOshHIAxnA==\",\"spanId\":\"B7AD", 15, "spans[0].traceId");
	/* missing fields */
	expect_bad("\"name\":\"proxy\",", "", 16, "name");
	expect_bad("\"startTimeUnixNano\":\"1700000000000000123\",", "", 17, "startTimeUnixNano");
	expect_bad("\"endTimeUnixNano\":\"1700000000000900123\"", "\"endTimeUnixNano\":\"17x\"", 18, "endTimeUnixNano");
	expect_bad("\"endTimeUnixNano\":\"1700000000000900123\"", "\"endTimeUnixNano\":\"1\"", 19, "endTimeUnixNano");
	expect_bad("{\"key\":\"service.name\",\"value\":{\"stringValue\":\"fn-a\"}}", "", 20, "service.name");
	expect_bad("\"spans\":[{\"traceId\":\"" TID "\",\"spanId\":\"00f0",
	           "\"spanz\":[{\"traceId\":\"" TID "\",\"spanId\":\"00f0", 21, "spans array");
	expect_bad("\"kind\":2", "\"kind\":9", 22, "kind");
	expect_bad("\"code\":2", "\"code\":\"ERROR\"", 23, "status");
	expect_bad("\"message\":\"no ready", "\"message\":7,\"x\":\"", 23, "status.message");
	expect_bad("{\"stringValue\":\"platform\"}", "{\"stringValue\":\"middleware\"}", 24,
	           "difftrace.component.kind");
	expect_bad("{\"intValue\":\"503\"}", "{\"intValue\":\"5x3\"}", 25, "http.status");
}

static void test_hex(void **state)
{
	uint8_t b[2];

	(void)state;
	assert_int_equal(dft_replay_hex("aB0f", 4, b, 2), 0);
	assert_int_equal(b[0], 0xab);
	assert_int_equal(b[1], 0x0f);
	assert_int_equal(dft_replay_hex("aB0", 3, b, 2), -EINVAL);
	assert_int_equal(dft_replay_hex("aB0g", 4, b, 2), -EINVAL);
	assert_int_equal(dft_replay_hex("+B0f", 4, b, 2), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_line),
	    cmocka_unit_test(test_reconstructed_skipped),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_hex),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
