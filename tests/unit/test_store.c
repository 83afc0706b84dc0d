/* SPDX-License-Identifier: MIT */
/* The SQLite store against a real database file: group commit, rollback, reopen, every column. */
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

#include "dedup.h"
#include "store_sqlite.h"
#include "rebuild.h"

#define SENDER 0xf00dfeedcafe0001ULL /* top bit set */

struct one_span_batch {
	Difftrace__SpanBatch b;
	Difftrace__BatchHeader h;
	Difftrace__Counters c;
	Difftrace__Span s;
	Difftrace__Span *sp;
	Difftrace__Attr a[2];
	Difftrace__Attr *ap[2];
	Difftrace__Hop hop;
	Difftrace__Hop *hp;
	uint8_t tid[16];
	char *strings[5];
};

static void make_batch(struct one_span_batch *f, uint64_t seq, uint64_t span_id)
{
	static char s0[] = "queue-proxy", s1[] = "op \"x\"", s2[] = "app.attempt", s3[] = "bytes", s4[] = "activator";
	int i;

	memset(f, 0, sizeof(*f));
	difftrace__span_batch__init(&f->b);
	difftrace__batch_header__init(&f->h);
	difftrace__counters__init(&f->c);
	difftrace__span__init(&f->s);
	difftrace__hop__init(&f->hop);
	f->strings[0] = s0;
	f->strings[1] = s1;
	f->strings[2] = s2;
	f->strings[3] = s3;
	f->strings[4] = s4;
	for (i = 0; i < 16; i++)
		f->tid[i] = (uint8_t)(0xf0 + i);
	for (i = 0; i < 2; i++) {
		difftrace__attr__init(&f->a[i]);
		f->ap[i] = &f->a[i];
	}
	f->a[0].key = 2;
	f->a[0].value = 3;
	f->a[1].key = 3;
	f->a[1].value = INT64_MIN;
	f->hop.name_hash = 0x0badf00d;
	f->hop.span_id = 0xabcdef0123456789ULL;
	f->hop.start_ns = 0xfffffffffffffff0ULL;
	f->hop.parent_span_id = 0xfedcba9876543210ULL;
	f->hp = &f->hop;
	f->s.trace_id.data = f->tid;
	f->s.trace_id.len = 16;
	f->s.span_id = span_id;
	f->s.parent_span_id = 0x8000000000000001ULL;
	f->s.start_ns = 0x9000000000000000ULL;
	f->s.end_ns = 0xffffffffffffffffULL;
	f->s.component = 0;
	f->s.operation = 1;
	f->s.kind = DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_PLATFORM;
	f->s.status = DIFFTRACE__STATUS__STATUS_ERROR;
	f->s.span_kind = 3;
	f->s.queue_ns = 0x8000000000000000ULL;
	f->s.flags = 0x1ff;
	f->s.keep_reasons = 0x80000005u;
	f->s.n_attrs = 2;
	f->s.attrs = f->ap;
	f->s.n_hops = 1;
	f->s.hops = &f->hp;
	f->sp = &f->s;
	f->h.sender_id = SENDER;
	f->h.sequence = seq;
	f->h.counters = &f->c;
	f->b.header = &f->h;
	f->b.n_strings = 5;
	f->b.strings = f->strings;
	f->b.n_spans = 1;
	f->b.spans = &f->sp;
}

static char db_path[64];

static int setup(void **state)
{
	int fd;

	(void)state;
	strcpy(db_path, "/tmp/dft-test-store-XXXXXX");
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

static void test_group_commit_and_reopen(void **state)
{
	struct one_span_batch b1, b2, b3;
	struct dft_store *st;
	struct dft_sender snd;
	sqlite3_stmt *q;
	sqlite3 *db;

	(void)state;
	assert_int_equal(dft_store_open(db_path, &st), 0);
	make_batch(&b1, 1, 0x8000000000000002ULL);
	make_batch(&b2, 2, 0x0000000000000003ULL);
	/* one round: two batches and the sender row, one commit */
	assert_int_equal(dft_store_put_batch(st, &b1.b), 0);
	assert_true(dft_store_in_txn(st));
	assert_int_equal(dft_store_put_batch(st, &b2.b), 0);
	memset(&snd, 0, sizeof(snd));
	snd.sender_id = SENDER;
	snd.max_seq = 2;
	snd.pending_spans = 2;
	snd.counters.produced = 0xffffffffffffffffULL;
	snd.counters.batches = 2;
	assert_int_equal(dft_store_put_sender(st, &snd), 0);
	assert_int_equal(dft_store_commit(st), 0);
	assert_false(dft_store_in_txn(st));
	/* a round that fails leaves nothing behind */
	make_batch(&b3, 3, 4);
	assert_int_equal(dft_store_put_batch(st, &b3.b), 0);
	dft_store_rollback(st);
	dft_store_close(st);

	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	/* WAL is a property of the file: readers see it too */
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
	sqlite3_finalize(q);
	assert_int_equal(scalar(db, "SELECT count(*) FROM spans"), 2);
	assert_int_equal(scalar(db, "SELECT count(*) FROM spans WHERE batch_seq = 3"), 0);
	assert_int_equal(
	    sqlite3_prepare_v2(db,
	                       "SELECT trace_id, span_id, parent_span_id, start_ns, end_ns, component,"
	                       " operation, kind, status, span_kind, queue_ns, flags, keep_reasons,"
	                       " reconstructed, attrs, hops, sender_id, batch_seq FROM spans WHERE batch_seq = 1",
	                       -1, &q, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(q, 0), 16);
	assert_memory_equal(sqlite3_column_blob(q, 0), b1.tid, 16);
	assert_true((uint64_t)sqlite3_column_int64(q, 1) == 0x8000000000000002ULL);
	assert_true((uint64_t)sqlite3_column_int64(q, 2) == 0x8000000000000001ULL);
	assert_true((uint64_t)sqlite3_column_int64(q, 3) == 0x9000000000000000ULL);
	assert_true((uint64_t)sqlite3_column_int64(q, 4) == 0xffffffffffffffffULL);
	assert_string_equal((const char *)sqlite3_column_text(q, 5), "queue-proxy");
	assert_string_equal((const char *)sqlite3_column_text(q, 6), "op \"x\"");
	assert_int_equal(sqlite3_column_int(q, 7), 1);
	assert_int_equal(sqlite3_column_int(q, 8), 2);
	assert_int_equal(sqlite3_column_int(q, 9), 3);
	assert_true((uint64_t)sqlite3_column_int64(q, 10) == 0x8000000000000000ULL);
	assert_int_equal(sqlite3_column_int64(q, 11), 0x1ff);
	assert_int_equal(sqlite3_column_int64(q, 12), 0x80000005LL);
	assert_int_equal(sqlite3_column_int(q, 13), 0);
	assert_string_equal((const char *)sqlite3_column_text(q, 14),
	                    "{\"app.attempt\":3,\"bytes\":-9223372036854775808}");
	/* the hop list as DFT_RB_HOP_BYTES records, which rebuilding decodes */
	{
		struct dft_rb_hop h[2];
		uint32_t nh = 0;

		assert_int_equal(sqlite3_column_type(q, 15), SQLITE_BLOB);
		assert_int_equal(dft_rb_hops_decode(sqlite3_column_blob(q, 15), (size_t)sqlite3_column_bytes(q, 15), h, 2,
		                                    &nh),
		                 0);
		assert_int_equal(nh, 1);
		assert_true(h[0].name_hash == 0x0badf00d);
		assert_true(h[0].span_id == 0xabcdef0123456789ULL);
		assert_true(h[0].parent_span_id == 0xfedcba9876543210ULL);
		assert_true(h[0].start_ns == 18446744073709551600ULL);
	}
	assert_true((uint64_t)sqlite3_column_int64(q, 16) == SENDER);
	assert_int_equal(sqlite3_column_int64(q, 17), 1);
	sqlite3_finalize(q);
	/* SQLite's json functions read what we wrote */
	assert_int_equal(scalar(db, "SELECT json_extract(attrs, '$.\"app.attempt\"') FROM spans WHERE batch_seq = 2"),
	                 3);
	assert_int_equal(scalar(db, "SELECT count(*) FROM spans WHERE trace_id = x'f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff'"),
	                 2);
	sqlite3_close(db);

	/* the senders row comes back through the store */
	{
		struct dft_dedup d;
		struct dft_sender *s;

		assert_int_equal(dft_store_open(db_path, &st), 0);
		assert_int_equal(dft_dedup_init(&d, 4), 0);
		assert_int_equal(dft_store_load_senders(st, &d), 0);
		s = dft_dedup_get(&d, SENDER, false);
		assert_non_null(s);
		assert_int_equal(s->durable_seq, 2);
		assert_int_equal(s->spans_stored, 2);
		assert_true(s->counters.produced == 0xffffffffffffffffULL);
		assert_int_equal(s->counters.batches, 2);
		dft_dedup_destroy(&d);
		dft_store_close(st);
	}
}

/* The error's status message is stored; a store made before the column existed gets it on open. */
static void test_status_message(void **state)
{
	static char msg[] = "upstream reset";
	struct one_span_batch b1, b2;
	struct dft_store *st;
	sqlite3_stmt *q;
	sqlite3 *db;

	(void)state;
	/* the spans table as it was: no status_message column */
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	                              "CREATE TABLE spans(trace_id BLOB NOT NULL, span_id INTEGER NOT NULL,"
	                              " parent_span_id INTEGER NOT NULL, start_ns INTEGER NOT NULL,"
	                              " end_ns INTEGER NOT NULL, component TEXT NOT NULL, operation TEXT NOT NULL,"
	                              " kind INTEGER NOT NULL, status INTEGER NOT NULL, span_kind INTEGER NOT NULL,"
	                              " queue_ns INTEGER NOT NULL, flags INTEGER NOT NULL,"
	                              " keep_reasons INTEGER NOT NULL, reconstructed INTEGER NOT NULL DEFAULT 0,"
	                              " attrs TEXT, hops TEXT, sender_id INTEGER NOT NULL, batch_seq INTEGER NOT NULL);"
	                              "INSERT INTO spans VALUES(x'01', 1, 0, 1, 2, 'a', 'b', 1, 2, 1, 0, 0, 0, 0,"
	                              " NULL, NULL, 1, 1);",
	                              NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(dft_store_open(db_path, &st), 0);
	make_batch(&b1, 1, 10);
	b1.s.status_message = msg;
	make_batch(&b2, 2, 11);
	assert_int_equal(dft_store_put_batch(st, &b1.b), 0);
	assert_int_equal(dft_store_put_batch(st, &b2.b), 0);
	assert_int_equal(dft_store_commit(st), 0);
	dft_store_close(st);

	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT span_id, status_message FROM spans ORDER BY span_id", -1, &q, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_type(q, 1), SQLITE_NULL); /* the old row */
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 1), msg);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_type(q, 1), SQLITE_NULL); /* none given: NULL, not "" */
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static void test_open_errors(void **state)
{
	struct dft_store *st = NULL;

	(void)state;
	assert_int_not_equal(dft_store_open("/nonexistent-dir/x.db", &st), 0);
	assert_null(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_group_commit_and_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_status_message, setup, teardown),
	    cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
