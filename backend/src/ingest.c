/* SPDX-License-Identifier: MIT */
/*
 * The collector's ingest core (ingest.h): what a batch goes through whichever transport brought it,
 * and the round's group commit.
 *
 *   ingest: decode, validate (invalid: frames_bad, drop the connection), dedup; a new batch goes
 *   to every sink and into the open SQLite transaction, with its profile entries, and its
 *   function spans' missing hops become reconstruction candidates;
 *   end of round: export the reconstruction candidates that are due (rebuilt from the store as
 *   readers rebuild them; nothing rebuilt is stored), then group commit: flush the sinks (OTLP JSON
 *   lands before the spans are durable, so a crash can duplicate an export but never lose one),
 *   write the senders rows, COMMIT, then queue the ACKs and return the RDMA credits; if anything
 *   fails, roll back and drop the connections whose batches were in the round (RDMA: restart the
 *   transport, dropping all of its connections, as credits cannot be withheld per connection), so
 *   their senders reconnect and resend.
 *
 * A sender may run at most seq_window ahead of its durable maximum; a batch the store refuses is
 * undone alone (savepoint) (docs/security.md).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "batch.h"
#include "collector_impl.h"
#include "epochs.h"
#include "health.h"
#include "ingest.h"
#include "json.h"
#include "store_sqlite.h"

struct dft_sender *dft_ingest_sender(struct dft_collector *c, uint64_t sender_id)
{
	struct dft_sender *s = dft_dedup_get(&c->dedup, sender_id, false);
	int rc;

	if (s)
		goto touch;
	s = dft_dedup_get(&c->dedup, sender_id, true);
	if (!s) {
		fprintf(stderr, "difftrace-collector: sender %016llx: refused: every sender table entry has "
		                "uncommitted batches\n", (unsigned long long)sender_id);
		return NULL;
	}
	rc = dft_store_get_sender(c->store, sender_id, s);
	if (rc > 0)
		rc = dft_epoch_restore(c->store, s);
	if (rc < 0) {
		fprintf(stderr, "difftrace-collector: sender %016llx: store: %s\n", (unsigned long long)sender_id,
		        dft_store_errmsg(c->store));
		dft_dedup_remove(&c->dedup, s);
		return NULL;
	}
touch:
	s->last_ms = c->now_ms;
	return s;
}

/* b to every sink, in order; the first failure stops it (the round will roll back). */
static int sinks_put(struct dft_collector *c, const Difftrace__SpanBatch *b, bool reconstructed, uint64_t *exported)
{
	unsigned i;
	int rc;

	for (i = 0; i < c->nsinks; i++) {
		rc = c->sinks[i].ops->put(c->sinks[i].ctx, b, reconstructed, exported);
		if (rc) {
			fprintf(stderr, "difftrace-collector: sink %s: %s\n", c->sinks[i].ops->name, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/*
 * Everything a new batch goes to. The store comes first, under a savepoint: a batch it refuses is
 * undone alone and -EBADMSG returned (counted; the sender's connection is dropped, nothing of the
 * others' is touched). Any other failure makes the whole round roll back.
 */
static int take_batch(struct dft_collector *c, struct dft_sender *s, const Difftrace__SpanBatch *b)
{
	uint64_t exported = 0;
	unsigned i;
	int rc;

	rc = dft_store_savepoint(c->store);
	if (rc) {
		fprintf(stderr, "difftrace-collector: store: %s\n", dft_store_errmsg(c->store));
		return rc;
	}
	rc = dft_store_put_batch(c->store, b);
	if (rc && dft_store_fault(c->store)) {
		/* the disk, not the batch: the round fails and its senders are told BUSY */
		dft_health_failed(&c->stats, c->now_ms, dft_store_errmsg(c->store));
		dft_store_savepoint_rollback(c->store);
		return -EIO;
	}
	if (rc) {
		fprintf(stderr, "difftrace-collector: sender %016llx: batch %llu refused by the store (%s): undone alone\n",
		        (unsigned long long)s->sender_id, (unsigned long long)b->header->sequence,
		        dft_store_errmsg(c->store));
		dft_store_savepoint_rollback(c->store);
		c->stats.batches_refused++;
		return -EBADMSG;
	}
	rc = dft_store_savepoint_release(c->store);
	if (rc) {
		fprintf(stderr, "difftrace-collector: store: %s\n", dft_store_errmsg(c->store));
		return rc;
	}
	rc = sinks_put(c, b, false, &exported);
	if (rc)
		return rc;
	/* profiles first: the candidates of this very batch are estimated with its own summary */
	dft_profiles_put_batch(&c->profiles, b);
	for (i = 0; i < b->n_spans; i++) {
		rc = dft_recon_add(c->recon, c->store, b, b->spans[i], c->now_ms);
		if (rc) {
			fprintf(stderr, "difftrace-collector: reconstruction: %s\n", strerror(-rc));
			return rc;
		}
	}
	for (i = 0; i < b->n_profiles; i++)
		c->round_profiles += b->profiles[i]->n_entries;
	c->round_exported += exported;
	c->round_batches++;
	s->pending_spans += b->n_spans;
	if (b->header->sequence > s->counters_seq) {
		s->counters_seq = b->header->sequence;
		dft_counters_from_proto(&s->counters, b->header->counters);
	}
	return 0;
}

void dft_collector_set_clock(struct dft_collector *c, uint64_t now_ms)
{
	c->now_ms = now_ms;
}

int dft_collector_ingest(struct dft_collector *c, uint64_t sender_id, uint64_t expect_seq, const uint8_t *p, size_t len,
                         uint64_t *seq, bool *dup)
{
	struct dft_decoded *dec;
	const Difftrace__SpanBatch *b;
	struct dft_sender *s;
	const char *reason = NULL;
	int rc;

	if (c->round_failed)
		return -EIO; /* stop taking work the round cannot commit */
	rc = dft_batch_check(p, len, sender_id, expect_seq, &dec, &reason);
	if (rc) {
		c->stats.frames_bad++;
		fprintf(stderr, "difftrace-collector: sender %016llx: bad batch: %s\n", (unsigned long long)sender_id,
		        reason);
		return rc == -ENOMEM ? rc : -EBADMSG;
	}
	b = dec->batch;
	s = dft_ingest_sender(c, sender_id);
	if (!s) {
		rc = -EDQUOT;
		goto free_batch;
	}
	*seq = b->header->sequence;
	if (b->header->epoch != s->epoch) {
		rc = dft_epoch_begin(c->store, s, b->header->epoch, &c->stats);
		if (rc == -ESTALE) {
			c->stats.batches_stale_epoch++;
			fprintf(stderr, "difftrace-collector: sender %016llx: batch %llu of epoch %016llx refused: that "
			                "epoch was closed when a newer one began\n", (unsigned long long)sender_id,
			        (unsigned long long)*seq, (unsigned long long)b->header->epoch);
			rc = -EBADMSG;
			goto free_batch;
		}
		if (rc) {
			c->round_failed = true;
			goto free_batch;
		}
	}
	/*
	 * The sequence is a claim: one far ahead of what this collector made durable would become the
	 * new maximum and turn every later honest batch into a "duplicate". An honest sender is never
	 * more than its backlog (plus a round) ahead.
	 */
	if (*seq > s->durable_seq && *seq - s->durable_seq > c->cfg.seq_window) {
		c->stats.batches_seq_refused++;
		fprintf(stderr, "difftrace-collector: sender %016llx: batch refused: sequence %llu is more than %llu "
		                "ahead of the acknowledged %llu\n", (unsigned long long)sender_id,
		        (unsigned long long)*seq, (unsigned long long)c->cfg.seq_window,
		        (unsigned long long)s->durable_seq);
		rc = -EBADMSG;
		goto free_batch;
	}
	*dup = !dft_dedup_is_new(s, *seq);
	if (*dup) {
		/* already stored, or in this very round: acknowledged after the commit like any other */
		c->stats.batches_duplicate++;
	} else {
		rc = take_batch(c, s, b);
		if (rc == 0)
			dft_dedup_accept(s, *seq);
		else if (rc != -EBADMSG)
			c->round_failed = true;
	}
free_batch:
	dft_batch_free(dec);
	return rc;
}

/* Roll back the round and drop the connections that fed it, so their senders resend. */
static void round_abort(struct dft_collector *c)
{
	c->stats.commit_failures++;
	dft_store_rollback(c->store);
	dft_dedup_rollback(&c->dedup);
	dft_epochs_rollback(&c->dedup);
	dft_recon_rollback(c->recon);
	/* the transports drop the connections whose batches were in the round */
	dft_tcp_round_end(c, false);
	dft_rdma_hookup_round_end(c, false);
}

static int round_commit(struct dft_collector *c)
{
	struct dft_sender *s;
	uint32_t it = 0;
	unsigned i;
	int rc;

	if (c->round_failed)
		goto abort;
	if (dft_store_in_txn(c->store)) {
		for (i = 0; i < c->nsinks; i++) {
			rc = c->sinks[i].ops->flush(c->sinks[i].ctx);
			if (rc) {
				char why[128];

				snprintf(why, sizeof(why), "sink %s flush: %s", c->sinks[i].ops->name, strerror(-rc));
				dft_health_failed(&c->stats, c->now_ms, why);
				goto abort;
			}
		}
		while ((s = dft_dedup_next(&c->dedup, &it))) {
			if (s->dirty && (dft_store_put_sender(c->store, s) || dft_epoch_put(c->store, s))) {
				dft_health_failed(&c->stats, c->now_ms, dft_store_errmsg(c->store));
				goto abort;
			}
		}
		dft_fault_commit_delay();
		if (dft_fault_store_full()) {
			dft_health_failed(&c->stats, c->now_ms, "database or disk is full (injected by DFT_FAULT_STORE_FULL)");
			goto abort;
		}
		if (dft_store_commit(c->store)) {
			dft_health_failed(&c->stats, c->now_ms, dft_store_errmsg(c->store));
			goto abort;
		}
		dft_health_ok(&c->stats, c->now_ms);
		c->stats.epochs_begun += c->stats.round_begun;
		c->stats.epochs_closed += c->stats.round_closed;
		dft_dedup_commit(&c->dedup);
		c->stats.commits++;
		c->stats.batches_accepted += c->round_batches;
		c->stats.spans_exported += c->round_exported;
		c->stats.profiles_stored += c->round_profiles;
	}
	dft_recon_commit(c->recon);
	dft_tcp_round_end(c, true);
	dft_rdma_hookup_round_end(c, true);
	rc = 0;
	goto reset;
abort:
	round_abort(c);
	rc = -EIO;
reset:
	c->round_batches = 0;
	c->round_exported = 0;
	c->round_profiles = 0;
	c->round_failed = false;
	c->stats.round_begun = 0;
	c->stats.round_closed = 0;
	return rc;
}

static int emit_reconstructed(void *arg, const Difftrace__SpanBatch *b)
{
	struct dft_collector *c = arg;
	uint64_t exported = 0;
	int rc;

	rc = sinks_put(c, b, true, &exported);
	if (rc)
		return rc;
	/* not stored: readers rebuild the same spans from the hop lists and profiles (invariant 6) */
	c->round_exported += exported;
	return 0;
}

int dft_ingest_end_round(struct dft_collector *c, uint64_t due_limit)
{
	int rc;

	if (!c->round_failed) {
		rc = dft_recon_run(c->recon, c->store, &c->profiles, due_limit, emit_reconstructed, c);
		if (rc)
			c->round_failed = true;
	}
	return round_commit(c);
}

int dft_collector_end_round(struct dft_collector *c)
{
	return dft_ingest_end_round(c, c->now_ms);
}
