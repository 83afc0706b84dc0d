/* SPDX-License-Identifier: MIT */
/*
 * Inside the SQLite store: the handle the three parts share. store_open.c makes and migrates the
 * schema, store_write.c is the insert path and its transactions, store_read.c reads rows back.
 */
#ifndef DFT_STORE_PRIV_H
#define DFT_STORE_PRIV_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <sqlite3.h>

#include "collector.h"
#include "dedup.h"
#include "profiles.h"
#include "store_sqlite.h"
#include "rebuild.h"

/* a trace of the batch being stored and the rowid range of its rows (store_write.c) */
struct dft_store_range {
	const uint8_t *id; /* the batch's bytes; only while the batch is stored */
	int64_t lo, hi;
	uint32_t gen; /* of this batch: else a free slot */
};

#define DFT_STORE_RANGE_SLOTS 1024u /* power of two; a batch with more traces flushes early */

struct dft_store {
	sqlite3 *db;
	sqlite3_stmt *ins_span;
	sqlite3_stmt *ins_range;
	sqlite3_stmt *put_sender;
	sqlite3_stmt *ins_profile;
	sqlite3_stmt *span_exists;
	sqlite3_stmt *del_recon;
	sqlite3_stmt *put_kind;
	bool in_txn;
	bool legacy_recon; /* rows rebuilt and stored by a collector before lazy rebuilding */
	uint64_t superseded, superseded_txn;
	uint64_t superseded_sp; /* superseded_txn when the savepoint was set */
	struct dft_buf attrs;
	uint8_t hops[DFT_RB_HOPS_MAX * DFT_RB_HOP_BYTES];
	struct dft_store_range *ranges; /* DFT_STORE_RANGE_SLOTS, open addressing by trace key */
	uint32_t *range_used;           /* slots of this batch in first-seen order */
	uint32_t n_ranges, range_gen;
	uint64_t range_seed; /* trace ids come from peers: they must not be able to aim at one probe run */
	char err[256];
};

static inline int dft_store_fail(struct dft_store *st, const char *what)
{
	snprintf(st->err, sizeof(st->err), "%s: %s", what, sqlite3_errmsg(st->db));
	return -EIO;
}

/* u64 values keep their 64 bits in SQLite's signed INTEGER */
static inline int dft_bind_u64(sqlite3_stmt *q, int i, uint64_t v)
{
	return sqlite3_bind_int64(q, i, (sqlite3_int64)v);
}

/* The prepared statements of the insert path (store_write.c) and of the reads (store_read.c);
 * store_open.c finalizes them. 0 or -EIO with st->err set. */
int dft_store_write_prepare(struct dft_store *st);
int dft_store_read_prepare(struct dft_store *st);

#endif /* DFT_STORE_PRIV_H */
