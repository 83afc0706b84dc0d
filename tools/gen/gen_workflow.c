/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_workflow.h"

#define MS 1000000.0

static int dft_gen_grow(void **p, uint32_t *cap, uint32_t need, size_t elem)
{
	uint32_t n = *cap ? *cap : 16;
	void *q;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	q = realloc(*p, (size_t)n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static void dft_gen_copy_name(char dst[DFT_GEN_NAME_LEN + 1], const char *src)
{
	/* names longer than a hop can carry are cut here, once, rather than failing every request */
	snprintf(dst, DFT_GEN_NAME_LEN + 1, "%s", src);
}

int dft_gen_model_add_fn(struct dft_gen_model *m, const char *name, const char *op, double median_ns, double sigma)
{
	struct dft_gen_fn *f;

	if (dft_gen_grow((void **)&m->fn, &m->cap_fn, m->n_fn + 1, sizeof(*m->fn)))
		return -ENOMEM;
	f = &m->fn[m->n_fn];
	memset(f, 0, sizeof(*f));
	dft_gen_copy_name(f->name, name);
	dft_gen_copy_name(f->op, op && *op ? op : "handle");
	f->median_ns = median_ns;
	f->sigma = sigma;
	f->first_call = m->n_call;
	return (int)m->n_fn++;
}

int dft_gen_model_add_call(struct dft_gen_model *m, uint32_t caller, uint32_t callee, uint32_t group, double prob,
                           double mult, const struct dft_gen_hist *rt)
{
	struct dft_gen_fn *f = &m->fn[caller];

	if (dft_gen_grow((void **)&m->call, &m->cap_call, m->n_call + 1, sizeof(*m->call)))
		return -ENOMEM;
	if (f->n_calls == 0)
		f->first_call = m->n_call;
	m->call[m->n_call] = (struct dft_gen_call){
	    .callee = callee, .group = group, .prob = prob, .mult = mult < 1 ? 1 : mult, .rt = rt};
	f->n_calls++;
	return (int)m->n_call++;
}

int dft_gen_model_add_entry(struct dft_gen_model *m, uint32_t fn, double weight)
{
	if (dft_gen_grow((void **)&m->entry, &m->cap_entry, m->n_entry + 1, sizeof(*m->entry)))
		return -ENOMEM;
	m->entry[m->n_entry] = (struct dft_gen_entry){.fn = fn, .weight = weight};
	return (int)m->n_entry++;
}

void dft_gen_model_free(struct dft_gen_model *m)
{
	free(m->fn);
	free(m->call);
	free(m->entry);
	free(m->owned_hist);
	memset(m, 0, sizeof(*m));
}

#define TRY(x)                                                                                                         \
	do {                                                                                                           \
		if ((x) < 0)                                                                                           \
			return -ENOMEM;                                                                                \
	} while (0)

static int dft_gen_builtin_chain(struct dft_gen_model *m)
{
	int a = dft_gen_model_add_fn(m, "chain-a", "handle", 2 * MS, 0.35);
	int b = dft_gen_model_add_fn(m, "chain-b", "handle", 5 * MS, 0.35);
	int c = dft_gen_model_add_fn(m, "chain-c", "handle", 3 * MS, 0.35);

	TRY(a);
	TRY(b);
	TRY(c);
	TRY(dft_gen_model_add_call(m, (uint32_t)a, (uint32_t)b, 0, 1, 1, NULL));
	TRY(dft_gen_model_add_call(m, (uint32_t)b, (uint32_t)c, 0, 1, 1, NULL));
	return dft_gen_model_add_entry(m, (uint32_t)a, 1);
}

static int dft_gen_builtin_fan(struct dft_gen_model *m)
{
	int s = dft_gen_model_add_fn(m, "fan-split", "split", 1 * MS, 0.3);
	int w = dft_gen_model_add_fn(m, "fan-worker", "work", 8 * MS, 0.4);
	int j = dft_gen_model_add_fn(m, "fan-merge", "merge", 2 * MS, 0.3);

	TRY(s);
	TRY(w);
	TRY(j);
	for (int i = 0; i < 3; i++)
		TRY(dft_gen_model_add_call(m, (uint32_t)s, (uint32_t)w, 0, 1, 1, NULL));
	TRY(dft_gen_model_add_call(m, (uint32_t)s, (uint32_t)j, 1, 1, 1, NULL));
	return dft_gen_model_add_entry(m, (uint32_t)s, 1);
}

static int dft_gen_builtin_single(struct dft_gen_model *m)
{
	int f = dft_gen_model_add_fn(m, "single-fn", "handle", 4 * MS, 0.4);

	TRY(f);
	return dft_gen_model_add_entry(m, (uint32_t)f, 1);
}

/* A random tree of up to 3 levels: functions added level by level so each one's calls stay together. */
static int dft_gen_random_workflow(struct dft_gen_model *m, unsigned k, struct dft_gen_rng *r)
{
	uint32_t level[16], next[16], n_level = 1, n_next, serial = 0;
	char name[DFT_GEN_NAME_LEN + 1];
	int f;

	snprintf(name, sizeof(name), "wf%u-f%u", k, serial++);
	f = dft_gen_model_add_fn(m, name, "handle", (0.5 + 9.5 * dft_gen_unit(r)) * MS, 0.3 + 0.2 * dft_gen_unit(r));
	TRY(f);
	TRY(dft_gen_model_add_entry(m, (uint32_t)f, 1));
	level[0] = (uint32_t)f;
	for (unsigned depth = 0; depth < 2; depth++) {
		n_next = 0;
		for (uint32_t i = 0; i < n_level; i++) {
			unsigned want = (unsigned)dft_gen_below(r, depth ? 3 : 4), kids = 0, group = 0;
			uint32_t callee[3];

			/* create the callees first: the caller's calls must be added in one run */
			for (unsigned c = 0; c < want && n_next < 16; c++, kids++) {
				snprintf(name, sizeof(name), "wf%u-f%u", k, serial++);
				f = dft_gen_model_add_fn(m, name, "handle", (0.5 + 9.5 * dft_gen_unit(r)) * MS,
				                         0.3 + 0.2 * dft_gen_unit(r));
				TRY(f);
				callee[c] = next[n_next++] = (uint32_t)f;
			}
			for (unsigned c = 0; c < kids; c++) {
				double prob = dft_gen_chance(r, 0.25) ? 0.5 + 0.5 * dft_gen_unit(r) : 1.0;

				TRY(dft_gen_model_add_call(m, level[i], callee[c], group, prob, 1, NULL));
				if (dft_gen_chance(r, 0.5))
					group++; /* sequential after this one; else parallel with the next */
			}
		}
		memcpy(level, next, n_next * sizeof(next[0]));
		n_level = n_next;
	}
	return 0;
}

int dft_gen_model_builtin(struct dft_gen_model *m, unsigned workflows, uint64_t seed)
{
	int (*const builtin[])(struct dft_gen_model *) = {dft_gen_builtin_chain, dft_gen_builtin_fan,
	                                                  dft_gen_builtin_single};
	struct dft_gen_rng r;
	int rc = 0;

	if (workflows == 0)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	dft_gen_rng_seed(&r, seed, 0x776f726b666c6f77ull);
	for (unsigned k = 0; k < workflows && rc >= 0; k++)
		rc = k < 3 ? builtin[k](m) : dft_gen_random_workflow(m, k, &r);
	if (rc < 0) {
		dft_gen_model_free(m);
		return rc;
	}
	return 0;
}
