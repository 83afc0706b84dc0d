/* SPDX-License-Identifier: MIT */
/* The children table (children.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "children.h"

#define WAYS 4u

struct child_entry {
	uint64_t key_trace, key_span; /* key_span 0 = free */
	uint64_t min_start, max_end, sum;
	uint64_t age;
};

struct dft_children {
	uint32_t sets_mask;
	uint64_t clock, evicted;
	struct child_entry *e;
};

int dft_children_create(uint32_t cap, struct dft_children **out)
{
	struct dft_children *c;
	uint32_t sets = 1;

	*out = NULL;
	if (cap < WAYS || cap > (1u << 24))
		return -EINVAL;
	while (sets * WAYS < cap)
		sets <<= 1;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	/* line-aligned, so a set always spans the same three cache lines a prefetch loads */
	if (posix_memalign((void **)&c->e, 64, (size_t)sets * WAYS * sizeof(*c->e))) {
		free(c);
		return -ENOMEM;
	}
	memset(c->e, 0, (size_t)sets * WAYS * sizeof(*c->e));
	c->sets_mask = sets - 1;
	*out = c;
	return 0;
}

void dft_children_destroy(struct dft_children *c)
{
	if (!c)
		return;
	free(c->e);
	free(c);
}

static uint64_t trace_key(const uint8_t t[16])
{
	uint64_t a, b;

	memcpy(&a, t, 8);
	memcpy(&b, t + 8, 8);
	return a ^ (b * 0x9e3779b97f4a7c15ull);
}

static struct child_entry *set_of(const struct dft_children *c, uint64_t kt, uint64_t ks)
{
	/* a host picks both ids: mix them so it cannot aim every key at one set without also being
	 * the only one to lose entries there */
	uint64_t h = (kt ^ ks) * 0xbf58476d1ce4e5b9ull;

	h ^= h >> 31;
	return &c->e[((uint32_t)(h >> 32) & c->sets_mask) * WAYS];
}

void dft_children_note(struct dft_children *c, const uint8_t trace_id[16], uint64_t parent, uint64_t start,
		       uint64_t end)
{
	uint64_t kt = trace_key(trace_id);
	struct child_entry *set, *victim = NULL;

	if (!c || parent == 0)
		return;
	if (end < start)
		end = start;
	set = set_of(c, kt, parent);
	for (unsigned w = 0; w < WAYS; w++) {
		struct child_entry *e = &set[w];

		if (e->key_span == parent && e->key_trace == kt) {
			if (start < e->min_start)
				e->min_start = start;
			if (end > e->max_end)
				e->max_end = end;
			e->sum = e->sum + (end - start) < e->sum ? UINT64_MAX : e->sum + (end - start);
			return;
		}
		if (!victim || (victim->key_span && (!e->key_span || e->age < victim->age)))
			victim = e;
	}
	if (victim->key_span)
		c->evicted++;
	*victim = (struct child_entry){.key_trace = kt, .key_span = parent, .min_start = start, .max_end = end,
				       .sum = end - start, .age = ++c->clock};
}

bool dft_children_take(struct dft_children *c, const uint8_t trace_id[16], uint64_t span, uint64_t start,
		       uint64_t end, uint64_t *covered_ns)
{
	uint64_t kt = trace_key(trace_id);
	struct child_entry *set;

	*covered_ns = 0;
	if (!c || span == 0)
		return false;
	set = set_of(c, kt, span);
	for (unsigned w = 0; w < WAYS; w++) {
		struct child_entry *e = &set[w];
		uint64_t lo, hi, cov;

		if (e->key_span != span || e->key_trace != kt)
			continue;
		/* only the part inside the parent counts: a child's claimed times are not trusted */
		lo = e->min_start > start ? e->min_start : start;
		hi = e->max_end < end ? e->max_end : end;
		cov = hi > lo ? hi - lo : 0;
		/* children one after another cover their sum; all at once, the span of them: the
		 * smaller of the two is exact in both cases and never more than the union's hull */
		if (e->sum < cov)
			cov = e->sum;
		*covered_ns = cov;
		e->key_span = 0;
		return true;
	}
	return false;
}

void dft_children_prefetch(const struct dft_children *c, const uint8_t trace_id[16], uint64_t id)
{
	const char *set;

	if (!c || id == 0)
		return;
	set = (const char *)set_of(c, trace_key(trace_id), id);
	for (size_t off = 0; off < WAYS * sizeof(struct child_entry); off += 64)
		__builtin_prefetch(set + off, 1);
}

bool dft_children_seen(const struct dft_children *c, const uint8_t trace_id[16], uint64_t id)
{
	uint64_t kt = trace_key(trace_id);
	const struct child_entry *set;

	if (!c || id == 0)
		return false;
	set = set_of(c, kt, id);
	for (unsigned w = 0; w < WAYS; w++)
		if (set[w].key_span == id && set[w].key_trace == kt)
			return true;
	return false;
}

uint64_t dft_children_evicted(const struct dft_children *c)
{
	return c ? c->evicted : 0;
}
