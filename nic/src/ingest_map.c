/* SPDX-License-Identifier: MIT */
/* A mapped region's ring consumers and view (ingest_map.h). */
#include <errno.h>
#include <stdlib.h>

#include "ingest_map.h"

static struct dft_ring_hdr *ring_hdr(const struct dft_nic_region *r, uint32_t i)
{
	/* in bounds: rings_off + ring_count * ring_stride == region_size <= map_len (validated) */
	return dft_region_ring(r->map, r->g.rings_off, r->g.ring_stride, i);
}

static const struct dft_region_hdr *hdr(const struct dft_nic_region *r)
{
	return r->map;
}

int dft_map_rings_create(const struct dft_nic_region *r, struct dft_map_rings **out)
{
	struct dft_map_rings *m = calloc(1, sizeof(*m) + (size_t)r->g.ring_count * sizeof(m->cons[0]));

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->n = r->g.ring_count;
	for (uint32_t i = 0; i < m->n; i++)
		dft_ring_cons_attach(&m->cons[i], ring_hdr(r, i), r->g.ring_slots);
	*out = m;
	return 0;
}

bool dft_map_rings_empty(const struct dft_map_rings *m)
{
	for (uint32_t i = 0; i < m->n; i++) {
		const struct dft_ring_cons *c = &m->cons[i];
		uint64_t pending = dft_load_acquire(&c->hdr->head) - c->tail; /* [R1] */

		if (pending != 0 && pending <= (uint64_t)c->mask + 1)
			return false;
	}
	return true;
}

uint32_t dft_map_names_published(struct dft_ingest *in, struct dft_nic_region *r)
{
	(void)in;
	return dft_load_acquire(&hdr(r)->names_published);
}

int dft_map_name(struct dft_ingest *in, struct dft_nic_region *r, uint32_t published, uint16_t id, char *out,
		 size_t cap)
{
	(void)in;
	return dft_name_read(r->map, &r->g, published, id, out, cap);
}

const struct dft_metrics_page *dft_map_metrics(struct dft_ingest *in, struct dft_nic_region *r)
{
	(void)in;
	/* in bounds: metrics_off == DFT_METRICS_OFF and the page lies below names_off (validated) */
	return (const struct dft_metrics_page *)(const void *)((const uint8_t *)r->map + r->g.metrics_off);
}

int dft_map_clock(struct dft_ingest *in, struct dft_nic_region *r, struct dft_clock_cal *out)
{
	(void)in;
	return dft_clock_cal_read(hdr(r), out);
}

void dft_map_claims(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, struct dft_ring_claims *out)
{
	const struct dft_ring_hdr *h = ring_hdr(r, ring);

	(void)in;
	out->produced = dft_load_relaxed(&h->produced);
	out->dropped_full = dft_load_relaxed(&h->dropped_full);
	out->dropped_hops = dft_load_relaxed(&h->dropped_hops);
}

int dft_map_waiting(struct dft_ingest *in, struct dft_nic_region *r, uint32_t ring, uint64_t *spans)
{
	const struct dft_ring_cons *c = &((const struct dft_map_rings *)r->ingest_priv)->cons[ring];
	uint64_t tail = c->tail, head, n = 0;

	(void)in;
	if (tail == 0)
		return 0; /* never read: the host's counters are all this instance's */
	head = dft_load_acquire(&c->hdr->head);
	/* the host's claims, read once; a head outside the ring adopts nothing (the ring is corrupt
	 * and is resynchronised like any other) */
	if (head - tail <= r->g.ring_slots) {
		for (uint64_t pos = tail; pos < head;) {
			const struct dft_slot *sl = &c->slots[pos & c->mask];
			uint8_t type = __atomic_load_n(&sl->type, __ATOMIC_RELAXED);
			uint8_t n_cont = __atomic_load_n(&sl->n_cont, __ATOMIC_RELAXED);

			n += type == DFT_SLOT_SPAN;
			pos += 1u + (type == DFT_SLOT_SPAN ? n_cont : 0u);
		}
	}
	*spans = n;
	return 1;
}

uint64_t dft_map_dropped_no_ring(struct dft_ingest *in, struct dft_nic_region *r)
{
	(void)in;
	return dft_load_relaxed(&hdr(r)->dropped_no_ring);
}
