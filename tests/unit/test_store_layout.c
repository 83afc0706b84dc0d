/* SPDX-License-Identifier: MIT */
/*
 * How the SQLite store finds a trace's rows (store_layout.h): one trace_spans range per (trace,
 * batch), ids sharing the 8-byte key kept apart, a refused batch's ranges gone with it, the
 * migration of a schema 0 store and the refusal of a newer one.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "collector.h"
#include "store_sqlite.h"
#include "trace_read.h"

#define MAX_SPANS 1500u

struct batch {
	Difftrace__SpanBatch b;
	Difftrace__BatchHeader h;
	Difftrace__Counters c;
	Difftrace__Span s[MAX_SPANS];
	Difftrace__Span *sp[MAX_SPANS];
	uint8_t tid[MAX_SPANS][16];
	char *strings[2];
};

static char comp[] = "svc", op[] = "op";

/* trace ids: key k in the first 8 bytes, tail t in the last 8 */
static void trace_id(uint8_t out[16], uint8_t k, uint8_t t)
{
	memset(out, 0, 16);
	out[0] = 0xa0;
	out[7] = k;
	out[15] = t;
}

static void batch_init(struct batch *f, uint64_t seq)
{
	memset(f, 0, sizeof(*f));
	difftrace__span_batch__init(&f->b);
	difftrace__batch_header__init(&f->h);
	difftrace__counters__init(&f->c);
	f->strings[0] = comp;
	f->strings[1] = op;
	f->h.sender_id = 7;
	f->h.sequence = seq;
	f->h.counters = &f->c;
	f->b.header = &f->h;
	f->b.n_strings = 2;
	f->b.strings = f->strings;
	f->b.spans = f->sp;
}

static void add_span(struct batch *f, uint8_t k, uint8_t t, uint64_t span_id)
{
	size_t i = f->b.n_spans++;
	Difftrace__Span *s = &f->s[i];

	difftrace__span__init(s);
	trace_id(f->tid[i], k, t);
	s->trace_id.data = f->tid[i];
	s->trace_id.len = 16;
	s->span_id = span_id;
	s->start_ns = 1000 + span_id;
	s->end_ns = 2000 + span_id;
	s->component = 0;
	s->operation = 1;
	s->kind = DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_FUNCTION;
	s->status = DIFFTRACE__STATUS__STATUS_OK;
	f->sp[i] = s;
}

static char db_path[64];

static int setup(void **state)
{
	int fd;

	(void)state;
	strcpy(db_path, "/tmp/dft-test-layout-XXXXXX");
	fd = mkstemp(db_path);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	char p[80];

	(void)state;
	snprintf(p, sizeof(p), "%s-wal", db_path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", db_path);
	unlink(p);
	unlink(db_path);
	return 0;
}

static int64_t scalar(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

/* The span ids a reader sees in trace (k, t), in its order, written to ids; the count. */
static uint32_t read_trace(sqlite3 *db, uint8_t k, uint8_t t, uint64_t *ids, uint32_t max)
{
	struct dft_treader *r;
	struct dft_ttrace tr;
	uint8_t id[16];
	uint32_t n = 0;
	int rc;

	trace_id(id, k, t);
	assert_int_equal(dft_treader_create(db, &r), 0);
	rc = dft_treader_trace(r, id, &tr);
	if (rc == -ENOENT) {
		dft_treader_destroy(r);
		return 0;
	}
	assert_int_equal(rc, 0);
	for (uint32_t i = 0; i < tr.n && n < max; i++)
		if (!tr.sp[i].reconstructed)
			ids[n++] = tr.sp[i].span_id;
	dft_ttrace_clear(&tr);
	dft_treader_destroy(r);
	return n;
}

/* Interleaved traces, two ids with one key, a trace over two batches, a refused third batch. */
static void test_ranges(void **state)
{
	static struct batch a, b, c;
	struct dft_store *st;
	uint64_t ids[8];
	uint8_t x[16], x2[16];
	sqlite3 *db;

	(void)state;
	trace_id(x, 1, 1);
	trace_id(x2, 1, 2); /* same key as x */
	batch_init(&a, 1);
	add_span(&a, 1, 1, 11);
	add_span(&a, 2, 0, 20);
	add_span(&a, 1, 2, 30);
	add_span(&a, 1, 1, 12);
	batch_init(&b, 2);
	add_span(&b, 2, 0, 21);
	add_span(&b, 1, 1, 13);
	batch_init(&c, 3);
	add_span(&c, 1, 1, 14);

	assert_int_equal(dft_store_open(db_path, &st), 0);
	assert_int_equal(dft_store_put_batch(st, &a.b), 0);
	assert_int_equal(dft_store_savepoint(st), 0);
	assert_int_equal(dft_store_put_batch(st, &b.b), 0);
	assert_int_equal(dft_store_savepoint_release(st), 0);
	assert_int_equal(dft_store_savepoint(st), 0);
	assert_int_equal(dft_store_put_batch(st, &c.b), 0);
	assert_int_equal(dft_store_span_exists(st, x, 14), 1); /* the open transaction included */
	dft_store_savepoint_rollback(st);
	assert_int_equal(dft_store_span_exists(st, x, 14), 0);
	assert_int_equal(dft_store_commit(st), 0);
	assert_int_equal(dft_store_span_exists(st, x, 13), 1);
	assert_int_equal(dft_store_span_exists(st, x, 30), 0); /* x2's span, same key */
	assert_int_equal(dft_store_span_exists(st, x2, 30), 1);

	db = dft_store_sqlite(st);
	/* a: x, the other trace, x2; b: the other trace, x; c: rolled back */
	assert_int_equal(scalar(db, "SELECT count(*) FROM trace_spans"), 5);
	assert_int_equal(scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'spans_by_trace'"), 0);
	assert_int_equal(read_trace(db, 1, 1, ids, 8), 3);
	assert_int_equal(ids[0], 11);
	assert_int_equal(ids[1], 12);
	assert_int_equal(ids[2], 13);
	assert_int_equal(read_trace(db, 1, 2, ids, 8), 1);
	assert_int_equal(ids[0], 30);
	assert_int_equal(read_trace(db, 2, 0, ids, 8), 2);
	assert_int_equal(read_trace(db, 3, 0, ids, 8), 0);
	dft_store_close(st);
}

/* More traces in one batch than the range table holds at once: every one still gets its range. */
static void test_many_traces(void **state)
{
	static struct batch a;
	struct dft_store *st;
	uint64_t ids[2];
	sqlite3 *db;

	(void)state;
	batch_init(&a, 1);
	for (uint32_t i = 0; i < MAX_SPANS; i++)
		add_span(&a, (uint8_t)(i % 251), (uint8_t)(i / 251), 100 + i);
	assert_int_equal(dft_store_open(db_path, &st), 0);
	assert_int_equal(dft_store_put_batch(st, &a.b), 0);
	assert_int_equal(dft_store_commit(st), 0);
	db = dft_store_sqlite(st);
	assert_int_equal(scalar(db, "SELECT count(*) FROM trace_spans"), MAX_SPANS);
	assert_int_equal(scalar(db, "SELECT count(*) FROM trace_spans WHERE lo != hi"), 0);
	for (uint32_t i = 0; i < MAX_SPANS; i++) {
		assert_int_equal(read_trace(db, (uint8_t)(i % 251), (uint8_t)(i / 251), ids, 2), 1);
		assert_int_equal(ids[0], 100 + i);
	}
	dft_store_close(st);
}

/* A schema 0 store (index on trace_id, no ranges) is migrated on open; its rows read once each. */
static void test_migrate_v0(void **state)
{
	static struct batch a;
	struct dft_store *st;
	uint64_t ids[8];
	sqlite3 *db;

	(void)state;
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	/* trace (1,1): batch 1 at rowids 1 and 3, batch 2 at rowid 2, inside batch 1's range */
	assert_int_equal(sqlite3_exec(db,
	                              "CREATE TABLE spans(trace_id BLOB NOT NULL, span_id INTEGER NOT NULL,"
	                              " parent_span_id INTEGER NOT NULL, start_ns INTEGER NOT NULL,"
	                              " end_ns INTEGER NOT NULL, component TEXT NOT NULL, operation TEXT NOT NULL,"
	                              " kind INTEGER NOT NULL, status INTEGER NOT NULL, span_kind INTEGER NOT NULL,"
	                              " queue_ns INTEGER NOT NULL, flags INTEGER NOT NULL,"
	                              " keep_reasons INTEGER NOT NULL, reconstructed INTEGER NOT NULL DEFAULT 0,"
	                              " attrs TEXT, hops TEXT, sender_id INTEGER NOT NULL, batch_seq INTEGER NOT NULL,"
	                              " status_message TEXT);"
	                              "CREATE INDEX spans_by_trace ON spans(trace_id);"
	                              "INSERT INTO spans VALUES(x'a0000000000000010000000000000001', 1, 0, 1, 2, 'a', 'b',"
	                              " 2, 1, 0, 0, 0, 0, 0, NULL, NULL, 7, 1, NULL);"
	                              "INSERT INTO spans VALUES(x'a0000000000000010000000000000001', 2, 0, 2, 3, 'a', 'b',"
	                              " 2, 1, 0, 0, 0, 0, 0, NULL, NULL, 7, 2, NULL);"
	                              "INSERT INTO spans VALUES(x'a0000000000000010000000000000001', 3, 0, 3, 4, 'a', 'b',"
	                              " 2, 1, 0, 0, 0, 0, 0, NULL, NULL, 7, 1, NULL);",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	/* read the old way before the migration */
	assert_int_equal(read_trace(db, 1, 1, ids, 8), 3);
	sqlite3_close(db);

	assert_int_equal(dft_store_open(db_path, &st), 0);
	batch_init(&a, 3);
	add_span(&a, 1, 1, 4);
	assert_int_equal(dft_store_put_batch(st, &a.b), 0);
	assert_int_equal(dft_store_commit(st), 0);
	dft_store_close(st);

	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(scalar(db, "PRAGMA user_version"), 1);
	assert_int_equal(scalar(db, "SELECT count(*) FROM sqlite_master WHERE name = 'spans_by_trace'"), 0);
	assert_int_equal(scalar(db, "SELECT count(*) FROM trace_spans"), 3);
	assert_int_equal(read_trace(db, 1, 1, ids, 8), 4);
	for (uint32_t i = 0; i < 4; i++)
		assert_int_equal(ids[i], i + 1);
	sqlite3_close(db);
}

/* A store a newer difftrace wrote is refused, naming its version, by the collector and readers. */
static void test_newer_schema(void **state)
{
	struct dft_store *st = NULL;
	char err[160] = "";
	sqlite3 *db;

	(void)state;
	assert_int_equal(dft_store_open(db_path, &st), 0);
	dft_store_close(st);
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(dft_store_check_schema(db, err, sizeof(err)), 0);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(dft_store_check_schema(db, err, sizeof(err)), -EPROTONOSUPPORT);
	assert_non_null(strstr(err, "version 99"));
	sqlite3_close(db);
	st = NULL;
	assert_int_equal(dft_store_open(db_path, &st), -EPROTONOSUPPORT);
	assert_null(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ranges, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_traces, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_v0, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_newer_schema, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
