/* SPDX-License-Identifier: MIT */
/*
 * Traces as readers see them (trace_read.h): stored rows + the spans rebuilt from them.
 *
 * Stores written before lazy rebuilding hold their rebuilt spans as rows (reconstructed = 1) and
 * their hop lists as JSON text: those rows are read as they are and such hop lists rebuild nothing,
 * so an old store reads as it did. A store without profiles.name_hash or span_kinds answers "no
 * profile" / "no kind".
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_layout.h"
#include "trace_read.h"

#define COLS                                                                                                           \
	"span_id, parent_span_id, start_ns, end_ns, queue_ns, component, operation, kind, status, span_kind,"          \
	" flags, keep_reasons, reconstructed, "
/*
 * Through the trace's rowid ranges (store_layout.h), range by range (CROSS JOIN: the planner would
 * rather scan spans). A row two ranges cover (a migrated store) comes twice, next to itself in
 * this order, and is taken once. Stores of schema 0 (and the CLI's ClickHouse copy) have no ranges
 * but an index on trace_id, and are read by it.
 */
static const char trace_sql[] = "SELECT " COLS "status_message, hops, s.rowid FROM trace_spans t CROSS JOIN spans s"
                                " ON s.rowid BETWEEN t.lo AND t.hi WHERE t.tid = ?3 AND s.trace_id = ?1"
                                " ORDER BY start_ns, span_id, s.rowid LIMIT ?2";
static const char trace_sql_v0[] = "SELECT " COLS "status_message, hops, rowid FROM spans WHERE trace_id = ?1"
                                   " ORDER BY start_ns, span_id LIMIT ?2";
static const char trace_sql_old[] = "SELECT " COLS "NULL, hops, rowid FROM spans WHERE trace_id = ?1"
                                    " ORDER BY start_ns, span_id LIMIT ?2";
static const char all_sql[] = "SELECT " COLS "status_message, hops, trace_id FROM spans"
                              " ORDER BY trace_id, start_ns, span_id";
static const char all_sql_old[] = "SELECT " COLS "NULL, hops, trace_id FROM spans ORDER BY trace_id, start_ns, span_id";
#define COL_HOPS  14
#define COL_TRACE 15 /* all_sql */
#define COL_ROWID 15 /* trace_sql */
static const char prof_before_sql[] =
    "SELECT component, operation, duration_p50_ns, created_ns FROM profiles WHERE name_hash = ?1"
    " AND created_ns <= ?2 ORDER BY created_ns DESC, sender_id DESC LIMIT 1";
static const char prof_after_sql[] =
    "SELECT component, operation, duration_p50_ns FROM profiles WHERE name_hash = ?1 AND created_ns > ?2"
    " ORDER BY created_ns ASC, sender_id ASC LIMIT 1";
/* the next profile of a name after a time: how long the answer "newest at or before" stays right */
static const char prof_next_sql[] = "SELECT min(created_ns) FROM profiles WHERE name_hash = ?1 AND created_ns > ?2";
static const char kind_sql[] =
    "SELECT span_kind FROM span_kinds WHERE name_hash = ?1 ORDER BY votes DESC, span_kind ASC LIMIT 1";

#define CACHE_SLOTS 1024u /* profile answers remembered, direct-mapped by name hash */

/* "newest profile of hash at or before t" is the same answer for every t in [from, until) */
struct cached {
	uint32_t hash;
	bool used, found;
	uint64_t from, until;
	struct dft_rb_prof prof;
};

struct dft_treader {
	sqlite3 *db;
	sqlite3_stmt *trace_q, *before_q, *after_q, *kind_q; /* the last three may be NULL (old store) */
	sqlite3_stmt *next_q;
	struct cached *cache;
	struct dft_rb_src src;
	struct dft_rb_out out;
	struct dft_rb_span *rb;
	uint32_t rb_cap;
	struct dft_rb_hop *hops;
	uint32_t n_hops, hops_cap;
	uint32_t *hop_off;
	uint32_t hop_off_cap;
	char err[256];
};

static int fail(struct dft_treader *r, int rc, const char *what)
{
	snprintf(r->err, sizeof(r->err), "%s: %s", what, rc == -EIO ? sqlite3_errmsg(r->db) : strerror(-rc));
	return rc;
}

const char *dft_treader_errmsg(const struct dft_treader *r)
{
	return r->err;
}

static int lookup_profile(struct dft_treader *r, uint32_t hash, uint64_t at_ns, struct dft_rb_prof *out,
                          uint64_t *created)
{
	sqlite3_stmt *qs[2] = {r->before_q, r->after_q};

	for (int i = 0; i < 2; i++) {
		sqlite3_stmt *q = qs[i];
		int step;

		if (!q)
			return 0;
		sqlite3_reset(q);
		sqlite3_bind_int64(q, 1, hash);
		sqlite3_bind_int64(q, 2, (sqlite3_int64)(at_ns > INT64_MAX ? INT64_MAX : at_ns));
		step = sqlite3_step(q);
		if (step == SQLITE_ROW) {
			const char *c = (const char *)sqlite3_column_text(q, 0),
			           *o = (const char *)sqlite3_column_text(q, 1);

			snprintf(out->component, sizeof(out->component), "%s", c ? c : "");
			snprintf(out->operation, sizeof(out->operation), "%s", o ? o : "");
			out->p50_ns = (uint64_t)sqlite3_column_int64(q, 2);
			*created = i == 0 ? (uint64_t)sqlite3_column_int64(q, 3) : UINT64_MAX; /* "after": not cached */
			sqlite3_reset(q);
			return 1;
		}
		sqlite3_reset(q);
		if (step != SQLITE_DONE)
			return fail(r, -EIO, "read profiles");
	}
	return 0;
}

/* The newest profile at or before at_ns, else the oldest after; answers of the first kind are
 * remembered with the interval they hold for (until the next profile of the name). */
static int src_profile(void *arg, uint32_t hash, uint64_t at_ns, struct dft_rb_prof *out)
{
	struct dft_treader *r = arg;
	struct cached *c = r->cache ? &r->cache[hash & (CACHE_SLOTS - 1)] : NULL;
	uint64_t created = UINT64_MAX, until = UINT64_MAX;
	int rc, step;

	if (c && c->used && c->hash == hash && c->found && at_ns >= c->from && at_ns < c->until) {
		*out = c->prof;
		return 1;
	}
	rc = lookup_profile(r, hash, at_ns, out, &created);
	if (rc != 1 || created == UINT64_MAX || !c || !r->next_q)
		return rc;
	sqlite3_reset(r->next_q);
	sqlite3_bind_int64(r->next_q, 1, hash);
	sqlite3_bind_int64(r->next_q, 2, (sqlite3_int64)(at_ns > INT64_MAX ? INT64_MAX : at_ns));
	step = sqlite3_step(r->next_q);
	if (step == SQLITE_ROW && sqlite3_column_type(r->next_q, 0) == SQLITE_INTEGER)
		until = (uint64_t)sqlite3_column_int64(r->next_q, 0);
	sqlite3_reset(r->next_q);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return fail(r, -EIO, "read profiles");
	*c = (struct cached){.hash = hash, .used = true, .found = true, .from = created, .until = until, .prof = *out};
	return 1;
}

void dft_treader_forget(struct dft_treader *r)
{
	if (r->cache)
		memset(r->cache, 0, CACHE_SLOTS * sizeof(*r->cache));
}

static int src_kind(void *arg, uint32_t hash)
{
	struct dft_treader *r = arg;
	int step, kind = 0;

	if (!r->kind_q)
		return 0;
	sqlite3_reset(r->kind_q);
	sqlite3_bind_int64(r->kind_q, 1, hash);
	step = sqlite3_step(r->kind_q);
	if (step == SQLITE_ROW)
		kind = sqlite3_column_int(r->kind_q, 0);
	sqlite3_reset(r->kind_q);
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		return fail(r, -EIO, "read span kinds");
	return kind >= 0 && kind <= 5 ? kind : 0;
}

int dft_treader_create(sqlite3 *db, struct dft_treader **out)
{
	struct dft_treader *r;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->db = db;
	if (sqlite3_prepare_v2(db, trace_sql, -1, &r->trace_q, NULL) != SQLITE_OK &&
	    sqlite3_prepare_v2(db, trace_sql_v0, -1, &r->trace_q, NULL) != SQLITE_OK &&
	    sqlite3_prepare_v2(db, trace_sql_old, -1, &r->trace_q, NULL) != SQLITE_OK) {
		free(r);
		return -EIO;
	}
	/* optional: a store from before lazy rebuilding has neither */
	if (sqlite3_prepare_v2(db, prof_before_sql, -1, &r->before_q, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, prof_after_sql, -1, &r->after_q, NULL) != SQLITE_OK) {
		sqlite3_finalize(r->before_q);
		r->before_q = NULL;
	}
	if (sqlite3_prepare_v2(db, kind_sql, -1, &r->kind_q, NULL) != SQLITE_OK)
		r->kind_q = NULL;
	if (r->before_q && sqlite3_prepare_v2(db, prof_next_sql, -1, &r->next_q, NULL) != SQLITE_OK)
		r->next_q = NULL;
	r->cache = calloc(CACHE_SLOTS, sizeof(*r->cache)); /* NULL: every answer from the store */
	r->src = (struct dft_rb_src){.profile = src_profile, .kind = src_kind, .arg = r};
	*out = r;
	return 0;
}

void dft_treader_destroy(struct dft_treader *r)
{
	if (!r)
		return;
	sqlite3_finalize(r->next_q);
	sqlite3_finalize(r->kind_q);
	sqlite3_finalize(r->after_q);
	sqlite3_finalize(r->before_q);
	sqlite3_finalize(r->trace_q);
	dft_rb_out_free(&r->out);
	free(r->rb);
	free(r->hops);
	free(r->hop_off);
	free(r->cache);
	free(r);
}

const struct dft_rb_src *dft_treader_src(struct dft_treader *r)
{
	return &r->src;
}

void dft_ttrace_clear(struct dft_ttrace *t)
{
	for (uint32_t i = 0; i < t->n; i++) {
		free(t->sp[i].component);
		free(t->sp[i].operation);
		free(t->sp[i].status_message);
	}
	free(t->sp);
	memset(t, 0, sizeof(*t));
}

static int grow(void **p, uint32_t *cap, uint32_t want, size_t elem)
{
	uint32_t ncap = *cap ? *cap : 64;
	void *np;

	if (want <= *cap)
		return 0;
	while (ncap < want)
		ncap *= 2;
	np = realloc(*p, (size_t)ncap * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

static char *dup_text(sqlite3_stmt *q, int col)
{
	const char *s = (const char *)sqlite3_column_text(q, col);

	return strdup(s ? s : "");
}

/* Appends the row q is on to t (and its hop list to r). t->n bounds the rows (caller checks). */
static int add_row(struct dft_treader *r, struct dft_ttrace *t, uint32_t *cap, sqlite3_stmt *q)
{
	uint32_t nh = 0;
	struct dft_rb_hop h[DFT_RB_HOPS_MAX];
	struct dft_tspan *s;
	int rc;

	if ((rc = grow((void **)&t->sp, cap, t->n + 1, sizeof(*t->sp))) ||
	    (rc = grow((void **)&r->rb, &r->rb_cap, t->n + 1, sizeof(*r->rb))) ||
	    (rc = grow((void **)&r->hop_off, &r->hop_off_cap, t->n + 1, sizeof(*r->hop_off))))
		return rc;
	s = &t->sp[t->n];
	memset(s, 0, sizeof(*s));
	s->span_id = (uint64_t)sqlite3_column_int64(q, 0);
	s->parent_span_id = (uint64_t)sqlite3_column_int64(q, 1);
	s->start_ns = (uint64_t)sqlite3_column_int64(q, 2);
	s->end_ns = (uint64_t)sqlite3_column_int64(q, 3);
	s->queue_ns = (uint64_t)sqlite3_column_int64(q, 4);
	s->component = dup_text(q, 5);
	s->operation = dup_text(q, 6);
	s->kind = sqlite3_column_int(q, 7);
	s->status = sqlite3_column_int(q, 8);
	s->span_kind = sqlite3_column_int(q, 9);
	s->flags = (uint32_t)sqlite3_column_int64(q, 10);
	s->keep_reasons = (uint32_t)sqlite3_column_int64(q, 11);
	s->reconstructed = sqlite3_column_int(q, 12) != 0;
	if (sqlite3_column_type(q, 13) == SQLITE_TEXT)
		s->status_message = dup_text(q, 13);
	t->n++; /* counted now: clear() frees what was copied even if a copy failed */
	if (!s->component || !s->operation || (sqlite3_column_type(q, 13) == SQLITE_TEXT && !s->status_message))
		return -ENOMEM;
	t->n_rebuilt += s->reconstructed;
	/* a BLOB is a list this store wrote; TEXT (JSON) is an old store's, whose rebuilt rows are stored */
	if (sqlite3_column_type(q, COL_HOPS) == SQLITE_BLOB &&
	    dft_rb_hops_decode(sqlite3_column_blob(q, COL_HOPS), (size_t)sqlite3_column_bytes(q, COL_HOPS), h,
	                       DFT_RB_HOPS_MAX, &nh) == 0 &&
	    nh) {
		if ((rc = grow((void **)&r->hops, &r->hops_cap, r->n_hops + nh, sizeof(*r->hops))))
			return rc;
		memcpy(&r->hops[r->n_hops], h, nh * sizeof(*h));
	}
	r->hop_off[t->n - 1] = r->n_hops;
	r->n_hops += nh;
	r->rb[t->n - 1] = (struct dft_rb_span){.span_id = s->span_id,
	                                       .parent_span_id = s->parent_span_id,
	                                       .start_ns = s->start_ns,
	                                       .end_ns = s->end_ns,
	                                       .component = s->component,
	                                       .operation = s->operation,
	                                       .function = s->kind == 2,
	                                       .n_hops = nh};
	return 0;
}

/* Rebuilds t's omitted spans from the rows add_row collected and appends them. */
static int finish(struct dft_treader *r, struct dft_ttrace *t, uint32_t *cap)
{
	int rc;

	r->out.n = 0;
	if (t->truncated || !t->n)
		return 0;
	for (uint32_t i = 0; i < t->n; i++)
		r->rb[i].hops = &r->hops[r->hop_off[i]];
	rc = dft_rebuild_trace(&r->src, r->rb, t->n, &r->out);
	if (rc == -E2BIG) {
		t->truncated = true;
		return 0;
	}
	if (rc)
		return r->err[0] ? rc : fail(r, rc, "rebuild");
	if ((rc = grow((void **)&t->sp, cap, t->n + r->out.n, sizeof(*t->sp))))
		return fail(r, rc, "rebuild");
	for (uint32_t i = 0; i < r->out.n; i++) {
		const struct dft_rb_out_span *o = &r->out.sp[i];
		struct dft_tspan *s = &t->sp[t->n];

		*s = (struct dft_tspan){.span_id = o->span_id,
		                        .parent_span_id = o->parent_span_id,
		                        .start_ns = o->start_ns,
		                        .end_ns = o->end_ns,
		                        .component = strdup(o->component),
		                        .operation = strdup(o->operation),
		                        .kind = 1,
		                        .span_kind = (int)o->span_kind,
		                        .reconstructed = true};
		t->n++;
		t->n_rebuilt++;
		if (!s->component || !s->operation)
			return fail(r, -ENOMEM, "rebuild");
	}
	return 0;
}

static int load(struct dft_treader *r, const uint8_t id[16], struct dft_ttrace *t, uint32_t *cap)
{
	sqlite3_stmt *q = r->trace_q;
	sqlite3_int64 last = 0;
	int step, rc = 0;

	memset(t, 0, sizeof(*t));
	memcpy(t->id, id, 16);
	r->n_hops = 0;
	r->err[0] = '\0';
	sqlite3_reset(q);
	sqlite3_bind_blob(q, 1, id, 16, SQLITE_STATIC);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)DFT_RB_SPANS_MAX + 1);
	if (sqlite3_bind_parameter_count(q) >= 3)
		sqlite3_bind_int64(q, 3, dft_trace_key(id));
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		sqlite3_int64 rowid = sqlite3_column_int64(q, COL_ROWID);

		if (t->n && rowid == last)
			continue;
		last = rowid;
		if (t->n == DFT_RB_SPANS_MAX) {
			t->truncated = true;
			break;
		}
		rc = add_row(r, t, cap, q);
		if (rc) {
			fail(r, rc, "load trace");
			break;
		}
	}
	if (!rc && step != SQLITE_ROW && step != SQLITE_DONE)
		rc = fail(r, -EIO, "read spans");
	sqlite3_reset(q);
	if (!rc && t->n == 0) {
		snprintf(r->err, sizeof(r->err), "not found in the store");
		rc = -ENOENT;
	}
	return rc;
}

int dft_treader_trace(struct dft_treader *r, const uint8_t id[16], struct dft_ttrace *out)
{
	uint32_t cap = 0;
	int rc = load(r, id, out, &cap);

	if (!rc)
		rc = finish(r, out, &cap);
	if (rc)
		dft_ttrace_clear(out);
	return rc;
}

int dft_treader_rebuild(struct dft_treader *r, const uint8_t id[16], struct dft_rb_out *out)
{
	struct dft_ttrace t;
	uint32_t cap = 0;
	int rc = load(r, id, &t, &cap);

	out->n = 0;
	if (rc == -ENOENT)
		rc = 0;
	if (!rc && !t.truncated && t.n) {
		for (uint32_t i = 0; i < t.n; i++)
			r->rb[i].hops = &r->hops[r->hop_off[i]];
		rc = dft_rebuild_trace(&r->src, r->rb, t.n, out);
		if (rc && !r->err[0])
			fail(r, rc, "rebuild");
	}
	dft_ttrace_clear(&t);
	return rc;
}

int dft_treader_foreach(struct dft_treader *r, int (*cb)(void *arg, const struct dft_ttrace *t), void *arg)
{
	struct dft_ttrace t;
	sqlite3_stmt *q;
	uint32_t cap = 0;
	int step, rc = 0;
	bool open = false;

	memset(&t, 0, sizeof(t));
	if (sqlite3_prepare_v2(r->db, all_sql, -1, &q, NULL) != SQLITE_OK &&
	    sqlite3_prepare_v2(r->db, all_sql_old, -1, &q, NULL) != SQLITE_OK)
		return fail(r, -EIO, "query spans");
	r->err[0] = '\0';
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		const void *id = sqlite3_column_blob(q, COL_TRACE);

		if (sqlite3_column_bytes(q, COL_TRACE) != 16)
			continue; /* not a trace id this collector wrote */
		if (open && memcmp(id, t.id, 16)) {
			rc = finish(r, &t, &cap);
			if (!rc)
				rc = cb(arg, &t);
			dft_ttrace_clear(&t);
			cap = 0;
			open = false;
			if (rc)
				break;
		}
		if (!open) {
			memcpy(t.id, id, 16);
			r->n_hops = 0;
			open = true;
		}
		if (t.n == DFT_RB_SPANS_MAX) {
			t.truncated = true;
			continue;
		}
		rc = add_row(r, &t, &cap, q);
		if (rc) {
			fail(r, rc, "load trace");
			break;
		}
	}
	if (!rc && step != SQLITE_ROW && step != SQLITE_DONE)
		rc = fail(r, -EIO, "read spans");
	if (!rc && open) {
		rc = finish(r, &t, &cap);
		if (!rc)
			rc = cb(arg, &t);
	}
	dft_ttrace_clear(&t);
	sqlite3_finalize(q);
	return rc;
}

int dft_store_check_schema(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *q;
	sqlite3_int64 version = 0;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		return -EIO;
	}
	if (sqlite3_step(q) == SQLITE_ROW)
		version = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (version > DFT_STORE_SCHEMA) {
		snprintf(err, errlen, "store schema version %lld is newer than this difftrace's (%d)", (long long)version,
		         DFT_STORE_SCHEMA);
		return -EPROTONOSUPPORT;
	}
	return 0;
}
