/* SPDX-License-Identifier: MIT */
/*
 * SPSC ring operations on a struct dft_ring_hdr + slot array in the shared region.
 *
 * Indices are free-running uint64_t counts, masked only on access. The producer owns `head` and the
 * counters on line 0, the consumer owns `tail` on line 1. Each side keeps a private cached copy of
 * the other side's index and reloads it only when the cached value says the ring is full (producer)
 * or empty (consumer), so in the common case neither side touches the other's cache line.
 *
 * Pairing (search for the label to find both halves):
 *   [R1] producer store-release head  <->  consumer load-acquire head: slot contents are visible
 *        before the index that publishes them.
 *   [R2] consumer store-release tail  <->  producer load-acquire tail: the consumer has finished
 *        reading a slot before the producer may overwrite it.
 */
#ifndef DFT_RING_H
#define DFT_RING_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "dft/abi.h"

#define dft_load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define dft_store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define dft_load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define dft_store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

static inline struct dft_slot *dft_ring_slots(struct dft_ring_hdr *r)
{
	return (struct dft_slot *)(void *)(r + 1);
}

/* Producer-private view of one ring; lives in the producer's memory, not in the region. */
struct dft_ring_prod {
	struct dft_ring_hdr *hdr;
	struct dft_slot *slots;
	uint64_t head;        /* our copy of hdr->head (we are its only writer) */
	uint64_t tail_cache;  /* last tail we loaded */
	uint64_t produced;    /* mirrors of the counters, so the hot path stores without loading */
	uint64_t dropped_full;
	uint32_t mask;
};

static inline void dft_ring_prod_attach(struct dft_ring_prod *p, struct dft_ring_hdr *hdr, uint32_t ring_slots)
{
	p->hdr = hdr;
	p->slots = dft_ring_slots(hdr);
	p->mask = ring_slots - 1;
	p->head = dft_load_relaxed(&hdr->head);
	p->tail_cache = dft_load_acquire(&hdr->tail); /* [R2] */
	p->produced = dft_load_relaxed(&hdr->produced);
	p->dropped_full = dft_load_relaxed(&hdr->dropped_full);
}

/*
 * Reserve n consecutive slots for one span. Returns the first slot or NULL when the ring is full;
 * the span is then counted as dropped. Never blocks. n must be <= ring size.
 */
static inline struct dft_slot *dft_ring_prod_reserve(struct dft_ring_prod *p, uint32_t n)
{
	uint64_t size = (uint64_t)p->mask + 1;

	p->produced++;
	dft_store_relaxed(&p->hdr->produced, p->produced);
	if (unlikely(p->head - p->tail_cache + n > size)) {
		p->tail_cache = dft_load_acquire(&p->hdr->tail); /* [R2] */
		if (unlikely(p->head - p->tail_cache + n > size)) {
			p->dropped_full++;
			dft_store_relaxed(&p->hdr->dropped_full, p->dropped_full);
			return NULL;
		}
	}
	return &p->slots[p->head & p->mask];
}

/* Slot i (0-based) after the one reserve returned; continuation slots may wrap around. */
static inline struct dft_slot *dft_ring_prod_slot(struct dft_ring_prod *p, uint32_t i)
{
	return &p->slots[(p->head + i) & p->mask];
}

/* Publish the n slots filled since the matching reserve. */
static inline void dft_ring_prod_commit(struct dft_ring_prod *p, uint32_t n)
{
	p->head += n;
	dft_store_release(&p->hdr->head, p->head); /* [R1] */
}

/*
 * Consumer side over a mapped ring. The header is hostile memory: head is loaded once per poll and
 * checked against tail and the ring size before anything is read.
 */
struct dft_ring_cons {
	struct dft_ring_hdr *hdr;
	struct dft_slot *slots;
	uint64_t tail;       /* our copy of hdr->tail (we are its only writer) */
	uint64_t head_cache; /* last head we loaded and accepted */
	uint32_t mask;
};

static inline void dft_ring_cons_attach(struct dft_ring_cons *c, struct dft_ring_hdr *hdr, uint32_t ring_slots)
{
	c->hdr = hdr;
	c->slots = dft_ring_slots(hdr);
	c->mask = ring_slots - 1;
	c->tail = dft_load_relaxed(&hdr->tail);
	c->head_cache = c->tail;
}

/*
 * Slots ready to read from tail + off on (off: slots already taken but not yet released), at most
 * max; 0 when the head is not past them. Returns -EOVERFLOW (and reads nothing) when the producer
 * published a head that is behind tail or more than a ring ahead: the caller decides how to resync.
 */
static inline int64_t dft_ring_cons_avail_from(struct dft_ring_cons *c, uint64_t off, uint32_t max)
{
	uint64_t size = (uint64_t)c->mask + 1;
	uint64_t n = c->head_cache - c->tail;

	if (n <= off) {
		uint64_t head = dft_load_acquire(&c->hdr->head); /* [R1] */
		uint64_t cached = n;

		n = head - c->tail;
		if (unlikely(n > size))
			return -EOVERFLOW;
		/* a head behind the one already accepted takes nothing back: slots were handed out
		 * up to it */
		if (n <= off || n < cached)
			return 0;
		c->head_cache = head;
	}
	n -= off;
	return n < max ? (int64_t)n : (int64_t)max;
}

/* Slots ready to read at the tail, at most max, or -EOVERFLOW (dft_ring_cons_avail_from). */
static inline int64_t dft_ring_cons_avail(struct dft_ring_cons *c, uint32_t max)
{
	return dft_ring_cons_avail_from(c, 0, max);
}

static inline struct dft_slot *dft_ring_cons_slot(struct dft_ring_cons *c, uint64_t i)
{
	return &c->slots[(c->tail + i) & c->mask];
}

/* Give n read slots back to the producer. */
static inline void dft_ring_cons_release(struct dft_ring_cons *c, uint32_t n)
{
	c->tail += n;
	dft_store_release(&c->hdr->tail, c->tail); /* [R2] */
}

#endif /* DFT_RING_H */
