/* SPDX-License-Identifier: MIT */
/* `difftrace critical-path`: the path, the share per component and the slack, as text or JSON. */
#define _GNU_SOURCE /* qsort_r */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "view_model.h"

#define TEXT_MAX_SLACK 40u /* lines of slack in the text report: the tightest first */

/* names come from traced processes: control bytes and non-UTF-8 become '?' on a terminal */
static const char *clean(const char *s, char *buf, size_t len)
{
	return dft_text_clean(s, buf, len);
}

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

static double pct(uint64_t part, uint64_t whole)
{
	return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static void name_json(struct dft_buf *o, const struct dft_vspan *s)
{
	char hex[17];

	dft_span_id_hex(s->id, hex);
	dft_buf_printf(o, "\"span_id\":\"%s\",\"component\":", hex);
	dft_text_json_str(o, s->component);
	dft_buf_puts(o, ",\"operation\":");
	dft_text_json_str(o, s->operation);
}

void dft_view_cp_json(const struct dft_view *v, struct dft_buf *o)
{
	const struct dft_cp *cp = v->cp;
	const struct dft_vspan *root = &v->t->sp[cp->root];
	uint64_t r0 = root->start_ns;
	char hex[33];

	dft_trace_id_hex(v->t->id, hex);
	dft_buf_printf(o, "{\"trace_id\":\"%s\",\"root\":{", hex);
	name_json(o, root);
	dft_buf_printf(o,
	                "},\"latency_ns\":%" PRIu64 ",\"estimated_ns\":%" PRIu64 ",\"estimated_share\":%.4f"
	                ",\"spans\":%u,\"detached\":%u,\"path\":[",
	                cp->total_ns, cp->estimated_ns, pct(cp->estimated_ns, cp->total_ns) / 100.0, v->t->n,
	                cp->detached);
	/* offsets from the root's start */
	for (uint32_t k = 0; k < cp->n_segs; k++) {
		const struct dft_cp_seg *g = &cp->segs[k];
		const struct dft_vspan *s = &v->t->sp[g->span];

		dft_buf_puts(o, k ? ",{" : "{");
		name_json(o, s);
		dft_buf_printf(
		    o, ",\"from_ns\":%" PRIu64 ",\"to_ns\":%" PRIu64 ",\"ns\":%" PRIu64 ",\"estimated\":%s}",
		    g->from_ns - r0, g->to_ns - r0, g->to_ns - g->from_ns, s->reconstructed ? "true" : "false");
	}
	dft_buf_puts(o, "],\"components\":[");
	for (uint32_t k = 0; k < cp->n_shares; k++) {
		const struct dft_cp_share *sh = &cp->shares[k];

		dft_buf_puts(o, k ? ",{\"component\":" : "{\"component\":");
		dft_text_json_str(o, sh->component);
		dft_buf_printf(o, ",\"ns\":%" PRIu64 ",\"share\":%.4f,\"estimated_ns\":%" PRIu64 "}", sh->ns,
		                pct(sh->ns, cp->total_ns) / 100.0, sh->estimated_ns);
	}
	dft_buf_puts(o, "],\"slack\":[");
	for (uint32_t i = 0, first = 1; i < v->t->n; i++) {
		const struct dft_vspan *s = &v->t->sp[i];

		dft_buf_puts(o, first ? "{" : ",{");
		first = 0;
		name_json(o, s);
		dft_buf_printf(o,
		                ",\"start_ns\":%" PRId64 ",\"duration_ns\":%" PRIu64
		                ",\"on_path\":%s,\"path_ns\":%" PRIu64 ",\"estimated\":%s,\"slack_ns\":",
		                (int64_t)(s->start_ns - r0), s->end_ns > s->start_ns ? s->end_ns - s->start_ns : 0,
		                cp->on_path[i] ? "true" : "false", cp->path_ns[i], s->reconstructed ? "true" : "false");
		if (cp->slack_ns[i] == DFT_CP_NO_SLACK)
			dft_buf_puts(o, "null}");
		else
			dft_buf_printf(o, "%" PRId64 "}", cp->slack_ns[i]);
	}
	dft_buf_puts(o, "]}\n");
}

static int cmp_slack(const void *a, const void *b, void *arg)
{
	const int64_t *sl = arg;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	if (sl[x] != sl[y])
		return sl[x] < sl[y] ? -1 : 1;
	return x < y ? -1 : x > y;
}

void dft_view_cp_text(const struct dft_view *v, FILE *f)
{
	const struct dft_cp *cp = v->cp;
	const struct dft_vspan *root = &v->t->sp[cp->root];
	char hex[33], c1[128], c2[128];
	uint32_t *idx, m = 0;

	dft_trace_id_hex(v->t->id, hex);
	fprintf(f, "trace %s: %u spans, root %s %s, latency %.3f ms", hex, v->t->n,
	        clean(root->component, c1, sizeof(c1)), clean(root->operation, c2, sizeof(c2)), ms(cp->total_ns));
	if (cp->estimated_ns)
		fprintf(f, " (%.3f ms, %.1f%% of the path in rebuilt spans: estimated)", ms(cp->estimated_ns),
		        pct(cp->estimated_ns, cp->total_ns));
	fprintf(f, "\n");
	if (cp->detached)
		fprintf(f, "%u spans are not under the root (another root, a cycle or a repeated id)\n", cp->detached);
	fprintf(f, "\ncritical path (from the root's start; ~ = rebuilt span, its time estimated):\n");
	fprintf(f, "  %10s %10s  %s\n", "AT_MS", "MS", "SPAN");
	for (uint32_t k = 0; k < cp->n_segs; k++) {
		const struct dft_cp_seg *g = &cp->segs[k];
		const struct dft_vspan *s = &v->t->sp[g->span];

		char cell[40];

		snprintf(cell, sizeof(cell), "%s%.3f", s->reconstructed ? "~" : "", ms(g->to_ns - g->from_ns));
		fprintf(f, "  %10.3f %10s  %016" PRIx64 " %s %s\n", ms(g->from_ns - root->start_ns), cell, s->id,
		        clean(s->component, c1, sizeof(c1)), clean(s->operation, c2, sizeof(c2)));
	}
	fprintf(f, "\nshare of the latency per component:\n  %-32s %10s %7s %12s\n", "COMPONENT", "MS", "SHARE",
	        "ESTIMATED_MS");
	for (uint32_t k = 0; k < cp->n_shares; k++)
		fprintf(f, "  %-32s %10.3f %6.1f%% %12.3f\n", clean(cp->shares[k].component, c1, sizeof(c1)),
		        ms(cp->shares[k].ns), pct(cp->shares[k].ns, cp->total_ns), ms(cp->shares[k].estimated_ns));
	idx = calloc(v->t->n, sizeof(*idx));
	if (!idx)
		return;
	for (uint32_t i = 0; i < v->t->n; i++)
		if (!cp->on_path[i])
			idx[m++] = i;
	qsort_r(idx, m, sizeof(*idx), cmp_slack, cp->slack_ns);
	fprintf(f, "\nslack of the spans off the path (how much later each could end without delaying the root):\n");
	fprintf(f, "  %12s  %s\n", "SLACK_MS", "SPAN");
	for (uint32_t k = 0; k < m; k++) {
		const struct dft_vspan *s = &v->t->sp[idx[k]];

		if (k == TEXT_MAX_SLACK) {
			fprintf(f, "  ... %u more (--json lists every span)\n", m - k);
			break;
		}
		int64_t sl = cp->slack_ns[idx[k]];
		if (sl == DFT_CP_NO_SLACK)
			fprintf(f, "  %12s  ", "not waited");
		else
			fprintf(f, "  %12.3f  ", ms((uint64_t)sl));
		fprintf(f, "%016" PRIx64 " %s %s%s\n", s->id, clean(s->component, c1, sizeof(c1)),
		        clean(s->operation, c2, sizeof(c2)), s->reconstructed ? " ~" : "");
	}
	free(idx);
}
