/* SPDX-License-Identifier: MIT */
/*
 * The escapes the views need, into the shared bounded buffer (dft/buf.h). Everything a view shows
 * comes from the store, which holds what traced processes wrote: span names are untrusted. Two
 * escapes cover every place such text lands:
 *   dft_text_json_str  a JSON string that is also safe inside an HTML <script> element
 *                      (< > & and U+2028/U+2029 escaped, so "</script>" cannot close it)
 *   dft_text_html      text for an HTML element or a quoted attribute
 * Bytes that are not UTF-8, and control characters, become U+FFFD.
 */
#ifndef DFT_VIEW_TEXT_H
#define DFT_VIEW_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "dft/buf.h"

void dft_text_json_str(struct dft_buf *t, const char *s);
void dft_text_html(struct dft_buf *t, const char *s);

/* s for a terminal line, into buf: control bytes and bytes that are not UTF-8 become '?';
 * cut at a character boundary when buf is short. Returns buf. */
const char *dft_text_clean(const char *s, char *buf, size_t len);

#endif /* DFT_VIEW_TEXT_H */
