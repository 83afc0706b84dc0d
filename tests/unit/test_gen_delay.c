/* SPDX-License-Identifier: MIT */
/*
 * difftrace-gen's delay queue against a daemon-less libdifftrace: spans reach the ring only once
 * the clock has passed their end, in (end, arrival) order; a full queue or hop pool hands the
 * earliest-ending span over early and counts it; a queued span keeps its own copy of its hop list.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <difftrace/difftrace.h>

#include "gen_delay.h"

#define T0 1800000000000000000ull

static uint16_t op;

static uint64_t produced(void)
{
	struct dft_host_stats st;

	assert_int_equal(dft_stats(&st), 0);
	return st.produced;
}

static struct dft_span span_at(uint64_t start)
{
	struct dft_span sp;

	dft_span_begin_at(&sp, op, NULL, start);
	return sp;
}

static void test_order(void **state)
{
	struct dft_gen_delay d;
	struct dft_span sp;
	uint64_t p0 = produced(), ends[] = {50, 10, 30, 10, 20, 40};

	(void)state;
	assert_int_equal(dft_gen_delay_init(&d, 16, 4), 0);
	for (unsigned i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		sp = span_at(T0);
		dft_gen_delay_end(&d, &sp, T0 + ends[i]);
	}
	assert_int_equal(produced(), p0); /* nothing before its end */
	assert_int_equal(d.n, 6);
	/* equal ends leave in arrival order: the 10 pushed second is on top */
	assert_int_equal(d.heap[0].end_ns, T0 + 10);
	assert_int_equal(d.heap[0].seq, 1);
	assert_int_equal(dft_gen_delay_flush(&d, T0 + 9), T0 + 10);
	assert_int_equal(produced(), p0);
	assert_int_equal(dft_gen_delay_flush(&d, T0 + 10), T0 + 20); /* both 10s */
	assert_int_equal(produced(), p0 + 2);
	assert_int_equal(dft_gen_delay_flush(&d, T0 + 45), T0 + 50);
	assert_int_equal(produced(), p0 + 5);
	assert_int_equal(dft_gen_delay_flush(&d, UINT64_MAX), UINT64_MAX);
	assert_int_equal(produced(), p0 + 6);
	assert_int_equal(d.n, 0);
	assert_int_equal(d.early, 0);
	assert_int_equal(d.max_depth, 6);
	dft_gen_delay_fini(&d);
}

static void test_bounded(void **state)
{
	struct dft_gen_delay d;
	struct dft_span sp;
	uint64_t p0 = produced(), far = UINT64_MAX / 2;

	(void)state;
	assert_int_equal(dft_gen_delay_init(&d, 4, 1), 0);
	for (uint64_t i = 0; i < 4; i++) {
		sp = span_at(T0);
		dft_gen_delay_end(&d, &sp, far + 10 * (i + 1)); /* 10, 20, 30, 40 */
	}
	/* full: the earliest end (10) goes now, counted; the 25 waits */
	sp = span_at(T0);
	dft_gen_delay_end(&d, &sp, far + 25);
	assert_int_equal(produced(), p0 + 1);
	assert_int_equal(d.early, 1);
	assert_int_equal(d.n, 4);
	assert_int_equal(d.heap[0].end_ns, far + 20);
	/* full, and the new span ends before everything queued: it goes itself */
	sp = span_at(T0);
	dft_gen_delay_end(&d, &sp, far + 5);
	assert_int_equal(produced(), p0 + 2);
	assert_int_equal(d.early, 2);
	assert_int_equal(d.heap[0].end_ns, far + 20);
	dft_gen_delay_flush(&d, UINT64_MAX);
	assert_int_equal(produced(), p0 + 6);
	assert_int_equal(d.max_depth, 4);
	dft_gen_delay_fini(&d);

	assert_int_equal(dft_gen_delay_init(&d, 0, 0), -EINVAL);
}

static void test_hops(void **state)
{
	struct dft_gen_delay d;
	struct dft_hop_list hops;
	struct dft_span sp;
	uint64_t p0 = produced(), far = UINT64_MAX / 2;

	(void)state;
	memset(&hops, 0, sizeof(hops));
	hops.n = 1;
	hops.hop[0].span_id = 7;
	hops.hop[0].start_ns = T0;
	assert_int_equal(dft_gen_delay_init(&d, 8, 1), 0);
	sp = span_at(T0);
	dft_span_set_hops(&sp, &hops);
	dft_gen_delay_end(&d, &sp, far);
	/* the caller's list may change at once: the queue holds a copy, not a pointer to it */
	hops.hop[0].span_id = 8;
	assert_int_equal(d.n, 1);
	assert_null(d.heap[0].sp.hops);
	assert_int_equal(d.heap[0].hops, 0);
	assert_int_equal(d.hop[0].hop[0].span_id, 7);
	assert_int_equal(d.n_hop_free, 0);
	/* the pool is empty: a second span with hops goes now (counted), one without still waits */
	sp = span_at(T0);
	dft_span_set_hops(&sp, &hops);
	dft_gen_delay_end(&d, &sp, far + 1);
	assert_int_equal(d.early, 1);
	assert_int_equal(produced(), p0 + 1);
	sp = span_at(T0);
	dft_gen_delay_end(&d, &sp, far + 2);
	assert_int_equal(d.n, 2);
	dft_gen_delay_flush(&d, UINT64_MAX);
	assert_int_equal(produced(), p0 + 3);
	assert_int_equal(d.n_hop_free, 1); /* given back once the span is in the ring */
	dft_gen_delay_fini(&d);

	/* no queue: at once */
	sp = span_at(T0);
	dft_gen_delay_end(NULL, &sp, T0 + 1);
	assert_int_equal(produced(), p0 + 4);
}

static int setup(void **state)
{
	struct dft_options o = {.size = sizeof(o), .flags = DFT_OPT_NO_DAEMON, .ring_slots = 1024};

	(void)state;
	if (dft_init("gen-delay-test", DFT_COMPONENT_PLATFORM, &o))
		return -1;
	op = dft_name("op");
	return op ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	dft_fini(0);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order),
	    cmocka_unit_test(test_bounded),
	    cmocka_unit_test(test_hops),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
