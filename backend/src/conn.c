/* SPDX-License-Identifier: MIT */
/* One TCP connection from a sender: its frame reader and its bounded queue of ACK frames. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "dft/tls.h"

#define ACK_FRAME_LEN (DFT_FRAME_HDR_LEN + DFT_FRAME_ACK_LEN)

int dft_conn_open(struct dft_conn *cn, int fd, uint32_t gen, struct dft_frame_budget *budget)
{
	int rc;

	memset(cn, 0, sizeof(*cn));
	cn->fd = -1;
	/* frames beyond the base buffer are charged to the collector's one budget for all peers */
	rc = dft_frame_rx_init_budget(&cn->rx, DFT_FRAME_MAX_PAYLOAD, budget);
	if (rc)
		return rc;
	cn->out = malloc(DFT_CONN_OUT_MAX);
	if (!cn->out) {
		dft_frame_rx_destroy(&cn->rx);
		return -ENOMEM;
	}
	cn->fd = fd;
	cn->gen = gen;
	return 0;
}

void dft_conn_close(struct dft_conn *cn)
{
	if (cn->fd < 0)
		return;
	if (cn->ssl) {
		/* best effort close_notify: the socket is non-blocking and about to go */
		if (cn->tls_done)
			SSL_shutdown(cn->ssl);
		SSL_free(cn->ssl);
		cn->ssl = NULL;
	}
	close(cn->fd);
	dft_frame_rx_destroy(&cn->rx);
	free(cn->out);
	cn->out = NULL;
	cn->out_len = 0;
	cn->fd = -1;
}

/* ACK and BUSY share the layout: (sender_id, a 64-bit value). */
static int queue_frame(struct dft_conn *cn, uint16_t type, uint64_t sender_id, uint64_t value)
{
	uint8_t *p;

	if (cn->out_len + ACK_FRAME_LEN > DFT_CONN_OUT_MAX)
		return -ENOBUFS;
	p = cn->out + cn->out_len;
	dft_frame_hdr_encode(p, type, DFT_FRAME_ACK_LEN);
	dft_frame_ack_encode(p + DFT_FRAME_HDR_LEN, sender_id, value);
	cn->out_len += ACK_FRAME_LEN;
	return 0;
}

int dft_conn_queue_ack(struct dft_conn *cn, uint64_t sender_id, uint64_t seq)
{
	return queue_frame(cn, DFT_FRAME_ACK, sender_id, seq);
}

int dft_conn_queue_busy(struct dft_conn *cn, uint64_t sender_id, uint32_t retry_after_ms)
{
	return queue_frame(cn, DFT_FRAME_BUSY, sender_id, retry_after_ms);
}

int dft_conn_handshake(struct dft_conn *cn, char *err, size_t err_len)
{
	int r, e;

	ERR_clear_error();
	r = SSL_do_handshake(cn->ssl);
	cn->tls_want_write = false;
	if (r == 1) {
		if (dft_tls_peer_sender_id(cn->ssl, &cn->cert_sender_id)) {
			snprintf(err, err_len, "the certificate names no sender (subjectAltName URI " DFT_TLS_SENDER_URI
				 "<16 hex digits>)");
			return -EACCES;
		}
		cn->tls_done = true;
		return 1;
	}
	e = SSL_get_error(cn->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		return 0;
	if (e == SSL_ERROR_WANT_WRITE) {
		cn->tls_want_write = true;
		return 0;
	}
	dft_tls_error(err, err_len);
	return -EPROTO;
}

ssize_t dft_conn_recv(struct dft_conn *cn, void *buf, size_t len)
{
	ssize_t r;
	int e;

	if (!cn->ssl) {
		r = recv(cn->fd, buf, len, MSG_DONTWAIT);
		if (r > 0)
			return r;
		if (r == 0)
			return -ECONNRESET;
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		return -errno;
	}
	ERR_clear_error();
	r = SSL_read(cn->ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
	if (r > 0)
		return r;
	e = SSL_get_error(cn->ssl, (int)r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	if (e == SSL_ERROR_ZERO_RETURN)
		return -ECONNRESET;
	return -EPROTO;
}

/* What the TLS session takes of buf: bytes written, 0 when it must wait, or -errno. */
static ssize_t tls_write_some(struct dft_conn *cn, const void *buf, size_t len)
{
	int r, e;

	ERR_clear_error();
	r = SSL_write(cn->ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
	if (r > 0)
		return r;
	e = SSL_get_error(cn->ssl, r);
	if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
		return 0;
	return -EPIPE;
}

int dft_conn_flush(struct dft_conn *cn)
{
	ssize_t w;

	if (cn->out_len == 0)
		return 0;
	if (cn->ssl && !cn->tls_done)
		return 0; /* nothing is queued before HELLO, which needs the handshake */
	w = cn->ssl ? tls_write_some(cn, cn->out, cn->out_len) : dft_write_some(cn->fd, cn->out, cn->out_len);
	if (w < 0)
		return (int)w;
	memmove(cn->out, cn->out + w, cn->out_len - (size_t)w);
	cn->out_len -= (size_t)w;
	return 0;
}

void dft_conn_half_close(struct dft_conn *cn)
{
	if (cn->ssl && cn->tls_done) {
		ERR_clear_error();
		SSL_shutdown(cn->ssl); /* best effort: the socket is non-blocking */
	}
	shutdown(cn->fd, SHUT_WR);
	cn->draining = true;
}

int dft_conn_drain(struct dft_conn *cn, size_t max)
{
	uint8_t sink[16384];
	size_t got = 0;

	/* raw bytes, past TLS: nothing that arrives after BUSY is taken */
	while (got < max) {
		ssize_t r = recv(cn->fd, sink, sizeof(sink), MSG_DONTWAIT);

		if (r == 0)
			return 1;
		if (r < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -errno;
		got += (size_t)r;
	}
	return 0;
}
