/* SPDX-License-Identifier: MIT */
/* Loading one trace with its critical path, profiles and context, and its JSON model. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "view_model.h"

void dft_view_free(struct dft_view *v)
{
	if (!v)
		return;
	if (v->has_ctx)
		dft_vcontext_free(&v->ctx);
	dft_vprofs_free(&v->profs);
	dft_cp_free(v->cp);
	free(v->cps);
	dft_vtrace_free(v->t);
	free(v);
}

int dft_view_load(sqlite3 *db, const uint8_t id[16], unsigned flags, struct dft_view **out, struct dft_verr *err)
{
	struct dft_view *v;
	int rc;

	*out = NULL;
	v = calloc(1, sizeof(*v));
	if (!v) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -ENOMEM;
	}
	rc = dft_vtrace_load(db, id, &v->t, err);
	if (rc)
		goto free_view;
	v->cps = calloc(v->t->n, sizeof(*v->cps));
	if (!v->cps) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		rc = -ENOMEM;
		goto free_view;
	}
	v->t0 = UINT64_MAX;
	for (uint32_t i = 0; i < v->t->n; i++) {
		const struct dft_vspan *s = &v->t->sp[i];

		v->cps[i] = (struct dft_cp_span){.id = s->id,
		                                 .parent = s->parent,
		                                 .start_ns = s->start_ns,
		                                 .end_ns = s->end_ns,
		                                 .component = s->component,
		                                 .estimated = s->reconstructed};
		if (s->start_ns < v->t0)
			v->t0 = s->start_ns;
	}
	rc = dft_cp_compute(v->cps, v->t->n, &v->cp);
	if (rc) {
		snprintf(err->msg, sizeof(err->msg), "critical path: %s", strerror(-rc));
		goto free_view;
	}
	rc = dft_vprofs_load(db, &v->profs, err);
	if (rc)
		goto free_view;
	if (flags & DFT_VIEW_WITH_CONTEXT) {
		rc = dft_vcontext_load(db, v->t, (uint32_t)v->cp->root, DFT_VIEW_CONTEXT_NS, &v->ctx, err);
		if (rc)
			goto free_view;
		v->has_ctx = true;
	}
	*out = v;
	return 0;

free_view:
	dft_view_free(v);
	return rc;
}

void dft_view_basis(const struct dft_view *v, uint32_t i, char *buf, size_t len)
{
	const struct dft_vspan *s = &v->t->sp[i];
	const struct dft_vprof *p;

	if (!s->reconstructed) {
		snprintf(buf, len, "reported");
		return;
	}
	if (!strcmp(s->component, "unresolved")) {
		snprintf(buf, len,
		         "rebuilt from the hop header: id, parent and start exact; no NIC had profiled "
		         "its name (hash shown as operation), so its end is its latest child's end");
		return;
	}
	p = dft_vprofs_find(&v->profs, s->component, s->operation);
	if (p)
		snprintf(buf, len,
		         "rebuilt from the hop header: id, parent and start exact; end estimated from the profile "
		         "median of this (component, operation): p50 %.3f ms over %" PRIu64
		         " spans, never before a child's end",
		         (double)p->duration_p50_ns / 1e6, p->count);
	else
		snprintf(buf, len,
		         "rebuilt from the hop header: id, parent and start exact; end estimated from the "
		         "profile median of this (component, operation) at rebuild time");
}

static void id_str(struct dft_buf *o, uint64_t id)
{
	char hex[17];

	dft_span_id_hex(id, hex);
	dft_buf_printf(o, "\"%s\"", hex);
}

static void keep_reasons(struct dft_buf *o, uint32_t kr)
{
	bool first = true;

	dft_buf_puts(o, "[");
	for (unsigned b = 0; dft_keep_reason_name(b); b++) {
		if (!(kr & (1u << b)))
			continue;
		dft_buf_printf(o, "%s\"%s\"", first ? "" : ",", dft_keep_reason_name(b));
		first = false;
	}
	dft_buf_puts(o, "]");
}

static void span_json(const struct dft_view *v, uint32_t i, struct dft_buf *o)
{
	const struct dft_vspan *s = &v->t->sp[i];
	const struct dft_vprof *p = dft_vprofs_find(&v->profs, s->component, s->operation);
	uint64_t d = s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0;

	dft_buf_printf(o, "{\"i\":%u,\"id\":", i);
	id_str(o, s->id);
	dft_buf_printf(o, ",\"p\":%d,\"c\":", v->cp->parent_idx[i]);
	dft_text_json_str(o, s->component);
	dft_buf_puts(o, ",\"o\":");
	dft_text_json_str(o, s->operation);
	dft_buf_printf(o, ",\"s\":%" PRIu64 ",\"d\":%" PRIu64 ",\"k\":%d,\"st\":%d,\"q\":%" PRIu64 ",\"kr\":",
	                s->start_ns - v->t0, d, s->kind, s->status, s->queue_ns);
	keep_reasons(o, s->keep_reasons);
	dft_buf_printf(o, ",\"r\":%d,\"cp\":%d,\"self\":%" PRIu64 ",\"slack\":", s->reconstructed, v->cp->on_path[i],
	                v->cp->path_ns[i]);
	if (v->cp->slack_ns[i] == DFT_CP_NO_SLACK)
		dft_buf_puts(o, "null");
	else
		dft_buf_printf(o, "%" PRId64, v->cp->slack_ns[i]);
	if (p)
		dft_buf_printf(o, ",\"p50\":%" PRIu64 ",\"p99\":%" PRIu64 ",\"pn\":%" PRIu64, p->duration_p50_ns,
		                p->duration_p99_ns, p->count);
	if (s->reconstructed) {
		char basis[512];

		dft_view_basis(v, i, basis, sizeof(basis));
		dft_buf_puts(o, ",\"basis\":");
		dft_text_json_str(o, basis);
	}
	dft_buf_puts(o, "}");
}

static void context_json(const struct dft_view *v, struct dft_buf *o)
{
	const struct dft_vcontext *c = &v->ctx;
	bool first = true;

	dft_buf_puts(o, ",\"context\":{\"c\":");
	dft_text_json_str(o, c->component);
	dft_buf_puts(o, ",\"o\":");
	dft_text_json_str(o, c->operation);
	/* times relative to this trace's root start, in ns (signed) */
	dft_buf_printf(o, ",\"window_ns\":%llu,\"points\":[", DFT_VIEW_CONTEXT_NS);
	for (uint32_t k = 0; k < c->n; k++) {
		const struct dft_vspan *r = &v->t->sp[v->cp->root];
		char hex[33];

		dft_trace_id_hex(c->pt[k].id, hex);
		dft_buf_printf(o, "%s[%" PRId64 ",%" PRIu64 ",\"%s\"]", k ? "," : "",
		                (int64_t)(c->pt[k].start_ns - r->start_ns), c->pt[k].dur_ns, hex);
	}
	dft_buf_printf(o, "],\"shape\":{\"traces\":%u,\"same\":%u,\"names_cut\":%s,\"rows\":[", c->shape_traces,
	                c->shape_same, c->names_cut ? "true" : "false");
	for (uint32_t i = 0; i < c->n_rows; i++) {
		const struct dft_vshape_row *r = &c->rows[i];

		dft_buf_printf(o, "%s{\"c\":", first ? "" : ",");
		dft_text_json_str(o, r->component);
		dft_buf_puts(o, ",\"o\":");
		dft_text_json_str(o, r->operation);
		dft_buf_printf(o, ",\"here\":%u,\"usual\":%u,\"present\":%u}", r->here, r->usual, r->present);
		first = false;
	}
	dft_buf_puts(o, "]}}");
}

void dft_view_json(const struct dft_view *v, struct dft_buf *o)
{
	const struct dft_cp *cp = v->cp;
	const struct dft_vspan *root = &v->t->sp[cp->root];
	char hex[33];

	dft_trace_id_hex(v->t->id, hex);
	dft_buf_printf(o,
	                "{\"trace_id\":\"%s\",\"start_ns\":\"%" PRIu64 "\",\"root\":%d,\"total_ns\":%" PRIu64
	                ",\"root_offset_ns\":%" PRIu64 ",\"estimated_ns\":%" PRIu64
	                ",\"detached\":%u,\"truncated\":%s,\"spans\":[",
	                hex, v->t0, cp->root, cp->total_ns, root->start_ns - v->t0, cp->estimated_ns, cp->detached,
	                v->t->truncated ? "true" : "false");
	for (uint32_t i = 0; i < v->t->n; i++) {
		if (i)
			dft_buf_puts(o, ",");
		span_json(v, i, o);
	}
	dft_buf_puts(o, "],\"segments\":[");
	for (uint32_t k = 0; k < cp->n_segs; k++)
		dft_buf_printf(o, "%s[%u,%" PRIu64 ",%" PRIu64 "]", k ? "," : "", cp->segs[k].span,
		                cp->segs[k].from_ns - v->t0, cp->segs[k].to_ns - v->t0);
	dft_buf_puts(o, "],\"shares\":[");
	for (uint32_t k = 0; k < cp->n_shares; k++) {
		dft_buf_puts(o, k ? ",{\"c\":" : "{\"c\":");
		dft_text_json_str(o, cp->shares[k].component);
		dft_buf_printf(o, ",\"ns\":%" PRIu64 ",\"est\":%" PRIu64 "}", cp->shares[k].ns,
		                cp->shares[k].estimated_ns);
	}
	dft_buf_puts(o, "]");
	if (v->has_ctx)
		context_json(v, o);
	dft_buf_puts(o, "}");
}
