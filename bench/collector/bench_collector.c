/* SPDX-License-Identifier: MIT */
/*
 * dft-bench-collector: how fast difftrace-collector takes span batches, in spans/s.
 *
 * The batches are what difftrace-nic sends: slots of a synthetic region (user-function spans, two
 * attributes, no hops) put through the NIC's batcher (dft_batch_add) and packed by dft_batch_pack
 * into protobuf-c SpanBatch frames of --batch spans, sequence 1..N, one sender. They are built
 * before any clock starts. Configurations:
 *   inproc_sqlite       dft_collector_ingest + dft_collector_end_round every --round batches: decode,
 *                       validate, dedup, SQLite insert, group commit (the collector's real path without
 *                       the socket)
 *   inproc_sqlite_otlp  the same with the OTLP JSON sink (--otlp-json) as well
 *   inproc_otlp         decode + validate (dft_batch_check) + the OTLP JSON sink alone (put, and flush
 *                       per round): the OTLP JSON path without SQLite
 *   tcp_sqlite          the real difftrace-collector process over TCP loopback: HELLO, every BATCH
 *                       frame, timed until the last ACK (i.e. until the last batch is committed)
 *   tcp_sqlite_otlp     the same with --otlp-json
 *   tcp_sqlite_otlp_http  the same with --otlp-http to an HTTP endpoint in this process (http_sink.c):
 *                       TCP -> dedup -> SQLite -> OTLP/HTTP export; timed until the last ACK, the
 *                       process's CPU time including its sender thread's up to then
 * Files go to --dir (default: a fresh directory under $TMPDIR or /tmp) and are removed after each
 * repetition.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "collector.h"
#include "otlp_json.h"
#include "sink.h"
#include "dft/clock.h"
#include "dft/frame.h"
#include "http_sink.h"
#include "nic.h"
#include "stats_util.h"
#include "synth.h"

#define MAX_REPS 100u
#define SENDER 0xc011ec7ull

enum cfg_id {
	C_INPROC_SQLITE,
	C_INPROC_SQLITE_OTLP,
	C_INPROC_OTLP,
	C_TCP_SQLITE,
	C_TCP_SQLITE_OTLP,
	C_TCP_SQLITE_OTLP_HTTP,
	C_COUNT
};
static const char *const cfg_names[C_COUNT] = {"inproc_sqlite", "inproc_sqlite_otlp", "inproc_otlp",
					       "tcp_sqlite",    "tcp_sqlite_otlp",    "tcp_sqlite_otlp_http"};

struct frame {
	uint8_t *buf; /* DFT_FRAME_HDR_LEN bytes of frame header, then the packed SpanBatch */
	size_t len;
	uint32_t spans;
};

struct opts {
	unsigned reps, batch, round;
	uint32_t spans;
	bool on[C_COUNT];
	bool json;
	char dir[PATH_MAX];
	char collector[PATH_MAX];
};

struct result {
	enum cfg_id id;
	double ns_v[MAX_REPS], cpu_v[MAX_REPS];
	unsigned n;
	struct dft_bstats ns;  /* wall-clock ns per span */
	struct dft_bstats cpu; /* CPU ns per span of the collector (its thread, or its whole process) */
	uint64_t spans, bytes;
	bool failed;
};

static uint64_t now_ns(void)
{
	return dft_clock_ns(CLOCK_MONOTONIC);
}

static uint64_t thread_cpu_ns(void)
{
	return dft_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* user + system CPU of a process from /proc (clock ticks); 0 when unreadable */
static uint64_t proc_cpu_ns(pid_t pid)
{
	unsigned long long ut = 0, st = 0;
	char path[64], buf[1024], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')'); /* the command name may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (ut + st) * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
}

/* ---- the batches, built by the NIC's own batcher */
static int build_frames(const struct opts *o, struct frame **out, unsigned *n_out, uint64_t *bytes)
{
	struct dft_synth s;
	struct dft_names *names = NULL; /* the NIC-global table the decoded spans' names are in */
	struct dft_clock_cal cal = {0};
	unsigned n = (o->spans + o->batch - 1) / o->batch;
	struct frame *f = calloc(n, sizeof(*f));
	int rc;

	if (!f)
		return -ENOMEM;
	rc = dft_synth_create(1, 64, DFT_SYNTH_FUNCTION, 0, &s);
	if (rc)
		goto free_f;
	rc = dft_names_create(64, &names);
	if (rc)
		goto fail;
	*bytes = 0;
	for (unsigned i = 0; i < n; i++) {
		Difftrace__Counters c = DIFFTRACE__COUNTERS__INIT;
		struct dft_batch *b;

		rc = dft_batch_create(o->batch, &b);
		if (rc)
			goto fail;
		while (!dft_batch_full(b)) {
			struct dft_span_rec rec;
			struct dft_slot slot;

			dft_synth_slot(&s, &slot);
			dft_span_decode_mapped(&slot, NULL, s.base, &s.g, DFT_SYNTH_NAMES, &cal, names, &rec);
			rec.kind = DFT_KIND_FUNCTION;
			rec.keep_reasons = DFT_KEEP_FUNCTION;
			if (dft_batch_add(b, names, &rec))
				break;
		}
		f[i].spans = dft_batch_spans(b);
		c.produced = c.reported = (uint64_t)(i + 1) * o->batch;
		c.batches = i + 1;
		rc = dft_batch_pack(b, SENDER, i + 1, 1700000000000000000ull + i, &c, DFT_FRAME_HDR_LEN, &f[i].buf,
				    &f[i].len);
		dft_batch_destroy(b);
		if (rc)
			goto fail;
		dft_frame_hdr_encode(f[i].buf, DFT_FRAME_BATCH, (uint32_t)(f[i].len - DFT_FRAME_HDR_LEN));
		*bytes += f[i].len;
	}
	dft_synth_destroy(&s);
	dft_names_destroy(names);
	*out = f;
	*n_out = n;
	return 0;
fail:
	dft_synth_destroy(&s);
	for (unsigned i = 0; i < n; i++)
		free(f[i].buf);
free_f:
	dft_names_destroy(names);
	free(f);
	return rc;
}

static void rm_files(const struct opts *o)
{
	static const char *const names[] = {"bench.db", "bench.db-wal", "bench.db-shm", "bench.db-journal",
					    "bench.otlp.json", "ready", "stats.json"};
	char p[PATH_MAX + 32];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(p, sizeof(p), "%s/%s", o->dir, names[i]);
		unlink(p);
	}
}

/* ---- in-process: the collector's ingest path without a socket */
static int run_inproc(const struct opts *o, bool otlp, const struct frame *f, unsigned n, double *ns, double *cpu)
{
	char db[PATH_MAX + 16], js[PATH_MAX + 32];
	struct dft_collector_cfg cfg = {.listen_host = "127.0.0.1", .db_path = db, .insecure = true}; /* no network: the ingest path alone */
	struct dft_collector *c;
	uint64_t t0, c0, spans = 0;
	int rc;

	snprintf(db, sizeof(db), "%s/bench.db", o->dir);
	snprintf(js, sizeof(js), "%s/bench.otlp.json", o->dir);
	if (otlp)
		cfg.otlp_json_path = js;
	rm_files(o);
	rc = dft_collector_create(&cfg, &c);
	if (rc)
		return rc;
	t0 = now_ns();
	c0 = thread_cpu_ns();
	for (unsigned i = 0; i < n; i++) {
		uint64_t seq;
		bool dup;

		if (i % o->round == 0)
			dft_collector_set_clock(c, (now_ns() - t0) / 1000000);
		rc = dft_collector_ingest(c, SENDER, 0, f[i].buf + DFT_FRAME_HDR_LEN, f[i].len - DFT_FRAME_HDR_LEN,
					  &seq, &dup);
		if (rc || dup)
			break;
		spans += f[i].spans;
		if ((i + 1) % o->round == 0 || i + 1 == n)
			if ((rc = dft_collector_end_round(c)))
				break;
	}
	*ns = (double)(now_ns() - t0) / (double)spans;
	*cpu = (double)(thread_cpu_ns() - c0) / (double)spans;
	dft_collector_destroy(c);
	rm_files(o);
	return rc ? rc : 0;
}

/* ---- in-process: the OTLP JSON sink alone */
static int run_otlp(const struct opts *o, const struct frame *f, unsigned n, double *ns, double *cpu)
{
	char js[PATH_MAX + 32];
	struct dft_sink sink;
	uint64_t t0, c0, spans = 0, exported = 0;
	int rc;

	snprintf(js, sizeof(js), "%s/bench.otlp.json", o->dir);
	rm_files(o);
	rc = dft_otlp_json_open(js, 0, 0, &sink);
	if (rc)
		return rc;
	t0 = now_ns();
	c0 = thread_cpu_ns();
	for (unsigned i = 0; i < n && !rc; i++) {
		struct dft_decoded *d;
		const char *why;

		rc = dft_batch_check(f[i].buf + DFT_FRAME_HDR_LEN, f[i].len - DFT_FRAME_HDR_LEN, SENDER, 0, &d, &why);
		if (rc)
			break;
		rc = sink.ops->put(sink.ctx, d->batch, false, &exported);
		dft_batch_free(d);
		spans += f[i].spans;
		if (!rc && ((i + 1) % o->round == 0 || i + 1 == n))
			rc = sink.ops->flush(sink.ctx);
	}
	*ns = (double)(now_ns() - t0) / (double)spans;
	*cpu = (double)(thread_cpu_ns() - c0) / (double)spans;
	sink.ops->destroy(sink.ctx);
	rm_files(o);
	if (!rc && exported != spans)
		rc = -EIO;
	return rc;
}

/* ---- over TCP to the real process */
static int wait_ready(const char *path, pid_t pid, uint16_t *port)
{
	for (int i = 0; i < 1000; i++) {
		FILE *fp = fopen(path, "r");
		unsigned p;

		if (fp) {
			int ok = fscanf(fp, "%u", &p) == 1;

			fclose(fp);
			if (ok) {
				*port = (uint16_t)p;
				return 0;
			}
		}
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -ECHILD;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

struct acks {
	uint64_t last, count;
	struct dft_frame_rx rx;
};

static int on_ack(void *arg, uint16_t type, const uint8_t *p, uint32_t len)
{
	struct acks *a = arg;
	uint64_t sender, seq;

	if (type != DFT_FRAME_ACK || dft_frame_ack_decode(p, len, &sender, &seq) || sender != SENDER)
		return -EBADMSG;
	if (seq > a->last)
		a->last = seq;
	a->count++;
	return 0;
}

/* Send everything, reading ACKs as they come, until the ACK of the last batch. */
static int tcp_session(int fd, pid_t pid, const struct frame *f, unsigned n, struct acks *a, double *ns, double *cpu)
{
	uint8_t hello[DFT_FRAME_HDR_LEN + DFT_FRAME_ACK_LEN];
	unsigned i = 0;
	size_t off = 0;
	uint64_t t0 = 0, c0 = 0;
	uint64_t spans = 0;
	bool helloed = false;
	int rc;

	dft_frame_hdr_encode(hello, DFT_FRAME_HELLO, DFT_FRAME_ACK_LEN);
	dft_frame_ack_encode(hello + DFT_FRAME_HDR_LEN, SENDER, 0);
	if (dft_write_some(fd, hello, sizeof(hello)) != (ssize_t)sizeof(hello))
		return -EIO;
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN | (helloed && i < n ? POLLOUT : 0)};

		if (poll(&pfd, 1, 10000) <= 0)
			return -ETIMEDOUT;
		if (pfd.revents & POLLIN) {
			uint64_t before = a->count;

			rc = dft_frame_rx_read(&a->rx, fd, on_ack, a);
			if (rc < 0)
				return rc;
			if (!helloed && a->count != before) { /* the HELLO's ACK */
				helloed = true;
				a->last = 0;
				t0 = now_ns(); /* the clock starts with the first batch */
				c0 = proc_cpu_ns(pid);
			}
			if (helloed && i == n && a->last >= n)
				break;
		}
		if ((pfd.revents & POLLOUT) && helloed) {
			while (i < n) {
				ssize_t w = dft_write_some(fd, f[i].buf + off, f[i].len - off);

				if (w < 0)
					return (int)w;
				if (w == 0)
					break;
				off += (size_t)w;
				if (off == f[i].len) {
					spans += f[i].spans;
					off = 0;
					i++;
				}
			}
		}
	}
	*ns = (double)(now_ns() - t0) / (double)spans;
	*cpu = (double)(proc_cpu_ns(pid) - c0) / (double)spans;
	return 0;
}

static int run_tcp(const struct opts *o, enum cfg_id id, const struct frame *f, unsigned n, double *ns, double *cpu)
{
	char db[PATH_MAX + 16], js[PATH_MAX + 32], ready[PATH_MAX + 16], url[64];
	struct dft_http_sink *sink = NULL;
	uint64_t sink_requests = 0, sink_bytes = 0;
	uint16_t sink_port = 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct acks a = {0};
	uint16_t port;
	int fd = -1, rc, status, one = 1;
	pid_t pid;

	snprintf(db, sizeof(db), "%s/bench.db", o->dir);
	snprintf(js, sizeof(js), "%s/bench.otlp.json", o->dir);
	snprintf(ready, sizeof(ready), "%s/ready", o->dir);
	rm_files(o);
	if (id == C_TCP_SQLITE_OTLP_HTTP) {
		rc = dft_http_sink_start(&sink, &sink_port);
		if (rc)
			return rc;
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/traces", sink_port);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		char *argv[16];
		int k = 0;

		argv[k++] = (char *)o->collector;
		argv[k++] = "--listen";
		argv[k++] = "127.0.0.1:0";
		argv[k++] = "--db";
		argv[k++] = db;
		argv[k++] = "--ready-file";
		argv[k++] = ready;
		argv[k++] = "--insecure"; /* the benchmark's own sender speaks plain TCP (docs/security.md) */
		if (id == C_TCP_SQLITE_OTLP) {
			argv[k++] = "--otlp-json";
			argv[k++] = js;
		}
		if (id == C_TCP_SQLITE_OTLP_HTTP) {
			argv[k++] = "--otlp-http";
			argv[k++] = url;
		}
		argv[k] = NULL;
		execv(o->collector, argv);
		_exit(127);
	}
	rc = wait_ready(ready, pid, &port);
	if (rc)
		goto stop;
	rc = dft_frame_rx_init(&a.rx, 4096);
	if (rc)
		goto stop;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sa.sin_port = htons(port);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		rc = -errno;
		goto free_rx;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* never block in a write while the collector waits for us to read its ACKs */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)) {
		rc = -errno;
		goto free_rx;
	}
	rc = tcp_session(fd, pid, f, n, &a, ns, cpu);
free_rx:
	if (fd >= 0)
		close(fd);
	dft_frame_rx_destroy(&a.rx);
stop:
	kill(pid, SIGTERM);
	waitpid(pid, &status, 0);
	if (sink) {
		dft_http_sink_stop(sink, &sink_requests, &sink_bytes);
		if (!rc && !sink_requests)
			rc = -EPROTO; /* the collector exported nothing */
	}
	rm_files(o);
	return rc;
}

static void usage(FILE *fp)
{
	fprintf(fp, "usage: dft-bench-collector [--spans N] [--batch N] [--round N] [--reps N] [--dir DIR]\n"
		    "                           [--collector PATH] [--configs LIST] [--quick] [--json]\n"
		    "  configs: inproc_sqlite,inproc_sqlite_otlp,inproc_otlp,tcp_sqlite,tcp_sqlite_otlp,tcp_sqlite_otlp_http\n");
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"spans", required_argument, NULL, 'n'}, {"batch", required_argument, NULL, 'b'},
		{"round", required_argument, NULL, 'R'}, {"reps", required_argument, NULL, 'r'},
		{"dir", required_argument, NULL, 'd'},   {"collector", required_argument, NULL, 'c'},
		{"configs", required_argument, NULL, 'C'}, {"quick", no_argument, NULL, 'q'},
		{"json", no_argument, NULL, 'j'},        {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char self[PATH_MAX];
	ssize_t l;
	int c;

	*o = (struct opts){.reps = 5, .batch = 256, .round = 16, .spans = 1u << 18};
	for (int i = 0; i < C_COUNT; i++)
		o->on[i] = true;
	l = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (l > 0) {
		self[l] = 0;
		snprintf(o->collector, sizeof(o->collector), "%s/difftrace-collector", dirname(self));
	}
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->spans = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'b':
			o->batch = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'R':
			o->round = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'r':
			o->reps = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			snprintf(o->dir, sizeof(o->dir), "%s", optarg);
			break;
		case 'c':
			snprintf(o->collector, sizeof(o->collector), "%s", optarg);
			break;
		case 'C': {
			char list[256], *save = NULL;

			snprintf(list, sizeof(list), "%s", optarg);
			for (int i = 0; i < C_COUNT; i++)
				o->on[i] = false;
			for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				int i = 0;

				while (i < C_COUNT && strcmp(t, cfg_names[i]))
					i++;
				if (i == C_COUNT)
					return -EINVAL;
				o->on[i] = true;
			}
			break;
		}
		case 'q':
			o->reps = 3;
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
	if (o->reps < 1 || o->reps > MAX_REPS || o->batch < 1 || o->batch > 65536 || o->round < 1 || o->spans < o->batch)
		return -EINVAL;
	return optind < argc ? -EINVAL : 0;
}

int main(int argc, char **argv)
{
	static struct result rs[C_COUNT];
	struct frame *f = NULL;
	bool made_dir = false;
	unsigned n = 0, nr = 0;
	uint64_t bytes = 0;
	struct opts o;
	int rc;

	if (parse_opts(argc, argv, &o)) {
		usage(stderr);
		return 2;
	}
	if (!o.dir[0]) {
		const char *t = getenv("TMPDIR");

		snprintf(o.dir, sizeof(o.dir), "%s/dft-bench-collector.XXXXXX", t ? t : "/tmp");
		if (!mkdtemp(o.dir)) {
			perror("dft-bench-collector: mkdtemp");
			return 1;
		}
		made_dir = true;
	}
	signal(SIGPIPE, SIG_IGN);
	rc = build_frames(&o, &f, &n, &bytes);
	if (rc) {
		fprintf(stderr, "dft-bench-collector: building batches: %s\n", strerror(-rc));
		return 1;
	}
	/* repetitions outermost: a burst of load on the shared machine spreads over every configuration */
	for (int id = 0; id < C_COUNT; id++) {
		if (!o.on[id])
			continue;
		if (id >= C_TCP_SQLITE && access(o.collector, X_OK)) {
			fprintf(stderr, "dft-bench-collector: %s: no collector at %s (--collector)\n", cfg_names[id],
				o.collector);
			continue;
		}
		rs[nr++] = (struct result){.id = (enum cfg_id)id, .bytes = bytes};
	}
	for (unsigned rep = 0; rep < o.reps; rep++) {
		for (unsigned i = 0; i < nr; i++) {
			struct result *r = &rs[i];

			if (r->failed)
				continue;
			switch (r->id) {
			case C_INPROC_SQLITE:
			case C_INPROC_SQLITE_OTLP:
				rc = run_inproc(&o, r->id == C_INPROC_SQLITE_OTLP, f, n, &r->ns_v[r->n], &r->cpu_v[r->n]);
				break;
			case C_INPROC_OTLP:
				rc = run_otlp(&o, f, n, &r->ns_v[r->n], &r->cpu_v[r->n]);
				break;
			default:
				rc = run_tcp(&o, r->id, f, n, &r->ns_v[r->n], &r->cpu_v[r->n]);
				break;
			}
			if (rc) {
				fprintf(stderr, "dft-bench-collector: %s: %s\n", cfg_names[r->id], strerror(-rc));
				r->failed = true;
				continue;
			}
			r->n++;
		}
	}
	{
		unsigned k = 0;

		for (unsigned i = 0; i < nr; i++) {
			if (rs[i].failed || rs[i].n == 0)
				continue;
			dft_bstats_compute(&rs[i].ns, rs[i].ns_v, rs[i].n);
			dft_bstats_compute(&rs[i].cpu, rs[i].cpu_v, rs[i].n);
			rs[i].spans = (uint64_t)rs[i].n * o.spans;
			if (k != i)
				rs[k] = rs[i];
			k++;
		}
		nr = k;
	}
	if (o.json) {
		printf("{\"bench\":\"collector\",\"spans_per_rep\":%u,\"batch_spans\":%u,\"round_batches\":%u,"
		       "\"reps\":%u,\"bytes_per_span\":%.1f,\"results\":[",
		       o.spans, o.batch, o.round, o.reps, (double)bytes / o.spans);
		for (unsigned i = 0; i < nr; i++)
			printf("%s{\"config\":\"%s\",\"spans_per_s_median\":%.0f,\"spans_per_s_min\":%.0f,"
			       "\"ns_per_span_min\":%.1f,\"ns_per_span_median\":%.1f,\"ns_per_span_p99\":%.1f,"
			       "\"cpu_spans_per_s_median\":%.0f,\"cpu_ns_per_span_median\":%.1f,\"reps\":%u}",
			       i ? "," : "", cfg_names[rs[i].id], 1e9 / rs[i].ns.median, 1e9 / rs[i].ns.max,
			       rs[i].ns.min, rs[i].ns.median, rs[i].ns.p99,
			       rs[i].cpu.median > 0 ? 1e9 / rs[i].cpu.median : 0.0, rs[i].cpu.median, rs[i].ns.n);
		printf("]}\n");
	} else {
		printf("dft-bench-collector: %u spans per repetition in batches of %u (%.1f bytes/span packed), "
		       "commit every %u batches, %u repetitions, files in %s\n",
		       o.spans, o.batch, (double)bytes / o.spans, o.round, o.reps, o.dir);
		printf("wall clock; the last two columns: CPU time of the collector (thread in-process, process over TCP)\n");
		printf("%-20s %10s %10s %10s %10s %10s %10s\n", "config", "Mspans/s", "ns_min", "ns_median", "ns_p99",
		       "cpu_Msp/s", "cpu_ns_md");
		for (unsigned i = 0; i < nr; i++)
			printf("%-20s %10.3f %10.1f %10.1f %10.1f %10.3f %10.1f\n", cfg_names[rs[i].id],
			       1e3 / rs[i].ns.median, rs[i].ns.min, rs[i].ns.median, rs[i].ns.p99,
			       rs[i].cpu.median > 0 ? 1e3 / rs[i].cpu.median : 0.0, rs[i].cpu.median);
	}
	for (unsigned i = 0; i < n; i++)
		free(f[i].buf);
	free(f);
	if (made_dir)
		rmdir(o.dir);
	return nr ? 0 : 1;
}
