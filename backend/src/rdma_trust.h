/* SPDX-License-Identifier: MIT */
/*
 * The collector's side of the RDMA handshake (dft/rdma_auth.h): which keys it holds, whether it may
 * run without them, and the refusals it logs and counts. collector.c only calls in here.
 */
#ifndef DFT_RDMA_TRUST_H
#define DFT_RDMA_TRUST_H

#include "collector.h"

struct dft_rdma_server_cfg;
struct dft_rdma_server_stats;
struct dft_rdma_trust;

/*
 * For --transport rdma: loads cfg->rdma_keys (every key file checked, dft_rdma_keyring_load), or,
 * without keys, refuses to start unless cfg->insecure (then logs a WARNING). *out is NULL when
 * running without keys. 0 or -errno (the reason printed).
 */
int dft_rdma_trust_open(const struct dft_collector_cfg *cfg, struct dft_rdma_trust **out);
void dft_rdma_trust_close(struct dft_rdma_trust *t);
/* Sets the server's key lookup, refusal log and proof deadline (nothing with t NULL). */
void dft_rdma_trust_server_cfg(struct dft_rdma_trust *t, const struct dft_collector_cfg *cfg,
			       struct dft_rdma_server_cfg *sc);
/* base += add, every counter (a restarted server starts from zero). */
void dft_rdma_stats_add(struct dft_rdma_server_stats *base, const struct dft_rdma_server_stats *add);

#endif /* DFT_RDMA_TRUST_H */
