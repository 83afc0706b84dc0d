/* SPDX-License-Identifier: MIT */
/*
 * Profiles of what the filter sees, keyed by (component, operation) NIC-global name ids (names.c).
 * The key table is a fixed-size open-addressing hash allocated at start; a key that does not fit
 * is counted, never allocated for.
 *
 * Each key keeps windowed histograms (dft_hist_win) of inclusive duration, self time and queue
 * time. Everything that moves a key along runs on SPAN TIME, the end times of its own spans, not on
 * the NIC's clock: a recording replayed at any speed, or spans from a host whose clock is not the
 * NIC's, meet the same windows and the same thresholds as live traffic. Thresholds are refreshed at
 * sample counts 1, 2, 4, ..., every 256 samples and once per interval of span time, not per span,
 * so the per-span cost is a hash lookup and a few histogram increments. Every component also has an
 * aggregate key (operation id 0) whose queue-time window gives the component's queue p99.
 *
 * The outlier baseline is the MEDIAN, which the anomalies it looks for cannot lift: half of a key's
 * spans would have to be slow to move it (docs/filter.md, "Latency outliers").
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "profiler.h"
#include "dft/hist.h"

struct prof_entry {
	uint32_t comp, op;   /* op 0: the component's aggregate */
	int32_t agg;         /* index of the component aggregate, -1 when it did not fit */
	int32_t wraps;       /* > 0: this key's spans usually come with children seen here */
	uint64_t kept[2], filtered[2]; /* per window half, like the histograms */
	struct dft_prof_limits lim;
	uint64_t seen, seen_half; /* samples ever, and since the last rotation */
	uint64_t now;             /* span time: the latest end time of the key's spans */
	uint64_t next_refresh, next_rotate;
	struct dft_hist_win dur, self, queue;
};

struct dft_profiler {
	struct dft_prof_cfg cfg;
	uint32_t n, hash_size;
	uint64_t full, clock_resets;
	uint64_t next_ns;
	struct prof_entry *e;
	uint32_t *hash; /* index + 1, 0 = empty */
};

int dft_profiler_create(const struct dft_prof_cfg *cfg, struct dft_profiler **out)
{
	struct dft_profiler *p;

	*out = NULL;
	if (cfg->max_keys == 0 || cfg->max_keys > (1u << 20) || cfg->interval_ns == 0 || cfg->rotate_intervals == 0 ||
	    cfg->outlier_warmup == 0 || !(cfg->outlier_multiple >= 1.0) || cfg->clock_jump_ns == 0)
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->cfg = *cfg;
	for (p->hash_size = 16; p->hash_size < 2 * cfg->max_keys; p->hash_size <<= 1)
		;
	p->e = calloc(cfg->max_keys, sizeof(*p->e));
	p->hash = calloc(p->hash_size, sizeof(*p->hash));
	if (!p->e || !p->hash) {
		dft_profiler_destroy(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

void dft_profiler_destroy(struct dft_profiler *p)
{
	if (!p)
		return;
	free(p->e);
	free(p->hash);
	free(p);
}

static int find_or_add(struct dft_profiler *p, uint32_t comp, uint32_t op)
{
	uint32_t mask = p->hash_size - 1;
	/* one multiply (Fibonacci hashing), not a byte-wise FNV: this runs for every span on the NIC */
	uint32_t h0 = (uint32_t)(((((uint64_t)comp << 32) | op) * 0x9e3779b97f4a7c15ull) >> 32);

	for (uint32_t h = h0 & mask;; h = (h + 1) & mask) {
		uint32_t v = p->hash[h];
		struct prof_entry *e;

		if (v) {
			if (p->e[v - 1].comp == comp && p->e[v - 1].op == op)
				return (int)(v - 1);
			continue;
		}
		if (p->n >= p->cfg.max_keys) {
			p->full++;
			return -ENOSPC;
		}
		e = &p->e[p->n];
		memset(e, 0, sizeof(*e));
		e->comp = comp;
		e->op = op;
		e->agg = -1;
		p->hash[h] = ++p->n;
		return (int)(p->n - 1);
	}
}

int dft_profiler_key(struct dft_profiler *p, uint32_t comp, uint32_t op)
{
	int k, agg;

	if (op == 0)
		return -EINVAL;
	k = find_or_add(p, comp, op);
	if (k < 0 || p->e[k].agg >= 0)
		return k;
	/* the aggregate is looked up only until it exists: a key keeps the index once found */
	agg = find_or_add(p, comp, 0);
	if (agg >= 0)
		p->e[k].agg = agg;
	return k;
}

void dft_profiler_limits(const struct dft_profiler *p, int key, struct dft_prof_limits *out)
{
	if (key < 0 || (uint32_t)key >= p->n) {
		memset(out, 0, sizeof(*out));
		return;
	}
	*out = p->e[key].lim;
	out->wraps = p->e[key].wraps > 0; /* live: it follows every span, not the refreshes */
	out->queue_ns = p->e[key].agg >= 0 ? p->e[p->e[key].agg].lim.queue_ns : 0;
}

static uint64_t times(double m, uint64_t v)
{
	double x = m * (double)v;

	return x >= 1.8e19 ? UINT64_MAX : (uint64_t)x;
}

/*
 * The outlier threshold of a key whose window holds n samples with median med. An outlier is a
 * span of at least outlier_multiple x the median; the threshold sits below that by what the
 * median's estimate may be off: 10% for the histogram's quantile error and the anomalies' own
 * pull (5% of slow spans move a median by a few percent), and 2/sqrt(n) for sampling, which is
 * about 1.6 standard errors of a sample median on a lognormal of sigma 1 (8 samples: 0.59 x the
 * multiple; 20: 0.62; 256: 0.8; 10000: 0.88).
 */
double dft_profiler_outlier_factor(double multiple, uint64_t n)
{
	return n ? multiple * 0.9 / (1.0 + 2.0 / sqrt((double)n)) : 0;
}

static uint64_t outlier_limit(const struct dft_profiler *p, const struct dft_hist_win *w, uint64_t *def)
{
	uint64_t n = dft_hist_win_count(w), med;

	*def = 0;
	if (n < p->cfg.outlier_warmup)
		return 0;
	med = dft_hist_win_quantile(w, 0.5);
	/* a median of 0 gives no relative threshold: "10 x nothing" would flag any span at all */
	if (!med)
		return 0;
	*def = times(p->cfg.outlier_multiple, med);
	return times(dft_profiler_outlier_factor(p->cfg.outlier_multiple, n), med);
}

/* Span times are written by hosts: a time near the top of the range must not wrap a deadline. */
static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static void refresh(struct dft_profiler *p, struct prof_entry *e)
{
	uint64_t qn = dft_hist_win_count(&e->queue), q99 = qn ? dft_hist_win_quantile(&e->queue, 0.99) : 0;

	/* a p99 of 0 gives no relative threshold: "4x nothing" would flag any queueing at all */
	e->lim.queue_ns = qn >= p->cfg.queue_min_samples && q99 ? times(p->cfg.queue_p99_multiple, q99) : 0;
	e->next_refresh = sat_add(e->now, p->cfg.interval_ns);
	if (e->op == 0)
		return;
	e->lim.self_ns = outlier_limit(p, &e->self, &e->lim.self_def_ns);
	e->lim.duration_ns = outlier_limit(p, &e->dur, &e->lim.duration_def_ns);
}

/* Move the key's span clock to end and rotate its windows when their time has come. */
static void advance(struct dft_profiler *p, struct prof_entry *e, uint64_t end)
{
	uint64_t period = p->cfg.interval_ns * p->cfg.rotate_intervals;

	if (e->now == 0 || (end < e->now && e->now - end > p->cfg.clock_jump_ns)) {
		/* the first span, or a clock that went back by more than a straggler can be late: start
		 * the key's schedule over from here (a far-future time from a lying host ends here too,
		 * with the next honest span) */
		if (e->now && e->op) /* its component's aggregate follows: count the key once */
			p->clock_resets++;
		e->now = end;
		e->next_refresh = sat_add(end, p->cfg.interval_ns);
		e->next_rotate = sat_add(end, period);
		return;
	}
	if (end > e->now)
		e->now = end;
	/* a window keeps at least min_window samples: a key seen once a minute still has a baseline */
	if (e->now >= e->next_rotate && e->seen_half >= p->cfg.min_window) {
		dft_hist_win_rotate(&e->dur);
		dft_hist_win_rotate(&e->self);
		dft_hist_win_rotate(&e->queue);
		/* the counts follow the histograms' halves */
		e->kept[e->dur.cur] = 0;
		e->filtered[e->dur.cur] = 0;
		e->seen_half = 0;
		e->next_rotate = sat_add(e->now, period);
	}
}

static bool refresh_due(const struct prof_entry *e)
{
	/* early on the median moves with every doubling of the samples; later, once per 256 or per
	 * interval of span time, whichever comes first */
	return (e->seen <= 256 && (e->seen & (e->seen - 1)) == 0) || (e->seen & 255) == 0 || e->now >= e->next_refresh;
}

void dft_profiler_observe(struct dft_profiler *p, int key, const struct dft_prof_obs *o)
{
	struct prof_entry *e;

	if (key < 0 || (uint32_t)key >= p->n)
		return;
	e = &p->e[key];
	advance(p, e, o->end_ns);
	if (o->self_known)
		e->wraps += e->wraps < 16;
	else
		e->wraps -= e->wraps > -16;
	/* spans explained by another rule (error, cold start, queueing, contention) are a different
	 * population: they would only widen the baseline the outlier rule compares against */
	if (!o->explained) {
		dft_hist_win_add(&e->dur, o->duration_ns);
		/* a span of a wrapping key whose children were not seen has no self time to add */
		if (o->self_known)
			dft_hist_win_add(&e->self, o->self_ns);
		else if (e->wraps <= 0)
			dft_hist_win_add(&e->self, o->duration_ns);
	}
	dft_hist_win_add(&e->queue, o->queue_ns);
	e->seen++;
	e->seen_half++;
	if (refresh_due(e))
		refresh(p, e);
	if (e->agg >= 0) {
		struct prof_entry *a = &p->e[e->agg];

		advance(p, a, o->end_ns);
		dft_hist_win_add(&a->queue, o->queue_ns);
		a->seen++;
		a->seen_half++;
		if (refresh_due(a))
			refresh(p, a);
	}
}

void dft_profiler_count(struct dft_profiler *p, int key, bool kept)
{
	struct prof_entry *e;

	if (key < 0 || (uint32_t)key >= p->n)
		return;
	e = &p->e[key];
	if (kept)
		e->kept[e->dur.cur]++;
	else
		e->filtered[e->dur.cur]++;
}

bool dft_profiler_tick(struct dft_profiler *p, uint64_t now_ns)
{
	if (p->next_ns == 0) {
		p->next_ns = now_ns + p->cfg.interval_ns;
		return false;
	}
	if (now_ns < p->next_ns)
		return false;
	p->next_ns += p->cfg.interval_ns;
	if (p->next_ns <= now_ns) /* far behind (stalled): do not replay the missed intervals */
		p->next_ns = now_ns + p->cfg.interval_ns;
	return true;
}

unsigned dft_profiler_snapshot(const struct dft_profiler *p, const struct dft_names *names, struct dft_prof_row *rows,
			       unsigned max)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < p->n && n < max; i++) {
		const struct prof_entry *e = &p->e[i];
		struct dft_prof_row *r = &rows[n];
		uint64_t count = dft_hist_win_count(&e->dur);

		if (e->op == 0 || count == 0)
			continue;
		r->component = dft_names_str(names, e->comp);
		r->operation = dft_names_str(names, e->op);
		r->count = count;
		r->kept = e->kept[0] + e->kept[1];
		r->filtered = e->filtered[0] + e->filtered[1];
		/* figures as of now, not the filter's last refresh: the snapshot is read by people and
		 * the collector, the thresholds by the rules */
		r->duration_p50_ns = dft_hist_win_quantile(&e->dur, 0.5);
		r->duration_p99_ns = dft_hist_win_quantile(&e->dur, 0.99);
		r->queue_p99_ns = dft_hist_win_quantile(&e->queue, 0.99);
		r->self_time_ns = dft_hist_win_count(&e->self) ? dft_hist_win_quantile(&e->self, 0.5) : r->duration_p50_ns;
		n++;
	}
	return n;
}

uint32_t dft_profiler_max_keys(const struct dft_profiler *p)
{
	return p->cfg.max_keys;
}

uint64_t dft_profiler_keys_full(const struct dft_profiler *p)
{
	return p->full;
}

uint64_t dft_profiler_clock_resets(const struct dft_profiler *p)
{
	return p->clock_resets;
}
