/* SPDX-License-Identifier: MIT */
/*
 * dft-bench-nic: NIC-side throughput per core, in spans/s, of the daemon's own modules
 * (dft_nic_core) on one lcore, for one ingest backend (mmap or dmadev) at 1, 4 and 16 rings.
 *
 * Stages are cumulative, each a superset of the one before, so the difference of two is the cost of
 * the stage added:
 *   ingest_validate  backend poll (copy out of the region) + dft_slot_validate + release
 *   ingest_filter    dft_worker_step over platform spans of normal traces: rules, profiler, hold
 *                    window; the filter reports none of them (the differential filter's common case)
 *   batch            dft_worker_step over user-function spans: all kept and batched (protobuf-c
 *                    structs); closed batches are freed unpacked
 *   encode           batch + dft_batch_pack of every closed batch (what the main lcore does)
 *   transport        encode + the TCP transport (dft_tx_tcp_ops: backlog, frames, writes, ACKs) to a
 *                    minimal sink thread on the other core that reads and acknowledges frames; a
 *                    repetition ends when its last batch is acknowledged
 * --keep-ratio F: the worker stages (ingest_filter .. transport) read platform traces of which a share F
 * are user-function traces that are kept (synth.h DFT_SYNTH_KEEP_SHARE) instead of their usual
 * all-filtered / all-kept streams, so ingest_filter and batch then measure the same thing (judging
 * plus batching the kept share); --batch-spans N sets [batch] spans. bench/sweep.sh varies both.
 * The region is filled before each repetition by the producer half of dft/ring.h (untimed), then
 * drained and timed. The daemon's worker state (profiles, hold window, names) persists across
 * repetitions, as it does in a running daemon. RDMA transport: functional only (tested in the
 * Soft-RoCE VM, whose TCG speed says nothing about RDMA speed), not benchmarked here.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include "ctx.h"
#include "dft/frame.h"
#include "sink.h"
#include "stats_util.h"
#include "synth.h"
#include "tx.h"

#define MAX_REPS 1000u

enum stage { ST_INGEST, ST_FILTER, ST_BATCH, ST_ENCODE, ST_TRANSPORT, ST_COUNT };
static const char *const stage_names[ST_COUNT] = {"ingest_validate", "ingest_filter", "batch", "encode",
						   "transport"};

struct opts {
	const char *ingest;
	unsigned reps, rounds;
	uint32_t spans; /* per repetition, over all rings */
	unsigned rings[8], n_rings;
	bool stage_on[ST_COUNT];
	bool json, hold;
	int64_t keep_ppm;     /* --keep-ratio in parts per million; -1: each stage's own stream */
	uint32_t batch_spans; /* --batch-spans; 0: the daemon's default ([batch] spans) */
	int sink_cpu;
	const char *lcore;
};

struct result {
	enum stage st;
	unsigned rings;
	double ns_v[MAX_REPS], wall_v[MAX_REPS]; /* per counted repetition, over all rounds */
	double own_v[MAX_REPS]; /* transport: ns_v less the CPU spent waiting for the peer (room, ACKs) */
	unsigned n;
	bool failed; /* reported on stderr, left out of the output */
	struct dft_bstats ns;   /* CPU ns of the worker thread per span, over repetitions */
	struct dft_bstats wall; /* wall-clock ns per span */
	struct dft_bstats own;  /* CPU ns per span without the peer waits */
	uint64_t spans;
	uint64_t filtered, batched, invalid, lost;
	uint64_t bytes;
};

static uint64_t now_ns(void)
{
	return dft_clock_ns(CLOCK_MONOTONIC);
}

/* CPU time of this (the NIC worker's) thread: "per core" figures do not count time the scheduler
 * gave to other processes on a shared machine, nor the sink's or the DMA engine's thread */
static uint64_t cpu_ns(void)
{
	return dft_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: dft-bench-nic [--ingest mmap|dmadev] [--reps N] [--rounds N] [--spans N] [--rings 1,4,16]\n"
		   "                     [--stages ingest_validate,ingest_filter,batch,encode,transport]\n"
		   "                     [--keep-ratio F] [--batch-spans N] [--no-hold] [--sink-cpu N] [--lcore N]\n"
		   "                     [--quick] [--json]\n"
		   "  --keep-ratio F   0..1: the worker stages read platform traces of which this share are user-\n"
		   "                   function traces (kept); default: ingest_filter keeps none, batch.. keep all\n"
		   "  --batch-spans N  spans per batch, 1..65536 (default: the daemon's [batch] spans, 256)\n");
}

static int parse_list(const char *s, unsigned *out, unsigned max)
{
	unsigned n = 0;
	char *end;

	while (*s && n < max) {
		unsigned long v = strtoul(s, &end, 10);

		if (end == s || v == 0 || v > DFT_RING_COUNT_MAX)
			return -EINVAL;
		out[n++] = (unsigned)v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -EINVAL;
	}
	return (int)n;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"ingest", required_argument, NULL, 'i'}, {"reps", required_argument, NULL, 'r'},
		{"rounds", required_argument, NULL, 'o'},
		{"spans", required_argument, NULL, 'n'},  {"rings", required_argument, NULL, 'R'},
		{"stages", required_argument, NULL, 's'}, {"no-hold", no_argument, NULL, 'H'},
		{"sink-cpu", required_argument, NULL, 'c'}, {"lcore", required_argument, NULL, 'l'},
		{"quick", no_argument, NULL, 'q'},        {"json", no_argument, NULL, 'j'},
		{"keep-ratio", required_argument, NULL, 'k'}, {"batch-spans", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0},
	};
	int c, n;

	*o = (struct opts){.ingest = "mmap", .reps = 15, .rounds = 3, .spans = 1u << 18, .rings = {1, 4, 16}, .n_rings = 3,
			   .hold = true, .keep_ppm = -1, .sink_cpu = 1, .lcore = "0"};
	for (int i = 0; i < ST_COUNT; i++)
		o->stage_on[i] = true;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'i':
			o->ingest = optarg;
			break;
		case 'r':
			o->reps = (unsigned)strtoul(optarg, NULL, 10);
			if (o->reps < 1 || o->reps > MAX_REPS)
				return -EINVAL;
			break;
		case 'o':
			o->rounds = (unsigned)strtoul(optarg, NULL, 10);
			if (o->rounds < 1 || o->rounds > 100)
				return -EINVAL;
			break;
		case 'n':
			o->spans = (uint32_t)strtoul(optarg, NULL, 10);
			if (o->spans < 4096 || o->spans > (1u << 24))
				return -EINVAL;
			break;
		case 'R':
			n = parse_list(optarg, o->rings, 8);
			if (n <= 0)
				return -EINVAL;
			o->n_rings = (unsigned)n;
			break;
		case 's':
			for (int i = 0; i < ST_COUNT; i++)
				o->stage_on[i] = strstr(optarg, stage_names[i]) != NULL;
			break;
		case 'H':
			o->hold = false;
			break;
		case 'k': {
			char *end;
			double f = strtod(optarg, &end);

			if (end == optarg || *end || !(f >= 0 && f <= 1))
				return -EINVAL;
			o->keep_ppm = (int64_t)(f * 1e6 + 0.5);
			break;
		}
		case 'b': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			/* the range config.c accepts for [batch] spans */
			if (end == optarg || *end || v < 1 || v > 65536)
				return -EINVAL;
			o->batch_spans = (uint32_t)v;
			break;
		}
		case 'c':
			o->sink_cpu = atoi(optarg);
			break;
		case 'l':
			o->lcore = optarg;
			break;
		case 'q':
			o->reps = 5;
			o->rounds = 1;
			o->spans = 1u << 16;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
	}
	return optind < argc ? -EINVAL : 0;
}

static uint32_t pow2_floor(uint32_t v)
{
	uint32_t p = 1;

	while (p * 2 <= v)
		p *= 2;
	return p;
}

/* What a stage reads: validation does not judge, so it keeps its stream whatever --keep-ratio says. */
static enum dft_synth_mix stage_mix(const struct opts *o, enum stage st)
{
	if (st == ST_INGEST)
		return DFT_SYNTH_PLATFORM_NORMAL;
	if (o->keep_ppm >= 0)
		return DFT_SYNTH_KEEP_SHARE;
	return st == ST_FILTER ? DFT_SYNTH_PLATFORM_NORMAL : DFT_SYNTH_FUNCTION;
}

/* [batch] spans as the worker stages run with it. */
static uint32_t batch_spans(const struct opts *o)
{
	struct dft_nic_config c;

	if (o->batch_spans)
		return o->batch_spans;
	dft_nic_config_defaults(&c);
	return c.batch_spans;
}

/* The region as the daemon holds it after registration (main.c does this from the memfd). */
static void region_init(struct dft_nic_region *r, const struct dft_synth *s)
{
	memset(r, 0, sizeof(*r));
	r->fd = -1;
	r->conn = -1;
	r->map = s->base;
	r->g = s->g;
	r->names_published = DFT_SYNTH_NAMES;
}

/* Every ring consumed: the backend finds nothing readable. */
static bool drained(struct dft_ingest *ing, struct dft_nic_region *r)
{
	return dft_ingest_empty(ing, r);
}

/* Repetitions of one configuration per round: the rounds interleave the configurations in time, so
 * a burst of load on the shared machine spreads over all of them instead of hitting one. */
static unsigned reps_per_round(const struct opts *o)
{
	return (o->reps + o->rounds - 1) / o->rounds;
}

/* ---- stage ingest_validate: the backend and the validator alone */
static int run_ingest(struct dft_ingest *ing, struct dft_synth *s, const struct opts *o, struct result *res)
{
	static struct dft_slot burst[DFT_NIC_BURST];
	struct dft_nic_region r;
	unsigned reps = reps_per_round(o);
	uint64_t bad = 0;
	int rc;

	region_init(&r, s);
	rc = dft_ingest_attach(ing, &r);
	if (rc)
		return rc;
	for (unsigned rep = 0; rep <= reps && res->n < o->reps; rep++) {
		uint64_t filled = dft_synth_fill_all(s), t0 = now_ns(), c0 = cpu_ns();

		while (!drained(ing, &r)) {
			for (uint32_t k = 0; k < r.g.ring_count; k++) {
				int n = dft_ingest_poll(ing, &r, k, burst, DFT_NIC_BURST);
				enum dft_invalid_reason why;

				for (int i = 0; i < n; i++)
					bad += dft_slot_validate(&burst[i], &r.g, r.names_published, &why) != 0;
				if (n > 0)
					dft_ingest_release(ing, &r, k, (uint32_t)n);
			}
		}
		if (rep) { /* the first pass warms caches and the allocator: not counted */
			res->own_v[res->n] = res->ns_v[res->n] = (double)(cpu_ns() - c0) / (double)filled;
			res->wall_v[res->n++] = (double)(now_ns() - t0) / (double)filled;
		}
		res->spans += rep ? filled : 0;
	}
	dft_ingest_detach(ing, &r);
	res->invalid += bad;
	return 0;
}

/* ---- the worker stages */
struct pipe {
	struct dft_nic_config cfg;
	struct dft_nic_ctx ctx;
	const struct dft_tx_ops *txo;
	struct dft_tx *tx;
	uint64_t seq, bytes;
	uint64_t wait_cpu; /* CPU ns spent polling the transport for backlog room or the last ACKs */
};

static int pipe_open(struct pipe *p, struct dft_ingest *ing, const struct opts *o, uint16_t sink_port)
{
	static unsigned gen;
	char name[3][32];
	int rc;

	memset(p, 0, sizeof(*p));
	memset(&dft_nic_ctr, 0, sizeof(dft_nic_ctr));
	dft_nic_config_defaults(&p->cfg);
	p->cfg.hold.enabled = o->hold;
	if (o->batch_spans)
		p->cfg.batch_spans = o->batch_spans;
	p->cfg.sender_id = 0xbe4c;
	snprintf(p->cfg.collector_host, sizeof(p->cfg.collector_host), "127.0.0.1");
	snprintf(p->cfg.collector_port, sizeof(p->cfg.collector_port), "%u", sink_port);
	p->ctx.cfg = &p->cfg;
	p->ctx.ingest = ing;
	p->ctx.tsc_hz = rte_get_tsc_hz();
	p->ctx.flush_tsc = p->ctx.tsc_hz / 1000000 * p->cfg.flush_us;
	gen++;
	for (int i = 0; i < 3; i++)
		snprintf(name[i], sizeof(name[i]), "bench_%d_%u", i, gen);
	p->ctx.ctl_to_worker = rte_ring_create(name[0], 64, (int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	p->ctx.ctl_to_main = rte_ring_create(name[1], 64, (int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	p->ctx.batches = rte_ring_create(name[2], 64, (int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!p->ctx.ctl_to_worker || !p->ctx.ctl_to_main || !p->ctx.batches)
		return -ENOMEM;
	rc = dft_worker_init(&p->ctx);
	if (rc)
		return rc;
	if (sink_port) {
		p->txo = &dft_tx_tcp_ops;
		rc = p->txo->create(&p->cfg, &p->tx);
		if (rc)
			return rc;
	}
	return 0;
}

/* Hand closed batches on as the main lcore would: pack (encode), admit to the transport. */
static int pipe_main(struct pipe *p, bool encode)
{
	void *objs[16];
	unsigned n = rte_ring_sc_dequeue_burst(p->ctx.batches, objs, 16, NULL);
	int work = (int)n;

	for (unsigned i = 0; i < n; i++) {
		struct dft_batch *b = objs[i];
		uint32_t spans = dft_batch_spans(b);
		Difftrace__Counters c = DIFFTRACE__COUNTERS__INIT;
		uint8_t *buf;
		size_t len;

		if (!encode) {
			dft_batch_destroy(b);
			continue;
		}
		c.batches = p->seq + 1;
		if (dft_batch_pack(b, p->cfg.sender_id, p->seq + 1, dft_clock_ns(CLOCK_REALTIME), &c,
				   DFT_FRAME_HDR_LEN, &buf, &len)) {
			dft_batch_destroy(b);
			return -ENOMEM;
		}
		dft_batch_destroy(b);
		p->bytes += len;
		if (!p->tx) {
			free(buf);
			p->seq++;
			continue;
		}
		/* the benchmark never loses a batch: wait for room instead of counting lost_backlog_full */
		if (!dft_backlog_has_room(p->txo->backlog(p->tx))) {
			uint64_t w0 = cpu_ns();

			while (!dft_backlog_has_room(p->txo->backlog(p->tx)))
				p->txo->poll(p->tx, rte_rdtsc());
			p->wait_cpu += cpu_ns() - w0;
		}
		if (p->txo->admit(p->tx, p->seq + 1, spans, buf, len))
			return -ENOBUFS;
		p->seq++;
	}
	if (p->tx) {
		work += p->txo->poll(p->tx, rte_rdtsc());
		__atomic_store_n(&dft_nic_tx_ready, p->txo->ready(p->tx), __ATOMIC_RELAXED);
	}
	return work;
}

static void pipe_close(struct pipe *p)
{
	void *obj = NULL;

	if (p->ctx.ctl_to_worker) {
		struct dft_ctl_msg *m = malloc(sizeof(*m));

		if (m) {
			m->type = DFT_CTL_STOP;
			m->region = NULL;
			rte_ring_sp_enqueue(p->ctx.ctl_to_worker, m);
			for (unsigned i = 0; i < 1000000 && !dft_worker_stopped(&p->ctx); i++) {
				dft_worker_step(&p->ctx);
				while (rte_ring_sc_dequeue(p->ctx.batches, &obj) == 0)
					dft_batch_destroy(obj);
			}
		}
	}
	if (p->tx)
		p->txo->destroy(p->tx);
	while (p->ctx.ctl_to_main && rte_ring_dequeue(p->ctx.ctl_to_main, &obj) == 0)
		free(obj);
	while (p->ctx.batches && rte_ring_dequeue(p->ctx.batches, &obj) == 0)
		dft_batch_destroy(obj);
	rte_ring_free(p->ctx.ctl_to_worker);
	rte_ring_free(p->ctx.ctl_to_main);
	rte_ring_free(p->ctx.batches);
	dft_worker_fini(&p->ctx);
}

static int run_worker(enum stage st, struct dft_ingest *ing, struct dft_synth *s, const struct opts *o,
		      uint16_t sink_port, struct result *res)
{
	static struct pipe p;
	struct dft_nic_region *r = calloc(1, sizeof(*r));
	struct dft_ctl_msg *m = malloc(sizeof(*m));
	bool encode = st >= ST_ENCODE;
	unsigned reps = reps_per_round(o);
	int rc;

	if (!r || !m) {
		free(r);
		free(m);
		return -ENOMEM;
	}
	region_init(r, s);
	rc = pipe_open(&p, ing, o, st == ST_TRANSPORT ? sink_port : 0);
	if (rc)
		goto out;
	m->type = DFT_CTL_ATTACH;
	m->region = r;
	rte_ring_sp_enqueue(p.ctx.ctl_to_worker, m);
	m = NULL;
	dft_worker_step(&p.ctx); /* attaches the region */
	if (!r->rings) {
		rc = -EIO;
		goto out;
	}
	if (p.tx) { /* connected and past the HELLO before the clock starts */
		uint64_t t_end = now_ns() + 2000000000ull;

		while (!p.txo->ready(p.tx) && now_ns() < t_end)
			pipe_main(&p, true);
		if (!p.txo->ready(p.tx)) {
			rc = -ECONNREFUSED;
			goto out;
		}
	}
	for (unsigned rep = 0; rep <= reps && res->n < o->reps; rep++) {
		uint64_t filled = dft_synth_fill_all(s), t0 = now_ns(), c0 = cpu_ns(), t1, c1, wait0 = p.wait_cpu;

		while (!drained(ing, r)) {
			dft_worker_step(&p.ctx);
			if ((rc = pipe_main(&p, encode)) < 0)
				goto out;
		}
		/* the last spans may sit in an open batch until --flush-us: close it now, like a flush
		 * (under --keep-ratio ingest_filter keeps spans too) */
		if (st >= ST_BATCH || o->keep_ppm >= 0) {
			while (p.ctx.open && dft_batch_spans(p.ctx.open)) {
				__atomic_store_n(&dft_nic_tx_ready, true, __ATOMIC_RELAXED);
				p.ctx.flush_tsc = 0;
				dft_worker_step(&p.ctx);
				if ((rc = pipe_main(&p, encode)) < 0)
					goto out;
			}
			p.ctx.flush_tsc = p.ctx.tsc_hz / 1000000 * p.cfg.flush_us;
			while (rte_ring_count(p.ctx.batches) || p.ctx.closed) {
				dft_worker_step(&p.ctx);
				if ((rc = pipe_main(&p, encode)) < 0)
					goto out;
			}
		}
		if (p.tx && dft_backlog_unacked(p.txo->backlog(p.tx))) {
			uint64_t w0 = cpu_ns();

			while (dft_backlog_unacked(p.txo->backlog(p.tx)))
				if ((rc = pipe_main(&p, encode)) < 0)
					goto out;
			p.wait_cpu += cpu_ns() - w0;
		}
		t1 = now_ns();
		c1 = cpu_ns();
		if (rep) {
			res->own_v[res->n] = (double)(c1 - c0 - (p.wait_cpu - wait0)) / (double)filled;
			res->ns_v[res->n] = (double)(c1 - c0) / (double)filled;
			res->wall_v[res->n++] = (double)(t1 - t0) / (double)filled;
		}
		res->spans += rep ? filled : 0;
	}
	/* pipe_open zeroed the daemon's counters: these are this round's */
	res->filtered += dft_ctr_get(&dft_nic_ctr.filtered);
	res->batched += dft_ctr_get(&dft_nic_ctr.batched);
	res->invalid += dft_ctr_get(&dft_nic_ctr.lost_invalid);
	res->lost += dft_ctr_get(&dft_nic_ctr.lost_hold_overflow);
	res->bytes += p.bytes;
	rc = 0;
out:
	free(m);
	pipe_close(&p);
	/* the worker detached the region on STOP (or never attached it) */
	free(r);
	return rc;
}

static void print_text(const struct opts *o, const struct result *rs, unsigned n)
{
	printf("dft-bench-nic: ingest %s, %u spans per repetition, %u repetitions in %u rounds, hold window %s,"
	       " %u spans per batch\n",
	       o->ingest, o->spans, o->reps, o->rounds, o->hold ? "on" : "off", batch_spans(o));
	if (o->keep_ppm >= 0)
		printf("worker stages: %.4f of the spans kept (--keep-ratio)\n", (double)o->keep_ppm / 1e6);
	printf("CPU ns of the worker thread per span (per core); wall clock in the last two columns\n");
	printf("%-16s %5s %10s %10s %10s %10s %10s %10s %10s\n", "stage", "rings", "Mspans/s", "ns_min", "ns_median",
	       "ns_p99", "wall_Msp/s", "wall_ns_md", "own_ns_md");
	for (unsigned i = 0; i < n; i++)
		printf("%-16s %5u %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f\n", stage_names[rs[i].st], rs[i].rings,
		       1e3 / rs[i].ns.median, rs[i].ns.min, rs[i].ns.median, rs[i].ns.p99, 1e3 / rs[i].wall.median,
		       rs[i].wall.median, rs[i].own.median);
}

static void print_json(const struct opts *o, const struct result *rs, unsigned n)
{
	printf("{\"bench\":\"nic\",\"ingest\":\"%s\",\"spans_per_rep\":%u,\"reps\":%u,\"rounds\":%u,\"hold\":%s,"
	       "\"transport_peer\":\"sink\",\"batch_spans\":%u,\"keep_ratio\":",
	       o->ingest, o->spans, o->reps, o->rounds, o->hold ? "true" : "false", batch_spans(o));
	if (o->keep_ppm >= 0)
		printf("%.6f", (double)o->keep_ppm / 1e6);
	else
		printf("null");
	printf(",\"results\":[");
	for (unsigned i = 0; i < n; i++) {
		const struct result *r = &rs[i];

		printf("%s{\"stage\":\"%s\",\"rings\":%u,\"spans_per_s_median\":%.0f,\"spans_per_s_min\":%.0f,"
		       "\"ns_per_span_min\":%.3f,\"ns_per_span_median\":%.3f,\"ns_per_span_p99\":%.3f,"
		       "\"wall_spans_per_s_median\":%.0f,\"wall_ns_per_span_median\":%.3f,\"wall_ns_per_span_p99\":%.3f,"
		       "\"spans\":%llu,\"filtered\":%llu,\"batched\":%llu,\"invalid\":%llu,\"lost\":%llu,"
		       "\"bytes\":%llu,\"own_ns_per_span_median\":%.3f,\"own_spans_per_s_median\":%.0f}",
		       i ? "," : "", stage_names[r->st], r->rings, 1e9 / r->ns.median, 1e9 / r->ns.max, r->ns.min,
		       r->ns.median, r->ns.p99, 1e9 / r->wall.median, r->wall.median, r->wall.p99,
		       (unsigned long long)r->spans, (unsigned long long)r->filtered,
		       (unsigned long long)r->batched, (unsigned long long)r->invalid, (unsigned long long)r->lost,
		       (unsigned long long)r->bytes, r->own.median, 1e9 / r->own.median);
	}
	printf("]}\n");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path) && errno != ENOENT ? -1 : 0;
}

int main(int argc, char **argv)
{
	static struct result rs[ST_COUNT * 8];
	char runtime_dir[PATH_MAX] = "";
	struct dft_sink_srv sink = {0};
	struct dft_ingest *ing;
	char prefix[64];
	char *eal[16];
	unsigned n = 0;
	int ea = 0, rc;
	struct opts o;

	if (parse_opts(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	/* eviction as the daemon's default ([ingest] evict) */
	if (dft_ingest_create(&(struct dft_ingest_cfg){.name = o.ingest, .evict_slots = true}, &ing)) {
		fprintf(stderr, "dft-bench-nic: unknown ingest backend '%s'\n", o.ingest);
		return 2;
	}
	snprintf(prefix, sizeof(prefix), "--file-prefix=dftbench%d", (int)getpid());
	eal[ea++] = argv[0];
	eal[ea++] = "-l";
	eal[ea++] = (char *)o.lcore;
	eal[ea++] = "--no-huge";
	eal[ea++] = "--no-pci";
	eal[ea++] = "-m";
	eal[ea++] = "256";
	eal[ea++] = prefix;
	eal[ea++] = "--log-level=*:error";
	if (!strcmp(o.ingest, "dmadev")) {
		eal[ea++] = "--vdev=dma_skeleton";
		eal[ea++] = "--iova-mode=va";
	}
	eal[ea] = NULL;
	if (rte_eal_init(ea, eal) < 0) {
		fprintf(stderr, "dft-bench-nic: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	/* EAL leaves its runtime directory behind; this one is ours alone (--file-prefix) */
	snprintf(runtime_dir, sizeof(runtime_dir), "%s", rte_eal_get_runtime_dir());
	if (o.stage_on[ST_TRANSPORT] && (rc = dft_sink_start(&sink, o.sink_cpu))) {
		fprintf(stderr, "dft-bench-nic: sink: %s\n", strerror(-rc));
		goto out;
	}
	rc = 0;
	for (unsigned ri = 0; ri < o.n_rings; ri++)
		for (int st = 0; st < ST_COUNT; st++)
			if (o.stage_on[st])
				rs[n++] = (struct result){.st = (enum stage)st, .rings = o.rings[ri]};
	for (unsigned round = 0; round < o.rounds; round++) {
		for (unsigned i = 0; i < n; i++) {
			struct result *r = &rs[i];
			uint32_t slots = pow2_floor(o.spans / r->rings);
			struct dft_synth s;

			if (r->failed)
				continue;
			if (slots < DFT_RING_SLOTS_MIN)
				slots = DFT_RING_SLOTS_MIN;
			rc = dft_synth_create(r->rings, slots, stage_mix(&o, r->st), rte_get_tsc_hz(), &s);
			if (!rc) {
				if (s.mix == DFT_SYNTH_KEEP_SHARE)
					s.keep_ppm = (uint32_t)o.keep_ppm;
				rc = r->st == ST_INGEST ? run_ingest(ing, &s, &o, r)
							: run_worker(r->st, ing, &s, &o, sink.port, r);
				dft_synth_destroy(&s);
			}
			if (rc) {
				fprintf(stderr, "dft-bench-nic: %s at %u rings: %s\n", stage_names[r->st], r->rings,
					strerror(-rc));
				r->failed = true;
			}
		}
	}
	/* keep what was measured; fail only when nothing was */
	{
		unsigned k = 0;

		for (unsigned i = 0; i < n; i++) {
			if (rs[i].failed || rs[i].n == 0)
				continue;
			dft_bstats_compute(&rs[i].ns, rs[i].ns_v, rs[i].n);
			dft_bstats_compute(&rs[i].wall, rs[i].wall_v, rs[i].n);
			dft_bstats_compute(&rs[i].own, rs[i].own_v, rs[i].n);
			if (k != i)
				rs[k] = rs[i];
			k++;
		}
		n = k;
	}
	rc = n ? 0 : -EIO;
	if (rc)
		goto out;
	if (o.json)
		print_json(&o, rs, n);
	else
		print_text(&o, rs, n);
out:
	dft_sink_stop(&sink);
	dft_ingest_destroy(ing);
	rte_eal_cleanup();
	if (runtime_dir[0] && strstr(runtime_dir, "dftbench"))
		nftw(runtime_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return rc ? 1 : 0;
}
