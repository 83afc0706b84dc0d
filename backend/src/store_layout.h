/* SPDX-License-Identifier: MIT */
/*
 * What the SQLite store's writer (store_*.c) and its readers (trace_read.c) agree on besides the
 * column names: the schema version and how a trace's rows are found.
 *
 * spans has no index on trace_id. Random trace ids made such an index dirty nearly every leaf page
 * in each group commit, and the WAL took a fresh copy of every one (docs/benchmarks.md). Instead
 * spans stays in insertion (rowid) order and trace_spans holds, per trace and stored batch, the
 * rowid range [lo, hi] of that trace's rows in the batch, keyed by dft_trace_key: one entry per
 * (trace, batch), not per span, and an 8-byte integer instead of a 16-byte blob. A range may also
 * hold other traces' rows and two prefixes may collide, so readers compare the full trace_id.
 */
#ifndef DFT_STORE_LAYOUT_H
#define DFT_STORE_LAYOUT_H

#include <stdint.h>

/*
 * PRAGMA user_version. 0: before versioning (an index spans_by_trace, no trace_spans), which the
 * collector migrates and readers read the old way; larger than this: refused by name.
 */
#define DFT_STORE_SCHEMA 1

/* The first 8 bytes of a trace id, big-endian, as SQLite's signed INTEGER. */
static inline int64_t dft_trace_key(const uint8_t id[16])
{
	uint64_t k = 0;

	for (int i = 0; i < 8; i++)
		k = k << 8 | id[i];
	return (int64_t)k;
}

#endif /* DFT_STORE_LAYOUT_H */
