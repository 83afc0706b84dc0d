/* SPDX-License-Identifier: MIT */
/*
 * Everything the views show about one trace, loaded once: its spans, their critical path and
 * slack, the profiles of their (component, operation), and the root operation's context. The JSON
 * model is what the HTML page embeds and what `difftrace serve` answers on /api/trace/ID.
 */
#ifndef DFT_VIEW_MODEL_H
#define DFT_VIEW_MODEL_H

#include <stdio.h>

#include "context.h"
#include "critical_path.h"
#include "text.h"
#include "trace_store.h"

#define DFT_VIEW_CONTEXT_NS (300ull * 1000000000ull) /* +- 5 minutes of the root operation */

struct dft_view {
	struct dft_vtrace *t;
	struct dft_cp_span *cps; /* [t->n], the algorithm's input */
	struct dft_cp *cp;
	struct dft_vprofs profs;
	struct dft_vcontext ctx;
	bool has_ctx;
	uint64_t t0; /* the earliest start: offsets in the model count from here */
};

#define DFT_VIEW_WITH_CONTEXT 1u

/* 0, -ENOENT (unknown trace), -EIO, -ENOMEM; message in err */
int dft_view_load(sqlite3 *db, const uint8_t id[16], unsigned flags, struct dft_view **out, struct dft_verr *err);
void dft_view_free(struct dft_view *v);

/* the view's JSON model (see docs/analysis.md) */
void dft_view_json(const struct dft_view *v, struct dft_buf *out);
/* `difftrace critical-path`: JSON or text */
void dft_view_cp_json(const struct dft_view *v, struct dft_buf *out);
void dft_view_cp_text(const struct dft_view *v, FILE *f);
/* how a rebuilt span's end was estimated, in words */
void dft_view_basis(const struct dft_view *v, uint32_t i, char *buf, size_t len);

#endif /* DFT_VIEW_MODEL_H */
