/* SPDX-License-Identifier: MIT */
/* OTLP JSON lines: exact fields, string escaping, grouping by component, and a JSON parse back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dft/abi.h"

#include "json.h"
#include "otlp_json.h"
#include "sink.h"

#define NSPANS 4

struct fixture {
	Difftrace__SpanBatch b;
	Difftrace__BatchHeader h;
	Difftrace__Span s[NSPANS];
	Difftrace__Span *sp[NSPANS];
	Difftrace__Attr a;
	Difftrace__Attr *ap;
	uint8_t tid[16];
	char *strings[5];
};

/* names that need every kind of escaping: quote, backslash, newline, a control byte, a bad byte */
static char comp_plat[] = "ingress";
static char comp_fn[] = "fn \"q\" \\ \n\x01 \xff caf\xc3\xa9";
static char op_a[] = "GET /a";
static char op_b[] = "handle";
static char key_a[] = "app.attempt";

static void fixture_init(struct fixture *f)
{
	int i;

	memset(f, 0, sizeof(*f));
	difftrace__span_batch__init(&f->b);
	difftrace__batch_header__init(&f->h);
	difftrace__attr__init(&f->a);
	f->strings[0] = comp_plat;
	f->strings[1] = comp_fn;
	f->strings[2] = op_a;
	f->strings[3] = op_b;
	f->strings[4] = key_a;
	for (i = 0; i < 16; i++)
		f->tid[i] = (uint8_t)(0xa0 + i);
	f->a.key = 4;
	f->a.value = -42;
	f->ap = &f->a;
	f->h.sender_id = 1;
	f->h.sequence = 1;
	for (i = 0; i < NSPANS; i++) {
		Difftrace__Span *s = &f->s[i];

		difftrace__span__init(s);
		s->trace_id.data = f->tid;
		s->trace_id.len = 16;
		s->span_id = 0xfedcba9876543210ULL + (uint64_t)i;
		s->parent_span_id = i ? 0xfedcba9876543210ULL : 0;
		s->start_ns = 18446744073709551000ULL - 1000 + (uint64_t)i;
		s->end_ns = 18446744073709551000ULL + (uint64_t)i;
		/* platform, function, platform, function: two resource groups */
		s->component = i % 2;
		s->operation = 2 + (uint32_t)(i % 2);
		s->kind = i % 2 ? DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_FUNCTION
		                : DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_PLATFORM;
		s->span_kind = (uint32_t)i;
		f->sp[i] = s;
	}
	f->s[0].status = DIFFTRACE__STATUS__STATUS_ERROR;
	f->s[0].status_message = (char *)"no route: \"v2\" caf\xc3\xa9";
	f->s[0].queue_ns = 1234;
	f->s[0].flags = DFT_SF_COLD_START;
	f->s[1].n_attrs = 1;
	f->s[1].attrs = &f->ap;
	f->s[1].status = DIFFTRACE__STATUS__STATUS_OK;
	f->b.header = &f->h;
	f->b.n_strings = 5;
	f->b.strings = f->strings;
	f->b.n_spans = NSPANS;
	f->b.spans = f->sp;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	while ((hay = strstr(hay, needle))) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

static void test_fields(void **state)
{
	struct fixture f;
	struct dft_buf out;
	uint64_t n = 0;

	(void)state;
	fixture_init(&f);
	dft_buf_init(&out, 1u << 20);
	assert_int_equal(dft_otlp_json_encode(&f.b, false, &out, &n), 0);
	assert_int_equal(n, NSPANS);
	assert_null(strchr(out.p, '\n')); /* one line per request */
	assert_int_equal(count(out.p, "\"resource\":"), 2);
	assert_int_equal(count(out.p, "\"scope\":{\"name\":\"difftrace\"}"), 2);
	assert_non_null(strstr(out.p,
	                       "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"ingress\"}},"
	                       "{\"key\":\"difftrace.component.kind\",\"value\":{\"stringValue\":\"platform\"}}"));
	assert_non_null(strstr(out.p, "{\"stringValue\":\"fn \\\"q\\\" \\\\ \\n\\u0001 \\ufffd caf\xc3\xa9\"}"));
	assert_non_null(strstr(out.p, "{\"stringValue\":\"function\"}"));
	assert_int_equal(count(out.p, "\"traceId\":\"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\""), NSPANS);
	assert_non_null(strstr(out.p, "\"spanId\":\"fedcba9876543210\",\"parentSpanId\":\"\""));
	assert_non_null(strstr(out.p, "\"spanId\":\"fedcba9876543211\",\"parentSpanId\":\"fedcba9876543210\""));
	assert_non_null(strstr(out.p, "\"startTimeUnixNano\":\"18446744073709550000\",\"endTimeUnixNano\":"
	                              "\"18446744073709551000\""));
	/* reported UNSPECIFIED: exported as INTERNAL, never 0 */
	assert_non_null(strstr(out.p, "\"name\":\"GET /a\",\"kind\":1,"));
	assert_null(strstr(out.p, "\"kind\":0"));
	assert_non_null(strstr(out.p, "\"name\":\"handle\",\"kind\":1,"));
	assert_non_null(strstr(out.p, "{\"key\":\"difftrace.queue_ns\",\"value\":{\"intValue\":\"1234\"}}"));
	assert_non_null(strstr(out.p, "{\"key\":\"difftrace.cold_start\",\"value\":{\"boolValue\":true}}"));
	assert_int_equal(count(out.p, "difftrace.queue_ns"), 1);
	assert_int_equal(count(out.p, "difftrace.cold_start"), 1);
	assert_non_null(strstr(out.p, "{\"key\":\"app.attempt\",\"value\":{\"intValue\":\"-42\"}}"));
	/* the error's description, escaped; spans without one carry no message key */
	assert_int_equal(count(out.p, "\"status\":{\"code\":2,\"message\":\"no route: \\\"v2\\\" caf\xc3\xa9\"}"), 1);
	assert_int_equal(count(out.p, "\"message\""), 1);
	assert_int_equal(count(out.p, "\"status\":{\"code\":1}"), 1);
	assert_int_equal(count(out.p, "\"status\":{\"code\":0}"), 2);
	assert_null(strstr(out.p, "difftrace.reconstructed"));
	dft_buf_free(&out);
}

static void test_empty_and_bound(void **state)
{
	struct fixture f;
	struct dft_buf out;
	uint64_t n = 0;

	(void)state;
	fixture_init(&f);
	f.b.n_spans = 0;
	dft_buf_init(&out, 4096);
	assert_int_equal(dft_otlp_json_encode(&f.b, false, &out, &n), 0);
	assert_string_equal(out.p, "{\"resourceSpans\":[]}");
	assert_int_equal(n, 0);
	dft_buf_free(&out);
	/* a line that does not fit its bound is refused, not cut */
	fixture_init(&f);
	dft_buf_init(&out, 256);
	assert_int_equal(dft_otlp_json_encode(&f.b, false, &out, &n), -E2BIG);
	assert_int_equal(n, 0);
	dft_buf_free(&out);
}

/* Parses every line with python3's json module and checks the structure; skipped without python3. */
static void test_sink_file_parses(void **state)
{
	char path[] = "/tmp/dft-test-otlp-XXXXXX";
	struct dft_sink sink;
	struct fixture f;
	char cmd[2048];
	uint64_t n = 0;
	FILE *fp;
	char line[8192];
	int fd, lines = 0, rc;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	fixture_init(&f);
	assert_int_equal(dft_otlp_json_open(path, 0, 0, &sink), 0);
	assert_int_equal(sink.ops->put(sink.ctx, &f.b, false, &n), 0);
	f.h.sequence = 2;
	assert_int_equal(sink.ops->put(sink.ctx, &f.b, false, &n), 0);
	f.b.n_spans = 0; /* final-counters batch: nothing to export */
	assert_int_equal(sink.ops->put(sink.ctx, &f.b, false, &n), 0);
	assert_int_equal(sink.ops->flush(sink.ctx), 0);
	assert_int_equal(n, 2 * NSPANS);
	/* flushed: readable before the sink is closed */
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp))
		lines++;
	fclose(fp);
	/* one line per group commit, whatever the number of batches in it */
	assert_int_equal(lines, 1);
	sink.ops->destroy(sink.ctx);

	if (system("command -v python3 >/dev/null 2>&1") != 0) {
		unlink(path);
		return; /* the C assertions above stand on their own */
	}
	snprintf(cmd, sizeof(cmd),
	         "python3 -c '\n"
	         "import json, sys\n"
	         "n = 0\n"
	         "for line in open(sys.argv[1], encoding=\"utf-8\"):\n"
	         "    req = json.loads(line)\n"
	         "    assert len(req[\"resourceSpans\"]) == 2, req  # one per service, not one per batch\n"
	         "    for rs in req[\"resourceSpans\"]:\n"
	         "        attrs = {a[\"key\"]: a[\"value\"] for a in rs[\"resource\"][\"attributes\"]}\n"
	         "        name = attrs[\"service.name\"][\"stringValue\"]\n"
	         "        kind = attrs[\"difftrace.component.kind\"][\"stringValue\"]\n"
	         "        assert (name, kind) in ((\"ingress\", \"platform\"), (\"fn \\\"q\\\" \\\\ \\n\\x01 \\ufffd "
	         "caf\\xe9\", \"function\")), (name, kind)\n"
	         "        for sp in rs[\"scopeSpans\"][0][\"spans\"]:\n"
	         "            assert len(sp[\"traceId\"]) == 32 and sp[\"traceId\"] == sp[\"traceId\"].lower()\n"
	         "            assert int(sp[\"endTimeUnixNano\"]) >= int(sp[\"startTimeUnixNano\"])\n"
	         "            n += 1\n"
	         "assert n == %d, n\n"
	         "' %s",
	         2 * NSPANS, path);
	rc = system(cmd);
	unlink(path);
	assert_true(WIFEXITED(rc));
	assert_int_equal(WEXITSTATUS(rc), 0);
}

static int lines_in(const char *path)
{
	char line[8192];
	FILE *fp = fopen(path, "r");
	int n = 0;

	if (!fp)
		return -1;
	while (fgets(line, sizeof(line), fp))
		n += line[strlen(line) - 1] == '\n'; /* complete lines only */
	fclose(fp);
	return n;
}

/* Rotation by size keeps `keep` files of whole lines; a reopen follows a file moved away. */
static void test_sink_rotate_reopen(void **state)
{
	char dir[] = "/tmp/dft-test-otlp-rot-XXXXXX", path[256], p1[300], p2[300], p3[300], moved[300];
	struct dft_sink sink;
	struct fixture f;
	uint64_t n = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/spans.jsonl", dir);
	snprintf(p1, sizeof(p1), "%s.1", path);
	snprintf(p2, sizeof(p2), "%s.2", path);
	snprintf(p3, sizeof(p3), "%s.3", path);
	snprintf(moved, sizeof(moved), "%s.moved", path);
	fixture_init(&f);
	/* 1 byte: every line fills the file, so each group commit rotates */
	assert_int_equal(dft_otlp_json_open(path, 1, 2, &sink), 0);
	for (int i = 0; i < 4; i++) {
		f.h.sequence = (uint64_t)i + 1;
		assert_int_equal(sink.ops->put(sink.ctx, &f.b, false, &n), 0);
		assert_int_equal(sink.ops->flush(sink.ctx), 0);
	}
	assert_int_equal(lines_in(path), 0);
	assert_int_equal(lines_in(p1), 1);
	assert_int_equal(lines_in(p2), 1);
	assert_int_equal(lines_in(p3), -1); /* keep = 2: the oldest fell off */
	sink.ops->destroy(sink.ctx);

	/* logrotate moves the file; writes follow the open file until the reopen */
	unlink(p1);
	unlink(p2);
	assert_int_equal(dft_otlp_json_open(path, 0, 0, &sink), 0);
	assert_int_equal(sink.ops->put(sink.ctx, &f.b, false, &n), 0);
	assert_int_equal(sink.ops->flush(sink.ctx), 0);
	assert_int_equal(rename(path, moved), 0);
	assert_int_equal(sink.ops->put(sink.ctx, &f.b, false, &n), 0);
	assert_int_equal(sink.ops->flush(sink.ctx), 0);
	assert_int_equal(lines_in(moved), 2);
	assert_int_equal(lines_in(path), -1);
	assert_int_equal(sink.ops->reopen(sink.ctx), 0);
	assert_int_equal(sink.ops->put(sink.ctx, &f.b, false, &n), 0);
	assert_int_equal(sink.ops->flush(sink.ctx), 0);
	assert_int_equal(lines_in(moved), 2);
	assert_int_equal(lines_in(path), 1);
	sink.ops->destroy(sink.ctx);
	unlink(moved);
	unlink(path);
	rmdir(dir);
}

static void write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) ? -1 : (long)st.st_size;
}

/* true when the file is empty or ends in a newline (no torn last line) */
static bool whole_lines(const char *path)
{
	FILE *fp = fopen(path, "r");
	int c = '\n';

	assert_non_null(fp);
	if (fseek(fp, -1, SEEK_END) == 0)
		c = fgetc(fp);
	fclose(fp);
	return c == '\n';
}

/*
 * A file left with a torn last line (a crash mid-write, a full disk) is cut back to its last newline
 * when the sink opens it and when SIGHUP reopens it; counted in the sink's stats. A file without a
 * newline at all is emptied.
 */
static void test_sink_cuts_torn_tail(void **state)
{
	char dir[] = "/tmp/dft-test-otlp-torn-XXXXXX", path[256];
	struct dft_otlp_json_stats st;
	struct dft_sink sink;
	struct fixture f;
	uint64_t n = 0;
	const char *good = "{\"resourceSpans\":[]}\n";

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/spans.jsonl", dir);
	fixture_init(&f);
	write_file(path, "{\"resourceSpans\":[]}\n{\"resourceSpans\":[{\"resou");
	assert_int_equal(dft_otlp_json_open(path, 0, 0, &sink), 0);
	assert_int_equal(file_size(path), (long)strlen(good));
	dft_otlp_json_get_stats(&sink, &st);
	assert_int_equal(st.torn_cut, 1);
	assert_int_equal(st.torn_bytes, strlen("{\"resourceSpans\":[{\"resou"));
	/* what is written next starts on a line of its own */
	assert_int_equal(sink.ops->put(sink.ctx, &f.b, false, &n), 0);
	assert_int_equal(sink.ops->flush(sink.ctx), 0);
	assert_int_equal(lines_in(path), 2);
	assert_true(whole_lines(path));

	/* torn again behind the sink's back (another crashed writer): SIGHUP's reopen cuts it too */
	{
		FILE *fp = fopen(path, "a");

		assert_non_null(fp);
		fputs("{\"resourceSp", fp);
		fclose(fp);
	}
	assert_false(whole_lines(path));
	assert_int_equal(sink.ops->reopen(sink.ctx), 0);
	assert_true(whole_lines(path));
	assert_int_equal(lines_in(path), 2);
	dft_otlp_json_get_stats(&sink, &st);
	assert_int_equal(st.torn_cut, 2);
	sink.ops->destroy(sink.ctx);

	/* no newline anywhere: nothing in the file is a line */
	write_file(path, "{\"resourceSpans\"");
	assert_int_equal(dft_otlp_json_open(path, 0, 0, &sink), 0);
	assert_int_equal(file_size(path), 0);
	sink.ops->destroy(sink.ctx);
	/* a file of whole lines is left as it is */
	write_file(path, good);
	assert_int_equal(dft_otlp_json_open(path, 0, 0, &sink), 0);
	assert_int_equal(file_size(path), (long)strlen(good));
	dft_otlp_json_get_stats(&sink, &st);
	assert_int_equal(st.torn_cut, 0);
	sink.ops->destroy(sink.ctx);
	unlink(path);
	rmdir(dir);
}

/*
 * A write that fails part-way (here the file size limit, RLIMIT_FSIZE, as a full disk would) leaves
 * nothing of the line: the flush fails (the round is resent), the file ends where the last whole
 * line ended, and once there is room again the next line is whole.
 */
static void test_sink_short_write_cut(void **state)
{
	char dir[] = "/tmp/dft-test-otlp-short-XXXXXX", path[256];
	struct dft_otlp_json_stats st;
	struct rlimit old, lim;
	struct dft_sink sink;
	struct fixture f;
	uint64_t n = 0;
	long size1;
	int rc;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/spans.jsonl", dir);
	fixture_init(&f);
	assert_int_equal(dft_otlp_json_open(path, 0, 0, &sink), 0);
	assert_int_equal(sink.ops->put(sink.ctx, &f.b, false, &n), 0);
	assert_int_equal(sink.ops->flush(sink.ctx), 0);
	size1 = file_size(path);
	assert_true(size1 > 100);

	/* room for a third of the next line: the write stops short, then fails with EFBIG */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)(size1 + size1 / 3);
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(sink.ops->put(sink.ctx, &f.b, false, &n), 0);
	rc = sink.ops->flush(sink.ctx);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(rc, -EFBIG);
	assert_int_equal(file_size(path), size1);
	assert_true(whole_lines(path));
	dft_otlp_json_get_stats(&sink, &st);
	assert_int_equal(st.write_errors, 1);

	/* room again: the resent round's line is written whole after the first */
	assert_int_equal(sink.ops->put(sink.ctx, &f.b, false, &n), 0);
	assert_int_equal(sink.ops->flush(sink.ctx), 0);
	assert_int_equal(lines_in(path), 2);
	assert_int_equal(file_size(path), 2 * size1);
	sink.ops->destroy(sink.ctx);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_empty_and_bound),
	    cmocka_unit_test(test_sink_file_parses),
	    cmocka_unit_test(test_sink_rotate_reopen),
	    cmocka_unit_test(test_sink_cuts_torn_tail),
	    cmocka_unit_test(test_sink_short_write_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
