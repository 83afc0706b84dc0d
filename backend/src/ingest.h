/* SPDX-License-Identifier: MIT */
/*
 * The collector's ingest core (ingest.c), which every transport shares: batch in, dedup, into the
 * sinks and the open SQLite transaction, then at the end of the round the group commit and the
 * transports' ACKs (tcp_server.h) or credits (rdma_hookup.h) out.
 *
 * It is exposed so it can be driven without a network. A round: set the clock, ingest batches, end
 * the round (reconstructions due, group commit, then ACKs and RDMA credits).
 */
#ifndef DFT_INGEST_H
#define DFT_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dft_collector;
struct dft_sender;

void dft_collector_set_clock(struct dft_collector *c, uint64_t now_ms);
/*
 * One BATCH payload from sender_id (as the transport authenticated it; expect_seq: the transport's
 * own sequence for it, 0 = none). Returns 0 with *seq set (*dup: already stored or in this round),
 * -EBADMSG for a bad or refused batch (counted in frames_bad, or batches_seq_refused /
 * batches_refused; the connection must be dropped, nothing else is undone), -EDQUOT (sender table
 * busy), or another -errno when the round failed (it will roll back).
 */
int dft_collector_ingest(struct dft_collector *c, uint64_t sender_id, uint64_t expect_seq, const uint8_t *p, size_t len,
                         uint64_t *seq, bool *dup);
/* Exports the reconstructions due at the collector's clock, then commits (or rolls back) the round. */
int dft_collector_end_round(struct dft_collector *c);

/*
 * The sender's entry, reloaded from the store when it is not in the table (evicted as idle, or
 * past the table when the collector started), so dedup never forgets a committed sequence.
 * NULL: every entry is busy (counted in senders_refused) or the store failed.
 */
struct dft_sender *dft_ingest_sender(struct dft_collector *c, uint64_t sender_id);
/* dft_collector_end_round for the chains due at due_limit (UINT64_MAX: all of them). 0 or -EIO. */
int dft_ingest_end_round(struct dft_collector *c, uint64_t due_limit);

#endif /* DFT_INGEST_H */
