/* SPDX-License-Identifier: MIT */
/*
 * The frames of one TCP connection (tcp_frames.h). A connection reads at most
 * ROUND_BYTES_PER_CONN and queues at most ROUND_ACKS_PER_CONN ACKs a round: the read budget bounds
 * both the transaction and the ACKs a round can queue on one connection.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "collector_impl.h"
#include "conn.h"
#include "dedup.h"
#include "ingest.h"
#include "tcp_frames.h"
#include "tcp_server.h"

#define ROUND_BYTES_PER_CONN (1u << 20)
#define ROUND_ACKS_PER_CONN  2048u

struct frame_ctx {
	struct dft_collector *c;
	struct dft_conn *cn;
	uint32_t slot;
	int cb_rc;       /* what the callback returned last: tells its errors from the reader's */
	uint32_t frames; /* complete frames handled */
};

/* A sender past its connection quota: its least recently active connection goes (a NIC that
 * reconnects while its old connection is half-open must get in). */
static void sender_conn_quota(struct dft_collector *c, const struct dft_conn *cn, struct dft_sender *s)
{
	struct dft_conn *old = NULL;
	uint32_t i, n = 0;

	if (s->conns < c->cfg.max_conns_per_peer)
		return;
	for (i = 0; i < c->cfg.max_conns; i++) {
		struct dft_conn *o = &c->tcp.conns[i];

		if (o == cn || o->fd < 0 || !o->hello || o->closing || o->sender_id != s->sender_id)
			continue;
		n++;
		if (!old || o->last_rx_ms < old->last_rx_ms)
			old = o;
	}
	if (old && n >= c->cfg.max_conns_per_peer) {
		c->stats.sender_conns_evicted++;
		dft_tcp_log(old, "closed", "its sender opened more connections than max_conns_per_peer");
		old->closing = true;
	}
}

static int on_hello(struct dft_collector *c, struct dft_conn *cn, const uint8_t *p, uint32_t len)
{
	struct dft_sender *s;
	uint64_t sender_id, epoch;

	if (cn->hello || dft_frame_ack_decode(p, len, &sender_id, &epoch)) {
		c->stats.frames_bad++;
		dft_tcp_log(cn, "bad frame", "second HELLO");
		return -EBADMSG;
	}
	/* with TLS the certificate says who this is; the HELLO may only agree */
	if (cn->ssl && sender_id != cn->cert_sender_id) {
		char why[96];

		c->stats.hello_refused++;
		snprintf(why, sizeof(why), "HELLO names sender %016llx, the certificate %016llx",
		         (unsigned long long)sender_id, (unsigned long long)cn->cert_sender_id);
		dft_tcp_log(cn, "refused", why);
		return -EACCES;
	}
	s = dft_ingest_sender(c, sender_id);
	if (!s) {
		dft_tcp_log(cn, "refused", "sender table busy");
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

static int on_batch(struct dft_collector *c, uint32_t slot, struct dft_conn *cn, const uint8_t *p, uint32_t len)
{
	uint64_t seq;
	bool dup;
	int rc;

	if (!cn->hello) {
		c->stats.frames_bad++;
		dft_tcp_log(cn, "bad frame", "BATCH before HELLO");
		return -EBADMSG;
	}
	rc = dft_collector_ingest(c, cn->sender_id, 0, p, len, &seq, &dup);
	if (rc)
		return rc;
	rc = dft_tcp_ack_later(c, slot, cn, seq);
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
		dft_tcp_log(fc->cn, "bad frame", "unexpected frame type from a sender");
		fc->cb_rc = -EBADMSG;
	}
	return fc->cb_rc;
}

void dft_tcp_read(struct dft_collector *c, uint32_t slot)
{
	struct dft_conn *cn = &c->tcp.conns[slot];
	struct frame_ctx fc = {c, cn, slot, 0, 0};

	if (cn->ssl && !cn->tls_done) {
		char err[256];
		int rc = dft_conn_handshake(cn, err, sizeof(err));

		if (rc == 0)
			return;
		if (rc < 0) {
			c->stats.tls_refused++;
			dft_tcp_log(cn, "refused", err);
			cn->closing = true;
			return;
		}
		cn->last_rx_ms = c->now_ms;
	}
	while (!cn->closing && cn->round_bytes < ROUND_BYTES_PER_CONN && cn->round_acks < ROUND_ACKS_PER_CONN) {
		ssize_t r = dft_conn_recv(cn, c->tcp.chunk, sizeof(c->tcp.chunk));
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
		rc = dft_frame_rx_feed(&cn->rx, c->tcp.chunk, (size_t)r, on_frame, &fc);
		/* the read timeout runs from the start of the frame in progress, however slowly it trickles */
		if (cn->rx.have == 0)
			cn->partial_since_ms = 0;
		else if (fc.frames != frames || !cn->partial_since_ms)
			cn->partial_since_ms = c->now_ms;
		if (rc == -ENOBUFS && fc.cb_rc == 0) {
			/* counted in the budget's refused */
			dft_tcp_log(cn, "dropped", "frame refused: the partial-frame memory budget is spent");
			cn->closing = true;
			break;
		}
		if (rc) {
			if (fc.cb_rc == 0) {
				/* the reader refused a frame header: the callback never saw that frame */
				c->stats.frames++;
				c->stats.frames_bad++;
				dft_tcp_log(cn, "bad frame header", strerror(-rc));
			}
			cn->closing = true;
			break;
		}
	}
}
