/* SPDX-License-Identifier: MIT */
/*
 * difftrace-collector (library dft_backend_core): its configuration, its stats, and create / run /
 * destroy. Every module has its own header; the collector's state is in collector_impl.h.
 * Functions that can fail return 0 or -errno.
 */
#ifndef DFT_COLLECTOR_H
#define DFT_COLLECTOR_H

#include <stdbool.h>
#include <stdint.h>

#include "dft/rdma.h"
#include "dft/tls.h"
#include "otlp_http.h"
#include "otlp_json.h"
#include "recon.h"

/* ---- the collector's figures (stats.c writes them) */

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