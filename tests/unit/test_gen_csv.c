/* SPDX-License-Identifier: MIT */
/* The Alibaba CallGraph CSV reader: fields, header, every kind of malformed row and its line. */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gen_csv.h"

#define HDR ",traceid,timestamp,rpcid,um,rpctype,dm,interface,rt\n"

struct report_log {
	unsigned n;
	uint64_t line[32];
	enum dft_gen_csv_bad why[32];
	char msg[32][256];
};

static void collect(void *arg, uint64_t line, enum dft_gen_csv_bad why, const char *msg)
{
	struct report_log *l = arg;

	if (l->n < 32) {
		l->line[l->n] = line;
		l->why[l->n] = why;
		snprintf(l->msg[l->n], sizeof(l->msg[0]), "%s", msg);
	}
	l->n++;
}

static void test_parse_fields(void **state)
{
	struct dft_gen_csv_row r;
	char err[128];

	(void)state;
	assert_int_equal(
	    dft_gen_csv_parse_line("17,0b13a7,1234567,0.1.12,MS_1,rpc,MS_2,getUser,-12.5", &r, err, sizeof(err)), 0);
	assert_int_equal(r.index, 17);
	assert_string_equal(r.traceid, "0b13a7");
	assert_int_equal(r.timestamp, 1234567);
	assert_string_equal(r.rpcid, "0.1.12");
	assert_string_equal(r.um, "MS_1");
	assert_string_equal(r.rpctype, "rpc");
	assert_string_equal(r.dm, "MS_2");
	assert_string_equal(r.interface, "getUser");
	assert_true(r.rt == -12.5);
	/* CRLF files, an empty interface, an integer rt */
	assert_int_equal(dft_gen_csv_parse_line("0,t,0,0,A,db,B,,3\r", &r, err, sizeof(err)), 0);
	assert_string_equal(r.interface, "");
	assert_string_equal(r.rpcid, "0");
	assert_true(r.rt == 3);
}

static void test_parse_malformed(void **state)
{
	static const struct {
		const char *line;
		enum dft_gen_csv_bad why;
		const char *names; /* what the message must mention */
	} cases[] = {
	    {"1,t,5,0.1,A,rpc,B,get", DFT_CSV_FIELD_COUNT, "fields"},
	    {"1,t,5,0.1,A,rpc,B,get,1,2", DFT_CSV_FIELD_COUNT, "fields"},
	    {"1,,5,0.1,A,rpc,B,get,1", DFT_CSV_EMPTY_FIELD, "traceid"},
	    {"1,t,5,0.1,,rpc,B,get,1", DFT_CSV_EMPTY_FIELD, "um"},
	    {"1,t,5,0.1,A,rpc,,get,1", DFT_CSV_EMPTY_FIELD, "dm"},
	    {"1,t,5,0.1,A,,B,get,1", DFT_CSV_EMPTY_FIELD, "rpctype"},
	    {"x,t,5,0.1,A,rpc,B,get,1", DFT_CSV_BAD_NUMBER, "index"},
	    {"1,t,5s,0.1,A,rpc,B,get,1", DFT_CSV_BAD_NUMBER, "timestamp"},
	    {"1,t,5,0.1,A,rpc,B,get,fast", DFT_CSV_BAD_NUMBER, "rt"},
	    {"1,t,5,0.1,A,rpc,B,get,", DFT_CSV_BAD_NUMBER, "rt"},
	    {"1,t,5,0.1,A,rpc,B,get,nan", DFT_CSV_BAD_NUMBER, "rt"},
	    {"1,t,5,0..1,A,rpc,B,get,1", DFT_CSV_BAD_RPCID, "rpcid"},
	    {"1,t,5,.1,A,rpc,B,get,1", DFT_CSV_BAD_RPCID, "rpcid"},
	    {"1,t,5,0.1.,A,rpc,B,get,1", DFT_CSV_BAD_RPCID, "rpcid"},
	    {"1,t,5,,A,rpc,B,get,1", DFT_CSV_EMPTY_FIELD, "rpcid"},
	    {"1,t,5,0.1,\"A\",rpc,B,get,1", DFT_CSV_BAD_CHAR, "character"},
	    {"1,t,5,0.1,A\tB,rpc,B,get,1", DFT_CSV_BAD_CHAR, "character"},
	    {"1,t,5,0.1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA,rpc,B,get,1",
	     DFT_CSV_TOO_LONG, "um"},
	};
	struct dft_gen_csv_row r;
	char err[128];

	(void)state;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = dft_gen_csv_parse_line(cases[i].line, &r, err, sizeof(err));

		if (rc != -(1 + (int)cases[i].why) || !strstr(err, cases[i].names))
			fail_msg("case %u '%s': rc %d msg '%s'", i, cases[i].line, rc, err);
	}
}

static int open_text(struct dft_gen_csv *c, FILE **f, const char *text, int strict)
{
	*f = fmemopen((void *)text, strlen(text), "r");
	assert_non_null(*f);
	return dft_gen_csv_open(c, *f, "mem.csv", strict);
}

static void test_header(void **state)
{
	struct dft_gen_csv c;
	FILE *f;

	(void)state;
	assert_int_equal(open_text(&c, &f, "traceid,timestamp,rpcid,um,rpctype,dm,interface,rt\n", 0), -EINVAL);
	assert_non_null(strstr(c.err, "mem.csv:1: header"));
	fclose(f);
	assert_int_equal(open_text(&c, &f, ",traceid,timestamp,rpcid,um,rpctype,dm,interface\n1,t,1,0,A,rpc,B,x\n", 0),
	                 -EINVAL);
	fclose(f);
	f = fopen("/dev/null", "r"); /* an empty file */
	assert_int_equal(dft_gen_csv_open(&c, f, "empty.csv", 0), -EINVAL);
	assert_non_null(strstr(c.err, "empty.csv:1"));
	fclose(f);
	/* CRLF header is fine */
	assert_int_equal(open_text(&c, &f, ",traceid,timestamp,rpcid,um,rpctype,dm,interface,rt\r\n", 0), 0);
	fclose(f);
}

static void test_reader_lines(void **state)
{
	static const char text[] = HDR "0,t1,1,0.1,A,rpc,B,get,5\n"  /* 2 */
	                               "1,t1,1,0.1,A,rpc,B,get\n"    /* 3: fields */
	                               "\n"                          /* 4: blank, not a row */
	                               "2,t1,1,0.1,A,rpc,B,get,-4\n" /* 5 */
	                               "3,t1,1,0:1,A,rpc,B,get,1\n"  /* 6: rpcid */
	                               "4,t1,x,0.1,A,rpc,B,get,1\n"  /* 7: number */
	                               "5,t1,1,0.2,A,db,C,,1";       /* 8, no final newline */
	struct report_log log = {0};
	struct dft_gen_csv_row r;
	struct dft_gen_csv c;
	uint64_t got[8];
	unsigned n = 0;
	FILE *f;
	int rc;

	(void)state;
	assert_int_equal(open_text(&c, &f, text, 0), 0);
	c.report = collect;
	c.report_arg = &log;
	while ((rc = dft_gen_csv_next(&c, &r)) == 1)
		got[n++] = r.line;
	assert_int_equal(rc, 0);
	assert_int_equal(n, 3);
	assert_int_equal(got[0], 2);
	assert_int_equal(got[1], 5);
	assert_int_equal(got[2], 8);
	assert_int_equal(c.rows, 3);
	assert_int_equal(c.malformed, 3);
	assert_int_equal(log.n, 3);
	assert_int_equal(log.line[0], 3);
	assert_int_equal(log.why[0], DFT_CSV_FIELD_COUNT);
	assert_non_null(strstr(log.msg[0], "mem.csv:3:"));
	assert_int_equal(log.line[1], 6);
	assert_int_equal(log.why[1], DFT_CSV_BAD_RPCID);
	assert_non_null(strstr(log.msg[1], "mem.csv:6:"));
	assert_int_equal(log.line[2], 7);
	assert_int_equal(log.why[2], DFT_CSV_BAD_NUMBER);
	assert_non_null(strstr(log.msg[2], "mem.csv:7:"));
	assert_int_equal(c.bad[DFT_CSV_FIELD_COUNT], 1);
	assert_int_equal(c.bad[DFT_CSV_BAD_RPCID], 1);
	assert_int_equal(c.bad[DFT_CSV_BAD_NUMBER], 1);
	fclose(f);

	/* strict: the first malformed row stops the reader with its line */
	assert_int_equal(open_text(&c, &f, text, 1), 0);
	c.report = collect;
	c.report_arg = &log;
	assert_int_equal(dft_gen_csv_next(&c, &r), 1);
	assert_int_equal(dft_gen_csv_next(&c, &r), -EINVAL);
	assert_non_null(strstr(c.err, "mem.csv:3:"));
	fclose(f);
}

static void test_long_line(void **state)
{
	char text[4096];
	struct dft_gen_csv_row r;
	struct dft_gen_csv c;
	struct report_log log = {0};
	FILE *f;

	(void)state;
	snprintf(text, sizeof(text), HDR);
	{
		size_t off = strlen(HDR);
		char tail[64];

		/* line 2: 2000 characters; line 3 still read as a row */
		memset(text + off, 'a', 2000);
		snprintf(tail, sizeof(tail), "\n0,t,1,0.1,A,rpc,B,get,2\n");
		memcpy(text + off + 2000, tail, strlen(tail) + 1);
	}
	assert_int_equal(open_text(&c, &f, text, 0), 0);
	c.report = collect;
	c.report_arg = &log;
	assert_int_equal(dft_gen_csv_next(&c, &r), 1);
	assert_int_equal(r.line, 3);
	assert_int_equal(c.bad[DFT_CSV_TOO_LONG], 1);
	assert_int_equal(log.line[0], 2);
	fclose(f);
}

static void test_sample_file(void **state)
{
	/* tests/data/alibaba_sample.csv: 201 valid rows and 5 malformed ones at known lines */
	static const uint64_t bad_line[] = {23, 47, 75, 120, 168};
	static const enum dft_gen_csv_bad bad_why[] = {DFT_CSV_FIELD_COUNT, DFT_CSV_BAD_NUMBER, DFT_CSV_BAD_RPCID,
	                                               DFT_CSV_EMPTY_FIELD, DFT_CSV_BAD_NUMBER};
	struct report_log log = {0};
	struct dft_gen_csv_row r;
	struct dft_gen_csv c;
	FILE *f = fopen(DFT_GEN_SAMPLE_CSV, "r");
	int rc;

	(void)state;
	assert_non_null(f);
	assert_int_equal(dft_gen_csv_open(&c, f, "sample", 0), 0);
	c.report = collect;
	c.report_arg = &log;
	while ((rc = dft_gen_csv_next(&c, &r)) == 1)
		assert_true(r.line != bad_line[0] && r.line != bad_line[4]);
	assert_int_equal(rc, 0);
	assert_int_equal(c.rows, 201);
	assert_int_equal(c.malformed, 5);
	assert_int_equal(log.n, 5);
	for (unsigned i = 0; i < 5; i++) {
		char want[32];

		snprintf(want, sizeof(want), "sample:%llu:", (unsigned long long)bad_line[i]);
		assert_int_equal(log.line[i], bad_line[i]);
		assert_int_equal(log.why[i], bad_why[i]);
		assert_non_null(strstr(log.msg[i], want));
	}
	fclose(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_fields), cmocka_unit_test(test_parse_malformed),
	    cmocka_unit_test(test_header),       cmocka_unit_test(test_reader_lines),
	    cmocka_unit_test(test_long_line),    cmocka_unit_test(test_sample_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
