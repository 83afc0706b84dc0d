/* SPDX-License-Identifier: MIT */
/*
 * TCP transport to difftrace-collector (framing in dft/frame.h).
 *
 *   1. non-blocking connect to --collector; on failure retry after 10 ms, doubling up to 1 s.
 *      With --tls-*: a TLS 1.3 handshake with this NIC's certificate (it names the sender id), the
 *      collector's certificate verified against --tls-ca and its name against --collector's host.
 *   2. send HELLO(sender_id, 0); wait for ACK(sender_id, max_seq): every backlog entry with
 *      sequence <= max_seq is durable already and is retired as reported.
 *   3. send every remaining backlog entry in sequence order, then each newly admitted one; an
 *      ACK(sender_id, seq) retires the entries up to seq (the collector acknowledges in order).
 *   4. any error or EOF: close, and go back to 1; nothing is lost, the backlog is resent.
 * A connect that fails is counted (connect_failures) and logged, at most once per 10 s with the
 * count of those held back, so a collector that is down for hours is visible without flooding.
 * BUSY from the collector (its storage is failing; it closes the connection and acknowledges
 * nothing) is a wait of its own: at least what the frame asks, doubling from BUSY_MIN_MS to
 * BUSY_MAX_MS while BUSY repeats (or a connection drops before anything is acknowledged again),
 * reset by the first acknowledgement after a HELLO. The collector
 * accepts the HELLO of a degraded store, so without this wait every retry would connect at once
 * and be turned away at once: a reconnect storm against a full disk.
 * The HELLO names this instance's epoch (epoch.c); the collector's answer is the durable maximum
 * of that epoch, 0 for a NIC it has not heard from since this start.
 * The backlog is a ring of --backlog packed frames; a batch that finds it full is refused and the
 * caller counts its spans as lost_backlog_full.
 *
 * Cost per batch: on loopback (and any local peer) each send also runs the receiver's TCP input
 * and its wake-up on this core, so the frames waiting to be sent go out together in one sendmsg
 * (up to IOV_MAX_FRAMES) once TX_COALESCE of them wait or the oldest has waited TX_HOLD_US; while
 * up, the socket is read for ACKs at most once per RX_EVERY_US unless the backlog is half full
 * (a recv that finds nothing is a syscall per poll, and the main loop polls far more often than
 * ACKs arrive).
 */
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <rte_cycles.h>

#include "epoch.h"
#include "backlog.h"
#include "dft/clock.h"
#include "dft/frame.h"
#include "dft/tls.h"
#include "log.h"
#include "tx.h"
#include "stats.h"

#define FAIL_LOG_NS 10000000000ull
#define IOV_MAX_FRAMES 32u
#define RX_EVERY_US 20u
#define TX_COALESCE 4u
#define TX_HOLD_US 50u
#define BUSY_MIN_MS 250u
#define BUSY_MAX_MS 30000u

enum tx_state { TX_DOWN, TX_CONNECTING, TX_TLS, TX_HELLO, TX_UP };

struct dft_tx {
	const struct dft_nic_config *cfg;
	enum tx_state state;
	int fd;
	uint64_t next_try;  /* tsc */
	uint64_t backoff_us;
	struct dft_backlog bl;      /* frames: header + payload */
	uint32_t send_idx;          /* entries before it (relative to the oldest) are fully sent */
	size_t send_off;
	uint8_t hello[DFT_FRAME_HDR_LEN + DFT_FRAME_ACK_LEN];
	size_t hello_off;
	struct dft_frame_rx rx;
	uint64_t next_rx; /* tsc: when up, the next ACK read (earlier when the backlog fills) */
	uint64_t rx_every; /* tsc ticks in RX_EVERY_US */
	uint64_t tx_hold;  /* tsc ticks in TX_HOLD_US */
	uint64_t unsent_since; /* tsc: admit of the oldest entry not yet begun to be sent */
	struct dft_log_limit fail_log;
	uint32_t busy_ms;   /* the last BUSY asked to wait this long (0: no BUSY pending) */
	uint32_t busy_wait_ms; /* the wait after the last BUSY; doubles while BUSY repeats */
	SSL_CTX *tls; /* NULL: plain TCP */
	SSL *ssl;
	uint8_t tls_buf[16384]; /* decrypted bytes on their way to the frame reader */
};

static int tcp_create(const struct dft_nic_config *cfg, struct dft_tx **out)
{
	struct dft_tx *t = calloc(1, sizeof(*t));
	int rc;

	if (!t)
		return -ENOMEM;
	t->cfg = cfg;
	t->fd = -1;
	t->backoff_us = 10000;
	t->fail_log.interval_ns = FAIL_LOG_NS;
	t->rx_every = rte_get_tsc_hz() / 1000000 * RX_EVERY_US;
	t->tx_hold = rte_get_tsc_hz() / 1000000 * TX_HOLD_US;
	rc = dft_backlog_init(&t->bl, cfg->backlog + 1); /* +1: the final zero-span batch always has a place */
	if (rc)
		goto free_tx;
	rc = dft_frame_rx_init(&t->rx, 4096);
	if (rc)
		goto fini_backlog;
	if (cfg->tls_cert[0]) {
		struct dft_tls_files f = {.cert = cfg->tls_cert, .key = cfg->tls_key, .ca = cfg->tls_ca};
		char err[512];

		rc = dft_tls_ctx_create(false, &f, &t->tls, err, sizeof(err));
		if (rc) {
			DFT_LOG(ERR, tx, "TLS: %s", err);
			goto fini_rx;
		}
	}
	*out = t;
	return 0;

fini_rx:
	dft_frame_rx_destroy(&t->rx);
fini_backlog:
	dft_backlog_fini(&t->bl);
free_tx:
	free(t);
	return rc;
}

static void tcp_destroy(struct dft_tx *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	if (t->fd >= 0)
		close(t->fd);
	dft_backlog_fini(&t->bl);
	dft_frame_rx_destroy(&t->rx);
	dft_tls_ctx_destroy(t->tls);
	free(t);
}

/* why: what failed; err: its errno (0 = none) */
static void go_down(struct dft_tx *t, uint64_t now, const char *why, int err)
{
	bool was_up = t->state == TX_UP || t->state == TX_HELLO;
	uint64_t held;

	/*
	 * The collector closes right after BUSY; with our batches unread in its socket that close can
	 * be a reset that discards the BUSY frame on its way here. Until an ACK shows something
	 * durable again, a connection that drops is treated as turned away too, so the wait keeps
	 * doubling instead of falling back to the 10 ms reconnect.
	 */
	if (t->busy_ms || (t->busy_wait_ms && was_up)) {
		uint32_t wait = t->busy_wait_ms ? t->busy_wait_ms * 2 : BUSY_MIN_MS;

		if (wait > BUSY_MAX_MS)
			wait = BUSY_MAX_MS;
		if (wait < t->busy_ms)
			wait = t->busy_ms > BUSY_MAX_MS ? BUSY_MAX_MS : t->busy_ms;
		t->busy_wait_ms = wait;
		if (t->busy_ms)
			dft_ctr_add(&dft_nic_ctr.collector_busy, 1);
		t->busy_ms = 0;
		__atomic_store_n(&dft_nic_collector_busy, true, __ATOMIC_RELAXED);
		SSL_free(t->ssl);
		t->ssl = NULL;
		if (t->fd >= 0) {
			close(t->fd);
			t->fd = -1;
		}
		dft_ctr_add(&dft_nic_ctr.disconnects, 1);
		if (dft_log_limit_pass(&t->fail_log, dft_clock_ns(CLOCK_MONOTONIC), &held))
			DFT_LOG(WARNING, tx, "collector %s:%s: BUSY (its storage is failing); retrying in %u ms, the backlog "
				"is kept (%" PRIu64 " more messages held back)", t->cfg->collector_host,
				t->cfg->collector_port, wait, held);
		t->state = TX_DOWN;
		t->next_try = now + rte_get_tsc_hz() / 1000 * wait;
		return;
	}

	SSL_free(t->ssl);
	t->ssl = NULL;
	if (t->fd >= 0) {
		close(t->fd);
		t->fd = -1;
	}
	if (was_up) {
		dft_ctr_add(&dft_nic_ctr.disconnects, 1);
		DFT_LOG(WARNING, tx, "collector %s:%s: connection lost (%s%s%s); reconnecting, the backlog is resent",
			t->cfg->collector_host, t->cfg->collector_port, why, err ? ": " : "", err ? strerror(err) : "");
	} else {
		dft_ctr_add(&dft_nic_ctr.connect_failures, 1);
		if (dft_log_limit_pass(&t->fail_log, dft_clock_ns(CLOCK_MONOTONIC), &held))
			DFT_LOG(WARNING, tx, "collector %s:%s: %s%s%s; retrying (%" PRIu64 " more failures since the last message)",
				t->cfg->collector_host, t->cfg->collector_port, why, err ? ": " : "",
				err ? strerror(err) : "", held);
	}
	t->state = TX_DOWN;
	t->next_try = now + rte_get_tsc_hz() / 1000000 * t->backoff_us;
	t->backoff_us = t->backoff_us * 2 > 1000000 ? 1000000 : t->backoff_us * 2;
}

static void start_connect(struct dft_tx *t, uint64_t now)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
	int one = 1;

	/* a numeric address resolves without blocking; a host name costs one lookup per attempt */
	if (getaddrinfo(t->cfg->collector_host, t->cfg->collector_port, &hints, &ai) || !ai) {
		go_down(t, now, "cannot resolve the address", 0);
		return;
	}
	t->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (t->fd < 0) {
		int e = errno;

		freeaddrinfo(ai);
		go_down(t, now, "socket", e);
		return;
	}
	(void)setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(t->fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
		int e = errno;

		freeaddrinfo(ai);
		go_down(t, now, "connect", e);
		return;
	}
	freeaddrinfo(ai);
	t->state = TX_CONNECTING;
}

static void retire_upto(struct dft_tx *t, uint64_t seq)
{
	uint32_t n = dft_backlog_retire_upto(&t->bl, seq);

	/* acknowledged while partly sent cannot happen with an honest peer: restart that entry */
	if (n > t->send_idx)
		t->send_off = 0;
	t->send_idx = n > t->send_idx ? 0 : t->send_idx - n;
}

static int on_frame(void *arg, uint16_t type, const uint8_t *p, uint32_t len)
{
	struct dft_tx *t = arg;
	uint64_t sender, seq;

	if ((type != DFT_FRAME_ACK && type != DFT_FRAME_BUSY) || dft_frame_ack_decode(p, len, &sender, &seq) ||
	    sender != t->cfg->sender_id)
		return -EBADMSG;
	if (type == DFT_FRAME_BUSY) {
		t->busy_ms = seq == 0 ? 1 : seq > BUSY_MAX_MS ? BUSY_MAX_MS : (uint32_t)seq;
		return -EAGAIN; /* go_down waits as BUSY asks */
	}
	if (t->state == TX_UP && seq > t->bl.acked && t->busy_wait_ms) {
		/* the collector made something durable again */
		t->busy_wait_ms = 0;
		__atomic_store_n(&dft_nic_collector_busy, false, __ATOMIC_RELAXED);
	}
	if (t->state == TX_HELLO) {
		t->state = TX_UP;
		t->backoff_us = 10000;
		t->send_idx = 0;
		t->send_off = 0;
	}
	retire_upto(t, seq);
	return 0;
}

/* What the connection takes of buf: bytes written (0: must wait) or -errno. */
static ssize_t tx_write(struct dft_tx *t, const void *buf, size_t len)
{
	int r, e;

	if (!t->ssl)
		return dft_write_some(t->fd, buf, len);
	ERR_clear_error();
	r = SSL_write(t->ssl, buf, (int)(len > INT32_MAX ? INT32_MAX : len));
	if (r > 0)
		return r;
	e = SSL_get_error(t->ssl, r);
	return e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? 0 : -EPIPE;
}

/* Everything readable into the frame reader; the dft_frame_rx_read contract. */
static int tx_read(struct dft_tx *t)
{
	if (!t->ssl)
		return dft_frame_rx_read(&t->rx, t->fd, on_frame, t);
	for (;;) {
		int r, e, rc;

		ERR_clear_error();
		r = SSL_read(t->ssl, t->tls_buf, sizeof(t->tls_buf));
		if (r <= 0) {
			e = SSL_get_error(t->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return 0;
			return e == SSL_ERROR_ZERO_RETURN ? -ECONNRESET : -EPROTO;
		}
		rc = dft_frame_rx_feed(&t->rx, t->tls_buf, (size_t)r, on_frame, t);
		if (rc)
			return rc;
	}
}

/* Starts the TLS session on a connected socket: the collector's name is checked as an IP address or
 * a DNS name, whichever --collector's host is. */
static int tls_start(struct dft_tx *t)
{
	X509_VERIFY_PARAM *vp;
	unsigned char ip[16];
	bool is_ip;

	t->ssl = SSL_new(t->tls);
	if (!t->ssl || SSL_set_fd(t->ssl, t->fd) != 1)
		return -ENOMEM;
	SSL_set_connect_state(t->ssl);
	vp = SSL_get0_param(t->ssl);
	is_ip = inet_pton(AF_INET, t->cfg->collector_host, ip) == 1 || inet_pton(AF_INET6, t->cfg->collector_host, ip) == 1;
	if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, t->cfg->collector_host) != 1
		  : X509_VERIFY_PARAM_set1_host(vp, t->cfg->collector_host, 0) != 1)
		return -EINVAL;
	if (!is_ip)
		SSL_set_tlsext_host_name(t->ssl, t->cfg->collector_host);
	return 0;
}

/* 1: the handshake finished, 0: not yet, -EPROTO with why: it failed. */
static int tls_handshake(struct dft_tx *t, char *why, size_t len)
{
	int r, e;

	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	if (r == 1)
		return 1;
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return 0;
	dft_tls_error(why, len);
	return -EPROTO;
}

static void hello_start(struct dft_tx *t)
{
	dft_frame_hdr_encode(t->hello, DFT_FRAME_HELLO, DFT_FRAME_ACK_LEN);
	dft_frame_ack_encode(t->hello + DFT_FRAME_HDR_LEN, t->cfg->sender_id, dft_nic_epoch);
	t->hello_off = 0;
	dft_frame_rx_reset(&t->rx);
	t->state = TX_HELLO;
}

/*
 * Backlog entries from send_idx (the first from send_off) in one sendmsg, as many as the socket
 * takes; advances send_idx/send_off. Returns the frames completed, or -errno.
 */
static int write_backlog(struct dft_tx *t)
{
	struct iovec iov[IOV_MAX_FRAMES];
	struct msghdr mh = {.msg_iov = iov};
	uint32_t n = t->bl.count - t->send_idx;
	ssize_t w;
	int done = 0;

	if (t->ssl) {
		/* TLS: one record per entry, through the session (no gathered write under OpenSSL) */
		struct dft_backlog_entry *e = dft_backlog_at(&t->bl, t->send_idx);
		ssize_t put = tx_write(t, e->buf + t->send_off, e->len - t->send_off);

		if (put <= 0)
			return (int)put;
		t->send_off += (size_t)put;
		if (t->send_off < e->len)
			return 0;
		t->send_idx++;
		t->send_off = 0;
		dft_ctr_add(&dft_nic_ctr.batches_sent, 1);
		return 1;
	}
	if (n > IOV_MAX_FRAMES)
		n = IOV_MAX_FRAMES;
	for (uint32_t i = 0; i < n; i++) {
		struct dft_backlog_entry *e = dft_backlog_at(&t->bl, t->send_idx + i);
		size_t off = i ? 0 : t->send_off;

		iov[i] = (struct iovec){.iov_base = e->buf + off, .iov_len = e->len - off};
	}
	mh.msg_iovlen = n;
	do
		w = sendmsg(t->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	while (w > 0) {
		struct dft_backlog_entry *e = dft_backlog_at(&t->bl, t->send_idx);
		size_t left = e->len - t->send_off;

		if ((size_t)w < left) {
			t->send_off += (size_t)w;
			break;
		}
		w -= (ssize_t)left;
		t->send_idx++;
		t->send_off = 0;
		done++;
		dft_ctr_add(&dft_nic_ctr.batches_sent, 1);
	}
	return done;
}

/* Write what the socket takes: the rest of the HELLO, then backlog entries in order (when enough
 * wait, or long enough: see the top of the file). */
static int flush_out(struct dft_tx *t, uint64_t now)
{
	int work = 0;

	if (t->state == TX_HELLO && t->hello_off < sizeof(t->hello)) {
		ssize_t w = tx_write(t, t->hello + t->hello_off, sizeof(t->hello) - t->hello_off);

		if (w < 0)
			return (int)w;
		t->hello_off += (size_t)w;
		return w > 0;
	}
	if (t->state == TX_UP && t->send_off == 0 && t->bl.count - t->send_idx < TX_COALESCE &&
	    now - t->unsent_since < t->tx_hold && t->bl.count * 2 < t->bl.cap)
		return 0;
	while (t->state == TX_UP && t->send_idx < t->bl.count) {
		int rc = write_backlog(t);

		if (rc <= 0)
			return rc < 0 ? rc : work;
		work += rc;
	}
	return work;
}

static int tcp_poll(struct dft_tx *t, uint64_t now)
{
	int rc, work = 0;

	switch (t->state) {
	case TX_DOWN:
		if (now < t->next_try)
			return 0;
		start_connect(t, now);
		return 1;
	case TX_CONNECTING: {
		struct pollfd pfd = {.fd = t->fd, .events = POLLOUT};
		int err = 0;
		socklen_t l = sizeof(err);

		if (poll(&pfd, 1, 0) <= 0)
			return 0; /* handshake still in progress */
		if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &err, &l) || err) {
			go_down(t, now, "connect", err ? err : errno);
			return 1;
		}
		dft_ctr_add(&dft_nic_ctr.connects, 1);
		DFT_LOG(INFO, tx, "collector %s:%s: connected", t->cfg->collector_host, t->cfg->collector_port);
		work = 1;
		if (t->tls) {
			if (tls_start(t)) {
				go_down(t, now, "TLS setup", ENOMEM);
				return 1;
			}
			t->state = TX_TLS;
			return 1;
		}
		hello_start(t);
		break;
	}
	case TX_TLS: {
		char why[256];

		rc = tls_handshake(t, why, sizeof(why));
		if (rc == 0)
			return 0;
		if (rc < 0) {
			go_down(t, now, why, 0);
			return 1;
		}
		hello_start(t);
		work = 1;
		break;
	}
	default:
		break;
	}
	rc = flush_out(t, now);
	if (rc < 0)
		goto down;
	work += rc;
	/* up: ACKs retire entries in order and may wait; a half-full backlog wants them now */
	if (t->state == TX_UP && now < t->next_rx && t->bl.count * 2 < t->bl.cap)
		return work;
	t->next_rx = now + t->rx_every;
	rc = tx_read(t);
	if (rc < 0)
		goto down;
	rc = flush_out(t, now); /* the ACK of a HELLO may have opened the way for the backlog */
	if (rc < 0)
		goto down;
	return work + rc;
down:
	go_down(t, now, rc == -EBADMSG ? "bad frame from the collector" : "i/o", -rc);
	return 1;
}

static int tcp_admit(struct dft_tx *t, uint64_t seq, uint32_t n_spans, uint8_t *buf, size_t len)
{
	if (t->bl.count < t->bl.cap)
		dft_frame_hdr_encode(buf, DFT_FRAME_BATCH, (uint32_t)(len - DFT_FRAME_HDR_LEN));
	if (t->send_idx == t->bl.count)
		t->unsent_since = rte_rdtsc();
	return dft_backlog_push(&t->bl, seq, n_spans, buf, len);
}

static bool tcp_ready(const struct dft_tx *t)
{
	return t->state == TX_UP && dft_backlog_half_free(&t->bl);
}

static const struct dft_backlog *tcp_backlog(const struct dft_tx *t)
{
	return &t->bl;
}

static uint64_t tcp_discard(struct dft_tx *t)
{
	t->send_idx = 0;
	t->send_off = 0;
	return dft_backlog_discard(&t->bl);
}

const struct dft_tx_ops dft_tx_tcp_ops = {
	.name = "tcp",
	.create = tcp_create,
	.destroy = tcp_destroy,
	.poll = tcp_poll,
	.admit = tcp_admit,
	.ready = tcp_ready,
	.backlog = tcp_backlog,
	.discard = tcp_discard,
	.hdr_room = DFT_FRAME_HDR_LEN,
};
