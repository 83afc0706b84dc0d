/* SPDX-License-Identifier: MIT */
/*
 * Per-sender duplicate detection. A sender numbers its batches 1, 2, 3, ... and resends every
 * unacknowledged one after a reconnect, so the collector sees mostly in-order sequences and the
 * occasional resend. Each sender keeps the highest sequence accepted plus a 64-bit bitmap of the
 * sequences just below it; anything older than the window was necessarily seen (sequences are
 * contiguous) and is dropped.
 *
 * The table is open addressing (linear probing, backward-shift deletion), sized for a fixed number
 * of senders. A new sender that finds it full evicts the least recently used one that has nothing
 * uncommitted: its durable maximum is in the store and is reloaded should it return, so a peer that
 * invents sender ids churns the table but can neither fill it for good nor make dedup forget a
 * committed sequence. Only when every entry has uncommitted work is a newcomer refused (counted).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dedup.h"
#include "dft/hash.h"

int dft_dedup_init(struct dft_dedup *d, uint32_t max_senders)
{
	uint32_t cap;

	memset(d, 0, sizeof(*d));
	if (max_senders == 0 || max_senders > (1u << 24))
		return -EINVAL;
	cap = dft_hash_slots(max_senders, 16);
	d->tab = calloc(cap, sizeof(*d->tab));
	if (!d->tab)
		return -ENOMEM;
	d->cap = cap;
	d->max = max_senders;
	return 0;
}

void dft_dedup_destroy(struct dft_dedup *d)
{
	free(d->tab);
	memset(d, 0, sizeof(*d));
}

void dft_dedup_remove(struct dft_dedup *d, struct dft_sender *s)
{
	uint32_t mask = d->cap - 1, i = (uint32_t)(s - d->tab), j = i;

	s->used = false;
	d->count--;
	/* backward shift: move later entries of the probe run into the hole unless their home lies
	 * cyclically in (i, j], where the hole does not break their run */
	for (;;) {
		uint32_t k;

		j = (j + 1) & mask;
		if (!d->tab[j].used)
			return;
		k = dft_mix64(d->tab[j].sender_id) & mask;
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		d->tab[i] = d->tab[j];
		d->tab[j].used = false;
		i = j;
	}
}

/* The least recently used sender with nothing uncommitted, preferring one without connections. */
static struct dft_sender *evict_victim(struct dft_dedup *d)
{
	struct dft_sender *best = NULL;
	uint32_t i;

	for (i = 0; i < d->cap; i++) {
		struct dft_sender *s = &d->tab[i];

		if (!s->used || s->dirty)
			continue;
		if (!best || (s->conns == 0) > (best->conns == 0) ||
		    ((s->conns == 0) == (best->conns == 0) && s->last_ms < best->last_ms))
			best = s;
	}
	return best;
}

struct dft_sender *dft_dedup_get(struct dft_dedup *d, uint64_t sender_id, bool create)
{
	uint32_t i = dft_mix64(sender_id) & (d->cap - 1);

	if (create && d->count >= d->max && !dft_dedup_get(d, sender_id, false)) {
		struct dft_sender *v = evict_victim(d);

		if (!v) {
			d->refused++;
			return NULL;
		}
		dft_dedup_remove(d, v);
		d->evicted++;
	}
	for (;;) {
		struct dft_sender *s = &d->tab[i];

		if (!s->used)
			break;
		if (s->sender_id == sender_id)
			return s;
		i = (i + 1) & (d->cap - 1);
	}
	if (!create)
		return NULL;
	if (d->count >= d->max) {
		d->refused++;
		return NULL;
	}
	memset(&d->tab[i], 0, sizeof(d->tab[i]));
	d->tab[i].used = true;
	d->tab[i].sender_id = sender_id;
	d->count++;
	return &d->tab[i];
}

bool dft_dedup_is_new(const struct dft_sender *s, uint64_t seq)
{
	uint64_t off;

	if (seq == 0 || seq == s->max_seq)
		return false;
	if (seq > s->max_seq)
		return true;
	off = s->max_seq - 1 - seq;
	return off < 64 && !(s->window & (1ULL << off));
}

bool dft_dedup_accept(struct dft_sender *s, uint64_t seq)
{
	uint64_t off, shift;

	if (seq == 0)
		return false;
	if (seq > s->max_seq) {
		shift = seq - s->max_seq;
		/* the old max moves into the window at bit shift-1, everything else shifts up with it */
		s->window = shift >= 64 ? 0 : s->window << shift;
		if (s->max_seq != 0 && shift <= 64)
			s->window |= 1ULL << (shift - 1);
		s->max_seq = seq;
		s->dirty = true;
		return true;
	}
	if (seq == s->max_seq)
		return false;
	off = s->max_seq - 1 - seq;
	if (off >= 64)
		return false;
	if (s->window & (1ULL << off))
		return false;
	s->window |= 1ULL << off;
	s->dirty = true;
	return true;
}

void dft_sender_restore(struct dft_sender *s, uint64_t max_seq, uint64_t spans_stored)
{
	s->max_seq = max_seq;
	s->durable_seq = max_seq;
	/* only the maximum is persisted: a gap below it cannot be told apart, so treat it as seen */
	s->window = ~0ULL;
	s->spans_stored = spans_stored;
	s->pending_spans = 0;
	s->dirty = false;
}

struct dft_sender *dft_dedup_next(struct dft_dedup *d, uint32_t *i)
{
	while (*i < d->cap) {
		struct dft_sender *s = &d->tab[(*i)++];

		if (s->used)
			return s;
	}
	return NULL;
}

void dft_dedup_commit(struct dft_dedup *d)
{
	struct dft_sender *s;
	uint32_t i = 0;

	while ((s = dft_dedup_next(d, &i))) {
		if (!s->dirty)
			continue;
		s->durable_seq = s->max_seq;
		s->spans_stored += s->pending_spans;
		s->epoch_spans += s->pending_spans;
		s->pending_spans = 0;
		s->epoch_new = false;
		s->dirty = false;
	}
}

void dft_dedup_rollback(struct dft_dedup *d)
{
	struct dft_sender *s;
	uint32_t i = 0;

	while ((s = dft_dedup_next(d, &i))) {
		if (!s->dirty)
			continue;
		/* back to what the store holds; the sender resends the rest after its reconnect */
		dft_sender_restore(s, s->durable_seq, s->spans_stored);
	}
}
