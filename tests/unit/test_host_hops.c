/* SPDX-License-Identifier: MIT */
/*
 * The hop header through libdifftrace: platform components extracting and injecting the `dft`
 * tracestate entry, the user function handing the hops to its span, and the continuation slots
 * that span leaves in the ring. Also the cuts and drops each has a counter for, malformed
 * headers, and the status message slot an error span adds to the same continuation.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <difftrace/difftrace.h>

#include "dft/abi.h"
#include "dft/clock.h"
#include "dft/hops.h"
#include "dft/ring.h"
#include "host_region.h"

static struct dft_options small_opts(uint32_t name_capacity)
{
	struct dft_options o = {.size = sizeof(o),
	                        .flags = DFT_OPT_NO_DAEMON,
	                        .ring_count = 2,
	                        .ring_slots = 64,
	                        .name_capacity = name_capacity};
	return o;
}

static struct dft_clock_cal region_cal(const struct dft_region_hdr *h)
{
	/* NO_DAEMON: no registration thread rewrites the calibration, so plain reads are stable */
	return (struct dft_clock_cal){
	    .tick_base = h->tick_base, .ns_base = h->ns_base, .tick_mult = h->tick_mult, .tick_shift = h->tick_shift};
}

static struct dft_hop_entry entry(const char *comp, const char *op, uint64_t parent, uint64_t span, uint64_t start)
{
	struct dft_hop_entry e;

	memset(&e, 0, sizeof(e));
	e.name_hash = dft_hop_name_hash(comp, op);
	e.parent_span_id = parent;
	e.span_id = span;
	e.start_ns = start;
	return e;
}

static void stats(struct dft_host_stats *st)
{
	assert_int_equal(dft_stats(st), 0);
}

/*
 * Check the continuation slots after the span slot at index i of consumer c against the hops of l
 * (all of them written). Returns the number of continuation slots.
 */
static unsigned check_hop_slots(struct dft_ring_cons *c, uint64_t i, const struct dft_hop_list *l)
{
	const struct dft_slot *s = dft_ring_cons_slot(c, i);
	unsigned want = (l->n + DFT_HOPS_PER_SLOT - 1) / DFT_HOPS_PER_SLOT;

	assert_int_equal(s->type, DFT_SLOT_SPAN);
	assert_int_equal(s->n_cont, want);
	for (unsigned k = 0; k < want; k++) {
		const struct dft_hops_slot *hs = (const struct dft_hops_slot *)dft_ring_cons_slot(c, i + 1 + k);
		unsigned in_slot = l->n - k * DFT_HOPS_PER_SLOT;

		if (in_slot > DFT_HOPS_PER_SLOT)
			in_slot = DFT_HOPS_PER_SLOT;
		assert_int_equal(hs->type, DFT_SLOT_HOPS);
		assert_int_equal(hs->n_hops, in_slot);
		for (unsigned b = 0; b < sizeof(hs->reserved); b++)
			assert_int_equal(hs->reserved[b], 0);
		for (unsigned b = 0; b < sizeof(hs->pad); b++)
			assert_int_equal(hs->pad[b], 0);
		for (unsigned j = 0; j < DFT_HOPS_PER_SLOT; j++) {
			const struct dft_hop *hp = &hs->hop[j];
			const struct dft_hop_entry *e = &l->hop[k * DFT_HOPS_PER_SLOT + j];

			if (j >= in_slot) {
				/* unused hops are zero */
				assert_int_equal(hp->name_hash | hp->reserved, 0);
				assert_int_equal(hp->span_id | hp->start_ns | hp->parent_span_id, 0);
				continue;
			}
			assert_int_equal(hp->name_hash, e->name_hash);
			assert_int_equal(hp->reserved, 0);
			assert_int_equal(hp->span_id, e->span_id);
			assert_int_equal(hp->start_ns, e->start_ns);
			assert_int_equal(hp->parent_span_id, e->parent_span_id);
		}
	}
	return want;
}

/* ingress -> activator -> queue-proxy -> user function, all in this process */
static void test_platform_chain(void **state)
{
	struct dft_options o = small_opts(64);
	static const char vendor[] = "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7";
	static const char *comp_names[] = {"ingress", "activator", "queue-proxy"};
	static const char *op_names[] = {"route", "proxy", ""};
	char ts[4][DFT_TRACESTATE_MAX + 1];
	struct dft_span plat[3], fn;
	struct dft_hop_list in[4];
	const struct dft_region_hdr *h;
	struct dft_host_stats st;
	struct dft_ring_cons c;
	struct dft_clock_cal cal;
	struct dft_ctx ctx;
	uint16_t comp[3], op[3], fn_comp, fn_op;
	const struct dft_slot *s;
	int64_t avail;

	(void)state;
	assert_int_equal(dft_init("ingress", DFT_COMPONENT_PLATFORM, &o), 0);
	h = region();
	cal = region_cal(h);
	for (int i = 0; i < 3; i++) {
		comp[i] = dft_name(comp_names[i]);
		op[i] = op_names[i][0] ? dft_name(op_names[i]) : 0;
	}
	assert_int_equal(comp[0], h->component_id);
	fn_comp = dft_name("user-fn");
	fn_op = dft_name("handle");
	strcpy(ts[0], vendor);

	for (int i = 0; i < 3; i++) {
		int n;

		assert_int_equal(dft_tracestate_extract(ts[i], strlen(ts[i]), &in[i]), 0);
		assert_int_equal(in[i].n, i);
		assert_int_equal(in[i].cut, 0);
		if (i == 0) {
			dft_span_begin(&plat[0], op[0], NULL);
		} else {
			dft_span_context(&plat[i - 1], &ctx);
			dft_span_begin(&plat[i], op[i], &ctx);
			/* a process hosting several components: the span says which one forwards */
			dft_span_set_component(&plat[i], comp[i], DFT_COMPONENT_PLATFORM);
		}
		n = dft_tracestate_inject(&in[i], &plat[i], ts[i], strlen(ts[i]), ts[i + 1], sizeof(ts[i + 1]));
		assert_true(n > 0);
		assert_int_equal(n, strlen(ts[i + 1]));
		/* ours first, the other vendors' members kept in their order */
		assert_memory_equal(ts[i + 1], "dft=", 4);
		assert_non_null(strstr(ts[i + 1], ",congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"));
		assert_null(strstr(ts[i + 1] + 4, "dft="));
	}

	/* the user function */
	assert_int_equal(dft_tracestate_extract(ts[3], strlen(ts[3]), &in[3]), 0);
	assert_int_equal(in[3].n, 3);
	for (int i = 0; i < 3; i++) {
		const struct dft_hop_entry *e = &in[3].hop[i];

		assert_int_equal(e->name_hash, dft_hop_name_hash(comp_names[i], op_names[i]));
		assert_int_equal(e->span_id, plat[i].span_id);
		assert_int_equal(e->parent_span_id, i ? plat[i - 1].span_id : 0);
		/* tick starts went out as unix ns through the library's calibration */
		assert_int_equal(e->start_ns, dft_ticks_to_ns(&cal, plat[i].start));
	}
	dft_span_context(&plat[2], &ctx);
	dft_span_begin(&fn, fn_op, &ctx);
	dft_span_set_component(&fn, fn_comp, DFT_COMPONENT_FUNCTION);
	dft_span_set_hops(&fn, &in[3]);
	dft_span_end(&fn);
	for (int i = 2; i >= 0; i--)
		dft_span_end(&plat[i]);

	dft_ring_cons_attach(&c, active_ring(h), h->ring_slots);
	avail = dft_ring_cons_avail(&c, 100);
	assert_int_equal(avail, 1 + 1 + 3);
	s = dft_ring_cons_slot(&c, 0);
	assert_int_equal(s->span_id, fn.span_id);
	assert_int_equal(s->component_id, fn_comp);
	assert_int_equal(s->parent_span_id, plat[2].span_id);
	assert_int_equal(check_hop_slots(&c, 0, &in[3]), 1);
	for (int i = 0; i < 3; i++) {
		s = dft_ring_cons_slot(&c, (uint64_t)(2 + i));
		assert_int_equal(s->type, DFT_SLOT_SPAN);
		assert_int_equal(s->n_cont, 0);
		assert_int_equal(s->span_id, plat[2 - i].span_id);
	}
	dft_ring_cons_release(&c, (uint32_t)avail);
	stats(&st);
	assert_int_equal(st.produced, 4);
	assert_int_equal(st.hops_malformed, 0);
	assert_int_equal(st.hops_cut, 0);
	assert_int_equal(st.hops_dropped, 0);
	assert_int_equal(dft_fini(0), 0);
}

static void fill_list(struct dft_hop_list *l, unsigned n, uint64_t first_parent)
{
	memset(l, 0, sizeof(*l));
	for (unsigned i = 0; i < n; i++) {
		char cn[16], on[16];

		snprintf(cn, sizeof(cn), "comp-%u", i);
		snprintf(on, sizeof(on), i % 3 ? "op-%u" : "", i);
		l->hop[i] = entry(cn, on, i ? 1000 + i - 1 : first_parent, 1000 + i, 1700000000000000000ull + 1000 * i);
	}
	l->n = (uint8_t)n;
}

/* End n_plain spans without hops and consume them, so the next span starts at that ring index. */
static void advance(struct dft_ring_cons *c, unsigned n_plain)
{
	for (unsigned i = 0; i < n_plain; i++) {
		struct dft_span sp;

		dft_span_begin(&sp, 1, NULL);
		dft_span_end(&sp);
	}
	assert_int_equal(dft_ring_cons_avail(c, 1000), n_plain);
	dft_ring_cons_release(c, n_plain);
}

/* every list size a span can carry, starting at every ring index near the end: slots wrap */
static void test_slots_wrap(void **state)
{
	struct dft_options o = small_opts(128);
	const struct dft_region_hdr *h;
	struct dft_ring_hdr *r;
	struct dft_ring_cons c;
	struct dft_host_stats st;
	struct dft_hop_list l;
	uint64_t spans = 0;
	unsigned wrapped = 0;

	(void)state;
	assert_int_equal(dft_init("fn", DFT_COMPONENT_FUNCTION, &o), 0);
	h = region();
	{
		struct dft_span sp;

		dft_span_begin(&sp, 1, NULL);
		dft_span_end(&sp);
		spans++;
	}
	r = active_ring(h);
	dft_ring_cons_attach(&c, r, h->ring_slots);
	assert_int_equal(dft_ring_cons_avail(&c, 10), 1);
	dft_ring_cons_release(&c, 1);

	for (unsigned n = 1; n <= DFT_HOP_LIST_MAX; n++) {
		for (unsigned back = 1; back <= 5; back++) {
			unsigned pos = (unsigned)(r->head & (h->ring_slots - 1)), need = h->ring_slots - back;
			unsigned want = 1 + (n + DFT_HOPS_PER_SLOT - 1) / DFT_HOPS_PER_SLOT;
			struct dft_span sp;

			/* put the span slot `back` slots before the end of the ring */
			advance(&c, (need - pos + h->ring_slots) % h->ring_slots);
			spans += (need - pos + h->ring_slots) % h->ring_slots;
			fill_list(&l, n, n * 7);
			dft_span_begin_at(&sp, 1, NULL, 5);
			dft_span_set_hops(&sp, &l);
			dft_span_end_at(&sp, 9);
			spans++;
			assert_int_equal(dft_ring_cons_avail(&c, 100), want);
			assert_int_equal(dft_ring_cons_slot(&c, 0)->span_id, sp.span_id);
			assert_int_equal(dft_ring_cons_slot(&c, 0)->start, 5);
			assert_int_equal(check_hop_slots(&c, 0, &l), want - 1);
			if (back < want)
				wrapped++;
			dft_ring_cons_release(&c, want);
		}
	}
	assert_true(wrapped > 10);
	stats(&st);
	assert_int_equal(st.produced, spans);
	assert_int_equal(st.dropped_full, 0);
	assert_int_equal(st.hops_dropped, 0);
	assert_int_equal(st.pending, 0);
	assert_int_equal(dft_fini(0), 0);
}

/* A span with hops whose slots do not all fit is dropped whole and counted once. */
static void test_ring_full(void **state)
{
	struct dft_options o = small_opts(64);
	const struct dft_region_hdr *h;
	struct dft_host_stats before, after;
	struct dft_hop_list big, small;
	struct dft_ring_hdr *r;
	struct dft_span sp;
	uint64_t head;
	unsigned free_slots;

	(void)state;
	assert_int_equal(dft_init("fn", DFT_COMPONENT_FUNCTION, &o), 0);
	h = region();
	fill_list(&big, 2 * DFT_HOPS_PER_SLOT, 0); /* 3 slots */
	fill_list(&small, DFT_HOPS_PER_SLOT, 0);   /* 2 slots */
	free_slots = 2;
	for (unsigned i = 0; i < h->ring_slots - free_slots; i++) {
		dft_span_begin(&sp, 1, NULL);
		dft_span_end(&sp);
	}
	r = active_ring(h);
	head = r->head;
	stats(&before);

	dft_span_begin(&sp, 1, NULL);
	dft_span_set_hops(&sp, &big);
	dft_span_end(&sp);
	stats(&after);
	assert_int_equal(r->head, head); /* nothing of it was published */
	assert_int_equal(after.dropped_full, before.dropped_full + 1);
	assert_int_equal(after.produced, before.produced + 1);
	assert_int_equal(after.hops_dropped, before.hops_dropped); /* the span is lost, not its hops */

	/* exactly enough room: written, up to the last slot */
	dft_span_begin(&sp, 1, NULL);
	dft_span_set_hops(&sp, &small);
	dft_span_end(&sp);
	stats(&after);
	assert_int_equal(r->head, head + 2);
	assert_int_equal(after.dropped_full, before.dropped_full + 1);
	assert_int_equal(after.produced, before.produced + 2);
	assert_int_equal(after.pending, h->ring_slots);
	assert_int_equal(dft_fini(0), 0);
}

/* Hops beyond what a header or a list holds are cut oldest first, and counted. */
static void test_overflow(void **state)
{
	struct dft_options o = small_opts(256);
	char ts[2][DFT_TRACESTATE_MAX + 1];
	struct dft_host_stats before, after;
	struct dft_hop_list l, got;
	struct dft_span sp, parent;
	struct dft_ctx ctx;
	unsigned chain = 40;
	uint64_t last[3] = {0, 0, 0};
	int n;

	(void)state;
	assert_int_equal(dft_init("p", DFT_COMPONENT_PLATFORM, &o), 0);

	/* a full list plus ours: the oldest goes */
	fill_list(&l, DFT_HOP_LIST_MAX, 77);
	dft_span_begin(&sp, dft_name("o"), NULL);
	stats(&before);
	n = dft_tracestate_inject(&l, &sp, NULL, 0, ts[0], sizeof(ts[0]));
	assert_true(n > 0);
	stats(&after);
	assert_int_equal(dft_tracestate_extract(ts[0], (size_t)n, &got), 0);
	assert_true(got.n >= 1 && got.n <= DFT_HOP_LIST_MAX);
	/* what is missing was counted, and it is the oldest */
	assert_int_equal(after.hops_cut - before.hops_cut, DFT_HOP_LIST_MAX + 1 - got.n);
	assert_int_equal(got.hop[got.n - 1].span_id, sp.span_id);
	assert_int_equal(got.hop[got.n - 1].name_hash, dft_hop_name_hash("p", "o"));
	for (unsigned i = 0; i + 1 < got.n; i++)
		assert_int_equal(got.hop[i].span_id, l.hop[DFT_HOP_LIST_MAX + 1 - got.n + i].span_id);
	/* the first kept hop's parent is the last one left out */
	assert_int_equal(got.hop[0].parent_span_id, l.hop[DFT_HOP_LIST_MAX - got.n].span_id);

	/* a long chain of components: the header keeps the newest hops that fit in 256 characters */
	stats(&before);
	ts[0][0] = 0;
	memset(&got, 0, sizeof(got));
	dft_span_begin(&parent, 1, NULL);
	for (unsigned i = 0; i < chain; i++) {
		char name[16];

		assert_int_equal(dft_tracestate_extract(ts[i % 2], strlen(ts[i % 2]), &got), 0);
		snprintf(name, sizeof(name), "c%u", i);
		dft_span_context(&parent, &ctx);
		dft_span_begin(&sp, dft_name("fwd"), &ctx);
		dft_span_set_component(&sp, dft_name(name), DFT_COMPONENT_PLATFORM);
		n = dft_tracestate_inject(&got, &sp, ts[i % 2], strlen(ts[i % 2]), ts[(i + 1) % 2], sizeof(ts[0]));
		assert_true(n > 0 && n <= (int)DFT_TRACESTATE_MAX);
		last[0] = last[1];
		last[1] = last[2];
		last[2] = sp.span_id;
		parent = sp;
	}
	assert_int_equal(dft_tracestate_extract(ts[chain % 2], strlen(ts[chain % 2]), &got), 0);
	stats(&after);
	assert_true(got.n >= 3 && got.n < chain);
	/* every hop a component added is in the final header or was counted as cut on the way */
	assert_int_equal(after.hops_cut - before.hops_cut, chain - got.n);
	assert_int_equal(got.hop[got.n - 1].span_id, last[2]);
	assert_int_equal(got.hop[got.n - 2].span_id, last[1]);
	assert_int_equal(got.hop[got.n - 3].span_id, last[0]);
	{
		char name[16];

		snprintf(name, sizeof(name), "c%u", chain - 1);
		assert_int_equal(got.hop[got.n - 1].name_hash, dft_hop_name_hash(name, "fwd"));
		assert_int_equal(got.hop[got.n - 1].parent_span_id, got.hop[got.n - 2].span_id);
	}

	/* a hand-made list that claims more hops than it holds: the extra are counted at the ring */
	fill_list(&l, DFT_HOP_LIST_MAX, 0);
	l.n = DFT_HOP_LIST_MAX + 3;
	stats(&before);
	dft_span_begin(&sp, 1, NULL);
	dft_span_set_hops(&sp, &l);
	dft_span_end(&sp);
	stats(&after);
	assert_int_equal(after.hops_dropped - before.hops_dropped, 3);
	assert_int_equal(after.produced - before.produced, 1);
	assert_int_equal(dft_fini(0), 0);
}

/*
 * A proxy that records steps: its span and each step's span go into the list with
 * dft_hop_list_add, the steps as children of the proxy span and the next component's span as its
 * child too, and all of it reaches the function's slots with those parents.
 */
static void test_steps_as_hops(void **state)
{
	struct dft_options o = small_opts(64);
	char ts[2][DFT_TRACESTATE_MAX + 1];
	const struct dft_region_hdr *h;
	struct dft_host_stats before, after;
	struct dft_hop_list l, got;
	struct dft_span proxy, step[2], next, fn;
	struct dft_ring_cons c;
	struct dft_ctx ctx;
	int n;

	(void)state;
	assert_int_equal(dft_init("ingress", DFT_COMPONENT_PLATFORM, &o), 0);
	h = region();
	memset(&l, 0, sizeof(l));
	dft_span_begin(&proxy, dft_name("fn-a"), NULL);
	assert_int_equal(dft_hop_list_add(&l, &proxy), 0);
	dft_span_context(&proxy, &ctx);
	dft_span_begin(&step[0], dft_name("route_match"), &ctx);
	dft_span_begin(&step[1], dft_name("ext_authz"), &ctx);
	assert_int_equal(dft_hop_list_add(&l, &step[0]), 0);
	assert_int_equal(dft_hop_list_add(&l, &step[1]), 0);
	n = dft_tracestate_inject(&l, NULL, NULL, 0, ts[0], sizeof(ts[0]));
	assert_true(n > 0);
	/* the next component adds its own span in the same call */
	assert_int_equal(dft_tracestate_extract(ts[0], (size_t)n, &got), 0);
	assert_int_equal(got.n, 3);
	dft_span_begin(&next, dft_name("fn-a"), &ctx);
	dft_span_set_component(&next, dft_name("activator"), DFT_COMPONENT_PLATFORM);
	n = dft_tracestate_inject(&got, &next, ts[0], (size_t)n, ts[1], sizeof(ts[1]));
	assert_true(n > 0);
	assert_int_equal(dft_tracestate_extract(ts[1], (size_t)n, &got), 0);
	assert_int_equal(got.n, 4);
	assert_int_equal(got.hop[0].parent_span_id, 0);
	assert_int_equal(got.hop[0].name_hash, dft_hop_name_hash("ingress", "fn-a"));
	assert_int_equal(got.hop[1].name_hash, dft_hop_name_hash("ingress", "route_match"));
	assert_int_equal(got.hop[2].name_hash, dft_hop_name_hash("ingress", "ext_authz"));
	assert_int_equal(got.hop[3].name_hash, dft_hop_name_hash("activator", "fn-a"));
	for (unsigned i = 1; i < 4; i++)
		assert_int_equal(got.hop[i].parent_span_id, proxy.span_id);
	assert_int_equal(got.hop[1].span_id, step[0].span_id);
	assert_int_equal(got.hop[3].span_id, next.span_id);

	dft_span_context(&next, &ctx);
	dft_span_begin(&fn, dft_name("handle"), &ctx);
	dft_span_set_hops(&fn, &got);
	dft_span_end(&fn);
	dft_ring_cons_attach(&c, active_ring(h), h->ring_slots);
	assert_int_equal(dft_ring_cons_avail(&c, 100), 1 + 2);
	assert_int_equal(check_hop_slots(&c, 0, &got), 2);
	dft_ring_cons_release(&c, 3);

	/* a full list leaves its oldest hop out, counted in the list and in the library */
	fill_list(&l, DFT_HOP_LIST_MAX, 9);
	stats(&before);
	assert_int_equal(dft_hop_list_add(&l, &proxy), 0);
	stats(&after);
	assert_int_equal(l.n, DFT_HOP_LIST_MAX);
	assert_int_equal(l.cut, 1);
	assert_int_equal(after.hops_cut - before.hops_cut, 1);
	assert_int_equal(l.hop[0].span_id, 1001);
	assert_int_equal(l.hop[DFT_HOP_LIST_MAX - 1].span_id, proxy.span_id);
	/* caller errors */
	assert_int_equal(dft_hop_list_add(NULL, &proxy), -EINVAL);
	assert_int_equal(dft_hop_list_add(&l, NULL), -EINVAL);
	l.n = DFT_HOP_LIST_MAX + 1;
	assert_int_equal(dft_hop_list_add(&l, &proxy), -EINVAL);
	assert_int_equal(dft_fini(0), 0);
	memset(&l, 0, sizeof(l));
	assert_int_equal(dft_hop_list_add(&l, &proxy), -EINVAL); /* not initialised */
}

/* Copy s into a heap buffer of exactly len bytes (no NUL): a read past it is an ASan error. */
static char *exact(const char *s, size_t len)
{
	char *p = malloc(len ? len : 1);

	assert_non_null(p);
	memcpy(p, s, len);
	return p;
}

static int extract_exact(const char *s, size_t len, struct dft_hop_list *l)
{
	char *p = exact(s, len);
	int rc = dft_tracestate_extract(p, len, l);

	free(p);
	return rc;
}

static void test_malformed(void **state)
{
	struct dft_options o = small_opts(64);
	static const char *bad[] = {
	    "dft=!!!!",                   /* not base64url */
	    "dft=AA",                     /* version 0 */
	    "dft=A",                      /* impossible length */
	    "dft=",                       /* empty value */
	    "dft",                        /* no '=' */
	    "=AQ",                        /* no key */
	    "DFT=AQAAAAAAAAAA",           /* upper-case key: not a valid list */
	    "a=1,b c=2,dft=AQAAAAAAAAAA", /* a bad member before ours */
	    "dft=AQAAAAAAAAAAAB",         /* non-canonical base64url tail */
	    "dft=AQAAAAAAAAAAAQ",         /* a hop cut short */
	};
	char valid[DFT_TRACESTATE_MAX + 1], buf[DFT_TRACESTATE_MAX + 8];
	struct dft_host_stats before, after;
	struct dft_hop_list l, src;
	struct dft_span sp;
	unsigned bad_seen = 0;
	int n;

	(void)state;
	assert_int_equal(dft_init("p", DFT_COMPONENT_PLATFORM, &o), 0);
	stats(&before);
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		l.n = 9;
		if (extract_exact(bad[i], strlen(bad[i]), &l) != -EINVAL)
			fail_msg("accepted %s", bad[i]);
		assert_int_equal(l.n, 0);
	}
	/* longer than W3C allows */
	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "dft=AQAAAAAAAAAA,k=", 19);
	assert_int_equal(extract_exact(buf, sizeof(buf), &l), -EINVAL);
	stats(&after);
	assert_int_equal(after.hops_malformed - before.hops_malformed, sizeof(bad) / sizeof(bad[0]) + 1);

	/* not malformed: no entry, nothing at all, a NUL before the end of the buffer */
	assert_int_equal(extract_exact("congo=t61rcWkgMzE", 17, &l), 0);
	assert_int_equal(l.n, 0);
	assert_int_equal(dft_tracestate_extract(NULL, 0, &l), 0);
	assert_int_equal(dft_tracestate_extract("", 0, &l), 0);
	assert_int_equal(dft_tracestate_extract("  ,  ", 5, &l), 0);
	/* caller errors are not counted as malformed headers */
	assert_int_equal(dft_tracestate_extract(NULL, 5, &l), -EINVAL);
	assert_int_equal(dft_tracestate_extract("dft=AQ", 6, NULL), -EINVAL);
	stats(&before);
	assert_int_equal(after.hops_malformed, before.hops_malformed);

	/* a valid header, then every truncation and many random corruptions of it */
	fill_list(&src, 3, 0);
	dft_span_begin(&sp, dft_name("op"), NULL);
	n = dft_tracestate_inject(&src, &sp, "rojo=00f067aa0ba902b7", 21, valid, sizeof(valid));
	assert_true(n > 0);
	memcpy(buf, valid, (size_t)n + 1);
	buf[n] = 0;
	assert_int_equal(dft_tracestate_extract(buf, sizeof(buf), &l), 0); /* stops at the NUL */
	assert_int_equal(l.n, 4);
	stats(&before);
	srand(12345);
	for (int len = 0; len <= n; len++) {
		int rc = extract_exact(valid, (size_t)len, &l);

		assert_true(rc == 0 || rc == -EINVAL);
		bad_seen += rc != 0;
		assert_true(rc == 0 ? l.n <= 4 : l.n == 0);
	}
	for (int it = 0; it < 20000; it++) {
		int len = n, rc;

		memcpy(buf, valid, (size_t)n);
		for (int k = 0; k < 1 + rand() % 3; k++)
			buf[rand() % n] = (char)(rand() % 256);
		if (rand() % 4 == 0)
			len = rand() % (n + 1);
		rc = extract_exact(buf, (size_t)len, &l);
		assert_true(rc == 0 || rc == -EINVAL);
		bad_seen += rc != 0;
		if (rc == 0) {
			assert_true(l.n <= DFT_HOP_LIST_MAX);
			for (unsigned i = 0; i < l.n; i++)
				assert_int_not_equal(l.hop[i].span_id, 0);
		} else {
			assert_int_equal(l.n, 0);
		}
	}
	stats(&after);
	assert_true(bad_seen > 1000);
	assert_int_equal(after.hops_malformed - before.hops_malformed, bad_seen);
	assert_int_equal(dft_fini(0), 0);
}

static void test_inject_errors(void **state)
{
	struct dft_options o = small_opts(64);
	char out[DFT_TRACESTATE_MAX + 1], longname[40];
	struct dft_hop_list l, got;
	struct dft_span sp;
	int n;

	(void)state;
	memset(longname, 'n', sizeof(longname));
	longname[33] = 0;
	/* not initialised */
	memset(&sp, 0, sizeof(sp));
	sp.span_id = 1;
	assert_int_equal(dft_tracestate_inject(NULL, &sp, NULL, 0, out, sizeof(out)), -EINVAL);

	assert_int_equal(dft_init("p", DFT_COMPONENT_PLATFORM, &o), 0);
	dft_span_begin_at(&sp, dft_name("op"), NULL, 1234567890123456789ull);
	assert_int_equal(dft_tracestate_inject(NULL, NULL, NULL, 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(dft_tracestate_inject(NULL, &sp, NULL, 0, NULL, 10), -EINVAL);
	/* "dft=" + a one-hop value does not fit 10 bytes */
	assert_int_equal(dft_tracestate_inject(NULL, &sp, NULL, 0, out, 10), -ENOSPC);
	n = dft_tracestate_inject(NULL, &sp, NULL, 0, out, sizeof(out));
	assert_true(n > 0);
	/* exactly enough room (with the NUL) works; one byte less does not */
	assert_int_equal(dft_tracestate_inject(NULL, &sp, NULL, 0, out, (size_t)n + 1), n);
	assert_int_equal(dft_tracestate_inject(NULL, &sp, NULL, 0, out, (size_t)n), -ENOSPC);
	/* an explicit start goes out unchanged */
	assert_int_equal(dft_tracestate_extract(out, (size_t)n, &got), 0);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.hop[0].start_ns, 1234567890123456789ull);
	assert_int_equal(got.hop[0].name_hash, dft_hop_name_hash("p", "op"));

	/* names travel as a hash: their length does not matter */
	dft_span_set_component(&sp, dft_name(longname), DFT_COMPONENT_PLATFORM);
	n = dft_tracestate_inject(NULL, &sp, NULL, 0, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal(dft_tracestate_extract(out, (size_t)n, &got), 0);
	assert_int_equal(got.hop[0].name_hash, dft_hop_name_hash(longname, "op"));
	dft_span_begin(&sp, 60000, NULL); /* an id that was never interned */
	assert_int_equal(dft_tracestate_inject(NULL, &sp, NULL, 0, out, sizeof(out)), -EINVAL);

	/* incoming hops the next component would reject */
	dft_span_begin(&sp, 0, NULL);
	fill_list(&l, 2, 0);
	l.hop[1].span_id = 0;
	assert_int_equal(dft_tracestate_inject(&l, &sp, NULL, 0, out, sizeof(out)), -EINVAL);
	fill_list(&l, 2, 0);
	l.n = DFT_HOP_LIST_MAX + 1;
	assert_int_equal(dft_tracestate_inject(&l, &sp, NULL, 0, out, sizeof(out)), -EINVAL);
	/* an empty operation is fine */
	fill_list(&l, 2, 0);
	assert_true(dft_tracestate_inject(&l, &sp, NULL, 0, out, sizeof(out)) > 0);
	assert_int_equal(dft_tracestate_extract(out, strlen(out), &got), 0);
	assert_int_equal(got.n, 3);
	assert_int_equal(got.hop[2].name_hash, dft_hop_name_hash("p", ""));
	/* nothing to send: no hops and no span */
	memset(&l, 0, sizeof(l));
	assert_int_equal(dft_tracestate_inject(&l, NULL, NULL, 0, out, sizeof(out)), -EINVAL);
	assert_int_equal(dft_fini(0), 0);
}

/* An empty list, or none, leaves the span a plain one-slot span. */
static void test_no_hops(void **state)
{
	struct dft_options o = small_opts(64);
	const struct dft_region_hdr *h;
	struct dft_ring_cons c;
	struct dft_hop_list l;
	struct dft_span sp;

	(void)state;
	assert_int_equal(dft_init("fn", DFT_COMPONENT_FUNCTION, &o), 0);
	h = region();
	memset(&l, 0, sizeof(l));
	dft_span_begin(&sp, 1, NULL);
	dft_span_set_hops(&sp, &l);
	dft_span_end(&sp);
	dft_span_begin(&sp, 1, NULL);
	dft_span_set_hops(&sp, NULL);
	dft_span_end(&sp);
	dft_ring_cons_attach(&c, active_ring(h), h->ring_slots);
	assert_int_equal(dft_ring_cons_avail(&c, 100), 2);
	assert_int_equal(dft_ring_cons_slot(&c, 0)->n_cont, 0);
	assert_int_equal(dft_ring_cons_slot(&c, 1)->n_cont, 0);
	assert_int_equal(dft_ring_cons_slot(&c, 1)->type, DFT_SLOT_SPAN);
	assert_int_equal(dft_fini(0), 0);
}

static const struct dft_msg_slot *msg_at(struct dft_ring_cons *c, uint64_t i)
{
	const struct dft_msg_slot *m = (const struct dft_msg_slot *)(const void *)dft_ring_cons_slot(c, i);

	assert_int_equal(m->type, DFT_SLOT_STATUS_MSG);
	for (unsigned k = m->len; k < DFT_STATUS_MSG_MAX; k++)
		assert_int_equal(m->text[k], 0);
	return m;
}

/*
 * An error span's status message travels in one continuation slot, last (after any hop slots);
 * longer texts are cut at a character boundary, invalid ones refused, and a span that does not end
 * in error sends none.
 */
static void test_status_message(void **state)
{
	static const char why[] = "upstream connect timeout";
	struct dft_options o = small_opts(64);
	const struct dft_region_hdr *h;
	const struct dft_msg_slot *m;
	struct dft_ring_cons c;
	struct dft_hop_list l;
	struct dft_span sp;
	char big[200];

	(void)state;
	assert_int_equal(dft_init("fn", DFT_COMPONENT_FUNCTION, &o), 0);
	h = region();
	/* 0: message only */
	dft_span_begin(&sp, 1, NULL);
	assert_int_equal(dft_span_set_status_message(&sp, why, strlen(why)), 0);
	dft_span_set_status(&sp, DFT_SPAN_ERROR);
	dft_span_end(&sp);
	/* 2: hops (two slots) and a message */
	fill_list(&l, DFT_HOPS_PER_SLOT + 1, 0);
	dft_span_begin(&sp, 1, NULL);
	dft_span_set_hops(&sp, &l);
	dft_span_set_exception(&sp);
	assert_int_equal(dft_span_set_status_message(&sp, why, strlen(why)), 0);
	dft_span_end(&sp);
	/* 6: a message on a span that ends OK: not sent */
	dft_span_begin(&sp, 1, NULL);
	assert_int_equal(dft_span_set_status_message(&sp, why, strlen(why)), 0);
	dft_span_set_status(&sp, DFT_SPAN_OK);
	dft_span_end(&sp);
	/* 7: too long, with a two-byte character across byte 120: cut before it */
	memset(big, 'a', sizeof(big));
	big[119] = (char)0xc3;
	big[120] = (char)0xa9;
	dft_span_begin(&sp, 1, NULL);
	dft_span_set_status(&sp, DFT_SPAN_ERROR);
	assert_int_equal(dft_span_set_status_message(&sp, big, sizeof(big)), 0);
	dft_span_end(&sp);
	/* 9: refused texts leave no message; NULL clears one */
	dft_span_begin(&sp, 1, NULL);
	dft_span_set_status(&sp, DFT_SPAN_ERROR);
	assert_int_equal(dft_span_set_status_message(&sp, why, strlen(why)), 0);
	assert_int_equal(dft_span_set_status_message(&sp, "bad\nline", 8), -EINVAL);
	dft_span_end(&sp);
	dft_span_begin(&sp, 1, NULL);
	dft_span_set_status(&sp, DFT_SPAN_ERROR);
	assert_int_equal(dft_span_set_status_message(&sp, "\xff", 1), -EINVAL);
	assert_int_equal(dft_span_set_status_message(&sp, why, strlen(why)), 0);
	assert_int_equal(dft_span_set_status_message(&sp, NULL, 5), 0);
	dft_span_end(&sp);

	dft_ring_cons_attach(&c, active_ring(h), h->ring_slots);
	assert_int_equal(dft_ring_cons_avail(&c, 100), 11);
	assert_int_equal(dft_ring_cons_slot(&c, 0)->n_cont, 1);
	assert_int_equal(dft_ring_cons_slot(&c, 0)->status, DFT_STATUS_ERROR);
	m = msg_at(&c, 1);
	assert_int_equal(m->len, strlen(why));
	assert_memory_equal(m->text, why, strlen(why));
	assert_int_equal(dft_ring_cons_slot(&c, 2)->n_cont, 3);
	assert_int_equal(dft_ring_cons_slot(&c, 3)->type, DFT_SLOT_HOPS);
	assert_int_equal(dft_ring_cons_slot(&c, 4)->type, DFT_SLOT_HOPS);
	assert_int_equal(msg_at(&c, 5)->len, strlen(why));
	assert_int_equal(dft_ring_cons_slot(&c, 6)->n_cont, 0);
	assert_int_equal(dft_ring_cons_slot(&c, 6)->type, DFT_SLOT_SPAN);
	assert_int_equal(dft_ring_cons_slot(&c, 7)->n_cont, 1);
	m = msg_at(&c, 8);
	assert_int_equal(m->len, 119);
	assert_memory_equal(m->text, big, 119);
	assert_int_equal(dft_ring_cons_slot(&c, 9)->n_cont, 0);
	assert_int_equal(dft_ring_cons_slot(&c, 10)->n_cont, 0);
	assert_int_equal(dft_fini(0), 0);
}

/* a failed test must not leave the library initialised for the next one */
static int fini(void **state)
{
	(void)state;
	dft_fini(0);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_platform_chain, fini),  cmocka_unit_test_teardown(test_slots_wrap, fini),
	    cmocka_unit_test_teardown(test_ring_full, fini),       cmocka_unit_test_teardown(test_overflow, fini),
	    cmocka_unit_test_teardown(test_steps_as_hops, fini), cmocka_unit_test_teardown(test_malformed, fini),
	    cmocka_unit_test_teardown(test_inject_errors, fini),   cmocka_unit_test_teardown(test_no_hops, fini),
	    cmocka_unit_test_teardown(test_status_message, fini),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
