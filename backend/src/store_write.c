/* SPDX-License-Identifier: MIT */
/*
 * The SQLite store's insert path: spans, their trace_spans ranges (store_layout.h), profiles,
 * senders and span kinds, and the transaction and per-batch savepoint around them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dft/hash.h"
#include "dft/hops.h"
#include "store_layout.h"
#include "store_priv.h"

static const char ins_span_sql[] =
    "INSERT INTO spans(trace_id, span_id, parent_span_id, start_ns, end_ns, component, operation, kind,"
    " status, span_kind, queue_ns, flags, keep_reasons, reconstructed, attrs, hops, sender_id, batch_seq,"
    " status_message) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?18, ?14, ?15, ?16, ?17, ?19)";

/* a conflict needs a rowid used twice (SQLite reuses the largest after a delete): the range grows */
static const char ins_range_sql[] = "INSERT INTO trace_spans(tid, lo, hi) VALUES(?1, ?2, ?3)"
                                    " ON CONFLICT(tid, lo) DO UPDATE SET hi = max(hi, excluded.hi)";

static const char ins_profile_sql[] =
    "INSERT INTO profiles(sender_id, created_ns, component, operation, count, kept, filtered, duration_p50_ns,"
    " duration_p99_ns, queue_p99_ns, self_time_ns, name_hash) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,"
    " ?12)";

static const char put_sender_sql[] =
    "INSERT INTO senders(sender_id, max_seq, spans_stored, counters) VALUES(?1, ?2, ?3, ?4)"
    " ON CONFLICT(sender_id) DO UPDATE SET max_seq = excluded.max_seq,"
    " spans_stored = excluded.spans_stored, counters = excluded.counters";

static const char put_kind_sql[] =
    "INSERT INTO span_kinds(name_hash, span_kind, votes) VALUES(?1, ?2, ?3)"
    " ON CONFLICT(name_hash, span_kind) DO UPDATE SET votes = votes + excluded.votes";

/* a platform span the hold window released after its reconstruction: the real one replaces it */
static const char del_recon_sql[] =
    "DELETE FROM spans WHERE rowid IN (SELECT s.rowid FROM trace_spans t JOIN spans s ON s.rowid BETWEEN t.lo AND"
    " t.hi WHERE t.tid = ?3 AND s.trace_id = ?1 AND s.span_id = ?2 AND s.reconstructed = 1)";

int dft_store_write_prepare(struct dft_store *st)
{
	const struct {
		const char *sql;
		sqlite3_stmt **q;
	} qs[] = {{ins_span_sql, &st->ins_span},     {ins_range_sql, &st->ins_range}, {ins_profile_sql, &st->ins_profile},
	          {put_sender_sql, &st->put_sender}, {put_kind_sql, &st->put_kind},   {del_recon_sql, &st->del_recon}};

	for (size_t i = 0; i < sizeof(qs) / sizeof(qs[0]); i++)
		if (sqlite3_prepare_v3(st->db, qs[i].sql, -1, SQLITE_PREPARE_PERSISTENT, qs[i].q, NULL) != SQLITE_OK)
			return dft_store_fail(st, "prepare");
	return 0;
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
		return dft_store_fail(st, "BEGIN");
	st->in_txn = true;
	return 0;
}

int dft_store_commit(struct dft_store *st)
{
	if (!st->in_txn)
		return 0;
	if (sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		int rc = dft_store_fail(st, "COMMIT");

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

int dft_store_savepoint(struct dft_store *st)
{
	int rc = dft_store_begin(st);

	if (rc)
		return rc;
	if (sqlite3_exec(st->db, "SAVEPOINT dft_batch", NULL, NULL, NULL) != SQLITE_OK)
		return dft_store_fail(st, "SAVEPOINT");
	st->superseded_sp = st->superseded_txn;
	return 0;
}

int dft_store_savepoint_release(struct dft_store *st)
{
	if (sqlite3_exec(st->db, "RELEASE dft_batch", NULL, NULL, NULL) != SQLITE_OK)
		return dft_store_fail(st, "RELEASE");
	return 0;
}

void dft_store_savepoint_rollback(struct dft_store *st)
{
	/* ROLLBACK TO keeps the savepoint open: RELEASE ends it, the outer transaction goes on */
	sqlite3_exec(st->db, "ROLLBACK TO dft_batch; RELEASE dft_batch", NULL, NULL, NULL);
	st->superseded_txn = st->superseded_sp;
}

/* Writes the ranges gathered so far and empties the table (a new generation frees every slot). */
static int flush_ranges(struct dft_store *st)
{
	sqlite3_stmt *q = st->ins_range;
	int rc = 0;

	for (uint32_t i = 0; i < st->n_ranges && !rc; i++) {
		const struct dft_store_range *r = &st->ranges[st->range_used[i]];

		sqlite3_reset(q);
		if (sqlite3_bind_int64(q, 1, dft_trace_key(r->id)) | sqlite3_bind_int64(q, 2, r->lo) |
		    sqlite3_bind_int64(q, 3, r->hi))
			rc = dft_store_fail(st, "bind trace range");
		else if (sqlite3_step(q) != SQLITE_DONE)
			rc = dft_store_fail(st, "insert trace range");
	}
	st->n_ranges = 0;
	if (++st->range_gen == 0) {
		memset(st->ranges, 0, DFT_STORE_RANGE_SLOTS * sizeof(*st->ranges));
		st->range_gen = 1;
	}
	return rc;
}

/* Widens the range of id's trace in this batch to rowid (rows come in rowid order). */
static int note_range(struct dft_store *st, const uint8_t id[16], int64_t rowid)
{
	const uint32_t mask = DFT_STORE_RANGE_SLOTS - 1;
	uint64_t lo8, k;
	uint32_t i;
	int rc;

	memcpy(&lo8, id + 8, sizeof(lo8));
	/* keyed, both halves mixed in turn (a plain xor of the halves collides for chosen ids): a sender
	 * choosing ids that share one probe run would make each span cost half the table */
	k = dft_mix64((uint64_t)dft_trace_key(id) ^ st->range_seed) ^ lo8;
	i = dft_mix64(k) & mask;

	for (;;) {
		struct dft_store_range *r = &st->ranges[i];

		if (r->gen != st->range_gen)
			break;
		if (!memcmp(r->id, id, 16)) {
			r->hi = rowid;
			return 0;
		}
		i = (i + 1) & mask;
	}
	/* half full: probes stay short; the ranges so far are written now, the rest later */
	if (st->n_ranges >= DFT_STORE_RANGE_SLOTS / 2) {
		if ((rc = flush_ranges(st)))
			return rc;
		return note_range(st, id, rowid);
	}
	st->ranges[i] = (struct dft_store_range){.id = id, .lo = rowid, .hi = rowid, .gen = st->range_gen};
	st->range_used[st->n_ranges++] = i;
	return 0;
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

static int del_reconstructed(struct dft_store *st, const Difftrace__Span *s)
{
	sqlite3_stmt *d = st->del_recon;

	sqlite3_reset(d);
	if (sqlite3_bind_blob(d, 1, s->trace_id.data, 16, SQLITE_STATIC) != SQLITE_OK ||
	    dft_bind_u64(d, 2, s->span_id) != SQLITE_OK || sqlite3_bind_int64(d, 3, dft_trace_key(s->trace_id.data)) ||
	    sqlite3_step(d) != SQLITE_DONE)
		return dft_store_fail(st, "DELETE reconstructed");
	st->superseded_txn += (uint64_t)sqlite3_changes(st->db);
	return 0;
}

static int put_span(struct dft_store *st, const Difftrace__SpanBatch *b, const Difftrace__Span *s, bool reconstructed)
{
	sqlite3_stmt *q = st->ins_span;
	size_t hops_len = 0;
	int rc = 0;

	/* the ranges are found by the whole 16-byte id (batch.c refuses any other length) */
	if (s->trace_id.len != 16 || !s->trace_id.data) {
		snprintf(st->err, sizeof(st->err), "trace id of %zu bytes", s->trace_id.len);
		return -EINVAL;
	}
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
	if (st->legacy_recon && !reconstructed && s->kind == DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_PLATFORM &&
	    (rc = del_reconstructed(st, s)))
		return rc;
	sqlite3_reset(q);
	rc |= sqlite3_bind_blob(q, 1, s->trace_id.data, 16, SQLITE_STATIC);
	rc |= dft_bind_u64(q, 2, s->span_id);
	rc |= dft_bind_u64(q, 3, s->parent_span_id);
	rc |= dft_bind_u64(q, 4, s->start_ns);
	rc |= dft_bind_u64(q, 5, s->end_ns);
	rc |= sqlite3_bind_text(q, 6, b->strings[s->component], -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(q, 7, b->strings[s->operation], -1, SQLITE_STATIC);
	rc |= sqlite3_bind_int(q, 8, (int)s->kind);
	rc |= sqlite3_bind_int(q, 9, (int)s->status);
	rc |= sqlite3_bind_int64(q, 10, s->span_kind);
	rc |= dft_bind_u64(q, 11, s->queue_ns);
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
	rc |= dft_bind_u64(q, 16, b->header->sender_id);
	rc |= dft_bind_u64(q, 17, b->header->sequence);
	rc |= sqlite3_bind_int(q, 18, reconstructed);
	if (s->status_message && s->status_message[0])
		rc |= sqlite3_bind_text(q, 19, s->status_message, -1, SQLITE_STATIC);
	else
		rc |= sqlite3_bind_null(q, 19);
	if (rc != SQLITE_OK)
		return dft_store_fail(st, "bind span");
	if (sqlite3_step(q) != SQLITE_DONE)
		return dft_store_fail(st, "insert span");
	return note_range(st, s->trace_id.data, sqlite3_last_insert_rowid(st->db));
}

static int put_profile(struct dft_store *st, const Difftrace__SpanBatch *b, const Difftrace__Profile *p,
                       const Difftrace__ProfileEntry *e)
{
	sqlite3_stmt *q = st->ins_profile;
	int rc = 0;

	sqlite3_reset(q);
	rc |= dft_bind_u64(q, 1, b->header->sender_id);
	rc |= dft_bind_u64(q, 2, p->created_ns);
	rc |= sqlite3_bind_text(q, 3, b->strings[e->component], -1, SQLITE_STATIC);
	rc |= sqlite3_bind_text(q, 4, b->strings[e->operation], -1, SQLITE_STATIC);
	rc |= dft_bind_u64(q, 5, e->count);
	rc |= dft_bind_u64(q, 6, e->kept);
	rc |= dft_bind_u64(q, 7, e->filtered);
	rc |= dft_bind_u64(q, 8, e->duration_p50_ns);
	rc |= dft_bind_u64(q, 9, e->duration_p99_ns);
	rc |= dft_bind_u64(q, 10, e->queue_p99_ns);
	rc |= dft_bind_u64(q, 11, e->self_time_ns);
	rc |= sqlite3_bind_int64(q, 12,
	                         dft_hops_name_hash(b->strings[e->component], strlen(b->strings[e->component]),
	                                            b->strings[e->operation], strlen(b->strings[e->operation])));
	if (rc != SQLITE_OK)
		return dft_store_fail(st, "bind profile");
	if (sqlite3_step(q) != SQLITE_DONE)
		return dft_store_fail(st, "insert profile");
	return 0;
}

static int put_spans(struct dft_store *st, const Difftrace__SpanBatch *b, bool reconstructed)
{
	int rc;

	rc = dft_store_begin(st);
	if (rc)
		return rc;
	for (size_t i = 0; i < b->n_spans && !rc; i++)
		rc = put_span(st, b, b->spans[i], reconstructed);
	if (rc) {
		/*
		 * The rows stored so far stay findable should the caller keep them; the caller's rollback
		 * takes the ranges too. A transaction SQLite ended itself (disk full) gets no new writes.
		 */
		char err[sizeof(st->err)];

		memcpy(err, st->err, sizeof(err));
		if (sqlite3_get_autocommit(st->db))
			st->n_ranges = 0;
		flush_ranges(st);
		memcpy(st->err, err, sizeof(err)); /* the first failure is the one to report */
		return rc;
	}
	return flush_ranges(st);
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

int dft_store_put_kind(struct dft_store *st, uint32_t name_hash, uint32_t span_kind, uint64_t votes)
{
	sqlite3_stmt *q = st->put_kind;
	int rc;

	rc = dft_store_begin(st);
	if (rc)
		return rc;
	sqlite3_reset(q);
	if (sqlite3_bind_int64(q, 1, name_hash) | sqlite3_bind_int64(q, 2, span_kind) | dft_bind_u64(q, 3, votes))
		return dft_store_fail(st, "bind span kind");
	if (sqlite3_step(q) != SQLITE_DONE)
		return dft_store_fail(st, "update span kind");
	return 0;
}

int dft_store_put_sender(struct dft_store *st, const struct dft_sender *s)
{
	sqlite3_stmt *q = st->put_sender;
	struct dft_buf cj;
	int rc = 0;

	if (dft_counters_json_new(&cj, &s->counters))
		return -ENOMEM;
	rc = dft_store_begin(st);
	if (rc)
		goto free_json;
	sqlite3_reset(q);
	if (dft_bind_u64(q, 1, s->sender_id) | dft_bind_u64(q, 2, s->max_seq) |
	    dft_bind_u64(q, 3, s->spans_stored + s->pending_spans) |
	    sqlite3_bind_text(q, 4, cj.p, (int)cj.len, SQLITE_TRANSIENT)) {
		rc = dft_store_fail(st, "bind sender");
		goto free_json;
	}
	if (sqlite3_step(q) != SQLITE_DONE)
		rc = dft_store_fail(st, "update sender");
free_json:
	dft_buf_free(&cj);
	return rc;
}
