/* SPDX-License-Identifier: MIT */
/*
 * difftrace-gen: Knative-like serverless workload driving libdifftrace as a deployment would, with
 * injected anomalies and a ground-truth file. See --help.
 *
 * Reproducibility: every draw comes from the seed, split into streams per thread and purpose, and
 * every timestamp is the run's anchor (wall time at start) plus a simulated offset. Two runs with the
 * same seed and the same --threads, --rate, --requests/--seconds, rates, model and options write the
 * same truth file line for line except that (1) every timestamp is shifted by one constant (the
 * anchor) and (2) trace and span ids differ, because the library draws them as in a deployment;
 * with --seeded-ids the ids are drawn from the seed too (dft_span_set_ids) and only (1) remains.
 * Wall-clock pacing never feeds back into the model, so a slow machine changes when spans are
 * written, not what they say. Not reproducible: a run cut short by SIGINT, and anything the library
 * or the daemon counts (drops depend on the daemon's speed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <difftrace/difftrace.h>

#include "dft/parse.h"
#include "gen_alibaba.h"
#include "gen_run.h"

static void dft_gen_usage(FILE *f)
{
	fprintf(f, "usage: difftrace-gen [options]\n"
	           "  --rate R            requests per second, all threads (200)\n"
	           "  --seconds S         run time in wall seconds (10)\n"
	           "  --requests N        exactly N requests (instead of rate x seconds)\n"
	           "  --threads T         worker threads, one platform shard each (2)\n"
	           "  --workflows N       workflow shapes used: chain-3, fan-out/fan-in, single, then random (3)\n"
	           "  --seed N            seed of every draw (1)\n"
	           "  --error-rate P      per request: a function exception or a platform error (0.01)\n"
	           "  --queue-rate P      per request: a queueing burst at a platform component (0.015)\n"
	           "  --cold-rate P       per request: a scale-from-zero cold start (0.005)\n"
	           "  --contention-rate P per request: a CPU contention window opens on a component (0.002)\n"
	           "  --outlier-rate P    per request: one span far beyond its distribution (0.015)\n"
	           "  --contention-ms MS  length of a contention window (100)\n"
	           "  --concurrency N     queue-proxy container concurrency, 0 unlimited (100)\n"
	           "  --idle-ms MS        idle time before a function scales to zero (60000)\n"
	           "  --truth FILE        ground truth, one JSON line per span\n"
	           "  --seeded-ids        trace and span ids from the seed too (dft_span_set_ids)\n"
	           "  --no-pace           do not sleep between requests (timestamps run ahead of wall time)\n"
	           "  --from-alibaba CSV  learn the topology from an Alibaba 2021 CallGraph CSV\n"
	           "  --strict            the first malformed CSV row is an error\n"
	           "  --component NAME    the process's component for dft_init (difftrace-gen)\n"
	           "  --ring-slots N      slots per ring (library default)\n"
	           "  --fini-ms MS        dft_fini drain timeout (5000)\n"
	           "  --help\n"
	           "Connects to difftrace-nic at $DFT_SOCKET. Prints one JSON summary line on stdout.\n"
	           "Same seed and options: the same truth file but for ids and one shift of every timestamp\n"
	           "(with --seeded-ids: but for the timestamp shift).\n");
}

static int dft_gen_u64_opt(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
	if (dft_parse_u64(s, 0, max, out)) {
		fprintf(stderr, "difftrace-gen: %s: bad value '%s' (an integer 0..%" PRIu64 ")\n", opt, s, max);
		return -EINVAL;
	}
	return 0;
}

static int dft_gen_double_opt(const char *opt, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || end == s || !(v >= lo && v <= hi)) {
		fprintf(stderr, "difftrace-gen: %s: bad value '%s' (a number %g..%g)\n", opt, s, lo, hi);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static void dft_gen_on_signal(int sig)
{
	(void)sig;
	dft_gen_stop();
}

static int dft_gen_load_alibaba(const char *path, int strict, struct dft_gen_ali_model *a, struct dft_gen_model *m)
{
	struct dft_gen_csv csv;
	FILE *f = fopen(path, "r");
	int rc;

	if (!f) {
		rc = -errno;
		fprintf(stderr, "difftrace-gen: --from-alibaba: %s: %s\n", path, strerror(-rc));
		return rc;
	}
	rc = dft_gen_csv_open(&csv, f, path, strict);
	if (!rc)
		rc = dft_gen_ali_learn(&csv, a);
	if (rc) {
		fprintf(stderr, "difftrace-gen: --from-alibaba: %s\n", csv.err[0] ? csv.err : strerror(-rc));
		goto close_file;
	}
	fprintf(stderr,
	        "difftrace-gen: %s: %" PRIu64 " rows, %" PRIu64 " malformed skipped, %" PRIu64 " rpcs, %" PRIu64
	        " traces, %u services, %u call edges\n",
	        path, csv.rows, csv.malformed, a->rpcs, a->traces, a->n_svc, a->n_edge);
	rc = dft_gen_ali_to_model(a, m);
	if (rc) {
		fprintf(stderr, "difftrace-gen: --from-alibaba: %s: %s\n", path,
		        rc == -ENOENT ? "no root invocation to start requests from" : strerror(-rc));
		dft_gen_ali_free(a);
	}
close_file:
	fclose(f);
	return rc;
}

int main(int argc, char **argv)
{
	enum {
		O_RATE = 256,
		O_SECONDS,
		O_REQUESTS,
		O_THREADS,
		O_WORKFLOWS,
		O_SEED,
		O_ERR,
		O_QUEUE,
		O_COLD,
		O_CONT,
		O_OUTL,
		O_CONT_MS,
		O_CONC,
		O_IDLE,
		O_TRUTH,
		O_SEEDED,
		O_NOPACE,
		O_ALI,
		O_STRICT,
		O_COMP,
		O_SLOTS,
		O_FINI,
		O_HELP
	};
	static const struct option opts[] = {
	    {"rate", 1, 0, O_RATE},           {"seconds", 1, 0, O_SECONDS},
	    {"requests", 1, 0, O_REQUESTS},   {"threads", 1, 0, O_THREADS},
	    {"workflows", 1, 0, O_WORKFLOWS}, {"seed", 1, 0, O_SEED},
	    {"error-rate", 1, 0, O_ERR},      {"queue-rate", 1, 0, O_QUEUE},
	    {"cold-rate", 1, 0, O_COLD},      {"contention-rate", 1, 0, O_CONT},
	    {"outlier-rate", 1, 0, O_OUTL},   {"contention-ms", 1, 0, O_CONT_MS},
	    {"concurrency", 1, 0, O_CONC},    {"idle-ms", 1, 0, O_IDLE},
	    {"truth", 1, 0, O_TRUTH},         {"seeded-ids", 0, 0, O_SEEDED},
	    {"no-pace", 0, 0, O_NOPACE},      {"from-alibaba", 1, 0, O_ALI},
	    {"strict", 0, 0, O_STRICT},       {"component", 1, 0, O_COMP},
	    {"ring-slots", 1, 0, O_SLOTS},    {"fini-ms", 1, 0, O_FINI},
	    {"help", 0, 0, O_HELP},           {0, 0, 0, 0},
	};
	struct dft_options o = {.size = sizeof(o)};
	struct dft_gen_config cfg;
	struct dft_gen_model model;
	struct dft_gen_ali_model ali;
	struct dft_gen_counts res;
	struct dft_host_stats st = {0};
	const char *component = "difftrace-gen", *alibaba = NULL;
	uint64_t v, fini_ms = 5000;
	int c, rc, frc, strict = 0, bad = 0;

	dft_gen_config_defaults(&cfg);
	memset(&ali, 0, sizeof(ali));
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_RATE:
			bad |= dft_gen_double_opt("--rate", optarg, 1e-3, 1e7, &cfg.rate);
			break;
		case O_SECONDS:
			bad |= dft_gen_double_opt("--seconds", optarg, 1e-3, 1e7, &cfg.seconds);
			break;
		case O_REQUESTS:
			bad |= dft_gen_u64_opt("--requests", optarg, 1ull << 40, &cfg.requests);
			break;
		case O_THREADS:
			bad |= dft_gen_u64_opt("--threads", optarg, 64, &v);
			if (!bad && v == 0) {
				fprintf(stderr, "difftrace-gen: --threads: must be at least 1\n");
				bad = 1;
			}
			cfg.threads = (unsigned)v;
			break;
		case O_WORKFLOWS:
			bad |= dft_gen_u64_opt("--workflows", optarg, 1000, &v);
			if (!bad && v == 0) {
				fprintf(stderr, "difftrace-gen: --workflows: must be at least 1\n");
				bad = 1;
			}
			cfg.workflows = (unsigned)v;
			break;
		case O_SEED:
			bad |= dft_gen_u64_opt("--seed", optarg, UINT64_MAX, &cfg.seed);
			break;
		case O_ERR:
			bad |= dft_gen_double_opt("--error-rate", optarg, 0, 1, &cfg.rates.error);
			break;
		case O_QUEUE:
			bad |= dft_gen_double_opt("--queue-rate", optarg, 0, 1, &cfg.rates.queueing);
			break;
		case O_COLD:
			bad |= dft_gen_double_opt("--cold-rate", optarg, 0, 1, &cfg.rates.cold);
			break;
		case O_CONT:
			bad |= dft_gen_double_opt("--contention-rate", optarg, 0, 1, &cfg.rates.contention);
			break;
		case O_OUTL:
			bad |= dft_gen_double_opt("--outlier-rate", optarg, 0, 1, &cfg.rates.outlier);
			break;
		case O_CONT_MS:
			bad |= dft_gen_u64_opt("--contention-ms", optarg, 3600000, &v);
			cfg.contention_ms = (uint32_t)v;
			break;
		case O_CONC:
			bad |= dft_gen_u64_opt("--concurrency", optarg, 100000, &v);
			cfg.concurrency = (uint32_t)v;
			break;
		case O_IDLE:
			bad |= dft_gen_u64_opt("--idle-ms", optarg, 86400000, &v);
			cfg.idle_ms = (uint32_t)v;
			break;
		case O_TRUTH:
			cfg.truth_path = optarg;
			break;
		case O_SEEDED:
			cfg.seeded_ids = 1;
			break;
		case O_NOPACE:
			cfg.pace = 0;
			break;
		case O_ALI:
			alibaba = optarg;
			break;
		case O_STRICT:
			strict = 1;
			break;
		case O_COMP:
			component = optarg;
			break;
		case O_SLOTS:
			bad |= dft_gen_u64_opt("--ring-slots", optarg, 1u << 24, &v);
			o.ring_slots = (uint32_t)v;
			break;
		case O_FINI:
			bad |= dft_gen_u64_opt("--fini-ms", optarg, 3600000, &fini_ms);
			break;
		case O_HELP:
			dft_gen_usage(stdout);
			return 0;
		default:
			dft_gen_usage(stderr);
			return 2;
		}
		if (bad)
			return 2;
	}
	if (optind != argc) {
		fprintf(stderr, "difftrace-gen: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (alibaba) {
		rc = dft_gen_load_alibaba(alibaba, strict, &ali, &model);
		if (rc)
			return rc == -ENOMEM ? 1 : 2; /* the file named by the option is bad */
		o.name_capacity = 4096;               /* one name per learned service and interface */
	} else if ((rc = dft_gen_model_builtin(&model, cfg.workflows, cfg.seed))) {
		fprintf(stderr, "difftrace-gen: workflows: %s\n", strerror(-rc));
		return 1;
	}
	cfg.model = &model;
	if (cfg.threads > 16)
		o.ring_count = cfg.threads; /* one ring per worker, as the library's default gives 16 */
	cfg.progress = cfg.requests ? cfg.requests / cfg.rate > 2 : cfg.seconds > 2;
	rc = dft_init(component, DFT_COMPONENT_PLATFORM, &o);
	if (rc) {
		fprintf(stderr, "difftrace-gen: dft_init: %s\n", strerror(-rc));
		rc = rc == -EINVAL ? 2 : 1;
		goto free_model;
	}
	signal(SIGINT, dft_gen_on_signal);
	signal(SIGTERM, dft_gen_on_signal);
	rc = dft_gen_run(&cfg, &res);
	if (rc)
		fprintf(stderr, "difftrace-gen: run: %s\n", strerror(-rc));
	dft_stats(&st);
	frc = dft_fini((unsigned)fini_ms);
	printf("{\"requests\":%" PRIu64 ",\"spans\":%" PRIu64 ",\"platform_spans\":%" PRIu64
	       ",\"function_spans\":%" PRIu64 ",\"anomalous_spans\":%" PRIu64 ",\"anomalies\":{\"error\":%" PRIu64
	       ",\"queueing\":%" PRIu64 ",\"cold_start\":%" PRIu64 ",\"contention\":%" PRIu64 ",\"outlier\":%" PRIu64
	       "},\"plan_cut\":%" PRIu64 ",\"header_fallbacks\":%" PRIu64 ",\"metrics_failed\":%" PRIu64
	       ",\"host_produced\":%" PRIu64 ",\"host_dropped_full\":%" PRIu64 ",\"host_dropped_no_ring\":%" PRIu64
	       ",\"hops_cut\":%" PRIu64 ",\"hops_dropped\":%" PRIu64 ",\"delay_early\":%" PRIu64
	       ",\"delay_max\":%" PRIu64 ",\"registered\":%u,\"fini\":%d}\n",
	       res.requests, res.spans, res.platform, res.function, res.anomalous, res.by_anomaly[DFT_GEN_ERROR],
	       res.by_anomaly[DFT_GEN_QUEUEING], res.by_anomaly[DFT_GEN_COLD_START], res.by_anomaly[DFT_GEN_CONTENTION],
	       res.by_anomaly[DFT_GEN_OUTLIER], res.plan_cut, res.hdr_fallback, res.metrics_failed, st.produced,
	       st.dropped_full, st.dropped_no_ring, st.hops_cut, st.hops_dropped, res.delay_early, res.delay_max,
	       st.registrations, frc);
	rc = rc ? 1 : 0;
free_model:
	dft_gen_model_free(&model);
	dft_gen_ali_free(&ali);
	return rc;
}
