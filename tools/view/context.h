/* SPDX-License-Identifier: MIT */
/*
 * Aggregate context for one trace (TraVista's temporal and structural views): the latencies of
 * the traces whose root has the same (component, operation) around this trace's start, and the
 * usual shape of those traces against this one's. Returns 0 or -errno with a message in err.
 */
#ifndef DFT_VIEW_CONTEXT_H
#define DFT_VIEW_CONTEXT_H

#include "trace_store.h"

#define DFT_CTX_MAX_POINTS   2000u /* latency points: the nearest in time */
#define DFT_CTX_SHAPE_TRACES 100u  /* shapes compared: the nearest in time */
#define DFT_CTX_SHAPE_NAMES  512u  /* distinct (component, operation) names compared */

struct dft_vctx_point {
	uint8_t id[16];
	uint64_t start_ns, dur_ns;
};

struct dft_vshape_row {
	char *component, *operation;
	uint32_t here;    /* spans with this name in the trace */
	uint32_t usual;   /* the median count over the compared traces */
	uint32_t present; /* compared traces that have it */
	uint32_t *counts; /* [shape_traces] */
};

struct dft_vcontext {
	const char *component, *operation; /* the root's, borrowed from the trace */
	uint64_t from_ns, to_ns;
	uint32_t n;
	struct dft_vctx_point *pt; /* by start time; includes this trace */
	uint32_t shape_traces;     /* other traces compared */
	uint32_t shape_same;       /* of which with exactly this trace's names and counts */
	uint32_t n_rows;
	struct dft_vshape_row *rows;
	bool names_cut; /* more than DFT_CTX_SHAPE_NAMES names: the rest is not compared */
};

int dft_vcontext_load(sqlite3 *db, const struct dft_vtrace *t, uint32_t root, uint64_t window_ns,
                      struct dft_vcontext *out, struct dft_verr *err);
void dft_vcontext_free(struct dft_vcontext *c);

#endif /* DFT_VIEW_CONTEXT_H */
