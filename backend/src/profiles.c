/* SPDX-License-Identifier: MIT */
/*
 * The latest profile entry per (component, operation), from any sender. Reconstruction reads the
 * median durations from here; the full history is in the profiles table. The table is open
 * addressing without deletion and bounded: a fleet has a bounded set of operations, and names past
 * the limit are counted, not stored.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dft/hash.h"
#include "dft/hops.h"
#include "profiles.h"

int dft_profiles_init(struct dft_profiles *p, uint32_t max)
{
	uint32_t cap;

	memset(p, 0, sizeof(*p));
	if (max == 0 || max > (1u << 24))
		return -EINVAL;
	cap = dft_hash_slots(max, 16);
	p->tab = calloc(cap, sizeof(*p->tab));
	if (!p->tab)
		return -ENOMEM;
	p->cap = cap;
	p->max = max;
	return 0;
}

void dft_profiles_destroy(struct dft_profiles *p)
{
	uint32_t i;

	for (i = 0; i < p->cap; i++) {
		free(p->tab[i].component);
		free(p->tab[i].operation);
	}
	free(p->tab);
	memset(p, 0, sizeof(*p));
}

/* the hop header's name hash, so a hop's hash finds its entry by the same probe sequence */
static uint32_t name_hash(const char *component, const char *operation)
{
	return dft_hops_name_hash(component, strlen(component), operation, strlen(operation));
}

static struct dft_profile *slot_of(const struct dft_profiles *p, const char *component, const char *operation)
{
	uint32_t i = name_hash(component, operation) & (p->cap - 1);

	for (;;) {
		struct dft_profile *e = &p->tab[i];

		if (!e->component || (!strcmp(e->component, component) && !strcmp(e->operation, operation)))
			return e;
		i = (i + 1) & (p->cap - 1);
	}
}

const struct dft_profile *dft_profiles_get_hash(const struct dft_profiles *p, uint32_t hash)
{
	/* entries with this hash sit on its probe sequence before the first free slot */
	for (uint32_t i = hash & (p->cap - 1);; i = (i + 1) & (p->cap - 1)) {
		const struct dft_profile *e = &p->tab[i];

		if (!e->component)
			return NULL;
		if (e->name_hash == hash)
			return e;
	}
}

const struct dft_profile *dft_profiles_get(const struct dft_profiles *p, const char *component, const char *operation)
{
	const struct dft_profile *e = slot_of(p, component, operation);

	return e->component ? e : NULL;
}

int dft_profiles_put(struct dft_profiles *p, const struct dft_profile *v)
{
	struct dft_profile *e = slot_of(p, v->component, v->operation);
	char *comp, *op;
	uint32_t hash;

	if (e->component) {
		/* senders' windows overlap: an older summary arriving late must not replace a newer one */
		if (v->created_ns < e->created_ns)
			return 0;
		comp = e->component;
		op = e->operation;
		hash = e->name_hash;
		*e = *v;
		e->component = comp;
		e->operation = op;
		e->name_hash = hash;
		return 0;
	}
	if (p->count >= p->max) {
		p->cut++;
		return -ENOSPC;
	}
	comp = strdup(v->component);
	op = strdup(v->operation);
	if (!comp || !op) {
		free(comp);
		free(op);
		return -ENOMEM;
	}
	*e = *v;
	e->component = comp;
	e->operation = op;
	e->name_hash = name_hash(comp, op);
	p->count++;
	return 0;
}

uint64_t dft_profiles_through(const struct dft_profiles *p, uint64_t sender_id)
{
	for (uint32_t i = 0; i < p->n_through; i++)
		if (p->through[i].sender_id == sender_id)
			return p->through[i].created_ns;
	return 0;
}

/* More senders than the table holds: the one heard from longest ago makes room. */
static void note_through(struct dft_profiles *p, uint64_t sender_id, uint64_t created_ns)
{
	uint32_t i, oldest = 0;

	for (i = 0; i < p->n_through; i++) {
		if (p->through[i].sender_id == sender_id) {
			if (created_ns > p->through[i].created_ns)
				p->through[i].created_ns = created_ns;
			return;
		}
		if (p->through[i].created_ns < p->through[oldest].created_ns)
			oldest = i;
	}
	i = p->n_through < DFT_PROFILE_SENDERS ? p->n_through++ : oldest;
	p->through[i].sender_id = sender_id;
	p->through[i].created_ns = created_ns;
}

void dft_profiles_put_batch(struct dft_profiles *p, const Difftrace__SpanBatch *b)
{
	size_t i, j;

	for (i = 0; i < b->n_profiles; i++) {
		const Difftrace__Profile *pr = b->profiles[i];

		note_through(p, b->header->sender_id, pr->created_ns);

		for (j = 0; j < pr->n_entries; j++) {
			const Difftrace__ProfileEntry *e = pr->entries[j];
			struct dft_profile v = {
			    .component = b->strings[e->component],
			    .operation = b->strings[e->operation],
			    .created_ns = pr->created_ns,
			    .count = e->count,
			    .kept = e->kept,
			    .filtered = e->filtered,
			    .duration_p50_ns = e->duration_p50_ns,
			    .duration_p99_ns = e->duration_p99_ns,
			    .queue_p99_ns = e->queue_p99_ns,
			    .self_time_ns = e->self_time_ns,
			};

			/* a full table is counted in p->cut; out of memory only costs this estimate */
			(void)dft_profiles_put(p, &v);
		}
	}
}
