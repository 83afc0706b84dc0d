/* SPDX-License-Identifier: MIT */
/*
 * Test workload for the integration tests: several threads produce a known, seeded set of
 * Knative-shaped traces through libdifftrace and write a manifest (one JSON line per span) of
 * everything produced, with the decision the skeleton filter must take for it.
 *
 * Each trace: ingress (platform, root) -> activator (platform) -> queue-proxy (platform) ->
 * function (function). Some platform spans are errors or explicitly kept; half the traces use
 * explicit nanosecond timestamps (their times must come out of the pipeline exactly), the other half
 * tick timestamps (converted by the NIC side, checked within a tolerance). Error spans carry a status
 * message; every 8th function span a hop the library must cut (dropped_hops).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <difftrace/difftrace.h>

struct app_cfg {
	unsigned threads;
	unsigned traces;
	unsigned error_pct;
	unsigned keep_pct;
	uint64_t seed;
	const char *manifest;
	const char *component;
	enum dft_component_kind kind;
	unsigned ring_slots;
	unsigned fini_ms;
	unsigned pace_us;
	const char *hold_file; /* while it exists (at most HOLD_MAX_S), wait between the spans and dft_fini */
};

#define HOLD_MAX_S 300u

static struct app_cfg cfg = {
	.threads = 4, .traces = 500, .error_pct = 5, .keep_pct = 2, .seed = 1,
	.component = "testapp", .kind = DFT_COMPONENT_PLATFORM, .fini_ms = 10000,
};

static uint16_t op_ids[4], comp_ids[4], key_attempt, key_thread;
static const char *const comp_names[4] = {"ingress-gateway", "activator", "queue-proxy", "user-fn"};
static const char *const op_names[4] = {"ingress", "proxy", "queue", "handle"};

struct worker {
	unsigned idx;
	FILE *out; /* private manifest part, merged at the end */
	char path[4096];
	uint64_t rng;
	unsigned long spans;
};

static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[p[i] >> 4];
		out[2 * i + 1] = d[p[i] & 15];
	}
	out[2 * n] = 0;
}

static void record(struct worker *w, const struct dft_span *sp, unsigned level, int explicit_ts,
		   uint64_t start_ns, uint64_t end_ns, int error, int keep, const char *message)
{
	char tid[33];
	int function = level == 3;

	hex(sp->trace_id, 16, tid);
	fprintf(w->out,
		"{\"trace_id\":\"%s\",\"span_id\":\"%016" PRIx64 "\",\"parent_span_id\":\"%016" PRIx64 "\","
		"\"component\":\"%s\",\"operation\":\"%s\",\"function\":%s,\"error\":%s,\"keep\":%s,"
		"\"expect_kept\":%s,\"explicit_ts\":%s,\"start_ns\":%" PRIu64 ",\"end_ns\":%" PRIu64 ","
		"\"attempt\":%" PRId64 ",\"thread\":%u,\"message\":\"%s\"}\n",
		tid, sp->span_id, sp->parent_span_id, comp_names[level], op_names[level], function ? "true" : "false",
		error ? "true" : "false", keep ? "true" : "false", (function || error || keep) ? "true" : "false",
		explicit_ts ? "true" : "false", start_ns, end_ns, sp->attr_val[0], w->idx, message);
	w->spans++;
}

/* One trace of four nested spans; explicit_ts picks the timestamp API. */
static void one_trace(struct worker *w, unsigned t)
{
	struct dft_span sp[4];
	struct dft_ctx ctx;
	char msg[4][48]; /* an error's status message: the span points at it until it ends */
	struct dft_hop_list cut;  /* every 8th function span: a hand-made list the library must cut */
	uint64_t start[4], end[4], begun[4];
	int error[4], keep[4];
	int explicit_ts = t & 1;
	uint64_t base = realtime_ns();

	for (unsigned l = 0; l < 4; l++) {
		error[l] = l < 3 && next_rand(&w->rng) % 100 < cfg.error_pct;
		keep[l] = l < 3 && !error[l] && next_rand(&w->rng) % 100 < cfg.keep_pct;
		start[l] = base + l * 1000 + next_rand(&w->rng) % 500;
		if (explicit_ts)
			dft_span_begin_at(&sp[l], op_ids[l], l ? &ctx : NULL, start[l]);
		else {
			/* the clock read right next to the tick read: a thread preempted in between (a loaded
			 * TCG VM can hold one off a CPU for half a second) would otherwise look like a bad
			 * tick conversion */
			begun[l] = realtime_ns();
			dft_span_begin(&sp[l], op_ids[l], l ? &ctx : NULL);
		}
		dft_span_set_component(&sp[l], comp_ids[l], l == 3 ? DFT_COMPONENT_FUNCTION : DFT_COMPONENT_PLATFORM);
		dft_span_set_attr(&sp[l], key_attempt, (int64_t)t);
		dft_span_set_attr(&sp[l], key_thread, (int64_t)w->idx);
		dft_span_context(&sp[l], &ctx);
	}
	if (t % 8 == 0) {
		/* a hop without a span id: left out and counted in the ring's dropped_hops, which the
		 * daemon reads into hops_dropped; no continuation slot is written for it */
		memset(&cut, 0, sizeof(cut));
		cut.n = 1;
		dft_span_set_hops(&sp[3], &cut);
	}
	for (int l = 3; l >= 0; l--) {
		end[l] = start[l] + 100000 - (uint64_t)l * 1000 + next_rand(&w->rng) % 1000;
		msg[l][0] = 0;
		if (error[l]) {
			dft_span_set_status(&sp[l], DFT_SPAN_ERROR);
			snprintf(msg[l], sizeof(msg[l]), "level %d failed on try %u", l, t);
			if (dft_span_set_status_message(&sp[l], msg[l], strlen(msg[l])))
				msg[l][0] = 0;
		}
		if (keep[l])
			dft_span_keep(&sp[l]);
		if (explicit_ts) {
			dft_span_end_at(&sp[l], end[l]);
		} else {
			dft_span_end(&sp[l]);
			end[l] = realtime_ns();
			start[l] = begun[l];
		}
		record(w, &sp[l], (unsigned)l, explicit_ts, start[l], end[l], error[l], keep[l], msg[l]);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (unsigned t = 0; t < cfg.traces; t++) {
		one_trace(w, t);
		if (cfg.pace_us) {
			struct timespec ts = {0, (long)cfg.pace_us * 1000};

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dft_testapp --manifest FILE [--threads N] [--traces N per thread] [--seed N]\n"
		   "       [--error-pct P] [--keep-pct P] [--component NAME] [--ring-slots N] [--fini-ms MS]\n"
		   "       [--pace-us US] [--hold-file PATH (wait while it exists, before dft_fini)]\n");
}

static int parse_uint(const char *opt, const char *s, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || end == s || v > max) {
		fprintf(stderr, "dft_testapp: %s: bad value '%s'\n", opt, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"threads", 1, 0, 't'}, {"traces", 1, 0, 'n'}, {"seed", 1, 0, 's'}, {"error-pct", 1, 0, 'e'},
		{"keep-pct", 1, 0, 'k'}, {"manifest", 1, 0, 'm'}, {"component", 1, 0, 'c'}, {"ring-slots", 1, 0, 'r'},
		{"fini-ms", 1, 0, 'f'}, {"pace-us", 1, 0, 'p'}, {"hold-file", 1, 0, 'H'}, {"help", 0, 0, 'h'},
		{0, 0, 0, 0},
	};
	struct dft_options o = {.size = sizeof(o)};
	struct dft_host_stats st;
	struct worker *ws;
	pthread_t *th;
	FILE *man;
	unsigned long v;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 't': if (parse_uint("--threads", optarg, 64, &v)) return 2; cfg.threads = (unsigned)v; break;
		case 'n': if (parse_uint("--traces", optarg, 10000000, &v)) return 2; cfg.traces = (unsigned)v; break;
		case 's': if (parse_uint("--seed", optarg, ~0ul, &v)) return 2; cfg.seed = v; break;
		case 'e': if (parse_uint("--error-pct", optarg, 100, &v)) return 2; cfg.error_pct = (unsigned)v; break;
		case 'k': if (parse_uint("--keep-pct", optarg, 100, &v)) return 2; cfg.keep_pct = (unsigned)v; break;
		case 'r': if (parse_uint("--ring-slots", optarg, 1u << 20, &v)) return 2; cfg.ring_slots = (unsigned)v; break;
		case 'f': if (parse_uint("--fini-ms", optarg, 600000, &v)) return 2; cfg.fini_ms = (unsigned)v; break;
		case 'p': if (parse_uint("--pace-us", optarg, 1000000, &v)) return 2; cfg.pace_us = (unsigned)v; break;
		case 'm': cfg.manifest = optarg; break;
		case 'H': cfg.hold_file = optarg; break;
		case 'c': cfg.component = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!cfg.manifest || optind != argc || cfg.threads == 0) {
		usage(stderr);
		return 2;
	}
	o.ring_slots = cfg.ring_slots;
	rc = dft_init(cfg.component, cfg.kind, &o);
	if (rc) {
		fprintf(stderr, "dft_testapp: dft_init: %s\n", strerror(-rc));
		return 1;
	}
	for (unsigned l = 0; l < 4; l++) {
		op_ids[l] = dft_name(op_names[l]);
		comp_ids[l] = dft_name(comp_names[l]);
	}
	key_attempt = dft_name("app.attempt");
	key_thread = dft_name("app.thread");
	ws = calloc(cfg.threads, sizeof(*ws));
	th = calloc(cfg.threads, sizeof(*th));
	if (!ws || !th)
		return 1;
	for (unsigned i = 0; i < cfg.threads; i++) {
		ws[i].idx = i;
		ws[i].rng = cfg.seed * 1000003u + i;
		snprintf(ws[i].path, sizeof(ws[i].path), "%s.part%u", cfg.manifest, i);
		ws[i].out = fopen(ws[i].path, "w");
		if (!ws[i].out) {
			fprintf(stderr, "dft_testapp: %s: %s\n", ws[i].path, strerror(errno));
			return 1;
		}
		pthread_create(&th[i], NULL, worker_main, &ws[i]);
	}
	for (unsigned i = 0; i < cfg.threads; i++)
		pthread_join(th[i], NULL);
	/* a test that looks at the live region removes the file when it has seen it */
	for (unsigned ms = 0; cfg.hold_file && access(cfg.hold_file, F_OK) == 0 && ms < HOLD_MAX_S * 1000u; ms += 10)
		usleep(10000);
	dft_stats(&st);
	rc = dft_fini(cfg.fini_ms);
	man = fopen(cfg.manifest, "w");
	if (!man)
		return 1;
	for (unsigned i = 0; i < cfg.threads; i++) {
		char buf[8192];
		size_t n;

		fclose(ws[i].out);
		ws[i].out = fopen(ws[i].path, "r");
		while (ws[i].out && (n = fread(buf, 1, sizeof(buf), ws[i].out)) > 0)
			fwrite(buf, 1, n, man);
		if (ws[i].out)
			fclose(ws[i].out);
		remove(ws[i].path);
	}
	fclose(man);
	/* one summary line for the harness: what the library itself counted */
	printf("{\"produced\":%" PRIu64 ",\"dropped_full\":%" PRIu64 ",\"dropped_no_ring\":%" PRIu64
	       ",\"hops_dropped\":%" PRIu64 ",\"registrations\":%u,\"fini\":%d}\n",
	       st.produced, st.dropped_full, st.dropped_no_ring, st.hops_dropped, st.registrations, rc);
	free(ws);
	free(th);
	return 0;
}
