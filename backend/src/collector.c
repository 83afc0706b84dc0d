/* SPDX-License-Identifier: MIT */
/*
 * The collector's event loop: one thread, poll() over the listener, the stop fd and every
 * connection.
 *
 * One poll round:
 *   1. accept new connections (past max_conns: accept and close at once, counted);
 *   2. read each readable connection up to a per-round budget and handle every complete frame:
 *        HELLO(sender, 0)  -> ACK(sender, durable max sequence of that sender), sent at once;
 *        BATCH             -> decode, validate (invalid: frames_bad, drop the connection), dedup;
 *                             a new batch goes to every sink and into the open SQLite transaction;
 *                             new or duplicate, its ACK waits for the commit;
 *   3. group commit: flush the sinks (OTLP JSON lands before the spans are durable, so a crash can
 *      duplicate an export but never lose one), write the senders rows, COMMIT, then queue the ACKs;
 *      if anything fails, roll back and drop the connections whose batches were in the round, so
 *      their senders reconnect and resend;
 *   4. write queued ACKs; rewrite the stats file once a second.
 * The read budget bounds both the transaction and the ACKs a round can queue on one connection.
 */
#define _GNU_SOURCE /* accept4 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "collector.h"

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
	struct dft_sink sinks[2];
	unsigned nsinks;
	struct dft_collector_stats stats;

	/* the current round */
	struct pending_ack *acks;
	size_t nacks, acks_cap;
	uint64_t round_batches;
	uint64_t round_exported;
	bool round_failed;

	uint8_t chunk[READ_CHUNK];
};

struct frame_ctx {
	struct dft_collector *c;
	struct dft_conn *cn;
	uint32_t slot;
	int cb_rc; /* what the callback returned last: tells its errors from the reader's */
};

static void log_conn(const struct dft_conn *cn, const char *what, const char *detail)
{
	fprintf(stderr, "difftrace-collector: connection fd %d sender %016llx: %s%s%s\n", cn->fd,
	        (unsigned long long)cn->sender_id, what, detail ? ": " : "", detail ? detail : "");
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
	uint64_t sender_id, zero;

	if (cn->hello || dft_frame_ack_decode(p, len, &sender_id, &zero)) {
		c->stats.frames_bad++;
		log_conn(cn, "bad frame", "second HELLO");
		return -EBADMSG;
	}
	s = dft_dedup_get(&c->dedup, sender_id, true);
	if (!s) {
		log_conn(cn, "refused", "sender table full");
		return -EDQUOT;
	}
	cn->hello = true;
	cn->sender_id = sender_id;
	/* durable_seq, not max_seq: only what is committed may be dropped from the sender's backlog */
	return dft_conn_queue_ack(cn, sender_id, s->durable_seq);
}

/* Everything a new batch goes to; failures make the whole round roll back. */
static int take_batch(struct dft_collector *c, struct dft_sender *s, const Difftrace__SpanBatch *b)
{
	uint64_t exported = 0;
	unsigned i;
	int rc;

	for (i = 0; i < c->nsinks; i++) {
		rc = c->sinks[i].ops->put(c->sinks[i].ctx, b, &exported);
		if (rc) {
			fprintf(stderr, "difftrace-collector: sink %s: %s\n", c->sinks[i].ops->name, strerror(-rc));
			return rc;
		}
	}
	rc = dft_store_put_batch(c->store, b);
	if (rc) {
		fprintf(stderr, "difftrace-collector: store: %s\n", dft_store_errmsg(c->store));
		return rc;
	}
	c->round_exported += exported;
	c->round_batches++;
	s->pending_spans += b->n_spans;
	if (b->header->sequence > s->counters_seq) {
		s->counters_seq = b->header->sequence;
		dft_counters_from_proto(&s->counters, b->header->counters);
	}
	return 0;
}

static int on_batch(struct dft_collector *c, uint32_t slot, struct dft_conn *cn, const uint8_t *p, uint32_t len)
{
	struct dft_decoded *dec;
	const Difftrace__SpanBatch *b;
	struct dft_sender *s;
	const char *reason = NULL;
	int rc;

	if (!cn->hello) {
		c->stats.frames_bad++;
		log_conn(cn, "bad frame", "BATCH before HELLO");
		return -EBADMSG;
	}
	rc = dft_batch_decode(p, len, &dec, &reason);
	if (rc) {
		c->stats.frames_bad++;
		log_conn(cn, "bad batch", reason);
		return rc;
	}
	b = dec->batch;
	rc = dft_batch_validate(b, cn->sender_id, &reason);
	if (rc) {
		c->stats.frames_bad++;
		log_conn(cn, "bad batch", reason);
		goto free_batch;
	}
	s = dft_dedup_get(&c->dedup, cn->sender_id, false);
	if (!s) {
		rc = -ENOENT; /* cannot happen: HELLO created it and entries are never removed */
		goto free_batch;
	}
	if (dft_dedup_accept(s, b->header->sequence)) {
		rc = take_batch(c, s, b);
		if (rc) {
			c->round_failed = true;
			goto free_batch;
		}
	} else {
		/* already stored, or in this very round: its ACK follows the commit like any other */
		c->stats.batches_duplicate++;
	}
	rc = ack_later(c, slot, cn, b->header->sequence);
	if (rc)
		c->round_failed = true;
free_batch:
	dft_batch_free(dec);
	return rc;
}

static int on_frame(void *arg, uint16_t type, const uint8_t *payload, uint32_t len)
{
	struct frame_ctx *fc = arg;
	struct dft_collector *c = fc->c;

	c->stats.frames++;
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
	struct frame_ctx fc = {c, cn, slot, 0};

	while (!cn->closing && cn->round_bytes < ROUND_BYTES_PER_CONN && cn->round_acks < ROUND_ACKS_PER_CONN) {
		ssize_t r = recv(cn->fd, c->chunk, sizeof(c->chunk), MSG_DONTWAIT);
		int rc;

		if (r == 0) {
			cn->closing = true;
			break;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				cn->closing = true;
			break;
		}
		cn->round_bytes += (size_t)r;
		rc = dft_frame_rx_feed(&cn->rx, c->chunk, (size_t)r, on_frame, &fc);
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
	dft_conn_close(&c->conns[slot]);
}

/* Roll back the round and drop the connections that fed it, so their senders resend. */
static void round_abort(struct dft_collector *c)
{
	size_t i;

	c->stats.commit_failures++;
	dft_store_rollback(c->store);
	dft_dedup_rollback(&c->dedup);
	for (i = 0; i < c->nacks; i++) {
		struct dft_conn *cn = &c->conns[c->acks[i].slot];

		if (cn->fd >= 0 && cn->gen == c->acks[i].gen)
			cn->closing = true;
	}
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
				fprintf(stderr, "difftrace-collector: sink %s flush: %s\n", c->sinks[i].ops->name,
				        strerror(-rc));
				goto abort;
			}
		}
		while ((s = dft_dedup_next(&c->dedup, &it))) {
			if (s->dirty && dft_store_put_sender(c->store, s)) {
				fprintf(stderr, "difftrace-collector: store: %s\n", dft_store_errmsg(c->store));
				goto abort;
			}
		}
		if (dft_store_commit(c->store)) {
			fprintf(stderr, "difftrace-collector: store: %s\n", dft_store_errmsg(c->store));
			goto abort;
		}
		dft_dedup_commit(&c->dedup);
		c->stats.commits++;
		c->stats.batches_accepted += c->round_batches;
		c->stats.spans_exported += c->round_exported;
	}
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
	rc = 0;
	goto reset;
abort:
	round_abort(c);
	rc = -EIO;
reset:
	c->nacks = 0;
	c->round_batches = 0;
	c->round_exported = 0;
	c->round_failed = false;
	return rc;
}

static void accept_conns(struct dft_collector *c)
{
	for (int n = 0; n < ACCEPT_PER_ROUND; n++) {
		int fd = accept4(c->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		uint32_t slot;
		int one = 1;

		if (fd < 0)
			return; /* EAGAIN, or a connection that died in the backlog */
		for (slot = 0; slot < c->cfg.max_conns && c->conns[slot].fd >= 0; slot++)
			;
		if (slot == c->cfg.max_conns || dft_conn_open(&c->conns[slot], fd, ++c->next_gen)) {
			c->stats.connections_refused++;
			close(fd);
			continue;
		}
		/* ACKs are small and latency-bound */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->stats.connections++;
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void write_stats(struct dft_collector *c)
{
	uint32_t i;
	int rc;

	if (!c->cfg.stats_path)
		return;
	c->stats.connections_open = 0;
	for (i = 0; i < c->cfg.max_conns; i++)
		c->stats.connections_open += c->conns[i].fd >= 0;
	rc = dft_stats_write(c->cfg.stats_path, &c->stats, &c->dedup);
	if (rc)
		fprintf(stderr, "difftrace-collector: stats %s: %s\n", c->cfg.stats_path, strerror(-rc));
}

int dft_collector_run(struct dft_collector *c, int stop_fd)
{
	uint64_t next_stats = now_ms() + 1000;
	uint32_t i;

	for (;;) {
		nfds_t n = 0;
		uint64_t now;
		int timeout, pr;

		c->pfds[n++] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
		c->pfds[n++] = (struct pollfd){.fd = c->lfd, .events = POLLIN};
		for (i = 0; i < c->cfg.max_conns; i++) {
			struct dft_conn *cn = &c->conns[i];

			/* fd -1 makes poll skip the entry, so slots map 1:1 to pfds[2 + i] */
			c->pfds[n].fd = cn->fd;
			c->pfds[n].events = (short)(POLLIN | (cn->out_len ? POLLOUT : 0));
			c->pfds[n].revents = 0;
			n++;
		}
		now = now_ms();
		timeout = next_stats > now ? (int)(next_stats - now) : 0;
		pr = poll(c->pfds, n, timeout);
		if (pr < 0 && errno != EINTR)
			return -errno;
		if (pr > 0) {
			if (c->pfds[0].revents)
				break;
			if (c->pfds[1].revents & POLLIN)
				accept_conns(c);
			for (i = 0; i < c->cfg.max_conns; i++) {
				struct dft_conn *cn = &c->conns[i];
				short re = c->pfds[2 + i].revents;

				if (cn->fd < 0 || !re)
					continue;
				cn->round_bytes = 0;
				cn->round_acks = 0;
				if (re & (POLLIN | POLLHUP | POLLERR))
					read_conn(c, i);
			}
			round_commit(c);
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
		}
		now = now_ms();
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
	struct dft_collector *c;
	uint32_t i;
	int rc;

	*out = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	if (!c->cfg.max_conns)
		c->cfg.max_conns = DFT_MAX_CONNS;
	if (!c->cfg.max_senders)
		c->cfg.max_senders = DFT_MAX_SENDERS;
	c->lfd = -1;
	c->conns = calloc(c->cfg.max_conns, sizeof(*c->conns));
	c->pfds = calloc(c->cfg.max_conns + 2, sizeof(*c->pfds));
	if (!c->conns || !c->pfds) {
		rc = -ENOMEM;
		goto free_arrays;
	}
	for (i = 0; i < c->cfg.max_conns; i++)
		c->conns[i].fd = -1;
	rc = dft_dedup_init(&c->dedup, c->cfg.max_senders);
	if (rc)
		goto free_arrays;
	rc = dft_store_open(c->cfg.db_path, &c->store);
	if (rc)
		goto destroy_dedup;
	rc = dft_store_load_senders(c->store, &c->dedup);
	if (rc) {
		fprintf(stderr, "difftrace-collector: %s: %s\n", c->cfg.db_path, dft_store_errmsg(c->store));
		goto close_store;
	}
	if (c->cfg.otlp_json_path) {
		rc = dft_otlp_json_open(c->cfg.otlp_json_path, &c->sinks[c->nsinks]);
		if (rc) {
			fprintf(stderr, "difftrace-collector: --otlp-json %s: %s\n", c->cfg.otlp_json_path,
			        strerror(-rc));
			goto close_store;
		}
		c->nsinks++;
	}
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
destroy_dedup:
	dft_dedup_destroy(&c->dedup);
free_arrays:
	free(c->pfds);
	free(c->conns);
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
	/* every round ends with a commit, so nothing accepted is pending here; ACKs go out best effort */
	if (c->nacks || dft_store_in_txn(c->store))
		round_commit(c);
	for (i = 0; i < c->cfg.max_conns; i++) {
		if (c->conns[i].fd >= 0) {
			dft_conn_flush(&c->conns[i]);
			close_slot(c, i);
		}
	}
	close(c->lfd);
	write_stats(c);
	while (c->nsinks) {
		c->nsinks--;
		c->sinks[c->nsinks].ops->destroy(c->sinks[c->nsinks].ctx);
	}
	dft_store_close(c->store);
	dft_dedup_destroy(&c->dedup);
	free(c->acks);
	free(c->pfds);
	free(c->conns);
	free(c);
}
