/* SPDX-License-Identifier: MIT */
/* The ClickHouse store read into a private SQLite file for the CLI (cli_clickhouse.h). */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ch_http.h"
#include "cli_clickhouse.h"

#define ANSWER_MAX (1024u << 20) /* bytes of one answer; a larger store needs a narrower query */

/* the tables and columns trace_read.c, eval and the views read (store_open.c has the full set); no
 * trace_spans: trace_read.c reads this copy by its index, as a schema 0 store */
static const char schema[] =
    "CREATE TABLE spans(trace_id BLOB NOT NULL, span_id INTEGER NOT NULL, parent_span_id INTEGER NOT NULL,"
    " start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, component TEXT NOT NULL, operation TEXT NOT NULL,"
    " kind INTEGER NOT NULL, status INTEGER NOT NULL, span_kind INTEGER NOT NULL, queue_ns INTEGER NOT NULL,"
    " flags INTEGER NOT NULL, keep_reasons INTEGER NOT NULL, reconstructed INTEGER NOT NULL DEFAULT 0,"
    " attrs TEXT, hops BLOB, sender_id INTEGER NOT NULL, batch_seq INTEGER NOT NULL, status_message TEXT);"
    "CREATE INDEX spans_by_trace ON spans(trace_id);"
    "CREATE TABLE senders(sender_id INTEGER PRIMARY KEY, max_seq INTEGER NOT NULL, spans_stored INTEGER NOT NULL,"
    " counters TEXT);"
    "CREATE TABLE profiles(sender_id INTEGER NOT NULL, created_ns INTEGER NOT NULL, component TEXT NOT NULL,"
    " operation TEXT NOT NULL, count INTEGER NOT NULL, kept INTEGER NOT NULL, filtered INTEGER NOT NULL,"
    " duration_p50_ns INTEGER NOT NULL, duration_p99_ns INTEGER NOT NULL, queue_p99_ns INTEGER NOT NULL,"
    " self_time_ns INTEGER NOT NULL, name_hash INTEGER);"
    "CREATE INDEX profiles_by_hash ON profiles(name_hash, created_ns);"
    "CREATE TABLE span_kinds(name_hash INTEGER NOT NULL, span_kind INTEGER NOT NULL, votes INTEGER NOT NULL,"
    " PRIMARY KEY(name_hash, span_kind)) WITHOUT ROWID;";

/* RowBinary reading; any short read marks the cursor bad */
struct cur {
	const uint8_t *p;
	size_t len, pos;
	int bad;
};

static uint64_t rd_le(struct cur *c, int n)
{
	uint64_t v = 0;

	if (c->bad || c->len - c->pos < (size_t)n) {
		c->bad = 1;
		return 0;
	}
	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | c->p[c->pos + (size_t)i];
	c->pos += (size_t)n;
	return v;
}

static const uint8_t *rd_bytes(struct cur *c, size_t n)
{
	const uint8_t *p = c->p + c->pos;

	if (c->bad || c->len - c->pos < n) {
		c->bad = 1;
		return NULL;
	}
	c->pos += n;
	return p;
}

static const uint8_t *rd_str(struct cur *c, size_t *n)
{
	uint64_t v = 0;

	for (int shift = 0; !c->bad; shift += 7) {
		uint64_t b = rd_le(c, 1);

		if (shift > 63) {
			c->bad = 1;
			break;
		}
		v |= (b & 0x7f) << shift;
		if (!(b & 0x80))
			break;
	}
	*n = (size_t)v;
	return rd_bytes(c, *n);
}

static int query(struct dft_ch *ch, const char *sql, uint8_t **out, size_t *len)
{
	int rc = dft_ch_query(ch, sql, ANSWER_MAX, out, len);

	if (rc)
		fprintf(stderr, "difftrace: --clickhouse: %s\n", dft_ch_errmsg(ch));
	return rc;
}

/* Reads one RowBinary row at c and binds it to q: false when the row did not parse. */
typedef bool (*row_fn)(struct cur *c, sqlite3_stmt *q);

/* Runs select on ClickHouse and inserts every row it returns into the snapshot with insert. */
static int copy_rows(struct dft_ch *ch, sqlite3 *db, const char *select, const char *insert, row_fn row,
		     const char *what)
{
	struct cur c = {0};
	sqlite3_stmt *q;
	uint8_t *ans;
	int rc;

	if ((rc = query(ch, select, &ans, &c.len)))
		return rc;
	c.p = ans;
	if (sqlite3_prepare_v2(db, insert, -1, &q, NULL) != SQLITE_OK) {
		rc = -EIO;
		goto free_ans;
	}
	while (!rc && c.pos < c.len) {
		sqlite3_reset(q);
		if (!row(&c, q) || c.bad) {
			fprintf(stderr, "difftrace: --clickhouse: a %s row did not parse\n", what);
			rc = -EBADMSG;
		} else if (sqlite3_step(q) != SQLITE_DONE) {
			rc = -EIO;
		}
	}
	sqlite3_finalize(q);
free_ans:
	free(ans);
	return rc;
}

static void bind_text_or_null(sqlite3_stmt *q, int i, const uint8_t *p, size_t n, bool blob)
{
	if (!n)
		sqlite3_bind_null(q, i);
	else if (blob)
		sqlite3_bind_blob(q, i, p, (int)n, SQLITE_STATIC);
	else
		sqlite3_bind_text(q, i, (const char *)p, (int)n, SQLITE_STATIC);
}

static bool span_row(struct cur *c, sqlite3_stmt *q)
{
	const uint8_t *tid = rd_bytes(c, 16), *comp, *op, *msg, *hops;
	size_t lc, lo, lm, lh;

	for (int i = 0; i < 5; i++) /* SpanId, ParentSpanId, StartNs, end, QueueNs */
		sqlite3_bind_int64(q, 2 + i, (sqlite3_int64)rd_le(c, 8));
	comp = rd_str(c, &lc);
	op = rd_str(c, &lo);
	sqlite3_bind_int64(q, 9, (sqlite3_int64)rd_le(c, 1));  /* ComponentKind */
	sqlite3_bind_int64(q, 10, (sqlite3_int64)rd_le(c, 1)); /* StatusCode */
	sqlite3_bind_int64(q, 11, (sqlite3_int64)rd_le(c, 1)); /* SpanKind */
	sqlite3_bind_int64(q, 12, (sqlite3_int64)rd_le(c, 4)); /* Flags */
	sqlite3_bind_int64(q, 13, (sqlite3_int64)rd_le(c, 4)); /* KeepReasons */
	msg = rd_str(c, &lm);
	hops = rd_str(c, &lh);
	sqlite3_bind_int64(q, 16, (sqlite3_int64)rd_le(c, 8)); /* SenderId */
	sqlite3_bind_int64(q, 17, (sqlite3_int64)rd_le(c, 8)); /* BatchSeq */
	if (c->bad)
		return false;
	sqlite3_bind_blob(q, 1, tid, 16, SQLITE_STATIC);
	sqlite3_bind_text(q, 7, (const char *)comp, (int)lc, SQLITE_STATIC);
	sqlite3_bind_text(q, 8, (const char *)op, (int)lo, SQLITE_STATIC);
	bind_text_or_null(q, 14, msg, lm, false);
	bind_text_or_null(q, 15, hops, lh, true);
	return true;
}

static int copy_spans(struct dft_ch *ch, sqlite3 *db, const char *where)
{
	char sql[1024];

	snprintf(sql, sizeof(sql),
	         "SELECT TraceId, SpanId, ParentSpanId, StartNs, StartNs + Duration, QueueNs, toString(ServiceName),"
	         " toString(SpanName), ComponentKind, StatusCode, SpanKind, Flags, KeepReasons, StatusMessage, Hops,"
	         " SenderId, BatchSeq FROM otel_traces %s FORMAT RowBinary",
	         where);
	return copy_rows(ch, db, sql,
	                 "INSERT INTO spans(trace_id, span_id, parent_span_id, start_ns, end_ns, queue_ns,"
	                 " component, operation, kind, status, span_kind, flags, keep_reasons, status_message,"
	                 " hops, sender_id, batch_seq) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
	                 " ?12, ?13, ?14, ?15, ?16, ?17)",
	                 span_row, "span");
}

static bool profile_row(struct cur *c, sqlite3_stmt *q)
{
	const uint8_t *comp, *op;
	size_t lc, lo;

	sqlite3_bind_int64(q, 1, (sqlite3_int64)rd_le(c, 8)); /* SenderId */
	sqlite3_bind_int64(q, 2, (sqlite3_int64)rd_le(c, 8)); /* CreatedNs */
	comp = rd_str(c, &lc);
	op = rd_str(c, &lo);
	for (int i = 0; i < 7; i++)
		sqlite3_bind_int64(q, 5 + i, (sqlite3_int64)rd_le(c, 8));
	sqlite3_bind_int64(q, 12, (sqlite3_int64)rd_le(c, 4)); /* NameHash */
	if (c->bad)
		return false;
	sqlite3_bind_text(q, 3, (const char *)comp, (int)lc, SQLITE_STATIC);
	sqlite3_bind_text(q, 4, (const char *)op, (int)lo, SQLITE_STATIC);
	return true;
}

static bool kind_row(struct cur *c, sqlite3_stmt *q)
{
	sqlite3_bind_int64(q, 1, (sqlite3_int64)rd_le(c, 4)); /* NameHash */
	sqlite3_bind_int64(q, 2, (sqlite3_int64)rd_le(c, 1)); /* SpanKind */
	sqlite3_bind_int64(q, 3, (sqlite3_int64)rd_le(c, 8)); /* votes */
	return !c->bad;
}

/* The WHERE for one trace: its id, and its time range from the trace-id table (partition pruning). */
static int trace_where(struct dft_ch *ch, const char *hex, char *where, size_t len)
{
	char sql[512];
	struct cur c = {0};
	uint8_t *ans;
	uint64_t lo, hi;
	int rc;

	snprintf(sql, sizeof(sql),
	         "SELECT toUInt32(min(Start)), toUInt32(max(End)) FROM otel_traces_trace_id_ts"
	         " WHERE TraceId = unhex('%.32s') FORMAT RowBinary",
	         hex);
	if ((rc = query(ch, sql, &ans, &c.len)))
		return rc;
	c.p = ans;
	lo = rd_le(&c, 4);
	hi = rd_le(&c, 4);
	free(ans);
	if (c.bad || hi < lo || hi == 0)
		snprintf(where, len, "WHERE TraceId = unhex('%.32s')", hex);
	else
		snprintf(where, len,
		         "WHERE TraceId = unhex('%.32s') AND Timestamp BETWEEN toDateTime(%" PRIu64
		         ") AND toDateTime(%" PRIu64 ")",
		         hex, lo, hi);
	return 0;
}

int dft_ch_snapshot(const char *url, const char *trace_hex, char *path, size_t path_len)
{
	char where[512] = "";
	struct dft_ch *ch;
	sqlite3 *db = NULL;
	int fd, rc;

	snprintf(path, path_len, "%s/difftrace-ch-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	fd = mkstemp(path);
	if (fd < 0) {
		fprintf(stderr, "difftrace: --clickhouse: temporary file: %s\n", strerror(errno));
		return -errno;
	}
	close(fd);
	rc = dft_ch_open(url, &ch);
	if (rc) {
		fprintf(stderr, "difftrace: --clickhouse %s: expected http://HOST:PORT\n", url);
		goto unlink;
	}
	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "difftrace: --clickhouse: %s: %s\n", path, db ? sqlite3_errmsg(db) : "out of memory");
		rc = -EIO;
		goto close;
	}
	if (trace_hex)
		rc = trace_where(ch, trace_hex, where, sizeof(where));
	if (!rc)
		rc = copy_spans(ch, db, where);
	if (!rc)
		rc = copy_rows(ch, db,
			       "SELECT SenderId, CreatedNs, toString(Component), toString(Operation), Count, Kept,"
			       " Filtered, P50Ns, P99Ns, QueueP99Ns, SelfTimeNs, NameHash FROM dft_profiles FORMAT RowBinary",
			       "INSERT INTO profiles VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
			       profile_row, "profile");
	if (!rc)
		rc = copy_rows(ch, db,
			       "SELECT NameHash, SpanKind, sum(Votes) FROM dft_span_kinds GROUP BY NameHash, SpanKind"
			       " FORMAT RowBinary",
			       "INSERT INTO span_kinds VALUES(?1, ?2, ?3)", kind_row, "span kind");
	if (!rc && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		rc = -EIO;
	if (rc == -EIO)
		fprintf(stderr, "difftrace: --clickhouse: %s: %s\n", path, sqlite3_errmsg(db));
close:
	sqlite3_close(db);
	dft_ch_close(ch);
unlink:
	if (rc)
		unlink(path);
	return rc;
}
