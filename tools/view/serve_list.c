/* SPDX-License-Identifier: MIT */
/* The served trace list: filters, the traces read whole (rebuilt spans too), JSON and HTML (see serve_list.h). */
#define _GNU_SOURCE /* timegm */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dft/parse.h"
#include "serve_list.h"
#include "trace_read.h"
#include "view_html.h"

#define FILTER_TEXT_MAX 256

/* OR of the keep-reason bits over the trace's spans: SQLite has no bitwise-or aggregate */
#define KR_OR                                                                                                          \
	"(max(keep_reasons & 1) | max(keep_reasons & 2) | max(keep_reasons & 4) | max(keep_reasons & 8) | "            \
	"max(keep_reasons & 16) | max(keep_reasons & 32) | max(keep_reasons & 64) | max(keep_reasons & 128))"

/* what only reported spans carry (keep reasons, errors) and the time window narrow in SQL; the
 * service, the duration, the counts and the root need the rebuilt spans: each trace is read whole */
static const char list_sql[] = "SELECT trace_id FROM spans GROUP BY trace_id"
                               " HAVING (" KR_OR " & ?2) = ?2"
                               " AND max(end_ns) >= ?4 AND min(start_ns) <= ?5"
                               " AND (?6 = 0 OR max(status = 2) OR (" KR_OR " & 254) != 0)"
                               " ORDER BY min(start_ns) DESC";

static int bad(struct dft_verr *err, const char *name, const char *v, const char *want)
{
	snprintf(err->msg, sizeof(err->msg), "bad %s '%.64s': %s", name, v, want);
	return -EINVAL;
}

/* unix seconds, or YYYY-MM-DDTHH:MM[:SS] in UTC */
static int parse_time(const char *s, uint64_t *ns)
{
	uint64_t sec;
	struct tm tm;
	const char *end;
	time_t t;

	if (!dft_parse_u64(s, 0, 4102444800ull, &sec)) {
		*ns = sec * 1000000000ull;
		return 0;
	}
	memset(&tm, 0, sizeof(tm));
	end = strptime(s, "%Y-%m-%dT%H:%M", &tm);
	if (end && *end == ':')
		end = strptime(end + 1, "%S", &tm);
	if (!end || (*end && strcmp(end, "Z")))
		return -EINVAL;
	t = timegm(&tm);
	if (t < 0)
		return -EINVAL;
	*ns = (uint64_t)t * 1000000000ull;
	return 0;
}

static bool empty(const char *s)
{
	return !s || !*s;
}

int dft_list_filter_parse(struct dft_list_filter *f, const char *service, const char *reason, const char *min_ms,
                          const char *from, const char *to, const char *anomalous, const char *limit,
                          struct dft_verr *err)
{
	uint64_t v;

	memset(f, 0, sizeof(*f));
	f->limit = DFT_LIST_DEFAULT;
	if (!empty(service)) {
		if (strlen(service) > FILTER_TEXT_MAX)
			return bad(err, "service", service, "longer than 256 bytes");
		f->service = service;
	}
	if (!empty(reason)) {
		f->reason = dft_keep_reason_bit(reason);
		if (!f->reason)
			return bad(
			    err, "reason", reason,
			    "expected function, error, keep, cold_start, queueing, outlier, contention or retro");
		f->reason_name = reason;
	}
	if (!empty(min_ms)) {
		char *end;
		double d;

		errno = 0;
		d = strtod(min_ms, &end);
		if (errno || end == min_ms || *end || !(d >= 0) || d > 1e12)
			return bad(err, "min_ms", min_ms, "expected milliseconds, a number >= 0");
		f->min_ns = (uint64_t)(d * 1e6);
	}
	if (!empty(from) && parse_time(from, &f->from_ns))
		return bad(err, "from", from, "expected unix seconds or YYYY-MM-DDTHH:MM[:SS] (UTC)");
	if (!empty(to) && parse_time(to, &f->to_ns))
		return bad(err, "to", to, "expected unix seconds or YYYY-MM-DDTHH:MM[:SS] (UTC)");
	if (!empty(anomalous)) {
		if (!strcmp(anomalous, "1") || !strcmp(anomalous, "on") || !strcmp(anomalous, "true"))
			f->anomalous = true;
		else if (strcmp(anomalous, "0") && strcmp(anomalous, "off") && strcmp(anomalous, "false"))
			return bad(err, "anomalous", anomalous, "expected 1 or 0");
	}
	if (!empty(limit)) {
		if (dft_parse_u64(limit, 1, DFT_LIST_MAX, &v))
			return bad(err, "limit", limit, "expected 1 to 1000");
		f->limit = (uint32_t)v;
	}
	return 0;
}

struct row {
	char id[33];
	uint64_t start, end, spans, rebuilt;
	bool error;
	uint32_t kr;
	char *components;
	char *root_c, *root_o;
};

struct rows {
	uint32_t n;
	struct row *r;
};

static void rows_free(struct rows *rs)
{
	for (uint32_t i = 0; i < rs->n; i++) {
		free(rs->r[i].components);
		free(rs->r[i].root_c);
		free(rs->r[i].root_o);
	}
	free(rs->r);
	rs->r = NULL;
	rs->n = 0;
}

/* Fills r from the whole trace; false when the service or duration filter drops it. */
static bool summarize(const struct dft_list_filter *f, const struct dft_ttrace *t, struct row *r)
{
	const struct dft_tspan *root = NULL;
	bool service = !f->service;
	size_t len = 0, cap = 256;

	r->start = UINT64_MAX;
	r->end = 0;
	r->error = false;
	r->kr = 0;
	for (uint32_t i = 0; i < t->n; i++) {
		const struct dft_tspan *s = &t->sp[i];

		r->start = s->start_ns < r->start ? s->start_ns : r->start;
		r->end = s->end_ns > r->end ? s->end_ns : r->end;
		r->error |= s->status == 2;
		r->kr |= s->keep_reasons;
		service |= f->service && !strcmp(s->component, f->service);
		if (s->parent_span_id == 0 && (!root || s->start_ns < root->start_ns))
			root = s;
	}
	if (!service || r->end - r->start < f->min_ns || r->start < f->from_ns || (f->to_ns && r->start > f->to_ns))
		return false;
	r->spans = t->n;
	r->rebuilt = t->n_rebuilt;
	r->components = calloc(1, cap);
	for (uint32_t i = 0; i < t->n && r->components; i++) {
		const char *c = t->sp[i].component;
		bool seen = false;

		for (uint32_t j = 0; j < i && !seen; j++)
			seen = !strcmp(t->sp[j].component, c);
		if (seen)
			continue;
		while (r->components && len + strlen(c) + 2 > cap) {
			char *n = realloc(r->components, cap *= 2);

			if (!n) {
				free(r->components);
				r->components = NULL;
			}
			r->components = n;
		}
		if (r->components)
			len += (size_t)snprintf(r->components + len, cap - len, "%s%s", len ? "," : "", c);
	}
	r->root_c = strdup(root ? root->component : "");
	r->root_o = strdup(root ? root->operation : "");
	return true;
}

static int query(sqlite3 *db, const struct dft_list_filter *f, struct rows *rs, struct dft_verr *err)
{
	struct dft_treader *tr = NULL;
	sqlite3_stmt *q = NULL;
	int step, rc = 0;

	memset(rs, 0, sizeof(*rs));
	rs->r = calloc(f->limit, sizeof(*rs->r));
	if (!rs->r) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return -ENOMEM;
	}
	if (sqlite3_prepare_v2(db, list_sql, -1, &q, NULL) != SQLITE_OK || dft_treader_create(db, &tr)) {
		snprintf(err->msg, sizeof(err->msg), "list traces: %s", sqlite3_errmsg(db));
		rc = -EIO;
		goto finalize;
	}
	sqlite3_bind_int64(q, 2, f->reason);
	sqlite3_bind_int64(q, 4, (sqlite3_int64)f->from_ns);
	sqlite3_bind_int64(q, 5, f->to_ns ? (sqlite3_int64)f->to_ns : INT64_MAX);
	sqlite3_bind_int(q, 6, f->anomalous);
	while (rs->n < f->limit && (step = sqlite3_step(q)) == SQLITE_ROW) {
		struct row *r = &rs->r[rs->n];
		struct dft_ttrace t;
		bool keep;

		if (sqlite3_column_bytes(q, 0) != 16)
			continue;
		rc = dft_treader_trace(tr, sqlite3_column_blob(q, 0), &t);
		if (rc) {
			snprintf(err->msg, sizeof(err->msg), "list traces: %s", dft_treader_errmsg(tr));
			goto finalize;
		}
		dft_trace_id_hex(t.id, r->id);
		keep = summarize(f, &t, r);
		dft_ttrace_clear(&t);
		if (!keep)
			continue;
		rs->n++;
		if (!r->components || !r->root_c || !r->root_o) {
			snprintf(err->msg, sizeof(err->msg), "out of memory");
			rc = -ENOMEM;
			goto finalize;
		}
	}
	if (rs->n < f->limit && step != SQLITE_DONE && step != SQLITE_ROW) {
		snprintf(err->msg, sizeof(err->msg), "list traces: %s", sqlite3_errmsg(db));
		rc = -EIO;
	}
finalize:
	dft_treader_destroy(tr);
	sqlite3_finalize(q);
	if (rc)
		rows_free(rs);
	return rc;
}

static bool anomalous(const struct row *r)
{
	return r->error || (r->kr & ~1u);
}

static void reasons_json(struct dft_buf *o, uint32_t kr)
{
	bool first = true;

	dft_buf_puts(o, "[");
	for (unsigned b = 0; dft_keep_reason_name(b); b++) {
		if (kr & (1u << b)) {
			dft_buf_printf(o, "%s\"%s\"", first ? "" : ",", dft_keep_reason_name(b));
			first = false;
		}
	}
	dft_buf_puts(o, "]");
}

static void filter_json(struct dft_buf *o, const struct dft_list_filter *f)
{
	dft_buf_puts(o, "{\"service\":");
	if (f->service)
		dft_text_json_str(o, f->service);
	else
		dft_buf_puts(o, "null");
	dft_buf_printf(o,
	                ",\"reason\":%s%s%s,\"min_ns\":%" PRIu64 ",\"from_ns\":\"%" PRIu64 "\",\"to_ns\":\"%" PRIu64
	                "\",\"anomalous\":%s,\"limit\":%u}",
	                f->reason_name ? "\"" : "", f->reason_name ? f->reason_name : "null",
	                f->reason_name ? "\"" : "", f->min_ns, f->from_ns, f->to_ns, f->anomalous ? "true" : "false",
	                f->limit);
}

int dft_list_json(sqlite3 *db, const struct dft_list_filter *f, struct dft_buf *o, struct dft_verr *err)
{
	struct rows rs;
	int rc = query(db, f, &rs, err);

	if (rc)
		return rc;
	dft_buf_puts(o, "{\"filter\":");
	filter_json(o, f);
	dft_buf_puts(o, ",\"traces\":[");
	for (uint32_t i = 0; i < rs.n; i++) {
		const struct row *r = &rs.r[i];

		dft_buf_printf(o,
		                "%s{\"trace_id\":\"%s\",\"start_ns\":\"%" PRIu64 "\",\"duration_ns\":%" PRIu64
		                ",\"spans\":%" PRIu64 ",\"rebuilt\":%" PRIu64
		                ",\"error\":%s,\"anomalous\":%s,\"root\":{\"component\":",
		                i ? "," : "", r->id, r->start, r->end > r->start ? r->end - r->start : 0, r->spans,
		                r->rebuilt, r->error ? "true" : "false", anomalous(r) ? "true" : "false");
		dft_text_json_str(o, r->root_c);
		dft_buf_puts(o, ",\"operation\":");
		dft_text_json_str(o, r->root_o);
		dft_buf_puts(o, "},\"keep_reasons\":");
		reasons_json(o, r->kr);
		dft_buf_puts(o, ",\"components\":");
		dft_text_json_str(o, r->components);
		dft_buf_puts(o, "}");
	}
	dft_buf_puts(o, "]}\n");
	rows_free(&rs);
	return 0;
}

static void fmt_time(uint64_t ns, char *buf, size_t len)
{
	time_t sec = (time_t)(ns / 1000000000u);
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d.%03u", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	         tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ns % 1000000000u / 1000000u));
}

static void input(struct dft_buf *o, const char *label, const char *name, const char *value, const char *extra)
{
	dft_buf_printf(o, "<label>%s <input name=\"%s\" %s value=\"", label, name, extra);
	dft_text_html(o, value ? value : "");
	dft_buf_puts(o, "\"></label>");
}

static void form(struct dft_buf *o, const struct dft_list_filter *f)
{
	char num[64] = "", from[32] = "", to[32] = "";

	dft_buf_puts(o, "<form class=\"filters\" method=\"get\" action=\"/\">");
	input(o, "service", "service", f->service, "size=\"18\" placeholder=\"component\"");
	dft_buf_puts(o, "<label>keep reason <select name=\"reason\"><option value=\"\">any</option>");
	for (unsigned b = 0; dft_keep_reason_name(b); b++)
		dft_buf_printf(o, "<option%s>%s</option>", f->reason == (1u << b) ? " selected" : "",
		                dft_keep_reason_name(b));
	dft_buf_puts(o, "</select></label>");
	if (f->min_ns)
		snprintf(num, sizeof(num), "%.3f", (double)f->min_ns / 1e6);
	input(o, "min ms", "min_ms", num, "size=\"7\"");
	if (f->from_ns)
		snprintf(from, sizeof(from), "%" PRIu64, f->from_ns / 1000000000u);
	if (f->to_ns)
		snprintf(to, sizeof(to), "%" PRIu64, f->to_ns / 1000000000u);
	input(o, "from", "from", from, "size=\"19\" placeholder=\"unix s or 2026-12-05T08:00\"");
	input(o, "to", "to", to, "size=\"19\" placeholder=\"unix s or 2026-12-05T08:00\"");
	dft_buf_printf(o, "<label><input type=\"checkbox\" name=\"anomalous\" value=\"1\"%s> anomalous only</label>",
	                f->anomalous ? " checked" : "");
	snprintf(num, sizeof(num), "%u", f->limit);
	input(o, "limit", "limit", num, "size=\"4\"");
	dft_buf_puts(o, "<button type=\"submit\">filter</button> <a href=\"/\">clear</a> \xc2\xb7 "
	                 "<a href=\"/?anomalous=1\">anomalous</a></form>\n");
}

static void table(struct dft_buf *o, const struct rows *rs, const char *id, const char *row_class)
{
	dft_buf_printf(o,
	                "<table id=\"%s\"><thead><tr><th>trace</th><th>start (UTC)</th><th class=\"num\">"
	                "duration</th><th>root</th><th class=\"num\">spans</th><th class=\"num\">rebuilt</th>"
	                "<th>keep reasons</th><th>components</th></tr></thead><tbody>\n",
	                id);
	for (uint32_t i = 0; i < rs->n; i++) {
		const struct row *r = &rs->r[i];
		char when[40];
		bool first = true;

		fmt_time(r->start, when, sizeof(when));
		dft_buf_printf(o,
		                "<tr class=\"%s%s\"><td class=\"mono\"><a href=\"/trace/%s\">%s</a></td><td>%s</td>"
		                "<td class=\"num\">%.3f ms</td><td>",
		                row_class, anomalous(r) ? " anom" : "", r->id, r->id, when,
		                (double)(r->end > r->start ? r->end - r->start : 0) / 1e6);
		dft_text_html(o, r->root_c);
		dft_buf_puts(o, " ");
		dft_text_html(o, r->root_o);
		dft_buf_printf(o, "</td><td class=\"num\">%" PRIu64 "</td><td class=\"num\">%" PRIu64 "</td><td>",
		                r->spans, r->rebuilt);
		for (unsigned b = 0; dft_keep_reason_name(b); b++) {
			if (!(r->kr & (1u << b)))
				continue;
			dft_buf_printf(o, "%s%s", first ? "" : ", ", dft_keep_reason_name(b));
			first = false;
		}
		if (r->error)
			dft_buf_puts(o, first ? "ERROR" : ", ERROR");
		dft_buf_puts(o, "</td><td>");
		dft_text_html(o, r->components);
		dft_buf_puts(o, "</td></tr>\n");
	}
	dft_buf_puts(o, "</tbody></table>\n");
}

static bool unfiltered(const struct dft_list_filter *f)
{
	return !f->service && !f->reason && !f->min_ns && !f->from_ns && !f->to_ns && !f->anomalous;
}

int dft_list_html(sqlite3 *db, const struct dft_list_filter *f, struct dft_buf *o, struct dft_verr *err)
{
	struct dft_list_filter af = {.anomalous = true, .limit = DFT_LIST_ANOMALOUS};
	struct rows rs, as = {0};
	int rc = query(db, f, &rs, err);

	if (rc)
		return rc;
	/* the front page leads with the newest anomalous traces */
	if (unfiltered(f)) {
		rc = query(db, &af, &as, err);
		if (rc)
			goto free_rows;
	}
	dft_page_head(o, "difftrace: traces");
	dft_buf_puts(o, "<body>\n<h1>difftrace: traces</h1>\n");
	form(o, f);
	if (as.n) {
		dft_buf_printf(o, "<h2>Anomalous, newest first (%u; <a href=\"/?anomalous=1\">all</a>)</h2>\n", as.n);
		table(o, &as, "anomalous", "atrace");
		dft_buf_puts(o, "<h2>All traces</h2>\n");
	}
	dft_buf_printf(o,
	                "<p class=\"muted\" id=\"count\" data-n=\"%u\">%u traces, newest first \xc2\xb7 "
	                "<a href=\"/api/traces\">JSON</a> (same filters as query parameters)</p>\n",
	                rs.n, rs.n);
	if (!rs.n)
		dft_buf_puts(o, "<p id=\"empty\">No trace matches. An empty list with no filters means the store "
		                 "holds no traces yet.</p>\n");
	else
		table(o, &rs, "traces", "trace");
	dft_buf_puts(o,
	              "<script>window.__dft.publish(); document.body.dataset.ready = '1';</script>\n</body></html>\n");
free_rows:
	rows_free(&as);
	rows_free(&rs);
	return rc;
}
