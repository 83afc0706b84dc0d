/* SPDX-License-Identifier: MIT */
/* Per-sender state and dedup by batch sequence (dedup.c). */
#ifndef DFT_DEDUP_H
#define DFT_DEDUP_H

#include <stdbool.h>
#include <stdint.h>

#include "json.h"

struct dft_sender {
	uint64_t sender_id;
	uint64_t max_seq;       /* highest accepted, committed or not */
	uint64_t window;        /* bit i set: max_seq - 1 - i was accepted */
	uint64_t durable_seq;   /* highest committed */
	uint64_t spans_stored;  /* committed, over the life of the database */
	uint64_t pending_spans; /* accepted in the open transaction */
	uint64_t counters_seq;  /* sequence the counters came from */
	struct dft_counters counters;
	uint64_t last_ms;       /* last HELLO or batch: the least recently used idle sender is evicted first */
	uint32_t conns;         /* TCP connections that said HELLO as this sender */
	/* The NIC instance the sequence, counters and window above belong to (epochs.c): a restarted
	 * NIC numbers from 1 again under a new epoch. 0: a NIC from before epochs. */
	uint64_t epoch;
	uint64_t epoch_spans; /* committed in this epoch */
	bool epoch_new;       /* the epoch began in the open transaction (rollback reloads the sender) */
	bool dirty; /* touched in the open transaction */
	bool used;
};

struct dft_dedup {
	struct dft_sender *tab;
	uint32_t cap; /* power of two, >= 2 * max */
	uint32_t count;
	uint32_t max;
	uint64_t refused; /* lookups that wanted a new sender while every entry was busy */
	uint64_t evicted; /* idle senders dropped from the table to make room (their state is in the store) */
};

int dft_dedup_init(struct dft_dedup *d, uint32_t max_senders);
void dft_dedup_destroy(struct dft_dedup *d);
/*
 * Finds a sender; create adds it when missing. A full table evicts the least recently used sender
 * with nothing uncommitted (preferring one without connections): its durable state is in the
 * store, where the caller reloads it from should it come back. NULL: not found, or every entry is
 * busy (counted in refused). Eviction moves entries: pointers from earlier lookups are stale.
 */
struct dft_sender *dft_dedup_get(struct dft_dedup *d, uint64_t sender_id, bool create);
/* Removes s from the table (pointers from earlier lookups are stale afterwards). */
void dft_dedup_remove(struct dft_dedup *d, struct dft_sender *s);
/* true: seq would be accepted (new, inside the window); nothing is recorded. */
bool dft_dedup_is_new(const struct dft_sender *s, uint64_t seq);
/* true: seq is new and is now recorded; false: seen before, older than the window, or 0. */
bool dft_dedup_accept(struct dft_sender *s, uint64_t seq);
/* State after a restart: everything up to max_seq counts as stored. */
void dft_sender_restore(struct dft_sender *s, uint64_t max_seq, uint64_t spans_stored);
/* The open transaction committed / rolled back: make every dirty sender durable / forget it. */
void dft_dedup_commit(struct dft_dedup *d);
void dft_dedup_rollback(struct dft_dedup *d);
/* Iteration over used entries: i from 0, returns NULL at the end. */
struct dft_sender *dft_dedup_next(struct dft_dedup *d, uint32_t *i);

#endif /* DFT_DEDUP_H */
