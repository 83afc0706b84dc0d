/* SPDX-License-Identifier: MIT */
/*
 * One OTLP JSON line (an ExportTraceServiceRequest as the collector's file exporter writes it) into
 * replay spans. Ids must be hex: the file exporter writes hex, and a base64 id that happens to be
 * 32/16 characters long would otherwise be replayed as a different id without notice.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <difftrace/difftrace.h>
#include <jansson.h>

#include "replay.h"

#define ARENA_BLK (64 * 1024)

struct dft_replay_arena_blk {
	struct dft_replay_arena_blk *next;
	size_t used, cap;
	char data[];
};

static char *arena_strdup(struct dft_replay_arena *a, const char *s, size_t len)
{
	struct dft_replay_arena_blk *b = a->head;
	char *p;

	if (!b || b->cap - b->used < len + 1) {
		size_t cap = len + 1 > ARENA_BLK ? len + 1 : ARENA_BLK;

		b = malloc(sizeof(*b) + cap);
		if (!b)
			return NULL;
		b->next = a->head;
		b->used = 0;
		b->cap = cap;
		a->head = b;
	}
	p = b->data + b->used;
	memcpy(p, s, len);
	p[len] = '\0';
	b->used += len + 1;
	return p;
}

/* keeps the newest block: a batch's strings usually fit in it again */
static void arena_reset(struct dft_replay_arena *a)
{
	struct dft_replay_arena_blk *b, *next;

	if (!a->head)
		return;
	for (b = a->head->next; b; b = next) {
		next = b->next;
		free(b);
	}
	a->head->next = NULL;
	a->head->used = 0;
}

static void arena_free(struct dft_replay_arena *a)
{
	struct dft_replay_arena_blk *b = a->head, *next;

	for (; b; b = next) {
		next = b->next;
		free(b);
	}
	a->head = NULL;
}

void dft_replay_batch_init(struct dft_replay_batch *b)
{
	memset(b, 0, sizeof(*b));
}

void dft_replay_batch_reset(struct dft_replay_batch *b)
{
	b->n = 0;
	arena_reset(&b->arena);
}

void dft_replay_batch_free(struct dft_replay_batch *b)
{
	free(b->spans);
	arena_free(&b->arena);
	memset(b, 0, sizeof(*b));
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int dft_replay_hex(const char *s, size_t slen, uint8_t *out, size_t n)
{
	if (!s || slen != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

struct parse {
	struct dft_replay_batch *b;
	char *err;
	size_t errlen;
	unsigned long lineno;
};

static int fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct parse *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!p->errlen)
		return -EINVAL;
	n = snprintf(p->err, p->errlen, "line %lu: ", p->lineno);
	if (n < 0 || (size_t)n >= p->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* OTLP JSON writes 64-bit integers as decimal strings; plain JSON integers are accepted too. */
static int get_u64(json_t *v, uint64_t *out)
{
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return -EINVAL;
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		if (!*s || *s < '0' || *s > '9')
			return -EINVAL;
		errno = 0;
		*out = strtoull(s, &end, 10);
		return errno || *end ? -EINVAL : 0;
	}
	return -EINVAL;
}

static int get_i64(json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		if (!*s)
			return -EINVAL;
		errno = 0;
		*out = strtoll(s, &end, 10);
		return errno || *end ? -EINVAL : 0;
	}
	return -EINVAL;
}

static int get_id(json_t *v, uint8_t *out, size_t n)
{
	if (!json_is_string(v))
		return -EINVAL;
	return dft_replay_hex(json_string_value(v), json_string_length(v), out, n);
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* resource attributes: service.name (required) and difftrace.component.kind (optional) */
static int parse_resource(struct parse *p, json_t *rs, size_t ri, const char **component, uint8_t *kind)
{
	json_t *attrs = json_object_get(json_object_get(rs, "resource"), "attributes");
	const char *name = NULL;
	size_t i, name_len = 0;
	json_t *a;

	*kind = DFT_REPLAY_KIND_UNSET;
	if (attrs && !json_is_array(attrs))
		return fail(p, "resourceSpans[%zu].resource.attributes is not an array", ri);
	json_array_foreach(attrs, i, a)
	{
		const char *key = json_string_value(json_object_get(a, "key"));
		json_t *sv = json_object_get(json_object_get(a, "value"), "stringValue");

		if (!key)
			return fail(p, "resourceSpans[%zu].resource.attributes[%zu]: no key", ri, i);
		if (!strcmp(key, "service.name")) {
			if (!json_is_string(sv))
				return fail(p, "resourceSpans[%zu]: service.name is not a stringValue", ri);
			name = json_string_value(sv);
			name_len = json_string_length(sv);
		} else if (!strcmp(key, "difftrace.component.kind")) {
			const char *k = json_string_value(sv);

			if (k && !strcmp(k, "platform"))
				*kind = DFT_REPLAY_KIND_PLATFORM;
			else if (k && !strcmp(k, "function"))
				*kind = DFT_REPLAY_KIND_FUNCTION;
			else
				return fail(p,
				            "resourceSpans[%zu]: difftrace.component.kind is not \"platform\" or "
				            "\"function\"",
				            ri);
		}
	}
	if (!name || !name_len || memchr(name, '\0', name_len))
		return fail(p, "resourceSpans[%zu]: no service.name resource attribute", ri);
	*component = arena_strdup(&p->b->arena, name, name_len);
	return *component ? 0 : -ENOMEM;
}

static int parse_attrs(struct parse *p, json_t *attrs, const char *where, struct dft_replay_span *s, bool *recon)
{
	size_t i;
	json_t *a;

	if (!attrs)
		return 0;
	if (!json_is_array(attrs))
		return fail(p, "%s.attributes is not an array", where);
	json_array_foreach(attrs, i, a)
	{
		json_t *key = json_object_get(a, "key"), *val = json_object_get(a, "value"), *iv;
		const char *k = json_string_value(key);
		int64_t n;

		if (!k || !json_is_object(val))
			return fail(p, "%s.attributes[%zu]: needs a key and a value object", where, i);
		if (!strcmp(k, "difftrace.cold_start")) {
			s->cold_start = json_is_true(json_object_get(val, "boolValue"));
			continue;
		}
		if (!strcmp(k, "difftrace.reconstructed")) {
			*recon = json_is_true(json_object_get(val, "boolValue"));
			continue;
		}
		iv = json_object_get(val, "intValue");
		if (!iv)
			continue; /* only numeric attributes travel through the ring */
		if (get_i64(iv, &n))
			return fail(p, "%s.attributes[%zu] (%s): intValue is not a 64-bit integer", where, i, k);
		if (!strcmp(k, "difftrace.queue_ns")) {
			if (n < 0)
				return fail(p, "%s: difftrace.queue_ns is negative", where);
			if (n > UINT32_MAX) {
				p->b->queue_clamped++;
				n = UINT32_MAX;
			}
			s->queue_ns = (uint32_t)n;
			continue;
		}
		if (s->n_attrs == DFT_REPLAY_ATTRS) {
			p->b->attrs_cut++;
			continue;
		}
		s->attr_key[s->n_attrs] = arena_strdup(&p->b->arena, k, json_string_length(key));
		if (!s->attr_key[s->n_attrs])
			return -ENOMEM;
		s->attr_val[s->n_attrs++] = n;
	}
	return 0;
}

/*
 * OTLP status.message: a string (absent or "" is none). A status message through libdifftrace is one
 * line of printable UTF-8: ASCII control characters (a multi-line description) become spaces here;
 * what the library still refuses (C1 controls) is counted when the span is replayed. Only the first
 * DFT_STATUS_MESSAGE_MAX bytes can travel, so no more is kept.
 */
static int parse_status_message(struct parse *p, json_t *m, const char *where, struct dft_replay_span *s)
{
	size_t len;
	char *t;

	if (!m || json_is_null(m))
		return 0;
	if (!json_is_string(m))
		return fail(p, "%s.status.message is not a string", where);
	len = json_string_length(m);
	if (len == 0)
		return 0;
	/* whole characters only: the library cuts at a character boundary, give it one past the limit */
	if (len > DFT_STATUS_MESSAGE_MAX + 4)
		len = DFT_STATUS_MESSAGE_MAX + 4;
	t = arena_strdup(&p->b->arena, json_string_value(m), len);
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
			t[i] = ' ';
	s->status_message = t;
	s->status_message_len = len;
	return 0;
}

static int parse_span(struct parse *p, json_t *js, const char *where, const char *component, uint8_t kind)
{
	struct dft_replay_batch *b = p->b;
	struct dft_replay_span s = {.component = component, .kind = kind};
	json_t *v, *name = json_object_get(js, "name");
	uint8_t id[8];
	bool recon = false;
	int rc;

	if (!json_is_object(js))
		return fail(p, "%s is not an object", where);
	if (get_id(json_object_get(js, "traceId"), s.trace_id, 16) || all_zero(s.trace_id, 16))
		return fail(p, "%s.traceId: expected 32 hex digits, not all zero", where);
	if (get_id(json_object_get(js, "spanId"), id, 8) || !(s.span_id = be64(id)))
		return fail(p, "%s.spanId: expected 16 hex digits, not all zero", where);
	v = json_object_get(js, "parentSpanId");
	if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0)) {
		if (get_id(v, id, 8))
			return fail(p, "%s.parentSpanId: expected 16 hex digits or \"\"", where);
		s.parent_span_id = be64(id);
	}
	if (!json_is_string(name) || !json_string_length(name) ||
	    memchr(json_string_value(name), 0, json_string_length(name)))
		return fail(p, "%s.name: missing or empty", where);
	if (get_u64(json_object_get(js, "startTimeUnixNano"), &s.start_ns) || !s.start_ns)
		return fail(p, "%s.startTimeUnixNano: missing or not a positive integer", where);
	if (get_u64(json_object_get(js, "endTimeUnixNano"), &s.end_ns) || s.end_ns < s.start_ns)
		return fail(p, "%s.endTimeUnixNano: missing, not an integer or before the start", where);
	v = json_object_get(js, "kind");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 5)
			return fail(p, "%s.kind: expected a SpanKind integer 0..5", where);
		s.span_kind = (uint8_t)json_integer_value(v);
	}
	v = json_object_get(js, "status");
	if (v) {
		json_t *code = json_object_get(v, "code");

		if (!json_is_object(v) ||
		    (code && (!json_is_integer(code) || json_integer_value(code) < 0 || json_integer_value(code) > 2)))
			return fail(p, "%s.status: expected {\"code\": 0|1|2}", where);
		s.status = code ? (uint8_t)json_integer_value(code) : 0;
		rc = parse_status_message(p, json_object_get(v, "message"), where, &s);
		if (rc)
			return rc;
	}
	rc = parse_attrs(p, json_object_get(js, "attributes"), where, &s, &recon);
	if (rc)
		return rc;
	if (recon) {
		b->reconstructed_skipped++;
		return 0;
	}
	s.name = arena_strdup(&b->arena, json_string_value(name), json_string_length(name));
	if (!s.name)
		return -ENOMEM;
	if (b->n == b->cap) {
		size_t cap = b->cap ? 2 * b->cap : 1024;
		struct dft_replay_span *ns = realloc(b->spans, cap * sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		b->spans = ns;
		b->cap = cap;
	}
	b->spans[b->n++] = s;
	return 0;
}

static int parse_request(struct parse *p, json_t *root)
{
	json_t *rss = json_object_get(root, "resourceSpans"), *rs;
	size_t ri;

	if (!json_is_object(root))
		return fail(p, "not a JSON object");
	if (!json_is_array(rss))
		return fail(p, "no resourceSpans array");
	json_array_foreach(rss, ri, rs)
	{
		json_t *sss = json_object_get(rs, "scopeSpans"), *ss;
		const char *component = NULL;
		uint8_t kind = 0;
		size_t si;
		int rc;

		if (!json_is_object(rs))
			return fail(p, "resourceSpans[%zu] is not an object", ri);
		rc = parse_resource(p, rs, ri, &component, &kind);
		if (rc)
			return rc;
		if (!json_is_array(sss))
			return fail(p, "resourceSpans[%zu]: no scopeSpans array", ri);
		json_array_foreach(sss, si, ss)
		{
			json_t *spans = json_object_get(ss, "spans"), *js;
			size_t k;

			if (!json_is_array(spans))
				return fail(p, "resourceSpans[%zu].scopeSpans[%zu]: no spans array", ri, si);
			json_array_foreach(spans, k, js)
			{
				char where[128];

				snprintf(where, sizeof(where), "resourceSpans[%zu].scopeSpans[%zu].spans[%zu]", ri, si,
				         k);
				rc = parse_span(p, js, where, component, kind);
				if (rc)
					return rc;
			}
		}
	}
	return 0;
}

int dft_replay_parse_line(struct dft_replay_batch *b, const char *line, size_t len, unsigned long lineno, char *err,
                          size_t errlen)
{
	struct parse p = {.b = b, .err = err, .errlen = errlen, .lineno = lineno};
	size_t n0 = b->n, i;
	json_error_t jerr;
	json_t *root;
	int rc;

	for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n'); i++)
		;
	if (i == len)
		return 0;
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return fail(&p, "bad JSON at column %d: %s", jerr.column, jerr.text);
	rc = parse_request(&p, root);
	json_decref(root);
	if (rc) {
		/* the line's strings stay in the arena until the batch resets: bounded by one line */
		b->n = n0;
		if (rc == -ENOMEM)
			fail(&p, "out of memory");
	}
	return rc;
}

void dft_replay_resolve_kinds(struct dft_replay_batch *b, const char *list)
{
	for (size_t i = 0; i < b->n; i++) {
		struct dft_replay_span *s = &b->spans[i];
		const char *c = list;
		size_t len = strlen(s->component);

		if (s->kind != DFT_REPLAY_KIND_UNSET)
			continue;
		s->kind = DFT_REPLAY_KIND_FUNCTION;
		while (c && *c) {
			const char *e = strchr(c, ',');
			size_t n = e ? (size_t)(e - c) : strlen(c);

			if (n == len && !memcmp(c, s->component, n)) {
				s->kind = DFT_REPLAY_KIND_PLATFORM;
				break;
			}
			c = e ? e + 1 : NULL;
		}
	}
}
