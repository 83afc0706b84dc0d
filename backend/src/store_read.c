/* SPDX-License-Identifier: MIT */
/*
 * The SQLite store's reads for the collector itself: is a span stored (reconstruction), and the
 * senders and profiles restored at start. Whole traces are read through trace_read.h.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_layout.h"
#include "store_priv.h"

/* the interval too: reconstruction fits a rebuilt span into its stored parent */
static const char span_exists_sql[] =
    "SELECT s.start_ns, s.end_ns FROM trace_spans t JOIN spans s ON s.rowid BETWEEN t.lo AND t.hi"
    " WHERE t.tid = ?3 AND s.trace_id = ?1 AND s.span_id = ?2 LIMIT 1";

/* the newest row per (component, operation): SQLite takes the bare columns from the max() row */
static const char load_profiles_sql[] =
    "SELECT component, operation, max(created_ns), count, kept, filtered, duration_p50_ns, duration_p99_ns,"
    " queue_p99_ns, self_time_ns FROM profiles GROUP BY component, operation";

int dft_store_read_prepare(struct dft_store *st)
{
	if (sqlite3_prepare_v3(st->db, span_exists_sql, -1, SQLITE_PREPARE_PERSISTENT, &st->span_exists, NULL) !=
	    SQLITE_OK)
		return dft_store_fail(st, "prepare");
	return 0;
}

int dft_store_span_get(struct dft_store *st, const uint8_t trace_id[16], uint64_t span_id, uint64_t *start_ns,
                       uint64_t *end_ns)
{
	sqlite3_stmt *q = st->span_exists;
	int step;

	sqlite3_reset(q);
	if (sqlite3_bind_blob(q, 1, trace_id, 16, SQLITE_STATIC) | dft_bind_u64(q, 2, span_id) |
	    sqlite3_bind_int64(q, 3, dft_trace_key(trace_id)))
		return dft_store_fail(st, "bind span lookup");
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
		return dft_store_fail(st, "span lookup");
	return 0;
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
		return dft_store_fail(st, "select profiles");
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
		rc = dft_store_fail(st, "read profiles");
	sqlite3_finalize(q);
	return rc;
}

int dft_store_get_sender(struct dft_store *st, uint64_t sender_id, struct dft_sender *s)
{
	sqlite3_stmt *q;
	int rc = 0, step;

	if (sqlite3_prepare_v2(st->db, "SELECT max_seq, spans_stored, counters FROM senders WHERE sender_id = ?1", -1,
	                       &q, NULL) != SQLITE_OK)
		return dft_store_fail(st, "select sender");
	if (dft_bind_u64(q, 1, sender_id) != SQLITE_OK) {
		rc = dft_store_fail(st, "bind sender");
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
		rc = dft_store_fail(st, "read sender");
	}
finalize:
	sqlite3_finalize(q);
	return rc;
}

int dft_store_load_senders(struct dft_store *st, struct dft_dedup *d)
{
	sqlite3_stmt *q;
	int rc = 0, step;

	if (sqlite3_prepare_v2(st->db, "SELECT sender_id, max_seq, spans_stored, counters FROM senders", -1, &q,
	                       NULL) != SQLITE_OK)
		return dft_store_fail(st, "select senders");
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
		rc = dft_store_fail(st, "read senders");
	sqlite3_finalize(q);
	return rc;
}
