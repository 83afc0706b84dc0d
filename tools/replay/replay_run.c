/* SPDX-License-Identifier: MIT */
/*
 * The replay loop. The main thread reads a batch of lines and groups its spans by trace; the workers
 * (persistent, one ring each) then replay the traces whose id hashes to them, and the next batch is
 * read once all are done. Within a trace the roots end last: the NIC's hold window may decide a
 * trace when its root ends.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dft/clock.h"
#include "replay.h"
#include "dft/hash.h"
#include "replay_run.h"

#define NAME_CACHE_SLOTS 8192u /* power of two */
#define NAME_MAX_LEN     62    /* dft_name's limit */
#define BATCH_SPANS_MAX  (256u * 1024u)
#define BACKOFF_EVERY    64
#define BACKOFF_STALL_NS (2000ull * 1000000ull)
#define ERRORS_PRINTED   1000
#define NAME_SETTLE_NS   (20ull * 1000000ull)

struct name_slot {
	char *s;
	uint32_t hash;
	uint16_t id;
};

/* The main thread interns every name of a batch before the workers emit it (see intern_batch). */
struct name_cache {
	struct name_slot slot[NAME_CACHE_SLOTS];
	unsigned used;
};

struct run;

struct worker {
	pthread_t th;
	unsigned idx;
	struct run *run;
	struct dft_replay_span **order, **bp;
	size_t order_cap;
	uint64_t paced, pace_t0;
	struct dft_replay_result r; /* this worker's share of the counters */
	int err;
};

struct run {
	const struct dft_replay_opts *o;
	pthread_barrier_t go, done;
	bool stop;
	struct dft_replay_span **v;
	size_t n;
	/* by_time: the batch in end-time order, and the clock the recorded times are paced on */
	struct dft_replay_emit *ev;
	uint64_t wall0, rec0;
	bool clock_set;
	double rate_per_thread;
	uint64_t pending_limit;
	struct name_cache names;
};

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static uint16_t intern(struct name_cache *c, const char *name, struct dft_replay_result *r, bool *fresh)
{
	uint32_t h = dft_fnv32_str(name), i = h & (NAME_CACHE_SLOTS - 1);
	char buf[NAME_MAX_LEN + 1];
	const char *use = name;
	uint16_t id;

	for (; c->slot[i].s; i = (i + 1) & (NAME_CACHE_SLOTS - 1))
		if (c->slot[i].hash == h && !strcmp(c->slot[i].s, name))
			return c->slot[i].id;
	if (strlen(name) > NAME_MAX_LEN) {
		/* the name table holds 62 bytes: a cut name beats a lost span */
		memcpy(buf, name, NAME_MAX_LEN);
		buf[NAME_MAX_LEN] = '\0';
		use = buf;
		r->names_truncated++;
	}
	id = dft_name(use);
	*fresh |= id != 0;
	/* keep the table at most half full so probes stay short; past that, ask the library each time */
	if (id && c->used < NAME_CACHE_SLOTS / 2) {
		char *copy = strdup(name);

		if (copy) {
			c->slot[i] = (struct name_slot){.s = copy, .hash = h, .id = id};
			c->used++;
		}
	}
	return id;
}

/*
 * Interns the batch's names (span names, components, attribute keys; the hop names are the platform
 * spans' own) before any of its spans is emitted, and lets a name published for the first time settle:
 * the daemon validates a slot against the count of names it read at the start of its pass over the
 * rings, so a name published and used within one pass would make the slot look invalid.
 */
static void intern_batch(struct name_cache *c, struct dft_replay_batch *b, struct dft_replay_result *r)
{
	bool fresh = false;

	for (size_t i = 0; i < b->n; i++) {
		struct dft_replay_span *s = &b->spans[i];

		s->op_id = intern(c, s->name, r, &fresh);
		s->comp_id = intern(c, s->component, r, &fresh);
		for (unsigned k = 0; k < s->n_attrs; k++)
			s->attr_id[k] = intern(c, s->attr_key[k], r, &fresh);
	}
	if (fresh)
		sleep_ns(NAME_SETTLE_NS);
}

static void cache_free(struct name_cache *c)
{
	for (unsigned i = 0; i < NAME_CACHE_SLOTS; i++)
		free(c->slot[i].s);
}

static unsigned trace_owner(const uint8_t id[16], unsigned n)
{
	uint64_t h = 1469598103934665603ull;

	for (int i = 0; i < 16; i++)
		h = (h ^ id[i]) * 1099511628211ull;
	return (unsigned)(h % n);
}

/* roots last, else by start time */
static int cmp_emit(const void *a, const void *b)
{
	const struct dft_replay_span *x = *(struct dft_replay_span *const *)a;
	const struct dft_replay_span *y = *(struct dft_replay_span *const *)b;
	int xr = !x->parent_span_id, yr = !y->parent_span_id;

	if (xr != yr)
		return xr - yr;
	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return x->span_id < y->span_id ? -1 : x->span_id > y->span_id;
}

static void pace(struct worker *w)
{
	struct run *run = w->run;

	if (run->rate_per_thread > 0) {
		uint64_t now = dft_clock_ns(CLOCK_MONOTONIC), target;

		w->paced++;
		target = w->pace_t0 + (uint64_t)((double)w->paced * 1e9 / run->rate_per_thread);
		if (now > target + 1000000000ull) {
			/* far behind (the main thread was reading): restart the schedule instead of bursting */
			w->pace_t0 = now;
			w->paced = 0;
		} else if (target > now + 100000) {
			sleep_ns(target - now);
		}
		return;
	}
	if (++w->paced % BACKOFF_EVERY)
		return;
	/* as fast as the daemon drains: wait while the rings are half full, so nothing is dropped */
	for (uint64_t t0 = 0;;) {
		struct dft_host_stats st;

		if (dft_stats(&st) || !st.registered || st.pending <= run->pending_limit)
			return;
		if (!t0) {
			t0 = dft_clock_ns(CLOCK_MONOTONIC);
			w->r.backoffs++;
		} else if (dft_clock_ns(CLOCK_MONOTONIC) - t0 > BACKOFF_STALL_NS) {
			return; /* the daemon stalled: carry on, the ring counts what it drops */
		}
		sleep_ns(50000);
	}
}

/* --speed: wait until the span's recorded end is due */
static void wait_due(struct worker *w, const struct dft_replay_span *s)
{
	struct run *run = w->run;
	uint64_t due, now;

	if (!(run->o->speed > 0))
		return;
	due = dft_replay_due_ns(run->wall0, run->rec0, s->end_ns, run->o->speed);
	now = dft_clock_ns(CLOCK_MONOTONIC);
	if (due > now + 50000)
		sleep_ns(due - now);
	else if (now > due + 1000000)
		w->r.late++; /* more than 1 ms behind the recorded pace */
}

static void emit(struct worker *w, struct dft_replay_span *const *t, struct dft_replay_span *const *bp, size_t n,
                 const struct dft_replay_span *s)
{
	struct dft_hop_list hops;
	struct dft_span sp;

	if (!s->op_id || !s->comp_id) {
		w->r.spans_unnamed++; /* the name table is full */
		return;
	}
	dft_span_begin_at(&sp, s->op_id, NULL, s->start_ns);
	dft_span_set_ids(&sp, s->trace_id, s->span_id, s->parent_span_id);
	dft_span_set_component(&sp, s->comp_id,
	                       s->kind == DFT_REPLAY_KIND_PLATFORM ? DFT_COMPONENT_PLATFORM : DFT_COMPONENT_FUNCTION);
	dft_span_set_kind(&sp, s->span_kind);
	if (s->status == 2)
		dft_span_set_status(&sp, DFT_SPAN_ERROR);
	else if (s->status == 1)
		dft_span_set_status(&sp, DFT_SPAN_OK);
	if (s->status_message) {
		/* the arena outlives the span's end: the library keeps the pointer until then */
		if (dft_span_set_status_message(&sp, s->status_message, s->status_message_len))
			w->r.status_messages_refused++;
		else
			w->r.status_messages++;
	}
	if (s->queue_ns)
		dft_span_set_queue_ns(&sp, s->queue_ns);
	if (s->cold_start)
		dft_span_set_cold_start(&sp);
	for (unsigned i = 0; i < s->n_attrs; i++) {
		if (s->attr_id[i])
			dft_span_set_attr(&sp, s->attr_id[i], s->attr_val[i]);
		else
			w->r.attrs_unnamed++;
	}
	if (s->kind == DFT_REPLAY_KIND_FUNCTION) {
		dft_replay_hops_steps(t, bp, n, s, &hops);
		w->r.hops += hops.n;
		w->r.hops_cut += hops.cut;
		dft_span_set_hops(&sp, &hops);
	}
	dft_span_end_at(&sp, s->end_ns);
	w->r.spans++;
	pace(w);
}

static int emit_trace(struct worker *w, struct dft_replay_span *const *t, size_t n)
{
	if (n > w->order_cap) {
		struct dft_replay_span **o = realloc(w->order, n * sizeof(*o));
		struct dft_replay_span **b;

		if (!o)
			return -ENOMEM;
		w->order = o;
		b = realloc(w->bp, n * sizeof(*b));
		if (!b)
			return -ENOMEM;
		w->bp = b;
		w->order_cap = n;
	}
	memcpy(w->order, t, n * sizeof(*t));
	qsort(w->order, n, sizeof(*t), cmp_emit);
	memcpy(w->bp, t, n * sizeof(*t));
	dft_replay_sort_by_parent(w->bp, n);
	for (size_t i = 0; i < n; i++)
		emit(w, t, w->bp, n, w->order[i]);
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *run = w->run;
	unsigned nt = run->o->threads;

	w->pace_t0 = dft_clock_ns(CLOCK_MONOTONIC);
	for (;;) {
		pthread_barrier_wait(&run->go);
		if (run->stop)
			break;
		if (run->ev) {
			for (size_t i = 0; i < run->n; i++) {
				const struct dft_replay_emit *e = &run->ev[i];

				if (trace_owner(e->s->trace_id, nt) != w->idx)
					continue;
				wait_due(w, e->s);
				emit(w, e->t, e->bp, e->n, e->s);
			}
		}
		for (size_t i = 0, len; !run->ev && i < run->n && !w->err; i += len) {
			len = dft_replay_trace_len(run->v + i, run->n - i);
			if (trace_owner(run->v[i]->trace_id, nt) == w->idx)
				w->err = emit_trace(w, run->v + i, len);
		}
		pthread_barrier_wait(&run->done);
	}
	return NULL;
}

/* Reads up to batch_lines lines into b. Returns 1 when more may follow, 0 at EOF, -1 on a read error,
 * 2 on a malformed line under --strict. */
static int read_batch(FILE *f, const struct dft_replay_opts *o, struct dft_replay_batch *b, char **line, size_t *cap,
                      struct dft_replay_result *r)
{
	char err[512];
	unsigned k;

	for (k = 0; k < o->batch_lines && b->n < BATCH_SPANS_MAX; k++) {
		ssize_t len = getline(line, cap, f);
		int rc;

		if (len < 0 && ferror(f)) {
			fprintf(stderr, "difftrace-replay: --in %s: read error after line %" PRIu64 "\n", o->in,
			        r->lines);
			return -1;
		}
		if (len < 0)
			return 0;
		r->lines++;
		rc = dft_replay_parse_line(b, *line, (size_t)len, (unsigned long)r->lines, err, sizeof(err));
		if (rc == -ENOMEM) {
			fprintf(stderr, "difftrace-replay: %s: %s\n", o->in, err);
			return -1;
		}
		if (rc) {
			r->skipped++;
			if (r->skipped <= ERRORS_PRINTED)
				fprintf(stderr, "difftrace-replay: %s: %s\n", o->in, err);
			if (r->skipped == ERRORS_PRINTED)
				fprintf(stderr, "difftrace-replay: further malformed lines are counted only\n");
			if (o->strict)
				return 2;
		}
	}
	return 1;
}

static void add_result(struct dft_replay_result *r, const struct dft_replay_result *w)
{
	r->spans += w->spans;
	r->hops += w->hops;
	r->hops_cut += w->hops_cut;
	r->names_truncated += w->names_truncated;
	r->spans_unnamed += w->spans_unnamed;
	r->attrs_unnamed += w->attrs_unnamed;
	r->backoffs += w->backoffs;
	r->status_messages += w->status_messages;
	r->status_messages_refused += w->status_messages_refused;
	r->late += w->late;
}

static void wait_registered(unsigned ms)
{
	uint64_t end = dft_clock_ns(CLOCK_MONOTONIC) + (uint64_t)ms * 1000000ull;
	struct dft_host_stats st;

	while (!dft_stats(&st) && !st.registered && dft_clock_ns(CLOCK_MONOTONIC) < end)
		sleep_ns(10 * 1000000ull);
}

int dft_replay_run(const struct dft_replay_opts *o, struct dft_replay_result *r)
{
	struct dft_options dopts = {.size = sizeof(dopts), .name_capacity = 4096};
	struct dft_replay_batch b;
	struct run run = {.o = o};
	struct dft_replay_span **v = NULL, **bpv = NULL;
	struct dft_replay_emit *ev = NULL;
	struct worker *w = NULL;
	struct dft_host_stats st;
	size_t vcap = 0, lcap = 0;
	char *line = NULL;
	unsigned i;
	FILE *f;
	int rc = 0, more;

	memset(r, 0, sizeof(*r));
	dft_replay_batch_init(&b);
	f = strcmp(o->in, "-") ? fopen(o->in, "r") : stdin;
	if (!f) {
		fprintf(stderr, "difftrace-replay: --in %s: %s\n", o->in, strerror(errno));
		return 1;
	}
	dopts.ring_count = o->threads > 16 ? o->threads : 16;
	dopts.flags = o->no_daemon ? DFT_OPT_NO_DAEMON : 0;
	rc = dft_init(o->component, DFT_COMPONENT_PLATFORM, &dopts);
	if (rc) {
		fprintf(stderr, "difftrace-replay: dft_init: %s\n", strerror(-rc));
		rc = 1;
		goto close_in;
	}
	/* pending counts the slots of every ring together: a quarter of one ring's default size keeps
	 * every ring far from full whatever the spread between the threads */
	run.pending_limit = 4096 / 4;
	run.rate_per_thread = o->rate / o->threads;
	if (!o->no_daemon)
		wait_registered(o->connect_ms);
	w = calloc(o->threads, sizeof(*w));
	if (!w || pthread_barrier_init(&run.go, NULL, o->threads + 1)) {
		fprintf(stderr, "difftrace-replay: out of memory\n");
		rc = 1;
		goto fini;
	}
	if (pthread_barrier_init(&run.done, NULL, o->threads + 1)) {
		fprintf(stderr, "difftrace-replay: out of memory\n");
		rc = 1;
		goto destroy_go;
	}
	for (i = 0; i < o->threads; i++) {
		w[i].idx = i;
		w[i].run = &run;
		if (pthread_create(&w[i].th, NULL, worker_main, &w[i])) {
			/* the workers already started wait on a barrier sized for all of them: nothing can
			 * release them but the process ending */
			fprintf(stderr, "difftrace-replay: cannot start thread %u\n", i);
			exit(1);
		}
	}

	do {
		dft_replay_batch_reset(&b);
		more = read_batch(f, o, &b, &line, &lcap, r);
		if (more < 0) {
			rc = 1; /* the lines read before the error are still replayed */
		} else if (more == 2) {
			rc = 2;
		}
		if (!b.n)
			continue;
		dft_replay_resolve_kinds(&b, o->platform);
		intern_batch(&run.names, &b, r);
		if (b.n > vcap) {
			struct dft_replay_span **nv = realloc(v, b.n * sizeof(*nv));

			if (!nv) {
				fprintf(stderr, "difftrace-replay: out of memory\n");
				rc = 1;
				break;
			}
			v = nv;
			if (o->by_time) {
				struct dft_replay_span **nb = realloc(bpv, b.n * sizeof(*nb));
				struct dft_replay_emit *ne;

				if (nb)
					bpv = nb;
				ne = nb ? realloc(ev, b.n * sizeof(*ne)) : NULL;
				if (!ne) {
					fprintf(stderr, "difftrace-replay: out of memory\n");
					rc = 1;
					break;
				}
				ev = ne;
			}
			vcap = b.n;
		}
		for (size_t k = 0; k < b.n; k++)
			v[k] = &b.spans[k];
		dft_replay_sort_by_trace(v, b.n);
		if (o->by_time) {
			/* the same trace runs sorted by parent: a trace's slice starts at the same index in both */
			memcpy(bpv, v, b.n * sizeof(*v));
			dft_replay_sort_by_parent(bpv, b.n);
		}
		for (size_t k = 0, len; k < b.n; k += len) {
			len = dft_replay_trace_len(v + k, b.n - k);
			r->traces++;
			for (size_t j = k; o->by_time && j < k + len; j++)
				ev[j] = (struct dft_replay_emit){.s = v[j], .t = v + k, .bp = bpv + k, .n = len};
		}
		if (o->by_time) {
			dft_replay_sort_by_end(ev, b.n);
			if (!run.clock_set) {
				/* the first span due starts the clock; later batches keep it */
				run.rec0 = ev[0].s->end_ns;
				run.wall0 = dft_clock_ns(CLOCK_MONOTONIC);
				run.clock_set = true;
			}
		}
		run.ev = o->by_time ? ev : NULL;
		run.v = v;
		run.n = b.n;
		pthread_barrier_wait(&run.go);
		pthread_barrier_wait(&run.done);
		for (i = 0; i < o->threads; i++) {
			if (w[i].err) {
				fprintf(stderr, "difftrace-replay: out of memory\n");
				rc = 1;
			}
		}
	} while (more == 1 && rc == 0);

	run.stop = true;
	pthread_barrier_wait(&run.go);
	for (i = 0; i < o->threads; i++) {
		pthread_join(w[i].th, NULL);
		add_result(r, &w[i].r);
		free(w[i].order);
		free(w[i].bp);
	}
	pthread_barrier_destroy(&run.done);
	cache_free(&run.names);
destroy_go:
	pthread_barrier_destroy(&run.go);
fini:
	r->attrs_cut = b.attrs_cut;
	r->queue_clamped = b.queue_clamped;
	r->reconstructed_skipped = b.reconstructed_skipped;
	if (!dft_stats(&st)) {
		r->produced = st.produced;
		r->dropped = st.dropped_full + st.dropped_no_ring;
		r->hops_dropped = st.hops_dropped;
	}
	r->fini = dft_fini(o->fini_ms);
	free(w);
close_in:
	free(v);
	free(bpv);
	free(ev);
	free(line);
	dft_replay_batch_free(&b);
	if (f != stdin)
		fclose(f);
	return rc;
}
