/* SPDX-License-Identifier: MIT */
/* Accounts per (sender, NIC epoch) (epochs.c): table epochs in the SQLite store. */
#ifndef DFT_EPOCHS_H
#define DFT_EPOCHS_H

#include <stdint.h>

struct dft_collector_stats;
struct dft_counters;
struct dft_dedup;
struct dft_sender;
struct dft_store;

/* Creates the table when missing. 0 or -EIO. */
int dft_epochs_init(struct dft_store *st);
/* The open epoch of a sender just read from the store (s->epoch, s->epoch_spans). 0 or -EIO. */
int dft_epoch_restore(struct dft_store *st, struct dft_sender *s);
/* dft_epoch_restore for every sender in d. 0 or -EIO. */
int dft_epochs_load(struct dft_store *st, struct dft_dedup *d);
/*
 * A batch of s came under epoch: close the current epoch's account (what its last counters claim
 * as produced and this collector never stored is lost for it) and start the new one from sequence
 * 0, inside the open transaction. -ESTALE: that epoch was closed before (a dead instance's batch
 * read late); -EIO: the store failed.
 */
int dft_epoch_begin(struct dft_store *st, struct dft_sender *s, uint64_t epoch, struct dft_collector_stats *cs);
/* The current epoch's row, with the open transaction's figures (at commit, beside the senders row). */
int dft_epoch_put(struct dft_store *st, const struct dft_sender *s);
/* After a rollback: drop senders whose epoch began in the rolled-back transaction from the table,
 * so the next lookup reloads them from the store. */
void dft_epochs_rollback(struct dft_dedup *d);
/* lost for a closed epoch: produced - stored - filtered - lost_*, 0 when the claims say less */
uint64_t dft_epoch_lost(const struct dft_counters *c, uint64_t stored);

#endif /* DFT_EPOCHS_H */
