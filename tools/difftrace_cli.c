/* SPDX-License-Identifier: MIT */
/*
 * difftrace: query what difftrace-collector stored (docs/running.md, "The difftrace CLI").
 *   difftrace traces --db FILE [--limit N] [--service NAME] [--min-duration DUR] [--errors]
 *                    [--since DUR|TIME] [--json]
 *   difftrace show --db FILE TRACE_ID_HEX [--json]
 *   difftrace stats --db FILE [--json]
 *   difftrace stats --json FILE             pretty-print a collector stats JSON file
 *   difftrace dump --db FILE                every span, one JSON object a line
 *   difftrace eval | critical-path | view | serve ...
 *   any of them with --clickhouse URL instead of --db FILE: the ClickHouse store
 * Every command reads the reported spans and the platform spans rebuilt from them (trace_read.h).
 * Exit codes: 0 ok, 1 runtime error (database, file), 2 usage error, 3 trace not found.
 */
#define _GNU_SOURCE /* strptime, timegm */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_clickhouse.h"
#include "cli_eval.h"
#include "cli_query.h"
#include "view/cli_view.h"

static const char usage_text[] =
    "usage: difftrace <command> [options]\n"
    "  traces --db FILE [--limit N]     one line per trace, newest first (default limit 20), with the\n"
    "                                   spans reported and the platform spans reconstructed\n"
    "         [--service NAME]          only traces with a span of this component (rebuilt ones count)\n"
    "         [--min-duration DUR]      only traces lasting at least DUR (250ms, 1.5s, 800us, 2m)\n"
    "         [--errors]                only traces with an error span\n"
    "         [--since DUR|TIME]        only traces ending in the last DUR, or after TIME\n"
    "                                   (2026-12-05T08:00:00Z, UTC)\n"
    "  show --db FILE TRACE_ID_HEX      the spans of one trace as a tree; reconstructed spans are\n"
    "                                   marked [reconstructed], their estimated duration with ~\n"
    "  stats --db FILE                  span counts per component and per sender\n"
    "  stats --json FILE                pretty-print a collector stats JSON file\n"
    "  dump --db FILE                   every span, reported and rebuilt, one JSON object a line\n"
    "  --json                           traces, show, stats: one JSON document on stdout\n"
    "  --clickhouse URL                 instead of --db FILE, with any command: the ClickHouse store\n"
    "                                   (http://HOST:PORT of any node; read through its Distributed tables)\n"
    "  eval --truth FILE --db FILE ...  ground truth vs the store (see difftrace eval --help)\n"
    "  critical-path --db FILE TRACE_ID_HEX [--json]\n"
    "                                   what the root's latency waited on, share per component,\n"
    "                                   each span's slack; rebuilt spans' time marked estimated\n"
    "  view --db FILE TRACE_ID_HEX -o FILE.html\n"
    "                                   one self-contained page: Gantt, critical path, profiles,\n"
    "                                   the root operation's latencies and usual shape\n"
    "  serve --db FILE [--listen 127.0.0.1:8470] [--allow-remote]\n"
    "                                   local web UI: traces with filters, pages, JSON endpoints\n"
    "  --help                           this text\n"
    "exit codes: 0 ok, 1 runtime error (store, file), 2 usage error, 3 trace not found\n";

static int usage_err(const char *fmt, const char *arg)
{
	fprintf(stderr, "difftrace: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see difftrace --help)\n");
	return DFT_EXIT_USAGE;
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

/* "250ms", "1.5s", "800us", "1200ns", "2m", "1h" -> ns; 0 or -EINVAL */
static int dft_parse_duration(const char *s, uint64_t *ns)
{
	static const struct {
		const char *unit;
		double mult;
	} units[] = {{"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (!strcmp(end, units[i].unit)) {
			if (v * units[i].mult >= 1.8e19)
				return -EINVAL;
			*ns = (uint64_t)(v * units[i].mult);
			return 0;
		}
	}
	return -EINVAL; /* a bare number is ambiguous: the unit is required */
}

/* a duration back from now ("15m") or a UTC time "2026-12-05T08:00:00Z" -> unix ns; 0 or -EINVAL */
static int dft_parse_since(const char *s, uint64_t now_ns, uint64_t *ns)
{
	struct tm tm = {0};
	uint64_t back;
	char *end;

	if (!dft_parse_duration(s, &back)) {
		*ns = back < now_ns ? now_ns - back : 0;
		return 0;
	}
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end || (strcmp(end, "Z") && *end))
		return -EINVAL;
	*ns = (uint64_t)timegm(&tm) * 1000000000u;
	return 0;
}

static bool is_cmd(const char *cmd, const char *a, const char *b, const char *c, const char *d)
{
	return !strcmp(cmd, a) || (b && !strcmp(cmd, b)) || (c && !strcmp(cmd, c)) || (d && !strcmp(cmd, d));
}

static int run(int argc, char **argv)
{
	struct dft_query_opts o = {.limit = 20};
	const char *cmd, *json_file = NULL, *trace = NULL;
	struct timespec now;
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
	if (!is_cmd(cmd, "traces", "show", "stats", "dump"))
		return usage_err("unknown command '%s'", cmd);
	clock_gettime(CLOCK_REALTIME, &now);
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];
		bool traces = !strcmp(cmd, "traces");

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(a, "--db")) {
			if (++i == argc)
				return usage_err("%s needs a FILE", a);
			o.db = argv[i];
		} else if (!strcmp(a, "--json") && is_cmd(cmd, "traces", "show", "stats", NULL)) {
			/* stats --json FILE (a collector stats file) predates --json as a switch */
			if (!strcmp(cmd, "stats") && i + 1 < argc && argv[i + 1][0] != '-')
				json_file = argv[++i];
			else
				o.json = true;
		} else if (!strcmp(a, "--limit") && traces) {
			char *end;

			if (++i == argc)
				return usage_err("%s needs a number", a);
			errno = 0;
			o.limit = strtol(argv[i], &end, 10);
			if (errno || end == argv[i] || *end || o.limit < 1)
				return usage_err("bad --limit '%s': expected a positive number", argv[i]);
		} else if (!strcmp(a, "--service") && traces) {
			if (++i == argc || !argv[i][0])
				return usage_err("%s needs a component name", a);
			o.service = argv[i];
		} else if (!strcmp(a, "--min-duration") && traces) {
			if (++i == argc)
				return usage_err("%s needs a duration", a);
			if (dft_parse_duration(argv[i], &o.min_duration_ns))
				return usage_err(
				    "bad --min-duration '%s': expected a number and a unit (ns, us, ms, s, m, h)",
				    argv[i]);
		} else if (!strcmp(a, "--errors") && traces) {
			o.errors = true;
		} else if (!strcmp(a, "--since") && traces) {
			if (++i == argc)
				return usage_err("%s needs a duration or a time", a);
			if (dft_parse_since(argv[i], (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec,
			                    &o.since_ns))
				return usage_err("bad --since '%s': expected a duration (15m) or a UTC time "
				                 "(2026-12-05T08:00:00Z)",
				                 argv[i]);
		} else if (a[0] == '-') {
			return usage_err("unknown option '%s' for this command", a);
		} else if (!strcmp(cmd, "show") && !trace) {
			trace = a;
		} else {
			return usage_err("unexpected argument '%s'", a);
		}
	}
	if (!strcmp(cmd, "stats") && json_file) {
		if (o.db)
			return usage_err("%s", "stats takes --db FILE or --json FILE, not both");
		return cmd_stats_json(json_file);
	}
	if (!o.db)
		return usage_err("%s needs --db FILE", cmd);
	if (!strcmp(cmd, "stats"))
		return dft_cli_stats(&o);
	if (!strcmp(cmd, "traces"))
		return dft_cli_traces(&o);
	if (!strcmp(cmd, "dump"))
		return dft_cli_dump(&o);
	if (!trace)
		return usage_err("%s", "show needs TRACE_ID_HEX");
	return dft_cli_show(&o, trace);
}

/*
 * --clickhouse URL, with any command: the rows it needs are read from ClickHouse into a private
 * SQLite file (cli_clickhouse.h) and the command runs with --db on that file, removed afterwards.
 */
int main(int argc, char **argv)
{
	const char *url = NULL, *trace = NULL;
	char path[256], **av;
	int at = -1, rc;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--clickhouse")) {
			if (i + 1 == argc)
				return usage_err("%s needs a URL (http://HOST:PORT)", argv[i]);
			url = argv[i + 1];
			at = i;
		} else if (strlen(argv[i]) == 32 && strspn(argv[i], "0123456789abcdefABCDEF") == 32) {
			trace = argv[i];
		} else if (!strcmp(argv[i], "--db") && url) {
			return usage_err("%s", "--db FILE or --clickhouse URL, not both");
		}
	}
	if (!url)
		return run(argc, argv);
	for (int i = 2; i < argc; i++)
		if (!strcmp(argv[i], "--db"))
			return usage_err("%s", "--db FILE or --clickhouse URL, not both");
	/* one trace is enough for show and critical-path; the rest look at many */
	if (argc < 2 || (strcmp(argv[1], "show") && strcmp(argv[1], "critical-path")))
		trace = NULL;
	if (dft_ch_snapshot(url, trace, path, sizeof(path)))
		return DFT_EXIT_RUNTIME;
	av = calloc((size_t)argc + 1, sizeof(*av));
	if (!av) {
		unlink(path);
		return DFT_EXIT_RUNTIME;
	}
	memcpy(av, argv, (size_t)argc * sizeof(*av));
	av[at] = "--db";
	av[at + 1] = path;
	rc = run(argc, av);
	free(av);
	unlink(path);
	return rc;
}
