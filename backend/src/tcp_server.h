/* SPDX-License-Identifier: MIT */
/*
 * The collector's TCP transport (tcp_server.c): the (TLS) listener, accepting within the connection
 * limits, the per-round service of readable connections (tcp_frames.c reads their frames), the
 * read and idle timeouts, and at the end of a round the ACKs (or BUSY) for the batches it took.
 * Everything takes the collector (collector_impl.h), whose ingest core the frames go to.
 */
#ifndef DFT_TCP_SERVER_H
#define DFT_TCP_SERVER_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "dft/frame.h"

#define DFT_TCP_READ_CHUNK (64u << 10)

struct dft_collector;
struct ssl_ctx_st;

/* A BATCH taken in this round, acknowledged once the round commits. */
struct dft_tcp_ack {
	uint32_t slot;
	uint32_t gen;
	uint64_t sender_id;
	uint64_t seq;
};

struct dft_tcp_server {
	int lfd; /* -1: not listening (RDMA) */
	struct dft_conn *conns;
	uint32_t next_gen;
	struct dft_frame_budget budget; /* partial frames of every connection together */
	struct ssl_ctx_st *tls;         /* NULL: --insecure */
	struct dft_tcp_ack *acks;       /* of the current round */
	size_t nacks, acks_cap;
	uint8_t chunk[DFT_TCP_READ_CHUNK];
};

/* The connection table (cfg.max_conns slots, every one free). 0 or -ENOMEM. */
int dft_tcp_init(struct dft_collector *c);
/* Binds cfg.listen_host:listen_port and listens; sets the collector's port. 0 or -errno. */
int dft_tcp_listen(struct dft_collector *c);
/* Flushes (best effort) and closes every connection, then the listener. */
void dft_tcp_close(struct dft_collector *c);
/* Frees what dft_tcp_init and the rounds allocated, and the TLS context. */
void dft_tcp_free(struct dft_collector *c);
/* How many pollfds dft_tcp_poll_fill fills: the listener, then one per connection slot. */
uint32_t dft_tcp_nfds(const struct dft_collector *c);
void dft_tcp_poll_fill(struct dft_collector *c, struct pollfd *p);
/*
 * After poll() (polled: it returned > 0 and p holds its revents): accepts, reads every readable
 * connection and hands its frames to the ingest core. tls_pending: the last round left bytes TLS
 * had decrypted. Returns whether it left such bytes again (poll() must not wait for them).
 */
bool dft_tcp_serve(struct dft_collector *c, const struct pollfd *p, bool polled, bool tls_pending);
/* Closes connections past their deadlines or marked closing; flushes the others' ACKs. */
void dft_tcp_sweep(struct dft_collector *c);
/* The round committed: queue its ACKs; or it rolled back: BUSY to, and close, the connections
 * whose batches were in it. */
void dft_tcp_round_end(struct dft_collector *c, bool committed);
/* Queues an ACK for seq, sent once the round commits. 0 or -ENOMEM. */
int dft_tcp_ack_later(struct dft_collector *c, uint32_t slot, struct dft_conn *cn, uint64_t seq);
uint64_t dft_tcp_open_count(const struct dft_collector *c);
void dft_tcp_close_slot(struct dft_collector *c, uint32_t slot);
void dft_tcp_log(const struct dft_conn *cn, const char *what, const char *detail);

#endif /* DFT_TCP_SERVER_H */
