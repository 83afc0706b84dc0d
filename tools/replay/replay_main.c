/* SPDX-License-Identifier: MIT */
/*
 * difftrace-replay: replay OTLP JSON lines through libdifftrace with the recorded ids and times.
 * Exit codes: 0 done (malformed lines skipped and counted), 1 runtime error, 2 usage error or, with
 * --strict, a malformed line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dft/parse.h"
#include "replay_run.h"

static const char usage_text[] =
    "usage: difftrace-replay --in FILE|- [options]\n"
    "  --in FILE                  OTLP JSON lines (collector file-exporter format); - for stdin\n"
    "  --platform-components a,b  components replayed as platform when a resource has no\n"
    "                             difftrace.component.kind attribute (default: function)\n"
    "  --component NAME           this process's component for dft_init (default difftrace-replay)\n"
    "  --threads N                replay threads, traces spread by trace id (default 1, max 64)\n"
    "  --rate R                   spans per second over all threads; 0 (default): as fast as the\n"
    "                             daemon drains the rings\n"
    "  --speed X                  replay in end-time order, each span when its recorded end is due:\n"
    "                             1 = the recorded pace, 2 = twice as fast, 0 = as fast as the daemon\n"
    "                             drains the rings (same order); not with --rate\n"
    "  --batch-lines N            lines read and grouped by trace at a time (default 1024)\n"
    "  --connect-ms N             wait up to N ms for difftrace-nic before replaying (default 2000)\n"
    "  --fini-ms N                wait up to N ms for the rings to drain at the end (default 5000)\n"
    "  --no-daemon                do not connect to difftrace-nic (parse and count only)\n"
    "  --strict                   stop at the first malformed line, exit 2\n"
    "  --help                     this text\n"
    "Prints one JSON summary line on stdout; malformed lines are reported on stderr by line number.\n";

static int usage_err(const char *fmt, const char *arg)
{
	fprintf(stderr, "difftrace-replay: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see difftrace-replay --help)\n");
	return 2;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	uint64_t v;

	if (dft_parse_u64(s, 0, max, &v))
		return -EINVAL;
	*out = (unsigned long)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct dft_replay_opts o = {
	    .component = "difftrace-replay", .threads = 1, .fini_ms = 5000, .connect_ms = 2000, .batch_lines = 1024};
	struct dft_replay_result r;
	unsigned long v;
	int rc;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(usage_text, stdout);
			return 0;
		} else if (!strcmp(a, "--strict")) {
			o.strict = true;
			continue;
		} else if (!strcmp(a, "--no-daemon")) {
			o.no_daemon = true;
			continue;
		} else if (strncmp(a, "--", 2)) {
			return usage_err("unexpected argument '%s'", a);
		}
		if (!val)
			return usage_err("%s needs a value", a);
		i++;
		if (!strcmp(a, "--in")) {
			o.in = val;
		} else if (!strcmp(a, "--platform-components")) {
			o.platform = val;
		} else if (!strcmp(a, "--component")) {
			if (!*val || strlen(val) > 62)
				return usage_err("bad --component '%s': 1 to 62 bytes", val);
			o.component = val;
		} else if (!strcmp(a, "--threads")) {
			if (parse_uint(val, 64, &v) || !v)
				return usage_err("bad --threads '%s': expected 1..64", val);
			o.threads = (unsigned)v;
		} else if (!strcmp(a, "--rate")) {
			char *end;

			errno = 0;
			o.rate = strtod(val, &end);
			if (errno || end == val || *end || !(o.rate >= 0) || o.rate > 1e12)
				return usage_err("bad --rate '%s': expected spans per second >= 0", val);
		} else if (!strcmp(a, "--speed")) {
			char *end;

			errno = 0;
			o.speed = strtod(val, &end);
			if (errno || end == val || *end || !(o.speed >= 0) || o.speed > 1e6)
				return usage_err("bad --speed '%s': expected 0 (as fast as possible) or a factor > 0", val);
			o.by_time = true;
		} else if (!strcmp(a, "--batch-lines")) {
			if (parse_uint(val, 1u << 20, &v) || !v)
				return usage_err("bad --batch-lines '%s': expected 1..1048576", val);
			o.batch_lines = (unsigned)v;
		} else if (!strcmp(a, "--connect-ms")) {
			if (parse_uint(val, 3600000, &v))
				return usage_err("bad --connect-ms '%s': expected 0..3600000", val);
			o.connect_ms = (unsigned)v;
		} else if (!strcmp(a, "--fini-ms")) {
			if (parse_uint(val, 3600000, &v))
				return usage_err("bad --fini-ms '%s': expected 0..3600000", val);
			o.fini_ms = (unsigned)v;
		} else {
			return usage_err("unknown option '%s'", a);
		}
	}
	if (!o.in)
		return usage_err("%s", "--in FILE is required (- for stdin)");
	if (o.by_time && o.rate > 0)
		return usage_err("%s", "--speed and --rate exclude each other");

	rc = dft_replay_run(&o, &r);
	if (rc == 1 && !r.lines)
		return 1;
	printf("{\"lines\":%" PRIu64 ",\"traces\":%" PRIu64 ",\"spans\":%" PRIu64 ",\"skipped\":%" PRIu64
	       ",\"produced\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"hops\":%" PRIu64 ",\"hops_cut\":%" PRIu64
	       ",\"hops_dropped\":%" PRIu64 ",\"names_truncated\":%" PRIu64
	       ",\"spans_unnamed\":%" PRIu64 ",\"attrs_unnamed\":%" PRIu64 ",\"attrs_cut\":%" PRIu64
	       ",\"queue_clamped\":%" PRIu64 ",\"reconstructed_skipped\":%" PRIu64 ",\"backoffs\":%" PRIu64
	       ",\"status_messages\":%" PRIu64 ",\"status_messages_refused\":%" PRIu64 ",\"late\":%" PRIu64
	       ",\"fini\":%d}\n",
	       r.lines, r.traces, r.spans, r.skipped, r.produced, r.dropped, r.hops, r.hops_cut,
	       r.hops_dropped, r.names_truncated, r.spans_unnamed, r.attrs_unnamed, r.attrs_cut, r.queue_clamped,
	       r.reconstructed_skipped, r.backoffs, r.status_messages, r.status_messages_refused, r.late, r.fini);
	fflush(stdout);
	return rc;
}
