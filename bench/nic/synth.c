/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dft/clock.h"
#include "synth.h"

#define NAME_CAP 64u

/* ids 1..DFT_SYNTH_NAMES; the first three are platform components, the fourth a user function */
static const char *const names[DFT_SYNTH_NAMES] = {
	"activator", "queue-proxy", "ingress", "fn-thumbnail", "GET /resize", "proxy", "http.status_code", "retries",
};
enum { N_ACTIVATOR = 1, N_QPROXY, N_INGRESS, N_FUNCTION, N_OP_GET, N_OP_PROXY, N_ATTR_STATUS, N_ATTR_RETRIES };

static void publish_names(struct dft_region_hdr *h)
{
	for (uint16_t i = 1; i <= DFT_SYNTH_NAMES; i++) {
		struct dft_name *n = dft_region_name(h, i);
		size_t len = strlen(names[i - 1]);

		n->len = (uint16_t)len;
		memcpy(n->str, names[i - 1], len);
	}
	dft_store_release(&h->names_published, DFT_SYNTH_NAMES);
}

static void publish_clock(struct dft_region_hdr *h, uint64_t tick_hz)
{
	h->tick_shift = 32;
	h->tick_mult = (uint64_t)(((unsigned __int128)1000000000u << 32) / tick_hz);
	h->tick_base = dft_ticks();
	h->ns_base = dft_clock_ns(CLOCK_REALTIME);
	h->tick_hz = tick_hz;
	dft_store_release(&h->clock_seq, 2u);
}

int dft_synth_create(uint32_t ring_count, uint32_t ring_slots, enum dft_synth_mix mix, uint64_t tick_hz,
		     struct dft_synth *out)
{
	struct dft_region_hdr *h;
	size_t len = dft_region_size(NAME_CAP, ring_count, ring_slots);
	void *base;
	int rc;

	memset(out, 0, sizeof(*out));
	base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	h = base;
	dft_region_hdr_init(h, NAME_CAP, ring_count, ring_slots);
	h->instance_id = 0x5eed0000beefull + ring_count;
	h->pid = 4242;
	h->component_id = mix == DFT_SYNTH_FUNCTION ? N_FUNCTION : N_ACTIVATOR;
	h->component_kind = mix == DFT_SYNTH_FUNCTION ? DFT_KIND_FUNCTION : DFT_KIND_PLATFORM;
	publish_names(h);
	if (tick_hz)
		publish_clock(h, tick_hz);
	rc = dft_region_validate(h, len, &out->g);
	if (rc)
		goto unmap;
	out->prod = calloc(ring_count, sizeof(*out->prod));
	if (!out->prod) {
		rc = -ENOMEM;
		goto unmap;
	}
	for (uint32_t k = 0; k < ring_count; k++) {
		struct dft_ring_hdr *r = dft_region_ring(base, out->g.rings_off, out->g.ring_stride, k);

		r->state = DFT_RING_ACTIVE;
		r->tid = 1000 + k;
		dft_ring_prod_attach(&out->prod[k], r, ring_slots);
	}
	out->base = base;
	out->len = len;
	out->mix = mix;
	out->tick_hz = tick_hz;
	out->next_id = 1;
	return 0;
unmap:
	munmap(base, len);
	return rc;
}

void dft_synth_destroy(struct dft_synth *s)
{
	if (!s->base)
		return;
	free(s->prod);
	munmap(s->base, s->len);
	s->base = NULL;
}

/* Whole traces are kept or not, so the hold window never sees half a kept trace; the kept ones
 * are spread as evenly as the ratio allows (trace t is kept when floor(t * ppm / 1e6) steps up),
 * not in runs that would make one repetition all kept and the next all filtered. */
static bool trace_kept(const struct dft_synth *s, uint64_t trace)
{
	return ((trace + 1) * s->keep_ppm) / 1000000u != (trace * s->keep_ppm) / 1000000u;
}

void dft_synth_slot(struct dft_synth *s, struct dft_slot *o)
{
	uint64_t id = s->next_id++;
	uint64_t trace = (id - 1) / DFT_SYNTH_TRACE_LEN, pos = (id - 1) % DFT_SYNTH_TRACE_LEN;
	/* the root is the trace's last span: it ends after its children, which the hold window needs */
	uint64_t root_id = trace * DFT_SYNTH_TRACE_LEN + DFT_SYNTH_TRACE_LEN;
	uint64_t t0 = s->tick_hz ? ((const struct dft_region_hdr *)s->base)->tick_base : 1700000000000000000ull;
	uint64_t dur = 20000 + (id % 64) * 100;

	memset(o, 0, sizeof(*o));
	o->type = DFT_SLOT_SPAN;
	o->flags = s->tick_hz ? 0 : DFT_SF_TS_NS;
	memcpy(o->trace_id, &trace, sizeof(trace));
	o->trace_id[15] = 0x7d; /* never all zero */
	o->span_id = id;
	o->start = t0 + id * 1000;
	o->end = o->start + dur;
	o->queue_ns = 1000 + (uint32_t)(id % 500);
	o->status = DFT_STATUS_OK;
	o->span_kind = 2;
	o->n_attrs = 2;
	o->attr_key[0] = N_ATTR_STATUS;
	o->attr_val[0] = 200;
	o->attr_key[1] = N_ATTR_RETRIES;
	o->attr_val[1] = (int64_t)(id % 3);
	if (s->mix == DFT_SYNTH_FUNCTION || (s->mix == DFT_SYNTH_KEEP_SHARE && trace_kept(s, trace))) {
		/* the region of a mixed stream is a platform one: the span says it is a function's */
		if (s->mix == DFT_SYNTH_KEEP_SHARE)
			o->flags |= DFT_SF_KIND_FUNCTION;
		o->component_id = N_FUNCTION;
		o->op_id = N_OP_GET;
		o->parent_span_id = id + 1000000000000ull;
		o->flags |= DFT_SF_HAS_PARENT | DFT_SF_REMOTE_PARENT;
		return;
	}
	o->component_id = (uint16_t)(N_ACTIVATOR + pos % 3);
	o->op_id = N_OP_PROXY;
	if (id == root_id) {
		o->flags |= DFT_SF_ROOT;
		o->start = t0 + (root_id - DFT_SYNTH_TRACE_LEN) * 1000;
		o->end = t0 + id * 1000 + dur + 1;
	} else {
		o->parent_span_id = root_id;
		o->flags |= DFT_SF_HAS_PARENT;
	}
}

uint32_t dft_synth_fill(struct dft_synth *s, uint32_t k, uint32_t n)
{
	struct dft_ring_prod *p = &s->prod[k];
	uint64_t used = p->head - dft_load_acquire(&p->hdr->tail);
	uint64_t room = (uint64_t)p->mask + 1 - used;
	uint32_t i;

	if (n > room)
		n = (uint32_t)room;
	for (i = 0; i < n; i++) {
		struct dft_slot *slot = dft_ring_prod_reserve(p, 1);

		if (!slot)
			break;
		dft_synth_slot(s, slot);
		dft_ring_prod_commit(p, 1);
	}
	return i;
}

uint64_t dft_synth_fill_all(struct dft_synth *s)
{
	uint64_t n = 0;

	for (uint32_t k = 0; k < s->g.ring_count; k++)
		n += dft_synth_fill(s, k, s->g.ring_slots);
	return n;
}
