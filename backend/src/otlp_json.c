/* SPDX-License-Identifier: MIT */
/*
 * OTLP JSON lines, the format of the OpenTelemetry Collector's file exporter: one
 * ExportTraceServiceRequest per line, one line per group commit (larger rounds: every ~4 MiB). Spans
 * are grouped into one resourceSpans entry per (component, component kind) so service.name is the
 * component. The file rotates by size (path.1 .. path.keep) and is reopened on request (SIGHUP).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dft/abi.h"
#include "dft/hash.h"

#include "json.h"
#include "line_file.h"
#include "otlp_json.h"
#include "otlp_kind.h"
#include "sink.h"

#define OTLP_LINE_MAX (64u << 20)

/*
 * A span is written as a few large pieces: the fixed-size parts are formatted into a local buffer
 * (decimal and hex by hand, not printf) and the batch's strings are JSON-escaped once per batch, not
 * once per use. Both were most of the sink's time per span; the bytes written are the same.
 */
#define SPAN_PIECE_MAX 256u /* the longest fixed-size run of a span: ids, times, kind */

static char *put_lit(char *d, const char *s, size_t n)
{
	memcpy(d, s, n);
	return d + n;
}
#define LIT(d, s) put_lit((d), (s), sizeof(s) - 1)

static char *put_u64(char *d, uint64_t v)
{
	char t[20];
	size_t n = 0;

	do {
		t[sizeof(t) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return put_lit(d, t + sizeof(t) - n, n);
}

static char *put_i64(char *d, int64_t v)
{
	if (v < 0) {
		*d++ = '-';
		return put_u64(d, -(uint64_t)v);
	}
	return put_u64(d, (uint64_t)v);
}

/* 16 lowercase hex digits, what "%016" PRIx64 writes */
static char *put_hex64(char *d, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--, v >>= 4)
		d[i] = digits[v & 15];
	return d + 16;
}

/* The batch's strings, each escaped (quotes included) on first use. */
struct esc_strings {
	const Difftrace__SpanBatch *batch;
	struct dft_buf text;
	size_t *off; /* SIZE_MAX: not escaped yet */
	size_t *len;
};

static int esc_init(struct esc_strings *e, const Difftrace__SpanBatch *b)
{
	size_t n = b->n_strings ? b->n_strings : 1;

	e->batch = b;
	dft_buf_init(&e->text, OTLP_LINE_MAX);
	e->off = malloc(n * sizeof(*e->off));
	e->len = malloc(n * sizeof(*e->len));
	if (!e->off || !e->len) {
		free(e->off);
		free(e->len);
		return -ENOMEM;
	}
	memset(e->off, 0xff, n * sizeof(*e->off));
	return 0;
}

static void esc_fini(struct esc_strings *e)
{
	dft_buf_free(&e->text);
	free(e->off);
	free(e->len);
}

/* Append the escaped string idx (a validated index) to b. */
static void put_str(struct dft_buf *b, struct esc_strings *e, size_t idx)
{
	if (e->off[idx] == SIZE_MAX) {
		size_t at = e->text.len;

		dft_buf_json_str(&e->text, e->batch->strings[idx]);
		if (e->text.overflow) {
			b->overflow = true;
			return;
		}
		e->off[idx] = at;
		e->len[idx] = e->text.len - at;
	}
	dft_buf_put(b, e->text.p + e->off[idx], e->len[idx]);
}

static void attr_head(struct dft_buf *b, bool *first)
{
	dft_buf_put(b, *first ? "{\"key\":" : ",{\"key\":", *first ? 7 : 8);
	*first = false;
}

static void attr_int_value(struct dft_buf *b, int64_t v)
{
	char t[64], *d = t;

	d = LIT(d, ",\"value\":{\"intValue\":\"");
	d = put_i64(d, v);
	d = LIT(d, "\"}}");
	dft_buf_put(b, t, (size_t)(d - t));
}

static void attr_int(struct dft_buf *b, bool *first, const char *key, int64_t v)
{
	attr_head(b, first);
	dft_buf_json_str(b, key);
	attr_int_value(b, v);
}

static void attr_bool(struct dft_buf *b, bool *first, const char *key)
{
	attr_head(b, first);
	dft_buf_json_str(b, key);
	dft_buf_puts(b, ",\"value\":{\"boolValue\":true}}");
}

static void span_json(struct dft_buf *b, struct esc_strings *e, const Difftrace__Span *s, bool reconstructed)
{
	char t[SPAN_PIECE_MAX], *d = t;
	bool first = true;
	size_t i;

	d = LIT(d, "{\"traceId\":\"");
	if (s->trace_id.len == DFT_TRACE_ID_LEN) {
		static const char digits[] = "0123456789abcdef";

		for (i = 0; i < DFT_TRACE_ID_LEN; i++) {
			*d++ = digits[s->trace_id.data[i] >> 4];
			*d++ = digits[s->trace_id.data[i] & 15];
		}
	} else {
		dft_buf_put(b, t, (size_t)(d - t));
		dft_buf_hex(b, s->trace_id.data, s->trace_id.len);
		d = t;
	}
	d = LIT(d, "\",\"spanId\":\"");
	d = put_hex64(d, s->span_id);
	d = LIT(d, "\",\"parentSpanId\":\"");
	if (s->parent_span_id)
		d = put_hex64(d, s->parent_span_id);
	d = LIT(d, "\",\"name\":");
	dft_buf_put(b, t, (size_t)(d - t));
	put_str(b, e, s->operation);
	d = t;
	d = LIT(d, ",\"kind\":");
	/* OTLP: a receiver MAY take UNSPECIFIED as INTERNAL; say so rather than leave it to each one
	 * (the store keeps what the host reported) */
	d = put_u64(d, s->span_kind ? s->span_kind : 1);
	d = LIT(d, ",\"startTimeUnixNano\":\"");
	d = put_u64(d, s->start_ns);
	d = LIT(d, "\",\"endTimeUnixNano\":\"");
	d = put_u64(d, s->end_ns);
	d = LIT(d, "\",\"attributes\":[");
	dft_buf_put(b, t, (size_t)(d - t));
	for (i = 0; i < s->n_attrs; i++) {
		attr_head(b, &first);
		put_str(b, e, s->attrs[i]->key);
		attr_int_value(b, s->attrs[i]->value);
	}
	if (s->queue_ns > 0)
		attr_int(b, &first, "difftrace.queue_ns", (int64_t)s->queue_ns);
	if (s->flags & DFT_SF_COLD_START)
		attr_bool(b, &first, "difftrace.cold_start");
	/* only the collector makes reconstructed spans: the wire cannot claim the attribute */
	if (reconstructed)
		attr_bool(b, &first, "difftrace.reconstructed");
	d = t;
	d = LIT(d, "],\"status\":{\"code\":");
	d = put_i64(d, (int)s->status);
	if (s->status_message && s->status_message[0]) {
		/* validated on decode: at most 120 bytes of printable UTF-8; escaped all the same */
		d = LIT(d, ",\"message\":");
		dft_buf_put(b, t, (size_t)(d - t));
		dft_buf_json_str(b, s->status_message);
		d = t;
	}
	d = LIT(d, "}}");
	dft_buf_put(b, t, (size_t)(d - t));
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
	struct esc_strings esc;
	size_t i, n = b->n_spans;

	dft_buf_reset(out);
	if (esc_init(&esc, b))
		return -ENOMEM;
	refs = malloc((n ? n : 1) * sizeof(*refs));
	if (!refs) {
		esc_fini(&esc);
		return -ENOMEM;
	}
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
			put_str(out, &esc, s->component);
			dft_buf_puts(out, "}},{\"key\":\"difftrace.component.kind\",\"value\":{\"stringValue\":\"");
			dft_buf_puts(out, dft_component_kind_name((int)s->kind));
			dft_buf_puts(out, "\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"difftrace\"},\"spans\":[");
		} else {
			dft_buf_puts(out, ",");
		}
		span_json(out, &esc, s, reconstructed);
	}
	if (n)
		dft_buf_puts(out, "]}]}");
	dft_buf_puts(out, "]}");
	free(refs);
	esc_fini(&esc);
	if (out->overflow)
		return -E2BIG;
	*spans += n;
	return 0;
}

/*
 * The file sink groups a round's spans by resource: each span is encoded at once into the buffer of
 * its (component, component kind), and a line is written once per group commit (or when the buffers
 * reach LINE_TARGET bytes): one resourceSpans per service per line, not one per batch. The groups
 * outlive the round (their buffers are reused) up to GROUPS_MAX; a new service past it writes the line
 * and starts the table afresh.
 */
#define LINE_TARGET (4u << 20)
#define GROUPS_MAX  1024u

struct group {
	char *component; /* NULL: slot free */
	int kind;
	uint32_t hash;
	struct dft_buf spans; /* span objects, comma-separated */
	size_t n;             /* spans in this line */
};

struct otlp_json {
	struct dft_line_file file; /* whole lines only (line_file.c) */
	char *path;
	uint64_t max_bytes; /* rotate once the file reaches it; 0: never */
	unsigned keep;      /* rotated files kept: path.1 (newest) .. path.keep */
	struct dft_buf line;
	struct group *groups; /* open addressing, GROUPS_MAX * 2 slots */
	uint32_t ngroups;
	uint32_t *order;    /* slot indices in order of first use */
	size_t pending;     /* span bytes buffered over all groups */
	uint32_t *batch_map; /* per batch: (component index, kind) -> slot + 1 */
	size_t batch_map_cap;
	uint64_t rotations;
};

static uint32_t str_hash(const char *s, int kind)
{
	return dft_fnv32(s, strlen(s), DFT_FNV32_INIT ^ (uint32_t)kind);
}

static void groups_clear(struct otlp_json *o)
{
	for (uint32_t i = 0; i < 2 * GROUPS_MAX; i++) {
		free(o->groups[i].component);
		o->groups[i].component = NULL;
		dft_buf_free(&o->groups[i].spans);
	}
	o->ngroups = 0;
}

/* The slot of (component, kind), created when missing. -ENOSPC: the table is full. */
static int group_find(struct otlp_json *o, const char *component, int kind, uint32_t *slot)
{
	uint32_t h = str_hash(component, kind), mask = 2 * GROUPS_MAX - 1, i = h & mask;

	for (;; i = (i + 1) & mask) {
		struct group *g = &o->groups[i];

		if (!g->component)
			break;
		if (g->hash == h && g->kind == kind && !strcmp(g->component, component)) {
			*slot = i;
			return 0;
		}
	}
	if (o->ngroups == GROUPS_MAX)
		return -ENOSPC;
	o->groups[i].component = strdup(component);
	if (!o->groups[i].component)
		return -ENOMEM;
	o->groups[i].kind = kind;
	o->groups[i].hash = h;
	o->groups[i].n = 0;
	dft_buf_init(&o->groups[i].spans, OTLP_LINE_MAX);
	o->order[o->ngroups++] = i;
	*slot = i;
	return 0;
}

static int rotate(struct otlp_json *o)
{
	size_t plen = strlen(o->path) + 16;
	char *from = malloc(plen), *to = malloc(plen);
	int rc = 0;

	if (!from || !to) {
		rc = -ENOMEM;
		goto free_names;
	}
	dft_line_file_close(&o->file);
	/* path.keep falls off; path.k -> path.k+1; path -> path.1 */
	for (unsigned k = o->keep; k > 1; k--) {
		snprintf(from, plen, "%s.%u", o->path, k - 1);
		snprintf(to, plen, "%s.%u", o->path, k);
		if (rename(from, to) && errno != ENOENT && !rc)
			rc = -errno;
	}
	snprintf(to, plen, "%s.1", o->path);
	if (o->keep ? rename(o->path, to) : unlink(o->path))
		rc = rc ? rc : -errno;
	{
		int r = dft_line_file_open(&o->file, o->path);

		rc = rc ? rc : r;
	}
	o->rotations++;
free_names:
	free(from);
	free(to);
	return rc;
}

/* Writes the buffered spans as one line and empties the groups. */
static int write_line(struct otlp_json *o)
{
	struct dft_buf *b = &o->line;
	bool first = true;

	int rc;

	if (!o->pending)
		return 0;
	dft_buf_reset(b);
	dft_buf_puts(b, "{\"resourceSpans\":[");
	for (uint32_t k = 0; k < o->ngroups; k++) {
		struct group *g = &o->groups[o->order[k]];

		if (!g->n)
			continue;
		dft_buf_puts(b, first ? "{\"resource\":{\"attributes\":[" : ",{\"resource\":{\"attributes\":[");
		first = false;
		dft_buf_puts(b, "{\"key\":\"service.name\",\"value\":{\"stringValue\":");
		dft_buf_json_str(b, g->component);
		dft_buf_puts(b, "}},{\"key\":\"difftrace.component.kind\",\"value\":{\"stringValue\":\"");
		dft_buf_puts(b, dft_component_kind_name(g->kind));
		dft_buf_puts(b, "\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"difftrace\"},\"spans\":[");
		dft_buf_put(b, g->spans.p, g->spans.len);
		dft_buf_puts(b, "]}]}");
		dft_buf_reset(&g->spans);
		g->n = 0;
	}
	dft_buf_puts(b, "]}\n");
	o->pending = 0;
	if (b->overflow)
		return -E2BIG;
	/* one write; a failed one leaves nothing of the line (a failed open or rotation: -EIO) */
	rc = dft_line_file_write(&o->file, b->p, b->len);
	if (rc)
		return rc;
	if (o->max_bytes && o->file.bytes >= o->max_bytes)
		return rotate(o);
	return 0;
}

static int otlp_put(void *ctx, const Difftrace__SpanBatch *b, bool reconstructed, uint64_t *spans)
{
	struct otlp_json *o = ctx;
	struct esc_strings esc;
	size_t i, nmap = (b->n_strings ? b->n_strings : 1) * 3;
	int rc = 0;

	/* a batch without spans (final counters) has nothing to export */
	if (b->n_spans == 0)
		return 0;
	if (nmap > o->batch_map_cap) {
		uint32_t *nm = realloc(o->batch_map, nmap * sizeof(*nm));

		if (!nm)
			return -ENOMEM;
		o->batch_map = nm;
		o->batch_map_cap = nmap;
	}
	memset(o->batch_map, 0, nmap * sizeof(*o->batch_map));
	if (esc_init(&esc, b))
		return -ENOMEM;
	for (i = 0; i < b->n_spans; i++) {
		const Difftrace__Span *s = b->spans[i];
		int kind = s->kind >= 0 && s->kind <= 2 ? (int)s->kind : 0;
		uint32_t *m = &o->batch_map[s->component * 3 + (uint32_t)kind], slot;
		struct group *g;
		size_t before;

		if (*m) {
			slot = *m - 1;
		} else {
			rc = group_find(o, b->strings[s->component], kind, &slot);
			if (rc == -ENOSPC) {
				/* a new service past the table: write what is buffered, start afresh */
				rc = write_line(o);
				if (rc)
					break;
				groups_clear(o);
				memset(o->batch_map, 0, nmap * sizeof(*o->batch_map));
				rc = group_find(o, b->strings[s->component], kind, &slot);
			}
			if (rc)
				break;
			*m = slot + 1;
		}
		g = &o->groups[slot];
		before = g->spans.len;
		if (g->n)
			dft_buf_put(&g->spans, ",", 1);
		span_json(&g->spans, &esc, s, reconstructed);
		if (g->spans.overflow) {
			rc = -E2BIG;
			break;
		}
		g->n++;
		o->pending += g->spans.len - before;
		if (o->pending >= LINE_TARGET) {
			rc = write_line(o);
			if (rc)
				break;
		}
	}
	esc_fini(&esc);
	if (rc)
		return rc;
	*spans += b->n_spans;
	return 0;
}

static int otlp_flush(void *ctx)
{
	/* no user-space buffer: the line is in the file (page cache) once written */
	return write_line(ctx);
}

/* SIGHUP: whoever moved the file away (logrotate) gets it closed; writing goes on in a new one. */
static int otlp_reopen(void *ctx)
{
	struct otlp_json *o = ctx;

	dft_line_file_close(&o->file);
	return dft_line_file_open(&o->file, o->path);
}

void dft_otlp_json_get_stats(const struct dft_sink *s, struct dft_otlp_json_stats *out)
{
	const struct otlp_json *o = s->ctx;

	*out = (struct dft_otlp_json_stats){.torn_cut = o->file.torn_cut,
	                                    .torn_bytes = o->file.torn_bytes,
	                                    .write_errors = o->file.write_errors,
	                                    .rotations = o->rotations};
}

static void otlp_destroy(void *ctx)
{
	struct otlp_json *o = ctx;

	if (!o)
		return;
	dft_line_file_close(&o->file);
	groups_clear(o);
	free(o->groups);
	free(o->order);
	free(o->batch_map);
	free(o->path);
	dft_buf_free(&o->line);
	free(o);
}

static const struct dft_sink_ops otlp_json_ops = {
    .name = "otlp-json",
    .put = otlp_put,
    .flush = otlp_flush,
    .reopen = otlp_reopen,
    .destroy = otlp_destroy,
};

int dft_otlp_json_open(const char *path, uint64_t max_bytes, unsigned keep, struct dft_sink *out)
{
	struct otlp_json *o;
	int rc;

	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->max_bytes = max_bytes;
	o->keep = keep;
	o->path = strdup(path);
	o->groups = calloc(2 * GROUPS_MAX, sizeof(*o->groups));
	o->order = calloc(GROUPS_MAX, sizeof(*o->order));
	if (!o->path || !o->groups || !o->order) {
		rc = -ENOMEM;
		goto free_o;
	}
	/* a restarted collector continues the same file, from its last whole line */
	rc = dft_line_file_open(&o->file, path);
	if (rc)
		goto free_o;
	dft_buf_init(&o->line, OTLP_LINE_MAX);
	out->ops = &otlp_json_ops;
	out->ctx = o;
	return 0;

free_o:
	free(o->order);
	free(o->groups);
	free(o->path);
	free(o);
	return rc;
}
