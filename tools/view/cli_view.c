/* SPDX-License-Identifier: MIT */
/*
 * difftrace critical-path --db DB TRACE_ID [--json]
 * difftrace view --db DB TRACE_ID -o FILE.html
 * Exit codes: 0 ok, 1 runtime error (store, unknown trace, file), 2 usage error.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli_view.h"
#include "view_html.h"
#include "view_model.h"

#define OUT_MAX (512u << 20) /* a page or report larger than this is refused */

static const char cp_usage[] =
    "usage: difftrace critical-path --db FILE TRACE_ID_HEX [--json]\n"
    "  the critical path from the root's end back through the children it waited on, the share of\n"
    "  the latency per component and every span's slack; rebuilt spans' time is marked estimated\n";
static const char view_usage[] =
    "usage: difftrace view --db FILE TRACE_ID_HEX -o FILE.html\n"
    "  one self-contained HTML page: Gantt chart with the critical path, rebuilt spans, keep reasons,\n"
    "  per-span p50/p99 bands, the root operation's latencies around the trace and its usual shape\n";

struct args {
	const char *db, *trace, *out;
	bool json;
};

static int usage_err(const char *cmd, const char *fmt, const char *arg)
{
	fprintf(stderr, "difftrace %s: ", cmd);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see difftrace %s --help)\n", cmd);
	return 2;
}

/* 0 ok, 2 usage error (printed), -1 help printed */
static int parse(int argc, char **argv, bool with_out, struct args *a)
{
	const char *cmd = argv[0], *help = with_out ? view_usage : cp_usage;

	memset(a, 0, sizeof(*a));
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (!strcmp(s, "--help") || !strcmp(s, "-h")) {
			fputs(help, stdout);
			return -1;
		} else if (!strcmp(s, "--db")) {
			if (++i == argc)
				return usage_err(cmd, "%s needs a FILE", s);
			a->db = argv[i];
		} else if (with_out && (!strcmp(s, "-o") || !strcmp(s, "--output"))) {
			if (++i == argc)
				return usage_err(cmd, "%s needs a FILE", s);
			a->out = argv[i];
		} else if (!with_out && !strcmp(s, "--json")) {
			a->json = true;
		} else if (s[0] == '-') {
			return usage_err(cmd, "unknown option '%s'", s);
		} else if (!a->trace) {
			a->trace = s;
		} else {
			return usage_err(cmd, "unexpected argument '%s'", s);
		}
	}
	if (!a->db)
		return usage_err(cmd, "%s", "missing --db FILE");
	if (!a->trace)
		return usage_err(cmd, "%s", "missing TRACE_ID_HEX");
	if (with_out && !a->out)
		return usage_err(cmd, "%s", "missing -o FILE.html");
	return 0;
}

/* the view of the trace named in a; 0 or the exit code */
static int load(const char *cmd, const struct args *a, unsigned flags, sqlite3 **db, struct dft_view **v)
{
	struct dft_verr err = {{0}};
	uint8_t id[16];

	if (dft_trace_id_parse(a->trace, id))
		return usage_err(cmd, "bad trace id '%s': expected 32 hex digits", a->trace);
	if (dft_vstore_open(a->db, db, &err)) {
		fprintf(stderr, "difftrace %s: %s\n", cmd, err.msg);
		return 1;
	}
	if (dft_view_load(*db, id, flags, v, &err)) {
		fprintf(stderr, "difftrace %s: %s (--db %s)\n", cmd, err.msg, a->db);
		sqlite3_close(*db);
		return 1;
	}
	return 0;
}

int dft_cli_critical_path(int argc, char **argv)
{
	struct dft_view *v;
	struct args a;
	sqlite3 *db;
	int rc;

	rc = parse(argc, argv, false, &a);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = load(argv[0], &a, 0, &db, &v);
	if (rc)
		return rc;
	if (a.json) {
		struct dft_buf o;

		dft_buf_init(&o, OUT_MAX);
		dft_view_cp_json(v, &o);
		if (o.overflow) {
			fprintf(stderr, "difftrace %s: the report does not fit in memory\n", argv[0]);
			rc = 1;
		} else {
			fwrite(o.p, 1, o.len, stdout);
		}
		dft_buf_free(&o);
	} else {
		dft_view_cp_text(v, stdout);
	}
	dft_view_free(v);
	sqlite3_close(db);
	return rc;
}

int dft_cli_view(int argc, char **argv)
{
	struct dft_view *v;
	struct dft_buf o;
	struct args a;
	size_t written;
	sqlite3 *db;
	FILE *f;
	int rc;

	rc = parse(argc, argv, true, &a);
	if (rc)
		return rc < 0 ? 0 : rc;
	rc = load(argv[0], &a, DFT_VIEW_WITH_CONTEXT, &db, &v);
	if (rc)
		return rc;
	dft_buf_init(&o, OUT_MAX);
	dft_view_html(v, NULL, &o);
	if (o.overflow) {
		fprintf(stderr, "difftrace view: the page does not fit in memory\n");
		rc = 1;
		goto free_text;
	}
	f = fopen(a.out, "w");
	if (!f) {
		fprintf(stderr, "difftrace view: -o %s: %s\n", a.out, strerror(errno));
		rc = 1;
		goto free_text;
	}
	written = fwrite(o.p, 1, o.len, f);
	if (fclose(f) || written != o.len) {
		fprintf(stderr, "difftrace view: -o %s: write failed\n", a.out);
		rc = 1;
		goto free_text;
	}
	printf("difftrace view: wrote %s (%u spans, %zu bytes)\n", a.out, v->t->n, o.len);
free_text:
	dft_buf_free(&o);
	dft_view_free(v);
	sqlite3_close(db);
	return rc;
}
