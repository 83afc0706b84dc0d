/* SPDX-License-Identifier: MIT */
/*
 * The rebuild of filtered platform spans (see rebuild.h; docs/filter.md has the rules in prose).
 *
 * Per trace: every stored span goes into a table by span id with its interval. The function spans
 * with hops are taken in (start, span id) order; each one's hop list is a chain. A hop whose span
 * is in the table (reported, or rebuilt from an earlier chain) is not rebuilt; the others are,
 * and go into the table, so a later chain measures against them as it would against stored spans.
 *
 * Ends, innermost first. The hops on the path to the function: the part of the hop's median that
 * its child on the path does not account for, less what the hop spent before that child started
 * (known exactly), comes after the child's end. Hops off the path (a component's step spans):
 * start plus their median, or, when the next sibling started within [median / 2, 2 x median] of
 * this one, that start (a proxy runs its steps one after the other). Never earlier than a child's
 * end (a stored child's real end) or the hop's own start.
 *
 * Then each rebuilt span is fitted into its parent, outermost first: the parent's interval is the
 * one just fitted when the parent is rebuilt in the same chain, else the table's; start and end are
 * clamped into it. A parent that is nowhere leaves the estimate as it is.
 *
 * Profiles are asked for at the function span's end plus DFT_RB_LAG_NS, never "the latest": a
 * profile stored tomorrow does not change today's trace.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dft/hash.h"
#include "dft/hops.h"
#include "rebuild.h"

#define SPAN_KIND_INTERNAL 1u
#define SPAN_KIND_SERVER   2u

struct ent {
	uint64_t span_id; /* 0: free */
	uint64_t start_ns, end_ns;
};

struct table {
	struct ent *e;
	uint32_t mask;
};

static struct ent *slot(const struct table *t, uint64_t id)
{
	for (uint32_t i = dft_mix64(id) & t->mask;; i = (i + 1) & t->mask)
		if (t->e[i].span_id == 0 || t->e[i].span_id == id)
			return &t->e[i];
}

static const struct ent *lookup(const struct table *t, uint64_t id)
{
	const struct ent *e = id ? slot(t, id) : NULL;

	return e && e->span_id ? e : NULL;
}

/* The first one stays: a duplicate stored row does not move an interval. */
static void insert(struct table *t, uint64_t id, uint64_t start, uint64_t end)
{
	struct ent *e;

	if (!id)
		return;
	e = slot(t, id);
	if (e->span_id)
		return;
	*e = (struct ent){id, start, end};
}

void dft_rb_out_free(struct dft_rb_out *o)
{
	free(o->sp);
	o->sp = NULL;
	o->n = o->cap = 0;
}

int dft_rb_hops_decode(const void *blob, size_t len, struct dft_rb_hop *h, uint32_t max, uint32_t *n)
{
	const uint8_t *p = blob;

	*n = 0;
	if (len % DFT_RB_HOP_BYTES || len / DFT_RB_HOP_BYTES > max)
		return -EINVAL;
	for (size_t k = 0; k < len / DFT_RB_HOP_BYTES; k++, p += DFT_RB_HOP_BYTES) {
		uint64_t v[3] = {0, 0, 0};
		uint32_t hash = 0;

		for (int f = 0; f < 3; f++)
			for (int b = 7; b >= 0; b--)
				v[f] = v[f] << 8 | p[8 * f + b];
		for (int b = 3; b >= 0; b--)
			hash = hash << 8 | p[24 + b];
		h[k] =
		    (struct dft_rb_hop){.span_id = v[0], .parent_span_id = v[1], .start_ns = v[2], .name_hash = hash};
	}
	*n = (uint32_t)(len / DFT_RB_HOP_BYTES);
	return 0;
}

void dft_rb_hops_encode(const struct dft_rb_hop *h, uint32_t n, uint8_t *out)
{
	for (uint32_t k = 0; k < n; k++, out += DFT_RB_HOP_BYTES) {
		const uint64_t v[3] = {h[k].span_id, h[k].parent_span_id, h[k].start_ns};

		for (int f = 0; f < 3; f++)
			for (int b = 0; b < 8; b++)
				out[8 * f + b] = (uint8_t)(v[f] >> (8 * b));
		for (int b = 0; b < 4; b++)
			out[24 + b] = (uint8_t)(h[k].name_hash >> (8 * b));
	}
}

/* One function span's hops, as the rules below see them. */
struct chain {
	const struct dft_rb_span *fn;
	const struct dft_rb_hop *hops;
	uint32_t n;
};

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

/* The earliest start after hop k's own among its siblings (hops, or the function); 0: none. */
static uint64_t next_sibling_start(const struct chain *c, uint32_t k)
{
	const struct dft_rb_hop *h = &c->hops[k];
	uint64_t best = 0;

	for (uint32_t j = 0; j < c->n; j++) {
		const struct dft_rb_hop *o = &c->hops[j];

		if (j != k && o->parent_span_id == h->parent_span_id && o->start_ns > h->start_ns &&
		    (!best || o->start_ns < best))
			best = o->start_ns;
	}
	if (c->fn->parent_span_id == h->parent_span_id && c->fn->start_ns > h->start_ns &&
	    (!best || c->fn->start_ns < best))
		best = c->fn->start_ns;
	return best;
}

/* True when hop k forwarded the request: some hop, or the function, is its child. */
static bool forwards(const struct chain *c, uint32_t k)
{
	if (c->fn->parent_span_id == c->hops[k].span_id)
		return true;
	for (uint32_t j = 0; j < c->n; j++)
		if (j != k && c->hops[j].parent_span_id == c->hops[k].span_id)
			return true;
	return false;
}

/* p50[k]: hop k's median (0: no profile); stored[k]: ends[k] holds its stored end on entry. */
static void estimate_ends(const struct chain *c, const uint64_t *p50, uint64_t fn_p50, const bool *stored,
                          uint64_t *ends)
{
	bool on_path[DFT_RB_HOPS_MAX] = {false};
	uint64_t want = c->fn->parent_span_id;

	/* the path: the function's parent, its parent, ... among the hops (newest first) */
	for (uint32_t k = c->n; k-- > 0;) {
		if (want && c->hops[k].span_id == want) {
			on_path[k] = true;
			want = c->hops[k].parent_span_id;
		}
	}
	for (uint32_t k = c->n; k-- > 0;) {
		const struct dft_rb_hop *h = &c->hops[k];
		uint64_t end = h->start_ns;

		if (stored[k])
			continue;
		if (on_path[k]) {
			/* the child on the path: the function, or the one on-path hop whose parent this is */
			uint64_t child_start = c->fn->start_ns, child_end = c->fn->end_ns, child_p50 = fn_p50;

			if (c->fn->parent_span_id != h->span_id) {
				for (uint32_t j = k + 1; j < c->n; j++) {
					if (on_path[j] && c->hops[j].parent_span_id == h->span_id) {
						child_start = c->hops[j].start_ns;
						child_end = ends[j];
						child_p50 = p50[j];
						break;
					}
				}
			}
			end = child_end;
			if (p50[k] && child_p50 && p50[k] > child_p50) {
				uint64_t self = p50[k] - child_p50;
				uint64_t before = child_start > h->start_ns ? child_start - h->start_ns : 0;

				if (self > before)
					end = add_sat(child_end, self - before);
			}
		} else if (p50[k]) {
			uint64_t next = next_sibling_start(c, k);

			end = add_sat(h->start_ns, p50[k]);
			/* steps run one after another: the next one began when this one ended, when that
			 * is a plausible duration for it (parallel steps start together and fail the test) */
			if (next && next - h->start_ns >= p50[k] / 2 && (next - h->start_ns) / 2 <= p50[k])
				end = next; /* halved, not p50 doubled: a sender's figure cannot overflow it */
		}
		for (uint32_t j = k + 1; j < c->n; j++)
			if (c->hops[j].parent_span_id == h->span_id && ends[j] > end)
				end = ends[j];
		/* a hop starting after its estimated end can only be clock skew between hosts */
		ends[k] = end < h->start_ns ? h->start_ns : end;
	}
}

/* Clamp the rebuilt hops' intervals into their parents', outermost first. */
static void fit_into_parents(const struct table *t, const struct chain *c, const bool *build, uint64_t *starts,
                             uint64_t *ends)
{
	for (uint32_t k = 0; k < c->n; k++) {
		const struct dft_rb_hop *h = &c->hops[k];
		uint64_t ps = 0, pe = 0;
		bool found = false;

		if (!build[k] || h->parent_span_id == 0)
			continue;
		for (uint32_t j = 0; j < c->n && !found; j++) {
			if (j != k && build[j] && c->hops[j].span_id == h->parent_span_id) {
				ps = starts[j];
				pe = ends[j];
				found = true;
			}
		}
		if (!found) {
			const struct ent *e = lookup(t, h->parent_span_id);

			if (e) {
				ps = e->start_ns;
				pe = e->end_ns;
				found = true;
			}
		}
		if (!found || pe < ps)
			continue; /* the parent is nowhere: nothing to fit into */
		if (starts[k] < ps)
			starts[k] = ps;
		if (starts[k] > pe)
			starts[k] = pe;
		if (ends[k] > pe)
			ends[k] = pe;
		if (ends[k] < starts[k])
			ends[k] = starts[k];
	}
}

static bool seen_before(const struct chain *c, uint32_t k)
{
	for (uint32_t j = 0; j < k; j++)
		if (c->hops[j].span_id == c->hops[k].span_id)
			return true;
	return false;
}

static int out_push(struct dft_rb_out *o, struct dft_rb_out_span **sp)
{
	if (o->n == o->cap) {
		uint32_t ncap = o->cap ? 2 * o->cap : 32;
		struct dft_rb_out_span *ns = realloc(o->sp, ncap * sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		o->sp = ns;
		o->cap = ncap;
	}
	*sp = &o->sp[o->n++];
	memset(*sp, 0, sizeof(**sp));
	return 0;
}

static int rebuild_chain(const struct dft_rb_src *src, struct table *t, const struct chain *c, uint32_t limit,
                         struct dft_rb_out *out)
{
	uint64_t starts[DFT_RB_HOPS_MAX], ends[DFT_RB_HOPS_MAX], p50[DFT_RB_HOPS_MAX], fn_p50 = 0;
	bool build[DFT_RB_HOPS_MAX], stored[DFT_RB_HOPS_MAX], known[DFT_RB_HOPS_MAX];
	uint64_t at = add_sat(c->fn->end_ns, DFT_RB_LAG_NS);
	struct dft_rb_prof *prof;
	uint32_t nbuild = 0, first = out->n;
	int rc = 0;

	for (uint32_t k = 0; k < c->n; k++) {
		const struct ent *e = lookup(t, c->hops[k].span_id);

		starts[k] = c->hops[k].start_ns;
		ends[k] = 0;
		stored[k] = e != NULL;
		build[k] = !e && c->hops[k].span_id && !seen_before(c, k);
		nbuild += build[k];
		if (e)
			ends[k] = e->end_ns > e->start_ns ? e->end_ns : e->start_ns;
	}
	if (!nbuild)
		return 0;
	if (out->n + nbuild > limit)
		return -E2BIG;
	prof = malloc((c->n + 1) * sizeof(*prof));
	if (!prof)
		return -ENOMEM;
	for (uint32_t k = 0; k < c->n; k++) {
		rc = src->profile(src->arg, c->hops[k].name_hash, at, &prof[k]);
		if (rc < 0)
			goto free_prof;
		known[k] = rc == 1;
		p50[k] = known[k] ? prof[k].p50_ns : 0;
	}
	rc = src->profile(
	    src->arg,
	    dft_hops_name_hash(c->fn->component, strlen(c->fn->component), c->fn->operation, strlen(c->fn->operation)),
	    at, &prof[c->n]);
	if (rc < 0)
		goto free_prof;
	if (rc == 1)
		fn_p50 = prof[c->n].p50_ns;
	estimate_ends(c, p50, fn_p50, stored, ends);
	fit_into_parents(t, c, build, starts, ends);
	for (uint32_t k = 0; k < c->n; k++) {
		const struct dft_rb_hop *h = &c->hops[k];
		struct dft_rb_out_span *s;

		if (!build[k])
			continue;
		rc = out_push(out, &s);
		if (rc)
			goto free_prof;
		s->span_id = h->span_id;
		s->parent_span_id = h->parent_span_id;
		s->start_ns = starts[k];
		s->end_ns = ends[k];
		s->owner_span_id = c->fn->span_id;
		s->name_hash = h->name_hash;
		s->resolved = known[k];
		if (known[k]) {
			snprintf(s->component, sizeof(s->component), "%s", prof[k].component);
			snprintf(s->operation, sizeof(s->operation), "%s", prof[k].operation);
		} else {
			/* no NIC has profiled this name: the hash is all there is to show */
			snprintf(s->component, sizeof(s->component), "unresolved");
			snprintf(s->operation, sizeof(s->operation), "%08x", (unsigned)h->name_hash);
		}
		rc = src->kind(src->arg, h->name_hash);
		if (rc < 0)
			goto free_prof;
		s->span_kind = rc ? (uint32_t)rc : forwards(c, k) ? SPAN_KIND_SERVER : SPAN_KIND_INTERNAL;
		rc = 0;
	}
	/* into the table only now: within a chain the rules above already saw every hop */
	for (uint32_t i = first; i < out->n; i++)
		insert(t, out->sp[i].span_id, out->sp[i].start_ns, out->sp[i].end_ns);
free_prof:
	free(prof);
	return rc;
}

static int cmp_fn(const void *a, const void *b)
{
	const struct dft_rb_span *x = *(const struct dft_rb_span *const *)a, *y = *(const struct dft_rb_span *const *)b;

	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return x->span_id < y->span_id ? -1 : x->span_id > y->span_id;
}

int dft_rebuild_trace(const struct dft_rb_src *src, const struct dft_rb_span *sp, uint32_t n, struct dft_rb_out *out)
{
	const struct dft_rb_span **fns;
	uint64_t slots = 2 * (uint64_t)n;
	uint32_t nfn = 0;
	struct table t;
	int rc = 0;

	out->n = 0;
	if (n > DFT_RB_SPANS_MAX)
		return -E2BIG;
	for (uint32_t i = 0; i < n; i++)
		if (sp[i].function && sp[i].n_hops && sp[i].n_hops <= DFT_RB_HOPS_MAX) {
			nfn++;
			slots += 2 * sp[i].n_hops;
		}
	if (!nfn)
		return 0;
	for (t.mask = 63; t.mask + 1 < slots; t.mask = 2 * t.mask + 1)
		;
	t.e = calloc((size_t)t.mask + 1, sizeof(*t.e));
	fns = malloc(nfn * sizeof(*fns));
	if (!t.e || !fns) {
		rc = -ENOMEM;
		goto free_all;
	}
	nfn = 0;
	for (uint32_t i = 0; i < n; i++) {
		insert(&t, sp[i].span_id, sp[i].start_ns, sp[i].end_ns);
		if (sp[i].function && sp[i].n_hops && sp[i].n_hops <= DFT_RB_HOPS_MAX)
			fns[nfn++] = &sp[i];
	}
	qsort(fns, nfn, sizeof(*fns), cmp_fn);
	for (uint32_t i = 0; i < nfn && !rc; i++) {
		struct chain c = {.fn = fns[i], .hops = fns[i]->hops, .n = fns[i]->n_hops};

		rc = rebuild_chain(src, &t, &c, DFT_RB_SPANS_MAX - n, out);
	}
free_all:
	free(fns);
	free(t.e);
	return rc;
}
