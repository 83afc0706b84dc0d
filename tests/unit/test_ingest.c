/* SPDX-License-Identifier: MIT */
/*
 * The mmap ingest backend as an instance (ingest.h) on a synthetic region (bench/nic/synth.c:
 * slots written through the producer half of dft/ring.h, as libdifftrace writes them): slots come
 * out in order and go back only when released, the region view shows what the host published
 * (names, metrics page, clock, counters) and nothing beyond it, an impossible head is refused, and
 * the eviction setting belongs to the instance. No EAL: the mmap backend needs none. And what the
 * rdma-read backend makes of its READ copies (ingest_rdma_copy.c, no verbs): a clock block is taken
 * only when two READs agree, a metrics entry that differs between two READs is marked torn.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ingest.h"
#include "ingest_rdma_copy.h"
#include "synth.h"

struct fx {
	struct dft_synth s;
	struct dft_nic_region r;
	struct dft_ingest *in;
};

static struct dft_ring_hdr *ring(struct fx *f, uint32_t k)
{
	return dft_region_ring(f->s.base, f->s.g.rings_off, f->s.g.ring_stride, k);
}

static void open_fx(struct fx *f, bool evict)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(dft_synth_create(2, 64, DFT_SYNTH_FUNCTION, 1000000000ull, &f->s), 0);
	f->r.fd = f->r.conn = -1;
	f->r.map = f->s.base;
	f->r.g = f->s.g;
	assert_int_equal(dft_ingest_create(&(struct dft_ingest_cfg){.name = "mmap", .evict_slots = evict}, &f->in), 0);
	assert_ptr_equal(f->in->ops, &dft_ingest_mmap_ops);
	assert_int_equal(dft_ingest_attach(f->in, &f->r), 0);
}

static void close_fx(struct fx *f)
{
	dft_ingest_detach(f->in, &f->r);
	assert_null(f->r.ingest_priv);
	dft_ingest_destroy(f->in);
	dft_synth_destroy(&f->s);
}

static void test_by_name(void **state)
{
	struct dft_ingest *in = (struct dft_ingest *)1;

	(void)state;
	assert_int_equal(dft_ingest_create(&(struct dft_ingest_cfg){.name = "carrier-pigeon"}, &in), -ENOENT);
	assert_null(in);
	assert_ptr_equal(dft_ingest_by_name("mmap"), &dft_ingest_mmap_ops);
	assert_ptr_equal(dft_ingest_by_name("dmadev"), &dft_ingest_dmadev_ops);
	dft_ingest_destroy(NULL); /* nothing to do */
}

/* Slots come out in ring order, twice when not released, and the tail moves only on release. */
static void poll_release(bool evict)
{
	struct dft_slot burst[64], again[64];
	struct fx f;
	int n;

	open_fx(&f, evict);
	assert_true(dft_ingest_empty(f.in, &f.r));
	assert_int_equal(dft_synth_fill(&f.s, 1, 10), 10);
	assert_false(dft_ingest_empty(f.in, &f.r));
	assert_int_equal(dft_ingest_poll(f.in, &f.r, 0, burst, 64), 0);
	n = dft_ingest_poll(f.in, &f.r, 1, burst, 4);
	assert_int_equal(n, 4);
	/* nothing released yet: the same slots again, and the host's tail has not moved */
	assert_int_equal(dft_ingest_poll(f.in, &f.r, 1, again, 64), 10);
	assert_memory_equal(burst, again, 4 * sizeof(burst[0]));
	assert_int_equal(dft_load_relaxed(&ring(&f, 1)->tail), 0);
	for (int i = 1; i < 10; i++)
		assert_true(again[i].span_id != again[i - 1].span_id);
	dft_ingest_release(f.in, &f.r, 1, 3);
	assert_int_equal(dft_load_relaxed(&ring(&f, 1)->tail), 3);
	assert_int_equal(dft_ingest_poll(f.in, &f.r, 1, burst, 64), 7);
	assert_memory_equal(burst, &again[3], 7 * sizeof(burst[0]));
	dft_ingest_release(f.in, &f.r, 1, 7);
	assert_int_equal(dft_load_relaxed(&ring(&f, 1)->tail), 10);
	assert_true(dft_ingest_empty(f.in, &f.r));
	close_fx(&f);
}

static void test_poll_release(void **state)
{
	(void)state;
	poll_release(false);
}

static void test_poll_release_evict(void **state)
{
	(void)state;
	poll_release(true); /* same slots whether or not the instance evicts them (or the CPU can) */
}

/* A second attach of the same region continues from the tail the first left in the region. */
static void test_reattach_continues(void **state)
{
	struct dft_slot burst[64];
	struct fx f;

	(void)state;
	open_fx(&f, false);
	assert_int_equal(dft_synth_fill(&f.s, 0, 6), 6);
	assert_int_equal(dft_ingest_poll(f.in, &f.r, 0, burst, 64), 6);
	dft_ingest_release(f.in, &f.r, 0, 2);
	dft_ingest_detach(f.in, &f.r);
	assert_int_equal(dft_ingest_attach(f.in, &f.r), 0);
	assert_int_equal(dft_ingest_poll(f.in, &f.r, 0, burst, 64), 4);
	close_fx(&f);
}

/* A head more than a ring ahead of the tail is refused before a slot is read. */
static void test_impossible_head(void **state)
{
	struct dft_slot burst[64];
	struct fx f;

	(void)state;
	open_fx(&f, false);
	dft_store_release(&ring(&f, 0)->head, 65);
	assert_int_equal(dft_ingest_poll(f.in, &f.r, 0, burst, 64), -EOVERFLOW);
	/* nothing readable behind it: it cannot hold a drain up */
	assert_true(dft_ingest_empty(f.in, &f.r));
	close_fx(&f);
}

/* The view: what the host published, read once, unclamped only where the caller clamps. */
static void test_view(void **state)
{
	struct dft_region_hdr *h;
	struct dft_metrics_page *pg;
	struct dft_ring_claims cl;
	struct dft_clock_cal cal;
	char name[DFT_NAME_MAX + 1];
	struct fx f;

	(void)state;
	open_fx(&f, false);
	h = f.s.base;
	assert_int_equal(dft_view_names_published(f.in, &f.r), DFT_SYNTH_NAMES);
	assert_true(dft_view_name(f.in, &f.r, DFT_SYNTH_NAMES, 1, name, sizeof(name)) > 0);
	/* an id beyond what the caller says is published is not read */
	assert_int_equal(dft_view_name(f.in, &f.r, 0, 1, name, sizeof(name)), -ENOENT);
	assert_string_equal(name, "");
	/* a claim beyond the capacity is clamped by the wrapper */
	dft_store_release(&h->names_published, f.r.g.name_capacity + 100);
	assert_int_equal(dft_view_names_published(f.in, &f.r), f.r.g.name_capacity);

	pg = (struct dft_metrics_page *)(void *)((uint8_t *)f.s.base + f.s.g.metrics_off);
	pg->count = 1;
	pg->entry[0].component_id = 3;
	assert_ptr_equal(dft_view_metrics(f.in, &f.r), pg);
	assert_int_equal(dft_view_metrics(f.in, &f.r)->entry[0].component_id, 3);

	assert_int_equal(dft_view_clock(f.in, &f.r, &cal), 0);
	assert_int_equal(cal.tick_base, h->tick_base);
	h->clock_seq |= 1u; /* the host is rewriting it: no calibration now */
	assert_int_not_equal(dft_view_clock(f.in, &f.r, &cal), 0);

	ring(&f, 1)->produced = 40;
	ring(&f, 1)->dropped_full = 7;
	ring(&f, 1)->dropped_hops = 9;
	h->dropped_no_ring = 11;
	dft_view_claims(f.in, &f.r, 1, &cl);
	assert_int_equal(cl.produced, 40);
	assert_int_equal(cl.dropped_full, 7);
	assert_int_equal(cl.dropped_hops, 9);
	assert_int_equal(dft_view_dropped_no_ring(f.in, &f.r), 11);
	close_fx(&f);
}

/* A region registered over the network has no mapping: the mmap backend cannot take it. */
static void test_no_mapping(void **state)
{
	struct dft_nic_region r = {.fd = -1, .conn = -1};
	struct dft_ingest *in;

	(void)state;
	assert_int_equal(dft_ingest_create(&(struct dft_ingest_cfg){.name = "mmap"}, &in), 0);
	assert_int_equal(dft_ingest_attach(in, &r), -EINVAL);
	assert_null(r.ingest_priv);
	dft_ingest_destroy(in);
}

static void clock_copy(struct dft_region_hdr *h, uint32_t seq, uint64_t tick_base)
{
	memset(h, 0, sizeof(*h));
	h->clock_seq = seq;
	h->tick_base = tick_base;
	h->tick_mult = 1ull << 32;
	h->tick_shift = 32;
	h->ns_base = 1700000000000000000ull;
	h->tick_hz = 1000000000ull;
}

/* rdma-read: a clock block is believed only when two successive READs saw the same bytes, even. */
static void test_rr_clock(void **state)
{
	static struct dft_rr_clock c;
	static struct dft_region_hdr h;
	struct dft_clock_cal cal;

	(void)state;
	dft_rr_clock_init(&c);
	assert_int_not_equal(dft_clock_cal_read(&c.hdr, &cal), 0); /* nothing READ yet */
	clock_copy(&h, 2, 100);
	dft_rr_clock_seed(&c, &h);
	dft_rr_clock_take(&c, &h); /* the second READ agrees with the first */
	assert_int_equal(dft_clock_cal_read(&c.hdr, &cal), 0);
	assert_int_equal(cal.tick_base, 100);
	clock_copy(&h, 4, 200); /* rewritten: one READ of it is not enough */
	dft_rr_clock_take(&c, &h);
	assert_int_equal(dft_clock_cal_read(&c.hdr, &cal), 0);
	assert_int_equal(cal.tick_base, 100);
	dft_rr_clock_take(&c, &h); /* now two agree */
	assert_int_equal(dft_clock_cal_read(&c.hdr, &cal), 0);
	assert_int_equal(cal.tick_base, 200);
	clock_copy(&h, 5, 300); /* odd: being written, even twice the same */
	dft_rr_clock_take(&c, &h);
	dft_rr_clock_take(&c, &h);
	assert_int_equal(dft_clock_cal_read(&c.hdr, &cal), 0);
	assert_int_equal(cal.tick_base, 200);
}

/* rdma-read: an entry that differs between the two READs of the page is marked torn (odd seq). */
static void test_rr_metrics(void **state)
{
	static struct dft_metrics_page m1, m2, out;

	(void)state;
	m1.count = m2.count = 2;
	m1.entry[0] = m2.entry[0] = (struct dft_metric_entry){.seq = 2, .component_id = 3, .cpu_throttle_ppm = 9};
	m1.entry[1] = (struct dft_metric_entry){.seq = 4, .component_id = 4, .cpu_throttle_ppm = 1};
	m2.entry[1] = (struct dft_metric_entry){.seq = 4, .component_id = 4, .cpu_throttle_ppm = 7};
	dft_rr_metrics_merge(&out, &m1, &m2);
	assert_int_equal(out.count, 2);
	assert_int_equal(out.entry[0].seq, 2);
	assert_int_equal(out.entry[0].cpu_throttle_ppm, 9);
	assert_int_equal(out.entry[1].seq & 1u, 1u);
	assert_int_equal(out.entry[1].component_id, 4);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_by_name),
		cmocka_unit_test(test_poll_release),
		cmocka_unit_test(test_poll_release_evict),
		cmocka_unit_test(test_reattach_continues),
		cmocka_unit_test(test_impossible_head),
		cmocka_unit_test(test_view),
		cmocka_unit_test(test_no_mapping),
		cmocka_unit_test(test_rr_clock),
		cmocka_unit_test(test_rr_metrics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
