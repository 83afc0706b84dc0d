/* SPDX-License-Identifier: MIT */
/* The trace page: static skeleton, inline assets, the JSON model (see view_html.h). */
#include <stdio.h>

#include "assets.h"
#include "view_html.h"

void dft_page_head(struct dft_buf *o, const char *title)
{
	dft_buf_puts(o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	                 "<meta http-equiv=\"Content-Security-Policy\" content=\"" DFT_VIEW_CSP "\">\n"
	                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
	dft_text_html(o, title);
	dft_buf_puts(o, "</title>\n<style>\n");
	dft_buf_puts(o, dft_asset_view_css);
	dft_buf_puts(o, "</style>\n<script>\n");
	dft_buf_puts(o, dft_asset_guard_js);
	dft_buf_puts(o, "</script>\n</head>\n");
}

static const char skeleton[] =
    "<h1 id=\"title\">trace</h1>\n"
    "<div class=\"sum\" id=\"summary\"></div><div class=\"muted\" id=\"kept\"></div>\n"
    "<section><h2>Critical path: share of the latency per component</h2>\n"
    "<div class=\"sharebar\" id=\"sharebar\"></div>\n"
    "<table><thead><tr><th>component</th><th class=\"num\">on the path</th><th class=\"num\">share</th>"
    "<th class=\"num\">of which rebuilt</th></tr></thead><tbody id=\"shares\"></tbody></table></section>\n"
    "<section><h2>Spans</h2>\n"
    "<div class=\"legend\"><span><i class=\"sw fn\"></i>function</span><span><i class=\"sw pl\"></i>platform</span>"
    "<span><i class=\"sw err\"></i>error</span><span><i class=\"sw cp\"></i>on the critical path (red underline: "
    "the path's own time)</span><span><i class=\"sw est\"></i>rebuilt, end estimated (hover for the basis)</span>"
    "<span><i class=\"sw band\"></i>p50\xe2\x80\x93p99 of its (component, operation)</span></div>\n"
    "<div class=\"pager\" id=\"pager\"><button id=\"prev\">\xe2\x97\x80 previous</button>"
    "<button id=\"next\">next \xe2\x96\xb6</button><button id=\"expand\">expand all</button>"
    "<button id=\"collapse\">fold below the root's children</button><button id=\"unzoom\">whole trace</button> "
    "<span id=\"pageinfo\"></span></div>\n"
    "<div id=\"gantt-wrap\"></div>\n<div id=\"detail\" class=\"mono\"></div></section>\n"
    "<section><h2>Latency of the root operation around this trace</h2><div class=\"muted\" id=\"ctx-note\"></div>"
    "<div class=\"ctx\" id=\"ctx\"></div></section>\n"
    "<section><h2>Shape against the usual shape of this root operation</h2>"
    "<div class=\"muted\" id=\"shape-note\"></div>\n"
    "<table><thead><tr><th>component</th><th>operation</th><th class=\"num\">here</th><th class=\"num\">usual</th>"
    "<th class=\"num\">traces with it</th><th></th></tr></thead><tbody id=\"shape\"></tbody></table></section>\n";

void dft_view_html(const struct dft_view *v, const char *back_href, struct dft_buf *o)
{
	char hex[33], title[48];

	dft_trace_id_hex(v->t->id, hex);
	snprintf(title, sizeof(title), "trace %s", hex);
	dft_page_head(o, title);
	/* served pages can link other traces; a file cannot */
	dft_buf_puts(o, back_href ? "<body data-served=\"1\">\n" : "<body>\n");
	if (back_href) {
		dft_buf_puts(o, "<p><a href=\"");
		dft_text_html(o, back_href);
		dft_buf_puts(o, "\">\xe2\x86\x90 traces</a> \xc2\xb7 <a href=\"/api/trace/");
		dft_buf_puts(o, hex);
		dft_buf_puts(o, "\">JSON</a> \xc2\xb7 <a href=\"/api/critical-path/");
		dft_buf_puts(o, hex);
		dft_buf_puts(o, "\">critical path JSON</a></p>\n");
	}
	dft_buf_puts(o, skeleton);
	/* the model: JSON with < > & escaped, so nothing in it can end the script element */
	dft_buf_puts(o, "<script type=\"application/json\" id=\"dft-data\">");
	dft_view_json(v, o);
	dft_buf_puts(o, "</script>\n<script>\n");
	dft_buf_puts(o, dft_asset_view_js);
	dft_buf_puts(o, "</script>\n</body></html>\n");
}
