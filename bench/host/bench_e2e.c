/* SPDX-License-Identifier: MIT */
/*
 * dft-bench-e2e: a traced "app" under a fixed offered load. Each request does a fixed amount of
 * computation (--work-ns, calibrated once) and emits --spans spans the way a request crossing a
 * serverless platform does: a chain of platform spans (ingress, activator, queue-proxy, ...) and the
 * user function's span innermost. Requests arrive on a fixed schedule (open loop: latency is measured
 * from the scheduled arrival, so a request delayed by the one before it counts that wait).
 *
 * Modes: off (no tracing calls), difftrace (NIC half offloaded to difftrace-nic on its own core),
 * host_reporting (the same pipeline in a background thread of this process, sharing the app's core:
 * without a DPU that core is all the host has). For each: p50/p99/max latency at --rate.
 * Then a sweep of offered loads (x --sweep-factor) for difftrace and host_reporting that reports,
 * per step, the spans lost (ring full, and downstream: backlog, transport, hold overflow) and
 * whether the app kept up; the first step with loss is "the load at which loss starts".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "difftrace/difftrace.h"
#include "dft/clock.h"
#include "hostrep.h"

#define NCOMP 9 /* platform hops before the function */
#define MAX_SPANS 32

enum mode { M_OFF, M_DIFFTRACE, M_HOSTREP };
static const char *mode_name[] = {"off", "difftrace", "host_reporting"};

struct opts {
	bool json, sweep, busy_poll;
	double rate, duration, sweep_start, sweep_factor, sweep_max, sweep_duration;
	unsigned work_ns, spans, ring_slots;
	int app_cpu, nic_cpu;
	char bindir[PATH_MAX];
};

#define CDF_POINTS 1000 /* latency at fractions 1/1000 .. 1000/1000 of the requests (--cdf-csv) */

struct latency {
	bool have;
	double rate;
	uint64_t requests;
	double p50_us, p99_us, max_us;
	double service_p50_us, service_p99_us; /* the request's own time, queueing left out */
	bool kept_up;       /* the last request finished within 20 ms of its schedule (no growing backlog) */
	uint64_t spans, dropped, lost_downstream;
	double cdf_ns[CDF_POINTS];
};

static double tick_per_ns;
static uint64_t work_iters;
static volatile uint64_t work_sink;
static uint16_t comp_id[NCOMP + 1], op_id[NCOMP + 1], key_status;

static const char *comp_names[NCOMP + 1] = {"ingress", "activator", "queue-proxy", "scheduler", "lb",
					    "sidecar-in", "autoscaler", "router", "envoy", "fn-handler"};

static inline void work(uint64_t iters)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (uint64_t i = 0; i < iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	work_sink = x;
}

static void calibrate_work(unsigned work_ns)
{
	uint64_t iters = 100000, t0 = dft_bench_now_ns(), dt;

	work(iters);
	dt = dft_bench_now_ns() - t0;
	t0 = dft_bench_now_ns();
	work(iters);
	dt = dft_bench_now_ns() - t0 < dt ? dft_bench_now_ns() - t0 : dt;
	work_iters = dt ? iters * work_ns / dt : 1;
	if (!work_iters)
		work_iters = 1;
}

/* One request: nested spans, the function's span innermost around the work. */
static inline void request(bool traced, unsigned nspans)
{
	struct dft_span sp[MAX_SPANS];
	struct dft_ctx ctx;
	unsigned nplat = nspans ? nspans - 1 : 0;

	if (!traced) {
		work(work_iters);
		return;
	}
	for (unsigned j = 0; j < nplat; j++) {
		dft_span_begin(&sp[j], op_id[j % NCOMP], j ? &ctx : NULL);
		dft_span_set_component(&sp[j], comp_id[j % NCOMP], DFT_COMPONENT_PLATFORM);
		dft_span_context(&sp[j], &ctx);
	}
	dft_span_begin(&sp[nplat], op_id[NCOMP], nplat ? &ctx : NULL);
	dft_span_set_component(&sp[nplat], comp_id[NCOMP], DFT_COMPONENT_FUNCTION);
	work(work_iters);
	dft_span_set_attr(&sp[nplat], key_status, 200);
	dft_span_end(&sp[nplat]);
	for (unsigned j = nplat; j-- > 0;) {
		dft_span_set_attr(&sp[j], key_status, 200);
		dft_span_end(&sp[j]);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Open loop at rate for duration; latencies in ticks from the scheduled arrival. */
static int run_load(bool traced, unsigned nspans, double rate, double duration, struct latency *out)
{
	uint64_t n = (uint64_t)(rate * duration), *lat, *svc, t0;
	double interval = tick_per_ns * 1e9 / rate;
	uint64_t yield_ticks = (uint64_t)(tick_per_ns * 5000);

	memset(out, 0, sizeof(*out));
	if (n < 10)
		n = 10;
	lat = malloc(n * sizeof(*lat));
	svc = malloc(n * sizeof(*svc));
	if (!lat || !svc) {
		free(lat);
		free(svc);
		return -ENOMEM;
	}
	t0 = dft_ticks() + (uint64_t)(tick_per_ns * 1e6); /* start 1 ms from now */
	for (uint64_t k = 0; k < n; k++) {
		uint64_t due = t0 + (uint64_t)((double)k * interval), now;

		/* an idle server blocks; yielding while waiting lets a reporting thread sharing this CPU
		 * run in the idle time, as it would, instead of only when the scheduler preempts us */
		while ((now = dft_ticks()) < due) {
			if (due - now > yield_ticks)
				sched_yield();
			else
				__builtin_ia32_pause();
		}
		now = dft_ticks();
		request(traced, nspans);
		lat[k] = dft_ticks();
		svc[k] = lat[k] - now;
		lat[k] -= due;
	}
	out->kept_up = (double)lat[n - 1] / tick_per_ns < 20e6;
	qsort(lat, n, sizeof(*lat), cmp_u64);
	qsort(svc, n, sizeof(*svc), cmp_u64);
	out->service_p50_us = (double)svc[n / 2] / tick_per_ns / 1000;
	out->service_p99_us = (double)svc[(n * 99) / 100] / tick_per_ns / 1000;
	out->have = true;
	out->rate = rate;
	out->requests = n;
	out->p50_us = (double)lat[n / 2] / tick_per_ns / 1000;
	out->p99_us = (double)lat[(n * 99) / 100] / tick_per_ns / 1000;
	out->max_us = (double)lat[n - 1] / tick_per_ns / 1000;
	for (unsigned i = 0; i < CDF_POINTS; i++) {
		/* the smallest latency at or above which fraction (i + 1) / CDF_POINTS of requests lie */
		uint64_t idx = ((uint64_t)(i + 1) * n + CDF_POINTS - 1) / CDF_POINTS;

		out->cdf_ns[i] = (double)lat[idx ? idx - 1 : 0] / tick_per_ns;
	}
	out->spans = traced ? n * nspans : 0;
	free(lat);
	free(svc);
	return 0;
}

static int lib_init(const char *socket, unsigned ring_slots)
{
	struct dft_options lo = {.size = sizeof(lo), .socket_path = socket, .ring_slots = ring_slots};
	struct dft_host_stats st;
	int rc = dft_init("e2e-app", DFT_COMPONENT_PLATFORM, &lo);

	if (rc)
		return rc;
	for (int i = 0; i < 1000; i++) {
		if (dft_stats(&st) == 0 && st.registered)
			goto names;
		dft_bench_sleep_us(10000);
	}
	dft_fini(0);
	return -ETIMEDOUT;
names:
	for (int j = 0; j <= NCOMP; j++) {
		char op[64];

		snprintf(op, sizeof(op), "%s.serve", comp_names[j]);
		comp_id[j] = dft_name(comp_names[j]);
		op_id[j] = dft_name(op);
	}
	key_status = dft_name("http.status");
	return 0;
}

static uint64_t host_drops(void)
{
	struct dft_host_stats st;

	if (dft_stats(&st))
		return 0;
	return st.dropped_full + st.dropped_no_ring;
}

static const char *const nic_loss_keys[] = {"lost_backlog_full", "lost_transport", "lost_hold_overflow",
					    "lost_invalid", "produced"};

static uint64_t nic_downstream_loss(const struct dft_bench_daemons *d, uint64_t *produced)
{
	int64_t v[5];
	uint64_t sum = 0;

	dft_bench_nic_counters(d, nic_loss_keys, v, 5);
	for (int i = 0; i < 4; i++)
		sum += v[i] > 0 ? (uint64_t)v[i] : 0;
	if (produced)
		*produced = v[4] > 0 ? (uint64_t)v[4] : 0;
	return sum;
}

/* Wait until the consumer has every span (ring empty and, for the NIC, counted as produced). */
static void settle(enum mode m, const struct dft_bench_daemons *d, struct dft_hostrep *h)
{
	struct dft_host_stats st;

	for (int i = 0; i < 3000; i++) {
		bool ok = dft_stats(&st) == 0 && st.pending == 0;

		if (ok && m == M_DIFFTRACE) {
			uint64_t produced;

			nic_downstream_loss(d, &produced);
			ok = produced >= st.produced;
		}
		if (ok && m == M_HOSTREP)
			ok = dft_hostrep_idle(h);
		if (ok)
			return;
		dft_bench_sleep_us(1000);
	}
}

/* One measured run in a traced mode, with the loss it caused. */
static int traced_run(const struct opts *o, enum mode m, const struct dft_bench_daemons *d, struct dft_hostrep *h,
		      double rate, double duration, struct latency *out)
{
	uint64_t drop0 = host_drops(), down0 = 0, down1 = 0;
	struct dft_hostrep_stats hs;
	int rc;

	if (m == M_DIFFTRACE)
		down0 = nic_downstream_loss(d, NULL);
	else {
		dft_hostrep_stats(h, &hs);
		down0 = hs.lost_backlog_full + hs.invalid;
	}
	rc = run_load(true, o->spans, rate, duration, out);
	if (rc)
		return rc;
	settle(m, d, h);
	out->dropped = host_drops() - drop0;
	if (m == M_DIFFTRACE) {
		down1 = nic_downstream_loss(d, NULL);
	} else {
		dft_hostrep_stats(h, &hs);
		down1 = hs.lost_backlog_full + hs.invalid;
	}
	out->lost_downstream = down1 - down0;
	return 0;
}

struct sweep {
	unsigned n;
	struct latency step[64];
	double loss_starts_at; /* req/s; 0 = no loss up to the last step */
	double app_saturates_at;
};

static int mode_run(const struct opts *o, enum mode m, struct latency *fixed, struct sweep *sw)
{
	struct dft_bench_daemon_opts dop = {.bindir = o->bindir, .nic_cpu = o->nic_cpu, .busy_poll = o->busy_poll,
					    .hold = true, .with_nic = m == M_DIFFTRACE, .keep_off_cpu = o->app_cpu};
	struct dft_hostrep_opts ho = {0};
	struct dft_hostrep *h = NULL;
	struct dft_bench_daemons d;
	int rc = dft_bench_daemons_start(&d, &dop);

	if (rc)
		return rc;
	if (m == M_HOSTREP) {
		ho.socket_path = d.socket;
		ho.collector_port = d.port;
		ho.cpu = o->app_cpu;
		rc = dft_hostrep_start(&ho, &h);
		if (rc)
			goto out;
	}
	rc = lib_init(d.socket, o->ring_slots);
	if (rc)
		goto out;
	/* warm-up: the profiler's thresholds and the collector's tables */
	run_load(true, o->spans, o->rate, 0.2, fixed);
	settle(m, &d, h);
	rc = traced_run(o, m, &d, h, o->rate, o->duration, fixed);
	if (rc || !o->sweep)
		goto fini;
	for (double r = o->sweep_start; r <= o->sweep_max && sw->n < 64; r *= o->sweep_factor) {
		struct latency *s = &sw->step[sw->n++];

		rc = traced_run(o, m, &d, h, r, o->sweep_duration, s);
		if (rc)
			break;
		if (!sw->loss_starts_at && s->dropped + s->lost_downstream)
			sw->loss_starts_at = r;
		if (!sw->app_saturates_at && !s->kept_up)
			sw->app_saturates_at = r;
		if (sw->loss_starts_at && sw->app_saturates_at)
			break;
	}
fini:
	dft_fini(5000);
out:
	dft_hostrep_stop(h);
	dft_bench_daemons_cleanup(&d);
	return rc;
}

static void json_lat(FILE *f, const struct latency *l)
{
	if (!l->have) {
		fprintf(f, "null");
		return;
	}
	fprintf(f, "{\"rate\":%.0f,\"requests\":%llu,\"p50_us\":%.3f,\"p99_us\":%.3f,\"max_us\":%.3f,"
		   "\"service_p50_us\":%.3f,\"service_p99_us\":%.3f,\"kept_up\":%s,"
		   "\"spans\":%llu,\"dropped\":%llu,\"lost_downstream\":%llu}",
		l->rate, (unsigned long long)l->requests, l->p50_us, l->p99_us, l->max_us, l->service_p50_us,
		l->service_p99_us, l->kept_up ? "true" : "false",
		(unsigned long long)l->spans, (unsigned long long)l->dropped, (unsigned long long)l->lost_downstream);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dft-bench-e2e [--json] [--rate REQ/S] [--duration S] [--work-ns N] [--spans N]\n"
		   "                     [--no-sweep] [--sweep-start REQ/S] [--sweep-factor F] [--sweep-max REQ/S]\n"
		   "                     [--sweep-duration S] [--ring-slots N] [--app-cpu N] [--nic-cpu N] [--no-busy-poll]\n"
		   "                     [--bindir DIR] [--cdf-csv FILE]\n"
		   "  --cdf-csv FILE   write the latency CDF at --rate of every mode (system,latency_ns,fraction)\n"
		   "defaults: --rate 20000 --duration 2 --work-ns 3000 --spans 10 --sweep-start 20000\n"
		   "          --sweep-factor 1.5 --sweep-max 2000000 --sweep-duration 0.5 --ring-slots 4096\n");
}

int main(int argc, char **argv)
{
	enum { O_RATE = 256, O_DUR, O_WORK, O_SPANS, O_NOSWEEP, O_SSTART, O_SFACT, O_SMAX, O_SDUR, O_APP, O_NIC,
	       O_BINDIR, O_RING, O_NOBUSY, O_JSON, O_HELP, O_CDF };
	static const struct option lo[] = {
		{"json", no_argument, NULL, O_JSON}, {"rate", required_argument, NULL, O_RATE},
		{"duration", required_argument, NULL, O_DUR}, {"work-ns", required_argument, NULL, O_WORK},
		{"spans", required_argument, NULL, O_SPANS}, {"no-sweep", no_argument, NULL, O_NOSWEEP},
		{"sweep-start", required_argument, NULL, O_SSTART}, {"sweep-factor", required_argument, NULL, O_SFACT},
		{"sweep-max", required_argument, NULL, O_SMAX}, {"sweep-duration", required_argument, NULL, O_SDUR},
		{"app-cpu", required_argument, NULL, O_APP}, {"nic-cpu", required_argument, NULL, O_NIC},
		{"bindir", required_argument, NULL, O_BINDIR}, {"help", no_argument, NULL, O_HELP},
		{"ring-slots", required_argument, NULL, O_RING}, {"no-busy-poll", no_argument, NULL, O_NOBUSY},
		{"cdf-csv", required_argument, NULL, O_CDF},
		{NULL, 0, NULL, 0}};
	struct opts o = {.sweep = true, .busy_poll = true, .rate = 20000, .duration = 2, .sweep_start = 20000, .sweep_factor = 1.5,
			 .sweep_max = 2000000, .sweep_duration = 0.5, .work_ns = 3000, .spans = 10, .ring_slots = 4096,
			 .app_cpu = 0};
	struct latency fixed[3] = {0};
	static struct sweep sw[3];
	const char *cdf_path = NULL;
	int c, rc;

	o.nic_cpu = dft_bench_ncpus() - 1;
	if (dft_bench_exe_dir(o.bindir, sizeof(o.bindir)))
		snprintf(o.bindir, sizeof(o.bindir), ".");
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_JSON: o.json = true; break;
		case O_RATE: o.rate = atof(optarg); break;
		case O_DUR: o.duration = atof(optarg); break;
		case O_WORK: o.work_ns = (unsigned)strtoul(optarg, NULL, 10); break;
		case O_SPANS: o.spans = (unsigned)strtoul(optarg, NULL, 10); break;
		case O_NOSWEEP: o.sweep = false; break;
		case O_SSTART: o.sweep_start = atof(optarg); break;
		case O_SFACT: o.sweep_factor = atof(optarg); break;
		case O_SMAX: o.sweep_max = atof(optarg); break;
		case O_SDUR: o.sweep_duration = atof(optarg); break;
		case O_APP: o.app_cpu = atoi(optarg); break;
		case O_NIC: o.nic_cpu = atoi(optarg); break;
		case O_BINDIR: snprintf(o.bindir, sizeof(o.bindir), "%s", optarg); break;
		case O_RING: o.ring_slots = (unsigned)strtoul(optarg, NULL, 10); break;
		case O_NOBUSY: o.busy_poll = false; break;
		case O_CDF: cdf_path = optarg; break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (o.rate <= 0 || o.duration <= 0 || o.spans < 1 || o.spans > MAX_SPANS || o.sweep_factor <= 1 ||
	    o.sweep_start <= 0 || o.sweep_duration <= 0 || o.ring_slots < 64 || (o.ring_slots & (o.ring_slots - 1))) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	dft_bench_pin(o.app_cpu);
	tick_per_ns = dft_bench_tick_per_ns();
	calibrate_work(o.work_ns);
	run_load(false, 0, o.rate, 0.2, &fixed[M_OFF]);
	run_load(false, 0, o.rate, o.duration, &fixed[M_OFF]);
	for (int m = M_DIFFTRACE; m <= M_HOSTREP; m++) {
		rc = mode_run(&o, (enum mode)m, &fixed[m], &sw[m]);
		if (rc) {
			fprintf(stderr, "dft-bench-e2e: %s run failed: %s\n", mode_name[m], strerror(-rc));
			return 1;
		}
	}
	if (cdf_path) {
		FILE *f = fopen(cdf_path, "w");

		if (!f) {
			fprintf(stderr, "dft-bench-e2e: %s: %s\n", cdf_path, strerror(errno));
			return 1;
		}
		fprintf(f, "system,latency_ns,fraction\n");
		for (int m = 0; m < 3; m++)
			for (unsigned i = 0; fixed[m].have && i < CDF_POINTS; i++)
				fprintf(f, "%s,%.0f,%.4f\n", mode_name[m], fixed[m].cdf_ns[i], (double)(i + 1) / CDF_POINTS);
		if (fclose(f)) {
			fprintf(stderr, "dft-bench-e2e: %s: %s\n", cdf_path, strerror(errno));
			return 1;
		}
	}
	if (o.json) {
		printf("{\"bench\":\"dft-bench-e2e\",\"cpus\":%d,\"rate\":%.0f,\"duration_s\":%.3f,\"work_ns\":%u,"
		       "\"spans_per_request\":%u,\"ring_slots\":%u,\"app_cpu\":%d,\"nic_cpu\":%d,\"nic_busy_poll\":%s",
		       dft_bench_ncpus(), o.rate, o.duration, o.work_ns, o.spans, o.ring_slots, o.app_cpu, o.nic_cpu,
		       o.busy_poll ? "true" : "false");
		for (int m = 0; m < 3; m++) {
			printf(",\"%s\":", mode_name[m]);
			json_lat(stdout, &fixed[m]);
		}
		for (int m = M_DIFFTRACE; m <= M_HOSTREP; m++) {
			printf(",\"%s_loss_starts_at\":", mode_name[m]);
			if (o.sweep && sw[m].loss_starts_at)
				printf("%.0f", sw[m].loss_starts_at);
			else
				printf("null");
			printf(",\"%s_app_saturates_at\":", mode_name[m]);
			if (o.sweep && sw[m].app_saturates_at)
				printf("%.0f", sw[m].app_saturates_at);
			else
				printf("null");
			printf(",\"%s_sweep\":[", mode_name[m]);
			for (unsigned k = 0; k < sw[m].n; k++) {
				if (k)
					printf(",");
				json_lat(stdout, &sw[m].step[k]);
			}
			printf("]");
		}
		printf("}\n");
		return 0;
	}
	printf("dft-bench-e2e: %.0f req/s for %.1f s, %u ns of work and %u spans per request\n", o.rate, o.duration,
	       o.work_ns, o.spans);
	printf("%-16s %10s %10s %10s %10s %10s %10s %10s\n", "mode", "p50 us", "p99 us", "max us", "svc p50",
	       "svc p99", "dropped", "lost");
	for (int m = 0; m < 3; m++)
		printf("%-16s %10.2f %10.2f %10.2f %10.2f %10.2f %10llu %10llu\n", mode_name[m], fixed[m].p50_us,
		       fixed[m].p99_us, fixed[m].max_us, fixed[m].service_p50_us, fixed[m].service_p99_us,
		       (unsigned long long)fixed[m].dropped, (unsigned long long)fixed[m].lost_downstream);
	if (!o.sweep)
		return 0;
	for (int m = M_DIFFTRACE; m <= M_HOSTREP; m++) {
		printf("sweep %s:\n  %10s %10s %10s %10s %10s %8s\n", mode_name[m], "req/s", "p50 us", "p99 us",
		       "dropped", "lost", "kept up");
		for (unsigned k = 0; k < sw[m].n; k++) {
			const struct latency *s = &sw[m].step[k];

			printf("  %10.0f %10.2f %10.2f %10llu %10llu %8s\n", s->rate, s->p50_us, s->p99_us,
			       (unsigned long long)s->dropped, (unsigned long long)s->lost_downstream,
			       s->kept_up ? "yes" : "no");
		}
		if (sw[m].loss_starts_at)
			printf("  loss starts at %.0f req/s\n", sw[m].loss_starts_at);
		else
			printf("  no loss up to the last step\n");
		if (sw[m].app_saturates_at)
			printf("  the app itself saturates at %.0f req/s\n", sw[m].app_saturates_at);
	}
	return 0;
}
