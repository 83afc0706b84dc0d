/* SPDX-License-Identifier: MIT */
/*
 * Accounts per (sender, NIC epoch). A NIC draws a random epoch at every start and numbers its
 * batches from 1 under it, so a NIC killed and restarted is a new account: its sequences cannot
 * collide with the dead instance's (which a restarted collector would otherwise take for resends
 * and drop), and what the dead instance never got stored is charged to the dead instance.
 *
 * Table epochs, one row per (sender, epoch): the durable maximum sequence and the spans stored
 * under it (this collector's own count), the counters of the newest stored batch (the NIC's
 * claims), and, once the epoch is closed, its account: produced = stored + filtered + lost_* +
 * lost_unacked, lost_unacked being what the claims call produced and that was neither stored nor
 * counted by the NIC as filtered or lost. A claim is bounded by what the collector saw: the NIC
 * reads the hosts' produced counters only every so often, so a batch's produced may lag the spans
 * it already batched; a closed epoch's produced is never less than what it stored plus what it
 * said it filtered and lost. A closed epoch never reopens: a
 * batch of it read late (from a dead instance's socket buffer) is refused.
 *
 * The sender's current epoch lives in its dedup entry (s->epoch); the senders row keeps the
 * current epoch's maximum, so everything dedup needs stays where it was.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "collector.h"
#include "dedup.h"
#include "epochs.h"
#include "json.h"
#include "store_sqlite.h"

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS epochs(sender_id INTEGER NOT NULL, epoch INTEGER NOT NULL,"
    " max_seq INTEGER NOT NULL, spans_stored INTEGER NOT NULL, counters TEXT, lost_unacked INTEGER NOT NULL"
    " DEFAULT 0, closed INTEGER NOT NULL DEFAULT 0, produced INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(sender_id, epoch)) WITHOUT ROWID";

static const char put_sql[] =
    "INSERT INTO epochs(sender_id, epoch, max_seq, spans_stored, counters, lost_unacked, closed, produced)"
    " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(sender_id, epoch) DO UPDATE SET max_seq = excluded.max_seq,"
    " spans_stored = excluded.spans_stored, counters = excluded.counters, lost_unacked = excluded.lost_unacked,"
    " closed = excluded.closed, produced = excluded.produced";

int dft_epochs_init(struct dft_store *st)
{
	char *err = NULL;

	if (sqlite3_exec(dft_store_sqlite(st), schema_sql, NULL, NULL, &err) != SQLITE_OK) {
		fprintf(stderr, "difftrace-collector: epochs table: %s\n", err ? err : "?");
		sqlite3_free(err);
		return -EIO;
	}
	return 0;
}

/* stored + filtered + lost_*, saturating: the claims are a peer's, and a sum of them may wrap */
static uint64_t accounted(const struct dft_counters *c, uint64_t stored)
{
	uint64_t parts[] = {stored, c->filtered, c->lost_ring_full, c->lost_invalid, c->lost_backlog_full,
	                    c->lost_transport, c->lost_hold_overflow, c->lost_no_ring};
	uint64_t sum = 0;

	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		sum = sum + parts[i] < sum ? UINT64_MAX : sum + parts[i];
	return sum;
}

uint64_t dft_epoch_lost(const struct dft_counters *c, uint64_t stored)
{
	uint64_t sum = accounted(c, stored);

	return c->produced > sum ? c->produced - sum : 0;
}

static int put_row(struct dft_store *st, const struct dft_sender *s, uint64_t lost, bool closed)
{
	uint64_t stored = s->epoch_spans + s->pending_spans, sum = accounted(&s->counters, stored);
	/* the open epoch shows the claim as it is; a closed one's is bounded below by what was seen */
	uint64_t produced = closed && sum > s->counters.produced ? sum : s->counters.produced;
	sqlite3 *db = dft_store_sqlite(st);
	sqlite3_stmt *q;
	struct dft_buf cj;
	int rc = 0;

	if (dft_counters_json_new(&cj, &s->counters))
		return -ENOMEM;
	if (sqlite3_prepare_v2(db, put_sql, -1, &q, NULL) != SQLITE_OK) {
		rc = -EIO;
		goto free_json;
	}
	if (sqlite3_bind_int64(q, 1, (sqlite3_int64)s->sender_id) || sqlite3_bind_int64(q, 2, (sqlite3_int64)s->epoch) ||
	    sqlite3_bind_int64(q, 3, (sqlite3_int64)s->max_seq) ||
	    sqlite3_bind_int64(q, 4, (sqlite3_int64)stored) ||
	    sqlite3_bind_text(q, 5, cj.p, (int)cj.len, SQLITE_TRANSIENT) ||
	    sqlite3_bind_int64(q, 6, (sqlite3_int64)lost) || sqlite3_bind_int(q, 7, closed) ||
	    sqlite3_bind_int64(q, 8, (sqlite3_int64)produced) ||
	    sqlite3_step(q) != SQLITE_DONE) {
		fprintf(stderr, "difftrace-collector: epochs row: %s\n", sqlite3_errmsg(db));
		rc = -EIO;
	}
	sqlite3_finalize(q);
free_json:
	dft_buf_free(&cj);
	return rc;
}

int dft_epoch_put(struct dft_store *st, const struct dft_sender *s)
{
	return put_row(st, s, 0, false);
}

/* 1: the (sender, epoch) row is closed, 0: it is not (or there is none), -EIO */
static int epoch_closed(struct dft_store *st, uint64_t sender_id, uint64_t epoch)
{
	sqlite3_stmt *q;
	int rc, step;

	if (sqlite3_prepare_v2(dft_store_sqlite(st), "SELECT closed FROM epochs WHERE sender_id = ?1 AND epoch = ?2",
	                       -1, &q, NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)sender_id);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)epoch);
	step = sqlite3_step(q);
	rc = step == SQLITE_ROW ? sqlite3_column_int(q, 0) != 0 : step == SQLITE_DONE ? 0 : -EIO;
	sqlite3_finalize(q);
	return rc;
}

int dft_epoch_begin(struct dft_store *st, struct dft_sender *s, uint64_t epoch, struct dft_collector_stats *cs)
{
	uint64_t lost;
	int rc;

	rc = epoch_closed(st, s->sender_id, epoch);
	if (rc)
		return rc < 0 ? rc : -ESTALE;
	rc = dft_store_begin(st);
	if (rc)
		return rc;
	/* an epoch that never got a batch stored has no account to close */
	if (s->max_seq || s->epoch_spans || s->pending_spans || s->counters_seq) {
		lost = dft_epoch_lost(&s->counters, s->epoch_spans + s->pending_spans);
		rc = put_row(st, s, lost, true);
		if (rc)
			return rc;
		cs->round_closed++;
		fprintf(stderr,
		        "difftrace-collector: sender %016llx: epoch %016llx closed (its NIC restarted as %016llx): %" PRIu64
		        " spans stored, %" PRIu64 " produced and never stored counted lost\n",
		        (unsigned long long)s->sender_id, (unsigned long long)s->epoch, (unsigned long long)epoch,
		        s->epoch_spans + s->pending_spans, lost);
	}
	cs->round_begun++;
	/* spans of the closed epoch in the open transaction stay in the sender's lifetime total */
	s->spans_stored += s->pending_spans;
	s->pending_spans = 0;
	s->epoch = epoch;
	s->epoch_spans = 0;
	s->max_seq = 0;
	s->durable_seq = 0;
	s->window = 0;
	s->counters_seq = 0;
	memset(&s->counters, 0, sizeof(s->counters));
	s->epoch_new = true;
	s->dirty = true;
	return put_row(st, s, 0, false);
}

static void restore_row(struct dft_sender *s, sqlite3_stmt *q)
{
	s->epoch = (uint64_t)sqlite3_column_int64(q, 0);
	s->epoch_spans = (uint64_t)sqlite3_column_int64(q, 1);
	s->epoch_new = false;
}

int dft_epoch_restore(struct dft_store *st, struct dft_sender *s)
{
	sqlite3_stmt *q;
	int step;

	/* a store from before epochs: one account, epoch 0, holding everything the sender stored */
	s->epoch = 0;
	s->epoch_spans = s->spans_stored;
	s->epoch_new = false;
	if (sqlite3_prepare_v2(dft_store_sqlite(st),
	                       "SELECT epoch, spans_stored FROM epochs WHERE sender_id = ?1 AND closed = 0", -1, &q,
	                       NULL) != SQLITE_OK)
		return -EIO;
	sqlite3_bind_int64(q, 1, (sqlite3_int64)s->sender_id);
	step = sqlite3_step(q);
	if (step == SQLITE_ROW)
		restore_row(s, q);
	sqlite3_finalize(q);
	return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -EIO;
}

int dft_epochs_load(struct dft_store *st, struct dft_dedup *d)
{
	struct dft_sender *s;
	uint32_t i = 0;
	int rc;

	while ((s = dft_dedup_next(d, &i))) {
		rc = dft_epoch_restore(st, s);
		if (rc)
			return rc;
	}
	return 0;
}

void dft_epochs_rollback(struct dft_dedup *d)
{
	uint64_t ids[64];
	unsigned n;

	do {
		struct dft_sender *s;
		uint32_t i = 0;

		/* removal moves entries: collect a handful of ids, then remove them by id */
		n = 0;
		while (n < 64 && (s = dft_dedup_next(d, &i)))
			if (s->epoch_new)
				ids[n++] = s->sender_id;
		for (unsigned k = 0; k < n; k++) {
			s = dft_dedup_get(d, ids[k], false);
			if (s)
				dft_dedup_remove(d, s);
		}
	} while (n == 64);
}
