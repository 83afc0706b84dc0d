/* SPDX-License-Identifier: MIT */
/*
 * The SQLite store. WAL with synchronous=NORMAL: a commit survives a crash of the collector (the
 * guarantee an ACK gives); a power loss may take the last commits, which the senders' backlog covers
 * only while they still hold the batches. One transaction per poll round (group commit) keeps the
 * per-batch cost at a few prepared-statement steps.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "collector.h"
#include "dft/hops.h"
#include "rebuild.h"

struct dft_store {
	sqlite3 *db;
	sqlite3_stmt *ins_span;
	sqlite3_stmt *put_sender;
	sqlite3_stmt *ins_profile;
	sqlite3_stmt *span_exists;
	sqlite3_stmt *del_recon;
	sqlite3_stmt *put_kind;
	bool in_txn;
	bool legacy_recon; /* rows rebuilt and stored by a collector before lazy rebuilding */
	uint64_t superseded, superseded_txn;
	uint64_t superseded_sp; /* superseded_txn when the savepoint was set */
	struct dft_buf attrs;
	uint8_t hops[DFT_RB_HOPS_MAX * DFT_RB_HOP_BYTES];
	char err[256];
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS spans(trace_id BLOB NOT NULL, span_id INTEGER NOT NULL,"
    " parent_span_id INTEGER NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,"
    " component TEXT NOT NULL, operation TEXT NOT NULL, kind INTEGER NOT NULL, status INTEGER NOT NULL,"
    " span_kind INTEGER NOT NULL, queue_ns INTEGER NOT NULL, flags INTEGER NOT NULL,"
    " keep_reasons INTEGER NOT NULL, reconstructed INTEGER NOT NULL DEFAULT 0, attrs TEXT, hops TEXT,"
    " sender_id INTEGER NOT NULL, batch_seq INTEGER NOT NULL, status_message TEXT);"
    "CREATE INDEX IF NOT EXISTS spans_by_trace ON spans(trace_id);"
    "CREATE TABLE IF NOT EXISTS senders(sender_id INTEGER PRIMARY KEY, max_seq INTEGER NOT NULL,"
    " spans_stored INTEGER NOT NULL, counters TEXT);"
    "CREATE TABLE IF NOT EXISTS profiles(sender_id INTEGER NOT NULL, created_ns INTEGER NOT NULL,"
    " component TEXT NOT NULL, operation TEXT NOT NULL, count INTEGER NOT NULL, kept INTEGER NOT NULL,"
    " filtered INTEGER NOT NULL, duration_p50_ns INTEGER NOT NULL, duration_p99_ns INTEGER NOT NULL,"
    " queue_p99_ns INTEGER NOT NULL, self_time_ns INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS span_kinds(name_hash INTEGER NOT NULL, span_kind INTEGER NOT NULL,"
    " votes INTEGER NOT NULL, PRIMARY KEY(name_hash, span_kind)) WITHOUT ROWID;";

/* a store made before lazy rebuilding: profiles get the hop name hash rebuilding looks them up by */
static const char has_name_hash_sql[] = "SELECT name_hash FROM profiles LIMIT 0";
static const char add_name_hash_sql[] = "ALTER TABLE profiles ADD COLUMN name_hash INTEGER";
static const char profiles_index_sql[] =
    "CREATE INDEX IF NOT EXISTS profiles_by_hash ON profiles(name_hash, created_ns)";
static const char has_legacy_recon_sql[] = "SELECT 1 FROM spans WHERE reconstructed = 1 LIMIT 1";

static const char put_kind_sql[] =
    "INSERT INTO span_kinds(name_hash, span_kind, votes) VALUES(?1, ?2, ?3)"
    " ON CONFLICT(name_hash, span_kind) DO UPDATE SET votes = votes + excluded.votes";

static const char ins_span_sql[] =
    "INSERT INTO spans(trace_id, span_id, parent_span_id, start_ns, end_ns, component, operation, kind,"
    " status, span_kind, queue_ns, flags, keep_reasons, reconstructed, attrs, hops, sender_id, batch_seq,"
    " status_message) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?18, ?14, ?15, ?16, ?17, ?19)";

/* a store made before spans had a status message: the column is added (NULL in the old rows) */
static const char has_status_message_sql[] = "SELECT status_message FROM spans LIMIT 0";
static const char add_status_message_sql[] = "ALTER TABLE spans ADD COLUMN status_message TEXT";

static const char ins_profile_sql[] =
    "INSERT INTO profiles(sender_id, created_ns, component, operation, count, kept, filtered, duration_p50_ns,"
    " duration_p99_ns, queue_p99_ns, self_time_ns, name_hash) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
    " ?12)";

/* the interval too: reconstruction fits a rebuilt span into its stored parent */
static const char span_exists_sql[] =
    "SELECT start_ns, end_ns FROM spans WHERE trace_id = ?1 AND span_id = ?2 LIMIT 1";

/* a platform span the hold window released after its reconstruction: the real one replaces it */
static const char del_recon_sql[] = "DELETE FROM spans WHERE trace_id = ?1 AND span_id = ?2 AND reconstructed = 1";

/* the newest row per (component, operation): SQLite takes the bare columns from the max() row */
static const char load_profiles_sql[] =
    "SELECT component, operation, max(created_ns), count, kept, filtered, duration_p50_ns, duration_p99_ns,"
    " queue_p99_ns, self_time_ns FROM profiles GROUP BY component, operation";

static const char put_sender_sql[] =
    "INSERT INTO senders(sender_id, max_seq, spans_stored, counters) VALUES(?1, ?2, ?3, ?4)"
    " ON CONFLICT(sender_id) DO UPDATE SET max_seq = excluded.max_seq,"
    " spans_stored = excluded.spans_stored, counters = excluded.counters";

static int store_fail(struct dft_store *st, const char *what)
{
	snprintf(st->err, sizeof(st->err), "%s: %s", what, sqlite3_errmsg(st->db));
	return -EIO;
}

const char *dft_store_errmsg(const struct dft_store *st)
{
	return st->err;
}

int dft_store_open(const char *path, struct dft_store **out)
{
	sqlite3_stmt *probe = NULL;
	struct dft_store *st;
	int rc;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	dft_buf_init(&st->attrs, 1u << 20);
	/* NOMUTEX: one thread uses a connection at a time; SQLite's per-call mutexes were 14% of an insert.
	 * No memory statistics either (their global mutex): refused, harmlessly, once SQLite is in use. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		rc = -EIO;
		goto close_db;
	}
	/* a reader (the CLI) may hold a lock briefly */
	sqlite3_busy_timeout(st->db, 2000);
	/*
	 * A 32 MiB page cache keeps the trace_id index in memory: inserts were read-bound at the default.
	 * Random trace ids dirty most index pages in every group commit, so the WAL holds many copies of
	 * each; a checkpoint every 64 MiB (not 4 MiB) copies each page back once for many commits.
	 */
	if (sqlite3_exec(st->db,
	                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-32768;"
	                 " PRAGMA wal_autocheckpoint=16384;",
	                 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(st->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		rc = -EIO;
		goto close_db;
	}
	if (sqlite3_prepare_v2(st->db, has_status_message_sql, -1, &probe, NULL) == SQLITE_OK) {
		sqlite3_finalize(probe);
	} else if (sqlite3_exec(st->db, add_status_message_sql, NULL, NULL, NULL) != SQLITE_OK) {
		rc = -EIO;
		goto close_db;
	}
	if (sqlite3_prepare_v2(st->db, has_name_hash_sql, -1, &probe, NULL) == SQLITE_OK) {
		sqlite3_finalize(probe);
	} else if (sqlite3_exec(st->db, add_name_hash_sql, NULL, NULL, NULL) != SQLITE_OK) {
		rc = -EIO;
		goto close_db;
	}
	probe = NULL;
	if (sqlite3_exec(st->db, profiles_index_sql, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, has_legacy_recon_sql, -1, &probe, NULL) != SQLITE_OK) {
		rc = -EIO;
		goto close_db;
	}
	st->legacy_recon = sqlite3_step(probe) == SQLITE_ROW;
	sqlite3_finalize(probe);
	if (sqlite3_prepare_v3(st->db, ins_span_sql, -1, SQLITE_PREPARE_PERSISTENT, &st->ins_span, NULL) != SQLITE_OK) {
		rc = -EIO;
		goto close_db;
	}
	if (sqlite3_prepare_v3(st->db, put_sender_sql, -1, SQLITE_PREPARE_PERSISTENT, &st->put_sender, NULL) !=
	    SQLITE_OK) {
		rc = -EIO;
		goto finalize_ins;
	}
	if (sqlite3_prepare_v3(st->db, ins_profile_sql, -1, SQLITE_PREPARE_PERSISTENT, &st->ins_profile, NULL) !=
	    SQLITE_OK) {
		rc = -EIO;
		goto finalize_sender;
	}
	if (sqlite3_prepare_v3(st->db, span_exists_sql, -1, SQLITE_PREPARE_PERSISTENT, &st->span_exists, NULL) !=
	    SQLITE_OK) {
		rc = -EIO;
		goto finalize_profile;
	}
	if (sqlite3_prepare_v3(st->db, del_recon_sql, -1, SQLITE_PREPARE_PERSISTENT, &st->del_recon, NULL) !=
	    SQLITE_OK) {
		rc = -EIO;
		goto finalize_exists;
	}
	if (sqlite3_prepare_v3(st->db, put_kind_sql, -1, SQLITE_PREPARE_PERSISTENT, &st->put_kind, NULL) != SQLITE_OK) {
		rc = -EIO;
		goto finalize_del;
	}
	*out = st;
	return 0;

finalize_del:
	sqlite3_finalize(st->del_recon);
finalize_exists:
	sqlite3_finalize(st->span_exists);
finalize_profile:
	sqlite3_finalize(st->ins_profile);
finalize_sender:
	sqlite3_finalize(st->put_sender);
finalize_ins:
	sqlite3_finalize(st->ins_span);
close_db:
	/* open failures still allocate a handle that carries the message */
	fprintf(stderr, "difftrace-collector: sqlite %s: %s\n", path,
	        st->db ? sqlite3_errmsg(st->db) : "out of memory");
	sqlite3_close(st->db);
	dft_buf_free(&st->attrs);
	free(st);
	return rc;
}

void dft_store_close(struct dft_store *st)
{
	if (!st)
		return;
	if (st->in_txn)
		dft_store_rollback(st);
	sqlite3_finalize(st->put_kind);
	sqlite3_finalize(st->del_recon);
	sqlite3_finalize(st->span_exists);
	sqlite3_finalize(st->ins_profile);
	sqlite3_finalize(st->put_sender);
	sqlite3_finalize(st->ins_span);
	/* v2: a trace reader's statements on this connection may outlive it (closed when finalized) */
	sqlite3_close_v2(st->db);
	dft_buf_free(&st->attrs);
	free(st);
}

bool dft_store_in_txn(const struct dft_store *st)
{
	return st->in_txn;
}

int dft_store_begin(struct dft_store *st)
{
	if (st->in_txn)
		return 0;
	if (sqlite3_exec(st->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(st, "BEGIN");
	st->in_txn = true;
	return 0;
}

int dft_store_commit(struct dft_store *st)
{
	if (!st->in_txn)
		return 0;
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		int rc = store_fail(st, "COMMIT");

		dft_store_rollback(st);
		return rc;
	}
	st->in_txn = false;
	st->superseded += st->superseded_txn;
	st->superseded_txn = 0;
	return 0;
}

uint64_t dft_store_superseded(const struct dft_store *st)
{
	return st->superseded;
}

void dft_store_rollback(struct dft_store *st)
{
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	st->in_txn = false;
	st->superseded_txn = 0;
}

static void attrs_json(struct dft_buf *b, const Difftrace__SpanBatch *batch, const Difftrace__Span *s)
{
	size_t i;

	dft_buf_reset(b);
	dft_buf_puts(b, "{");
	for (i = 0; i < s->n_attrs; i++) {
		if (i)
			dft_buf_puts(b, ",");
		dft_buf_json_str(b, batch->strings[s->attrs[i]->key]);
		dft_buf_put(b, ":", 1), dft_buf_i64(b, s->attrs[i]->value);
	}
	dft_buf_puts(b, "}");
}

/* The hop list as DFT_RB_HOP_BYTES records (rebuild.h): what rebuilding reads back. */
static size_t hops_blob(uint8_t *out, const Difftrace__Span *s)
{
	struct dft_rb_hop h[DFT_RB_HOPS_MAX];
	size_t n = s->n_hops;

	for (size_t i = 0; i < n; i++)
		h[i] = (struct dft_rb_hop){.span_id = s->hops[i]->span_id,
		                           .parent_span_id = s->hops[i]->parent_span_id,
		                           .start_ns = s->hops[i]->start_ns,
		                           .name_hash = s->hops[i]->name_hash};
	dft_rb_hops_encode(h, (uint32_t)n, out);
	return n * DFT_RB_HOP_BYTES;
}

/* u64 values keep their 64 bits in SQLite's signed INTEGER */
static int bind_u64(sqlite3_stmt *q, int i, uint64_t v)
{
	return sqlite3_bind_int64(q, i, (sqlite3_int64)v);
}

static int put_span(struct dft_store *st, const Difftrace__SpanBatch *b, const Difftrace__Span *s, bool reconstructed)
{
	sqlite3_stmt *q = st->ins_span;
	size_t hops_len = 0;
	int rc = 0;

	if (s->n_attrs) {
		attrs_json(&st->attrs, b, s);
		if (st->attrs.overflow) {
			snprintf(st->err, sizeof(st->err), "attrs JSON too large");
			return -E2BIG;
		}
	}
	/* a longer list is stored as nothing: rebuilding cuts such lists whole, as the collector did */
	if (s->n_hops && s->n_hops <= DFT_RB_HOPS_MAX)
		hops_len = hops_blob(st->hops, s);
	if (st->legacy_recon && !reconstructed && s->kind == DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_PLATFORM) {
		sqlite3_stmt *d = st->del_recon;

		sqlite3_reset(d);
		if (sqlite3_bind_blob(d, 1, s->trace_id.data, (int)s->trace_id.len, SQLITE_STATIC) != SQLITE_OK ||
		    bind_u64(d, 2, s->span_id) != SQLITE_OK || sqlite3_step(d) != SQLITE_DONE)
			return store_fail(st, "DELETE reconstructed");
		st->superseded_txn += (uint64_t)sqlite3_changes(st->db);
	}
	sqlite3_reset(q);
	rc |= sqlite3_bind_blob(q, 1, s->trace_id.data, (int)s->trace_id.len, SQLITE_STATIC);
	rc |= bind_u64(q, 2, s->span_id);
	rc |= bind_u64(q, 3, s->parent_span_id);
	rc |= bind_u64(q, 4, s->start_ns);
	rc |= bind_u64(q, 5, s->end_ns);
	rc |= sqlite3_bind_text(q, 6, b->strings[s->component], -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(q, 7, b->strings[s->operation], -1, SQLITE_STATIC);
	rc |= sqlite3_bind_int(q, 8, (int)s->kind);
	rc |= sqlite3_bind_int(q, 9, (int)s->status);
	rc |= sqlite3_bind_int64(q, 10, s->span_kind);
	rc |= bind_u64(q, 11, s->queue_ns);
	rc |= sqlite3_bind_int64(q, 12, s->flags);
	rc |= sqlite3_bind_int64(q, 13, s->keep_reasons);
	if (s->n_attrs)
		rc |= sqlite3_bind_text(q, 14, st->attrs.p, (int)st->attrs.len, SQLITE_STATIC);
	else
		rc |= sqlite3_bind_null(q, 14);
	if (hops_len)
		rc |= sqlite3_bind_blob(q, 15, st->hops, (int)hops_len, SQLITE_STATIC);
	else
		rc |= sqlite3_bind_null(q, 15);
	rc |= bind_u64(q, 16, b->header->sender_id);
	rc |= bind_u64(q, 17, b->header->sequence);
	rc |= sqlite3_bind_int(q, 18, reconstructed);
	if (s->status_message && s->status_message[0])
		rc |= sqlite3_bind_text(q, 19, s->status_message, -1, SQLITE_STATIC);
	else
		rc |= sqlite3_bind_null(q, 19);
	if (rc != SQLITE_OK)
		return store_fail(st, "bind span");
	if (sqlite3_step(q) != SQLITE_DONE)
		return store_fail(st, "insert span");
	return 0;
}

static int put_profile(struct dft_store *st, const Difftrace__SpanBatch *b, const Difftrace__Profile *p,
                       const Difftrace__ProfileEntry *e)
{
	sqlite3_stmt *q = st->ins_profile;
	int rc = 0;

	sqlite3_reset(q);
	rc |= bind_u64(q, 1, b->header->sender_id);
	rc |= bind_u64(q, 2, p->created_ns);
	rc |= sqlite3_bind_text(q, 3, b->strings[e->component], -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(q, 4, b->strings[e->operation], -1, SQLITE_STATIC);
	rc |= bind_u64(q, 5, e->count);
	rc |= bind_u64(q, 6, e->kept);
	rc |= bind_u64(q, 7, e->filtered);
	rc |= bind_u64(q, 8, e->duration_p50_ns);
	rc |= bind_u64(q, 9, e->duration_p99_ns);
	rc |= bind_u64(q, 10, e->queue_p99_ns);
	rc |= bind_u64(q, 11, e->self_time_ns);
	rc |= sqlite3_bind_int64(q, 12,
	                         dft_hops_name_hash(b->strings[e->component], strlen(b->strings[e->component]),
	                                            b->strings[e->operation], strlen(b->strings[e->operation])));
	if (rc != SQLITE_OK)
		return store_fail(st, "bind profile");
	if (sqlite3_step(q) != SQLITE_DONE)
		return store_fail(st, "insert profile");
	return 0;
}

static int put_spans(struct dft_store *st, const Difftrace__SpanBatch *b, bool reconstructed)
{
	size_t i;
	int rc;

	rc = dft_store_begin(st);
	if (rc)
		return rc;
	for (i = 0; i < b->n_spans; i++) {
		rc = put_span(st, b, b->spans[i], reconstructed);
		if (rc)
			return rc;
	}
	return 0;
}

int dft_store_put_batch(struct dft_store *st, const Difftrace__SpanBatch *b)
{
	size_t i, j;
	int rc;

	rc = put_spans(st, b, false);
	if (rc)
		return rc;
	for (i = 0; i < b->n_profiles; i++) {
		for (j = 0; j < b->profiles[i]->n_entries; j++) {
			rc = put_profile(st, b, b->profiles[i], b->profiles[i]->entries[j]);
			if (rc)
				return rc;
		}
	}
	return 0;
}

int dft_store_put_reconstructed(struct dft_store *st, const Difftrace__SpanBatch *b)
{
	return put_spans(st, b, true);
}

int dft_store_span_get(struct dft_store *st, const uint8_t trace_id[16], uint64_t span_id, uint64_t *start_ns,
                       uint64_t *end_ns)
{
	sqlite3_stmt *q = st->span_exists;
	int step;

	sqlite3_reset(q);
	if (sqlite3_bind_blob(q, 1, trace_id, 16, SQLITE_STATIC) | bind_u64(q, 2, span_id))
		return store_fail(st, "bind span lookup");
	step = sqlite3_step(q);
	if (step == SQLITE_ROW) {
		if (start_ns)
			*start_ns = (uint64_t)sqlite3_column_int64(q, 0);
		if (end_ns)
			*end_ns = (uint64_t)sqlite3_column_int64(q, 1);
	}
	sqlite3_reset(q);
	if (step == SQLITE_ROW)
		return 1;
	if (step != SQLITE_DONE)
		return store_fail(st, "span lookup");
	return 0;
}

int dft_store_put_kind(struct dft_store *st, uint32_t name_hash, uint32_t span_kind, uint64_t votes)
{
	sqlite3_stmt *q = st->put_kind;
	int rc;

	rc = dft_store_begin(st);
	if (rc)
		return rc;
	sqlite3_reset(q);
	if (sqlite3_bind_int64(q, 1, name_hash) | sqlite3_bind_int64(q, 2, span_kind) | bind_u64(q, 3, votes))
		return store_fail(st, "bind span kind");
	if (sqlite3_step(q) != SQLITE_DONE)
		return store_fail(st, "update span kind");
	return 0;
}

sqlite3 *dft_store_sqlite(struct dft_store *st)
{
	return st->db;
}

int dft_store_span_exists(struct dft_store *st, const uint8_t trace_id[16], uint64_t span_id)
{
	return dft_store_span_get(st, trace_id, span_id, NULL, NULL);
}

int dft_store_load_profiles(struct dft_store *st, struct dft_profiles *p)
{
	sqlite3_stmt *q;
	int rc = 0, step;

	if (sqlite3_prepare_v2(st->db, load_profiles_sql, -1, &q, NULL) != SQLITE_OK)
		return store_fail(st, "select profiles");
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct dft_profile v = {
		    .component = (char *)sqlite3_column_text(q, 0),
		    .operation = (char *)sqlite3_column_text(q, 1),
		    .created_ns = (uint64_t)sqlite3_column_int64(q, 2),
		    .count = (uint64_t)sqlite3_column_int64(q, 3),
		    .kept = (uint64_t)sqlite3_column_int64(q, 4),
		    .filtered = (uint64_t)sqlite3_column_int64(q, 5),
		    .duration_p50_ns = (uint64_t)sqlite3_column_int64(q, 6),
		    .duration_p99_ns = (uint64_t)sqlite3_column_int64(q, 7),
		    .queue_p99_ns = (uint64_t)sqlite3_column_int64(q, 8),
		    .self_time_ns = (uint64_t)sqlite3_column_int64(q, 9),
		};

		if (!v.component || !v.operation)
			continue; /* NOT NULL columns: only a foreign writer could do this */
		rc = dft_profiles_put(p, &v);
		if (rc == -ENOSPC)
			rc = 0; /* counted in p->cut, like a live update */
		if (rc) {
			snprintf(st->err, sizeof(st->err), "profiles: %s", strerror(-rc));
			break;
		}
	}
	if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = store_fail(st, "read profiles");
	sqlite3_finalize(q);
	return rc;
}

int dft_store_savepoint(struct dft_store *st)
{
	int rc = dft_store_begin(st);

	if (rc)
		return rc;
	if (sqlite3_exec(st->db, "SAVEPOINT dft_batch", NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(st, "SAVEPOINT");
	st->superseded_sp = st->superseded_txn;
	return 0;
}

int dft_store_savepoint_release(struct dft_store *st)
{
	if (sqlite3_exec(st->db, "RELEASE dft_batch", NULL, NULL, NULL) != SQLITE_OK)
		return store_fail(st, "RELEASE");
	return 0;
}

void dft_store_savepoint_rollback(struct dft_store *st)
{
	/* ROLLBACK TO keeps the savepoint open: RELEASE ends it, the outer transaction goes on */
	sqlite3_exec(st->db, "ROLLBACK TO dft_batch; RELEASE dft_batch", NULL, NULL, NULL);
	st->superseded_txn = st->superseded_sp;
}

int dft_store_get_sender(struct dft_store *st, uint64_t sender_id, struct dft_sender *s)
{
	sqlite3_stmt *q;
	int rc = 0, step;

	if (sqlite3_prepare_v2(st->db, "SELECT max_seq, spans_stored, counters FROM senders WHERE sender_id = ?1", -1,
	                       &q, NULL) != SQLITE_OK)
		return store_fail(st, "select sender");
	if (bind_u64(q, 1, sender_id) != SQLITE_OK) {
		rc = store_fail(st, "bind sender");
		goto finalize;
	}
	step = sqlite3_step(q);
	if (step == SQLITE_ROW) {
		dft_sender_restore(s, (uint64_t)sqlite3_column_int64(q, 0), (uint64_t)sqlite3_column_int64(q, 1));
		memset(&s->counters, 0, sizeof(s->counters));
		if (dft_counters_parse((const char *)sqlite3_column_text(q, 2), &s->counters)) {
			snprintf(st->err, sizeof(st->err), "sender %016llx: bad counters JSON",
			         (unsigned long long)sender_id);
			rc = -EIO;
			goto finalize;
		}
		s->counters_seq = s->max_seq;
		rc = 1;
	} else if (step != SQLITE_DONE) {
		rc = store_fail(st, "read sender");
	}
finalize:
	sqlite3_finalize(q);
	return rc;
}

int dft_store_put_sender(struct dft_store *st, const struct dft_sender *s)
{
	sqlite3_stmt *q = st->put_sender;
	struct dft_buf cj;
	int rc = 0;

	dft_buf_init(&cj, 4096);
	dft_counters_json(&cj, &s->counters);
	if (cj.overflow) {
		dft_buf_free(&cj);
		return -ENOMEM;
	}
	rc = dft_store_begin(st);
	if (rc)
		goto free_json;
	sqlite3_reset(q);
	if (bind_u64(q, 1, s->sender_id) | bind_u64(q, 2, s->max_seq) |
	    bind_u64(q, 3, s->spans_stored + s->pending_spans) |
	    sqlite3_bind_text(q, 4, cj.p, (int)cj.len, SQLITE_TRANSIENT)) {
		rc = store_fail(st, "bind sender");
		goto free_json;
	}
	if (sqlite3_step(q) != SQLITE_DONE)
		rc = store_fail(st, "update sender");
free_json:
	dft_buf_free(&cj);
	return rc;
}

int dft_store_load_senders(struct dft_store *st, struct dft_dedup *d)
{
	sqlite3_stmt *q;
	int rc = 0, step;

	if (sqlite3_prepare_v2(st->db, "SELECT sender_id, max_seq, spans_stored, counters FROM senders", -1, &q,
	                       NULL) != SQLITE_OK)
		return store_fail(st, "select senders");
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct dft_sender *s;

		/* the rest are loaded one by one when they send again (dft_store_get_sender) */
		if (d->count >= d->max)
			break;
		s = dft_dedup_get(d, (uint64_t)sqlite3_column_int64(q, 0), true);
		if (!s) {
			snprintf(st->err, sizeof(st->err), "sender table refused a stored sender");
			rc = -ENOSPC;
			break;
		}
		dft_sender_restore(s, (uint64_t)sqlite3_column_int64(q, 1), (uint64_t)sqlite3_column_int64(q, 2));
		if (dft_counters_parse((const char *)sqlite3_column_text(q, 3), &s->counters)) {
			snprintf(st->err, sizeof(st->err), "sender %016llx: bad counters JSON",
			         (unsigned long long)s->sender_id);
			rc = -EINVAL;
			break;
		}
		s->counters_seq = s->max_seq;
	}
	if (!rc && step != SQLITE_DONE && step != SQLITE_ROW)
		rc = store_fail(st, "read senders");
	sqlite3_finalize(q);
	return rc;
}
