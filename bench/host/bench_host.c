/* SPDX-License-Identifier: MIT */
/*
 * dft-bench-host: the application-side cost of one span (begin, two attributes, end, with a parent
 * context), side by side in one run:
 *   difftrace      libdifftrace, the real difftrace-nic attached and draining on its own core
 *                  (the NIC half offloaded; the daemon is another process); and "difftrace_tick",
 *                  the same span begun at the tick the previous one ended at (dft_tick,
 *                  dft_span_begin_tick, dft_span_end_tick: one tick read per span; 1 thread);
 *   host_reporting the same library, with the NIC's pipeline (validate, filter, protobuf batch, TCP
 *                  to the real difftrace-collector) in a background thread of this process, as an
 *                  OpenTelemetry SDK's batch span processor and exporter would run (hostrep.c);
 *   lttng          an LTTng-UST tracepoint with the same payload, in a session this program starts
 *                  (discard mode), run in a child process (dft-bench-host-lttng);
 *   otel_go        the OpenTelemetry Go SDK (1.1.0) with its BatchSpanProcessor and an exporter that
 *                  protobuf-encodes OTLP and writes it to a socket, same payload, a child process
 *                  pinned to the application's CPU (dft-bench-otel-go, bench/otel-go/main.go).
 * For 1 and 2 producer threads: min/median/p99 ns per span on the application thread, spans/s per
 * thread, and application CPU per span (getrusage of the whole process: for host_reporting that
 * includes its background thread). Loss is counted for each: ring-full drops, events LTTng discarded.
 * See --help; `--json` prints one object (keys in docs/benchmarks.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "dft/clock.h"
#include "difftrace/difftrace.h"
#include "hostrep.h"
#include "lttng_run.h"
#include "span_loop.h"

#define MAX_THREADS 8

/*
 * What one read of the tick counter costs on this CPU (a span takes two): rounds of 10000
 * back-to-back reads, timed by the counter itself. Returns the median ns per read.
 */
static double tick_read_ns(double ticks_per_ns)
{
	enum { ROUNDS = 201, READS = 10000 };
	static double v[ROUNDS];
	volatile uint64_t sink = 0;

	for (unsigned r = 0; r < ROUNDS; r++) {
		uint64_t t0 = dft_ticks();

		for (unsigned i = 0; i < READS; i++)
			sink += dft_ticks();
		v[r] = (double)(dft_ticks() - t0) / ticks_per_ns / READS;
	}
	(void)sink;
	dft_bench_sort(v, ROUNDS);
	return v[ROUNDS / 2];
}

struct opts {
	bool json, no_lttng, no_hostrep, no_difftrace, no_same_core, busy_poll, no_otel;
	unsigned rounds, warm, batch, ring_slots, lttng_pace_ns;
	unsigned nthreads[4], n_nthreads;
	enum dft_component_kind kind;
	int app_cpu, nic_cpu;
	char bindir[PATH_MAX];
};

/* One system at one thread count. have = measured. */
struct result {
	bool have;
	unsigned threads;
	struct dft_bench_dist d;
	double app_cpu_ns_per_span;     /* process CPU (pacing waits excluded) / spans */
	double raw_cpu_ns_per_span;     /* the same with the waits */
	double sustained_spans_per_s;   /* spans / wall time of the run, waits included (consumer-bound) */
	uint64_t spans, drops, lost;    /* drops: ring full / no ring; lost: further loss downstream */
	bool enabled;                   /* lttng: the tracepoint was enabled in the child */
};

static double tick_per_ns;

/* ---- libdifftrace producers (difftrace and host_reporting) */
struct worker {
	pthread_t th;
	unsigned rounds, warm, batch;
	uint64_t room_limit;
	int cpu;
	bool chain; /* one tick read per span: dft_span_begin_tick at the previous span's end tick */
	uint16_t op, k1, k2;
	struct dft_ctx parent;
	struct dft_bench_thread_res res;
};

static pthread_barrier_t barrier;

static void wait_room(uint64_t limit)
{
	struct dft_host_stats st;

	for (;;) {
		if (dft_stats(&st) || st.pending <= limit)
			return;
		dft_bench_sleep_us(20);
	}
}

static void *produce(void *arg)
{
	struct worker *w = arg;

	dft_bench_pin(w->cpu);
	pthread_barrier_wait(&barrier);
	if (w->chain) {
		uint64_t t = dft_tick();

		DFT_BENCH_ROUNDS(&w->res, w->rounds, w->warm, w->batch, tick_per_ns, wait_room(w->room_limit), {
			struct dft_span sp;

			dft_span_begin_tick(&sp, w->op, &w->parent, t);
			dft_span_set_attr(&sp, w->k1, (int64_t)i);
			dft_span_set_attr(&sp, w->k2, 42);
			t = dft_tick();
			dft_span_end_tick(&sp, t);
		});
		return NULL;
	}
	DFT_BENCH_ROUNDS(&w->res, w->rounds, w->warm, w->batch, tick_per_ns, wait_room(w->room_limit), {
		struct dft_span sp;

		dft_span_begin(&sp, w->op, &w->parent);
		dft_span_set_attr(&sp, w->k1, (int64_t)i);
		dft_span_set_attr(&sp, w->k2, 42);
		dft_span_end(&sp);
	});
	return NULL;
}

typedef bool (*drained_fn)(void *arg);

static bool ring_drained(void *arg)
{
	struct dft_host_stats st;

	(void)arg;
	return dft_stats(&st) || st.pending == 0;
}

static bool hostrep_drained(void *arg)
{
	return ring_drained(NULL) && dft_hostrep_idle(arg);
}

/* Run `threads` producers, wait for the consumer to finish, fill r. */
static int run_producers(const struct opts *o, unsigned threads, bool chain, drained_fn drained, void *darg,
			 struct result *r)
{
	struct worker w[MAX_THREADS];
	struct dft_host_stats s0, s1;
	struct dft_ctx parent;
	struct dft_span root;
	double *all;
	uint64_t cpu0, cpu1, wait_cpu = 0, wall = 0, main_wait0;
	size_t n = 0;
	uint16_t op = dft_name("handle"), k1 = dft_name("req.seq"), k2 = dft_name("http.status");

	memset(r, 0, sizeof(*r));
	all = calloc((size_t)threads * o->rounds, sizeof(*all));
	if (!all)
		return -ENOMEM;
	/* the parent every measured span continues: a request's root, begun and never ended */
	dft_span_begin(&root, op, NULL);
	dft_span_context(&root, &parent);
	dft_stats(&s0);
	pthread_barrier_init(&barrier, NULL, threads);
	cpu0 = dft_bench_cpu_ns_self();
	for (unsigned t = 0; t < threads; t++) {
		w[t] = (struct worker){.rounds = o->rounds, .warm = o->warm, .batch = o->batch, .cpu = o->app_cpu,
				       .chain = chain, .op = op, .k1 = k1, .k2 = k2, .parent = parent};
		/* every ring has room for its next round when the total pending leaves it */
		w[t].room_limit = o->ring_slots - (uint64_t)o->batch * threads;
		w[t].res.samples = all + (size_t)t * o->rounds;
		pthread_create(&w[t].th, NULL, produce, &w[t]);
	}
	for (unsigned t = 0; t < threads; t++)
		pthread_join(w[t].th, NULL);
	/* the consumer's work after the last round is part of the cost when it runs in this process */
	main_wait0 = dft_bench_thread_cpu_exact();
	for (int i = 0; i < 30000 && !drained(darg); i++)
		dft_bench_sleep_us(100);
	wait_cpu += dft_bench_thread_cpu_exact() - main_wait0;
	cpu1 = dft_bench_cpu_ns_self();
	dft_stats(&s1);
	pthread_barrier_destroy(&barrier);
	for (unsigned t = 0; t < threads; t++) {
		memmove(all + n, w[t].res.samples, w[t].res.n_samples * sizeof(*all));
		n += w[t].res.n_samples;
		r->spans += w[t].res.spans;
		wait_cpu += w[t].res.wait_cpu_ns;
		if (w[t].res.wall_ns > wall)
			wall = w[t].res.wall_ns;
	}
	dft_bench_dist_of(all, n, &r->d);
	free(all);
	r->have = true;
	r->threads = threads;
	r->drops = (s1.dropped_full - s0.dropped_full) + (s1.dropped_no_ring - s0.dropped_no_ring);
	r->raw_cpu_ns_per_span = (double)(cpu1 - cpu0) / (double)r->spans;
	r->app_cpu_ns_per_span = (double)(cpu1 - cpu0 > wait_cpu ? cpu1 - cpu0 - wait_cpu : 0) / (double)r->spans;
	r->sustained_spans_per_s = wall ? (double)r->spans / threads * 1e9 / (double)wall : 0;
	return 0;
}

static int lib_init(const struct opts *o, const char *socket)
{
	struct dft_options lo = {.size = sizeof(lo), .socket_path = socket, .ring_slots = o->ring_slots};
	struct dft_host_stats st;
	int rc = dft_init("bench-app", o->kind, &lo);

	if (rc) {
		fprintf(stderr, "dft-bench-host: dft_init: %s\n", strerror(-rc));
		return rc;
	}
	for (int i = 0; i < 1000; i++) {
		if (dft_stats(&st) == 0 && st.registered)
			return 0;
		dft_bench_sleep_us(10000);
	}
	fprintf(stderr, "dft-bench-host: the region was not registered within 10 s\n");
	dft_fini(0);
	return -ETIMEDOUT;
}

/*
 * same_core: the daemon shares the application's CPU and sleeps when idle, so it reads the ring only
 * while the producers wait. The slot lines then never sit in another core's cache when the producer
 * comes round to write them again, as with a DPU that reads host memory by DMA; with the daemon
 * on its own core (the emulation) every slot's two lines cross between cores twice.
 */
static int bench_difftrace(const struct opts *o, bool same_core, struct result *res, struct result *chained,
			   int64_t nic[8])
{
	struct dft_bench_daemon_opts dop = {.bindir = o->bindir, .nic_cpu = same_core ? o->app_cpu : o->nic_cpu,
					    .busy_poll = same_core ? false : o->busy_poll, .hold = false,
					    .with_nic = true, .keep_off_cpu = o->app_cpu};
	static const char *keys[8] = {"produced", "reported", "filtered", "lost_ring_full", "lost_backlog_full",
				      "lost_transport", "lost_invalid", "lost_hold_overflow"};
	struct dft_bench_daemons d;
	int rc = dft_bench_daemons_start(&d, &dop);

	if (rc)
		return rc;
	rc = lib_init(o, d.socket);
	if (rc)
		goto out;
	for (unsigned k = 0; k < o->n_nthreads && !rc; k++) {
		int64_t before[8], after[8];

		dft_bench_nic_counters(&d, keys, before, 8);
		rc = run_producers(o, o->nthreads[k], false, ring_drained, NULL, &res[k]);
		dft_bench_sleep_us(50000); /* the last batches reach the transport (or the backlog limit) */
		dft_bench_nic_counters(&d, keys, after, 8);
		/* spans the daemon lost downstream (backlog full: the collector is slower; transport) */
		for (int i = 4; i < 8; i++)
			if (after[i] >= 0 && before[i] >= 0)
				res[k].lost += (uint64_t)(after[i] - before[i]);
	}
	/* the same span with one tick read (the caller passes the previous span's end), 1 thread */
	if (!rc && chained)
		rc = run_producers(o, 1, true, ring_drained, NULL, chained);
	dft_fini(5000);
	dft_bench_daemons_stop(&d);
	for (int k = 0; k < 8; k++)
		nic[k] = dft_bench_json_u64(d.nic_stats, keys[k]);
out:
	dft_bench_daemons_cleanup(&d);
	return rc;
}

static int bench_hostrep(const struct opts *o, struct result *res, struct dft_hostrep_stats *hs)
{
	struct dft_bench_daemon_opts dop = {.bindir = o->bindir, .with_nic = false, .keep_off_cpu = o->app_cpu};
	struct dft_hostrep_opts ho = {0};
	struct dft_hostrep *h = NULL;
	struct dft_bench_daemons d;
	int rc = dft_bench_daemons_start(&d, &dop);

	if (rc)
		return rc;
	ho.socket_path = d.socket;
	ho.collector_port = d.port;
	/* the host has only the application's cores: the "NIC" core is not there to use */
	ho.cpu = o->app_cpu;
	rc = dft_hostrep_start(&ho, &h);
	if (rc)
		goto out;
	rc = lib_init(o, d.socket);
	if (rc)
		goto out;
	for (unsigned k = 0; k < o->n_nthreads && !rc; k++)
		rc = run_producers(o, o->nthreads[k], false, hostrep_drained, h, &res[k]);
	dft_fini(5000);
	dft_hostrep_stats(h, hs);
	for (unsigned k = 0; k < o->n_nthreads; k++)
		res[k].lost = hs->lost_backlog_full + hs->invalid;
out:
	dft_hostrep_stop(h);
	dft_bench_daemons_cleanup(&d);
	return rc;
}

/* ---- the OpenTelemetry Go SDK (dft-bench-otel-go): its JSON object and the figures used here */
struct otel_result {
	bool have;
	double ns_min, ns_median, ns_p99, app_cpu_ns_per_span;
	char json[2048]; /* its object as printed, embedded in ours */
};

static double json_double(const char *buf, const char *key, bool *ok)
{
	char pat[96];
	const char *p;
	char *end;
	double v;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(buf, pat);
	if (!p) {
		*ok = false;
		return 0;
	}
	v = strtod(p + strlen(pat), &end);
	if (end == p + strlen(pat))
		*ok = false;
	return v;
}

/* Run dft-bench-otel-go (one producer on the app's CPU, the sink on the NIC's); r->have, or a reason in
 * *skip when the binary is missing or fails. */
static void bench_otel(const struct opts *o, struct otel_result *r, const char **skip)
{
	char exe[PATH_MAX + 32], rounds[16], batch[16], app[16], sink[16];
	int pfd[2], st;
	size_t n = 0;
	ssize_t got;
	pid_t pid;
	bool ok = true;

	memset(r, 0, sizeof(*r));
	snprintf(exe, sizeof(exe), "%s/dft-bench-otel-go", o->bindir);
	if (access(exe, X_OK)) {
		*skip = "dft-bench-otel-go not built (scripts/setup-deps.sh --bench installs Go and the SDK)";
		return;
	}
	snprintf(rounds, sizeof(rounds), "%u", o->rounds);
	snprintf(batch, sizeof(batch), "%u", o->batch);
	snprintf(app, sizeof(app), "%d", o->app_cpu);
	snprintf(sink, sizeof(sink), "%d", o->nic_cpu);
	if (pipe(pfd)) {
		*skip = "pipe failed";
		return;
	}
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		close(pfd[1]);
		execl(exe, exe, "-rounds", rounds, "-batch", batch, "-app-cpu", app, "-sink-cpu", sink, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	if (pid < 0) {
		close(pfd[0]);
		*skip = "fork failed";
		return;
	}
	while (n < sizeof(r->json) - 1 && (got = read(pfd[0], r->json + n, sizeof(r->json) - 1 - n)) > 0)
		n += (size_t)got;
	close(pfd[0]);
	r->json[n] = '\0';
	while (n && (r->json[n - 1] == '\n' || r->json[n - 1] == ' '))
		r->json[--n] = '\0';
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) || n == 0 || r->json[0] != '{') {
		*skip = "dft-bench-otel-go failed";
		return;
	}
	r->ns_min = json_double(r->json, "ns_min", &ok);
	r->ns_median = json_double(r->json, "ns_median", &ok);
	r->ns_p99 = json_double(r->json, "ns_p99", &ok);
	r->app_cpu_ns_per_span = json_double(r->json, "app_cpu_ns_per_span", &ok);
	if (!ok) {
		*skip = "dft-bench-otel-go printed no figures";
		return;
	}
	r->have = true;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: dft-bench-host [--json] [--quick] [--rounds N] [--batch N] [--threads 1,2] [--kind function|platform]\n"
		"                      [--ring-slots N] [--app-cpu N] [--nic-cpu N] [--no-busy-poll] [--lttng-pace-ns N]\n"
		"                      [--no-lttng] [--no-host-reporting] [--no-difftrace] [--no-same-core] [--no-otel]\n"
		"                      [--bindir DIR]\n"
		"  --rounds N        timed rounds per system and thread count (default 2000; --quick: 300)\n"
		"  --batch N         spans per timed round (default 1000)\n"
		"  --kind K          the app's component kind: function (default: every span is reported) or\n"
		"                    platform (the filter leaves normal spans out)\n"
		"  --lttng-pace-ns N LTTng: sleep N ns per event of a round after it, so the consumer keeps up (500)\n"
		"  --no-same-core    skip the second difftrace run with the daemon on the app's CPU (no busy-poll)\n"
		"  --no-otel         skip the OpenTelemetry Go SDK (dft-bench-otel-go, 1 producer)\n");
}

static int parse(int argc, char **argv, struct opts *o)
{
	enum { O_ROUNDS = 256, O_BATCH, O_THREADS, O_KIND, O_RING, O_APP, O_NIC, O_NOBUSY, O_PACE, O_NOLTTNG,
	       O_NOHR, O_NODT, O_NOSC, O_NOOTEL, O_BINDIR, O_QUICK, O_JSON, O_HELP };
	static const struct option lo[] = {
		{"json", no_argument, NULL, O_JSON},          {"quick", no_argument, NULL, O_QUICK},
		{"rounds", required_argument, NULL, O_ROUNDS}, {"batch", required_argument, NULL, O_BATCH},
		{"threads", required_argument, NULL, O_THREADS}, {"kind", required_argument, NULL, O_KIND},
		{"ring-slots", required_argument, NULL, O_RING}, {"app-cpu", required_argument, NULL, O_APP},
		{"nic-cpu", required_argument, NULL, O_NIC},  {"no-busy-poll", no_argument, NULL, O_NOBUSY},
		{"lttng-pace-ns", required_argument, NULL, O_PACE}, {"no-lttng", no_argument, NULL, O_NOLTTNG},
		{"no-host-reporting", no_argument, NULL, O_NOHR}, {"no-difftrace", no_argument, NULL, O_NODT},
		{"bindir", required_argument, NULL, O_BINDIR}, {"help", no_argument, NULL, O_HELP},
		{"no-same-core", no_argument, NULL, O_NOSC}, {"no-otel", no_argument, NULL, O_NOOTEL},
		{NULL, 0, NULL, 0}};
	int c, ncpu = dft_bench_ncpus();

	memset(o, 0, sizeof(*o));
	o->rounds = 2000;
	o->batch = 1000;
	o->ring_slots = 4096;
	o->lttng_pace_ns = 500;
	o->nthreads[0] = 1;
	o->nthreads[1] = 2;
	o->n_nthreads = 2;
	o->kind = DFT_COMPONENT_FUNCTION;
	o->busy_poll = true;
	o->app_cpu = 0;
	o->nic_cpu = ncpu - 1;
	if (dft_bench_exe_dir(o->bindir, sizeof(o->bindir)))
		snprintf(o->bindir, sizeof(o->bindir), ".");
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_JSON: o->json = true; break;
		case O_QUICK: o->rounds = 300; break;
		case O_ROUNDS: o->rounds = (unsigned)strtoul(optarg, NULL, 10); break;
		case O_BATCH: o->batch = (unsigned)strtoul(optarg, NULL, 10); break;
		case O_THREADS: {
			char *s = optarg, *end;

			o->n_nthreads = 0;
			while (*s && o->n_nthreads < 4) {
				unsigned long v = strtoul(s, &end, 10);

				if (end == s || v < 1 || v > MAX_THREADS)
					goto bad;
				o->nthreads[o->n_nthreads++] = (unsigned)v;
				s = *end == ',' ? end + 1 : end;
				if (*end && *end != ',')
					goto bad;
			}
			break;
		}
		case O_KIND:
			if (!strcmp(optarg, "function"))
				o->kind = DFT_COMPONENT_FUNCTION;
			else if (!strcmp(optarg, "platform"))
				o->kind = DFT_COMPONENT_PLATFORM;
			else
				goto bad;
			break;
		case O_RING: o->ring_slots = (unsigned)strtoul(optarg, NULL, 10); break;
		case O_APP: o->app_cpu = atoi(optarg); break;
		case O_NIC: o->nic_cpu = atoi(optarg); break;
		case O_NOBUSY: o->busy_poll = false; break;
		case O_PACE: o->lttng_pace_ns = (unsigned)strtoul(optarg, NULL, 10); break;
		case O_NOLTTNG: o->no_lttng = true; break;
		case O_NOHR: o->no_hostrep = true; break;
		case O_NODT: o->no_difftrace = true; break;
		case O_NOSC: o->no_same_core = true; break;
		case O_NOOTEL: o->no_otel = true; break;
		case O_BINDIR: snprintf(o->bindir, sizeof(o->bindir), "%s", optarg); break;
		case O_HELP: usage(stdout); return 1;
		default: goto bad;
		}
	}
	o->warm = o->rounds / 20;
	if (o->rounds < 10 || o->batch < 1 || o->ring_slots < 64 || (o->ring_slots & (o->ring_slots - 1)))
		goto bad;
	for (unsigned k = 0; k < o->n_nthreads; k++)
		if ((uint64_t)o->batch * o->nthreads[k] > o->ring_slots / 2) {
			fprintf(stderr, "dft-bench-host: --batch x threads must be at most half of --ring-slots\n");
			return -EINVAL;
		}
	return 0;
bad:
	usage(stderr);
	return -EINVAL;
}

static void json_result(FILE *f, const char *name, const struct result *r, bool comma)
{
	fprintf(f, "%s\"%s\":", comma ? "," : "", name);
	if (!r->have) {
		fprintf(f, "null");
		return;
	}
	fprintf(f, "{\"ns_min\":%.3f,\"ns_median\":%.3f,\"ns_p99\":%.3f,\"spans_per_s_per_thread\":%.0f,"
		   "\"sustained_spans_per_s_per_thread\":%.0f,\"app_cpu_ns_per_span\":%.3f,"
		   "\"app_cpu_ns_per_span_with_pacing\":%.3f,\"spans\":%llu,\"dropped\":%llu,\"lost_downstream\":%llu}",
		r->d.min, r->d.median, r->d.p99, r->d.median > 0 ? 1e9 / r->d.median : 0, r->sustained_spans_per_s,
		r->app_cpu_ns_per_span, r->raw_cpu_ns_per_span, (unsigned long long)r->spans,
		(unsigned long long)r->drops, (unsigned long long)r->lost);
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

int main(int argc, char **argv)
{
	struct result dt[4] = {0}, hr[4] = {0}, lt[4] = {0}, sc[4] = {0}, ch = {0};
	struct dft_hostrep_stats hs = {0};
	struct dft_bench_lttng_info li = {0};
	int64_t nic[8] = {-1, -1, -1, -1, -1, -1, -1, -1}, nic_sc[8];
	struct opts o;
	int rc = parse(argc, argv, &o);
	const char *lttng_skip = NULL, *otel_skip = NULL;
	static struct otel_result ot;
	double tick_ns;

	if (rc)
		return rc > 0 ? 0 : 2;
	signal(SIGPIPE, SIG_IGN);
	tick_per_ns = dft_bench_tick_per_ns();
	tick_ns = tick_read_ns(tick_per_ns);
	if (!o.no_difftrace && (rc = bench_difftrace(&o, false, dt, &ch, nic))) {
		fprintf(stderr, "dft-bench-host: difftrace run failed: %s\n", strerror(-rc));
		return 1;
	}
	if (!o.no_difftrace && !o.no_same_core && (rc = bench_difftrace(&o, true, sc, NULL, nic_sc))) {
		fprintf(stderr, "dft-bench-host: difftrace same-core run failed: %s\n", strerror(-rc));
		return 1;
	}
	if (!o.no_hostrep && (rc = bench_hostrep(&o, hr, &hs))) {
		fprintf(stderr, "dft-bench-host: host-reporting run failed: %s\n", strerror(-rc));
		return 1;
	}
	if (o.no_lttng) {
		lttng_skip = "disabled by --no-lttng";
	} else {
		for (unsigned k = 0; k < o.n_nthreads && !lttng_skip; k++) {
			struct dft_bench_lttng_run lr = {0};

			if (dft_bench_lttng_measure(o.bindir, o.nthreads[k], o.rounds, o.warm, o.batch, o.lttng_pace_ns,
						    o.app_cpu, &lr, &li, &lttng_skip) == 0) {
				lt[k].have = true;
				lt[k].threads = o.nthreads[k];
				lt[k].d = lr.d;
				lt[k].spans = lr.spans;
				lt[k].lost = lr.lost_events;
				lt[k].enabled = lr.enabled;
				lt[k].raw_cpu_ns_per_span = (double)lr.proc_cpu_ns / (double)lr.spans;
				lt[k].app_cpu_ns_per_span = (double)(lr.proc_cpu_ns > lr.wait_cpu_ns ?
								     lr.proc_cpu_ns - lr.wait_cpu_ns : 0) / (double)lr.spans;
				lt[k].sustained_spans_per_s = lr.wall_ns ? (double)lr.spans / o.nthreads[k] * 1e9 /
									     (double)lr.wall_ns : 0;
			}
		}
	}

	if (o.no_otel)
		otel_skip = "disabled by --no-otel";
	else
		bench_otel(&o, &ot, &otel_skip);

	if (o.json) {
		FILE *f = stdout;

		fprintf(f, "{\"bench\":\"dft-bench-host\",\"cpus\":%d,\"tick_per_ns\":%.4f,\"kind\":\"%s\","
			   "\"rounds\":%u,\"batch\":%u,\"ring_slots\":%u,\"app_cpu\":%d,\"nic_cpu\":%d,\"nic_busy_poll\":%s",
			dft_bench_ncpus(), tick_per_ns, o.kind == DFT_COMPONENT_FUNCTION ? "function" : "platform",
			o.rounds, o.batch, o.ring_slots, o.app_cpu, o.nic_cpu, o.busy_poll ? "true" : "false");
		dft_bench_json_num(f, "tick_read_ns_median", tick_ns, true, true);
		dft_bench_json_num(f, "difftrace_ns_min", dt[0].d.min, dt[0].have, true);
		dft_bench_json_num(f, "difftrace_ns_median", dt[0].d.median, dt[0].have, true);
		dft_bench_json_num(f, "difftrace_ns_p99", dt[0].d.p99, dt[0].have, true);
		dft_bench_json_num(f, "difftrace_tick_ns_min", ch.d.min, ch.have, true);
		dft_bench_json_num(f, "difftrace_tick_ns_median", ch.d.median, ch.have, true);
		dft_bench_json_num(f, "difftrace_tick_ns_p99", ch.d.p99, ch.have, true);
		dft_bench_json_num(f, "difftrace_tick_app_cpu_ns_per_span", ch.app_cpu_ns_per_span, ch.have, true);
		dft_bench_json_num(f, "lttng_ns_min", lt[0].d.min, lt[0].have, true);
		dft_bench_json_num(f, "lttng_ns_median", lt[0].d.median, lt[0].have, true);
		dft_bench_json_num(f, "lttng_ns_p99", lt[0].d.p99, lt[0].have, true);
		dft_bench_json_num(f, "lttng_lost_events", (double)lt[0].lost, lt[0].have && li.lost_known, true);
		dft_bench_json_num(f, "host_reporting_ns_median", hr[0].d.median, hr[0].have, true);
		dft_bench_json_num(f, "host_reporting_app_cpu_ns_per_span", hr[0].app_cpu_ns_per_span, hr[0].have, true);
		dft_bench_json_num(f, "offloaded_app_cpu_ns_per_span", dt[0].app_cpu_ns_per_span, dt[0].have, true);
		dft_bench_json_num(f, "lttng_app_cpu_ns_per_span", lt[0].app_cpu_ns_per_span, lt[0].have, true);
		dft_bench_json_num(f, "difftrace_dropped", (double)dt[0].drops, dt[0].have, true);
		dft_bench_json_num(f, "difftrace_same_core_ns_min", sc[0].d.min, sc[0].have, true);
		dft_bench_json_num(f, "difftrace_same_core_ns_median", sc[0].d.median, sc[0].have, true);
		dft_bench_json_num(f, "difftrace_same_core_ns_p99", sc[0].d.p99, sc[0].have, true);
		dft_bench_json_num(f, "same_core_app_cpu_ns_per_span", sc[0].app_cpu_ns_per_span, sc[0].have, true);
		dft_bench_json_num(f, "lttng_vs_difftrace_median_ratio", ratio(lt[0].d.median, dt[0].d.median),
				   lt[0].have && dt[0].have, true);
		dft_bench_json_num(f, "host_reporting_vs_offloaded_cpu_ratio",
				   ratio(hr[0].app_cpu_ns_per_span, dt[0].app_cpu_ns_per_span), hr[0].have && dt[0].have,
				   true);
		dft_bench_json_num(f, "otel_go_ns_min", ot.ns_min, ot.have, true);
		dft_bench_json_num(f, "otel_go_ns_median", ot.ns_median, ot.have, true);
		dft_bench_json_num(f, "otel_go_ns_p99", ot.ns_p99, ot.have, true);
		dft_bench_json_num(f, "otel_go_app_cpu_ns_per_span", ot.app_cpu_ns_per_span, ot.have, true);
		dft_bench_json_num(f, "otel_go_vs_offloaded_cpu_ratio",
				   ratio(ot.app_cpu_ns_per_span, dt[0].app_cpu_ns_per_span), ot.have && dt[0].have, true);
		dft_bench_json_num(f, "otel_go_vs_difftrace_median_ratio", ratio(ot.ns_median, dt[0].d.median),
				   ot.have && dt[0].have, true);
		fprintf(f, ",\"otel_go\":%s", ot.have ? ot.json : "null");
		fprintf(f, ",\"otel_go_skipped\":");
		if (otel_skip)
			fprintf(f, "\"%s\"", otel_skip);
		else
			fprintf(f, "null");
		fprintf(f, ",\"lttng_skipped\":");
		if (lttng_skip)
			fprintf(f, "\"%s\"", lttng_skip);
		else
			fprintf(f, "null");
		fprintf(f, ",\"lttng_enabled\":%s", lt[0].have && lt[0].enabled ? "true" : "false");
		fprintf(f, ",\"per_threads\":[");
		for (unsigned k = 0; k < o.n_nthreads; k++) {
			fprintf(f, "%s{\"threads\":%u", k ? "," : "", o.nthreads[k]);
			json_result(f, "difftrace", &dt[k], true);
			json_result(f, "difftrace_same_core", &sc[k], true);
			json_result(f, "host_reporting", &hr[k], true);
			json_result(f, "lttng", &lt[k], true);
			fprintf(f, "}");
		}
		fprintf(f, "],\"nic\":{\"produced\":%lld,\"reported\":%lld,\"filtered\":%lld,\"lost_ring_full\":%lld,"
			   "\"lost_backlog_full\":%lld,\"lost_transport\":%lld,\"lost_invalid\":%lld,\"lost_hold_overflow\":%lld}",
			(long long)nic[0], (long long)nic[1], (long long)nic[2], (long long)nic[3], (long long)nic[4],
			(long long)nic[5], (long long)nic[6], (long long)nic[7]);
		fprintf(f, ",\"host_reporting_thread\":{\"consumed\":%llu,\"filtered\":%llu,\"batched\":%llu,"
			   "\"reported\":%llu,\"lost_backlog_full\":%llu,\"invalid\":%llu,\"batches\":%llu,\"cpu_ns\":%llu}",
			(unsigned long long)hs.consumed, (unsigned long long)hs.filtered, (unsigned long long)hs.batched,
			(unsigned long long)hs.reported, (unsigned long long)hs.lost_backlog_full,
			(unsigned long long)hs.invalid, (unsigned long long)hs.batches,
			(unsigned long long)hs.thread_cpu_ns);
		fprintf(f, ",\"goals\":{\"difftrace_median_le_25ns\":%s,\"lttng_ge_4x\":%s,\"cpu_ge_50x\":%s}}\n",
			dt[0].have && dt[0].d.median <= 25 ? "true" : "false",
			ratio(lt[0].d.median, dt[0].d.median) >= 4 ? "true" : "false",
			ratio(hr[0].app_cpu_ns_per_span, dt[0].app_cpu_ns_per_span) >= 50 ? "true" : "false");
		return 0;
	}
	printf("dft-bench-host: %u rounds x %u spans, kind %s, app cpu %d, nic cpu %d%s\n", o.rounds, o.batch,
	       o.kind == DFT_COMPONENT_FUNCTION ? "function" : "platform", o.app_cpu, o.nic_cpu,
	       o.busy_poll ? " (busy-poll)" : "");
	printf("%-16s %3s %9s %9s %9s %12s %12s %10s %10s\n", "system", "thr", "min ns", "median ns", "p99 ns",
	       "spans/s/thr", "app cpu ns", "dropped", "lost");
	for (unsigned k = 0; k < o.n_nthreads; k++) {
		const struct result *rs[4] = {&dt[k], &sc[k], &lt[k], &hr[k]};
		static const char *names[4] = {"difftrace", "dt-same-core", "lttng-ust", "host-reporting"};

		for (int s = 0; s < 4; s++) {
			const struct result *r = rs[s];

			if (!r->have) {
				printf("%-16s %3u %9s\n", names[s], o.nthreads[k], "skipped");
				continue;
			}
			printf("%-16s %3u %9.1f %9.1f %9.1f %12.0f %12.1f %10llu %10llu\n", names[s], r->threads, r->d.min,
			       r->d.median, r->d.p99, r->d.median > 0 ? 1e9 / r->d.median : 0, r->app_cpu_ns_per_span,
			       (unsigned long long)r->drops, (unsigned long long)r->lost);
		}
	}
	if (ch.have)
		printf("%-16s %3u %9.1f %9.1f %9.1f %12.0f %12.1f %10llu %10llu\n", "difftrace-tick", 1u, ch.d.min,
		       ch.d.median, ch.d.p99, ch.d.median > 0 ? 1e9 / ch.d.median : 0, ch.app_cpu_ns_per_span,
		       (unsigned long long)ch.drops, (unsigned long long)ch.lost);
	if (ot.have)
		printf("%-16s %3u %9.1f %9.1f %9.1f %12.0f %12.1f\n", "otel-go-sdk", 1u, ot.ns_min, ot.ns_median, ot.ns_p99,
		       ot.ns_median > 0 ? 1e9 / ot.ns_median : 0, ot.app_cpu_ns_per_span);
	else
		printf("otel-go-sdk skipped: %s\n", otel_skip);
	if (lttng_skip)
		printf("lttng-ust skipped: %s\n", lttng_skip);
	printf("one tick-counter read: %.1f ns (a span takes two)\n", tick_ns);
	if (dt[0].have && lt[0].have)
		printf("lttng / difftrace median: %.1fx\n", ratio(lt[0].d.median, dt[0].d.median));
	if (dt[0].have && hr[0].have)
		printf("host-reporting / offloaded app cpu per span: %.1fx\n",
		       ratio(hr[0].app_cpu_ns_per_span, dt[0].app_cpu_ns_per_span));
	if (dt[0].have && ot.have)
		printf("otel-go-sdk / offloaded app cpu per span: %.1fx\n",
		       ratio(ot.app_cpu_ns_per_span, dt[0].app_cpu_ns_per_span));
	return 0;
}
