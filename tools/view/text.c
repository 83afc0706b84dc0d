/* SPDX-License-Identifier: MIT */
/* The views' JSON-in-script and HTML escapes into a bounded buffer (see text.h). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dft/text.h"
#include "text.h"

void dft_text_json_str(struct dft_buf *t, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	dft_buf_put(t, "\"", 1);
	while (*p) {
		const unsigned char *run = p;
		uint32_t cp;
		size_t n;

		while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\' && *p != '<' && *p != '>' && *p != '&' &&
		       *p != 0x7f)
			p++;
		if (p > run)
			dft_buf_put(t, (const char *)run, (size_t)(p - run));
		if (!*p)
			break;
		if (*p == '"' || *p == '\\') {
			dft_buf_put(t, "\\", 1);
			dft_buf_put(t, (const char *)p, 1);
		} else if (*p < 0x80) {
			dft_buf_printf(t, "\\u%04x", *p); /* controls, DEL, < > & */
		} else if ((n = dft_utf8_seq(p, &cp))) {
			if (cp == 0x2028 || cp == 0x2029)
				dft_buf_printf(t, "\\u%04x", (unsigned)cp);
			else
				dft_buf_put(t, (const char *)p, n);
			p += n;
			continue;
		} else {
			dft_buf_put(t, "\\ufffd", 6);
		}
		p++;
	}
	dft_buf_put(t, "\"", 1);
}

void dft_text_html(struct dft_buf *t, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	while (*p) {
		uint32_t cp;
		size_t n;

		switch (*p) {
		case '&':
			dft_buf_puts(t, "&amp;");
			break;
		case '<':
			dft_buf_puts(t, "&lt;");
			break;
		case '>':
			dft_buf_puts(t, "&gt;");
			break;
		case '"':
			dft_buf_puts(t, "&quot;");
			break;
		case '\'':
			dft_buf_puts(t, "&#39;");
			break;
		default:
			if (*p >= 0x20 && *p < 0x7f) {
				dft_buf_put(t, (const char *)p, 1);
			} else if (*p >= 0x80 && (n = dft_utf8_seq(p, &cp))) {
				dft_buf_put(t, (const char *)p, n);
				p += n;
				continue;
			} else {
				dft_buf_puts(t, "\xef\xbf\xbd");
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
		size_t n = *p >= 0x80 ? dft_utf8_seq(p, &cp) : 0;

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
