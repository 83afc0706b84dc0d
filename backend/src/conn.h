/* SPDX-License-Identifier: MIT */
/* One sender's TCP connection (conn.c): its TLS session, frame reader and bounded ACK queue. */
#ifndef DFT_CONN_H
#define DFT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dft/frame.h"

struct ssl_st;

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
	/* nonzero after BUSY: write what is queued, half-close, read and discard until the peer's EOF
	 * or this time, so the close is a FIN behind the BUSY frame, not a reset that discards it */
	uint64_t linger_until_ms;
	bool draining; /* half-closed: what arrives is discarded */
	uint64_t sender_id;
	uint64_t epoch;      /* as the HELLO named it: which durable maximum its ACK carries */
	uint32_t round_acks; /* ACKs queued in the current round */
	size_t round_bytes;  /* bytes read in the current round */
	struct dft_frame_rx rx;
	uint8_t *out; /* ACK frames not yet written, bounded by DFT_CONN_OUT_MAX */
	size_t out_len;
};

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
/* Ends this side of the connection (TLS close_notify, then shutdown(SHUT_WR)); draining is set. */
void dft_conn_half_close(struct dft_conn *cn);
/* Reads and discards up to max bytes: 0 keep draining, 1 the peer closed, -errno broken. */
int dft_conn_drain(struct dft_conn *cn, size_t max);

#endif /* DFT_CONN_H */
