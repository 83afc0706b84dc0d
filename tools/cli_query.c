/* SPDX-License-Identifier: MIT */
/*
 * The store queries of the difftrace CLI (cli_query.h). Each trace is read whole through the trace
 * reader, so the counts, durations and filters see the rebuilt platform spans exactly as `show`,
 * the views and eval do.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

#include "cli_query.h"
#include "trace_read.h"

#define STATS_KEYS_MAX 4096u /* (component, kind) rows in stats; more are summed under "(other)" */
#define COMPS_SHOWN    32u   /* components listed per trace */

static int open_store(const char *path, sqlite3 **db, struct dft_treader **r)
{
	char why[160];
	struct stat sb;

	*db = NULL;
	*r = NULL;
	if (stat(path, &sb)) {
		fprintf(stderr, "difftrace: --db %s: %s\n", path, strerror(errno));
		return DFT_EXIT_RUNTIME;
	}
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "difftrace: --db %s: %s\n", path, *db ? sqlite3_errmsg(*db) : "out of memory");
		goto close_db;
	}
	sqlite3_busy_timeout(*db, 2000);
	if (dft_store_check_schema(*db, why, sizeof(why))) {
		fprintf(stderr, "difftrace: --db %s: %s\n", path, why);
		goto close_db;
	}
	if (dft_treader_create(*db, r)) {
		fprintf(stderr, "difftrace: --db %s: not a difftrace store (%s)\n", path, sqlite3_errmsg(*db));
		goto close_db;
	}
	return DFT_EXIT_OK;

close_db:
	sqlite3_close(*db);
	*db = NULL;
	return DFT_EXIT_RUNTIME;
}

static void close_store(sqlite3 *db, struct dft_treader *r)
{
	dft_treader_destroy(r);
	sqlite3_close(db);
}

/* A JSON string literal; control bytes escaped, bytes >= 0x80 passed (the store holds UTF-8). */
static void json_str(FILE *f, const char *s)
{
	putc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			putc(c, f);
	}
	putc('"', f);
}

/* Names come from the traced processes: control bytes become '?' so they cannot break a line. */
static const char *clean(const char *s, char *buf, size_t len)
{
	size_t i;

	if (!s)
		return "-";
	for (i = 0; s[i] && i + 1 < len; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

static void fmt_time(uint64_t ns, char *buf, size_t len)
{
	time_t sec = (time_t)(ns / 1000000000u);
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	         tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ns % 1000000000u / 1000u));
}

static void hex_id(const uint8_t id[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

static const char *kind_name(int kind)
{
	return kind == 1 ? "platform" : kind == 2 ? "function" : "unknown";
}

static const char *status_name(int s)
{
	return s == 2 ? "ERROR" : s == 1 ? "OK" : "UNSET";
}

/* ---- traces */

struct summary {
	uint64_t start, end;
	uint32_t reported, rebuilt;
	bool error;
	const char *comps[COMPS_SHOWN];
	uint32_t ncomps;
	bool more_comps;
};

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void summarize(const struct dft_ttrace *t, struct summary *s)
{
	memset(s, 0, sizeof(*s));
	s->start = UINT64_MAX;
	for (uint32_t i = 0; i < t->n; i++) {
		const struct dft_tspan *sp = &t->sp[i];
		uint32_t k;

		s->start = sp->start_ns < s->start ? sp->start_ns : s->start;
		s->end = sp->end_ns > s->end ? sp->end_ns : s->end;
		s->error |= sp->status == 2;
		for (k = 0; k < s->ncomps && strcmp(s->comps[k], sp->component); k++)
			;
		if (k == s->ncomps && k < COMPS_SHOWN)
			s->comps[s->ncomps++] = sp->component;
		else if (k == s->ncomps)
			s->more_comps = true;
	}
	s->rebuilt = t->n_rebuilt;
	s->reported = t->n - t->n_rebuilt;
	qsort(s->comps, s->ncomps, sizeof(s->comps[0]), cmp_str);
}

static bool keep_trace(const struct dft_query_opts *o, const struct dft_ttrace *t, const struct summary *s)
{
	bool service = !o->service;

	for (uint32_t i = 0; i < t->n && !service; i++)
		service = !strcmp(t->sp[i].component, o->service);
	return service && s->end - s->start >= o->min_duration_ns && (!o->errors || s->error) && s->end >= o->since_ns;
}

static void print_trace(const struct dft_query_opts *o, const struct dft_ttrace *t, const struct summary *s, bool first)
{
	char hex[33], when[64], comps[1024];
	size_t len = 0;

	hex_id(t->id, hex);
	fmt_time(s->start, when, sizeof(when));
	if (o->json) {
		printf("%s{\"trace_id\":\"%s\",\"start\":\"%s\",\"start_ns\":%" PRIu64 ",\"duration_ns\":%" PRIu64
		       ",\"spans\":%u,\"reported\":%u,\"reconstructed\":%u,\"error\":%s,\"components\":[",
		       first ? "" : ",\n", hex, when, s->start, s->end - s->start, t->n, s->reported, s->rebuilt,
		       s->error ? "true" : "false");
		for (uint32_t k = 0; k < s->ncomps; k++) {
			if (k)
				putchar(',');
			json_str(stdout, s->comps[k]);
		}
		printf("],\"truncated\":%s}", t->truncated ? "true" : "false");
		return;
	}
	comps[0] = '\0';
	for (uint32_t k = 0; k < s->ncomps && len + 1 < sizeof(comps); k++)
		len += (size_t)snprintf(comps + len, sizeof(comps) - len, "%s%s", k ? "," : "", s->comps[k]);
	if (s->more_comps && len + 5 < sizeof(comps))
		strcat(comps, ",...");
	printf("%s %8u %5u %-26s %12.1f %5s  %s\n", hex, s->reported, s->rebuilt, when,
	       (double)(s->end - s->start) / 1000.0, s->error ? "yes" : "no", clean(comps, comps, sizeof(comps)));
}

int dft_cli_traces(const struct dft_query_opts *o)
{
	/* newest first by the stored rows; errors and --since narrow in SQL (rebuilt spans are never
	 * errors and lie inside their parents), the rest is decided on the whole trace */
	static const char sql[] = "SELECT trace_id FROM spans GROUP BY trace_id HAVING max(end_ns) >= ?1"
	                          " AND (?2 = 0 OR max(status = 2)) ORDER BY min(start_ns) DESC";
	struct dft_treader *r;
	sqlite3_stmt *q;
	sqlite3 *db;
	long shown = 0;
	int step, rc;

	if ((rc = open_store(o->db, &db, &r)))
		return rc;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		fprintf(stderr, "difftrace: query traces: %s\n", sqlite3_errmsg(db));
		close_store(db, r);
		return DFT_EXIT_RUNTIME;
	}
	sqlite3_bind_int64(q, 1, (sqlite3_int64)(o->since_ns > INT64_MAX ? INT64_MAX : o->since_ns));
	sqlite3_bind_int(q, 2, o->errors);
	if (o->json)
		printf("[");
	else
		printf("%-32s %8s %5s %-26s %12s %5s  %s\n", "TRACE", "REPORTED", "RECON", "START (UTC)", "DURATION_US",
		       "ERROR", "COMPONENTS");
	while (shown < o->limit && (step = sqlite3_step(q)) == SQLITE_ROW) {
		struct dft_ttrace t;
		struct summary s;

		if (sqlite3_column_bytes(q, 0) != 16)
			continue;
		if (dft_treader_trace(r, sqlite3_column_blob(q, 0), &t)) {
			fprintf(stderr, "difftrace: read trace: %s\n", dft_treader_errmsg(r));
			rc = DFT_EXIT_RUNTIME;
			break;
		}
		summarize(&t, &s);
		if (keep_trace(o, &t, &s))
			print_trace(o, &t, &s, shown++ == 0);
		dft_ttrace_clear(&t);
	}
	if (!rc && shown < o->limit && step != SQLITE_DONE) {
		fprintf(stderr, "difftrace: read traces: %s\n", sqlite3_errmsg(db));
		rc = DFT_EXIT_RUNTIME;
	}
	if (o->json)
		printf("]\n");
	sqlite3_finalize(q);
	close_store(db, r);
	return rc;
}

/* ---- show */

static void span_json(const char *trace_hex, const struct dft_tspan *s)
{
	printf("{");
	if (trace_hex)
		printf("\"trace_id\":\"%s\",", trace_hex);
	printf("\"span_id\":\"%016" PRIx64 "\",\"parent_span_id\":\"%016" PRIx64 "\",\"start_ns\":%" PRIu64
	       ",\"end_ns\":%" PRIu64 ",\"duration_ns\":%" PRIu64 ",\"component\":",
	       s->span_id, s->parent_span_id, s->start_ns, s->end_ns,
	       s->end_ns >= s->start_ns ? s->end_ns - s->start_ns : 0);
	json_str(stdout, s->component);
	printf(",\"operation\":");
	json_str(stdout, s->operation);
	printf(",\"kind\":\"%s\",\"span_kind\":%d,\"status\":\"%s\"", kind_name(s->kind), s->span_kind,
	       status_name(s->status));
	if (s->status_message) {
		printf(",\"status_message\":");
		json_str(stdout, s->status_message);
	}
	printf(",\"queue_ns\":%" PRIu64 ",\"keep_reasons\":%u,\"reconstructed\":%s}", s->queue_ns, s->keep_reasons,
	       s->reconstructed ? "true" : "false");
}

/* children in start order; idx[] sorted by start */
static void print_tree(const struct dft_ttrace *t, const uint32_t *idx, bool *printed, uint32_t i, int depth)
{
	const struct dft_tspan *s = &t->sp[idx[i]];
	char comp[256], op[256], msg[256];

	if (printed[i])
		return; /* a cycle in hostile data */
	printed[i] = true;
	/* a reconstructed span's end is an estimate from the profiles: say so on the line */
	printf("%*s%016" PRIx64 " %s %s %s%.1fus %s%s%s%s%s\n", depth * 2, "", s->span_id,
	       clean(s->component, comp, sizeof(comp)), clean(s->operation, op, sizeof(op)),
	       s->reconstructed ? "~" : "", (double)(s->end_ns - s->start_ns) / 1000.0, status_name(s->status),
	       s->status_message ? " \"" : "", s->status_message ? clean(s->status_message, msg, sizeof(msg)) : "",
	       s->status_message ? "\"" : "", s->reconstructed ? " [reconstructed]" : "");
	if (depth >= 256)
		return;
	for (uint32_t j = 0; j < t->n; j++)
		if (j != i && t->sp[idx[j]].parent_span_id == s->span_id)
			print_tree(t, idx, printed, j, depth + 1);
}

static const struct dft_ttrace *sort_trace;

static int cmp_idx(const void *a, const void *b)
{
	const struct dft_tspan *x = &sort_trace->sp[*(const uint32_t *)a], *y = &sort_trace->sp[*(const uint32_t *)b];

	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return x->span_id < y->span_id ? -1 : x->span_id > y->span_id;
}

static bool has_parent(const struct dft_ttrace *t, const struct dft_tspan *s)
{
	for (uint32_t j = 0; s->parent_span_id && j < t->n; j++)
		if (t->sp[j].span_id == s->parent_span_id && &t->sp[j] != s)
			return true;
	return false;
}

static int show_text(const struct dft_ttrace *t, const char *hex)
{
	uint32_t *idx = malloc((t->n ? t->n : 1) * sizeof(*idx));
	bool *printed = calloc(t->n ? t->n : 1, sizeof(*printed));

	if (!idx || !printed) {
		free(idx);
		free(printed);
		fprintf(stderr, "difftrace: out of memory\n");
		return DFT_EXIT_RUNTIME;
	}
	for (uint32_t i = 0; i < t->n; i++)
		idx[i] = i;
	sort_trace = t;
	qsort(idx, t->n, sizeof(*idx), cmp_idx);
	printf("trace %s: %u spans (%u reported, %u reconstructed)%s\n", hex, t->n, t->n - t->n_rebuilt, t->n_rebuilt,
	       t->truncated ? " (truncated)" : "");
	/* O(n^2) over one trace; DFT_RB_SPANS_MAX bounds it */
	for (uint32_t i = 0; i < t->n; i++) {
		const struct dft_tspan *s = &t->sp[idx[i]];

		if (has_parent(t, s))
			continue;
		if (s->parent_span_id)
			printf("(parent %016" PRIx64 " not stored)\n", s->parent_span_id);
		print_tree(t, idx, printed, i, s->parent_span_id ? 1 : 0);
	}
	for (uint32_t i = 0; i < t->n; i++) {
		if (!printed[i]) {
			printf("(cycle)\n");
			print_tree(t, idx, printed, i, 1);
		}
	}
	free(printed);
	free(idx);
	return DFT_EXIT_OK;
}

int dft_cli_show(const struct dft_query_opts *o, const char *hex)
{
	static const char digits[] = "0123456789abcdefABCDEF";
	struct dft_treader *r;
	struct dft_ttrace t;
	uint8_t id[16];
	sqlite3 *db;
	int rc;

	if (strlen(hex) != 32 || strspn(hex, digits) != 32) {
		fprintf(stderr, "difftrace: bad trace id '%s': expected 32 hex digits (see difftrace --help)\n", hex);
		return DFT_EXIT_USAGE;
	}
	for (int i = 0; i < 16; i++) {
		unsigned v;

		sscanf(hex + 2 * i, "%2x", &v);
		id[i] = (uint8_t)v;
	}
	if ((rc = open_store(o->db, &db, &r)))
		return rc;
	rc = dft_treader_trace(r, id, &t);
	if (rc == -ENOENT) {
		fprintf(stderr, "difftrace: trace %s: not found in %s\n", hex, o->db);
		close_store(db, r);
		return DFT_EXIT_NOT_FOUND;
	}
	if (rc) {
		fprintf(stderr, "difftrace: read trace: %s\n", dft_treader_errmsg(r));
		close_store(db, r);
		return DFT_EXIT_RUNTIME;
	}
	if (o->json) {
		printf(
		    "{\"trace_id\":\"%.32s\",\"spans_total\":%u,\"reported\":%u,\"reconstructed\":%u,\"truncated\":%s,"
		    "\"spans\":[",
		    hex, t.n, t.n - t.n_rebuilt, t.n_rebuilt, t.truncated ? "true" : "false");
		for (uint32_t i = 0; i < t.n; i++) {
			printf(i ? ",\n" : "\n");
			span_json(NULL, &t.sp[i]);
		}
		printf("]}\n");
	} else {
		rc = show_text(&t, hex);
	}
	dft_ttrace_clear(&t);
	close_store(db, r);
	return rc;
}

/* ---- dump */

static int dump_trace(void *arg, const struct dft_ttrace *t)
{
	char hex[33];

	(void)arg;
	hex_id(t->id, hex);
	for (uint32_t i = 0; i < t->n; i++) {
		span_json(hex, &t->sp[i]);
		putchar('\n');
	}
	return ferror(stdout) ? -EIO : 0;
}

int dft_cli_dump(const struct dft_query_opts *o)
{
	struct dft_treader *r;
	sqlite3 *db;
	int rc;

	if ((rc = open_store(o->db, &db, &r)))
		return rc;
	if (dft_treader_foreach(r, dump_trace, NULL)) {
		fprintf(stderr, "difftrace: dump: %s\n", dft_treader_errmsg(r));
		rc = DFT_EXIT_RUNTIME;
	}
	close_store(db, r);
	return rc;
}

/* ---- stats */

struct stat_row {
	char *component;
	int kind;
	uint64_t spans, errors, rebuilt;
};

struct stats_acc {
	struct stat_row *rows;
	uint32_t n;
	struct stat_row other;
	uint64_t spans, rebuilt, traces;
};

static int stats_trace(void *arg, const struct dft_ttrace *t)
{
	struct stats_acc *a = arg;

	a->traces++;
	for (uint32_t i = 0; i < t->n; i++) {
		const struct dft_tspan *s = &t->sp[i];
		struct stat_row *row = NULL;

		for (uint32_t k = 0; k < a->n && !row; k++)
			if (a->rows[k].kind == s->kind && !strcmp(a->rows[k].component, s->component))
				row = &a->rows[k];
		if (!row && a->n < STATS_KEYS_MAX) {
			row = &a->rows[a->n];
			row->component = strdup(s->component);
			if (!row->component)
				return -ENOMEM;
			row->kind = s->kind;
			a->n++;
		}
		if (!row)
			row = &a->other;
		row->spans++;
		row->errors += s->status == 2;
		row->rebuilt += s->reconstructed;
		a->spans++;
		a->rebuilt += s->reconstructed;
	}
	return 0;
}

static int cmp_row(const void *x, const void *y)
{
	const struct stat_row *a = x, *b = y;

	if (a->spans != b->spans)
		return a->spans > b->spans ? -1 : 1;
	return strcmp(a->component, b->component);
}

static void print_row(const struct dft_query_opts *o, const struct stat_row *r, bool first)
{
	char comp[256];

	if (o->json) {
		printf("%s{\"component\":", first ? "" : ",");
		json_str(stdout, r->component);
		printf(",\"kind\":\"%s\",\"spans\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"reconstructed\":%" PRIu64 "}",
		       kind_name(r->kind), r->spans, r->errors, r->rebuilt);
	} else {
		printf("%-32s %-9s %10" PRIu64 " %8" PRIu64 " %14" PRIu64 "\n", clean(r->component, comp, sizeof(comp)),
		       kind_name(r->kind), r->spans, r->errors, r->rebuilt);
	}
}

static int print_senders(const struct dft_query_opts *o, sqlite3 *db)
{
	sqlite3_stmt *q;
	int step, n = 0;

	if (sqlite3_prepare_v2(db, "SELECT sender_id, max_seq, spans_stored, counters FROM senders ORDER BY sender_id",
	                       -1, &q, NULL) != SQLITE_OK) {
		fprintf(stderr, "difftrace: read senders: %s\n", sqlite3_errmsg(db));
		return DFT_EXIT_RUNTIME;
	}
	if (!o->json)
		printf("\n%-16s %10s %12s  %s\n", "SENDER", "MAX_SEQ", "SPANS", "COUNTERS");
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		const char *c = (const char *)sqlite3_column_text(q, 3);

		/* the counters column is JSON the collector wrote (dft_counters_json) */
		printf(o->json ? "%s{\"sender_id\":\"%016" PRIx64 "\",\"max_seq\":%" PRIu64 ",\"spans\":%" PRIu64
		                 ",\"counters\":%s}"
		               : "%s%016" PRIx64 " %10" PRIu64 " %12" PRIu64 "  %s\n",
		       o->json && n++ ? "," : "", (uint64_t)sqlite3_column_int64(q, 0),
		       (uint64_t)sqlite3_column_int64(q, 1), (uint64_t)sqlite3_column_int64(q, 2),
		       c && c[0] == '{' ? c
		       : o->json        ? "null"
		                        : "-");
	}
	sqlite3_finalize(q);
	if (step != SQLITE_DONE) {
		fprintf(stderr, "difftrace: read senders: %s\n", sqlite3_errmsg(db));
		return DFT_EXIT_RUNTIME;
	}
	return DFT_EXIT_OK;
}

int dft_cli_stats(const struct dft_query_opts *o)
{
	struct stats_acc a = {.other = {.component = "(other)"}};
	struct dft_treader *r;
	sqlite3 *db;
	int rc;

	if ((rc = open_store(o->db, &db, &r)))
		return rc;
	a.rows = calloc(STATS_KEYS_MAX, sizeof(*a.rows));
	if (!a.rows) {
		fprintf(stderr, "difftrace: out of memory\n");
		rc = DFT_EXIT_RUNTIME;
		goto close;
	}
	if (dft_treader_foreach(r, stats_trace, &a)) {
		fprintf(stderr, "difftrace: stats: %s\n", dft_treader_errmsg(r));
		rc = DFT_EXIT_RUNTIME;
		goto free_rows;
	}
	qsort(a.rows, a.n, sizeof(*a.rows), cmp_row);
	if (o->json)
		printf("{\"spans\":%" PRIu64 ",\"reported\":%" PRIu64 ",\"reconstructed\":%" PRIu64
		       ",\"traces\":%" PRIu64 ",\"components\":[",
		       a.spans, a.spans - a.rebuilt, a.rebuilt, a.traces);
	else
		printf("spans %" PRIu64 " (%" PRIu64 " reported, %" PRIu64 " reconstructed), traces %" PRIu64 "\n\n"
		       "%-32s %-9s %10s %8s %14s\n",
		       a.spans, a.spans - a.rebuilt, a.rebuilt, a.traces, "COMPONENT", "KIND", "SPANS", "ERRORS",
		       "RECONSTRUCTED");
	for (uint32_t k = 0; k < a.n; k++)
		print_row(o, &a.rows[k], k == 0);
	if (a.other.spans)
		print_row(o, &a.other, a.n == 0);
	if (o->json)
		printf("],\"senders\":[");
	rc = print_senders(o, db);
	if (o->json)
		printf("],\"epochs\":[");
	if (rc == DFT_EXIT_OK)
		rc = dft_cli_print_epochs(o->json, db);
	if (o->json)
		printf("]}\n");
free_rows:
	for (uint32_t k = 0; k < a.n; k++)
		free(a.rows[k].component);
	free(a.rows);
close:
	close_store(db, r);
	return rc;
}
