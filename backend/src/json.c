/* SPDX-License-Identifier: MIT */
/* The JSON pieces the collector writes into a bounded buffer (dft/buf.h): strings, hex ids, counters. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dft/text.h"
#include "json.h"

void dft_buf_json_str(struct dft_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	dft_buf_put(b, "\"", 1);
	while (*p) {
		const unsigned char *run = p;
		size_t n;

		while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		if (p > run)
			dft_buf_put(b, (const char *)run, (size_t)(p - run));
		if (!*p)
			break;
		switch (*p) {
		case '"':
			dft_buf_put(b, "\\\"", 2);
			break;
		case '\\':
			dft_buf_put(b, "\\\\", 2);
			break;
		case '\n':
			dft_buf_put(b, "\\n", 2);
			break;
		case '\r':
			dft_buf_put(b, "\\r", 2);
			break;
		case '\t':
			dft_buf_put(b, "\\t", 2);
			break;
		default:
			if (*p < 0x20) {
				dft_buf_printf(b, "\\u%04x", *p);
				break;
			}
			n = dft_utf8_seq(p, NULL);
			if (n) {
				dft_buf_put(b, (const char *)p, n);
				p += n;
				continue;
			}
			dft_buf_put(b, "\\ufffd", 6);
		}
		p++;
	}
	dft_buf_put(b, "\"", 1);
}

void dft_buf_hex(struct dft_buf *b, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	if (!dft_buf_reserve(b, 2 * n))
		return;
	for (i = 0; i < n; i++) {
		b->p[b->len++] = digits[p[i] >> 4];
		b->p[b->len++] = digits[p[i] & 15];
	}
	b->p[b->len] = '\0';
}

void dft_buf_hex64(struct dft_buf *b, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char t[16];

	/* what "%016" PRIx64 writes, without vsnprintf (once per stored span) */
	for (int i = 15; i >= 0; i--, v >>= 4)
		t[i] = digits[v & 15];
	dft_buf_put(b, t, sizeof(t));
}

void dft_buf_i64(struct dft_buf *b, int64_t v)
{
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	char t[21];
	size_t n = 0;

	/* what "%lld" writes, without vsnprintf (once per stored attribute) */
	do {
		t[sizeof(t) - 1 - n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		t[sizeof(t) - 1 - n++] = '-';
	dft_buf_put(b, t + sizeof(t) - n, n);
}

void dft_counters_from_proto(struct dft_counters *out, const Difftrace__Counters *c)
{
	memset(out, 0, sizeof(*out));
	if (!c)
		return;
#define DFT_COUNTER_COPY(n) out->n = c->n;
	DFT_COUNTER_NAMES(DFT_COUNTER_COPY)
#undef DFT_COUNTER_COPY
}

void dft_counters_json(struct dft_buf *b, const struct dft_counters *c)
{
	const char *sep = "";

	dft_buf_puts(b, "{");
#define DFT_COUNTER_OUT(n)                                                                                             \
	dft_buf_printf(b, "%s\"" #n "\":%" PRIu64, sep, c->n);                                                         \
	sep = ",";
	DFT_COUNTER_NAMES(DFT_COUNTER_OUT)
#undef DFT_COUNTER_OUT
	dft_buf_puts(b, "}");
}

int dft_counters_json_new(struct dft_buf *b, const struct dft_counters *c)
{
	dft_buf_init(b, 4096);
	dft_counters_json(b, c);
	if (b->overflow) {
		dft_buf_free(b);
		return -ENOMEM;
	}
	return 0;
}

/* Finds "name": in json and parses the unsigned number after it. */
static int counter_find(const char *json, const char *name, uint64_t *out)
{
	char key[64];
	const char *p;
	char *end;

	snprintf(key, sizeof(key), "\"%s\":", name);
	p = strstr(json, key);
	if (!p)
		return 0;
	p += strlen(key);
	if (*p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(p, &end, 10);
	if (errno || end == p)
		return -EINVAL;
	return 0;
}

int dft_counters_parse(const char *json, struct dft_counters *out)
{
	memset(out, 0, sizeof(*out));
	if (!json)
		return 0;
#define DFT_COUNTER_IN(n)                                                                                              \
	if (counter_find(json, #n, &out->n))                                                                           \
		return -EINVAL;
	DFT_COUNTER_NAMES(DFT_COUNTER_IN)
#undef DFT_COUNTER_IN
	return 0;
}
