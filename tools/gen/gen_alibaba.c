/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dft/hash.h"
#include "gen_alibaba.h"

#define NONE UINT32_MAX

struct ali_row {
	uint32_t tr, rp, parent, um, dm, iface;
	uint32_t rank; /* last rpcid component */
	double rt;
};

struct ali_obs { /* one end of an RPC seen from an invocation */
	uint32_t tr, inv, svc;
	uint32_t role; /* 0 incoming, 1 outgoing: incoming sorts first */
	uint32_t rank;
	uint32_t rpc;
};

struct ali_call { /* an outgoing call of one invocation */
	uint32_t svc, callee, iface, inv;
	uint32_t pos;
	double rt;
};

static uint64_t ali_fnv(const char *s)
{
	return dft_fnv64(s, strlen(s), DFT_FNV64_INIT);
}

static int ali_rehash(struct dft_gen_ali_model *m, uint32_t cap)
{
	uint32_t *h = calloc(cap, sizeof(*h));

	if (!h)
		return -ENOMEM;
	for (uint32_t i = 0; i < m->n_str; i++) {
		uint32_t k = (uint32_t)ali_fnv(m->str[i]) & (cap - 1);

		while (h[k])
			k = (k + 1) & (cap - 1);
		h[k] = i + 1;
	}
	free(m->hash);
	m->hash = h;
	m->hash_cap = cap;
	return 0;
}

static int64_t ali_intern(struct dft_gen_ali_model *m, const char *s)
{
	uint32_t k;

	if (2 * (m->n_str + 1) > m->hash_cap && ali_rehash(m, m->hash_cap ? 2 * m->hash_cap : 1024))
		return -ENOMEM;
	for (k = (uint32_t)ali_fnv(s) & (m->hash_cap - 1); m->hash[k]; k = (k + 1) & (m->hash_cap - 1))
		if (strcmp(m->str[m->hash[k] - 1], s) == 0)
			return m->hash[k] - 1;
	if (m->n_str == m->cap_str) {
		uint32_t cap = m->cap_str ? 2 * m->cap_str : 1024;
		char **p = realloc(m->str, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		m->str = p;
		m->cap_str = cap;
	}
	if (!(m->str[m->n_str] = strdup(s)))
		return -ENOMEM;
	m->hash[k] = m->n_str + 1;
	return m->n_str++;
}

static int ali_cmp_u32(uint32_t a, uint32_t b)
{
	return a < b ? -1 : a > b;
}

static int ali_cmp_row(const void *pa, const void *pb)
{
	const struct ali_row *a = pa, *b = pb;
	int c;

	if ((c = ali_cmp_u32(a->tr, b->tr)) || (c = ali_cmp_u32(a->rp, b->rp)) || (c = ali_cmp_u32(a->um, b->um)) ||
	    (c = ali_cmp_u32(a->dm, b->dm)) || (c = ali_cmp_u32(a->iface, b->iface)))
		return c;
	return 0;
}

static int ali_cmp_obs(const void *pa, const void *pb)
{
	const struct ali_obs *a = pa, *b = pb;
	int c;

	if ((c = ali_cmp_u32(a->tr, b->tr)) || (c = ali_cmp_u32(a->inv, b->inv)) || (c = ali_cmp_u32(a->svc, b->svc)) ||
	    (c = ali_cmp_u32(a->role, b->role)) || (c = ali_cmp_u32(a->rank, b->rank)))
		return c;
	return ali_cmp_u32(a->rpc, b->rpc);
}

static int ali_cmp_call(const void *pa, const void *pb)
{
	const struct ali_call *a = pa, *b = pb;
	int c;

	if ((c = ali_cmp_u32(a->svc, b->svc)) || (c = ali_cmp_u32(a->callee, b->callee)) ||
	    (c = ali_cmp_u32(a->iface, b->iface)) || (c = ali_cmp_u32(a->inv, b->inv)))
		return c;
	return ali_cmp_u32(a->pos, b->pos);
}

static int ali_cmp_edge(const void *pa, const void *pb)
{
	const struct dft_gen_ali_edge *a = pa, *b = pb;

	return a->mean_rank < b->mean_rank ? -1 : a->mean_rank > b->mean_rank ? 1 : ali_cmp_u32(a->callee, b->callee);
}

/* Service index of string id s, created on first sight. */
static int64_t ali_svc(struct dft_gen_ali_model *m, uint32_t **map, uint32_t *map_cap, uint32_t s)
{
	if (s >= *map_cap) {
		uint32_t cap = *map_cap ? *map_cap : 1024, *p;

		while (cap <= s)
			cap *= 2;
		p = realloc(*map, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		for (uint32_t i = *map_cap; i < cap; i++)
			p[i] = NONE;
		*map = p;
		*map_cap = cap;
	}
	if ((*map)[s] == NONE) {
		struct dft_gen_ali_svc *v = realloc(m->svc, (m->n_svc + 1) * sizeof(*v));

		if (!v)
			return -ENOMEM;
		m->svc = v;
		memset(&v[m->n_svc], 0, sizeof(v[0]));
		v[m->n_svc].name = s;
		v[m->n_svc].iface = NONE;
		(*map)[s] = m->n_svc++;
	}
	return (*map)[s];
}

static int ali_read(struct dft_gen_csv *c, struct dft_gen_ali_model *m, struct ali_row **rows_out, size_t *n_out)
{
	struct dft_gen_csv_row r;
	struct ali_row *rows = NULL;
	size_t n = 0, cap = 0;
	int rc;

	while ((rc = dft_gen_csv_next(c, &r)) == 1) {
		char *dot = strrchr(r.rpcid, '.');
		int64_t tr, rp, parent, um, dm, iface;

		if (n == cap) {
			struct ali_row *p;

			cap = cap ? 2 * cap : 4096;
			p = realloc(rows, cap * sizeof(*p));
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			rows = p;
		}
		tr = ali_intern(m, r.traceid);
		rp = ali_intern(m, r.rpcid);
		um = ali_intern(m, r.um);
		dm = ali_intern(m, r.dm);
		iface = ali_intern(m, r.interface);
		rows[n].rank = (uint32_t)strtoul(dot ? dot + 1 : r.rpcid, NULL, 10);
		if (dot)
			*dot = 0;
		else
			r.rpcid[0] = 0; /* the root call's caller is invocation "" */
		parent = ali_intern(m, r.rpcid);
		if (tr < 0 || rp < 0 || um < 0 || dm < 0 || iface < 0 || parent < 0) {
			rc = -ENOMEM;
			break;
		}
		rows[n].tr = (uint32_t)tr;
		rows[n].rp = (uint32_t)rp;
		rows[n].parent = (uint32_t)parent;
		rows[n].um = (uint32_t)um;
		rows[n].dm = (uint32_t)dm;
		rows[n].iface = (uint32_t)iface;
		rows[n].rt = r.rt;
		n++;
	}
	if (rc < 0) {
		free(rows);
		return rc;
	}
	m->rows = n;
	*rows_out = rows;
	*n_out = n;
	return 0;
}

/* Merges the caller's and the callee's rows of each RPC; rt is the caller's when it has one. */
static size_t ali_dedup(struct ali_row *rows, size_t n)
{
	size_t out = 0;

	qsort(rows, n, sizeof(*rows), ali_cmp_row);
	for (size_t i = 0; i < n;) {
		size_t j = i;
		double rt = -1;

		for (; j < n && ali_cmp_row(&rows[i], &rows[j]) == 0; j++)
			if (rows[j].rt >= 0 && rt < 0)
				rt = rows[j].rt;
		if (rt < 0)
			rt = fabs(rows[i].rt);
		rows[out] = rows[i];
		rows[out].rt = rt;
		out++;
		i = j;
	}
	return out;
}

static int ali_aggregate(struct dft_gen_ali_model *m, const struct ali_row *rpc, size_t n_rpc, uint32_t **map,
                         uint32_t *map_cap)
{
	struct ali_obs *obs = malloc((2 * n_rpc + 1) * sizeof(*obs));
	struct ali_call *calls = malloc((n_rpc + 1) * sizeof(*calls));
	size_t n_obs = 0, n_calls = 0;
	uint32_t inv_serial = 0, last_tr = NONE;
	int rc = -ENOMEM;

	if (!obs || !calls)
		goto free_obs;
	for (size_t i = 0; i < n_rpc; i++) {
		int64_t um = ali_svc(m, map, map_cap, rpc[i].um), dm = ali_svc(m, map, map_cap, rpc[i].dm);

		if (um < 0 || dm < 0)
			goto free_obs;
		obs[n_obs++] = (struct ali_obs){rpc[i].tr, rpc[i].parent, (uint32_t)um, 1, rpc[i].rank, (uint32_t)i};
		obs[n_obs++] = (struct ali_obs){rpc[i].tr, rpc[i].rp, (uint32_t)dm, 0, 0, (uint32_t)i};
	}
	qsort(obs, n_obs, sizeof(*obs), ali_cmp_obs);
	for (size_t i = 0; i < n_obs;) {
		struct dft_gen_ali_svc *v = &m->svc[obs[i].svc];
		size_t j = i;
		uint32_t pos = 0;
		int incoming = 0;

		if (obs[i].tr != last_tr) {
			m->traces++;
			last_tr = obs[i].tr;
		}
		for (; j < n_obs && obs[j].tr == obs[i].tr && obs[j].inv == obs[i].inv && obs[j].svc == obs[i].svc;
		     j++) {
			const struct ali_row *r = &rpc[obs[j].rpc];

			if (obs[j].role == 0) {
				if (!incoming)
					dft_gen_hist_add(&v->rt_in, r->rt);
				incoming = 1;
				if (v->iface == NONE)
					v->iface = r->iface;
			} else {
				calls[n_calls++] = (struct ali_call){
				    obs[i].svc, m->svc ? (*map)[r->dm] : 0, r->iface, inv_serial, pos++, r->rt};
			}
		}
		v->invocations++;
		m->invocations++;
		if (!incoming)
			v->roots++;
		inv_serial++;
		i = j;
	}
	/* per (service, callee, interface): invocations with it, calls, mean position, rt */
	qsort(calls, n_calls, sizeof(*calls), ali_cmp_call);
	m->edge = calloc(n_calls + 1, sizeof(*m->edge));
	if (!m->edge)
		goto free_obs;
	for (size_t i = 0; i < n_calls;) {
		struct dft_gen_ali_edge *e = &m->edge[m->n_edge];
		double rank = 0;
		size_t j = i;

		e->callee = calls[i].callee;
		e->iface = calls[i].iface;
		for (; j < n_calls && calls[j].svc == calls[i].svc && calls[j].callee == calls[i].callee &&
		       calls[j].iface == calls[i].iface;
		     j++) {
			if (j == i || calls[j].inv != calls[j - 1].inv)
				e->inv_with++;
			e->calls++;
			rank += calls[j].pos;
			dft_gen_hist_add(&e->rt, calls[j].rt);
		}
		e->prob = (double)e->inv_with / (double)m->svc[calls[i].svc].invocations;
		e->mult = (double)e->calls / (double)e->inv_with;
		e->mean_rank = rank / (double)e->calls;
		/* edges of one service are contiguous (sorted by service) */
		if (m->svc[calls[i].svc].n_edges++ == 0)
			m->svc[calls[i].svc].first_edge = m->n_edge;
		m->n_edge++;
		i = j;
	}
	for (uint32_t s = 0; s < m->n_svc; s++)
		qsort(m->edge + m->svc[s].first_edge, m->svc[s].n_edges, sizeof(*m->edge), ali_cmp_edge);
	rc = 0;
free_obs:
	free(calls);
	free(obs);
	return rc;
}

int dft_gen_ali_learn(struct dft_gen_csv *c, struct dft_gen_ali_model *m)
{
	struct ali_row *rows = NULL;
	uint32_t *map = NULL, map_cap = 0;
	size_t n = 0;
	int rc;

	memset(m, 0, sizeof(*m));
	rc = ali_read(c, m, &rows, &n);
	if (rc)
		goto free_model;
	n = ali_dedup(rows, n);
	m->rpcs = n;
	rc = ali_aggregate(m, rows, n, &map, &map_cap);
	free(rows);
	free(map);
	if (rc)
		goto free_model;
	return 0;

free_model:
	dft_gen_ali_free(m);
	return rc;
}

void dft_gen_ali_free(struct dft_gen_ali_model *m)
{
	for (uint32_t i = 0; i < m->n_str; i++)
		free(m->str[i]);
	free(m->str);
	free(m->hash);
	free(m->svc);
	free(m->edge);
	memset(m, 0, sizeof(*m));
}

const char *dft_gen_ali_str(const struct dft_gen_ali_model *m, uint32_t id)
{
	return id < m->n_str ? m->str[id] : "";
}

int dft_gen_ali_service(const struct dft_gen_ali_model *m, const char *name)
{
	for (uint32_t s = 0; s < m->n_svc; s++)
		if (strcmp(m->str[m->svc[s].name], name) == 0)
			return (int)s;
	return -1;
}

const struct dft_gen_ali_edge *dft_gen_ali_edge(const struct dft_gen_ali_model *m, int service, const char *callee,
                                                const char *iface)
{
	if (service < 0 || (uint32_t)service >= m->n_svc)
		return NULL;
	for (uint32_t k = 0; k < m->svc[service].n_edges; k++) {
		const struct dft_gen_ali_edge *e = &m->edge[m->svc[service].first_edge + k];

		if (strcmp(m->str[m->svc[e->callee].name], callee) == 0 &&
		    (!iface || strcmp(m->str[e->iface], iface) == 0))
			return e;
	}
	return NULL;
}

int dft_gen_ali_to_model(const struct dft_gen_ali_model *a, struct dft_gen_model *out)
{
	int rc = 0;

	memset(out, 0, sizeof(*out));
	for (uint32_t s = 0; s < a->n_svc && rc >= 0; s++) {
		const struct dft_gen_ali_svc *v = &a->svc[s];
		double median = v->rt_in.count ? dft_gen_hist_quantile(&v->rt_in, 0.5) * 1e6 : 1e6;

		rc = dft_gen_model_add_fn(out, a->str[v->name], v->iface == NONE ? "handle" : a->str[v->iface], median,
		                          0.3);
		if (rc >= 0)
			out->fn[s].rt = v->rt_in.count ? &v->rt_in : NULL;
	}
	for (uint32_t s = 0; s < a->n_svc && rc >= 0; s++)
		for (uint32_t k = 0; k < a->svc[s].n_edges && rc >= 0; k++) {
			const struct dft_gen_ali_edge *e = &a->edge[a->svc[s].first_edge + k];

			rc = dft_gen_model_add_call(out, s, e->callee, k, e->prob, e->mult, &e->rt);
		}
	for (uint32_t s = 0; s < a->n_svc && rc >= 0; s++)
		if (a->svc[s].roots)
			rc = dft_gen_model_add_entry(out, s, (double)a->svc[s].roots);
	if (rc < 0) {
		dft_gen_model_free(out);
		return rc;
	}
	if (out->n_entry == 0) {
		dft_gen_model_free(out);
		return -ENOENT;
	}
	return 0;
}
