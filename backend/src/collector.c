/* SPDX-License-Identifier: MIT */
/*
 * The collector's event loop: one thread, poll() over the stop fd and the transport: with TCP the
 * listener and every connection; with RDMA the connection-manager fd, while completions are polled
 * every round (busy while batches come, 1 ms naps when idle).
 *
 * One poll round:
 *   1. TCP: accept new connections (past max_conns or the peer's quota: evict the oldest connection
 *      that has not said HELLO, else accept and close at once, counted), read each
 *      readable connection up to a per-round budget and handle every complete frame:
 *        HELLO(sender, 0)  -> ACK(sender, durable max sequence of that sender), sent at once;
 *        BATCH             -> the shared ingest path (below); its ACK waits for the commit;
 *      RDMA: poll the server; each received slot goes through the same ingest path, the sender
 *      being the one of the RDMA connect;
 *      ingest: decode, validate (invalid: frames_bad, drop the connection), dedup; a new batch goes
 *      to every sink and into the open SQLite transaction, with its profile entries, and its
 *      function spans' missing hops become reconstruction candidates;
 *   2. export the reconstruction candidates that are due (rebuilt from the store as readers
 *      rebuild them; nothing rebuilt is stored);
 *   3. group commit: flush the sinks (OTLP JSON lands before the spans are durable, so a crash can
 *      duplicate an export but never lose one), write the senders rows, COMMIT, then queue the ACKs
 *      and return the RDMA credits; if anything fails, roll back and drop the connections whose
 *      batches were in the round (RDMA: restart the transport, dropping all of its connections, as
 *      credits cannot be withheld per connection), so their senders reconnect and resend;
 *   4. write queued ACKs; rewrite the stats file once a second.
 * The read budget bounds both the transaction and the ACKs a round can queue on one connection;
 * the RDMA ring bounds what a connection can hand over before its credits come back.
 *
 * Limits no peer can exhaust (docs/security.md): connections per source address and in total, with
 * connections that have not said HELLO evicted first; HELLO, and every frame once begun, due within
 * read_timeout_ms; nothing received for idle_timeout_ms closes a connection; one memory budget for
 * frames larger than a connection's base buffer, across all connections; a sender may run at most
 * seq_window ahead of its durable maximum; a batch the store refuses is undone alone (savepoint).
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <openssl/ssl.h>

#include "dft/clock.h"
#include "collector.h"
#include "sink_clickhouse.h"

#ifdef DFT_HAVE_RDMA
#include "dft/rdma.h"
#include "rdma_trust.h"
#endif

#define ROUND_BYTES_PER_CONN (1u << 20)
#define ROUND_ACKS_PER_CONN  2048u
#define READ_CHUNK           (64u << 10)
#define ACCEPT_PER_ROUND     16

struct pending_ack {
	uint32_t slot;
	uint32_t gen;
	uint64_t sender_id;
	uint64_t seq;
};

struct dft_collector {
	struct dft_collector_cfg cfg;
	int lfd;
	uint16_t port;
	struct dft_conn *conns;
	struct pollfd *pfds;
	uint32_t next_gen;
	struct dft_store *store;
	struct dft_dedup dedup;
	struct dft_sink sinks[3];
	unsigned nsinks;
	struct dft_otlp_http *http; /* also sinks[]: the sink owns it */
	struct dft_collector_stats stats;
	struct dft_profiles profiles;
	struct dft_recon *recon;
	struct dft_frame_budget budget; /* partial frames of every connection together */
	SSL_CTX *tls;                   /* NULL: --insecure */
#ifdef DFT_HAVE_RDMA
	struct dft_rdma_server *rdma;
	struct dft_rdma_server_stats rdma_base; /* what servers before a restart counted */
	struct dft_rdma_trust *rdma_trust;      /* NULL: --insecure, no keys */
#endif

	/* the current round */
	uint64_t now_ms;
	struct pending_ack *acks;
	size_t nacks, acks_cap;
	uint64_t round_batches;
	uint64_t round_exported;
	uint64_t round_profiles;
	uint64_t round_rdma; /* RDMA batches handed over in this round */
	bool round_failed;

	uint8_t chunk[READ_CHUNK];
};

struct frame_ctx {
	struct dft_collector *c;
	struct dft_conn *cn;
	uint32_t slot;
	int cb_rc;       /* what the callback returned last: tells its errors from the reader's */
	uint32_t frames; /* complete frames handled */
};

static void log_conn(const struct dft_conn *cn, const char *what, const char *detail)
{
	fprintf(stderr, "difftrace-collector: connection fd %d sender %016llx: %s%s%s\n", cn->fd,
	        (unsigned long long)cn->sender_id, what, detail ? ": " : "", detail ? detail : "");
}

/*
 * The sender's entry, reloaded from the store when it is not in the table (evicted as idle, or
 * past the table when the collector started), so dedup never forgets a committed sequence.
 * NULL: every entry is busy (counted in senders_refused) or the store failed.
 */
static struct dft_sender *sender_get(struct dft_collector *c, uint64_t sender_id)
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

/* A sender past its connection quota: its least recently active connection goes (a NIC that
 * reconnects while its old connection is half-open must get in). */
static void sender_conn_quota(struct dft_collector *c, const struct dft_conn *cn, struct dft_sender *s)
{
	struct dft_conn *old = NULL;
	uint32_t i, n = 0;

	if (s->conns < c->cfg.max_conns_per_peer)
		return;
	for (i = 0; i < c->cfg.max_conns; i++) {
		struct dft_conn *o = &c->conns[i];

		if (o == cn || o->fd < 0 || !o->hello || o->closing || o->sender_id != s->sender_id)
			continue;
		n++;
		if (!old || o->last_rx_ms < old->last_rx_ms)
			old = o;
	}
	if (old && n >= c->cfg.max_conns_per_peer) {
		c->stats.sender_conns_evicted++;
		log_conn(old, "closed", "its sender opened more connections than max_conns_per_peer");
		old->closing = true;
	}
}

static int ack_later(struct dft_collector *c, uint32_t slot, struct dft_conn *cn, uint64_t seq)
{
	if (c->nacks == c->acks_cap) {
		size_t ncap = c->acks_cap ? 2 * c->acks_cap : 1024;
		struct pending_ack *na = realloc(c->acks, ncap * sizeof(*na));

		if (!na)
			return -ENOMEM;
		c->acks = na;
		c->acks_cap = ncap;
	}
	c->acks[c->nacks++] = (struct pending_ack){slot, cn->gen, cn->sender_id, seq};
	cn->round_acks++;
	return 0;
}

static int on_hello(struct dft_collector *c, struct dft_conn *cn, const uint8_t *p, uint32_t len)
{
	struct dft_sender *s;
	uint64_t sender_id, epoch;

	if (cn->hello || dft_frame_ack_decode(p, len, &sender_id, &epoch)) {
		c->stats.frames_bad++;
		log_conn(cn, "bad frame", "second HELLO");
		return -EBADMSG;
	}
	/* with TLS the certificate says who this is; the HELLO may only agree */
	if (cn->ssl && sender_id != cn->cert_sender_id) {
		char why[96];

		c->stats.hello_refused++;
		snprintf(why, sizeof(why), "HELLO names sender %016llx, the certificate %016llx",
		         (unsigned long long)sender_id, (unsigned long long)cn->cert_sender_id);
		log_conn(cn, "refused", why);
		return -EACCES;
	}
	s = sender_get(c, sender_id);
	if (!s) {
		log_conn(cn, "refused", "sender table busy");
		return -EDQUOT;
	}
	sender_conn_quota(c, cn, s);
	s->conns++;
	cn->hello = true;
	cn->sender_id = sender_id;
	cn->epoch = epoch;
	/* durable_seq, not max_seq: only what is committed may be dropped from the sender's backlog;
	 * an epoch other than the current one has nothing durable here yet (a restarted NIC) */
	return dft_conn_queue_ack(cn, sender_id, epoch == s->epoch ? s->durable_seq : 0);
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
	for (i = 0; i < c->nsinks; i++) {
		rc = c->sinks[i].ops->put(c->sinks[i].ctx, b, false, &exported);
		if (rc) {
			fprintf(stderr, "difftrace-collector: sink %s: %s\n", c->sinks[i].ops->name, strerror(-rc));
			return rc;
		}
	}
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
	s = sender_get(c, sender_id);
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

static int on_batch(struct dft_collector *c, uint32_t slot, struct dft_conn *cn, const uint8_t *p, uint32_t len)
{
	uint64_t seq;
	bool dup;
	int rc;

	if (!cn->hello) {
		c->stats.frames_bad++;
		log_conn(cn, "bad frame", "BATCH before HELLO");
		return -EBADMSG;
	}
	rc = dft_collector_ingest(c, cn->sender_id, 0, p, len, &seq, &dup);
	if (rc)
		return rc;
	rc = ack_later(c, slot, cn, seq);
	if (rc)
		c->round_failed = true;
	return rc;
}

static int on_frame(void *arg, uint16_t type, const uint8_t *payload, uint32_t len)
{
	struct frame_ctx *fc = arg;
	struct dft_collector *c = fc->c;

	c->stats.frames++;
	fc->frames++;
	if (c->round_failed) {
		fc->cb_rc = -EIO; /* stop taking work the round cannot commit */
	} else if (type == DFT_FRAME_HELLO) {
		fc->cb_rc = on_hello(c, fc->cn, payload, len);
	} else if (type == DFT_FRAME_BATCH) {
		fc->cb_rc = on_batch(c, fc->slot, fc->cn, payload, len);
	} else {
		c->stats.frames_bad++;
		log_conn(fc->cn, "bad frame", "unexpected frame type from a sender");
		fc->cb_rc = -EBADMSG;
	}
	return fc->cb_rc;
}

static void read_conn(struct dft_collector *c, uint32_t slot)
{
	struct dft_conn *cn = &c->conns[slot];
	struct frame_ctx fc = {c, cn, slot, 0, 0};

	if (cn->ssl && !cn->tls_done) {
		char err[256];
		int rc = dft_conn_handshake(cn, err, sizeof(err));

		if (rc == 0)
			return;
		if (rc < 0) {
			c->stats.tls_refused++;
			log_conn(cn, "refused", err);
			cn->closing = true;
			return;
		}
		cn->last_rx_ms = c->now_ms;
	}
	while (!cn->closing && cn->round_bytes < ROUND_BYTES_PER_CONN && cn->round_acks < ROUND_ACKS_PER_CONN) {
		ssize_t r = dft_conn_recv(cn, c->chunk, sizeof(c->chunk));
		uint32_t frames = fc.frames;
		int rc;

		if (r == 0)
			break;
		if (r < 0) {
			cn->closing = true;
			break;
		}
		cn->round_bytes += (size_t)r;
		cn->last_rx_ms = c->now_ms;
		rc = dft_frame_rx_feed(&cn->rx, c->chunk, (size_t)r, on_frame, &fc);
		/* the read timeout runs from the start of the frame in progress, however slowly it trickles */
		if (cn->rx.have == 0)
			cn->partial_since_ms = 0;
		else if (fc.frames != frames || !cn->partial_since_ms)
			cn->partial_since_ms = c->now_ms;
		if (rc == -ENOBUFS && fc.cb_rc == 0) {
			/* counted in the budget's refused */
			log_conn(cn, "dropped", "frame refused: the partial-frame memory budget is spent");
			cn->closing = true;
			break;
		}
		if (rc) {
			if (fc.cb_rc == 0) {
				/* the reader refused a frame header: the callback never saw that frame */
				c->stats.frames++;
				c->stats.frames_bad++;
				log_conn(cn, "bad frame header", strerror(-rc));
			}
			cn->closing = true;
			break;
		}
	}
}

static void close_slot(struct dft_collector *c, uint32_t slot)
{
	struct dft_conn *cn = &c->conns[slot];

	if (cn->fd >= 0 && cn->hello) {
		struct dft_sender *s = dft_dedup_get(&c->dedup, cn->sender_id, false);

		if (s && s->conns)
			s->conns--;
	}
	dft_conn_close(cn);
}

/* Closes connections past their deadlines: HELLO or a frame in progress (read timeout), silence. */
static void sweep_conns(struct dft_collector *c)
{
	uint32_t i;

	for (i = 0; i < c->cfg.max_conns; i++) {
		struct dft_conn *cn = &c->conns[i];

		if (cn->fd < 0 || cn->closing)
			continue;
		if (!cn->hello && c->now_ms - cn->opened_ms >= c->cfg.read_timeout_ms) {
			c->stats.connections_timed_out++;
			log_conn(cn, "closed", "no HELLO within the read timeout");
			cn->closing = true;
		} else if (cn->partial_since_ms && c->now_ms - cn->partial_since_ms >= c->cfg.read_timeout_ms) {
			c->stats.connections_timed_out++;
			log_conn(cn, "closed", "a frame not completed within the read timeout");
			cn->closing = true;
		} else if (c->now_ms - cn->last_rx_ms >= c->cfg.idle_timeout_ms) {
			c->stats.connections_idle_closed++;
			log_conn(cn, "closed", "nothing received within the idle timeout");
			cn->closing = true;
		}
	}
}

#ifdef DFT_HAVE_RDMA
/*
 * What the client may drop from its backlog. The RDMA connect names no NIC epoch (a TCP HELLO
 * does), and a restarted NIC numbers from 1 again: the durable maximum of the epoch it replaced
 * would retire batches this collector never saw. 0 is always safe: the client resends its whole
 * backlog and dedup drops what is stored.
 */
static uint64_t rdma_resume(void *arg, uint64_t sender_id)
{
	(void)arg;
	(void)sender_id;
	return 0;
}

static int rdma_batch(void *arg, uint64_t sender_id, uint64_t seq, const uint8_t *payload, uint32_t len)
{
	struct dft_collector *c = arg;
	uint64_t got;
	bool dup;
	int rc;

	c->stats.frames++;
	rc = dft_collector_ingest(c, sender_id, seq, payload, len, &got, &dup);
	if (rc)
		return rc;
	c->round_rdma++;
	return 0;
}

static int rdma_open(struct dft_collector *c, uint16_t port)
{
	char pstr[8];
	struct dft_rdma_server_cfg rc_cfg = {
	    .bind = c->cfg.listen_host,
	    .port = pstr,
	    .slots = c->cfg.rdma_slots,
	    .slot_size = c->cfg.rdma_slot_size,
	    .resume = rdma_resume,
	    .resume_arg = c,
	};
	int rc;

	dft_rdma_trust_server_cfg(c->rdma_trust, &c->cfg, &rc_cfg);
	snprintf(pstr, sizeof(pstr), "%u", port);
	rc = dft_rdma_server_create(&rc_cfg, &c->rdma);
	if (rc)
		return rc;
	c->port = dft_rdma_server_port(c->rdma);
	return 0;
}

/*
 * Credits acknowledge everything a connection handed over, so they cannot be withheld for a round
 * that rolled back while the connection lives on: drop every connection by restarting the server
 * on the same port; the senders reconnect and resume from the durable maximum.
 */
static void rdma_restart(struct dft_collector *c)
{
	struct dft_rdma_server_stats rs;
	int rc;

	fprintf(stderr, "difftrace-collector: commit failed with RDMA batches in the round: restarting the RDMA "
	                "transport so its senders resend\n");
	c->stats.rdma_restarts++;
	dft_rdma_server_get_stats(c->rdma, &rs);
	dft_rdma_stats_add(&c->rdma_base, &rs);
	dft_rdma_server_destroy(c->rdma);
	c->rdma = NULL;
	rc = rdma_open(c, c->port);
	if (rc)
		fprintf(stderr, "difftrace-collector: rdma restart on port %u: %s\n", c->port, strerror(-rc));
}
#endif

/* Roll back the round and drop the connections that fed it, so their senders resend. */
static void round_abort(struct dft_collector *c)
{
	size_t i;

	c->stats.commit_failures++;
	dft_store_rollback(c->store);
	dft_dedup_rollback(&c->dedup);
	dft_epochs_rollback(&c->dedup);
	dft_recon_rollback(c->recon);
	for (i = 0; i < c->nacks; i++) {
		struct dft_conn *cn = &c->conns[c->acks[i].slot];

		if (cn->fd < 0 || cn->gen != c->acks[i].gen || cn->closing)
			continue;
		/* BUSY, not silence: the NIC backs off instead of reconnecting at once (health.c) */
		if (dft_conn_queue_busy(cn, cn->sender_id, DFT_BUSY_RETRY_MS) == 0)
			c->stats.busy_sent++;
		cn->closing = true;
	}
#ifdef DFT_HAVE_RDMA
	if (c->round_rdma && c->rdma)
		rdma_restart(c);
#endif
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
	for (size_t k = 0; k < c->nacks; k++) {
		const struct pending_ack *a = &c->acks[k];
		struct dft_conn *cn = &c->conns[a->slot];

		if (cn->fd < 0 || cn->gen != a->gen)
			continue; /* gone: its sender learns the durable sequence from the next HELLO */
		if (dft_conn_queue_ack(cn, a->sender_id, a->seq)) {
			c->stats.acks_cut++;
			log_conn(cn, "dropped", "ACK buffer full (peer does not read)");
			cn->closing = true;
		}
	}
#ifdef DFT_HAVE_RDMA
	if (c->rdma)
		dft_rdma_server_commit(c->rdma);
#endif
	rc = 0;
	goto reset;
abort:
	round_abort(c);
	rc = -EIO;
reset:
	c->nacks = 0;
	c->round_batches = 0;
	c->round_exported = 0;
	c->round_profiles = 0;
	c->round_rdma = 0;
	c->round_failed = false;
	c->stats.round_begun = 0;
	c->stats.round_closed = 0;
	return rc;
}

static int emit_reconstructed(void *arg, const Difftrace__SpanBatch *b)
{
	struct dft_collector *c = arg;
	uint64_t exported = 0;
	unsigned i;
	int rc;

	for (i = 0; i < c->nsinks; i++) {
		rc = c->sinks[i].ops->put(c->sinks[i].ctx, b, true, &exported);
		if (rc) {
			fprintf(stderr, "difftrace-collector: sink %s: %s\n", c->sinks[i].ops->name, strerror(-rc));
			return rc;
		}
	}
	/* not stored: readers rebuild the same spans from the hop lists and profiles (invariant 6) */
	c->round_exported += exported;
	return 0;
}

static int end_round(struct dft_collector *c, uint64_t due_limit)
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
	return end_round(c, c->now_ms);
}

/* The per-peer quota's key: the source address (an IPv4-mapped IPv6 address counts as IPv4). */
static void peer_key(const struct sockaddr_storage *ss, uint8_t key[16], uint8_t *len)
{
	static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	memset(key, 0, 16);
	*len = 0;
	if (ss->ss_family == AF_INET) {
		memcpy(key, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		*len = 4;
	} else if (ss->ss_family == AF_INET6) {
		const uint8_t *a = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;

		if (!memcmp(a, v4mapped, sizeof(v4mapped))) {
			memcpy(key, a + 12, 4);
			*len = 4;
		} else {
			memcpy(key, a, 16);
			*len = 16;
		}
	}
}

/*
 * A slot for a newcomer from peer key: a free one, or one freed by evicting the oldest connection
 * that has not said HELLO (the peer's own when its quota is what is full). Such a connection has
 * shown nothing yet, and a sender says HELLO at once, so holding slots idle gains a peer nothing.
 * -1: refused (counted).
 */
static int conn_slot(struct dft_collector *c, const uint8_t key[16], uint8_t key_len)
{
	uint32_t i, total = 0, mine = 0, free_slot = UINT32_MAX;
	int old_mine = -1, old_any = -1, victim;

	for (i = 0; i < c->cfg.max_conns; i++) {
		const struct dft_conn *cn = &c->conns[i];
		bool same;

		if (cn->fd < 0) {
			if (free_slot == UINT32_MAX)
				free_slot = i;
			continue;
		}
		same = cn->peer_len == key_len && !memcmp(cn->peer, key, key_len);
		total++;
		mine += same;
		if (cn->hello && !cn->closing)
			continue;
		if (old_any < 0 || cn->opened_ms < c->conns[old_any].opened_ms)
			old_any = (int)i;
		if (same && (old_mine < 0 || cn->opened_ms < c->conns[old_mine].opened_ms))
			old_mine = (int)i;
	}
	if (mine >= c->cfg.max_conns_per_peer) {
		victim = old_mine;
		if (victim < 0) {
			c->stats.connections_refused_peer++;
			return -1;
		}
	} else if (total >= c->cfg.max_conns) {
		victim = old_any;
		if (victim < 0) {
			c->stats.connections_refused++;
			return -1;
		}
	} else {
		return (int)free_slot;
	}
	c->stats.connections_evicted++;
	log_conn(&c->conns[victim], "evicted", "no HELLO yet and its slot is wanted by a new connection");
	dft_conn_flush(&c->conns[victim]);
	close_slot(c, (uint32_t)victim);
	return victim;
}

static void accept_conns(struct dft_collector *c)
{
	for (int n = 0; n < ACCEPT_PER_ROUND; n++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(c->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct dft_conn *cn;
		uint8_t key[16], key_len;
		int slot, one = 1;

		if (fd < 0)
			return; /* EAGAIN, or a connection that died in the backlog */
		peer_key(&ss, key, &key_len);
		slot = conn_slot(c, key, key_len);
		if (slot < 0) {
			close(fd);
			continue;
		}
		cn = &c->conns[slot];
		if (dft_conn_open(cn, fd, ++c->next_gen, &c->budget)) {
			c->stats.connections_refused++;
			close(fd);
			continue;
		}
		if (c->tls) {
			cn->ssl = SSL_new(c->tls);
			if (!cn->ssl || SSL_set_fd(cn->ssl, fd) != 1) {
				c->stats.connections_refused++;
				dft_conn_close(cn);
				continue;
			}
			SSL_set_accept_state(cn->ssl);
		}
		memcpy(cn->peer, key, sizeof(cn->peer));
		cn->peer_len = key_len;
		cn->opened_ms = c->now_ms;
		cn->last_rx_ms = c->now_ms;
		/* ACKs are small and latency-bound */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->stats.connections++;
	}
}

void dft_collector_get_stats(struct dft_collector *c, struct dft_collector_stats *out)
{
	uint32_t i;

	c->stats.connections_open = 0;
	for (i = 0; i < c->cfg.max_conns; i++)
		c->stats.connections_open += c->conns[i].fd >= 0;
	dft_recon_get_stats(c->recon, &c->stats.recon);
	c->stats.recon.superseded = c->store ? dft_store_superseded(c->store) : 0;
	c->stats.profiles_cut = c->profiles.cut;
	c->stats.otlp_json = c->cfg.otlp_json_path && c->nsinks;
	if (c->stats.otlp_json)
		dft_otlp_json_get_stats(&c->sinks[0], &c->stats.otlp_json_st); /* opened first */
	c->stats.otlp_http = c->http != NULL;
	if (c->http)
		dft_otlp_http_get_stats(c->http, &c->stats.otlp_http_st);
	c->stats.rx_budget_refused = c->budget.refused;
	c->stats.senders_evicted = c->dedup.evicted;
#ifdef DFT_HAVE_RDMA
	c->stats.rdma = c->cfg.transport == DFT_TRANSPORT_RDMA;
	if (c->rdma) {
		struct dft_rdma_server_stats rs;

		/* the server's figures restart with it; keep what earlier incarnations counted */
		dft_rdma_server_get_stats(c->rdma, &rs);
		dft_rdma_stats_add(&rs, &c->rdma_base);
		c->stats.rdma_st = rs;
	}
#endif
	*out = c->stats;
}

static void write_stats(struct dft_collector *c)
{
	struct dft_collector_stats st;
	int rc;

	if (!c->cfg.stats_path)
		return;
	dft_collector_get_stats(c, &st);
	rc = dft_stats_write(c->cfg.stats_path, &st, &c->dedup);
	if (rc)
		fprintf(stderr, "difftrace-collector: stats %s: %s\n", c->cfg.stats_path, strerror(-rc));
}

static int rdma_fd(const struct dft_collector *c)
{
#ifdef DFT_HAVE_RDMA
	if (c->rdma)
		return dft_rdma_server_fd(c->rdma);
#else
	(void)c;
#endif
	return -1;
}

/* Hands every RDMA completion of this round to the ingest path. 0, or -EIO once the server is gone. */
static int poll_rdma(struct dft_collector *c)
{
#ifdef DFT_HAVE_RDMA
	if (c->cfg.transport != DFT_TRANSPORT_RDMA)
		return 0;
	if (!c->rdma)
		return -EIO; /* a restart failed: nothing can reach this collector any more */
	return dft_rdma_server_poll(c->rdma, rdma_batch, c);
#else
	(void)c;
	return 0;
#endif
}

int dft_collector_reopen(struct dft_collector *c)
{
	int rc = 0;

	for (unsigned i = 0; i < c->nsinks; i++) {
		int r = c->sinks[i].ops->reopen ? c->sinks[i].ops->reopen(c->sinks[i].ctx) : 0;

		if (r) {
			fprintf(stderr, "difftrace-collector: sink %s reopen: %s\n", c->sinks[i].ops->name, strerror(-r));
			rc = rc ? rc : r;
		}
	}
	return rc;
}

/* The stop fd is readable: true when what it held was a SIGHUP from a signalfd (reopen, go on). */
static bool stop_is_hup(int stop_fd)
{
	struct signalfd_siginfo si;

	return read(stop_fd, &si, sizeof(si)) == (ssize_t)sizeof(si) && si.ssi_signo == SIGHUP;
}

int dft_collector_run(struct dft_collector *c, int stop_fd)
{
	const bool rdma = c->cfg.transport == DFT_TRANSPORT_RDMA;
	uint64_t next_stats = dft_clock_ns(CLOCK_MONOTONIC) / 1000000u + 1000;
	bool busy = false, tls_pending = false;
	uint32_t i;
	int rc;

	for (;;) {
		uint64_t now, deadline;
		nfds_t n = 0;
		int timeout, pr;

		c->pfds[n++] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
		c->pfds[n++] = (struct pollfd){.fd = c->lfd, .events = POLLIN};
		c->pfds[n++] = (struct pollfd){.fd = rdma_fd(c), .events = POLLIN};
		for (i = 0; i < c->cfg.max_conns; i++) {
			struct dft_conn *cn = &c->conns[i];

			/* fd -1 makes poll skip the entry, so slots map 1:1 to pfds[3 + i] */
			c->pfds[n].fd = cn->fd;
			c->pfds[n].events = (short)(POLLIN | (cn->out_len || cn->tls_want_write ? POLLOUT : 0));
			c->pfds[n].revents = 0;
			n++;
		}
		now = dft_clock_ns(CLOCK_MONOTONIC) / 1000000u;
		deadline = dft_recon_next_due(c->recon);
		if (deadline > next_stats)
			deadline = next_stats;
		timeout = deadline <= now ? 0 : deadline - now > 1000 ? 1000 : (int)(deadline - now);
		/* RDMA completions do not wake poll(): spin while they come, nap briefly when idle */
		if (rdma)
			timeout = busy ? 0 : timeout < 1 ? timeout : 1;
		/* bytes TLS already decrypted do not wake poll() */
		if (tls_pending)
			timeout = 0;
		pr = poll(c->pfds, n, timeout);
		if (pr < 0 && errno != EINTR)
			return -errno;
		if (pr > 0 && c->pfds[0].revents) {
			if (!stop_is_hup(stop_fd))
				break;
			dft_collector_reopen(c);
			continue;
		}
		c->now_ms = dft_clock_ns(CLOCK_MONOTONIC) / 1000000u;
		if (pr > 0 && (c->pfds[1].revents & POLLIN))
			accept_conns(c);
		if (pr > 0 || tls_pending) {
			tls_pending = false;
			for (i = 0; i < c->cfg.max_conns; i++) {
				struct dft_conn *cn = &c->conns[i];
				short re = pr > 0 ? c->pfds[3 + i].revents : 0;
				bool pending = cn->fd >= 0 && cn->ssl && cn->tls_done && SSL_pending(cn->ssl) > 0;

				if (cn->fd < 0 || (!re && !pending))
					continue;
				cn->round_bytes = 0;
				cn->round_acks = 0;
				if (pending || (re & (POLLIN | POLLHUP | POLLERR)) || (cn->tls_want_write && (re & POLLOUT)))
					read_conn(c, i);
				if (cn->fd >= 0 && !cn->closing && cn->ssl && cn->tls_done && SSL_pending(cn->ssl) > 0)
					tls_pending = true; /* the round's read budget stopped it: come back at once */
			}
		}
		rc = poll_rdma(c);
		if (rc)
			return rc;
		busy = c->round_rdma > 0;
		end_round(c, c->now_ms);
		sweep_conns(c);
		for (i = 0; i < c->cfg.max_conns; i++) {
			struct dft_conn *cn = &c->conns[i];

			if (cn->fd < 0)
				continue;
			if (!cn->closing && dft_conn_flush(cn))
				cn->closing = true;
			if (cn->closing) {
				/* what the peer may still read: its ACKs, best effort */
				dft_conn_flush(cn);
				close_slot(c, i);
			}
		}
		now = dft_clock_ns(CLOCK_MONOTONIC) / 1000000u;
		if (now >= next_stats) {
			write_stats(c);
			next_stats = now + 1000;
		}
	}
	return 0;
}

static int listen_on(struct dft_collector *c)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *res, *ai;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char port[8];
	int rc, fd = -1, one = 1;

	snprintf(port, sizeof(port), "%u", c->cfg.listen_port);
	rc = getaddrinfo(c->cfg.listen_host, port, &hints, &res);
	if (rc) {
		fprintf(stderr, "difftrace-collector: --listen %s: %s\n", c->cfg.listen_host, gai_strerror(rc));
		return -EINVAL;
	}
	rc = -EADDRNOTAVAIL;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			rc = -errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0)
			break;
		rc = -errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return rc;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		rc = -errno;
		close(fd);
		return rc;
	}
	c->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
	                                         : ((struct sockaddr_in *)&ss)->sin_port);
	c->lfd = fd;
	return 0;
}

int dft_collector_create(const struct dft_collector_cfg *cfg, struct dft_collector **out)
{
	struct dft_recon_cfg rcfg;
	struct dft_collector *c;
	uint32_t i;
	int rc;

	*out = NULL;
#ifndef DFT_HAVE_RDMA
	if (cfg->transport == DFT_TRANSPORT_RDMA)
		return -EPROTONOSUPPORT;
#endif
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	if (!c->cfg.max_conns)
		c->cfg.max_conns = DFT_MAX_CONNS;
	if (!c->cfg.max_senders)
		c->cfg.max_senders = DFT_MAX_SENDERS;
	if (!c->cfg.max_conns_per_peer)
		c->cfg.max_conns_per_peer = DFT_MAX_CONNS_PER_PEER;
	if (!c->cfg.read_timeout_ms)
		c->cfg.read_timeout_ms = DFT_READ_TIMEOUT_MS;
	if (!c->cfg.idle_timeout_ms)
		c->cfg.idle_timeout_ms = DFT_IDLE_TIMEOUT_MS;
	if (!c->cfg.rx_budget)
		c->cfg.rx_budget = DFT_RX_BUDGET;
	if (!c->cfg.seq_window)
		c->cfg.seq_window = DFT_SEQ_WINDOW;
	c->budget.max = (size_t)c->cfg.rx_budget;
	if (c->cfg.tls.cert || c->cfg.tls.key || c->cfg.tls.ca) {
		char err[512];

		rc = dft_tls_ctx_create(true, &c->cfg.tls, &c->tls, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "difftrace-collector: TLS: %s\n", err);
			free(c);
			return rc;
		}
	} else if (!c->cfg.insecure && c->cfg.transport == DFT_TRANSPORT_TCP) {
		fprintf(stderr, "difftrace-collector: no sender authentication: give --tls-cert, --tls-key and --tls-ca "
		                "(TCP), or --insecure to accept senders that prove nothing\n");
		free(c);
		return -EACCES;
	}
#ifdef DFT_HAVE_RDMA
	/* RDMA senders prove a per-sender key (rdma_trust.c), which also says what --insecure means */
	if (c->cfg.transport == DFT_TRANSPORT_RDMA) {
		rc = dft_rdma_trust_open(&c->cfg, &c->rdma_trust);
		if (rc) {
			dft_tls_ctx_destroy(c->tls);
			free(c);
			return rc;
		}
	}
#endif
	if (c->cfg.insecure && c->cfg.transport == DFT_TRANSPORT_TCP)
		fprintf(stderr, "difftrace-collector: WARNING: --insecure: %s senders are not authenticated; any peer "
		                "that reaches the port can claim any sender id (docs/security.md)\n",
		        c->tls ? "no" : "TCP");
	if (!c->cfg.recon_delay_set)
		c->cfg.recon_delay_ms = DFT_RECON_DELAY_MS;
	if (!c->cfg.recon_profile_wait_set)
		c->cfg.recon_profile_wait_ms = DFT_RECON_PROFILE_WAIT_MS;
	c->lfd = -1;
	c->now_ms = dft_clock_ns(CLOCK_MONOTONIC) / 1000000u;
	c->conns = calloc(c->cfg.max_conns, sizeof(*c->conns));
	c->pfds = calloc(c->cfg.max_conns + 3, sizeof(*c->pfds));
	if (!c->conns || !c->pfds) {
		rc = -ENOMEM;
		goto free_arrays;
	}
	for (i = 0; i < c->cfg.max_conns; i++)
		c->conns[i].fd = -1;
	rc = dft_dedup_init(&c->dedup, c->cfg.max_senders);
	if (rc)
		goto free_arrays;
	rc = dft_profiles_init(&c->profiles, DFT_PROFILES_MAX);
	if (rc)
		goto destroy_dedup;
	rcfg = (struct dft_recon_cfg){.delay_ms = c->cfg.recon_delay_ms,
				      .max_pending = c->cfg.recon_max_pending,
				      .profile_wait_ms = c->cfg.recon_profile_wait_ms};
	rc = dft_recon_create(&rcfg, &c->recon);
	if (rc)
		goto destroy_profiles;
	rc = dft_store_open(c->cfg.db_path, &c->store);
	if (rc)
		goto destroy_recon;
	rc = dft_epochs_init(c->store);
	if (!rc)
		rc = dft_store_load_senders(c->store, &c->dedup);
	if (!rc)
		rc = dft_epochs_load(c->store, &c->dedup);
	if (!rc)
		rc = dft_store_load_profiles(c->store, &c->profiles);
	if (rc) {
		fprintf(stderr, "difftrace-collector: %s: %s\n", c->cfg.db_path, dft_store_errmsg(c->store));
		goto close_store;
	}
	if (c->cfg.otlp_json_path) {
		rc = dft_otlp_json_open(c->cfg.otlp_json_path, c->cfg.otlp_json_max_bytes,
		                        c->cfg.otlp_json_keep_set ? c->cfg.otlp_json_keep : 5, &c->sinks[c->nsinks]);
		if (rc) {
			fprintf(stderr, "difftrace-collector: --otlp-json %s: %s\n", c->cfg.otlp_json_path,
			        strerror(-rc));
			goto close_store;
		}
		c->nsinks++;
	}
	if (c->cfg.otlp_http) {
		rc = dft_otlp_http_create(c->cfg.otlp_http, &c->http);
		if (rc) {
			fprintf(stderr, "difftrace-collector: --otlp-http %s: %s\n", c->cfg.otlp_http->url,
			        strerror(-rc));
			goto destroy_sinks;
		}
		dft_otlp_http_sink(c->http, &c->sinks[c->nsinks++]);
	}
	if (c->cfg.clickhouse_url) {
		rc = dft_ch_sink_open(c->cfg.clickhouse_url, &c->sinks[c->nsinks]);
		if (rc) {
			fprintf(stderr, "difftrace-collector: --clickhouse %s: %s\n", c->cfg.clickhouse_url, strerror(-rc));
			goto destroy_sinks;
		}
		c->nsinks++;
	}
#ifdef DFT_HAVE_RDMA
	if (c->cfg.transport == DFT_TRANSPORT_RDMA) {
		rc = rdma_open(c, c->cfg.listen_port);
		if (rc) {
			fprintf(stderr, "difftrace-collector: --listen %s:%u (rdma): %s\n", c->cfg.listen_host,
			        c->cfg.listen_port, strerror(-rc));
			goto destroy_sinks;
		}
		*out = c;
		return 0;
	}
#endif
	rc = listen_on(c);
	if (rc)
		goto destroy_sinks;
	*out = c;
	return 0;

destroy_sinks:
	while (c->nsinks) {
		c->nsinks--;
		c->sinks[c->nsinks].ops->destroy(c->sinks[c->nsinks].ctx);
	}
close_store:
	dft_store_close(c->store);
destroy_recon:
	dft_recon_destroy(c->recon);
destroy_profiles:
	dft_profiles_destroy(&c->profiles);
destroy_dedup:
	dft_dedup_destroy(&c->dedup);
free_arrays:
	free(c->pfds);
	free(c->conns);
	dft_tls_ctx_destroy(c->tls);
#ifdef DFT_HAVE_RDMA
	dft_rdma_trust_close(c->rdma_trust);
#endif
	free(c);
	return rc;
}

uint16_t dft_collector_port(const struct dft_collector *c)
{
	return c->port;
}

void dft_collector_destroy(struct dft_collector *c)
{
	uint32_t i;

	if (!c)
		return;
	/*
	 * Nothing accepted is pending (every round ends with a commit), but reconstruction candidates
	 * may be: whoever stops the collector expects complete traces, so rebuild them all now. A
	 * failed round puts them back; one more attempt, then they are given up.
	 */
	if (end_round(c, UINT64_MAX))
		end_round(c, UINT64_MAX);
	for (i = 0; i < c->cfg.max_conns; i++) {
		if (c->conns[i].fd >= 0) {
			dft_conn_flush(&c->conns[i]);
			close_slot(c, i);
		}
	}
	if (c->lfd >= 0)
		close(c->lfd);
	/* the OTLP/HTTP sender drains (bounded) first, so the final stats hold its last figures */
	if (c->http)
		dft_otlp_http_drain(c->http);
	write_stats(c);
#ifdef DFT_HAVE_RDMA
	dft_rdma_server_destroy(c->rdma);
	dft_rdma_trust_close(c->rdma_trust);
#endif
	while (c->nsinks) {
		c->nsinks--;
		c->sinks[c->nsinks].ops->destroy(c->sinks[c->nsinks].ctx);
	}
	dft_store_close(c->store);
	dft_recon_destroy(c->recon);
	dft_profiles_destroy(&c->profiles);
	dft_dedup_destroy(&c->dedup);
	free(c->acks);
	free(c->pfds);
	free(c->conns);
	dft_tls_ctx_destroy(c->tls);
	free(c);
}
