/* SPDX-License-Identifier: MIT */
/*
 * The root operation's latencies around a trace, and its usual shape (see context.h). A trace's
 * shape is the multiset of its spans' (component, operation) names, rebuilt spans included: with
 * differential tracing a normal trace is whole only after reconstruction. The usual count of a
 * name is its median count over the compared traces; a name this trace has fewer of is missing,
 * more of is extra.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "trace_read.h"

static int cmp_point(const void *a, const void *b)
{
	const struct dft_vctx_point *x = a, *y = b;

	return x->start_ns < y->start_ns ? -1 : x->start_ns > y->start_ns;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int cmp_row(const void *a, const void *b)
{
	const struct dft_vshape_row *x = a, *y = b;
	int c = strcmp(x->component, y->component);

	return c ? c : strcmp(x->operation, y->operation);
}

void dft_vcontext_free(struct dft_vcontext *c)
{
	for (uint32_t i = 0; i < c->n_rows; i++) {
		free(c->rows[i].component);
		free(c->rows[i].operation);
		free(c->rows[i].counts);
	}
	free(c->rows);
	free(c->pt);
	memset(c, 0, sizeof(*c));
}

/* The root of a trace as readers see it (parent 0, earliest start; it is often rebuilt), or NULL. */
static const struct dft_tspan *root_of(const struct dft_ttrace *t)
{
	const struct dft_tspan *root = NULL;

	for (uint32_t i = 0; i < t->n; i++)
		if (t->sp[i].parent_span_id == 0 && (!root || t->sp[i].start_ns < root->start_ns))
			root = &t->sp[i];
	return root;
}

/*
 * The traces near in time whose root is the same operation. Roots are usually rebuilt platform
 * spans, so candidates come from the stored rows in the window and each is read whole.
 */
static int load_points(sqlite3 *db, const struct dft_vspan *r, uint64_t center, struct dft_vcontext *c,
                       struct dft_verr *err)
{
	static const char sql[] = "SELECT trace_id FROM spans WHERE start_ns BETWEEN ?1 AND ?2 GROUP BY trace_id"
	                          " ORDER BY min(abs(start_ns - ?3)) LIMIT ?4";
	struct dft_treader *tr = NULL;
	sqlite3_stmt *q;
	int step, rc = 0;

	c->pt = calloc(DFT_CTX_MAX_POINTS, sizeof(*c->pt));
	if (!c->pt) {
		snprintf(err->msg, sizeof(err->msg), "context: out of memory");
		return -ENOMEM;
	}
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		snprintf(err->msg, sizeof(err->msg), "context: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	if (dft_treader_create(db, &tr)) {
		sqlite3_finalize(q);
		snprintf(err->msg, sizeof(err->msg), "context: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	sqlite3_bind_int64(q, 1, (sqlite3_int64)c->from_ns);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)c->to_ns);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)center);
	sqlite3_bind_int(q, 4, (int)(2 * DFT_CTX_MAX_POINTS));
	while ((step = sqlite3_step(q)) == SQLITE_ROW && c->n < DFT_CTX_MAX_POINTS) {
		struct dft_vctx_point *p = &c->pt[c->n];
		const struct dft_tspan *root;
		struct dft_ttrace t;

		if (sqlite3_column_bytes(q, 0) != 16)
			continue;
		rc = dft_treader_trace(tr, sqlite3_column_blob(q, 0), &t);
		if (rc) {
			snprintf(err->msg, sizeof(err->msg), "context: %s", dft_treader_errmsg(tr));
			break;
		}
		root = root_of(&t);
		if (root && root->start_ns >= c->from_ns && root->start_ns <= c->to_ns &&
		    !strcmp(root->component, r->component) && !strcmp(root->operation, r->operation)) {
			memcpy(p->id, t.id, 16);
			p->start_ns = root->start_ns;
			p->dur_ns = root->end_ns > root->start_ns ? root->end_ns - root->start_ns : 0;
			c->n++;
		}
		dft_ttrace_clear(&t);
	}
	sqlite3_finalize(q);
	dft_treader_destroy(tr);
	if (rc)
		return rc;
	if (step != SQLITE_DONE && step != SQLITE_ROW) {
		snprintf(err->msg, sizeof(err->msg), "context: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	return 0;
}

/* the row for a name, added when missing; NULL when the table is full (or no memory) */
static struct dft_vshape_row *row_for(struct dft_vcontext *c, const char *comp, const char *op)
{
	struct dft_vshape_row *r;

	for (uint32_t i = 0; i < c->n_rows; i++)
		if (!strcmp(c->rows[i].component, comp) && !strcmp(c->rows[i].operation, op))
			return &c->rows[i];
	if (c->n_rows == DFT_CTX_SHAPE_NAMES) {
		c->names_cut = true;
		return NULL;
	}
	r = &c->rows[c->n_rows];
	memset(r, 0, sizeof(*r));
	r->component = strdup(comp);
	r->operation = strdup(op);
	r->counts = calloc(DFT_CTX_SHAPE_TRACES, sizeof(*r->counts));
	if (!r->component || !r->operation || !r->counts) {
		free(r->component);
		free(r->operation);
		free(r->counts);
		return NULL;
	}
	c->n_rows++;
	return r;
}

static int load_shapes(sqlite3 *db, const struct dft_vtrace *t, struct dft_vcontext *c, struct dft_verr *err)
{
	uint32_t tmp[DFT_CTX_SHAPE_TRACES];
	struct dft_treader *tr;
	int rc = 0;

	c->rows = calloc(DFT_CTX_SHAPE_NAMES, sizeof(*c->rows));
	if (!c->rows) {
		snprintf(err->msg, sizeof(err->msg), "shape: out of memory");
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < t->n; i++) {
		struct dft_vshape_row *r = row_for(c, t->sp[i].component, t->sp[i].operation);

		if (r)
			r->here++;
	}
	if (dft_treader_create(db, &tr)) {
		snprintf(err->msg, sizeof(err->msg), "shape: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	/* points are nearest-first here (sorted by time only afterwards); each trace read whole, its
	 * rebuilt spans counted as the page counts them */
	for (uint32_t k = 0; k < c->n && c->shape_traces < DFT_CTX_SHAPE_TRACES; k++) {
		uint32_t j = c->shape_traces;
		struct dft_ttrace o;

		if (!memcmp(c->pt[k].id, t->id, 16))
			continue;
		rc = dft_treader_trace(tr, c->pt[k].id, &o);
		if (rc) {
			snprintf(err->msg, sizeof(err->msg), "shape: %s", dft_treader_errmsg(tr));
			goto destroy;
		}
		for (uint32_t i = 0; i < o.n; i++) {
			struct dft_vshape_row *r = row_for(c, o.sp[i].component, o.sp[i].operation);

			if (r)
				r->counts[j]++;
		}
		dft_ttrace_clear(&o);
		c->shape_traces++;
	}
	for (uint32_t j = 0; j < c->shape_traces; j++) {
		bool same = true;

		for (uint32_t i = 0; i < c->n_rows && same; i++)
			same = c->rows[i].counts[j] == c->rows[i].here;
		c->shape_same += same;
	}
	for (uint32_t i = 0; i < c->n_rows; i++) {
		struct dft_vshape_row *r = &c->rows[i];

		for (uint32_t j = 0; j < c->shape_traces; j++)
			r->present += r->counts[j] != 0;
		if (!c->shape_traces)
			continue;
		memcpy(tmp, r->counts, c->shape_traces * sizeof(*tmp));
		qsort(tmp, c->shape_traces, sizeof(*tmp), cmp_u32);
		r->usual = tmp[c->shape_traces / 2];
	}
	qsort(c->rows, c->n_rows, sizeof(*c->rows), cmp_row);
destroy:
	dft_treader_destroy(tr);
	return rc;
}

int dft_vcontext_load(sqlite3 *db, const struct dft_vtrace *t, uint32_t root, uint64_t window_ns,
                      struct dft_vcontext *out, struct dft_verr *err)
{
	const struct dft_vspan *r = &t->sp[root];
	int rc;

	memset(out, 0, sizeof(*out));
	out->component = r->component;
	out->operation = r->operation;
	out->from_ns = r->start_ns > window_ns ? r->start_ns - window_ns : 0;
	out->to_ns = r->start_ns + window_ns < r->start_ns ? UINT64_MAX : r->start_ns + window_ns;
	if (out->to_ns > INT64_MAX)
		out->to_ns = INT64_MAX;
	rc = load_points(db, r, r->start_ns, out, err);
	if (!rc)
		rc = load_shapes(db, t, out, err);
	if (rc) {
		dft_vcontext_free(out);
		return rc;
	}
	qsort(out->pt, out->n, sizeof(*out->pt), cmp_point);
	return 0;
}
