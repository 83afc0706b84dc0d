/* SPDX-License-Identifier: MIT */
/* difftrace eval against a store built here: every metric of a small truth file, worked out by hand
 * below, plus the three sources of the accounting and the CLI's exit codes and JSON keys. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <sqlite3.h>

#include "cli_eval.h"

#define BASE 1700000000000000000ull

/* the collector's schema (the fixed interface the CLI reads) */
static const char schema[] =
    "CREATE TABLE spans(trace_id BLOB NOT NULL, span_id INTEGER NOT NULL, parent_span_id INTEGER NOT NULL,"
    " start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, component TEXT NOT NULL, operation TEXT NOT NULL,"
    " kind INTEGER NOT NULL, status INTEGER NOT NULL, span_kind INTEGER NOT NULL, queue_ns INTEGER NOT NULL,"
    " flags INTEGER NOT NULL, keep_reasons INTEGER NOT NULL, reconstructed INTEGER NOT NULL DEFAULT 0,"
    " attrs TEXT, hops TEXT, sender_id INTEGER NOT NULL, batch_seq INTEGER NOT NULL);"
    "CREATE INDEX spans_by_trace ON spans(trace_id);"
    "CREATE TABLE senders(sender_id INTEGER PRIMARY KEY, max_seq INTEGER NOT NULL, spans_stored INTEGER NOT NULL,"
    " counters TEXT);";

struct tspan {
	char trace; /* trace id = 16 bytes of this value */
	uint64_t id, parent, start, end;
	int function, anomalous;
	/* in the store: 0 absent, 1 reported, 2 reconstructed; with these times */
	int stored;
	uint64_t s_parent, s_start, s_end;
};

/*
 * Trace A complete: a1 reconstructed (duration 1100 for 1000: error 0.1), a2 reported, a3 anomalous
 * function reported verbatim, a4 anomalous platform reported with another end (not verbatim).
 * Trace B incomplete: b1 missing, b2 anomalous function missing, b3 reconstructed (1000 for 2000: 0.5).
 * Trace C complete: c1 reconstructed (1300 for 1000: 0.3), c2 function reported.
 */
static const struct tspan spans[] = {
    {'A', 0xa1, 0, BASE + 1000, BASE + 2000, 0, 0, 2, 0, BASE + 1000, BASE + 2100},
    {'A', 0xa2, 0xa1, BASE + 1100, BASE + 1900, 0, 0, 1, 0xa1, BASE + 1100, BASE + 1900},
    {'A', 0xa3, 0xa2, BASE + 1200, BASE + 1800, 1, 1, 1, 0xa2, BASE + 1200, BASE + 1800},
    {'A', 0xa4, 0xa2, BASE + 1300, BASE + 1400, 0, 1, 1, 0xa2, BASE + 1300, BASE + 1401},
    {'B', 0xb1, 0, BASE + 5000, BASE + 9000, 0, 0, 0, 0, 0, 0},
    {'B', 0xb2, 0xb1, BASE + 5100, BASE + 8000, 1, 1, 0, 0, 0, 0},
    {'B', 0xb3, 0xb1, BASE + 5000, BASE + 7000, 0, 0, 2, 0xb1, BASE + 5000, BASE + 6000},
    {'C', 0xc1, 0, BASE + 100, BASE + 1100, 0, 0, 2, 0, BASE + 100, BASE + 1400},
    {'C', 0xc2, 0xc1, BASE + 200, BASE + 900, 1, 0, 1, 0xc1, BASE + 200, BASE + 900},
};

struct fixture {
	char dir[64], truth[96], db[96], nic[96], nic_short[96], col[96];
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void exec_sql(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("sql: %s", msg);
}

static void put_row(sqlite3_stmt *q, char trace, uint64_t id, uint64_t parent, uint64_t start, uint64_t end, int recon)
{
	uint8_t tid[16];

	memset(tid, trace, sizeof(tid));
	sqlite3_reset(q);
	sqlite3_bind_blob(q, 1, tid, 16, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)id);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)parent);
	sqlite3_bind_int64(q, 4, (sqlite3_int64)start);
	sqlite3_bind_int64(q, 5, (sqlite3_int64)end);
	sqlite3_bind_int(q, 6, recon);
	assert_int_equal(sqlite3_step(q), SQLITE_DONE);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	sqlite3_stmt *q;
	sqlite3 *db;
	FILE *f;

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/dft-eval-XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->truth, sizeof(fx->truth), "%s/truth.jsonl", fx->dir);
	snprintf(fx->db, sizeof(fx->db), "%s/spans.db", fx->dir);
	snprintf(fx->nic, sizeof(fx->nic), "%s/nic.json", fx->dir);
	snprintf(fx->nic_short, sizeof(fx->nic_short), "%s/nic-short.json", fx->dir);
	snprintf(fx->col, sizeof(fx->col), "%s/collector.json", fx->dir);

	f = fopen(fx->truth, "w");
	assert_non_null(f);
	for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
		const struct tspan *s = &spans[i];
		char tid[33];

		for (int k = 0; k < 16; k++)
			snprintf(tid + 2 * k, 3, "%02x", (unsigned char)s->trace);
		fprintf(f,
		        "{\"trace_id\":\"%s\",\"span_id\":\"%016" PRIx64 "\",\"parent_span_id\":\"%016" PRIx64 "\","
		        "\"component\":\"c\",\"operation\":\"o\",\"kind\":\"%s\",\"start_ns\":%" PRIu64
		        ",\"end_ns\":%" PRIu64 ",\"anomalous\":%s,\"anomaly\":%s}\n",
		        tid, s->id, s->parent, s->function ? "function" : "platform", s->start, s->end,
		        s->anomalous ? "true" : "false", s->anomalous ? "\"error\"" : "null");
	}
	assert_int_equal(fclose(f), 0);

	assert_int_equal(sqlite3_open(fx->db, &db), SQLITE_OK);
	exec_sql(db, schema);
	assert_int_equal(sqlite3_prepare_v2(db,
	                                    "INSERT INTO spans VALUES(?1, ?2, ?3, ?4, ?5, 'c', 'o', 1, 0, 0, 0, 0, 0,"
	                                    " ?6, NULL, NULL, 1, 1)",
	                                    -1, &q, NULL),
	                 SQLITE_OK);
	for (size_t i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
		const struct tspan *s = &spans[i];

		if (s->stored)
			put_row(q, s->trace, s->id, s->s_parent, s->s_start, s->s_end, s->stored == 2);
	}
	put_row(q, 'D', 0xd1, 0, BASE, BASE + 5, 0); /* a span the truth does not know */
	sqlite3_finalize(q);
	/* two senders whose counters do not add up: 18 produced, 5 + 11 + 1 accounted */
	exec_sql(db, "INSERT INTO senders VALUES(1, 3, 3, '{\"produced\":10,\"reported\":3,\"filtered\":6,"
	             "\"lost_ring_full\":0,\"lost_invalid\":1,\"lost_backlog_full\":0,\"lost_transport\":0,"
	             "\"lost_hold_overflow\":0,\"lost_no_ring\":0,\"batches\":3}');"
	             "INSERT INTO senders VALUES(2, 2, 2, '{\"produced\":8,\"reported\":2,\"filtered\":5,"
	             "\"lost_ring_full\":0,\"lost_invalid\":0,\"lost_backlog_full\":0,\"lost_transport\":0,"
	             "\"lost_hold_overflow\":0,\"lost_no_ring\":0,\"batches\":2}');");
	sqlite3_close(db);

	write_file(fx->nic, "{\"produced\":20,\"reported\":5,\"filtered\":12,\"lost_ring_full\":2,\"lost_invalid\":0,"
	                    "\"lost_backlog_full\":0,\"lost_transport\":1,\"lost_hold_overflow\":0,\"lost_no_ring\":0,"
	                    "\"in_flight\":0}\n");
	/* the identity holds, but the store has 5 reported spans, not 4 */
	write_file(fx->nic_short,
	           "{\"produced\":18,\"reported\":4,\"filtered\":12,\"lost_ring_full\":0,\"lost_invalid\":0,"
	           "\"lost_backlog_full\":0,\"lost_transport\":0,\"lost_hold_overflow\":0,"
	           "\"lost_no_ring\":2}\n");
	write_file(fx->col,
	           "{\"connections\":1,\"spans_stored\":5,\"senders\":[{\"sender_id\":\"0000000000000001\","
	           "\"max_seq\":2,\"spans_stored\":5,\"counters\":{\"produced\":7,\"reported\":5,\"filtered\":2,"
	           "\"lost_ring_full\":0,\"lost_invalid\":0,\"lost_backlog_full\":0,\"lost_transport\":0,"
	           "\"lost_hold_overflow\":0,\"lost_no_ring\":0,\"batches\":2}}]}\n");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char path[160];

	for (const char *n = "truth.jsonl\0spans.db\0nic.json\0nic-short.json\0collector.json\0bad.jsonl\0out.json\0";
	     *n; n += strlen(n) + 1) {
		snprintf(path, sizeof(path), "%s/%s", fx->dir, n);
		unlink(path);
	}
	rmdir(fx->dir);
	free(fx);
	return 0;
}

static int near_eps(double a, double b, double eps)
{
	double d = a - b;

	return d < eps && d > -eps;
}

static int near(double a, double b)
{
	return near_eps(a, b, 1e-9);
}

static void test_metrics(void **state)
{
	struct fixture *fx = *state;
	struct dft_eval e;
	char err[256] = "";

	if (dft_eval_compute(fx->truth, fx->db, fx->nic, NULL, &e, err, sizeof(err)))
		fail_msg("eval: %s", err);
	assert_int_equal(e.truth_spans, 9);
	assert_int_equal(e.anomalous_total, 3);
	assert_int_equal(e.anomalous_reported, 1); /* a4's end differs, b2 is missing */
	assert_int_equal(e.platform_normal_total, 5);
	assert_int_equal(e.platform_normal_reported, 1); /* reconstructed ones do not count as reported */
	assert_int_equal(e.function_total, 3);
	assert_int_equal(e.function_reported, 2);
	assert_int_equal(e.traces_total, 3);
	assert_int_equal(e.traces_complete, 2);
	assert_int_equal(e.recon_spans, 3);
	assert_int_equal(e.recon_zero_duration, 0);
	assert_true(near(e.recon_rel_err_median, 0.3));
	assert_true(near(e.recon_rel_err_p90, 0.3 + (0.5 - 0.3) * 0.8));
	assert_int_equal(e.store_spans, 8);
	assert_int_equal(e.store_reported, 5);
	assert_int_equal(e.store_reconstructed, 3);
	assert_int_equal(e.store_not_in_truth, 1);
	assert_int_equal(e.store_duplicates, 0);
	assert_string_equal(e.accounting_source, "nic-stats");
	assert_int_equal(e.produced, 20);
	assert_int_equal(e.reported, 5);
	assert_int_equal(e.filtered, 12);
	assert_int_equal(e.lost, 3);
	assert_int_equal(e.lost_by_reason[0], 2); /* lost_ring_full */
	assert_string_equal(dft_eval_lost_names[4], "lost_transport");
	assert_int_equal(e.lost_by_reason[4], 1);
	assert_true(e.accounting_ok);
}

static void test_accounting_sources(void **state)
{
	struct fixture *fx = *state;
	struct dft_eval e;
	char err[256] = "";

	/* the senders table: summed over senders, identity broken */
	assert_int_equal(dft_eval_compute(fx->truth, fx->db, NULL, NULL, &e, err, sizeof(err)), 0);
	assert_string_equal(e.accounting_source, "db");
	assert_int_equal(e.produced, 18);
	assert_int_equal(e.reported, 5);
	assert_int_equal(e.filtered, 11);
	assert_int_equal(e.lost, 1);
	assert_int_equal(e.lost_by_reason[2], 1); /* lost_invalid */
	assert_false(e.accounting_ok);

	assert_int_equal(dft_eval_compute(fx->truth, fx->db, NULL, fx->col, &e, err, sizeof(err)), 0);
	assert_string_equal(e.accounting_source, "collector-stats");
	assert_int_equal(e.produced, 7);
	assert_true(e.accounting_ok);

	/* identity holds, the store disagrees */
	assert_int_equal(dft_eval_compute(fx->truth, fx->db, fx->nic_short, fx->col, &e, err, sizeof(err)), 0);
	assert_int_equal(e.lost_by_reason[1], 2); /* lost_no_ring */
	assert_int_equal(e.produced, e.reported + e.filtered + e.lost);
	assert_false(e.accounting_ok);
}

static void test_errors(void **state)
{
	struct fixture *fx = *state;
	struct dft_eval e;
	char err[256] = "", bad[128];

	snprintf(bad, sizeof(bad), "%s/bad.jsonl", fx->dir);
	write_file(bad, "\n{\"trace_id\":\"zz\"}\n");
	assert_int_not_equal(dft_eval_compute(bad, fx->db, NULL, NULL, &e, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "line 2"));
	assert_int_not_equal(dft_eval_compute("/nonexistent/truth", fx->db, NULL, NULL, &e, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "/nonexistent/truth"));
	assert_int_not_equal(dft_eval_compute(fx->truth, "/nonexistent/db", NULL, NULL, &e, err, sizeof(err)), 0);
	assert_int_not_equal(dft_eval_compute(fx->truth, fx->db, bad, NULL, &e, err, sizeof(err)), 0);
}

static int run_cli(struct fixture *fx, char **argv, int argc)
{
	char out[128];
	int fd, saved, rc;

	snprintf(out, sizeof(out), "%s/out.json", fx->dir);
	fflush(stdout);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	saved = dup(1);
	dup2(fd, 1);
	close(fd);
	rc = dft_cli_eval(argc, argv);
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	return rc;
}

static void test_cli(void **state)
{
	static const char *const keys[] = {
	    "anomalous_total",
	    "anomalous_reported",
	    "anomalous_recall",
	    "platform_normal_total",
	    "platform_normal_reported",
	    "platform_reduction",
	    "traces_total",
	    "traces_complete",
	    "trace_completeness",
	    "recon_spans",
	    "recon_rel_err_median",
	    "recon_rel_err_p90",
	    "produced",
	    "reported",
	    "filtered",
	    "lost",
	    "lost_by_reason",
	    "accounting_ok",
	};
	struct fixture *fx = *state;
	char *ok[] = {"eval", "--truth", fx->truth, "--db", fx->db, "--nic-stats", fx->nic, "--json"};
	char *no_db[] = {"eval", "--truth", fx->truth};
	char *bad_opt[] = {"eval", "--truth", fx->truth, "--db", fx->db, "--frobnicate"};
	char *missing[] = {"eval", "--truth", "/nonexistent/truth", "--db", fx->db};
	char path[128];
	json_error_t je;
	json_t *o;

	assert_int_equal(run_cli(fx, ok, 8), 0);
	snprintf(path, sizeof(path), "%s/out.json", fx->dir);
	o = json_load_file(path, 0, &je);
	if (!o)
		fail_msg("--json output: %s", je.text);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!json_object_get(o, keys[i]))
			fail_msg("--json output lacks %s", keys[i]);
	assert_int_equal(json_integer_value(json_object_get(o, "traces_complete")), 2);
	assert_true(near_eps(json_real_value(json_object_get(o, "platform_reduction")), 0.8, 1e-6));
	assert_true(near_eps(json_real_value(json_object_get(o, "anomalous_recall")), 1.0 / 3.0, 1e-6));
	assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "lost_by_reason"), "lost_transport")),
	                 1);
	assert_true(json_is_true(json_object_get(o, "accounting_ok")));
	json_decref(o);

	assert_int_equal(run_cli(fx, no_db, 3), 2);
	assert_int_equal(run_cli(fx, bad_opt, 6), 2);
	assert_int_equal(run_cli(fx, missing, 5), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_metrics),
	    cmocka_unit_test(test_accounting_sources),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_cli),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
