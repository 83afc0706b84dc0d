/* SPDX-License-Identifier: MIT */
/* Bounded text buffer with JSON-in-script and HTML escapes (see text.h). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"

void dft_text_init(struct dft_text *t, size_t max)
{
	memset(t, 0, sizeof(*t));
	t->max = max;
}

void dft_text_free(struct dft_text *t)
{
	free(t->p);
	memset(t, 0, sizeof(*t));
}

/* room for n more bytes and a NUL; false (overflow set) past max or without memory */
static bool reserve(struct dft_text *t, size_t n)
{
	size_t need = t->len + n + 1, ncap;
	char *np;

	if (t->overflow)
		return false;
	if (need <= t->cap)
		return true;
	if (need > t->max || need < n) {
		t->overflow = true;
		return false;
	}
	ncap = t->cap ? t->cap : 4096;
	while (ncap < need)
		ncap *= 2;
	if (ncap > t->max)
		ncap = t->max;
	np = realloc(t->p, ncap);
	if (!np) {
		t->overflow = true;
		return false;
	}
	t->p = np;
	t->cap = ncap;
	return true;
}

void dft_text_put(struct dft_text *t, const char *s, size_t n)
{
	if (!reserve(t, n))
		return;
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

void dft_text_puts(struct dft_text *t, const char *s)
{
	dft_text_put(t, s, strlen(s));
}

void dft_text_printf(struct dft_text *t, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		t->overflow = true; /* only numbers and fixed words go through here */
		return;
	}
	dft_text_put(t, tmp, (size_t)n);
}

/* length of a valid UTF-8 sequence at s (and its code point), 0 if it is not one */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp_out)
{
	unsigned char c = s[0];
	uint32_t cp;
	size_t n, i;

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
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cp_out = cp;
	return n;
}

void dft_text_json_str(struct dft_text *t, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	dft_text_put(t, "\"", 1);
	while (*p) {
		const unsigned char *run = p;
		uint32_t cp;
		size_t n;

		while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\' && *p != '<' && *p != '>' && *p != '&' &&
		       *p != 0x7f)
			p++;
		if (p > run)
			dft_text_put(t, (const char *)run, (size_t)(p - run));
		if (!*p)
			break;
		if (*p == '"' || *p == '\\') {
			dft_text_put(t, "\\", 1);
			dft_text_put(t, (const char *)p, 1);
		} else if (*p < 0x80) {
			dft_text_printf(t, "\\u%04x", *p); /* controls, DEL, < > & */
		} else if ((n = utf8_seq(p, &cp))) {
			if (cp == 0x2028 || cp == 0x2029)
				dft_text_printf(t, "\\u%04x", (unsigned)cp);
			else
				dft_text_put(t, (const char *)p, n);
			p += n;
			continue;
		} else {
			dft_text_put(t, "\\ufffd", 6);
		}
		p++;
	}
	dft_text_put(t, "\"", 1);
}

void dft_text_html(struct dft_text *t, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	while (*p) {
		uint32_t cp;
		size_t n;

		switch (*p) {
		case '&':
			dft_text_puts(t, "&amp;");
			break;
		case '<':
			dft_text_puts(t, "&lt;");
			break;
		case '>':
			dft_text_puts(t, "&gt;");
			break;
		case '"':
			dft_text_puts(t, "&quot;");
			break;
		case '\'':
			dft_text_puts(t, "&#39;");
			break;
		default:
			if (*p >= 0x20 && *p < 0x7f) {
				dft_text_put(t, (const char *)p, 1);
			} else if (*p >= 0x80 && (n = utf8_seq(p, &cp))) {
				dft_text_put(t, (const char *)p, n);
				p += n;
				continue;
			} else {
				dft_text_puts(t, "\xef\xbf\xbd");
			}
		}
		p++;
	}
}

const char *dft_text_clean(const char *s, char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t o = 0;

	while (*p && o + 1 < len) {
		uint32_t cp;
		size_t n = *p >= 0x80 ? utf8_seq(p, &cp) : 0;

		if (n) {
			if (o + n >= len)
				break;
			memcpy(buf + o, p, n);
			o += n;
			p += n;
			continue;
		}
		buf[o++] = *p < 0x20 || *p >= 0x7f ? '?' : (char)*p;
		p++;
	}
	buf[o] = '\0';
	return buf;
}
