/* SPDX-License-Identifier: MIT */
/*
 * Profile entries: validation of their string indices, the bounded latest-per-operation table, rows
 * in the profiles table committed with the batch, and the latest per operation reloaded after a
 * restart (through the store and through a restarted collector).
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

#include "batch.h"
#include "collector.h"
#include "profiles.h"
#include "stats.h"
#include "store_sqlite.h"

#define SENDER 0xc000000000000007ULL

struct pbatch {
	Difftrace__SpanBatch b;
	Difftrace__BatchHeader h;
	Difftrace__Profile p[2], *pp[2];
	Difftrace__ProfileEntry e[4], *ep[2][2];
	char *strings[4];
};

/* Two profiles: an older one (created 100) and a newer one (created 200) with other figures. */
static void make(struct pbatch *f, uint64_t seq)
{
	static char c0[] = "gateway", c1[] = "route", c2[] = "activator", c3[] = "proxy";

	memset(f, 0, sizeof(*f));
	difftrace__span_batch__init(&f->b);
	difftrace__batch_header__init(&f->h);
	f->strings[0] = c0;
	f->strings[1] = c1;
	f->strings[2] = c2;
	f->strings[3] = c3;
	for (int i = 0; i < 4; i++) {
		difftrace__profile_entry__init(&f->e[i]);
		f->e[i].component = (i & 1) ? 2 : 0;
		f->e[i].operation = (i & 1) ? 3 : 1;
		f->e[i].count = 100u + (uint64_t)i;
		f->e[i].kept = 10u + (uint64_t)i;
		f->e[i].filtered = 90;
		f->e[i].duration_p50_ns = 1000u * (uint64_t)(i + 1);
		f->e[i].duration_p99_ns = 0xffffffffffffffffULL - (uint64_t)i; /* all 64 bits survive */
		f->e[i].queue_p99_ns = 7;
		f->e[i].self_time_ns = 5u + (uint64_t)i;
	}
	for (int j = 0; j < 2; j++) {
		difftrace__profile__init(&f->p[j]);
		f->p[j].created_ns = 100u * (uint64_t)(j + 1);
		f->p[j].n_entries = 2;
		f->p[j].entries = f->ep[j];
		f->ep[j][0] = &f->e[2 * j];
		f->ep[j][1] = &f->e[2 * j + 1];
		f->pp[j] = &f->p[j];
	}
	f->h.sender_id = SENDER;
	f->h.sequence = seq;
	f->b.header = &f->h;
	f->b.n_strings = 4;
	f->b.strings = f->strings;
	f->b.n_profiles = 2;
	f->b.profiles = f->pp;
}

static char db_path[64];

static int setup(void **state)
{
	int fd;

	(void)state;
	strcpy(db_path, "/tmp/dft-test-prof-XXXXXX");
	fd = mkstemp(db_path);
	assert_true(fd >= 0);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	char side[80];

	(void)state;
	snprintf(side, sizeof(side), "%s-wal", db_path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", db_path);
	unlink(side);
	unlink(db_path);
	return 0;
}

static void test_validate(void **state)
{
	struct pbatch f;
	const char *reason = NULL;

	(void)state;
	make(&f, 1);
	assert_int_equal(dft_batch_validate(&f.b, SENDER, &reason), 0);
	f.e[3].operation = 4;
	assert_int_equal(dft_batch_validate(&f.b, SENDER, &reason), -EBADMSG);
	assert_non_null(strstr(reason, "profile"));
	make(&f, 1);
	f.ep[1][1] = NULL;
	assert_int_equal(dft_batch_validate(&f.b, SENDER, &reason), -EBADMSG);
}

static void test_latest_and_bound(void **state)
{
	struct dft_profiles p;
	struct dft_profile v = {.component = "a", .operation = "b", .created_ns = 10, .duration_p50_ns = 1};
	const struct dft_profile *got;
	char comp[16];

	(void)state;
	assert_int_equal(dft_profiles_init(&p, 3), 0);
	assert_int_equal(dft_profiles_put(&p, &v), 0);
	v.created_ns = 5;
	v.duration_p50_ns = 2;
	assert_int_equal(dft_profiles_put(&p, &v), 0); /* older: ignored */
	got = dft_profiles_get(&p, "a", "b");
	assert_non_null(got);
	assert_int_equal(got->duration_p50_ns, 1);
	v.created_ns = 11;
	v.duration_p50_ns = 3;
	assert_int_equal(dft_profiles_put(&p, &v), 0);
	assert_int_equal(dft_profiles_get(&p, "a", "b")->duration_p50_ns, 3);
	/* the separator keeps ("ab", "") and ("a", "b") apart */
	assert_null(dft_profiles_get(&p, "ab", ""));
	assert_null(dft_profiles_get(&p, "a", "c"));
	for (int i = 0; i < 4; i++) {
		snprintf(comp, sizeof(comp), "c%d", i);
		v.component = comp;
		assert_int_equal(dft_profiles_put(&p, &v), i < 2 ? 0 : -ENOSPC);
	}
	assert_int_equal(p.count, 3);
	assert_int_equal(p.cut, 2);
	assert_null(dft_profiles_get(&p, "c2", "b"));
	assert_non_null(dft_profiles_get(&p, "c1", "b"));
	dft_profiles_destroy(&p);
}

static int64_t scalar(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	int64_t v;

	assert_int_equal(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return v;
}

static void test_store_and_reload(void **state)
{
	struct dft_store *st;
	struct dft_profiles p;
	struct pbatch f;
	const struct dft_profile *g;

	(void)state;
	assert_int_equal(dft_store_open(db_path, &st), 0);
	make(&f, 1);
	assert_int_equal(dft_store_put_batch(st, &f.b), 0);
	assert_int_equal(dft_store_commit(st), 0);
	/* a round that rolls back leaves no rows */
	make(&f, 2);
	f.p[1].created_ns = 900;
	assert_int_equal(dft_store_put_batch(st, &f.b), 0);
	dft_store_rollback(st);
	dft_store_close(st);

	assert_int_equal(scalar("SELECT count(*) FROM profiles"), 4);
	assert_int_equal(scalar("SELECT count(*) FROM profiles WHERE created_ns = 900"), 0);
	assert_true((uint64_t)scalar("SELECT sender_id FROM profiles LIMIT 1") == SENDER);
	assert_true((uint64_t)scalar("SELECT duration_p99_ns FROM profiles WHERE created_ns = 100 AND"
	                             " component = 'gateway'") == 0xffffffffffffffffULL);
	assert_int_equal(scalar("SELECT sum(count + kept + filtered + queue_p99_ns + self_time_ns) FROM profiles"),
	                 (100 + 101 + 102 + 103) + (10 + 11 + 12 + 13) + 4 * 90 + 4 * 7 + (5 + 6 + 7 + 8));

	/* reload: the newest row of each operation */
	assert_int_equal(dft_store_open(db_path, &st), 0);
	assert_int_equal(dft_profiles_init(&p, 16), 0);
	assert_int_equal(dft_store_load_profiles(st, &p), 0);
	assert_int_equal(p.count, 2);
	g = dft_profiles_get(&p, "gateway", "route");
	assert_non_null(g);
	assert_int_equal(g->created_ns, 200);
	assert_int_equal(g->duration_p50_ns, 3000);
	assert_int_equal(g->count, 102);
	assert_int_equal(g->kept, 12);
	assert_int_equal(g->self_time_ns, 7);
	assert_true(g->duration_p99_ns == 0xffffffffffffffffULL - 2);
	g = dft_profiles_get(&p, "activator", "proxy");
	assert_non_null(g);
	assert_int_equal(g->duration_p50_ns, 4000);
	dft_profiles_destroy(&p);
	dft_store_close(st);
}

/* Through the collector: profiles stored with the batch once, duplicates not again, counted. */
static void test_collector_profiles(void **state)
{
	struct dft_collector_cfg cfg = {.listen_host = "127.0.0.1", .db_path = db_path, .insecure = true};
	struct dft_collector_stats cs;
	struct dft_collector *c;
	struct pbatch f;
	uint8_t buf[4096];
	uint64_t seq;
	bool dup;
	size_t len;

	(void)state;
	assert_int_equal(dft_collector_create(&cfg, &c), 0);
	make(&f, 1);
	len = difftrace__span_batch__get_packed_size(&f.b);
	assert_true(len <= sizeof(buf));
	difftrace__span_batch__pack(&f.b, buf);
	assert_int_equal(dft_collector_ingest(c, SENDER, 0, buf, len, &seq, &dup), 0);
	/* the resent batch is a duplicate: its profiles are not stored twice */
	assert_int_equal(dft_collector_ingest(c, SENDER, 0, buf, len, &seq, &dup), 0);
	assert_true(dup);
	assert_int_equal(dft_collector_end_round(c), 0);
	dft_collector_get_stats(c, &cs);
	assert_int_equal(cs.profiles_stored, 4);
	assert_int_equal(cs.profiles_cut, 0);
	dft_collector_destroy(c);
	assert_int_equal(scalar("SELECT count(*) FROM profiles"), 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_validate),
	    cmocka_unit_test(test_latest_and_bound),
	    cmocka_unit_test_setup_teardown(test_store_and_reload, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_collector_profiles, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
