/* SPDX-License-Identifier: MIT */
/*
 * A bounded growing text buffer and the escapes the views need. Everything a view shows comes
 * from the store, which holds what traced processes wrote: span names are untrusted. Two escapes
 * cover every place such text lands:
 *   dft_text_json_str  a JSON string that is also safe inside an HTML <script> element
 *                      (< > & and U+2028/U+2029 escaped, so "</script>" cannot close it)
 *   dft_text_html      text for an HTML element or a quoted attribute
 * Bytes that are not UTF-8, and control characters, become U+FFFD.
 */
#ifndef DFT_VIEW_TEXT_H
#define DFT_VIEW_TEXT_H

#include <stdbool.h>
#include <stddef.h>

struct dft_text {
	char *p;
	size_t len, cap, max;
	bool overflow; /* something did not fit in max (or memory): the text is unusable */
};

void dft_text_init(struct dft_text *t, size_t max);
void dft_text_free(struct dft_text *t);
void dft_text_put(struct dft_text *t, const char *s, size_t n);
void dft_text_puts(struct dft_text *t, const char *s);
void dft_text_printf(struct dft_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dft_text_json_str(struct dft_text *t, const char *s);
void dft_text_html(struct dft_text *t, const char *s);

/* s for a terminal line, into buf: control bytes and bytes that are not UTF-8 become '?';
 * cut at a character boundary when buf is short. Returns buf. */
const char *dft_text_clean(const char *s, char *buf, size_t len);

#endif /* DFT_VIEW_TEXT_H */
