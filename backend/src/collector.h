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
#include "difftrace.pb-c.h"

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

/* ---- counters carried in batch headers */

/* every Counters field of the proto, in proto order, by its proto name */
// clang-format off
#define DFT_COUNTER_NAMES(X) \
	X(produced) X(reported) X(filtered) X(lost_ring_full) X(lost_invalid) X(lost_backlog_full) \
	X(lost_transport) X(lost_hold_overflow) X(lost_no_ring) X(batches)
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

/* Decode budget: protobuf-c expands small wire fields into larger structs; this bounds the total. */
#define DFT_DECODE_MAX_BYTES (256u << 20)

struct dft_decoded {
	Difftrace__SpanBatch *batch;
};

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
	bool dirty; /* touched in the open transaction */
	bool used;
};

struct dft_dedup {
	struct dft_sender *tab;
	uint32_t cap; /* power of two, >= 2 * max */
	uint32_t count;
	uint32_t max;
	uint64_t refused; /* lookups that wanted a new sender while the table was full */
};

int dft_dedup_init(struct dft_dedup *d, uint32_t max_senders);
void dft_dedup_destroy(struct dft_dedup *d);
/* Finds a sender; create adds it when missing. NULL: not found, or the table is full (counted). */
struct dft_sender *dft_dedup_get(struct dft_dedup *d, uint64_t sender_id, bool create);
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
/* Inserts every span of a validated batch. */
int dft_store_put_batch(struct dft_store *st, const Difftrace__SpanBatch *b);
int dft_store_put_sender(struct dft_store *st, const struct dft_sender *s);
int dft_store_commit(struct dft_store *st);
void dft_store_rollback(struct dft_store *st);
bool dft_store_in_txn(const struct dft_store *st);
/* Restores every senders row into d. */
int dft_store_load_senders(struct dft_store *st, struct dft_dedup *d);
const char *dft_store_errmsg(const struct dft_store *st);

/* ---- output sinks: everything accepted goes to each sink before the store commits */

struct dft_sink_ops {
	const char *name;
	/* Takes a validated, accepted batch; adds the spans written to *spans. */
	int (*put)(void *ctx, const Difftrace__SpanBatch *b, uint64_t *spans);
	/* Called once per group commit before the store commits. */
	int (*flush)(void *ctx);
	void (*destroy)(void *ctx);
};

struct dft_sink {
	const struct dft_sink_ops *ops;
	void *ctx;
};

/* OTLP JSON lines (otlp_json.c). */
int dft_otlp_json_open(const char *path, struct dft_sink *out);
/* Encodes one batch as an ExportTraceServiceRequest JSON object (no newline). */
int dft_otlp_json_encode(const Difftrace__SpanBatch *b, struct dft_buf *out, uint64_t *spans);

/* ---- stats file (stats.c) */

struct dft_collector_stats {
	uint64_t connections; /* accepted since start */
	uint64_t connections_open;
	uint64_t connections_refused;
	uint64_t frames;
	uint64_t frames_bad;
	uint64_t batches_accepted;
	uint64_t batches_duplicate;
	uint64_t spans_exported;
	uint64_t commits;
	uint64_t commit_failures;
	uint64_t acks_cut; /* connections dropped because their ACK buffer was full */
};

/* Writes the stats JSON to path atomically (tmp + rename). */
int dft_stats_write(const char *path, const struct dft_collector_stats *st, struct dft_dedup *d);
void dft_stats_json(struct dft_buf *b, const struct dft_collector_stats *st, struct dft_dedup *d);

/* ---- one sender connection (conn.c) */

#define DFT_CONN_OUT_MAX (256u << 10)

struct dft_conn {
	int fd;       /* -1: slot free */
	uint32_t gen; /* tells a reused slot apart from the connection an ACK was meant for */
	bool hello;
	bool closing; /* protocol error or EOF: close at the end of the round */
	uint64_t sender_id;
	uint32_t round_acks; /* ACKs queued in the current round */
	size_t round_bytes;  /* bytes read in the current round */
	struct dft_frame_rx rx;
	uint8_t *out; /* ACK frames not yet written, bounded by DFT_CONN_OUT_MAX */
	size_t out_len;
};

int dft_conn_open(struct dft_conn *cn, int fd, uint32_t gen);
void dft_conn_close(struct dft_conn *cn);
/* Queues an ACK frame. Returns 0 or -ENOBUFS when the peer does not read its ACKs. */
int dft_conn_queue_ack(struct dft_conn *cn, uint64_t sender_id, uint64_t seq);
/* Writes what the socket takes. Returns 0 or -errno (the connection is broken). */
int dft_conn_flush(struct dft_conn *cn);

/* ---- the collector (collector.c) */

#define DFT_MAX_CONNS   64u
#define DFT_MAX_SENDERS 4096u

struct dft_collector_cfg {
	const char *listen_host;
	uint16_t listen_port;
	const char *db_path;
	const char *otlp_json_path; /* NULL: no OTLP JSON sink */
	const char *stats_path;     /* NULL: no stats file */
	const char *ready_path;     /* NULL: no ready file */
	uint32_t max_conns;         /* 0: DFT_MAX_CONNS */
	uint32_t max_senders;       /* 0: DFT_MAX_SENDERS */
};

struct dft_collector;

int dft_collector_create(const struct dft_collector_cfg *cfg, struct dft_collector **out);
/* Bound port (after create). */
uint16_t dft_collector_port(const struct dft_collector *c);
/* Runs until stop_fd becomes readable (a signalfd or a pipe). Returns 0 or -errno. */
int dft_collector_run(struct dft_collector *c, int stop_fd);
/* Flushes, writes the final stats file and frees everything. */
void dft_collector_destroy(struct dft_collector *c);

#endif /* DFT_COLLECTOR_H */
