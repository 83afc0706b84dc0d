/* SPDX-License-Identifier: MIT */
/* Bounded text buffer with the JSON pieces the collector writes: strings, hex ids, counters. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

void dft_buf_init(struct dft_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void dft_buf_free(struct dft_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void dft_buf_reset(struct dft_buf *b)
{
	b->len = 0;
	b->overflow = false;
	if (b->p)
		b->p[0] = '\0';
}

/* Room for n more bytes plus a NUL; false (and overflow set) past the limit or without memory. */
static bool buf_reserve(struct dft_buf *b, size_t n)
{
	size_t need, ncap;
	char *np;

	if (b->overflow)
		return false;
	need = b->len + n + 1;
	if (need <= b->cap)
		return true;
	if (need > b->max) {
		b->overflow = true;
		return false;
	}
	ncap = b->cap ? b->cap : 4096;
	while (ncap < need)
		ncap *= 2;
	if (ncap > b->max)
		ncap = b->max;
	np = realloc(b->p, ncap);
	if (!np) {
		b->overflow = true;
		return false;
	}
	b->p = np;
	b->cap = ncap;
	return true;
}

void dft_buf_put(struct dft_buf *b, const char *s, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void dft_buf_puts(struct dft_buf *b, const char *s)
{
	dft_buf_put(b, s, strlen(s));
}

void dft_buf_printf(struct dft_buf *b, const char *fmt, ...)
{
	char tmp[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		/* only short numeric fragments go through here */
		b->overflow = true;
		return;
	}
	dft_buf_put(b, tmp, (size_t)n);
}

/* Length of the valid UTF-8 sequence at s, 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned char c = s[0];
	size_t n, i;
	uint32_t cp;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL */
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates and values past U+10FFFF are not UTF-8 */
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

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
			n = utf8_seq(p);
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

	if (!buf_reserve(b, 2 * n))
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
