/* SPDX-License-Identifier: MIT */
/*
 * OTLP JSON lines, the format of the OpenTelemetry Collector's file exporter: one
 * ExportTraceServiceRequest per line, one line per accepted batch. Spans are grouped into one
 * resourceSpans entry per (component, component kind) so service.name is the component.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "dft/abi.h"

#include "collector.h"

#define OTLP_LINE_MAX (64u << 20)

struct otlp_json {
	FILE *f;
	struct dft_buf line;
};

static const char *kind_name(int kind)
{
	switch (kind) {
	case DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_PLATFORM:
		return "platform";
	case DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_FUNCTION:
		return "function";
	default:
		return "unknown";
	}
}

static void attr_int(struct dft_buf *b, bool *first, const char *key, int64_t v)
{
	dft_buf_puts(b, *first ? "{\"key\":" : ",{\"key\":");
	*first = false;
	dft_buf_json_str(b, key);
	dft_buf_printf(b, ",\"value\":{\"intValue\":\"%" PRId64 "\"}}", v);
}

static void attr_bool(struct dft_buf *b, bool *first, const char *key)
{
	dft_buf_puts(b, *first ? "{\"key\":" : ",{\"key\":");
	*first = false;
	dft_buf_json_str(b, key);
	dft_buf_puts(b, ",\"value\":{\"boolValue\":true}}");
}

static void span_json(struct dft_buf *b, const Difftrace__SpanBatch *batch, const Difftrace__Span *s,
                      bool reconstructed)
{
	bool first = true;
	size_t i;

	dft_buf_puts(b, "{\"traceId\":\"");
	dft_buf_hex(b, s->trace_id.data, s->trace_id.len);
	dft_buf_puts(b, "\",\"spanId\":\"");
	dft_buf_hex64(b, s->span_id);
	dft_buf_puts(b, "\",\"parentSpanId\":\"");
	if (s->parent_span_id)
		dft_buf_hex64(b, s->parent_span_id);
	dft_buf_puts(b, "\",\"name\":");
	dft_buf_json_str(b, batch->strings[s->operation]);
	dft_buf_printf(b, ",\"kind\":%u,\"startTimeUnixNano\":\"%" PRIu64 "\",\"endTimeUnixNano\":\"%" PRIu64 "\"",
	               s->span_kind, s->start_ns, s->end_ns);
	dft_buf_puts(b, ",\"attributes\":[");
	for (i = 0; i < s->n_attrs; i++)
		attr_int(b, &first, batch->strings[s->attrs[i]->key], s->attrs[i]->value);
	if (s->queue_ns > 0)
		attr_int(b, &first, "difftrace.queue_ns", (int64_t)s->queue_ns);
	if (s->flags & DFT_SF_COLD_START)
		attr_bool(b, &first, "difftrace.cold_start");
	/* only the collector makes reconstructed spans: the wire cannot claim the attribute */
	if (reconstructed)
		attr_bool(b, &first, "difftrace.reconstructed");
	dft_buf_printf(b, "],\"status\":{\"code\":%d}}", (int)s->status);
}

struct span_ref {
	uint64_t key; /* component kind << 32 | component string index */
	size_t idx;
};

static int ref_cmp(const void *a, const void *b)
{
	const struct span_ref *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

int dft_otlp_json_encode(const Difftrace__SpanBatch *b, bool reconstructed, struct dft_buf *out, uint64_t *spans)
{
	/* sorting by resource keeps a batch of many components O(n log n) and spans in batch order */
	struct span_ref *refs;
	size_t i, n = b->n_spans;

	dft_buf_reset(out);
	refs = malloc((n ? n : 1) * sizeof(*refs));
	if (!refs)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		refs[i].key = ((uint64_t)b->spans[i]->kind << 32) | b->spans[i]->component;
		refs[i].idx = i;
	}
	qsort(refs, n, sizeof(*refs), ref_cmp);
	dft_buf_puts(out, "{\"resourceSpans\":[");
	for (i = 0; i < n; i++) {
		const Difftrace__Span *s = b->spans[refs[i].idx];

		if (i == 0 || refs[i].key != refs[i - 1].key) {
			if (i)
				dft_buf_puts(out, "]}]},");
			dft_buf_puts(out, "{\"resource\":{\"attributes\":[");
			dft_buf_puts(out, "{\"key\":\"service.name\",\"value\":{\"stringValue\":");
			dft_buf_json_str(out, b->strings[s->component]);
			dft_buf_puts(out, "}},{\"key\":\"difftrace.component.kind\",\"value\":{\"stringValue\":\"");
			dft_buf_puts(out, kind_name((int)s->kind));
			dft_buf_puts(out, "\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"difftrace\"},\"spans\":[");
		} else {
			dft_buf_puts(out, ",");
		}
		span_json(out, b, s, reconstructed);
	}
	if (n)
		dft_buf_puts(out, "]}]}");
	dft_buf_puts(out, "]}");
	free(refs);
	if (out->overflow)
		return -E2BIG;
	*spans += n;
	return 0;
}

static int otlp_put(void *ctx, const Difftrace__SpanBatch *b, bool reconstructed, uint64_t *spans)
{
	struct otlp_json *o = ctx;
	uint64_t n = 0;
	int rc;

	/* a batch without spans (final counters) has nothing to export */
	if (b->n_spans == 0)
		return 0;
	rc = dft_otlp_json_encode(b, reconstructed, &o->line, &n);
	if (rc)
		return rc;
	dft_buf_put(&o->line, "\n", 1);
	if (o->line.overflow)
		return -E2BIG;
	if (fwrite(o->line.p, 1, o->line.len, o->f) != o->line.len)
		return -EIO;
	*spans += n;
	return 0;
}

static int otlp_flush(void *ctx)
{
	struct otlp_json *o = ctx;

	if (fflush(o->f))
		return -errno;
	return 0;
}

static void otlp_destroy(void *ctx)
{
	struct otlp_json *o = ctx;

	if (!o)
		return;
	fclose(o->f);
	dft_buf_free(&o->line);
	free(o);
}

static const struct dft_sink_ops otlp_json_ops = {
    .name = "otlp-json",
    .put = otlp_put,
    .flush = otlp_flush,
    .destroy = otlp_destroy,
};

int dft_otlp_json_open(const char *path, struct dft_sink *out)
{
	struct otlp_json *o;
	int rc;

	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	/* append: a restarted collector continues the same file */
	o->f = fopen(path, "a");
	if (!o->f) {
		rc = -errno;
		goto free_o;
	}
	setvbuf(o->f, NULL, _IOFBF, 1u << 20);
	dft_buf_init(&o->line, OTLP_LINE_MAX);
	out->ops = &otlp_json_ops;
	out->ctx = o;
	return 0;

free_o:
	free(o);
	return rc;
}
