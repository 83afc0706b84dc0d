/* SPDX-License-Identifier: MIT */
/*
 * The worker (dft_worker_step: control messages, ring polling, validation, filter, hold window,
 * batching) on a synthetic region (bench/nic/synth.c: slots written through the producer half of
 * dft/ring.h, as libdifftrace writes them), with the mmap ingest backend. EAL runs with --no-huge
 * (rte_ring for the hand-offs); no transport: closed batches are taken off the ring as the main
 * lcore would. Every span is accounted for, and a region that lies (garbage slots, an impossible
 * head, counters that run backwards) costs only its own spans.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include "ctx.h"
#include "ingest.h"
#include "eal_fixture.h"
#include "synth.h"

struct rig {
	struct dft_nic_config cfg;
	struct dft_nic_ctx ctx;
	struct dft_nic_region *r;
	struct dft_synth s;
	uint64_t batched_spans; /* spans in the batches taken off the hand-off ring */
};

static uint64_t rig_hold_ns; /* nonzero: the hold time rig_open configures */

static void take_batches(struct rig *g)
{
	void *obj;

	while (rte_ring_sc_dequeue(g->ctx.batches, &obj) == 0) {
		g->batched_spans += dft_batch_spans(obj);
		dft_batch_destroy(obj);
	}
}

static void send_ctl(struct rig *g, enum dft_ctl_type type, struct dft_nic_region *r)
{
	struct dft_ctl_msg *m = malloc(sizeof(*m));

	assert_non_null(m);
	m->type = type;
	m->region = r;
	assert_int_equal(rte_ring_sp_enqueue(g->ctx.ctl_to_worker, m), 0);
}

static void rig_open(struct rig *g, enum dft_synth_mix mix, bool hold)
{
	static unsigned gen;
	char name[3][32];

	memset(g, 0, sizeof(*g));
	memset(&dft_nic_ctr, 0, sizeof(dft_nic_ctr));
	dft_nic_config_defaults(&g->cfg);
	g->cfg.hold.enabled = hold;
	if (rig_hold_ns)
		g->cfg.hold.hold_ns = rig_hold_ns;
	g->cfg.ship_profiles = false;
	g->ctx.cfg = &g->cfg;
	assert_int_equal(dft_ingest_create(&(struct dft_ingest_cfg){.name = "mmap", .evict_slots = true}, &g->ctx.ingest), 0);
	g->ctx.tsc_hz = rte_get_tsc_hz();
	g->ctx.flush_tsc = 0; /* close a batch on every step: the test sees them at once */
	__atomic_store_n(&dft_nic_tx_ready, true, __ATOMIC_RELAXED);
	gen++;
	for (int i = 0; i < 3; i++)
		snprintf(name[i], sizeof(name[i]), "tw_%d_%u", i, gen);
	g->ctx.ctl_to_worker = rte_ring_create(name[0], 64, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	g->ctx.ctl_to_main = rte_ring_create(name[1], 64, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	g->ctx.batches = rte_ring_create(name[2], 64, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	assert_true(g->ctx.ctl_to_worker && g->ctx.ctl_to_main && g->ctx.batches);
	assert_int_equal(dft_worker_init(&g->ctx), 0);
	assert_int_equal(dft_synth_create(4, 256, mix, 0, &g->s), 0);
	g->r = calloc(1, sizeof(*g->r));
	assert_non_null(g->r);
	g->r->fd = -1;
	g->r->conn = -1;
	g->r->map = g->s.base;
	g->r->g = g->s.g;
	g->r->names_published = DFT_SYNTH_NAMES;
	send_ctl(g, DFT_CTL_ATTACH, g->r);
	dft_worker_step(&g->ctx);
	assert_non_null(g->r->rings);
}

/* Step until every ring is consumed and nothing is left in an open batch. */
static void drain(struct rig *g)
{
	for (unsigned i = 0; i < 100000; i++) {
		bool empty = dft_ingest_empty(g->ctx.ingest, g->r);

		dft_worker_step(&g->ctx);
		take_batches(g);
		if (empty && !g->ctx.open && !g->ctx.closed)
			return;
	}
	fail_msg("the worker did not drain the region");
}

/* Stop the worker (hold window flushed, final counters) and free everything. */
static void rig_close(struct rig *g)
{
	void *obj;

	send_ctl(g, DFT_CTL_STOP, NULL);
	for (unsigned i = 0; i < 100000 && !dft_worker_stopped(&g->ctx); i++) {
		dft_worker_step(&g->ctx);
		take_batches(g);
	}
	assert_true(dft_worker_stopped(&g->ctx));
	take_batches(g);
	while (rte_ring_dequeue(g->ctx.ctl_to_main, &obj) == 0)
		free(obj);
	rte_ring_free(g->ctx.ctl_to_worker);
	rte_ring_free(g->ctx.ctl_to_main);
	rte_ring_free(g->ctx.batches);
	dft_worker_fini(&g->ctx);
	dft_ingest_destroy(g->ctx.ingest);
	dft_synth_destroy(&g->s);
	free(g->r);
}

static uint64_t lost(const struct dft_nic_counters *c)
{
	return c->lost_ring_full + c->lost_no_ring + c->lost_invalid + c->lost_hold_overflow;
}

/* Function spans: every one kept for the function rule and batched. */
static void test_function_spans(void **state)
{
	struct rig g;
	uint64_t filled;

	(void)state;
	rig_open(&g, DFT_SYNTH_FUNCTION, true);
	filled = dft_synth_fill_all(&g.s);
	assert_int_equal(filled, 4 * 256);
	drain(&g);
	filled += dft_synth_fill_all(&g.s); /* the rings wrap: a second lap */
	drain(&g);
	rig_close(&g);
	assert_int_equal(dft_nic_ctr.produced, filled);
	assert_int_equal(dft_nic_ctr.batched, filled);
	assert_int_equal(g.batched_spans, filled);
	assert_int_equal(dft_nic_ctr.kept[0], filled); /* bit 0: function */
	assert_int_equal(dft_nic_ctr.filtered, 0);
	assert_int_equal(lost(&dft_nic_ctr), 0);
}

/* Normal platform traces: every span filtered (held, then dropped when the root ends normally). */
static void test_platform_normal(void **state)
{
	struct rig g;
	uint64_t filled;

	(void)state;
	rig_open(&g, DFT_SYNTH_PLATFORM_NORMAL, true);
	filled = dft_synth_fill_all(&g.s);
	drain(&g);
	rig_close(&g);
	assert_int_equal(dft_nic_ctr.produced, filled);
	assert_int_equal(dft_nic_ctr.filtered, filled);
	assert_int_equal(dft_nic_ctr.batched, 0);
	assert_int_equal(g.batched_spans, 0);
	assert_int_equal(dft_nic_ctr.held, 0);
	assert_int_equal(lost(&dft_nic_ctr), 0);
}

/*
 * A lying region: garbage in some slots, then a head that runs ahead of what the ring can hold,
 * and a produced counter rewritten smaller. Garbage is counted invalid and skipped, the impossible
 * head is counted as a corrupt ring and never read through, the counters never run backwards, and
 * every honest span of the region is still accounted for.
 */
static void test_hostile_region(void **state)
{
	struct rig g;
	struct dft_ring_hdr *h0, *h1;
	struct dft_slot *slots;
	uint64_t filled, produced_before;

	(void)state;
	rig_open(&g, DFT_SYNTH_FUNCTION, false);
	filled = dft_synth_fill(&g.s, 0, 100);
	h0 = g.s.prod[0].hdr;
	slots = dft_ring_slots(h0);
	/* scribble over 10 committed slots: random bytes, and a slot type nobody knows */
	srand(7);
	for (unsigned i = 10; i < 20; i++) {
		uint8_t *b = (uint8_t *)&slots[i];

		for (size_t k = 0; k < sizeof(slots[i]); k++)
			b[k] = (uint8_t)rand();
		b[0] = 0xee;
	}
	drain(&g);
	assert_int_equal(dft_nic_ctr.lost_invalid, 10);
	assert_int_equal(dft_nic_ctr.batched + dft_nic_ctr.lost_invalid, filled);
	/* ring 1: a head claiming more slots than the ring has */
	filled += dft_synth_fill(&g.s, 1, 10);
	h1 = g.s.prod[1].hdr;
	__atomic_store_n(&h1->head, h1->head + 100000, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < 1000; i++)
		dft_worker_step(&g.ctx);
	take_batches(&g);
	assert_true(dft_nic_ctr.ring_corrupt >= 1);
	/* the other rings keep working */
	filled += dft_synth_fill(&g.s, 2, 50);
	for (unsigned i = 0; i < 1000; i++)
		dft_worker_step(&g.ctx);
	take_batches(&g);
	/* counters rewritten smaller by the host: the NIC's copy never runs backwards */
	produced_before = dft_nic_ctr.produced;
	__atomic_store_n(&h0->produced, 3, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < 2000; i++)
		dft_worker_step(&g.ctx);
	assert_true(dft_nic_ctr.produced >= produced_before);
	/* counters scribbled to absurd values: they move by what elapsed time allows, not to 1.8e19 */
	__atomic_store_n(&h0->produced, UINT64_MAX - 5, __ATOMIC_RELAXED);
	__atomic_store_n(&h0->dropped_full, UINT64_MAX / 2, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < 2000; i++)
		dft_worker_step(&g.ctx);
	assert_true(dft_nic_ctr.lost_ring_full < 1000000000000ull);
	assert_true(dft_nic_ctr.produced < 1000000000000ull);
	rig_close(&g);
	/* the 10 spans behind the corrupt head were never read: not batched, not invalid */
	assert_int_equal(dft_nic_ctr.batched + dft_nic_ctr.lost_invalid, filled - 10);
	assert_int_equal(g.batched_spans, dft_nic_ctr.batched);
}

/*
 * Span time is a host's claim. A second region writes spans whose end times climb in steps just
 * under clock_jump_ms, which would carry one NIC-wide span time some 50 minutes ahead: the
 * platform spans the first region has held would all expire at once, their anomalies unseen.
 * Per-region clocks keep the NIC's span time at the slowest active region's.
 */
static void test_span_clock_per_region(void **state)
{
	struct rig g;
	struct dft_synth evil;
	struct dft_nic_region *re;
	struct dft_slot *slots;
	uint64_t victim_now, step;
	uint32_t n;

	(void)state;
	/* a minute's hold: only span time can expire these spans within the test (the wall bound
	 * is 4 minutes, and a region counts as idle after a hold time: generous ceilings) */
	rig_hold_ns = 60000000000ull;
	rig_open(&g, DFT_SYNTH_PLATFORM_NORMAL, true);
	rig_hold_ns = 0;
	/* half a trace: no root yet, so the window holds them */
	assert_int_equal(dft_synth_fill(&g.s, 0, 4), 4);
	for (unsigned i = 0; i < 200; i++)
		dft_worker_step(&g.ctx);
	assert_int_equal(dft_nic_ctr.held, 4);
	victim_now = g.r->span_now_ns;
	assert_true(victim_now > 0);

	assert_int_equal(dft_synth_create(1, 256, DFT_SYNTH_FUNCTION, 0, &evil), 0);
	n = dft_synth_fill(&evil, 0, 100);
	assert_int_equal(n, 100);
	slots = dft_ring_slots(evil.prod[0].hdr);
	step = g.cfg.prof.clock_jump_ns / 2;
	for (uint32_t i = 0; i < n; i++) {
		slots[i].start = victim_now + (i + 1) * step;
		slots[i].end = slots[i].start + 1000;
	}
	re = calloc(1, sizeof(*re));
	assert_non_null(re);
	re->fd = -1;
	re->conn = -1;
	re->map = evil.base;
	re->g = evil.g;
	re->names_published = DFT_SYNTH_NAMES;
	send_ctl(&g, DFT_CTL_ATTACH, re);
	for (unsigned i = 0; i < 2000; i++) {
		dft_worker_step(&g.ctx);
		take_batches(&g);
	}
	/* the racing region moved its own clock, and nobody else's */
	assert_true(re->span_now_ns >= victim_now + n * step);
	assert_int_equal(dft_nic_ctr.span_clock_jumps, 0);
	assert_true(g.ctx.span_now_ns <= victim_now);
	assert_int_equal(dft_nic_ctr.held, 4);
	assert_int_equal(dft_nic_ctr.hold_timeouts, 0);
	assert_int_equal(dft_nic_ctr.batched, n);
	/* the victim's trace goes on as usual: its root ends it, the normal spans filtered */
	assert_int_equal(dft_synth_fill(&g.s, 0, 4), 4);
	drain(&g);
	assert_int_equal(dft_nic_ctr.held, 0);
	assert_int_equal(dft_nic_ctr.hold_timeouts, 0);
	send_ctl(&g, DFT_CTL_DETACH, re);
	for (unsigned i = 0; i < 2000 && g.ctx.n_regions > 1; i++)
		dft_worker_step(&g.ctx);
	assert_int_equal(g.ctx.n_regions, 1);
	rig_close(&g);
	dft_synth_destroy(&evil);
	free(re);
}

static int setup(void **state)
{
	(void)state;
	return dft_test_eal_up("test_worker", "dftworker", NULL, 0);
}

static int teardown(void **state)
{
	(void)state;
	return dft_test_eal_down();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_function_spans),
		cmocka_unit_test(test_platform_normal),
		cmocka_unit_test(test_hostile_region),
		cmocka_unit_test(test_span_clock_per_region),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
