/* SPDX-License-Identifier: MIT */
/*
 * Rebuilding the platform spans the NIC filtered, from what is stored: the reported spans of one
 * trace (function spans with the hop lists they carried) and the NICs' profiles. A pure function:
 * the same rows and the same profile answers give the same spans, byte for byte, on every call, so
 * every reader (CLI, views, eval) and the collector's export see one trace. Nothing rebuilt is
 * stored (docs/filter.md, "Hop header and reconstruction"). Functions return 0 or -errno.
 */
#ifndef DFT_REBUILD_H
#define DFT_REBUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DFT_RB_HOPS_MAX  64u           /* hops per function span considered; longer lists are left whole */
#define DFT_RB_HOP_BYTES 28u           /* one stored hop: span id, parent, start (u64 LE), name hash (u32 LE) */
#define DFT_RB_LAG_NS    2000000000ull /* profiles up to this long after the function span count */
#define DFT_RB_NAME_MAX  256u          /* component / operation bytes kept for a rebuilt span */
#define DFT_RB_SPANS_MAX 100000u       /* stored + rebuilt spans of one trace; more is -E2BIG */

struct dft_rb_hop {
	uint64_t span_id, parent_span_id, start_ns;
	uint32_t name_hash;
};

/* One stored row (reported, or rebuilt and stored by a collector before lazy rebuilding). */
struct dft_rb_span {
	uint64_t span_id, parent_span_id, start_ns, end_ns;
	const char *component, *operation;
	bool function; /* a user-function span: its hops are rebuilt */
	const struct dft_rb_hop *hops;
	uint32_t n_hops;
};

/* What a profile says about a name: filled by the source, strings copied by the caller. */
struct dft_rb_prof {
	char component[DFT_RB_NAME_MAX], operation[DFT_RB_NAME_MAX];
	uint64_t p50_ns;
};

/*
 * Where profiles and learned span kinds come from (the store). profile: the newest profile of the
 * name hash created at or before at_ns (ties: the higher sender id), else the oldest one after it;
 * returns 1 found, 0 none, -errno. kind: the span kind real spans of the name were reported with
 * (0: none learned), or -errno.
 */
struct dft_rb_src {
	int (*profile)(void *arg, uint32_t hash, uint64_t at_ns, struct dft_rb_prof *out);
	int (*kind)(void *arg, uint32_t hash);
	void *arg;
};

struct dft_rb_out_span {
	uint64_t span_id, parent_span_id, start_ns, end_ns;
	uint64_t owner_span_id; /* the function span whose hop list rebuilt it */
	uint32_t name_hash;
	uint32_t span_kind;
	bool resolved; /* false: no profile named the hash: component "unresolved", operation its hex */
	char component[DFT_RB_NAME_MAX], operation[DFT_RB_NAME_MAX];
};

struct dft_rb_out {
	struct dft_rb_out_span *sp;
	uint32_t n, cap;
};

void dft_rb_out_free(struct dft_rb_out *o);

/*
 * Rebuilds every hop of every function span of sp[0..n) (one trace) whose span is neither stored
 * nor rebuilt from an earlier function span (order: start, then span id). out is reset first.
 * Returns 0, -ENOMEM, -E2BIG (more than DFT_RB_SPANS_MAX) or the source's -errno.
 */
int dft_rebuild_trace(const struct dft_rb_src *src, const struct dft_rb_span *sp, uint32_t n, struct dft_rb_out *out);

/* Stored hop list <-> records: -EINVAL for a blob that is not a whole number of hops or too long. */
int dft_rb_hops_decode(const void *blob, size_t len, struct dft_rb_hop *h, uint32_t max, uint32_t *n);
void dft_rb_hops_encode(const struct dft_rb_hop *h, uint32_t n, uint8_t *out);

#endif /* DFT_REBUILD_H */
