/* SPDX-License-Identifier: MIT */
/*
 * difftrace: query what difftrace-collector stored.
 *   difftrace traces --db FILE [--limit N]
 *   difftrace show --db FILE TRACE_ID_HEX
 *   difftrace stats --db FILE
 *   difftrace stats --json FILE
 *   difftrace critical-path --db FILE TRACE_ID_HEX [--json]
 *   difftrace view --db FILE TRACE_ID_HEX -o FILE.html
 *   difftrace serve --db FILE [--listen HOST:PORT] [--allow-remote]
 * Exit codes: 0 ok, 1 runtime error (database, file), 2 usage error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "cli_eval.h"
#include "view/cli_view.h"

#define SHOW_MAX_SPANS 100000

static const char usage_text[] =
    "usage: difftrace <command> [options]\n"
    "  traces --db FILE [--limit N]     one line per trace, newest first (default limit 20), with the\n"
    "                                   spans reported and the platform spans reconstructed\n"
    "  show --db FILE TRACE_ID_HEX      the spans of one trace as a tree; reconstructed spans are\n"
    "                                   marked [reconstructed], their estimated duration with ~\n"
    "  stats --db FILE                  span counts per component and per sender\n"
    "  stats --json FILE                pretty-print a collector stats JSON file\n"
    "  eval --truth FILE --db FILE ...  ground truth vs the store (see difftrace eval --help)\n"
    "  critical-path --db FILE TRACE_ID_HEX [--json]\n"
    "                                   what the root's latency waited on, share per component,\n"
    "                                   each span's slack; rebuilt spans' time marked estimated\n"
    "  view --db FILE TRACE_ID_HEX -o FILE.html\n"
    "                                   one self-contained page: Gantt, critical path, profiles,\n"
    "                                   the root operation's latencies and usual shape\n"
    "  serve --db FILE [--listen 127.0.0.1:8470] [--allow-remote]\n"
    "                                   local web UI: traces with filters, pages, JSON endpoints\n"
    "  --help                           this text\n";

static int usage_err(const char *fmt, const char *arg)
{
	fprintf(stderr, "difftrace: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see difftrace --help)\n");
	return 2;
}

static int open_db(const char *path, sqlite3 **db)
{
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		fprintf(stderr, "difftrace: --db %s: %s\n", path, *db ? sqlite3_errmsg(*db) : "out of memory");
		sqlite3_close(*db);
		return 1;
	}
	sqlite3_busy_timeout(*db, 2000);
	return 0;
}

static int db_err(sqlite3 *db, const char *what)
{
	fprintf(stderr, "difftrace: %s: %s\n", what, sqlite3_errmsg(db));
	sqlite3_close(db);
	return 1;
}

static void fmt_time(uint64_t ns, char *buf, size_t len)
{
	time_t sec = (time_t)(ns / 1000000000u);
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
	         tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ns % 1000000000u / 1000u));
}

/* Names come from the traced processes: show control bytes as '?' so they cannot break a line. */
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

static void print_hex(const unsigned char *p, int n)
{
	for (int i = 0; i < n; i++)
		printf("%02x", p[i]);
}

static int cmd_traces(const char *dbpath, long limit)
{
	static const char sql[] =
	    "SELECT trace_id, sum(reconstructed = 0), group_concat(DISTINCT component), min(start_ns), max(end_ns),"
	    " max(status = 2), sum(reconstructed != 0) FROM spans GROUP BY trace_id ORDER BY min(start_ns) DESC"
	    " LIMIT ?1";
	sqlite3_stmt *q;
	sqlite3 *db;
	int step;

	if (open_db(dbpath, &db))
		return 1;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return db_err(db, "query traces");
	sqlite3_bind_int64(q, 1, limit);
	/* REPORTED: spans the senders delivered; RECON: platform spans rebuilt from function spans' hops */
	printf("%-32s %8s %5s %-26s %12s %5s  %s\n", "TRACE", "REPORTED", "RECON", "START (UTC)", "DURATION_US",
	       "ERROR", "COMPONENTS");
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		uint64_t start = (uint64_t)sqlite3_column_int64(q, 3);
		uint64_t end = (uint64_t)sqlite3_column_int64(q, 4);
		char when[96], comps[1024];

		fmt_time(start, when, sizeof(when));
		print_hex(sqlite3_column_blob(q, 0), sqlite3_column_bytes(q, 0));
		printf(" %8lld %5lld %-26s %12.1f %5s  %s\n", sqlite3_column_int64(q, 1), sqlite3_column_int64(q, 6),
		       when, end >= start ? (double)(end - start) / 1000.0 : 0.0,
		       sqlite3_column_int(q, 5) ? "yes" : "no",
		       clean((const char *)sqlite3_column_text(q, 2), comps, sizeof(comps)));
	}
	if (step != SQLITE_DONE) {
		sqlite3_finalize(q);
		return db_err(db, "read traces");
	}
	sqlite3_finalize(q);
	sqlite3_close(db);
	return 0;
}

struct span {
	uint64_t id, parent, start, end;
	char *component, *operation;
	char *message; /* the error's status message, or NULL */
	int status, reconstructed;
	int first_child, next_sibling; /* indices, -1 = none */
	bool printed;
};

static const char *status_name(int s)
{
	return s == 2 ? "ERROR" : s == 1 ? "OK" : "UNSET";
}

static void print_tree(struct span *sp, int i, int depth)
{
	/* iterative over siblings, recursive over depth; depth is bounded by the span count */
	for (; i >= 0; i = sp[i].next_sibling) {
		struct span *s = &sp[i];
		char comp[256], op[256], msg[256];

		if (s->printed)
			continue; /* a cycle in hostile data */
		s->printed = true;
		/* a reconstructed span's end is an estimate from the profiles: say so on the line */
		printf("%*s%016" PRIx64 " %s %s %s%.1fus %s%s%s%s%s\n", depth * 2, "", s->id,
		       clean(s->component, comp, sizeof(comp)), clean(s->operation, op, sizeof(op)),
		       s->reconstructed ? "~" : "", (double)(s->end - s->start) / 1000.0, status_name(s->status),
		       s->message ? " \"" : "", s->message ? clean(s->message, msg, sizeof(msg)) : "",
		       s->message ? "\"" : "", s->reconstructed ? " [reconstructed]" : "");
		if (depth < 256)
			print_tree(sp, s->first_child, depth + 1);
	}
}

static int parse_trace_id(const char *hex, unsigned char out[16])
{
	if (strlen(hex) != 32)
		return -EINVAL;
	for (int i = 0; i < 16; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1 || !strchr("0123456789abcdefABCDEF", hex[2 * i]) ||
		    !strchr("0123456789abcdefABCDEF", hex[2 * i + 1]))
			return -EINVAL;
		out[i] = (unsigned char)v;
	}
	return 0;
}

static int cmp_start(const void *a, const void *b)
{
	const struct span *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int cmd_show(const char *dbpath, const char *hex)
{
	static const char sql[] = "SELECT span_id, parent_span_id, start_ns, end_ns, component, operation, status,"
	                          " reconstructed, status_message FROM spans WHERE trace_id = ?1 LIMIT ?2";
	/* a store the collector has not opened since spans had a status message */
	static const char sql_old[] = "SELECT span_id, parent_span_id, start_ns, end_ns, component, operation, status,"
	                              " reconstructed, NULL FROM spans WHERE trace_id = ?1 LIMIT ?2";
	unsigned char tid[16];
	struct span *sp = NULL;
	sqlite3_stmt *q;
	sqlite3 *db;
	int n = 0, cap = 0, step, i, j, rc = 0;

	if (parse_trace_id(hex, tid))
		return usage_err("bad trace id '%s': expected 32 hex digits", hex);
	if (open_db(dbpath, &db))
		return 1;
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql_old, -1, &q, NULL) != SQLITE_OK)
		return db_err(db, "query spans");
	sqlite3_bind_blob(q, 1, tid, 16, SQLITE_STATIC);
	sqlite3_bind_int(q, 2, SHOW_MAX_SPANS);
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct span *s;

		if (n == cap) {
			struct span *ns;

			cap = cap ? 2 * cap : 64;
			ns = realloc(sp, (size_t)cap * sizeof(*sp));
			if (!ns) {
				fprintf(stderr, "difftrace: out of memory\n");
				rc = 1;
				goto free_spans;
			}
			sp = ns;
		}
		s = &sp[n++];
		memset(s, 0, sizeof(*s));
		s->id = (uint64_t)sqlite3_column_int64(q, 0);
		s->parent = (uint64_t)sqlite3_column_int64(q, 1);
		s->start = (uint64_t)sqlite3_column_int64(q, 2);
		s->end = (uint64_t)sqlite3_column_int64(q, 3);
		s->component = strdup((const char *)sqlite3_column_text(q, 4));
		s->operation = strdup((const char *)sqlite3_column_text(q, 5));
		s->status = sqlite3_column_int(q, 6);
		s->reconstructed = sqlite3_column_int(q, 7);
		if (sqlite3_column_type(q, 8) == SQLITE_TEXT) {
			s->message = strdup((const char *)sqlite3_column_text(q, 8));
			if (!s->message) {
				fprintf(stderr, "difftrace: out of memory\n");
				rc = 1;
				goto free_spans;
			}
		}
		if (!s->component || !s->operation) {
			fprintf(stderr, "difftrace: out of memory\n");
			rc = 1;
			goto free_spans;
		}
	}
	if (step != SQLITE_DONE) {
		fprintf(stderr, "difftrace: read spans: %s\n", sqlite3_errmsg(db));
		rc = 1;
		goto free_spans;
	}
	if (n == 0) {
		fprintf(stderr, "difftrace: trace %s: not found in %s\n", hex, dbpath);
		rc = 1;
		goto free_spans;
	}
	qsort(sp, (size_t)n, sizeof(*sp), cmp_start);
	for (i = 0; i < n; i++)
		sp[i].first_child = sp[i].next_sibling = -1;
	/* link children in start order: walk backwards so prepending keeps the order (O(n^2) is fine
	 * for one trace; SHOW_MAX_SPANS bounds it) */
	for (i = n - 1; i >= 0; i--) {
		if (!sp[i].parent)
			continue;
		for (j = 0; j < n && sp[j].id != sp[i].parent; j++)
			;
		if (j < n && j != i) {
			sp[i].next_sibling = sp[j].first_child;
			sp[j].first_child = i;
		}
	}
	for (i = 0, j = 0; i < n; i++)
		j += sp[i].reconstructed != 0;
	printf("trace %s: %d spans (%d reported, %d reconstructed)\n", hex, n, n - j, j);
	for (i = 0; i < n; i++) {
		bool child = false;

		if (sp[i].parent) {
			for (j = 0; j < n && !(sp[j].id == sp[i].parent && j != i); j++)
				;
			child = j < n;
		}
		if (child)
			continue;
		if (sp[i].parent)
			printf("(parent %016" PRIx64 " not stored)\n", sp[i].parent);
		sp[i].next_sibling = -1; /* roots are printed one by one */
		print_tree(sp, i, sp[i].parent ? 1 : 0);
	}
	for (i = 0; i < n; i++) {
		if (!sp[i].printed) {
			printf("(cycle)\n");
			print_tree(sp, i, 1);
		}
	}
free_spans:
	for (i = 0; i < n; i++) {
		free(sp[i].component);
		free(sp[i].operation);
		free(sp[i].message);
	}
	free(sp);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return rc;
}

static int cmd_stats_db(const char *dbpath)
{
	sqlite3_stmt *q;
	sqlite3 *db;
	int step;

	if (open_db(dbpath, &db))
		return 1;
	if (sqlite3_prepare_v2(db, "SELECT count(*), count(DISTINCT trace_id) FROM spans", -1, &q, NULL) != SQLITE_OK)
		return db_err(db, "count spans");
	if (sqlite3_step(q) == SQLITE_ROW)
		printf("spans %lld, traces %lld\n", sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1));
	sqlite3_finalize(q);

	if (sqlite3_prepare_v2(db,
	                       "SELECT component, kind, count(*), sum(status = 2), sum(reconstructed) FROM spans"
	                       " GROUP BY component, kind ORDER BY count(*) DESC",
	                       -1, &q, NULL) != SQLITE_OK)
		return db_err(db, "count components");
	printf("\n%-32s %-9s %10s %8s %14s\n", "COMPONENT", "KIND", "SPANS", "ERRORS", "RECONSTRUCTED");
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		int kind = sqlite3_column_int(q, 1);
		char comp[256];

		printf("%-32s %-9s %10lld %8lld %14lld\n",
		       clean((const char *)sqlite3_column_text(q, 0), comp, sizeof(comp)),
		       kind == 1   ? "platform"
		       : kind == 2 ? "function"
		                   : "unknown",
		       sqlite3_column_int64(q, 2), sqlite3_column_int64(q, 3), sqlite3_column_int64(q, 4));
	}
	sqlite3_finalize(q);
	if (step != SQLITE_DONE)
		return db_err(db, "read components");

	if (sqlite3_prepare_v2(db, "SELECT sender_id, max_seq, spans_stored, counters FROM senders ORDER BY sender_id",
	                       -1, &q, NULL) != SQLITE_OK)
		return db_err(db, "read senders");
	printf("\n%-16s %10s %12s  %s\n", "SENDER", "MAX_SEQ", "SPANS", "COUNTERS");
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		const char *c = (const char *)sqlite3_column_text(q, 3);

		printf("%016" PRIx64 " %10" PRIu64 " %12" PRIu64 "  %s\n", (uint64_t)sqlite3_column_int64(q, 0),
		       (uint64_t)sqlite3_column_int64(q, 1), (uint64_t)sqlite3_column_int64(q, 2), c ? c : "-");
	}
	sqlite3_finalize(q);
	if (step != SQLITE_DONE)
		return db_err(db, "read senders");
	sqlite3_close(db);
	return 0;
}

/* Re-indents JSON without interpreting it beyond strings, so any stats file prints. */
static int cmd_stats_json(const char *path)
{
	FILE *f = fopen(path, "r");
	int ch, depth = 0;
	bool in_str = false, esc = false;

	if (!f) {
		fprintf(stderr, "difftrace: --json %s: %s\n", path, strerror(errno));
		return 1;
	}
	while ((ch = getc(f)) != EOF) {
		if (in_str) {
			putchar(ch);
			if (esc)
				esc = false;
			else if (ch == '\\')
				esc = true;
			else if (ch == '"')
				in_str = false;
			continue;
		}
		switch (ch) {
		case '"':
			in_str = true;
			putchar(ch);
			break;
		case '{':
		case '[':
			depth++;
			printf("%c\n%*s", ch, depth * 2, "");
			break;
		case '}':
		case ']':
			depth = depth > 0 ? depth - 1 : 0;
			printf("\n%*s%c", depth * 2, "", ch);
			break;
		case ',':
			printf(",\n%*s", depth * 2, "");
			break;
		case ':':
			printf(": ");
			break;
		case ' ':
		case '\n':
		case '\t':
		case '\r':
			break;
		default:
			putchar(ch);
		}
	}
	putchar('\n');
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd, *db = NULL, *json = NULL, *trace = NULL;
	long limit = 20;
	int i;

	if (argc < 2)
		return usage_err("%s", "missing command");
	cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(cmd, "eval"))
		return dft_cli_eval(argc - 1, argv + 1);
	if (!strcmp(cmd, "critical-path"))
		return dft_cli_critical_path(argc - 1, argv + 1);
	if (!strcmp(cmd, "view"))
		return dft_cli_view(argc - 1, argv + 1);
	if (!strcmp(cmd, "serve"))
		return dft_cli_serve(argc - 1, argv + 1);
	if (strcmp(cmd, "traces") && strcmp(cmd, "show") && strcmp(cmd, "stats"))
		return usage_err("unknown command '%s'", cmd);
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(a, "--db")) {
			if (++i == argc)
				return usage_err("%s needs a FILE", a);
			db = argv[i];
		} else if (!strcmp(a, "--json") && !strcmp(cmd, "stats")) {
			if (++i == argc)
				return usage_err("%s needs a FILE", a);
			json = argv[i];
		} else if (!strcmp(a, "--limit") && !strcmp(cmd, "traces")) {
			char *end;

			if (++i == argc)
				return usage_err("%s needs a number", a);
			errno = 0;
			limit = strtol(argv[i], &end, 10);
			if (errno || end == argv[i] || *end || limit < 1)
				return usage_err("bad --limit '%s': expected a positive number", argv[i]);
		} else if (a[0] == '-') {
			return usage_err("unknown option '%s'", a);
		} else if (!strcmp(cmd, "show") && !trace) {
			trace = a;
		} else {
			return usage_err("unexpected argument '%s'", a);
		}
	}
	if (!strcmp(cmd, "stats")) {
		if (json && db)
			return usage_err("%s", "stats takes --db FILE or --json FILE, not both");
		if (json)
			return cmd_stats_json(json);
		if (!db)
			return usage_err("%s", "stats needs --db FILE or --json FILE");
		return cmd_stats_db(db);
	}
	if (!db)
		return usage_err("%s needs --db FILE", cmd);
	if (!strcmp(cmd, "traces"))
		return cmd_traces(db, limit);
	if (!trace)
		return usage_err("%s", "show needs TRACE_ID_HEX");
	return cmd_show(db, trace);
}
