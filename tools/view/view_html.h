/* SPDX-License-Identifier: MIT */
#ifndef DFT_VIEW_HTML_H
#define DFT_VIEW_HTML_H

#include "text.h"
#include "view_model.h"

/*
 * One self-contained page for a trace: the stylesheet and scripts inline, the model as JSON in a
 * <script type="application/json">, and a Content-Security-Policy that forbids every fetch (the
 * page could not load anything from the network even if it tried). back_href: a link back to a
 * list (the served UI), or NULL.
 */
void dft_view_html(const struct dft_view *v, const char *back_href, struct dft_buf *o);

/* the CSP every difftrace page carries */
#define DFT_VIEW_CSP                                                                                                   \
	"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; "  \
	"form-action 'self'"

/* the head of a page up to and including the guard script; title is escaped */
void dft_page_head(struct dft_buf *o, const char *title);

#endif /* DFT_VIEW_HTML_H */
