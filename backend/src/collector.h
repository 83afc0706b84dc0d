/* SPDX-License-Identifier: MIT */
/*
 * difftrace-collector internals (library dft_backend_core): batch decoding and validation, the
 * per-sender dedup table, the SQLite store, the output sinks (OTLP JSON lines), the stats file and
 * the poll loop that ties them together. Functions that can fail return 0 or -errno.
 */
#ifndef DFT_COLLECTOR_H
#define DFT_COLLECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dft/frame.h"
#include "dft/rdma.h"
#include "dft/tls.h"
#include "difftrace.pb-c.h"
#include "otlp_http.h"

/* ---- bounded text buffer (json.c) */

struct dft_buf {
	char *p;
	size_t len;
	size_t cap;
	size_t max;    /* never grows past this */
	bool overflow; /* something was cut: the content is unusable */
};

void dft_buf_init(struct dft_buf *b, size_t max);
void dft_buf_free(struct dft_buf *b);
void dft_buf_reset(struct dft_buf *b);
void dft_buf_put(struct dft_buf *b, const char *s, size_t n);
void dft_buf_puts(struct dft_buf *b, const char *s);
void dft_buf_printf(struct dft_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* a JSON string literal with quotes; invalid UTF-8 bytes become U+FFFD */
void dft_buf_json_str(struct dft_buf *b, const char *s);
void dft_buf_hex(struct dft_buf *b, const uint8_t *p, size_t n);
void dft_buf_hex64(struct dft_buf *b, uint64_t v);
/* v in decimal, as "%lld" */
void dft_buf_i64(struct dft_buf *b, int64_t v);

/* ---- counters carried in batch headers */

/* every Counters field of the proto, in proto order, by its proto name */
// clang-format off
#define DFT_COUNTER_NAMES(X) \
	X(produced) X(reported) X(filtered) X(lost_ring_full) X(lost_invalid) X(lost_backlog_full) \
	X(lost_transport) X(lost_hold_overflow) X(lost_no_ring) X(batches) X(adopted)
// clang-format on

struct dft_counters {
#define DFT_COUNTER_FIELD(n) uint64_t n;
	DFT_COUNTER_NAMES(DFT_COUNTER_FIELD)
#undef DFT_COUNTER_FIELD
};

void dft_counters_from_proto(struct dft_counters *out, const Difftrace__Counters *c);
void dft_counters_json(struct dft_buf *b, const struct dft_counters *c);
/* Parses what dft_counters_json wrote; missing names stay 0. Returns 0 or -EINVAL. */
int dft_counters_parse(const char *json, struct dft_counters *out);

/* ---- batch decoding and validation (batch.c) */

/* What an honest NIC never exceeds (DFT_SLOT_ATTRS attributes, DFT_NAME_MAX names): past these a
 * batch is refused as bad before the store sees it. */
#define DFT_BATCH_ATTRS_MAX  64u
#define DFT_BATCH_STRING_MAX 1024u

/* Decode budget: protobuf-c expands small wire fields into larger structs; this bounds the total. */
#define DFT_DECODE_MAX_BYTES (256u << 20)

struct dft_decoded {
	Difftrace__SpanBatch *batch;
};

/*
 * SpanBatch wire bytes into the structs protobuf-c's unpack fills (batch_wire.c), every piece from
 * alloc(arg, size) (NULL: out of budget). NULL when the bytes are not a SpanBatch.
 */
Difftrace__SpanBatch *dft_batch_unpack(const uint8_t *p, size_t len, void *(*alloc)(void *arg, size_t size),
                                       void *arg);
/* Returns 0 with *out set (free with dft_batch_free), or -EBADMSG/-ENOMEM with *reason set. */
int dft_batch_decode(const uint8_t *p, size_t len, struct dft_decoded **out, const char **reason);
void dft_batch_free(struct dft_decoded *d);
/*
 * Semantic checks a batch must pass before anything of it is stored: header present, sequence >= 1,
 * sender equal to the HELLO's, every string index in range, 16-byte trace ids, non-zero span ids,
 * end >= start, enum fields in range. Returns 0 or -EBADMSG with *reason set.
 */
int dft_batch_validate(const Difftrace__SpanBatch *b, uint64_t hello_sender, const char **reason);
size_t dft_batch_hops(const Difftrace__SpanBatch *b);
/*
 * What every transport does with a BATCH payload before anything of it is used: decode, validate
 * against the sender the transport authenticated (TCP HELLO, RDMA connect), and, when the transport
 * framed the payload with a sequence of its own (expect_seq != 0), check the header agrees.
 * Returns 0 with *out set, or -EBADMSG/-ENOMEM with *reason set.
 */
int dft_batch_check(const uint8_t *p, size_t len, uint64_t sender_id, uint64_t expect_seq, struct dft_decoded **out,
                    const char **reason);

/* ---- per-sender state and dedup (dedup.c) */

struct dft_sender {
	uint64_t sender_id;
	uint64_t max_seq;       /* highest accepted, committed or not */
	uint64_t window;        /* bit i set: max_seq - 1 - i was accepted */
	uint64_t durable_seq;   /* highest committed */
	uint64_t spans_stored;  /* committed, over the life of the database */
	uint64_t pending_spans; /* accepted in the open transaction */
	uint64_t counters_seq;  /* sequence the counters came from */
	struct dft_counters counters;
	uint64_t last_ms;       /* last HELLO or batch: the least recently used idle sender is evicted first */
	uint32_t conns;         /* TCP connections that said HELLO as this sender */
	/* The NIC instance the sequence, counters and window above belong to (epochs.c): a restarted
	 * NIC numbers from 1 again under a new epoch. 0: a NIC from before epochs. */
	uint64_t epoch;
	uint64_t epoch_spans; /* committed in this epoch */
	bool epoch_new;       /* the epoch began in the open transaction (rollback reloads the sender) */
	bool dirty; /* touched in the open transaction */
	bool used;
};

struct dft_dedup {
	struct dft_sender *tab;
	uint32_t cap; /* power of two, >= 2 * max */
	uint32_t count;
	uint32_t max;
	uint64_t refused; /* lookups that wanted a new sender while every entry was busy */
	uint64_t evicted; /* idle senders dropped from the table to make room (their state is in the store) */
};

int dft_dedup_init(struct dft_dedup *d, uint32_t max_senders);
void dft_dedup_destroy(struct dft_dedup *d);
/*
 * Finds a sender; create adds it when missing. A full table evicts the least recently used sender
 * with nothing uncommitted (preferring one without connections): its durable state is in the
 * store, where the caller reloads it from should it come back. NULL: not found, or every entry is
 * busy (counted in refused). Eviction moves entries: pointers from earlier lookups are stale.
 */
struct dft_sender *dft_dedup_get(struct dft_dedup *d, uint64_t sender_id, bool create);
/* Removes s from the table (pointers from earlier lookups are stale afterwards). */
void dft_dedup_remove(struct dft_dedup *d, struct dft_sender *s);
/* true: seq would be accepted (new, inside the window); nothing is recorded. */
bool dft_dedup_is_new(const struct dft_sender *s, uint64_t seq);
/* true: seq is new and is now recorded; false: seen before, older than the window, or 0. */
bool dft_dedup_accept(struct dft_sender *s, uint64_t seq);
/* State after a restart: everything up to max_seq counts as stored. */
void dft_sender_restore(struct dft_sender *s, uint64_t max_seq, uint64_t spans_stored);
/* The open transaction committed / rolled back: make every dirty sender durable / forget it. */
void dft_dedup_commit(struct dft_dedup *d);
void dft_dedup_rollback(struct dft_dedup *d);
/* Iteration over used entries: i from 0, returns NULL at the end. */
struct dft_sender *dft_dedup_next(struct dft_dedup *d, uint32_t *i);

/* ---- SQLite store (store_sqlite.c) */

struct dft_store;

int dft_store_open(const char *path, struct dft_store **out);
void dft_store_close(struct dft_store *st);
int dft_store_begin(struct dft_store *st);
/* Inserts every span and every profile entry of a validated batch. */
int dft_store_put_batch(struct dft_store *st, const Difftrace__SpanBatch *b);
/* Inserts the spans of a batch as reconstructed = 1 rows (no profiles): the layout of stores from before
 * lazy rebuilding, which readers still read; the collector itself no longer stores rebuilt spans. */
int dft_store_put_reconstructed(struct dft_store *st, const Difftrace__SpanBatch *b);
/* 1: a span with this id is stored in this trace (the open transaction included), 0: not, or -EIO. */
int dft_store_span_exists(struct dft_store *st, const uint8_t trace_id[16], uint64_t span_id);
/* Same, and on 1 the stored span's start and end (either pointer may be NULL). */
int dft_store_span_get(struct dft_store *st, const uint8_t trace_id[16], uint64_t span_id, uint64_t *start_ns,
                       uint64_t *end_ns);
int dft_store_put_sender(struct dft_store *st, const struct dft_sender *s);
/* Adds votes for span_kind to the name's tally (span_kinds: rebuilt spans take the majority). */
int dft_store_put_kind(struct dft_store *st, uint32_t name_hash, uint32_t span_kind, uint64_t votes);
/* The store's connection, for reading traces back in the open transaction (trace_read.h). */
struct sqlite3 *dft_store_sqlite(struct dft_store *st);
/* The stored row of one sender into s (restored as after a restart): 1 found, 0 none, or -EIO. */
int dft_store_get_sender(struct dft_store *st, uint64_t sender_id, struct dft_sender *s);
/*
 * A savepoint around one batch inside the open transaction (begun if needed): a batch the store
 * refuses is undone alone, and the rest of the group commit stands. 0 or -EIO.
 */
int dft_store_savepoint(struct dft_store *st);
int dft_store_savepoint_release(struct dft_store *st);
void dft_store_savepoint_rollback(struct dft_store *st);
int dft_store_commit(struct dft_store *st);
void dft_store_rollback(struct dft_store *st);
bool dft_store_in_txn(const struct dft_store *st);
/* Restores every senders row into d. */
int dft_store_load_senders(struct dft_store *st, struct dft_dedup *d);
struct dft_profiles;
/* Restores the latest stored profile of every (component, operation) into p. */
int dft_store_load_profiles(struct dft_store *st, struct dft_profiles *p);
const char *dft_store_errmsg(const struct dft_store *st);
/* Reconstructed rows a late real span replaced (committed transactions only). */
uint64_t dft_store_superseded(const struct dft_store *st);

/* ---- latest profile per (component, operation) (profiles.c) */

struct dft_profile {
	char *component; /* NULL: slot free */
	char *operation;
	uint64_t created_ns;
	uint64_t count, kept, filtered;
	uint64_t duration_p50_ns, duration_p99_ns, queue_p99_ns, self_time_ns;
	uint32_t name_hash; /* dft_hops_name_hash(component, operation), set by the table */
};

#define DFT_PROFILE_SENDERS 64u /* senders whose latest snapshot time is remembered */

struct dft_profiles {
	struct dft_profile *tab;
	uint32_t cap; /* power of two, >= 2 * max */
	uint32_t count;
	uint32_t max;
	uint64_t cut; /* updates for a new (component, operation) while the table was full */
	struct {
		uint64_t sender_id, created_ns;
	} through[DFT_PROFILE_SENDERS]; /* the newest snapshot seen from each sender */
	uint32_t n_through;
};

int dft_profiles_init(struct dft_profiles *p, uint32_t max);
void dft_profiles_destroy(struct dft_profiles *p);
/* Keeps v (component/operation copied) unless the entry held is newer. 0, -ENOSPC (cut) or -ENOMEM. */
int dft_profiles_put(struct dft_profiles *p, const struct dft_profile *v);
const struct dft_profile *dft_profiles_get(const struct dft_profiles *p, const char *component, const char *operation);
/* The entry a hop's name hash names (the first one should two names share a hash), or NULL. */
const struct dft_profile *dft_profiles_get_hash(const struct dft_profiles *p, uint32_t hash);
/* The creation time of the newest snapshot seen from sender (0: none remembered). */
uint64_t dft_profiles_through(const struct dft_profiles *p, uint64_t sender_id);
/* Every entry of every Profile of a validated batch. */
void dft_profiles_put_batch(struct dft_profiles *p, const Difftrace__SpanBatch *b);

/* ---- export of the platform spans rebuilt from function spans' hops (recon.c; rebuild.h rebuilds) */

#define DFT_RECON_HOPS_MAX 64u /* hops per function span considered; longer lists are cut whole */

struct dft_recon_cfg {
	uint32_t delay_ms;    /* how long a candidate waits for the real span */
	uint32_t max_pending; /* candidates held at once (0: 65536) */
	uint32_t profile_wait_ms; /* past the delay, for the sender's snapshot (recon.c) */
};

struct dft_recon_stats {
	uint64_t reconstructed; /* rebuilt spans exported, in committed rounds */
	uint64_t pending;       /* candidates waiting */
	uint64_t cut;           /* candidates not exported: the table was full or the hop list too long */
	uint64_t skipped;       /* candidates stored by the time they were due, or owned by another list */
	uint64_t unresolved;    /* spans exported without a name: no profile knew the hop's name hash */
	uint64_t superseded;    /* old stores only: stored rebuilt rows replaced by the real span */
	uint64_t kinds_cut;     /* span-kind votes not kept: more than 4096 names in one round */
};

struct dft_recon;

int dft_recon_create(const struct dft_recon_cfg *cfg, struct dft_recon **out);
void dft_recon_destroy(struct dft_recon *r);
/*
 * A span was stored in the open transaction (by sender, batch seq): its span kind is learned for its
 * (component, operation); when it is a function span with hops, every hop not stored yet becomes a
 * candidate, due at now_ms + delay. Returns 0 or -errno (store failure).
 */
int dft_recon_add(struct dft_recon *r, struct dft_store *st, const Difftrace__SpanBatch *b, const Difftrace__Span *fn,
                  uint64_t now_ms);
/* Receives each rebuilt batch (one per function span) to hand to the sinks; nothing is stored. */
typedef int (*dft_recon_emit_fn)(void *arg, const Difftrace__SpanBatch *b);
/*
 * Writes the round's span-kind votes to the store, then, for every chain due at now_ms (UINT64_MAX:
 * all of them), reads its trace back from the store, rebuilds it (trace_read.h) and emits the spans
 * its function span's hop list owns. Returns 0 or the first failure of emit or the store.
 */
int dft_recon_run(struct dft_recon *r, struct dft_store *st, const struct dft_profiles *prof, uint64_t now_ms,
                  dft_recon_emit_fn emit, void *arg);
/* The open transaction committed / rolled back: forget or restore what this round took and added. */
void dft_recon_commit(struct dft_recon *r);
void dft_recon_rollback(struct dft_recon *r);
/* When the oldest candidate is due (UINT64_MAX: none pending). */
uint64_t dft_recon_next_due(const struct dft_recon *r);
void dft_recon_get_stats(const struct dft_recon *r, struct dft_recon_stats *out);

/* ---- output sinks: everything accepted goes to each sink before the store commits */

struct dft_sink_ops {
	const char *name;
	/* Takes a validated, accepted (or synthesized: reconstructed) batch; adds the spans written to *spans. */
	int (*put)(void *ctx, const Difftrace__SpanBatch *b, bool reconstructed, uint64_t *spans);
	/* Called once per group commit before the store commits. */
	int (*flush)(void *ctx);
	/* Optional (NULL: nothing to do): close and reopen output files, between rounds (SIGHUP). */
	int (*reopen)(void *ctx);
	void (*destroy)(void *ctx);
};

struct dft_sink {
	const struct dft_sink_ops *ops;
	void *ctx;
};

/* ---- an append-only file of whole lines (line_file.c) */

struct dft_line_file {
	int fd;                /* -1: not open */
	uint64_t bytes;        /* size of the open file: it ends in a whole line there */
	bool cut_pending;      /* a short write could not be cut back: retried before the next write */
	uint64_t torn_cut;     /* partial last lines cut off at open (a crash or write error before) */
	uint64_t torn_bytes;   /* their bytes */
	uint64_t write_errors; /* lines not written: a failed or short write, cut back to the line start */
};

/* Opens (creates) path for appending and cuts a partial last line off (counted, logged). */
int dft_line_file_open(struct dft_line_file *lf, const char *path);
/* Appends the n bytes (whole lines) in one write(); on failure nothing of them stays. 0 or -errno. */
int dft_line_file_write(struct dft_line_file *lf, const void *p, size_t n);
void dft_line_file_close(struct dft_line_file *lf);

/* OTLP JSON lines (otlp_json.c): rotated once the file reaches max_bytes (0: never), keeping keep
 * older files as path.1 (newest) .. path.keep (0: the full file is removed). */
int dft_otlp_json_open(const char *path, uint64_t max_bytes, unsigned keep, struct dft_sink *out);
struct dft_otlp_json_stats {
	uint64_t torn_cut, torn_bytes, write_errors, rotations; /* (struct dft_line_file) */
};
/* s: a sink dft_otlp_json_open made */
void dft_otlp_json_get_stats(const struct dft_sink *s, struct dft_otlp_json_stats *out);
/* Encodes one batch as an ExportTraceServiceRequest JSON object (no newline); reconstructed marks
 * every span with difftrace.reconstructed. */
int dft_otlp_json_encode(const Difftrace__SpanBatch *b, bool reconstructed, struct dft_buf *out, uint64_t *spans);

/* ---- stats file (stats.c) */

struct dft_collector_stats {
	uint64_t connections; /* accepted since start */
	uint64_t connections_open;
	uint64_t connections_refused;      /* table full, no connection that could be evicted */
	uint64_t connections_refused_peer; /* the peer's quota full, none of its own to evict */
	uint64_t connections_evicted;      /* not past HELLO yet, closed to make room for a newcomer */
	uint64_t connections_timed_out;    /* no HELLO, or a frame not completed, within read_timeout_ms */
	uint64_t connections_idle_closed;  /* nothing received for idle_timeout_ms */
	uint64_t sender_conns_evicted;     /* a sender's least recently active connection, past its quota */
	uint64_t rx_budget_refused;        /* frames refused: the partial-frame memory budget was spent */
	uint64_t batches_seq_refused;      /* sequence beyond the window ahead of the durable maximum */
	uint64_t batches_refused;          /* the store refused the batch: undone alone, connection dropped */
	uint64_t tls_refused;              /* TLS handshake failed, or a certificate naming no sender */
	uint64_t hello_refused;            /* HELLO naming another sender than the certificate */
	uint64_t senders_evicted;          /* (from the dedup table) */
	uint64_t frames;
	uint64_t frames_bad;
	uint64_t batches_accepted;
	uint64_t batches_duplicate;
	uint64_t spans_exported;
	uint64_t commits;
	uint64_t commit_failures;
	uint64_t acks_cut;        /* connections dropped because their ACK buffer was full */
	uint64_t profiles_stored; /* profile entries stored */
	struct dft_recon_stats recon;
	uint64_t profiles_cut;
	bool rdma; /* the rdma_* figures below are meaningful */
	struct dft_rdma_server_stats rdma_st; /* over every server incarnation, handshake refusals included */
	uint64_t rdma_restarts; /* transport restarted to drop connections after a failed commit */
	bool otlp_json; /* the otlp_json figures are meaningful */
	struct dft_otlp_json_stats otlp_json_st;
	bool otlp_http; /* the otlp_http figures are meaningful */
	struct dft_otlp_http_stats otlp_http_st;
	/* epochs.c */
	uint64_t epochs_begun;        /* a sender's batches came under a new epoch (its NIC restarted) */
	uint64_t epochs_closed;       /* ... and the old epoch's account was closed */
	uint64_t batches_stale_epoch; /* batches of an epoch already closed: refused */
	uint64_t round_begun, round_closed; /* of the open round: counted above once it commits */
	/* health.c */
	bool degraded;                /* the last commit failed: "degraded: storage" */
	uint64_t degraded_since_ms;
	uint64_t storage_failures;    /* rounds that failed because the store could not write */
	uint64_t busy_sent;           /* BUSY frames sent instead of ACKs */
	uint64_t log_suppressed;      /* storage failure messages held back by the rate limit */
};

/* Writes the stats JSON to path atomically (tmp + rename). */
int dft_stats_write(const char *path, const struct dft_collector_stats *st, struct dft_dedup *d);
void dft_stats_json(struct dft_buf *b, const struct dft_collector_stats *st, struct dft_dedup *d);

/* ---- one sender connection (conn.c) */

#define DFT_CONN_OUT_MAX (256u << 10)

struct dft_conn {
	int fd;       /* -1: slot free */
	uint32_t gen; /* tells a reused slot apart from the connection an ACK was meant for */
	uint8_t peer[16]; /* source address (IPv4 in the first 4 bytes): the per-peer quota's key */
	uint8_t peer_len;
	uint64_t opened_ms;
	uint64_t last_rx_ms;       /* last byte received */
	uint64_t partial_since_ms; /* a frame has been in progress since (0: none) */
	struct ssl_st *ssl;        /* NULL: plain TCP (--insecure) */
	bool tls_done;             /* handshake complete, cert_sender_id proven */
	bool tls_want_write;       /* the handshake waits for the socket to take bytes */
	uint64_t cert_sender_id;
	bool hello;
	bool closing; /* protocol error or EOF: close at the end of the round */
	uint64_t sender_id;
	uint64_t epoch;      /* as the HELLO named it: which durable maximum its ACK carries */
	uint32_t round_acks; /* ACKs queued in the current round */
	size_t round_bytes;  /* bytes read in the current round */
	struct dft_frame_rx rx;
	uint8_t *out; /* ACK frames not yet written, bounded by DFT_CONN_OUT_MAX */
	size_t out_len;
};

struct dft_frame_budget;
int dft_conn_open(struct dft_conn *cn, int fd, uint32_t gen, struct dft_frame_budget *budget);
void dft_conn_close(struct dft_conn *cn);
/* Continues the TLS handshake: 1 done (cert_sender_id set), 0 not yet, -EACCES (no sender in the
 * certificate) or -EPROTO (handshake failed; why in err). */
int dft_conn_handshake(struct dft_conn *cn, char *err, size_t err_len);
/* Reads up to len bytes: > 0 bytes, 0 nothing for now, -ECONNRESET on EOF, or -errno. */
ssize_t dft_conn_recv(struct dft_conn *cn, void *buf, size_t len);
/* Queues an ACK frame. Returns 0 or -ENOBUFS when the peer does not read its ACKs. */
int dft_conn_queue_ack(struct dft_conn *cn, uint64_t sender_id, uint64_t seq);
/* Queues a BUSY frame (dft/frame.h). Returns 0 or -ENOBUFS. */
int dft_conn_queue_busy(struct dft_conn *cn, uint64_t sender_id, uint32_t retry_after_ms);
/* Writes what the socket takes. Returns 0 or -errno (the connection is broken). */
int dft_conn_flush(struct dft_conn *cn);

/* ---- accounts per (sender, NIC epoch) (epochs.c): table epochs in the SQLite store */

/* Creates the table when missing. 0 or -EIO. */
int dft_epochs_init(struct dft_store *st);
/* The open epoch of a sender just read from the store (s->epoch, s->epoch_spans). 0 or -EIO. */
int dft_epoch_restore(struct dft_store *st, struct dft_sender *s);
/* dft_epoch_restore for every sender in d. 0 or -EIO. */
int dft_epochs_load(struct dft_store *st, struct dft_dedup *d);
/*
 * A batch of s came under epoch: close the current epoch's account (what its last counters claim
 * as produced and this collector never stored is lost for it) and start the new one from sequence
 * 0, inside the open transaction. -ESTALE: that epoch was closed before (a dead instance's batch
 * read late); -EIO: the store failed.
 */
int dft_epoch_begin(struct dft_store *st, struct dft_sender *s, uint64_t epoch, struct dft_collector_stats *cs);
/* The current epoch's row, with the open transaction's figures (at commit, beside the senders row). */
int dft_epoch_put(struct dft_store *st, const struct dft_sender *s);
/* After a rollback: drop senders whose epoch began in the rolled-back transaction from the table,
 * so the next lookup reloads them from the store. */
void dft_epochs_rollback(struct dft_dedup *d);
/* lost for a closed epoch: produced - stored - filtered - lost_*, 0 when the claims say less */
uint64_t dft_epoch_lost(const struct dft_counters *c, uint64_t stored);

/* ---- storage health (health.c) */

#define DFT_BUSY_RETRY_MS 500u /* what a BUSY frame asks for; the NIC doubles its wait per BUSY */

/* Is the store's last error a storage fault (full, read-only, I/O, cannot open) rather than a bad
 * batch? Such a failure ends the round and is never blamed on the sender. */
bool dft_store_fault(struct dft_store *st);
/* The test hook: DFT_FAULT_STORE_FULL names a file; while it exists every commit fails as if the
 * disk were full. DFT_FAULT_COMMIT_DELAY_MS: each commit takes that much longer (a slow disk). */
bool dft_fault_store_full(void);
void dft_fault_commit_delay(void);
/* A round failed for want of storage / committed: health state and rate-limited log lines. */
void dft_health_failed(struct dft_collector_stats *cs, uint64_t now_ms, const char *why);
void dft_health_ok(struct dft_collector_stats *cs, uint64_t now_ms);

/* ---- the collector (collector.c) */

#define DFT_MAX_CONNS          64u
#define DFT_MAX_CONNS_PER_PEER 16u
#define DFT_MAX_SENDERS        4096u
#define DFT_READ_TIMEOUT_MS    10000u  /* HELLO, and each frame once begun, must arrive within */
#define DFT_IDLE_TIMEOUT_MS    300000u /* a connection that sends nothing for this long is closed */
#define DFT_RX_BUDGET          (64u << 20)
#define DFT_SEQ_WINDOW         (1u << 21) /* > the NIC's largest --backlog (2^20): see docs/security.md */

enum dft_transport {
	DFT_TRANSPORT_TCP,
	DFT_TRANSPORT_RDMA,
};

#define DFT_RECON_DELAY_MS 2000u
#define DFT_RECON_PROFILE_WAIT_MS 10000u
#define DFT_PROFILES_MAX   16384u

struct dft_collector_cfg {
	const char *listen_host;
	uint16_t listen_port;
	enum dft_transport transport;
	uint32_t rdma_slots;     /* 0: 256 */
	uint32_t rdma_slot_size; /* 0: 65536 */
	uint32_t recon_delay_ms; /* with recon_delay_set; otherwise DFT_RECON_DELAY_MS */
	bool recon_delay_set;
	uint32_t recon_profile_wait_ms; /* with recon_profile_wait_set; otherwise DFT_RECON_PROFILE_WAIT_MS */
	bool recon_profile_wait_set;
	uint32_t recon_max_pending; /* 0: 65536 */
	const char *db_path;
	const char *otlp_json_path; /* NULL: no OTLP JSON sink */
	uint64_t otlp_json_max_bytes; /* rotate the file at this size; 0: never */
	uint32_t otlp_json_keep;      /* rotated files kept, with otlp_json_keep_set; otherwise 5 */
	bool otlp_json_keep_set;
	const struct dft_otlp_http_cfg *otlp_http; /* NULL: no OTLP/HTTP export */
	const char *clickhouse_url; /* NULL: no ClickHouse store (sink_clickhouse.h) */
	const char *stats_path;     /* NULL: no stats file */
	const char *ready_path;     /* NULL: no ready file */
	uint32_t max_conns;         /* 0: DFT_MAX_CONNS */
	uint32_t max_senders;       /* 0: DFT_MAX_SENDERS */
	uint32_t max_conns_per_peer; /* 0: DFT_MAX_CONNS_PER_PEER */
	uint32_t read_timeout_ms;    /* 0: DFT_READ_TIMEOUT_MS */
	uint32_t idle_timeout_ms;    /* 0: DFT_IDLE_TIMEOUT_MS */
	uint64_t rx_budget;          /* 0: DFT_RX_BUDGET */
	uint64_t seq_window;         /* 0: DFT_SEQ_WINDOW */
	struct dft_tls_files tls;    /* TCP: mutual TLS 1.3; required unless insecure */
	bool insecure;               /* accept unauthenticated senders (TCP without TLS, RDMA without keys) */
	const char *rdma_keys;       /* RDMA: key directory or file (dft/rdma_auth.h); required unless insecure */
};

struct dft_collector;

/* -EPROTONOSUPPORT: rdma asked for in a build without it. */
int dft_collector_create(const struct dft_collector_cfg *cfg, struct dft_collector **out);
/* Bound port (after create) of the configured transport. */
uint16_t dft_collector_port(const struct dft_collector *c);
/*
 * Runs until stop_fd becomes readable (a signalfd or a pipe); a SIGHUP read from a signalfd reopens
 * the output files instead (dft_collector_reopen). Returns 0 or -errno.
 */
int dft_collector_run(struct dft_collector *c, int stop_fd);
/* Synthesizes every pending reconstruction, commits, writes the final stats file, frees everything. */
void dft_collector_destroy(struct dft_collector *c);

/* The ingest path every transport shares, and how tests drive it without a network. */
#include "ingest.h"

void dft_collector_get_stats(struct dft_collector *c, struct dft_collector_stats *out);
/* Closes and reopens every sink's output file (after logrotate moved it). 0 or the first -errno. */
int dft_collector_reopen(struct dft_collector *c);

#endif /* DFT_COLLECTOR_H */
