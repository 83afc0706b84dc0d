/* SPDX-License-Identifier: MIT */
/*
 * RDMA transport to difftrace-collector: the backlog (backlog.c) over the verbs client in
 * shared/src/rdma_client.c, whose protocol is written out in dft/rdma.h and docs/rdma.md.
 *
 *   1. the client connects (rdma_cm; backoff 10 ms .. 1 s) and learns the collector's resume_seq:
 *      backlog entries <= resume_seq are durable already and retired as reported.
 *   2. entries are written in sequence order, one per receive-ring slot, as credits allow.
 *   3. credits map back to the highest acknowledged sequence: entries up to it are retired.
 *   4. a new connection (epoch) rewinds the send cursor to the oldest unacknowledged entry.
 * A batch larger than the collector's slot can never be written: it is dropped and its spans
 * counted as lost_transport (the collector's dedup accepts the gap in sequences).
 * With --rdma-key the client proves the key before its first batch and writes nothing to a
 * collector that cannot prove the same key (dft/rdma_auth.h): such a collector is logged and the
 * client keeps retrying, as for one that is down.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>

#include <openssl/crypto.h>

#include "backlog.h"
#include "dft/clock.h"
#include "dft/rdma.h"
#include "dft/rdma_auth.h"
#include "log.h"
#include "tx.h"
#include "stats.h"

struct dft_tx {
	const struct dft_nic_config *cfg;
	struct dft_rdma_client *client;
	struct dft_backlog bl;
	uint64_t epoch;
	uint32_t send_idx; /* entries before it (relative to the oldest) are written on this connection */
	uint64_t connects_seen, disconnects_seen;
	uint64_t auth_refused_seen;
	struct dft_log_limit auth_log;
};

static int rdma_create(const struct dft_nic_config *cfg, struct dft_tx **out)
{
	struct dft_rdma_client_cfg cc = {
		.host = cfg->collector_host,
		.port = cfg->collector_port,
		.bind = cfg->rdma_bind[0] ? cfg->rdma_bind : NULL,
		.sender_id = cfg->sender_id,
	};
	struct dft_tx *t = calloc(1, sizeof(*t));
	struct dft_rdma_key key;
	char why[512];
	int rc;

	if (!t)
		return -ENOMEM;
	t->cfg = cfg;
	t->auth_log.interval_ns = 10000000000ull;
	if (cfg->rdma_key[0]) {
		rc = dft_rdma_key_load(cfg->rdma_key, &key, why, sizeof(why));
		if (rc) {
			DFT_LOG(ERR, tx, "--rdma-key: %s", why);
			goto err_free;
		}
		cc.key = &key;
	} else {
		DFT_LOG(WARNING, tx, "rdma: no --rdma-key: this sender proves nothing, so only a collector run "
			"with --insecure takes its batches (docs/security.md)");
	}
	rc = dft_backlog_init(&t->bl, cfg->backlog + 1); /* +1: room for the final zero-span batch */
	if (rc)
		goto err_key;
	rc = dft_rdma_client_create(&cc, &t->client); /* copies the key */
	if (rc)
		goto err_backlog;
	OPENSSL_cleanse(&key, sizeof(key));
	*out = t;
	return 0;
err_backlog:
	dft_backlog_fini(&t->bl);
err_key:
	OPENSSL_cleanse(&key, sizeof(key));
err_free:
	free(t);
	return rc;
}

static void rdma_destroy(struct dft_tx *t)
{
	dft_rdma_client_destroy(t->client);
	dft_backlog_fini(&t->bl);
	free(t);
}

static void sync_link_counters(struct dft_tx *t)
{
	struct dft_rdma_client_stats st;

	dft_rdma_client_get_stats(t->client, &st);
	dft_ctr_add(&dft_nic_ctr.connects, st.connects - t->connects_seen);
	dft_ctr_add(&dft_nic_ctr.disconnects, st.disconnects - t->disconnects_seen);
	t->connects_seen = st.connects;
	t->disconnects_seen = st.disconnects;
	if (st.auth_refused != t->auth_refused_seen) {
		uint64_t held;

		if (dft_log_limit_pass(&t->auth_log, dft_clock_ns(CLOCK_MONOTONIC), &held))
			DFT_LOG(ERR, tx, "rdma: the collector at %s:%s could not prove this sender's key: no batch "
				"written to it (%" PRIu64 " refusals so far)", t->cfg->collector_host,
				t->cfg->collector_port, st.auth_refused);
		t->auth_refused_seen = st.auth_refused;
	}
}

static int rdma_poll(struct dft_tx *t, uint64_t now)
{
	int work = 0;
	uint32_t retired;

	(void)now;
	dft_rdma_client_poll(t->client);
	sync_link_counters(t);
	if (!dft_rdma_client_connected(t->client))
		return 0;
	if (dft_rdma_client_epoch(t->client) != t->epoch) {
		t->epoch = dft_rdma_client_epoch(t->client);
		dft_backlog_retire_upto(&t->bl, dft_rdma_client_resume_seq(t->client));
		t->send_idx = 0;
		work = 1;
	}
	retired = dft_backlog_retire_upto(&t->bl, dft_rdma_client_acked(t->client));
	t->send_idx = retired > t->send_idx ? 0 : t->send_idx - retired;
	work += retired > 0;
	while (t->send_idx < t->bl.count) {
		struct dft_backlog_entry *e = dft_backlog_at(&t->bl, t->send_idx);
		int rc = dft_rdma_client_send(t->client, e->seq, e->buf, e->len);

		if (rc == -EMSGSIZE && t->send_idx == 0) {
			dft_ctr_add(&dft_nic_ctr.lost_transport, dft_backlog_drop_oldest(&t->bl));
			continue;
		}
		if (rc)
			break; /* no credit yet, or the connection just failed */
		t->send_idx++;
		dft_ctr_add(&dft_nic_ctr.batches_sent, 1);
		work++;
	}
	return work;
}

static int rdma_admit(struct dft_tx *t, uint64_t seq, uint32_t n_spans, uint8_t *buf, size_t len)
{
	return dft_backlog_push(&t->bl, seq, n_spans, buf, len);
}

static bool rdma_ready(const struct dft_tx *t)
{
	return dft_rdma_client_connected(t->client) && dft_backlog_half_free(&t->bl);
}

static const struct dft_backlog *rdma_backlog(const struct dft_tx *t)
{
	return &t->bl;
}

static uint64_t rdma_discard(struct dft_tx *t)
{
	t->send_idx = 0;
	return dft_backlog_discard(&t->bl);
}

const struct dft_tx_ops dft_tx_rdma_ops = {
	.name = "rdma",
	.create = rdma_create,
	.destroy = rdma_destroy,
	.poll = rdma_poll,
	.admit = rdma_admit,
	.ready = rdma_ready,
	.backlog = rdma_backlog,
	.discard = rdma_discard,
	.hdr_room = 0,
};
