/* SPDX-License-Identifier: MIT */
/* The collector's keys for RDMA senders and its refusal log (rdma_trust.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "dft/clock.h"
#include "dft/rdma.h"
#include "dft/rdma_auth.h"
#include "rdma_trust.h"

#define REFUSE_LOG_INTERVAL_NS 1000000000ull /* a peer can refuse itself at line rate: log one a second */

struct dft_rdma_trust {
	struct dft_rdma_keyring *keys;
	uint64_t log_next_ns;
	uint64_t log_held;
};

int dft_rdma_trust_open(const struct dft_collector_cfg *cfg, struct dft_rdma_trust **out)
{
	struct dft_rdma_trust *t;
	char err[512];
	int rc;

	*out = NULL;
	if (!cfg->rdma_keys) {
		if (!cfg->insecure) {
			fprintf(stderr, "difftrace-collector: no sender authentication: --transport rdma needs "
			                "--rdma-keys DIR|FILE (a key per sender id), or --insecure to accept senders "
			                "that prove nothing (docs/security.md)\n");
			return -EACCES;
		}
		fprintf(stderr, "difftrace-collector: WARNING: --insecure: RDMA senders are not authenticated; any peer "
		                "that reaches the port can claim any sender id (docs/security.md)\n");
		return 0;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	rc = dft_rdma_keyring_load(cfg->rdma_keys, &t->keys, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "difftrace-collector: --rdma-keys: %s\n", err);
		free(t);
		return rc;
	}
	fprintf(stderr, "difftrace-collector: RDMA: %u sender key%s from %s\n", dft_rdma_keyring_count(t->keys),
	        dft_rdma_keyring_count(t->keys) == 1 ? "" : "s", cfg->rdma_keys);
	*out = t;
	return 0;
}

void dft_rdma_trust_close(struct dft_rdma_trust *t)
{
	if (!t)
		return;
	dft_rdma_keyring_free(t->keys);
	free(t);
}

static int trust_key(void *arg, uint64_t sender_id, struct dft_rdma_key *out)
{
	struct dft_rdma_trust *t = arg;

	return dft_rdma_keyring_get(t->keys, sender_id, out);
}

static void trust_refused(void *arg, uint64_t sender_id, const char *why)
{
	struct dft_rdma_trust *t = arg;
	uint64_t now = dft_clock_ns(CLOCK_MONOTONIC);

	if (now < t->log_next_ns) {
		t->log_held++;
		return;
	}
	fprintf(stderr, "difftrace-collector: RDMA handshake refused: sender %016llx: %s (%llu more not logged)\n",
	        (unsigned long long)sender_id, why, (unsigned long long)t->log_held);
	t->log_held = 0;
	t->log_next_ns = now + REFUSE_LOG_INTERVAL_NS;
}

void dft_rdma_trust_server_cfg(struct dft_rdma_trust *t, const struct dft_collector_cfg *cfg,
			       struct dft_rdma_server_cfg *sc)
{
	if (!t)
		return;
	sc->key = trust_key;
	sc->refused = trust_refused;
	sc->auth_arg = t;
	/* the proof is the RDMA counterpart of TCP's HELLO: due within the same read timeout */
	sc->auth_timeout_ms = cfg->read_timeout_ms;
}

void dft_rdma_stats_add(struct dft_rdma_server_stats *base, const struct dft_rdma_server_stats *add)
{
	base->accepted += add->accepted;
	base->rejected += add->rejected;
	base->disconnects += add->disconnects;
	base->batches += add->batches;
	base->bad_slots += add->bad_slots;
	base->auth_ok += add->auth_ok;
	base->auth_no_key += add->auth_no_key;
	base->auth_bad_proof += add->auth_bad_proof;
	base->auth_timed_out += add->auth_timed_out;
	base->auth_evicted += add->auth_evicted;
}
