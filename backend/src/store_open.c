/* SPDX-License-Identifier: MIT */
/*
 * The SQLite store: opening, the schema and its migrations. WAL with synchronous=NORMAL: a commit
 * survives a crash of the collector (the guarantee an ACK gives); a power loss may take the last
 * commits, which the senders' backlog covers only while they still hold the batches. One
 * transaction per poll round (group commit) keeps the per-batch cost at a few prepared-statement
 * steps. How a trace's rows are found: store_layout.h.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "store_layout.h"
#include "store_priv.h"

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS spans(trace_id BLOB NOT NULL, span_id INTEGER NOT NULL,"
    " parent_span_id INTEGER NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,"
    " component TEXT NOT NULL, operation TEXT NOT NULL, kind INTEGER NOT NULL, status INTEGER NOT NULL,"
    " span_kind INTEGER NOT NULL, queue_ns INTEGER NOT NULL, flags INTEGER NOT NULL,"
    " keep_reasons INTEGER NOT NULL, reconstructed INTEGER NOT NULL DEFAULT 0, attrs TEXT, hops TEXT,"
    " sender_id INTEGER NOT NULL, batch_seq INTEGER NOT NULL, status_message TEXT);"
    "CREATE TABLE IF NOT EXISTS trace_spans(tid INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL,"
    " PRIMARY KEY(tid, lo)) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS senders(sender_id INTEGER PRIMARY KEY, max_seq INTEGER NOT NULL,"
    " spans_stored INTEGER NOT NULL, counters TEXT);"
    "CREATE TABLE IF NOT EXISTS profiles(sender_id INTEGER NOT NULL, created_ns INTEGER NOT NULL,"
    " component TEXT NOT NULL, operation TEXT NOT NULL, count INTEGER NOT NULL, kept INTEGER NOT NULL,"
    " filtered INTEGER NOT NULL, duration_p50_ns INTEGER NOT NULL, duration_p99_ns INTEGER NOT NULL,"
    " queue_p99_ns INTEGER NOT NULL, self_time_ns INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS span_kinds(name_hash INTEGER NOT NULL, span_kind INTEGER NOT NULL,"
    " votes INTEGER NOT NULL, PRIMARY KEY(name_hash, span_kind)) WITHOUT ROWID;";

/* a store made before spans had a status message: the column is added (NULL in the old rows) */
static const char has_status_message_sql[] = "SELECT status_message FROM spans LIMIT 0";
static const char add_status_message_sql[] = "ALTER TABLE spans ADD COLUMN status_message TEXT";

/* a store made before lazy rebuilding: profiles get the hop name hash rebuilding looks them up by */
static const char has_name_hash_sql[] = "SELECT name_hash FROM profiles LIMIT 0";
static const char add_name_hash_sql[] = "ALTER TABLE profiles ADD COLUMN name_hash INTEGER";
static const char profiles_index_sql[] =
    "CREATE INDEX IF NOT EXISTS profiles_by_hash ON profiles(name_hash, created_ns)";
static const char has_legacy_recon_sql[] = "SELECT 1 FROM spans WHERE reconstructed = 1 LIMIT 1";

/*
 * Schema 0 -> 1: the ranges of the stored rows, one per (trace, sender, batch, reconstructed);
 * overlapping ranges of one trace are harmless (readers take each row once). The old index goes:
 * kept, it would cost every insert what this schema saves.
 */
static const char migrate_1_sql[] =
    "INSERT INTO trace_spans(tid, lo, hi) SELECT dft_trace_key(trace_id), min(rowid), max(rowid) FROM spans"
    " WHERE typeof(trace_id) = 'blob' GROUP BY trace_id, sender_id, batch_seq, reconstructed;"
    "DROP INDEX IF EXISTS spans_by_trace;";

/* dft_trace_key() in SQL, for the migration; a short id is padded with zeros as the writer never sees */
static void trace_key_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	uint8_t id[16] = {0};
	int len = sqlite3_value_bytes(argv[0]);
	const void *p = sqlite3_value_blob(argv[0]);

	(void)argc;
	if (p && len > 0)
		memcpy(id, p, len < 8 ? (size_t)len : 8);
	sqlite3_result_int64(ctx, dft_trace_key(id));
}

static int int_query(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *q;
	int step;

	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	step = sqlite3_step(q);
	*out = step == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
	sqlite3_finalize(q);
	return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -EIO;
}

/* the column probe fails to prepare on a store without it: then the column is added */
static int add_column(sqlite3 *db, const char *probe_sql, const char *add_sql)
{
	sqlite3_stmt *probe;

	if (sqlite3_prepare_v2(db, probe_sql, -1, &probe, NULL) == SQLITE_OK) {
		sqlite3_finalize(probe);
		return 0;
	}
	return sqlite3_exec(db, add_sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
}

static int migrate(struct dft_store *st, const char *path)
{
	int64_t rows = 0;

	if (sqlite3_create_function(st->db, "dft_trace_key", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
	                            trace_key_fn, NULL, NULL) != SQLITE_OK ||
	    int_query(st->db, "SELECT count(*) FROM spans", &rows))
		return dft_store_fail(st, "schema 0 -> 1");
	if (rows)
		fprintf(stderr,
		        "difftrace-collector: sqlite %s: schema version 0 -> %d: indexing %lld stored spans by trace in"
		        " trace_spans\n",
		        path, DFT_STORE_SCHEMA, (long long)rows);
	if (sqlite3_exec(st->db, migrate_1_sql, NULL, NULL, NULL) != SQLITE_OK)
		return dft_store_fail(st, "schema 0 -> 1");
	return 0;
}

static int make_schema(struct dft_store *st, const char *path)
{
	char sql[64];
	int64_t version = 0, legacy = 0;
	int rc;

	/*
	 * A 32 MiB page cache holds the trace_spans index and the hot ends of the tables; a checkpoint
	 * every 64 MiB (not 4 MiB) copies a page the index dirties again and again back once.
	 */
	if (sqlite3_exec(st->db,
	                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-32768;"
	                 " PRAGMA wal_autocheckpoint=16384;",
	                 NULL, NULL, NULL) != SQLITE_OK ||
	    int_query(st->db, "PRAGMA user_version", &version))
		return dft_store_fail(st, "open");
	if (version > DFT_STORE_SCHEMA) {
		snprintf(st->err, sizeof(st->err),
		         "store schema version %lld is newer than this collector's (%d): a newer difftrace wrote it",
		         (long long)version, DFT_STORE_SCHEMA);
		return -EPROTONOSUPPORT;
	}
	/* IMMEDIATE: a second collector on the same file waits instead of migrating it too */
	if (sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return dft_store_fail(st, "BEGIN");
	rc = int_query(st->db, "PRAGMA user_version", &version);
	if (rc || sqlite3_exec(st->db, schema, NULL, NULL, NULL) != SQLITE_OK ||
	    add_column(st->db, has_status_message_sql, add_status_message_sql) ||
	    add_column(st->db, has_name_hash_sql, add_name_hash_sql) ||
	    sqlite3_exec(st->db, profiles_index_sql, NULL, NULL, NULL) != SQLITE_OK ||
	    int_query(st->db, has_legacy_recon_sql, &legacy)) {
		rc = dft_store_fail(st, "schema");
		goto rollback;
	}
	st->legacy_recon = legacy;
	if (version < DFT_STORE_SCHEMA) {
		if ((rc = migrate(st, path)))
			goto rollback;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", DFT_STORE_SCHEMA);
		if (sqlite3_exec(st->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			rc = dft_store_fail(st, "schema version");
			goto rollback;
		}
	}
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rc = dft_store_fail(st, "COMMIT schema");
		goto rollback;
	}
	return 0;

rollback:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static void finalize_all(struct dft_store *st)
{
	sqlite3_stmt **qs[] = {&st->ins_span,    &st->ins_range, &st->put_sender, &st->ins_profile,
	                       &st->span_exists, &st->del_recon, &st->put_kind};

	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++) {
		sqlite3_finalize(*qs[i]);
		*qs[i] = NULL;
	}
}

static void free_store(struct dft_store *st)
{
	finalize_all(st);
	/* v2: a trace reader's statements on this connection may outlive it (closed when finalized) */
	sqlite3_close_v2(st->db);
	dft_buf_free(&st->attrs);
	free(st->ranges);
	free(st->range_used);
	free(st);
}

int dft_store_open(const char *path, struct dft_store **out)
{
	struct dft_store *st;
	int rc;

	*out = NULL;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	dft_buf_init(&st->attrs, 1u << 20);
	st->ranges = calloc(DFT_STORE_RANGE_SLOTS, sizeof(*st->ranges));
	st->range_used = calloc(DFT_STORE_RANGE_SLOTS, sizeof(*st->range_used));
	st->range_gen = 1; /* the calloc'd slots (generation 0) are free */
	if (getrandom(&st->range_seed, sizeof(st->range_seed), 0) != sizeof(st->range_seed))
		st->range_seed = (uint64_t)(uintptr_t)st ^ (uint64_t)time(NULL);
	if (!st->ranges || !st->range_used) {
		rc = -ENOMEM;
		snprintf(st->err, sizeof(st->err), "out of memory");
		goto fail;
	}
	/* NOMUTEX: one thread uses a connection at a time; SQLite's per-call mutexes were 14% of an insert.
	 * No memory statistics either (their global mutex): refused, harmlessly, once SQLite is in use. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) !=
	    SQLITE_OK) {
		rc = -EIO;
		snprintf(st->err, sizeof(st->err), "%s", st->db ? sqlite3_errmsg(st->db) : "out of memory");
		goto fail;
	}
	/* a reader (the CLI) may hold a lock briefly */
	sqlite3_busy_timeout(st->db, 2000);
	if ((rc = make_schema(st, path)) || (rc = dft_store_write_prepare(st)) ||
	    (rc = dft_store_read_prepare(st)))
		goto fail;
	*out = st;
	return 0;

fail:
	fprintf(stderr, "difftrace-collector: sqlite %s: %s\n", path, st->err);
	free_store(st);
	return rc;
}

void dft_store_close(struct dft_store *st)
{
	if (!st)
		return;
	if (st->in_txn)
		dft_store_rollback(st);
	free_store(st);
}

const char *dft_store_errmsg(const struct dft_store *st)
{
	return st->err;
}

sqlite3 *dft_store_sqlite(struct dft_store *st)
{
	return st->db;
}
