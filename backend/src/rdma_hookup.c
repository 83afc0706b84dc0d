/* SPDX-License-Identifier: MIT */
/*
 * The collector's RDMA transport (rdma_hookup.h): each received slot goes through the same ingest
 * path as a TCP BATCH, the sender being the one of the RDMA connect. The RDMA ring bounds what a
 * connection can hand over before its credits come back, and credits return only once the round
 * that took its batches committed.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "collector_impl.h"
#include "ingest.h"
#include "rdma_hookup.h"
#include "rdma_trust.h"

/*
 * What the client may drop from its backlog. The RDMA connect names no NIC epoch (a TCP HELLO
 * does), and a restarted NIC numbers from 1 again: the durable maximum of the epoch it replaced
 * would retire batches this collector never saw. 0 is always safe: the client resends its whole
 * backlog and dedup drops what is stored.
 */
static uint64_t rdma_resume(void *arg, uint64_t sender_id)
{
	(void)arg;
	(void)sender_id;
	return 0;
}

static int rdma_batch(void *arg, uint64_t sender_id, uint64_t seq, const uint8_t *payload, uint32_t len)
{
	struct dft_collector *c = arg;
	uint64_t got;
	bool dup;
	int rc;

	c->stats.frames++;
	rc = dft_collector_ingest(c, sender_id, seq, payload, len, &got, &dup);
	if (rc)
		return rc;
	c->rdma.round_batches++;
	return 0;
}

static int rdma_open(struct dft_collector *c, uint16_t port)
{
	char pstr[8];
	struct dft_rdma_server_cfg rc_cfg = {
	    .bind = c->cfg.listen_host,
	    .port = pstr,
	    .slots = c->cfg.rdma_slots,
	    .slot_size = c->cfg.rdma_slot_size,
	    .resume = rdma_resume,
	    .resume_arg = c,
	};
	int rc;

	dft_rdma_trust_server_cfg(c->rdma.trust, &c->cfg, &rc_cfg);
	snprintf(pstr, sizeof(pstr), "%u", port);
	rc = dft_rdma_server_create(&rc_cfg, &c->rdma.server);
	if (rc)
		return rc;
	c->port = dft_rdma_server_port(c->rdma.server);
	return 0;
}

/*
 * Credits acknowledge everything a connection handed over, so they cannot be withheld for a round
 * that rolled back while the connection lives on: drop every connection by closing the port; the
 * senders reconnect and resume from the durable maximum. RDMA has no BUSY frame, and a sender's
 * reconnect backoff starts again at 10 ms once it gets in: the port stays closed for a holdoff
 * that doubles while rounds keep failing, so a failing disk costs a restart per holdoff, not per
 * round.
 */
#define HOLDOFF_MIN_MS 250u
#define HOLDOFF_MAX_MS 8000u

static void rdma_restart(struct dft_collector *c)
{
	struct dft_rdma_server_stats rs;
	struct dft_rdma_hookup *h = &c->rdma;

	h->holdoff_ms = h->holdoff_ms ? h->holdoff_ms * 2 : HOLDOFF_MIN_MS;
	if (h->holdoff_ms > HOLDOFF_MAX_MS)
		h->holdoff_ms = HOLDOFF_MAX_MS;
	fprintf(stderr, "difftrace-collector: commit failed with RDMA batches in the round: closing the RDMA "
	                "port for %u ms so its senders back off and resend\n", h->holdoff_ms);
	c->stats.rdma_restarts++;
	dft_rdma_server_get_stats(h->server, &rs);
	dft_rdma_stats_add(&h->base, &rs);
	dft_rdma_server_destroy(h->server);
	h->server = NULL;
	h->reopen_at_ms = c->now_ms + h->holdoff_ms;
}

int dft_rdma_hookup_init(struct dft_collector *c)
{
	/* RDMA senders prove a per-sender key (rdma_trust.c), which also says what --insecure means */
	if (c->cfg.transport != DFT_TRANSPORT_RDMA)
		return 0;
	return dft_rdma_trust_open(&c->cfg, &c->rdma.trust);
}

int dft_rdma_hookup_listen(struct dft_collector *c)
{
	int rc = rdma_open(c, c->cfg.listen_port);

	if (rc)
		fprintf(stderr, "difftrace-collector: --listen %s:%u (rdma): %s\n", c->cfg.listen_host,
		        c->cfg.listen_port, strerror(-rc));
	return rc;
}

void dft_rdma_hookup_destroy(struct dft_collector *c)
{
	dft_rdma_server_destroy(c->rdma.server);
	c->rdma.server = NULL;
	dft_rdma_trust_close(c->rdma.trust);
	c->rdma.trust = NULL;
}

int dft_rdma_hookup_fd(const struct dft_collector *c)
{
	return c->rdma.server ? dft_rdma_server_fd(c->rdma.server) : -1;
}

int dft_rdma_hookup_poll(struct dft_collector *c)
{
	if (c->cfg.transport != DFT_TRANSPORT_RDMA)
		return 0;
	if (!c->rdma.server) {
		int rc;

		if (!c->rdma.reopen_at_ms)
			return -EIO; /* a reopen failed: nothing can reach this collector any more */
		if (c->now_ms < c->rdma.reopen_at_ms)
			return 0;
		c->rdma.reopen_at_ms = 0;
		rc = rdma_open(c, c->port);
		if (rc) {
			fprintf(stderr, "difftrace-collector: reopening the RDMA port %u: %s\n", c->port, strerror(-rc));
			return -EIO;
		}
	}
	return dft_rdma_server_poll(c->rdma.server, rdma_batch, c);
}

void dft_rdma_hookup_round_end(struct dft_collector *c, bool committed)
{
	if (committed && c->rdma.server) {
		dft_rdma_server_commit(c->rdma.server);
		if (c->rdma.round_batches)
			c->rdma.holdoff_ms = 0;
	} else if (!committed && c->rdma.round_batches && c->rdma.server)
		rdma_restart(c);
	c->rdma.round_batches = 0;
}

void dft_rdma_hookup_stats(struct dft_collector *c)
{
	c->stats.rdma = c->cfg.transport == DFT_TRANSPORT_RDMA;
	if (c->rdma.server) {
		struct dft_rdma_server_stats rs;

		/* the server's figures restart with it; keep what earlier incarnations counted */
		dft_rdma_server_get_stats(c->rdma.server, &rs);
		dft_rdma_stats_add(&rs, &c->rdma.base);
		c->stats.rdma_st = rs;
	} else if (c->stats.rdma) {
		c->stats.rdma_st = c->rdma.base; /* closed for a holdoff */
	}
}
