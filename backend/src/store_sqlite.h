/* SPDX-License-Identifier: MIT */
/* The collector's SQLite store (store_open.c, store_write.c, store_read.c). Functions that can fail return 0 or -errno. */
#ifndef DFT_STORE_SQLITE_H
#define DFT_STORE_SQLITE_H

#include <stdbool.h>
#include <stdint.h>

#include "difftrace.pb-c.h"

struct dft_dedup;
struct dft_profiles;
struct dft_sender;
struct sqlite3;

struct dft_store;

int dft_store_open(const char *path, struct dft_store **out);
void dft_store_close(struct dft_store *st);
int dft_store_begin(struct dft_store *st);
/* Inserts every span and every profile entry of a validated batch. */
int dft_store_put_batch(struct dft_store *st, const Difftrace__SpanBatch *b);
/* Inserts the spans of a batch as reconstructed = 1 rows (no profiles): the layout of stores from before
 * lazy rebuilding, which readers still read; the collector itself no longer stores rebuilt spans. */
int dft_store_put_reconstructed(struct dft_store *st, const Difftrace__SpanBatch *b);
/* 1: a span with this id is stored in this trace (the open transaction included), 0: not, or -EIO. */
int dft_store_span_exists(struct dft_store *st, const uint8_t trace_id[16], uint64_t span_id);
/* Same, and on 1 the stored span's start and end (either pointer may be NULL). */
int dft_store_span_get(struct dft_store *st, const uint8_t trace_id[16], uint64_t span_id, uint64_t *start_ns,
                       uint64_t *end_ns);
int dft_store_put_sender(struct dft_store *st, const struct dft_sender *s);
/* Adds votes for span_kind to the name's tally (span_kinds: rebuilt spans take the majority). */
int dft_store_put_kind(struct dft_store *st, uint32_t name_hash, uint32_t span_kind, uint64_t votes);
/* The store's connection, for reading traces back in the open transaction (trace_read.h). */
struct sqlite3 *dft_store_sqlite(struct dft_store *st);
/* The stored row of one sender into s (restored as after a restart): 1 found, 0 none, or -EIO. */
int dft_store_get_sender(struct dft_store *st, uint64_t sender_id, struct dft_sender *s);
/*
 * A savepoint around one batch inside the open transaction (begun if needed): a batch the store
 * refuses is undone alone, and the rest of the group commit stands. 0 or -EIO.
 */
int dft_store_savepoint(struct dft_store *st);
int dft_store_savepoint_release(struct dft_store *st);
void dft_store_savepoint_rollback(struct dft_store *st);
int dft_store_commit(struct dft_store *st);
void dft_store_rollback(struct dft_store *st);
bool dft_store_in_txn(const struct dft_store *st);
/* Restores every senders row into d. */
int dft_store_load_senders(struct dft_store *st, struct dft_dedup *d);
/* Restores the latest stored profile of every (component, operation) into p. */
int dft_store_load_profiles(struct dft_store *st, struct dft_profiles *p);
const char *dft_store_errmsg(const struct dft_store *st);
/* Reconstructed rows a late real span replaced (committed transactions only). */
uint64_t dft_store_superseded(const struct dft_store *st);

#endif /* DFT_STORE_SQLITE_H */
