/* SPDX-License-Identifier: MIT */
/* Export of the platform spans rebuilt from function spans' hops (recon.c; rebuild.h rebuilds). */
#ifndef DFT_RECON_H
#define DFT_RECON_H

#include <stdint.h>

#include "difftrace.pb-c.h"

struct dft_profiles;
struct dft_store;

#define DFT_RECON_HOPS_MAX 64u /* hops per function span considered; longer lists are cut whole */

struct dft_recon_cfg {
	uint32_t delay_ms;    /* how long a candidate waits for the real span */
	uint32_t max_pending; /* candidates held at once (0: 65536) */
	uint32_t profile_wait_ms; /* past the delay, for the sender's snapshot (recon.c) */
};

struct dft_recon_stats {
	uint64_t reconstructed; /* rebuilt spans exported, in committed rounds */
	uint64_t pending;       /* candidates waiting */
	uint64_t cut;           /* candidates not exported: the table was full or the hop list too long */
	uint64_t skipped;       /* candidates stored by the time they were due, or owned by another list */
	uint64_t unresolved;    /* spans exported without a name: no profile knew the hop's name hash */
	uint64_t superseded;    /* old stores only: stored rebuilt rows replaced by the real span */
	uint64_t kinds_cut;     /* span-kind votes not kept: more than 4096 names in one round */
};

struct dft_recon;

int dft_recon_create(const struct dft_recon_cfg *cfg, struct dft_recon **out);
void dft_recon_destroy(struct dft_recon *r);
/*
 * A span was stored in the open transaction (by sender, batch seq): its span kind is learned for its
 * (component, operation); when it is a function span with hops, every hop not stored yet becomes a
 * candidate, due at now_ms + delay. Returns 0 or -errno (store failure).
 */
int dft_recon_add(struct dft_recon *r, struct dft_store *st, const Difftrace__SpanBatch *b, const Difftrace__Span *fn,
                  uint64_t now_ms);
/* Receives each rebuilt batch (one per function span) to hand to the sinks; nothing is stored. */
typedef int (*dft_recon_emit_fn)(void *arg, const Difftrace__SpanBatch *b);
/*
 * Writes the round's span-kind votes to the store, then, for every chain due at now_ms (UINT64_MAX:
 * all of them), reads its trace back from the store, rebuilds it (trace_read.h) and emits the spans
 * its function span's hop list owns. Returns 0 or the first failure of emit or the store.
 */
int dft_recon_run(struct dft_recon *r, struct dft_store *st, const struct dft_profiles *prof, uint64_t now_ms,
                  dft_recon_emit_fn emit, void *arg);
/* The open transaction committed / rolled back: forget or restore what this round took and added. */
void dft_recon_commit(struct dft_recon *r);
void dft_recon_rollback(struct dft_recon *r);
/* When the oldest candidate is due (UINT64_MAX: none pending). */
uint64_t dft_recon_next_due(const struct dft_recon *r);
void dft_recon_get_stats(const struct dft_recon *r, struct dft_recon_stats *out);

#endif /* DFT_RECON_H */
