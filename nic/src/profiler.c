/* SPDX-License-Identifier: MIT */
/*
 * Profiles of what the filter sees, keyed by NAME: the same component runs in many processes whose
 * regions number their names differently, so region-local ids are mapped onto one NIC-global name
 * table first. Both tables are fixed-size open-addressing hashes allocated at start; a name or key
 * that does not fit is counted, never allocated for.
 *
 * Each key keeps windowed histograms (dft_hist_win) of duration and queue time. Thresholds are
 * recomputed once per interval, not per span, so the per-span cost is a hash lookup and two
 * histogram increments. Every component also has an aggregate key (operation id 0) whose queue-time
 * window gives the component's queue p99.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nic.h"
#include "dft/hist.h"

#define STR_LEN (DFT_NAME_MAX + 1)

struct dft_names {
	uint32_t cap, n, hash_size;
	uint64_t full;
	char *arena;     /* cap * STR_LEN, id N at N-1 */
	uint32_t *hash;  /* id, 0 = empty */
};

static uint32_t fnv(const void *p, size_t n, uint32_t h)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

int dft_names_create(uint32_t cap, struct dft_names **out)
{
	struct dft_names *n;

	*out = NULL;
	if (cap == 0 || cap > (1u << 24))
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->cap = cap;
	for (n->hash_size = 16; n->hash_size < 2 * cap; n->hash_size <<= 1)
		;
	n->arena = calloc(cap, STR_LEN);
	n->hash = calloc(n->hash_size, sizeof(*n->hash));
	if (!n->arena || !n->hash) {
		dft_names_destroy(n);
		return -ENOMEM;
	}
	*out = n;
	return 0;
}

void dft_names_destroy(struct dft_names *n)
{
	if (!n)
		return;
	free(n->arena);
	free(n->hash);
	free(n);
}

uint32_t dft_names_intern(struct dft_names *n, const char *s)
{
	size_t len = strnlen(s, DFT_NAME_MAX);
	uint32_t mask = n->hash_size - 1;

	for (uint32_t h = fnv(s, len, 2166136261u) & mask;; h = (h + 1) & mask) {
		uint32_t id = n->hash[h];
		char *dst;

		if (id) {
			const char *e = n->arena + (size_t)(id - 1) * STR_LEN;

			if (!strncmp(e, s, len) && e[len] == 0)
				return id;
			continue;
		}
		if (n->n >= n->cap) {
			n->full++;
			return 0;
		}
		dst = n->arena + (size_t)n->n * STR_LEN;
		memcpy(dst, s, len);
		dst[len] = 0;
		n->hash[h] = ++n->n;
		return n->n;
	}
}

const char *dft_names_str(const struct dft_names *n, uint32_t id)
{
	if (!n || id == 0 || id > n->n)
		return "";
	return n->arena + (size_t)(id - 1) * STR_LEN;
}

uint32_t dft_names_count(const struct dft_names *n)
{
	return n->n;
}

uint64_t dft_names_full(const struct dft_names *n)
{
	return n->full;
}

/* ---- profiler */

struct prof_entry {
	uint32_t comp, op;   /* op 0: the component's aggregate */
	int32_t agg;         /* index of the component aggregate, -1 when it did not fit */
	uint64_t kept[2], filtered[2]; /* per window half, like the histograms */
	struct dft_prof_limits lim;
	uint64_t p50, p99, q99;
	struct dft_hist_win dur, queue;
};

struct dft_profiler {
	struct dft_prof_cfg cfg;
	uint32_t n, hash_size;
	uint64_t full;
	uint64_t next_ns;
	uint32_t intervals;
	struct prof_entry *e;
	uint32_t *hash; /* index + 1, 0 = empty */
};

void dft_prof_cfg_defaults(struct dft_prof_cfg *c)
{
	c->interval_ns = 1000000000ull;
	c->rotate_intervals = 10;
	c->max_keys = 1024;
	c->outlier_warmup = 200;
	c->outlier_p99_multiple = 3.0;
	c->queue_min_samples = 200;
	c->queue_p99_multiple = 4.0;
}

int dft_profiler_create(const struct dft_prof_cfg *cfg, struct dft_profiler **out)
{
	struct dft_profiler *p;

	*out = NULL;
	if (cfg->max_keys == 0 || cfg->max_keys > (1u << 20) || cfg->interval_ns == 0 || cfg->rotate_intervals == 0)
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
	out->duration_ns = 0;
	out->queue_ns = 0;
	if (key < 0 || (uint32_t)key >= p->n)
		return;
	out->duration_ns = p->e[key].lim.duration_ns;
	if (p->e[key].agg >= 0)
		out->queue_ns = p->e[p->e[key].agg].lim.queue_ns;
}

void dft_profiler_observe(struct dft_profiler *p, int key, uint64_t duration_ns, uint64_t queue_ns)
{
	struct prof_entry *e;

	if (key < 0 || (uint32_t)key >= p->n)
		return;
	e = &p->e[key];
	dft_hist_win_add(&e->dur, duration_ns);
	dft_hist_win_add(&e->queue, queue_ns);
	if (e->agg >= 0)
		dft_hist_win_add(&p->e[e->agg].queue, queue_ns);
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

static uint64_t times(double m, uint64_t v)
{
	double x = m * (double)v;

	return x >= 1.8e19 ? UINT64_MAX : (uint64_t)x;
}

static void recompute(struct dft_profiler *p)
{
	for (uint32_t i = 0; i < p->n; i++) {
		struct prof_entry *e = &p->e[i];
		uint64_t qn = dft_hist_win_count(&e->queue);

		e->q99 = qn ? dft_hist_win_quantile(&e->queue, 0.99) : 0;
		/* a p99 of 0 gives no relative threshold: "4x nothing" would flag any queueing at all */
		e->lim.queue_ns = qn >= p->cfg.queue_min_samples && e->q99 ? times(p->cfg.queue_p99_multiple, e->q99) : 0;
		if (e->op == 0)
			continue;
		e->p50 = dft_hist_win_quantile(&e->dur, 0.5);
		e->p99 = dft_hist_win_quantile(&e->dur, 0.99);
		e->lim.duration_ns = dft_hist_win_count(&e->dur) >= p->cfg.outlier_warmup && e->p99
					     ? times(p->cfg.outlier_p99_multiple, e->p99)
					     : 0;
	}
}

static void rotate(struct dft_profiler *p)
{
	for (uint32_t i = 0; i < p->n; i++) {
		struct prof_entry *e = &p->e[i];

		dft_hist_win_rotate(&e->dur);
		dft_hist_win_rotate(&e->queue);
		/* the counts follow the histograms' halves */
		e->kept[e->dur.cur] = 0;
		e->filtered[e->dur.cur] = 0;
	}
}

bool dft_profiler_tick(struct dft_profiler *p, uint64_t now_ns)
{
	if (p->next_ns == 0) {
		p->next_ns = now_ns + p->cfg.interval_ns;
		return false;
	}
	if (now_ns < p->next_ns)
		return false;
	recompute(p);
	if (++p->intervals % p->cfg.rotate_intervals == 0)
		rotate(p);
	p->next_ns += p->cfg.interval_ns;
	if (p->next_ns <= now_ns) /* far behind (stalled): do not replay the missed intervals */
		p->next_ns = now_ns + p->cfg.interval_ns;
	return true;
}

void dft_profiler_recompute(struct dft_profiler *p)
{
	recompute(p);
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
		r->duration_p50_ns = e->p50;
		r->duration_p99_ns = e->p99;
		r->queue_p99_ns = e->q99;
		r->self_time_ns = e->p50; /* no child subtraction yet: the collector treats it as an estimate */
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
