/* SPDX-License-Identifier: MIT */
/*
 * The collector's TCP transport (tcp_server.h): listener, accept, connection limits, timeouts and
 * the ACKs that wait for the group commit.
 *
 * Limits no peer can exhaust (docs/security.md): connections per source address and in total, with
 * connections that have not said HELLO evicted first; HELLO, and every frame once begun, due within
 * read_timeout_ms; nothing received for idle_timeout_ms closes a connection; one memory budget for
 * frames larger than a connection's base buffer, across all connections.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <openssl/ssl.h>

#include "collector_impl.h"
#include "conn.h"
#include "dedup.h"
#include "dft/tls.h"
#include "health.h"
#include "tcp_frames.h"
#include "tcp_server.h"

#define ACCEPT_PER_ROUND 16
/* how long a connection closed after BUSY may linger to deliver it, and what it may read meanwhile */
#define LINGER_MS 2000u
#define DRAIN_BYTES_PER_ROUND (1u << 20)

void dft_tcp_log(const struct dft_conn *cn, const char *what, const char *detail)
{
	fprintf(stderr, "difftrace-collector: connection fd %d sender %016llx: %s%s%s\n", cn->fd,
	        (unsigned long long)cn->sender_id, what, detail ? ": " : "", detail ? detail : "");
}

int dft_tcp_init(struct dft_collector *c)
{
	uint32_t i;

	c->tcp.lfd = -1;
	c->tcp.conns = calloc(c->cfg.max_conns, sizeof(*c->tcp.conns));
	if (!c->tcp.conns)
		return -ENOMEM;
	for (i = 0; i < c->cfg.max_conns; i++)
		c->tcp.conns[i].fd = -1;
	return 0;
}

int dft_tcp_ack_later(struct dft_collector *c, uint32_t slot, struct dft_conn *cn, uint64_t seq)
{
	if (c->tcp.nacks == c->tcp.acks_cap) {
		size_t ncap = c->tcp.acks_cap ? 2 * c->tcp.acks_cap : 1024;
		struct dft_tcp_ack *na = realloc(c->tcp.acks, ncap * sizeof(*na));

		if (!na)
			return -ENOMEM;
		c->tcp.acks = na;
		c->tcp.acks_cap = ncap;
	}
	c->tcp.acks[c->tcp.nacks++] = (struct dft_tcp_ack){slot, cn->gen, cn->sender_id, seq};
	cn->round_acks++;
	return 0;
}

void dft_tcp_close_slot(struct dft_collector *c, uint32_t slot)
{
	struct dft_conn *cn = &c->tcp.conns[slot];

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
		struct dft_conn *cn = &c->tcp.conns[i];

		if (cn->fd < 0 || cn->closing)
			continue;
		if (!cn->hello && c->now_ms - cn->opened_ms >= c->cfg.read_timeout_ms) {
			c->stats.connections_timed_out++;
			dft_tcp_log(cn, "closed", "no HELLO within the read timeout");
			cn->closing = true;
		} else if (cn->partial_since_ms && c->now_ms - cn->partial_since_ms >= c->cfg.read_timeout_ms) {
			c->stats.connections_timed_out++;
			dft_tcp_log(cn, "closed", "a frame not completed within the read timeout");
			cn->closing = true;
		} else if (c->now_ms - cn->last_rx_ms >= c->cfg.idle_timeout_ms) {
			c->stats.connections_idle_closed++;
			dft_tcp_log(cn, "closed", "nothing received within the idle timeout");
			cn->closing = true;
		}
	}
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
		const struct dft_conn *cn = &c->tcp.conns[i];
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
		if (old_any < 0 || cn->opened_ms < c->tcp.conns[old_any].opened_ms)
			old_any = (int)i;
		if (same && (old_mine < 0 || cn->opened_ms < c->tcp.conns[old_mine].opened_ms))
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
	dft_tcp_log(&c->tcp.conns[victim], "evicted", "no HELLO yet and its slot is wanted by a new connection");
	dft_conn_flush(&c->tcp.conns[victim]);
	dft_tcp_close_slot(c, (uint32_t)victim);
	return victim;
}

static void accept_conns(struct dft_collector *c)
{
	for (int n = 0; n < ACCEPT_PER_ROUND; n++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(c->tcp.lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
		cn = &c->tcp.conns[slot];
		if (dft_conn_open(cn, fd, ++c->tcp.next_gen, &c->tcp.budget)) {
			c->stats.connections_refused++;
			close(fd);
			continue;
		}
		if (c->tcp.tls) {
			cn->ssl = SSL_new(c->tcp.tls);
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

int dft_tcp_listen(struct dft_collector *c)
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
	c->tcp.lfd = fd;
	return 0;
}

uint32_t dft_tcp_nfds(const struct dft_collector *c)
{
	return 1 + c->cfg.max_conns;
}

void dft_tcp_poll_fill(struct dft_collector *c, struct pollfd *p)
{
	uint32_t i;

	p[0] = (struct pollfd){.fd = c->tcp.lfd, .events = POLLIN};
	for (i = 0; i < c->cfg.max_conns; i++) {
		struct dft_conn *cn = &c->tcp.conns[i];

		/* fd -1 makes poll skip the entry, so slots map 1:1 to p[1 + i] */
		p[1 + i].fd = cn->fd;
		p[1 + i].events = (short)(POLLIN | (cn->out_len || cn->tls_want_write ? POLLOUT : 0));
		p[1 + i].revents = 0;
	}
}

bool dft_tcp_serve(struct dft_collector *c, const struct pollfd *p, bool polled, bool tls_pending)
{
	uint32_t i;

	if (polled && (p[0].revents & POLLIN))
		accept_conns(c);
	if (!polled && !tls_pending)
		return false;
	tls_pending = false;
	for (i = 0; i < c->cfg.max_conns; i++) {
		struct dft_conn *cn = &c->tcp.conns[i];
		short re = polled ? p[1 + i].revents : 0;
		bool pending = cn->fd >= 0 && cn->ssl && cn->tls_done && SSL_pending(cn->ssl) > 0;

		if (cn->fd < 0 || (!re && !pending))
			continue;
		cn->round_bytes = 0;
		cn->round_acks = 0;
		if (cn->draining) {
			if (re & (POLLIN | POLLHUP | POLLERR) && dft_conn_drain(cn, DRAIN_BYTES_PER_ROUND))
				dft_tcp_close_slot(c, i); /* the peer's EOF: the BUSY before it was delivered */
			continue;
		}
		if (pending || (re & (POLLIN | POLLHUP | POLLERR)) || (cn->tls_want_write && (re & POLLOUT)))
			dft_tcp_read(c, i);
		if (cn->fd >= 0 && !cn->closing && cn->ssl && cn->tls_done && SSL_pending(cn->ssl) > 0)
			tls_pending = true; /* the round's read budget stopped it: come back at once */
	}
	return tls_pending;
}

void dft_tcp_sweep(struct dft_collector *c)
{
	uint32_t i;

	sweep_conns(c);
	for (i = 0; i < c->cfg.max_conns; i++) {
		struct dft_conn *cn = &c->tcp.conns[i];

		if (cn->fd < 0)
			continue;
		if (!cn->closing && dft_conn_flush(cn))
			cn->closing = true;
		if (cn->closing && c->now_ms < cn->linger_until_ms) {
			if (cn->draining)
				continue;
			if (dft_conn_flush(cn) == 0) {
				if (cn->out_len == 0)
					dft_conn_half_close(cn);
				continue;
			}
		}
		if (cn->closing) {
			/* what the peer may still read: its ACKs, best effort */
			dft_conn_flush(cn);
			dft_tcp_close_slot(c, i);
		}
	}
}

void dft_tcp_round_end(struct dft_collector *c, bool committed)
{
	size_t k;

	for (k = 0; k < c->tcp.nacks; k++) {
		const struct dft_tcp_ack *a = &c->tcp.acks[k];
		struct dft_conn *cn = &c->tcp.conns[a->slot];

		if (!committed) {
			if (cn->fd < 0 || cn->gen != a->gen || cn->closing)
				continue;
			/* BUSY, not silence: the NIC backs off instead of reconnecting at once (health.c) */
			if (dft_conn_queue_busy(cn, cn->sender_id, DFT_BUSY_RETRY_MS) == 0) {
				c->stats.busy_sent++;
				cn->linger_until_ms = c->now_ms + LINGER_MS;
			}
			cn->closing = true;
			continue;
		}
		if (cn->fd < 0 || cn->gen != a->gen)
			continue; /* gone: its sender learns the durable sequence from the next HELLO */
		if (dft_conn_queue_ack(cn, a->sender_id, a->seq)) {
			c->stats.acks_cut++;
			dft_tcp_log(cn, "dropped", "ACK buffer full (peer does not read)");
			cn->closing = true;
		}
	}
	c->tcp.nacks = 0;
}

uint64_t dft_tcp_open_count(const struct dft_collector *c)
{
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < c->cfg.max_conns; i++)
		n += c->tcp.conns[i].fd >= 0;
	return n;
}

void dft_tcp_close(struct dft_collector *c)
{
	uint32_t i;

	for (i = 0; i < c->cfg.max_conns; i++) {
		if (c->tcp.conns[i].fd >= 0) {
			dft_conn_flush(&c->tcp.conns[i]);
			dft_tcp_close_slot(c, i);
		}
	}
	if (c->tcp.lfd >= 0)
		close(c->tcp.lfd);
	c->tcp.lfd = -1;
}

void dft_tcp_free(struct dft_collector *c)
{
	free(c->tcp.acks);
	free(c->tcp.conns);
	dft_tls_ctx_destroy(c->tcp.tls);
}
