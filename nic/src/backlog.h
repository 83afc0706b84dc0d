/* SPDX-License-Identifier: MIT */
/*
 * The bounded backlog of packed batches a transport has not had acknowledged yet, in sequence
 * order. Transports (tcp, rdma) differ in how they send and learn acknowledgements; what is kept,
 * retired as reported, and discarded as lost is the same and lives here.
 */
#ifndef DFT_NIC_BACKLOG_H
#define DFT_NIC_BACKLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dft_backlog_entry {
	uint64_t seq;
	uint32_t n_spans;
	uint8_t *buf; /* transport header room + packed SpanBatch; owned */
	size_t len;
};

struct dft_backlog {
	struct dft_backlog_entry *ring;
	uint32_t cap, first, count; /* entries [first, first + count) are unacknowledged */
	uint64_t acked;             /* highest sequence acknowledged */
};

int dft_backlog_init(struct dft_backlog *b, uint32_t cap);
void dft_backlog_fini(struct dft_backlog *b);
/* Takes buf. 0, or -ENOBUFS when full (buf freed, nothing admitted). */
int dft_backlog_push(struct dft_backlog *b, uint64_t seq, uint32_t n_spans, uint8_t *buf, size_t len);
/* Entry i (0 = oldest unacknowledged), i < count. */
struct dft_backlog_entry *dft_backlog_at(struct dft_backlog *b, uint32_t i);
/* Every entry with seq <= seq is durable: free it, count its spans as reported. Returns entries retired. */
uint32_t dft_backlog_retire_upto(struct dft_backlog *b, uint64_t seq);
/* Remove the oldest entry without reporting it; returns its spans (the caller counts the loss). */
uint32_t dft_backlog_drop_oldest(struct dft_backlog *b);
/* Drop everything; returns the spans dropped. */
uint64_t dft_backlog_discard(struct dft_backlog *b);

/* Room for a data batch: transports size the backlog --backlog + 1 and keep the last entry for
 * the final zero-span batch, which must always have a place. */
static inline bool dft_backlog_has_room(const struct dft_backlog *b)
{
	return b->count < b->cap - 1;
}

/* At most half full: with a connection up, worth closing batches early for latency. */
static inline bool dft_backlog_half_free(const struct dft_backlog *b)
{
	return b->count * 2 < b->cap;
}

/* Batches admitted and not yet acknowledged. */
static inline uint32_t dft_backlog_unacked(const struct dft_backlog *b)
{
	return b->count;
}

/* Highest sequence acknowledged. */
static inline uint64_t dft_backlog_acked(const struct dft_backlog *b)
{
	return b->acked;
}

#endif /* DFT_NIC_BACKLOG_H */
