/* SPDX-License-Identifier: MIT */
/*
 * Reading traces from a SQLite store the way every reader sees them: the rows the NICs reported,
 * plus the platform spans rebuilt from the stored hop lists and profiles (rebuild.h), marked
 * reconstructed. Used by the CLI, the views, eval and the collector's export, so all of them show
 * the same spans. The reader borrows the sqlite3 handle (read-only or the collector's own).
 * Functions return 0 or -errno and leave a message in dft_treader_errmsg.
 */
#ifndef DFT_TRACE_READ_H
#define DFT_TRACE_READ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "rebuild.h"

struct dft_tspan {
	uint64_t span_id, parent_span_id, start_ns, end_ns, queue_ns;
	char *component, *operation;
	char *status_message; /* NULL: none */
	int kind;             /* 1 platform, 2 function */
	int status;           /* 2 error */
	int span_kind;
	uint32_t flags, keep_reasons;
	bool reconstructed;
};

struct dft_ttrace {
	uint8_t id[16];
	uint32_t n;         /* stored + rebuilt */
	uint32_t n_rebuilt; /* of n: reconstructed (rebuilt now, or stored so by an older collector) */
	struct dft_tspan *sp;
	bool truncated; /* more than DFT_RB_SPANS_MAX rows: the rest was left out, nothing rebuilt */
};

struct dft_treader;

int dft_treader_create(sqlite3 *db, struct dft_treader **out);
void dft_treader_destroy(struct dft_treader *r);
const char *dft_treader_errmsg(const struct dft_treader *r);
/* Drops remembered profile answers: the store got profiles since (the collector, every round). */
void dft_treader_forget(struct dft_treader *r);
/* The source the rebuild asks (profiles and span kinds of this store). */
const struct dft_rb_src *dft_treader_src(struct dft_treader *r);

/* One trace, stored spans first (start, span id order) then rebuilt ones. -ENOENT: no rows. */
int dft_treader_trace(struct dft_treader *r, const uint8_t id[16], struct dft_ttrace *out);
/* Only the rebuilt spans of one trace (the collector's export); out is reset first. */
int dft_treader_rebuild(struct dft_treader *r, const uint8_t id[16], struct dft_rb_out *out);
/*
 * Every trace of the store in trace-id order, each whole (one trace in memory at a time). cb's
 * non-zero return stops the walk and is returned.
 */
int dft_treader_foreach(struct dft_treader *r, int (*cb)(void *arg, const struct dft_ttrace *t), void *arg);
void dft_ttrace_clear(struct dft_ttrace *t);
/* -EPROTONOSUPPORT and a message naming the version: a newer difftrace wrote db (store_layout.h). */
int dft_store_check_schema(sqlite3 *db, char *err, size_t errlen);

#endif /* DFT_TRACE_READ_H */
