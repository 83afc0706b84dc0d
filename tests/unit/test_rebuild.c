/* SPDX-License-Identifier: MIT */
/*
 * The pure rebuild function (backend/src/rebuild.c): the same stored rows and profiles give the
 * same spans on every call, whatever order the rows come in; profiles are chosen by time, so a
 * profile created later does not change a trace already readable; a hop rebuilt from one function
 * span's list is not rebuilt again from another's; the hop record codec round-trips; and a trace
 * read twice from a real SQLite store (trace_read.c) is identical.
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

#include "dft/hops.h"
#include "rebuild.h"
#include "trace_read.h"

struct fprof {
	const char *component, *operation;
	uint64_t created_ns, p50_ns;
};

struct fake {
	const struct fprof *p;
	size_t n;
	unsigned calls;
};

/* the newest profile at or before at_ns, else the oldest after: what the SQLite source does */
static int fake_profile(void *arg, uint32_t hash, uint64_t at_ns, struct dft_rb_prof *out)
{
	struct fake *f = arg;
	const struct fprof *best = NULL;

	f->calls++;
	for (size_t i = 0; i < f->n; i++) {
		const struct fprof *p = &f->p[i];

		if (dft_hops_name_hash(p->component, strlen(p->component), p->operation, strlen(p->operation)) != hash)
			continue;
		if (!best ||
		    (p->created_ns <= at_ns && (best->created_ns > at_ns || p->created_ns > best->created_ns)) ||
		    (p->created_ns > at_ns && best->created_ns > at_ns && p->created_ns < best->created_ns))
			best = p;
	}
	if (!best)
		return 0;
	snprintf(out->component, sizeof(out->component), "%s", best->component);
	snprintf(out->operation, sizeof(out->operation), "%s", best->operation);
	out->p50_ns = best->p50_ns;
	return 1;
}

static int fake_kind(void *arg, uint32_t hash)
{
	(void)arg;
	(void)hash;
	return 0;
}

static uint32_t h(const char *c, const char *o)
{
	return dft_hops_name_hash(c, strlen(c), o, strlen(o));
}

/* gateway (0xA1) -> activator (0xA2) -> fn (0xF0); a second function 0xF1 through the same gateway */
static struct dft_rb_hop hops0[2], hops1[2];
static struct dft_rb_span spans[3];

static void fixture(void)
{
	hops0[0] = (struct dft_rb_hop){
	    .span_id = 0xA1, .parent_span_id = 0x99, .start_ns = 100, .name_hash = h("gateway", "route")};
	hops0[1] = (struct dft_rb_hop){
	    .span_id = 0xA2, .parent_span_id = 0xA1, .start_ns = 500, .name_hash = h("activator", "proxy")};
	hops1[0] = hops0[0];
	hops1[1] = (struct dft_rb_hop){
	    .span_id = 0xA3, .parent_span_id = 0xA1, .start_ns = 600, .name_hash = h("activator", "proxy")};
	spans[0] = (struct dft_rb_span){.span_id = 0xF0,
	                                .parent_span_id = 0xA2,
	                                .start_ns = 1000,
	                                .end_ns = 5000,
	                                .component = "fn",
	                                .operation = "handle",
	                                .function = true,
	                                .hops = hops0,
	                                .n_hops = 2};
	spans[1] = (struct dft_rb_span){.span_id = 0xF1,
	                                .parent_span_id = 0xA3,
	                                .start_ns = 1100,
	                                .end_ns = 4000,
	                                .component = "fn",
	                                .operation = "handle",
	                                .function = true,
	                                .hops = hops1,
	                                .n_hops = 2};
	spans[2] = (struct dft_rb_span){.span_id = 0x99,
	                                .parent_span_id = 0,
	                                .start_ns = 0,
	                                .end_ns = 20000,
	                                .component = "client",
	                                .operation = "call"};
}

static const struct fprof profs[] = {
    {"gateway", "route", 10, 10000},
    {"activator", "proxy", 10, 7000},
    {"fn", "handle", 10, 3000},
    /* created long after the function spans ended: must not change them */
    {"gateway", "route", 9000000000ull, 1},
    {"activator", "proxy", 9000000000ull, 1},
};

static void rebuild(const struct dft_rb_span *sp, uint32_t n, const struct fprof *p, size_t np, struct dft_rb_out *o)
{
	struct fake f = {.p = p, .n = np};
	struct dft_rb_src src = {.profile = fake_profile, .kind = fake_kind, .arg = &f};

	assert_int_equal(dft_rebuild_trace(&src, sp, n, o), 0);
}

static void test_chain_values(void **state)
{
	struct dft_rb_out o = {0};

	(void)state;
	fixture();
	rebuild(spans, 3, profs, 3, &o);
	/* A1 once (owned by the earlier function span), A2, A3 */
	assert_int_equal(o.n, 3);
	assert_true(o.sp[0].span_id == 0xA1 && o.sp[0].owner_span_id == 0xF0);
	assert_true(o.sp[1].span_id == 0xA2 && o.sp[1].owner_span_id == 0xF0);
	assert_true(o.sp[2].span_id == 0xA3 && o.sp[2].owner_span_id == 0xF1);
	/* 5000 + (7000 - 3000) - (1000 - 500) = 8500; 8500 + (10000 - 7000) - (500 - 100) = 11100 */
	assert_int_equal(o.sp[1].end_ns, 8500);
	assert_int_equal(o.sp[0].end_ns, 11100);
	assert_string_equal(o.sp[0].component, "gateway");
	assert_string_equal(o.sp[1].operation, "proxy");
	/* never outside the stored parent: A3 fits into A1 rebuilt from the first list */
	assert_true(o.sp[2].start_ns >= o.sp[0].start_ns && o.sp[2].end_ns <= o.sp[0].end_ns);
	/* kinds from the role when none was learned: forwarders are SERVER */
	assert_int_equal(o.sp[0].span_kind, 2);
	dft_rb_out_free(&o);
}

static void test_deterministic(void **state)
{
	struct dft_rb_out a = {0}, b = {0}, c = {0};
	struct dft_rb_span rev[3];

	(void)state;
	fixture();
	rebuild(spans, 3, profs, 3, &a);
	rebuild(spans, 3, profs, 3, &b);
	assert_int_equal(a.n, b.n);
	assert_memory_equal(a.sp, b.sp, a.n * sizeof(*a.sp));
	/* rows in another order (another store, another index): the same spans */
	rev[0] = spans[2];
	rev[1] = spans[1];
	rev[2] = spans[0];
	rebuild(rev, 3, profs, 3, &c);
	assert_int_equal(a.n, c.n);
	assert_memory_equal(a.sp, c.sp, a.n * sizeof(*a.sp));
	/* profiles stored later (created after the trace) change nothing */
	rebuild(spans, 3, profs, 5, &c);
	assert_int_equal(a.n, c.n);
	assert_memory_equal(a.sp, c.sp, a.n * sizeof(*a.sp));
	dft_rb_out_free(&a);
	dft_rb_out_free(&b);
	dft_rb_out_free(&c);
}

static void test_stored_not_rebuilt(void **state)
{
	struct dft_rb_span with_real[4];
	struct dft_rb_out o = {0};

	(void)state;
	fixture();
	memcpy(with_real, spans, sizeof(spans));
	/* the real gateway span was reported: only the activator hops are rebuilt, inside it */
	with_real[3] = (struct dft_rb_span){.span_id = 0xA1,
	                                    .parent_span_id = 0x99,
	                                    .start_ns = 100,
	                                    .end_ns = 6000,
	                                    .component = "gateway",
	                                    .operation = "route"};
	rebuild(with_real, 4, profs, 3, &o);
	assert_int_equal(o.n, 2);
	assert_true(o.sp[0].span_id == 0xA2 && o.sp[1].span_id == 0xA3);
	assert_true(o.sp[0].end_ns <= 6000);
	dft_rb_out_free(&o);
	/* no profile names a hop: unresolved, the hash as operation */
	rebuild(spans, 3, NULL, 0, &o);
	assert_int_equal(o.n, 3);
	assert_false(o.sp[0].resolved);
	assert_string_equal(o.sp[0].component, "unresolved");
	dft_rb_out_free(&o);
}

static void test_hops_codec(void **state)
{
	uint8_t blob[2 * DFT_RB_HOP_BYTES];
	struct dft_rb_hop back[2];
	uint32_t n;

	(void)state;
	fixture();
	hops0[1].start_ns = UINT64_MAX - 5;
	dft_rb_hops_encode(hops0, 2, blob);
	assert_int_equal(dft_rb_hops_decode(blob, sizeof(blob), back, 2, &n), 0);
	assert_int_equal(n, 2);
	for (int i = 0; i < 2; i++)
		assert_true(back[i].span_id == hops0[i].span_id && back[i].parent_span_id == hops0[i].parent_span_id &&
		            back[i].start_ns == hops0[i].start_ns && back[i].name_hash == hops0[i].name_hash);
	assert_int_equal(dft_rb_hops_decode(blob, sizeof(blob) - 1, back, 2, &n), -EINVAL);
	assert_int_equal(dft_rb_hops_decode(blob, sizeof(blob), back, 1, &n), -EINVAL);
}

/* A real SQLite store: rows in, the same trace out on every read, byte for byte. */
static void test_sqlite_repeated_reads(void **state)
{
	char path[] = "/tmp/dft-test-rebuild-XXXXXX";
	uint8_t tid[16] = {1, 2, 3}, blob[2 * DFT_RB_HOP_BYTES];
	struct dft_ttrace t1, t2;
	struct dft_treader *r;
	sqlite3_stmt *q;
	sqlite3 *db;
	int fd;

	(void)state;
	fixture();
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db,
	                 "CREATE TABLE spans(trace_id BLOB, span_id INTEGER, parent_span_id INTEGER, start_ns INTEGER,"
	                 " end_ns INTEGER, queue_ns INTEGER, component TEXT, operation TEXT, kind INTEGER,"
	                 " status INTEGER, span_kind INTEGER, flags INTEGER, keep_reasons INTEGER,"
	                 " reconstructed INTEGER, status_message TEXT, hops BLOB);"
	                 "CREATE TABLE profiles(sender_id INTEGER, created_ns INTEGER, component TEXT, operation TEXT,"
	                 " duration_p50_ns INTEGER, name_hash INTEGER);"
	                 "CREATE TABLE span_kinds(name_hash INTEGER, span_kind INTEGER, votes INTEGER);",
	                 NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(
	    sqlite3_prepare_v2(db,
	                       "INSERT INTO spans VALUES(?1, ?2, ?3, ?4, ?5, 0, 'fn', 'handle', 2, 0, 2, 0,"
	                       " 1, 0, NULL, ?6)",
	                       -1, &q, NULL),
	    SQLITE_OK);
	for (int i = 0; i < 2; i++) {
		dft_rb_hops_encode(spans[i].hops, 2, blob);
		sqlite3_bind_blob(q, 1, tid, 16, SQLITE_STATIC);
		sqlite3_bind_int64(q, 2, (sqlite3_int64)spans[i].span_id);
		sqlite3_bind_int64(q, 3, (sqlite3_int64)spans[i].parent_span_id);
		sqlite3_bind_int64(q, 4, (sqlite3_int64)spans[i].start_ns);
		sqlite3_bind_int64(q, 5, (sqlite3_int64)spans[i].end_ns);
		sqlite3_bind_blob(q, 6, blob, sizeof(blob), SQLITE_STATIC);
		assert_int_equal(sqlite3_step(q), SQLITE_DONE);
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO profiles VALUES(1, ?1, ?2, ?3, ?4, ?5)", -1, &q, NULL),
	                 SQLITE_OK);
	for (size_t i = 0; i < sizeof(profs) / sizeof(profs[0]); i++) {
		sqlite3_bind_int64(q, 1, (sqlite3_int64)profs[i].created_ns);
		sqlite3_bind_text(q, 2, profs[i].component, -1, SQLITE_STATIC);
		sqlite3_bind_text(q, 3, profs[i].operation, -1, SQLITE_STATIC);
		sqlite3_bind_int64(q, 4, (sqlite3_int64)profs[i].p50_ns);
		sqlite3_bind_int64(q, 5, h(profs[i].component, profs[i].operation));
		assert_int_equal(sqlite3_step(q), SQLITE_DONE);
		sqlite3_reset(q);
	}
	sqlite3_finalize(q);
	assert_int_equal(sqlite3_exec(db, "INSERT INTO span_kinds VALUES(0, 3, 5)", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(dft_treader_create(db, &r), 0);
	assert_int_equal(dft_treader_trace(r, tid, &t1), 0);
	assert_int_equal(dft_treader_trace(r, tid, &t2), 0);
	assert_int_equal(t1.n, 5);
	assert_int_equal(t1.n_rebuilt, 3);
	assert_int_equal(t1.n, t2.n);
	for (uint32_t i = 0; i < t1.n; i++) {
		assert_true(t1.sp[i].span_id == t2.sp[i].span_id && t1.sp[i].start_ns == t2.sp[i].start_ns &&
		            t1.sp[i].end_ns == t2.sp[i].end_ns && t1.sp[i].span_kind == t2.sp[i].span_kind);
		assert_string_equal(t1.sp[i].component, t2.sp[i].component);
		assert_string_equal(t1.sp[i].operation, t2.sp[i].operation);
	}
	/* the store's profile choice by time: the 9 s profiles (p50 1 ns) are not used */
	for (uint32_t i = 0; i < t1.n; i++)
		if (t1.sp[i].span_id == 0xA1)
			assert_int_equal(t1.sp[i].end_ns, 11100);
	dft_ttrace_clear(&t1);
	dft_ttrace_clear(&t2);
	assert_int_equal(dft_treader_trace(r, (uint8_t[16]){9}, &t1), -ENOENT);
	dft_treader_destroy(r);
	sqlite3_close(db);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain_values),          cmocka_unit_test(test_deterministic),
	    cmocka_unit_test(test_stored_not_rebuilt),    cmocka_unit_test(test_hops_codec),
	    cmocka_unit_test(test_sqlite_repeated_reads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
