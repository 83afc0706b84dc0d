/* SPDX-License-Identifier: MIT */
/*
 * difftrace eval's view of the store (cli_eval_store.c): every span, reported or rebuilt from the
 * stored hop lists (trace_read.h), in an open-addressing set keyed by (trace id, span id).
 */
#ifndef DFT_CLI_EVAL_STORE_H
#define DFT_CLI_EVAL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

struct dft_eval;

struct dft_eval_stored {
	uint8_t trace_id[16];
	uint64_t span_id, parent, start, end;
	uint8_t used, reconstructed, matched;
};

struct dft_eval_set {
	struct dft_eval_stored *e;
	size_t cap; /* power of two */
};

/* FNV-1a over the trace id, mixed with the span id: the hash both sets of eval use. */
uint64_t dft_eval_key_hash(const uint8_t tid[16], uint64_t sid);
/* The slot holding the key, or the empty slot where it belongs. The set is never more than half full. */
struct dft_eval_stored *dft_eval_set_slot(struct dft_eval_set *s, const uint8_t tid[16], uint64_t sid);
/* Formats the message into err and returns rc (errors of eval and its store reader). */
int dft_eval_fail(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Sizes set for the store and fills it, counting into ev's store_* fields. 0 or -errno (err set). */
int dft_eval_load_store(sqlite3 *db, struct dft_eval_set *set, struct dft_eval *ev, char *err, size_t errlen);

#endif /* DFT_CLI_EVAL_STORE_H */
