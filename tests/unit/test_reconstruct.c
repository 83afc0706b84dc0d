/* SPDX-License-Identifier: MIT */
/*
 * Reconstruction of filtered platform spans, driven through the collector's shared ingest path with
 * a controlled clock: parents and names from the hop list (names resolved from profiles, a wait
 * for a name not known yet), end estimation on and off the function's path and without profiles,
 * the real span arriving in time, one hop named by two function spans, the bounded pending table,
 * and the flush at shutdown. Results are read back from the SQLite file and the OTLP JSON file.
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
#include "profiles.h"
#include "stats.h"
#include "trace_read.h"
#include "dft/hops.h"

#define SENDER 0x8000000000000042ULL
#define DELAY  100u
#define T0     5000u

/* ---- batch builder */

#define MAXS 32

struct tb {
	Difftrace__SpanBatch b;
	Difftrace__BatchHeader h;
	Difftrace__Counters c;
	char *strings[4 * MAXS];
	Difftrace__Span spans[MAXS], *sp[MAXS];
	Difftrace__Hop hops[MAXS][8], *hp[MAXS][8];
	Difftrace__ProfileEntry pe[MAXS], *pep[MAXS];
	Difftrace__Profile prof, *profp;
	uint8_t tid[16];
};

static void tb_init(struct tb *t, uint8_t trace)
{
	memset(t, 0, sizeof(*t));
	difftrace__span_batch__init(&t->b);
	difftrace__batch_header__init(&t->h);
	difftrace__counters__init(&t->c);
	difftrace__profile__init(&t->prof);
	t->h.counters = &t->c;
	t->b.header = &t->h;
	t->b.strings = t->strings;
	t->b.spans = t->sp;
	t->prof.entries = t->pep;
	t->profp = &t->prof;
	for (int i = 0; i < 16; i++)
		t->tid[i] = (uint8_t)(trace + i);
}

static uint32_t str_idx(struct tb *t, const char *s)
{
	for (size_t i = 0; i < t->b.n_strings; i++)
		if (!strcmp(t->strings[i], s))
			return (uint32_t)i;
	assert_true(t->b.n_strings < 4 * MAXS);
	t->strings[t->b.n_strings] = (char *)s;
	return (uint32_t)t->b.n_strings++;
}

static Difftrace__Span *add_span(struct tb *t, uint64_t id, uint64_t parent, uint64_t start, uint64_t end,
                                 const char *comp, const char *op, bool function)
{
	Difftrace__Span *s = &t->spans[t->b.n_spans];

	assert_true(t->b.n_spans < MAXS);
	difftrace__span__init(s);
	s->trace_id.data = t->tid;
	s->trace_id.len = 16;
	s->span_id = id;
	s->parent_span_id = parent;
	s->start_ns = start;
	s->end_ns = end;
	s->component = str_idx(t, comp);
	s->operation = str_idx(t, op);
	s->kind = function ? DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_FUNCTION
	                   : DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_PLATFORM;
	s->hops = t->hp[t->b.n_spans];
	t->sp[t->b.n_spans++] = s;
	return s;
}

static void add_hop(struct tb *t, Difftrace__Span *s, uint64_t id, uint64_t parent, uint64_t start, const char *comp,
                    const char *op)
{
	size_t si = (size_t)(s - t->spans);
	Difftrace__Hop *h = &t->hops[si][s->n_hops];

	difftrace__hop__init(h);
	h->span_id = id;
	h->parent_span_id = parent;
	h->start_ns = start;
	h->name_hash = dft_hops_name_hash(comp, strlen(comp), op, strlen(op));
	t->hp[si][s->n_hops++] = h;
}

static void add_profile(struct tb *t, uint64_t created, const char *comp, const char *op, uint64_t p50)
{
	Difftrace__ProfileEntry *e = &t->pe[t->prof.n_entries];

	difftrace__profile_entry__init(e);
	e->component = str_idx(t, comp);
	e->operation = str_idx(t, op);
	e->count = 10;
	e->duration_p50_ns = p50;
	e->duration_p99_ns = 2 * p50;
	t->prof.created_ns = created;
	t->pep[t->prof.n_entries++] = e;
	t->b.n_profiles = 1;
	t->b.profiles = &t->profp;
}

/* ---- a collector on temp files, driven round by round */

struct env {
	char db[64], otlp[64], stats[64];
	uint32_t profile_wait_ms; /* most tests: 0, export at the delay */
	struct dft_collector *c;
};

static void env_start(struct env *e, uint32_t max_pending)
{
	struct dft_collector_cfg cfg = {
	    .listen_host = "127.0.0.1",
	    .db_path = e->db,
	    .otlp_json_path = e->otlp,
	    .stats_path = e->stats,
	    .recon_delay_ms = DELAY,
	    .recon_delay_set = true,
	    .recon_profile_wait_ms = e->profile_wait_ms,
	    .recon_profile_wait_set = true,
	    .recon_max_pending = max_pending,
	    .insecure = true, /* no network: the ingest path alone */
	};

	assert_int_equal(dft_collector_create(&cfg, &e->c), 0);
	dft_collector_set_clock(e->c, T0);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	int fd;

	assert_non_null(e);
	strcpy(e->db, "/tmp/dft-test-recon-XXXXXX");
	fd = mkstemp(e->db);
	assert_true(fd >= 0);
	close(fd);
	snprintf(e->otlp, sizeof(e->otlp), "%s.otlp", e->db);
	snprintf(e->stats, sizeof(e->stats), "%s.stats", e->db);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char side[80];

	dft_collector_destroy(e->c);
	snprintf(side, sizeof(side), "%s-wal", e->db);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", e->db);
	unlink(side);
	unlink(e->db);
	unlink(e->otlp);
	unlink(e->stats);
	free(e);
	return 0;
}

static void ingest(struct env *e, struct tb *t, uint64_t seq)
{
	uint8_t buf[16384];
	size_t len;
	uint64_t got = 0;
	bool dup = true;

	t->h.sender_id = SENDER;
	t->h.sequence = seq;
	len = difftrace__span_batch__get_packed_size(&t->b);
	assert_true(len <= sizeof(buf));
	difftrace__span_batch__pack(&t->b, buf);
	assert_int_equal(dft_collector_ingest(e->c, SENDER, 0, buf, len, &got, &dup), 0);
	assert_int_equal(got, seq);
	assert_false(dup);
}

static void round_at(struct env *e, uint64_t t)
{
	dft_collector_set_clock(e->c, t);
	assert_int_equal(dft_collector_end_round(e->c), 0);
}

static struct dft_collector_stats stats(struct env *e)
{
	struct dft_collector_stats st;

	dft_collector_get_stats(e->c, &st);
	return st;
}

struct row {
	bool found;
	int n; /* rows with that span id */
	uint64_t parent, start, end;
	int kind, status, reconstructed, span_kind;
	char component[64], operation[64];
};

struct find {
	uint64_t span_id;
	struct row r;
};

static int find_span(void *arg, const struct dft_ttrace *t)
{
	struct find *f = arg;

	for (uint32_t i = 0; i < t->n; i++) {
		const struct dft_tspan *s = &t->sp[i];

		if (s->span_id != f->span_id)
			continue;
		f->r.found = true;
		f->r.n++;
		f->r.parent = s->parent_span_id;
		f->r.start = s->start_ns;
		f->r.end = s->end_ns;
		f->r.kind = s->kind;
		f->r.status = s->status;
		f->r.reconstructed = s->reconstructed;
		snprintf(f->r.component, sizeof(f->r.component), "%s", s->component);
		snprintf(f->r.operation, sizeof(f->r.operation), "%s", s->operation);
		f->r.span_kind = s->span_kind;
	}
	return 0;
}

/* A span as every reader of the store sees it: stored, or rebuilt from the stored hops. */
static struct row get_row(struct env *e, uint64_t span_id)
{
	struct find f = {.span_id = span_id};
	struct dft_treader *r;
	sqlite3 *db;

	assert_int_equal(sqlite3_open_v2(e->db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(dft_treader_create(db, &r), 0);
	assert_int_equal(dft_treader_foreach(r, find_span, &f), 0);
	dft_treader_destroy(r);
	sqlite3_close(db);
	return f.r;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	static char buf[1 << 16];
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Finds the OTLP span object with this id and tells whether it carries difftrace.reconstructed. */
static int otlp_reconstructed(const char *text, uint64_t span_id)
{
	char needle[64];
	const char *p, *end;

	snprintf(needle, sizeof(needle), "\"spanId\":\"%016llx\"", (unsigned long long)span_id);
	p = strstr(text, needle);
	if (!p)
		return -1;
	end = strstr(p, "\"status\"");
	assert_non_null(end);
	p = strstr(p, "{\"key\":\"difftrace.reconstructed\",\"value\":{\"boolValue\":true}}");
	return p && p < end;
}

/* The endTimeUnixNano of the OTLP span object with this id (0: not exported). */
static uint64_t otlp_end(const char *text, uint64_t span_id)
{
	char needle[64];
	const char *p;

	snprintf(needle, sizeof(needle), "\"spanId\":\"%016llx\"", (unsigned long long)span_id);
	p = strstr(text, needle);
	if (!p)
		return 0;
	p = strstr(p, "\"endTimeUnixNano\":\"");
	assert_non_null(p);
	return strtoull(p + strlen("\"endTimeUnixNano\":\""), NULL, 10);
}

/* gateway -> activator -> function, both hops filtered */
static Difftrace__Span *function_with_hops(struct tb *t, uint64_t fn_id, uint64_t h1, uint64_t h2)
{
	Difftrace__Span *f = add_span(t, fn_id, h2, 1000, 5000, "fn", "handle", true);

	add_hop(t, f, h1, 0x99, 100, "gateway", "route");
	add_hop(t, f, h2, h1, 500, "activator", "proxy");
	return f;
}

/* the profiles that name both hops (and give the ends something to go by) */
static void add_names(struct tb *t, uint64_t created)
{
	add_profile(t, created, "gateway", "route", 10000);
	add_profile(t, created, "activator", "proxy", 7000);
	add_profile(t, created, "fn", "handle", 3000);
}

static void test_chain_and_profile_ends(void **state)
{
	struct env *e = *state;
	struct tb t;
	struct row r1, r2, rf;
	const char *otlp;

	env_start(e, 0);
	tb_init(&t, 0x10);
	function_with_hops(&t, 0xF0, 0xA1, 0xA2);
	add_names(&t, 1);
	ingest(e, &t, 1);
	round_at(e, T0);
	assert_int_equal(stats(e).recon.pending, 2);
	/* not due yet: the NIC may still release the real spans */
	round_at(e, T0 + DELAY - 1);
	assert_int_equal(stats(e).recon.reconstructed, 0);
	assert_int_equal(otlp_reconstructed(slurp(e->otlp), 0xA1), -1);
	/* a reader rebuilds at once: the store holds the hops, not the rebuilt spans */
	assert_int_equal(get_row(e, 0xA1).reconstructed, 1);
	round_at(e, T0 + DELAY);
	assert_int_equal(stats(e).recon.reconstructed, 2);
	assert_int_equal(stats(e).recon.pending, 0);

	r1 = get_row(e, 0xA1);
	r2 = get_row(e, 0xA2);
	rf = get_row(e, 0xF0);
	assert_int_equal(r1.n, 1);
	assert_int_equal(r2.n, 1);
	assert_int_equal(rf.reconstructed, 0);
	/* parents as the hop list carried them */
	assert_true(r1.parent == 0x99);
	assert_true(r2.parent == 0xA1);
	assert_int_equal(r1.start, 100);
	assert_int_equal(r2.start, 500);
	/* innermost first, each hop's median less its child's, less what it spent before the child
	 * started: 5000 + (7000 - 3000) - (1000 - 500), then 8500 + (10000 - 7000) - (500 - 100) */
	assert_int_equal(r2.end, 8500);
	assert_int_equal(r1.end, 11100);
	assert_int_equal(r1.kind, DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_PLATFORM);
	assert_int_equal(r1.status, DIFFTRACE__STATUS__STATUS_UNSET);
	assert_int_equal(r1.reconstructed, 1);
	assert_string_equal(r1.component, "gateway");
	assert_string_equal(r2.operation, "proxy");

	otlp = slurp(e->otlp);
	assert_int_equal(otlp_reconstructed(otlp, 0xA1), 1);
	assert_int_equal(otlp_reconstructed(otlp, 0xA2), 1);
	assert_int_equal(otlp_reconstructed(otlp, 0xF0), 0);
	/* reconstructed spans are exported, not counted as stored by a sender */
	assert_int_equal(stats(e).spans_exported, 3);
}

/*
 * A reader takes the profile of the function span's end plus DFT_RB_LAG_NS. The export waits until
 * its sender has shipped a snapshot newer than that, so a snapshot still on its way (here: one
 * created just before that time, arriving after the delay) cannot make the export differ from
 * what every reader rebuilds; without any newer snapshot it goes at the delay plus the wait.
 */
static void test_export_waits_for_snapshot(void **state)
{
	struct env *e = *state;
	struct tb t;
	uint64_t at = 5000 + 2000000000ull, end1 = 3000000000ull, t1;
	Difftrace__Span *f;

	e->profile_wait_ms = 5000;
	env_start(e, 0);
	tb_init(&t, 0x10);
	function_with_hops(&t, 0xF0, 0xA1, 0xA2);
	add_names(&t, 1);
	ingest(e, &t, 1);
	round_at(e, T0);
	round_at(e, T0 + DELAY);
	assert_int_equal(stats(e).recon.reconstructed, 0); /* the sender's snapshots end at 1 ns */
	/* the snapshot a reader will take: created before the function's end plus the lag */
	tb_init(&t, 0x10);
	add_profile(&t, at - 1, "activator", "proxy", 20000);
	ingest(e, &t, 2);
	round_at(e, T0 + DELAY + 1);
	assert_int_equal(stats(e).recon.reconstructed, 0);
	/* one after it: nothing older can still come from this sender */
	tb_init(&t, 0x10);
	add_profile(&t, at + 1, "activator", "proxy", 99999);
	ingest(e, &t, 3);
	round_at(e, T0 + 3 * DELAY);
	assert_int_equal(stats(e).recon.reconstructed, 2);
	/* 5000 + (20000 - 3000) - (1000 - 500): the at - 1 snapshot, in the export and in a read */
	assert_int_equal(otlp_end(slurp(e->otlp), 0xA2), 21500);
	assert_int_equal(get_row(e, 0xA2).end, 21500);
	assert_int_equal(otlp_end(slurp(e->otlp), 0xA1), get_row(e, 0xA1).end);

	/* a function span whose profile time no snapshot has reached: exported when the wait is over */
	t1 = T0 + 10 * DELAY;
	tb_init(&t, 0x20);
	f = add_span(&t, 0xF1, 0xB2, 1000, end1, "fn", "handle", true);
	add_hop(&t, f, 0xB1, 0x99, 100, "gateway", "route");
	add_hop(&t, f, 0xB2, 0xB1, 500, "activator", "proxy");
	dft_collector_set_clock(e->c, t1); /* chains are due from the collector's clock at ingest */
	ingest(e, &t, 4);
	round_at(e, t1);
	round_at(e, t1 + DELAY);
	round_at(e, t1 + DELAY + 4999);
	assert_int_equal(stats(e).recon.reconstructed, 2);
	round_at(e, t1 + DELAY + 5000);
	assert_int_equal(stats(e).recon.reconstructed, 4);
	assert_int_equal(otlp_end(slurp(e->otlp), 0xB2), get_row(e, 0xB2).end);
}

/* A hop whose name no profile knows waits for one a few delays, then is rebuilt as unresolved. */
static void test_unresolved_names(void **state)
{
	struct env *e = *state;
	struct row r;
	struct tb t;
	char hex[16];

	env_start(e, 0);
	tb_init(&t, 0x20);
	function_with_hops(&t, 0xF0, 0xA1, 0xA2);
	/* a profile for the outer hop only: the inner hop has no name and no median */
	add_profile(&t, 1, "gateway", "route", 10000);
	ingest(e, &t, 1);
	for (unsigned k = 1; k <= 3; k++) {
		round_at(e, T0 + k * DELAY);
		assert_int_equal(stats(e).recon.reconstructed, 0);
		assert_int_equal(stats(e).recon.pending, 2);
	}
	round_at(e, T0 + 4 * DELAY);
	assert_int_equal(stats(e).recon.reconstructed, 2);
	assert_int_equal(stats(e).recon.unresolved, 1);
	r = get_row(e, 0xA2);
	snprintf(hex, sizeof(hex), "%08x", (unsigned)dft_hops_name_hash("activator", 9, "proxy", 5));
	assert_string_equal(r.component, "unresolved");
	assert_string_equal(r.operation, hex);
	/* without the child's median the hops end with their child */
	assert_int_equal(r.end, 5000);
	r = get_row(e, 0xA1);
	assert_string_equal(r.component, "gateway");
	assert_int_equal(r.end, 5000);

	/* the profile naming the hop arrives while the chain waits: rebuilt under its real name */
	tb_init(&t, 0x21);
	function_with_hops(&t, 0xF1, 0xB1, 0xB2);
	ingest(e, &t, 2);
	round_at(e, T0 + 5 * DELAY);
	/* read before any profile names it: unresolved; the same read after the profile is stored
	 * resolves it (a pure function of what is stored) */
	assert_string_equal(get_row(e, 0xB2).component, "unresolved");
	tb_init(&t, 0x22);
	add_profile(&t, 2, "activator", "proxy", 1000);
	add_profile(&t, 2, "fn", "handle", 3000);
	add_profile(&t, 2, "gateway", "route", 1500);
	ingest(e, &t, 3);
	round_at(e, T0 + 6 * DELAY);
	r = get_row(e, 0xB2);
	assert_string_equal(r.component, "activator");
	assert_string_equal(r.operation, "proxy");
	/* a hop shorter than its child ends with the child */
	assert_int_equal(r.end, 5000);
	/* 1500 - 1000 = 500 of its own, 400 of them before the child started */
	assert_int_equal(get_row(e, 0xB1).end, 5100);
	assert_int_equal(stats(e).recon.unresolved, 1);
}

/* A component's step spans are hops off the function's path: children of its span, start + median. */
static void test_step_hops(void **state)
{
	struct env *e = *state;
	Difftrace__Span *f;
	struct row r;
	struct tb t;

	env_start(e, 0);
	tb_init(&t, 0x70);
	f = add_span(&t, 0xF0, 0xA2, 1000, 5000, "fn", "handle", true);
	add_hop(&t, f, 0xA1, 0, 100, "gateway", "route");
	add_hop(&t, f, 0x51, 0xA1, 150, "gateway", "route_match");
	add_hop(&t, f, 0x52, 0xA1, 300, "gateway", "ext_authz");
	add_hop(&t, f, 0xA2, 0xA1, 500, "activator", "proxy");
	add_names(&t, 1);
	add_profile(&t, 1, "gateway", "route_match", 40);
	add_profile(&t, 1, "gateway", "ext_authz", 150);
	ingest(e, &t, 1);
	round_at(e, T0 + DELAY);
	assert_int_equal(stats(e).recon.reconstructed, 4);
	r = get_row(e, 0x51);
	assert_true(r.parent == 0xA1);
	assert_int_equal(r.start, 150);
	assert_int_equal(r.end, 190);
	assert_string_equal(r.operation, "route_match");
	r = get_row(e, 0x52);
	assert_true(r.parent == 0xA1);
	/* its next sibling (the activator hop, 500) started 200 after it, within [75, 300] of its
	 * 150 median: the step ran until then */
	assert_int_equal(r.end, 500);
	/* the path is unchanged by the steps: as in test_chain_and_profile_ends */
	assert_int_equal(get_row(e, 0xA2).end, 8500);
	assert_int_equal(get_row(e, 0xA1).end, 11100);
	assert_int_equal(get_row(e, 0xA1).parent, 0);
}

/*
 * A rebuilt span lies inside its parent: a real caller that ended before the estimate clamps the
 * outer hop, and its rebuilt child is clamped with it. Kinds: learned from a real span of the
 * name, else the hop's role. Sequential steps end where the next one starts.
 */
static void test_fit_into_parent_and_kind(void **state)
{
	struct env *e = *state;
	Difftrace__Span *f, *caller;
	const char *otlp;
	struct row r;
	struct tb t;

	env_start(e, 0);
	/* an earlier, real activator span teaches its kind (CLIENT here, to tell it from a default) */
	tb_init(&t, 0x81);
	add_span(&t, 0xE1, 0x77, 10, 20, "activator", "proxy", false)->span_kind = 3;
	ingest(e, &t, 1);
	tb_init(&t, 0x80);
	caller = add_span(&t, 0xC0, 0, 0, 6000, "caller", "main", true);
	caller->span_kind = 2;
	f = add_span(&t, 0xF0, 0xA2, 1000, 5000, "fn", "handle", true);
	add_hop(&t, f, 0xA1, 0xC0, 100, "gateway", "route");
	add_hop(&t, f, 0x51, 0xA1, 150, "gateway", "route_match");
	add_hop(&t, f, 0x52, 0xA1, 195, "gateway", "ext_authz");
	add_hop(&t, f, 0xA2, 0xA1, 500, "activator", "proxy");
	add_names(&t, 1);
	add_profile(&t, 1, "gateway", "route_match", 40);
	add_profile(&t, 1, "gateway", "ext_authz", 150);
	ingest(e, &t, 2);
	round_at(e, T0 + DELAY);
	assert_int_equal(stats(e).recon.reconstructed, 4);
	/* estimated 11100 and 8500 (as in test_chain_and_profile_ends): the caller ended at 6000 */
	r = get_row(e, 0xA1);
	assert_int_equal(r.start, 100);
	assert_int_equal(r.end, 6000);
	assert_int_equal(r.span_kind, 2); /* never seen: it forwards, so SERVER */
	r = get_row(e, 0xA2);
	assert_int_equal(r.end, 6000);
	assert_int_equal(r.span_kind, 3); /* learned */
	r = get_row(e, 0x51);
	assert_int_equal(r.end, 195); /* the next step started 45 after it: within [20, 80] */
	assert_int_equal(r.span_kind, 1); /* a step: INTERNAL */
	r = get_row(e, 0x52);
	assert_int_equal(r.end, 345); /* next sibling 305 after it: over 2 x 150, start + median */
	assert_int_equal(r.span_kind, 1);
	otlp = slurp(e->otlp);
	assert_null(strstr(otlp, "\"kind\":0"));
	assert_int_equal(otlp_reconstructed(otlp, 0xA1), 1);
}

/* A rebuilt parent is measured against its real children: it never ends before a reported step. */
static void test_real_child_inside(void **state)
{
	struct env *e = *state;
	Difftrace__Span *f;
	struct tb t;

	env_start(e, 0);
	tb_init(&t, 0xA0);
	/* the step was slow and reported (say, contended): 150..20000, far past its 40 median */
	add_span(&t, 0x51, 0xA1, 150, 20000, "gateway", "route_match", false);
	f = add_span(&t, 0xF0, 0xA2, 1000, 5000, "fn", "handle", true);
	add_hop(&t, f, 0xA1, 0x99, 100, "gateway", "route");
	add_hop(&t, f, 0x51, 0xA1, 150, "gateway", "route_match");
	add_hop(&t, f, 0xA2, 0xA1, 500, "activator", "proxy");
	add_names(&t, 1);
	add_profile(&t, 1, "gateway", "route_match", 40);
	ingest(e, &t, 1);
	round_at(e, T0 + DELAY);
	assert_int_equal(stats(e).recon.reconstructed, 2);
	assert_int_equal(get_row(e, 0x51).reconstructed, 0);
	/* estimated 11100 from the medians; its real child ended at 20000 */
	assert_int_equal(get_row(e, 0xA1).end, 20000);
	assert_int_equal(get_row(e, 0xA2).end, 8500);
}

/* A rebuilt span whose start lies before its (real) parent's is moved into it, end kept after it. */
static void test_fit_start_skew(void **state)
{
	struct env *e = *state;
	Difftrace__Span *f;
	struct row r;
	struct tb t;

	env_start(e, 0);
	tb_init(&t, 0x90);
	add_span(&t, 0xC0, 0, 300, 9000, "caller", "main", true);
	f = add_span(&t, 0xF0, 0xA2, 1000, 5000, "fn", "handle", true);
	/* the gateway's clock runs 200 behind the caller's */
	add_hop(&t, f, 0xA1, 0xC0, 100, "gateway", "route");
	add_hop(&t, f, 0xA2, 0xA1, 500, "activator", "proxy");
	add_names(&t, 1);
	ingest(e, &t, 1);
	round_at(e, T0 + DELAY);
	r = get_row(e, 0xA1);
	assert_int_equal(r.start, 300);
	assert_int_equal(r.end, 9000); /* 11100 clamped */
	r = get_row(e, 0xA2);
	assert_true(r.start >= 300 && r.end <= 9000 && r.start <= r.end);
}

static void test_real_span_cancels(void **state)
{
	struct env *e = *state;
	struct tb t;

	env_start(e, 0);
	tb_init(&t, 0x30);
	function_with_hops(&t, 0xF0, 0xA1, 0xA2);
	add_names(&t, 1);
	ingest(e, &t, 1);
	round_at(e, T0);
	/* the NIC's hold window releases the inner hop's real span before the delay is over */
	tb_init(&t, 0x30);
	add_span(&t, 0xA2, 0xA1, 500, 7777, "activator", "proxy", false);
	ingest(e, &t, 2);
	round_at(e, T0 + DELAY / 2);
	round_at(e, T0 + DELAY);
	assert_int_equal(stats(e).recon.reconstructed, 1);
	assert_int_equal(get_row(e, 0xA2).n, 1);
	assert_int_equal(get_row(e, 0xA2).reconstructed, 0);
	assert_int_equal(get_row(e, 0xA2).end, 7777);
	assert_int_equal(get_row(e, 0xA1).reconstructed, 1);
	/* the real outer span comes after its reconstruction (a late retroactive keep): it replaces it */
	tb_init(&t, 0x30);
	add_span(&t, 0xA1, 0x99, 100, 8888, "gateway", "route", false);
	ingest(e, &t, 3);
	round_at(e, T0 + DELAY + 1);
	assert_int_equal(get_row(e, 0xA1).n, 1);
	assert_int_equal(get_row(e, 0xA1).reconstructed, 0);
	assert_int_equal(get_row(e, 0xA1).end, 8888);
	/* nothing rebuilt was stored, so nothing had to be replaced */
	assert_int_equal(stats(e).recon.superseded, 0);

	/* a real span stored before the function span never becomes a candidate */
	tb_init(&t, 0x31);
	add_span(&t, 0xC1, 0x99, 100, 200, "gateway", "route", false);
	function_with_hops(&t, 0xF1, 0xC1, 0xC2);
	ingest(e, &t, 4);
	round_at(e, T0 + DELAY);
	assert_int_equal(stats(e).recon.pending, 1);
	round_at(e, T0 + 3 * DELAY);
	assert_int_equal(get_row(e, 0xC1).n, 1);
	assert_int_equal(get_row(e, 0xC1).reconstructed, 0);
	assert_int_equal(get_row(e, 0xC2).reconstructed, 1);
}

static void test_shared_hop_once(void **state)
{
	struct env *e = *state;
	struct tb t;

	env_start(e, 0);
	/* two function spans of one trace went through the same gateway hop, in one batch */
	tb_init(&t, 0x40);
	function_with_hops(&t, 0xF0, 0xA1, 0xA2);
	function_with_hops(&t, 0xF1, 0xA1, 0xA3);
	add_names(&t, 1);
	ingest(e, &t, 1);
	round_at(e, T0 + DELAY);
	assert_int_equal(get_row(e, 0xA1).n, 1);
	assert_int_equal(get_row(e, 0xA2).n, 1);
	assert_int_equal(get_row(e, 0xA3).n, 1);
	assert_int_equal(stats(e).recon.reconstructed, 3);
	/* a third one, after the hop was rebuilt: nothing to do for the shared hop */
	tb_init(&t, 0x40);
	function_with_hops(&t, 0xF2, 0xA1, 0xA4);
	ingest(e, &t, 2);
	round_at(e, T0 + DELAY);
	/* both hops wait (neither is stored); the first function span's list owns the shared one */
	assert_int_equal(stats(e).recon.pending, 2);
	round_at(e, T0 + 2 * DELAY);
	assert_int_equal(get_row(e, 0xA1).n, 1);
	assert_int_equal(get_row(e, 0xA4).n, 1);
	assert_int_equal(stats(e).recon.reconstructed, 4);
}

static void test_pending_bound(void **state)
{
	struct env *e = *state;
	struct tb t;

	env_start(e, 3);
	tb_init(&t, 0x50);
	function_with_hops(&t, 0xF0, 0xA1, 0xA2);
	function_with_hops(&t, 0xF1, 0xB1, 0xB2);
	function_with_hops(&t, 0xF2, 0xC1, 0xC2);
	add_names(&t, 1);
	ingest(e, &t, 1);
	round_at(e, T0);
	assert_int_equal(stats(e).recon.pending, 2);
	assert_int_equal(stats(e).recon.cut, 4);
	round_at(e, T0 + DELAY);
	assert_int_equal(stats(e).recon.reconstructed, 2);
	/* the cut bounds what the collector exports; readers rebuild from the stored hops anyway */
	assert_int_equal(otlp_reconstructed(slurp(e->otlp), 0xB1), -1);
	assert_int_equal(get_row(e, 0xB1).reconstructed, 1);
	assert_int_equal(get_row(e, 0xC2).reconstructed, 1);
	/* room again once the first chain is done */
	tb_init(&t, 0x51);
	function_with_hops(&t, 0xF3, 0xD1, 0xD2);
	ingest(e, &t, 2);
	round_at(e, T0 + DELAY);
	assert_int_equal(stats(e).recon.pending, 2);
	assert_int_equal(stats(e).recon.cut, 4);
}

static void test_shutdown_flush(void **state)
{
	struct env *e = *state;
	struct tb t;
	const char *js;

	env_start(e, 0);
	tb_init(&t, 0x60);
	function_with_hops(&t, 0xF0, 0xA1, 0xA2);
	add_names(&t, 1);
	ingest(e, &t, 1);
	round_at(e, T0);
	assert_int_equal(stats(e).recon.pending, 2);
	dft_collector_destroy(e->c);
	e->c = NULL;
	assert_int_equal(get_row(e, 0xA1).reconstructed, 1);
	assert_int_equal(get_row(e, 0xA2).reconstructed, 1);
	js = slurp(e->stats);
	assert_non_null(strstr(js, "\"spans_reconstructed\":2,\"recon_pending\":0,\"recon_cut\":0"));
	assert_int_equal(otlp_reconstructed(slurp(e->otlp), 0xA2), 1);

	/* after a restart another function span naming the same hops exports nothing again: the
	 * first function span (in start order, then span id) owns them */
	env_start(e, 0);
	tb_init(&t, 0x60);
	function_with_hops(&t, 0xF9, 0xA1, 0xA2);
	add_names(&t, 2);
	ingest(e, &t, 2);
	round_at(e, T0 + DELAY);
	assert_int_equal(stats(e).recon.pending, 0);
	assert_int_equal(stats(e).recon.reconstructed, 0);
	assert_int_equal(get_row(e, 0xA1).n, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_chain_and_profile_ends, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_export_waits_for_snapshot, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unresolved_names, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_step_hops, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fit_into_parent_and_kind, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fit_start_skew, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_real_child_inside, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_real_span_cancels, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shared_hop_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_pending_bound, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_shutdown_flush, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
