/* SPDX-License-Identifier: MIT */
/*
 * The hold window: retroactive release when the trace turns anomalous (also through a later
 * function error), early drop when the root ends normally, timeout, overflow, the bounded memory
 * of anomalous traces, shutdown flush.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nic.h"

#define MS 1000000ull

struct drops {
	unsigned n;
	uint64_t last_span;
};

static void on_drop(void *arg, const struct dft_span_rec *r)
{
	struct drops *d = arg;

	d->n++;
	d->last_span = r->span_id;
}

static struct dft_span_rec rec(uint8_t trace, uint64_t span, uint16_t flags, uint32_t keep)
{
	struct dft_span_rec r;

	memset(&r, 0, sizeof(r));
	memset(r.trace_id, trace, sizeof(r.trace_id));
	r.span_id = span;
	r.flags = flags;
	r.keep_reasons = keep;
	r.prof_key = -1;
	return r;
}

static struct dft_hold *mk(uint32_t max_spans, uint32_t remember)
{
	struct dft_hold_cfg c = {.enabled = true, .max_spans = max_spans, .hold_ns = 500 * MS,
				 .remember_traces = remember, .remember_ns = 2000 * MS};
	struct dft_hold *h;

	assert_int_equal(dft_hold_create(&c, &h), 0);
	return h;
}

static enum dft_fate admit(struct dft_hold *h, struct dft_span_rec *r, bool holdable, uint64_t now, struct drops *d)
{
	struct dft_hold_now t = {.span_ns = now, .wall_ns = now};

	return dft_hold_admit(h, r, holdable, &t, on_drop, d);
}

/* Both clocks at t: the span-time tests run as a live NIC would, span time beside its own clock. */
static unsigned expire(struct dft_hold *h, uint64_t t, struct drops *d)
{
	struct dft_hold_now now = {.span_ns = t, .wall_ns = t};

	return dft_hold_expire(h, &now, on_drop, d);
}

static uint64_t held(const struct dft_hold *h)
{
	struct dft_hold_stats st;

	dft_hold_stats(h, &st);
	return st.held;
}

static void test_retro_release(void **state)
{
	struct dft_hold *h = mk(64, 16);
	struct drops d = {0};
	struct dft_span_rec r;
	const struct dft_span_rec *out;
	struct dft_hold_stats st;

	(void)state;
	r = rec(1, 11, 0, 0);
	assert_int_equal(admit(h, &r, true, 0, &d), DFT_FATE_HELD);
	r = rec(1, 12, 0, 0);
	assert_int_equal(admit(h, &r, true, 1, &d), DFT_FATE_HELD);
	r = rec(2, 21, 0, 0); /* another trace, must stay held */
	assert_int_equal(admit(h, &r, true, 1, &d), DFT_FATE_HELD);
	assert_int_equal(held(h), 3);
	/* a normal function span is kept but proves nothing about the trace */
	r = rec(1, 13, 0, DFT_KEEP_FUNCTION);
	assert_int_equal(admit(h, &r, false, 2, &d), DFT_FATE_REPORT);
	assert_null(dft_hold_release_peek(h));
	/* a later function error: the trace is anomalous, its held spans come back marked retro */
	r = rec(1, 14, 0, DFT_KEEP_FUNCTION | DFT_KEEP_ERROR);
	assert_int_equal(admit(h, &r, false, 3, &d), DFT_FATE_REPORT);
	assert_int_equal(r.keep_reasons, DFT_KEEP_FUNCTION | DFT_KEEP_ERROR);
	out = dft_hold_release_peek(h);
	assert_non_null(out);
	assert_int_equal(out->span_id, 11);
	assert_int_equal(out->keep_reasons, DFT_KEEP_RETRO);
	dft_hold_release_pop(h);
	out = dft_hold_release_peek(h);
	assert_non_null(out);
	assert_int_equal(out->span_id, 12);
	dft_hold_release_pop(h);
	assert_null(dft_hold_release_peek(h));
	assert_int_equal(held(h), 1);
	/* later spans of the trace are kept, even its normal root */
	r = rec(1, 15, 0, 0);
	assert_int_equal(admit(h, &r, true, 4, &d), DFT_FATE_REPORT);
	assert_int_equal(r.keep_reasons, DFT_KEEP_RETRO);
	r = rec(1, 16, DFT_SF_ROOT, 0);
	assert_int_equal(admit(h, &r, true, 5, &d), DFT_FATE_REPORT);
	dft_hold_stats(h, &st);
	assert_int_equal(st.released, 2);
	assert_int_equal(st.traces_anomalous, 1);
	assert_int_equal(st.traces_held, 1);
	assert_int_equal(d.n, 0);
	dft_hold_destroy(h);
}

static void test_platform_anomaly_releases(void **state)
{
	struct dft_hold *h = mk(64, 16);
	struct drops d = {0};
	struct dft_span_rec r;

	(void)state;
	r = rec(3, 31, 0, 0);
	assert_int_equal(admit(h, &r, true, 0, &d), DFT_FATE_HELD);
	/* any non-function reason counts: here a queueing platform span */
	r = rec(3, 32, 0, DFT_KEEP_QUEUEING);
	assert_int_equal(admit(h, &r, true, 1, &d), DFT_FATE_REPORT);
	assert_non_null(dft_hold_release_peek(h));
	assert_int_equal(dft_hold_release_peek(h)->span_id, 31);
	/* the release queue is still counted as held until reported */
	assert_int_equal(held(h), 1);
	dft_hold_release_pop(h);
	assert_int_equal(held(h), 0);
	dft_hold_destroy(h);
}

static void test_root_drop(void **state)
{
	struct dft_hold *h = mk(64, 16);
	struct drops d = {0};
	struct dft_span_rec r;
	struct dft_hold_stats st;

	(void)state;
	for (uint64_t s = 1; s <= 3; s++) {
		r = rec(5, s, 0, 0);
		assert_int_equal(admit(h, &r, true, s, &d), DFT_FATE_HELD);
	}
	r = rec(6, 9, 0, 0);
	assert_int_equal(admit(h, &r, true, 4, &d), DFT_FATE_HELD);
	/* the root ends normally: filtered at once, with the held spans, no waiting */
	r = rec(5, 4, DFT_SF_ROOT, 0);
	assert_int_equal(admit(h, &r, true, 5, &d), DFT_FATE_FILTER);
	assert_int_equal(d.n, 3);
	dft_hold_stats(h, &st);
	assert_int_equal(st.root_drops, 3);
	assert_int_equal(st.held, 1);
	assert_int_equal(st.traces_held, 1);
	/* a function root is reported, and still ends the wait of its trace */
	r = rec(6, 10, DFT_SF_ROOT, DFT_KEEP_FUNCTION);
	assert_int_equal(admit(h, &r, false, 6, &d), DFT_FATE_REPORT);
	assert_int_equal(d.n, 4);
	assert_int_equal(held(h), 0);
	/* a root with an error is anomalous, not a normal end */
	r = rec(7, 1, 0, 0);
	assert_int_equal(admit(h, &r, true, 7, &d), DFT_FATE_HELD);
	r = rec(7, 2, DFT_SF_ROOT, DFT_KEEP_ERROR);
	assert_int_equal(admit(h, &r, true, 8, &d), DFT_FATE_REPORT);
	assert_non_null(dft_hold_release_peek(h));
	assert_int_equal(d.n, 4);
	dft_hold_destroy(h);
}

static void test_timeout(void **state)
{
	struct dft_hold *h = mk(64, 16);
	struct drops d = {0};
	struct dft_span_rec r;
	struct dft_hold_stats st;

	(void)state;
	r = rec(8, 1, 0, 0);
	assert_int_equal(admit(h, &r, true, 100 * MS, &d), DFT_FATE_HELD);
	r = rec(9, 1, 0, 0);
	assert_int_equal(admit(h, &r, true, 300 * MS, &d), DFT_FATE_HELD);
	r = rec(8, 2, 0, 0); /* joins its trace: the trace's hold time counts from its first span */
	assert_int_equal(admit(h, &r, true, 400 * MS, &d), DFT_FATE_HELD);
	assert_int_equal(expire(h, 600 * MS - 1, &d), 0);
	assert_int_equal(expire(h, 600 * MS, &d), 2);
	assert_int_equal(d.n, 2);
	assert_int_equal(expire(h, 799 * MS, &d), 0);
	assert_int_equal(expire(h, 800 * MS, &d), 1);
	dft_hold_stats(h, &st);
	assert_int_equal(st.timeouts, 3);
	assert_int_equal(st.held, 0);
	assert_int_equal(st.traces_held, 0);
	/* after its timeout a trace starts over: a new span is held again */
	r = rec(8, 3, 0, 0);
	assert_int_equal(admit(h, &r, true, 900 * MS, &d), DFT_FATE_HELD);
	dft_hold_destroy(h);
}

static void test_overflow_and_flush(void **state)
{
	struct dft_hold *h = mk(2, 16);
	struct drops d = {0};
	struct dft_span_rec r;
	struct dft_hold_stats st;

	(void)state;
	r = rec(1, 1, 0, 0);
	assert_int_equal(admit(h, &r, true, 0, &d), DFT_FATE_HELD);
	r = rec(2, 1, 0, 0);
	assert_int_equal(admit(h, &r, true, 0, &d), DFT_FATE_HELD);
	r = rec(3, 1, 0, 0);
	assert_int_equal(admit(h, &r, true, 0, &d), DFT_FATE_OVERFLOW);
	r = rec(1, 2, 0, 0);
	assert_int_equal(admit(h, &r, true, 0, &d), DFT_FATE_OVERFLOW);
	/* not holdable (a function or a span with hops) is filtered, not lost */
	r = rec(3, 2, 0, 0);
	assert_int_equal(admit(h, &r, false, 0, &d), DFT_FATE_FILTER);
	dft_hold_stats(h, &st);
	assert_int_equal(st.overflow, 2);
	assert_int_equal(st.held, 2);
	/* trace 1 turns anomalous: released (queued), trace 2 is flushed at shutdown */
	r = rec(1, 3, 0, DFT_KEEP_EXPLICIT);
	assert_int_equal(admit(h, &r, true, 0, &d), DFT_FATE_REPORT);
	assert_int_equal(dft_hold_flush(h, on_drop, &d), 1);
	assert_int_equal(d.n, 1);
	assert_non_null(dft_hold_release_peek(h));
	assert_int_equal(held(h), 1); /* the release queue survives the flush: it is reported */
	dft_hold_release_pop(h);
	assert_int_equal(held(h), 0);
	/* the freed pool is usable again */
	r = rec(4, 1, 0, 0);
	assert_int_equal(admit(h, &r, true, 0, &d), DFT_FATE_HELD);
	r = rec(4, 2, 0, 0);
	assert_int_equal(admit(h, &r, true, 0, &d), DFT_FATE_HELD);
	dft_hold_destroy(h);
}

static void test_anomalous_memory(void **state)
{
	struct dft_hold *h = mk(64, 2);
	struct drops d = {0};
	struct dft_span_rec r;
	struct dft_hold_stats st;

	(void)state;
	for (uint8_t t = 1; t <= 3; t++) {
		r = rec(t, 1, 0, DFT_KEEP_ERROR);
		assert_int_equal(admit(h, &r, true, t * MS, &d), DFT_FATE_REPORT);
	}
	dft_hold_stats(h, &st);
	assert_int_equal(st.anomalous_evicted, 1);
	assert_int_equal(st.traces_anomalous, 2);
	/* trace 1 was forgotten (oldest), 2 and 3 are remembered */
	r = rec(1, 2, 0, 0);
	assert_int_equal(admit(h, &r, true, 4 * MS, &d), DFT_FATE_HELD);
	r = rec(3, 2, 0, 0);
	assert_int_equal(admit(h, &r, true, 4 * MS, &d), DFT_FATE_REPORT);
	assert_int_equal(r.keep_reasons, DFT_KEEP_RETRO);
	/* remembered for remember_ns (2 s) only */
	expire(h, 2 * MS + 2000 * MS, &d);
	dft_hold_stats(h, &st);
	assert_int_equal(st.traces_anomalous, 1);
	r = rec(2, 2, 0, 0);
	assert_int_equal(admit(h, &r, true, 2002 * MS, &d), DFT_FATE_HELD);
	r = rec(3, 3, 0, 0);
	assert_int_equal(admit(h, &r, true, 2002 * MS, &d), DFT_FATE_REPORT);
	dft_hold_destroy(h);

	/* remember_traces = 0: releases still happen, nothing is remembered */
	h = mk(8, 0);
	r = rec(1, 1, 0, 0);
	assert_int_equal(admit(h, &r, true, 0, &d), DFT_FATE_HELD);
	r = rec(1, 2, 0, DFT_KEEP_ERROR);
	assert_int_equal(admit(h, &r, true, 0, &d), DFT_FATE_REPORT);
	assert_non_null(dft_hold_release_peek(h));
	dft_hold_release_pop(h);
	r = rec(1, 3, 0, 0);
	assert_int_equal(admit(h, &r, true, 0, &d), DFT_FATE_HELD);
	dft_hold_destroy(h);
}

/*
 * Hold time runs on span time: a recording replayed ten times faster expires its traces at the same
 * span times, whatever the NIC's own clock says; the NIC's clock bounds a hold at
 * DFT_HOLD_WALL_FACTOR x hold time when span time stands still.
 */
static void test_span_time(void **state)
{
	struct dft_hold *h = mk(16, 4);
	struct dft_hold_now now = {.span_ns = 1000 * MS, .wall_ns = 5 * MS};
	struct drops d = {0};
	struct dft_span_rec r = rec(1, 1, 0, 0);

	(void)state;
	assert_int_equal(dft_hold_admit(h, &r, true, &now, on_drop, &d), DFT_FATE_HELD);
	/* fast replay: span time passes 499 ms while the NIC's clock moves 50 us */
	now.span_ns += 499 * MS;
	now.wall_ns += 50000;
	assert_int_equal(dft_hold_expire(h, &now, on_drop, &d), 0);
	now.span_ns += 1 * MS;
	assert_int_equal(dft_hold_expire(h, &now, on_drop, &d), 1);
	/* span time stands still (no more spans): the NIC's clock ends the hold at 4 x 500 ms */
	r = rec(2, 1, 0, 0);
	assert_int_equal(dft_hold_admit(h, &r, true, &now, on_drop, &d), DFT_FATE_HELD);
	now.wall_ns += DFT_HOLD_WALL_FACTOR * 500 * MS - 1;
	assert_int_equal(dft_hold_expire(h, &now, on_drop, &d), 0);
	now.wall_ns += 1;
	assert_int_equal(dft_hold_expire(h, &now, on_drop, &d), 1);
	/* an anomalous trace is remembered for remember time of span time */
	r = rec(3, 1, 0, DFT_KEEP_ERROR);
	assert_int_equal(dft_hold_admit(h, &r, true, &now, on_drop, &d), DFT_FATE_REPORT);
	now.span_ns += 1999 * MS;
	dft_hold_expire(h, &now, on_drop, &d);
	r = rec(3, 2, 0, 0);
	assert_int_equal(dft_hold_admit(h, &r, true, &now, on_drop, &d), DFT_FATE_REPORT);
	assert_int_equal(r.keep_reasons, DFT_KEEP_RETRO);
	now.span_ns += 1 * MS;
	dft_hold_expire(h, &now, on_drop, &d);
	r = rec(3, 3, 0, 0);
	assert_int_equal(dft_hold_admit(h, &r, true, &now, on_drop, &d), DFT_FATE_HELD);
	dft_hold_destroy(h);
}

/* Path scope: an anomaly keeps its ancestors, not its whole trace. */
static void test_retro_path(void **state)
{
	struct dft_hold_cfg c = {.enabled = true, .max_spans = 64, .hold_ns = 500 * MS, .remember_traces = 16,
				 .remember_ns = 2000 * MS, .retro_path = true};
	struct dft_hold *h;
	struct drops d = {0};
	struct dft_span_rec r;
	const struct dft_span_rec *out;
	struct dft_hold_stats st;

	(void)state;
	assert_int_equal(dft_hold_create(&c, &h), 0);
	/* two steps of span 50 are held, then a third child of 50 is an outlier */
	r = rec(5, 51, 0, 0);
	r.parent_span_id = 50;
	assert_int_equal(admit(h, &r, true, 1, &d), DFT_FATE_HELD);
	{
		/* the function's span came by with hop list naming every platform span of the trace */
		static const uint64_t ids[] = {50, 51, 52, 60, 30};

		dft_hold_saw_hops(h, r.trace_id, ids, 5);
	}
	r = rec(5, 52, 0, 0);
	r.parent_span_id = 50;
	assert_int_equal(admit(h, &r, true, 2, &d), DFT_FATE_HELD);
	r = rec(5, 53, 0, DFT_KEEP_OUTLIER);
	r.parent_span_id = 50;
	assert_int_equal(admit(h, &r, true, 3, &d), DFT_FATE_REPORT);
	/* the steps are not on its path: filtered, nothing released */
	assert_null(dft_hold_release_peek(h));
	assert_int_equal(d.n, 2);
	assert_int_equal(held(h), 0);
	/* its parent comes later: kept, and then the parent's parent is wanted */
	r = rec(5, 50, 0, 0);
	r.parent_span_id = 40;
	assert_int_equal(admit(h, &r, true, 4, &d), DFT_FATE_REPORT);
	assert_int_equal(r.keep_reasons, DFT_KEEP_RETRO);
	/* a normal sibling of 50 is not */
	r = rec(5, 60, 0, 0);
	r.parent_span_id = 40;
	assert_int_equal(admit(h, &r, true, 5, &d), DFT_FATE_FILTER);
	/* a function span on the path is kept as a function (the wish still moves up) */
	r = rec(5, 40, 0, DFT_KEEP_FUNCTION);
	r.parent_span_id = 30;
	assert_int_equal(admit(h, &r, false, 6, &d), DFT_FATE_REPORT);
	assert_int_equal(r.keep_reasons, DFT_KEEP_FUNCTION);
	r = rec(5, 30, DFT_SF_ROOT, 0);
	assert_int_equal(admit(h, &r, true, 7, &d), DFT_FATE_REPORT);
	assert_int_equal(r.keep_reasons, DFT_KEEP_RETRO);
	/* an ancestor that was read before the anomaly is released from the window */
	r = rec(6, 70, 0, 0);
	r.parent_span_id = 69;
	assert_int_equal(admit(h, &r, true, 8, &d), DFT_FATE_HELD);
	{
		static const uint64_t ids[] = {69, 70, 72};

		dft_hold_saw_hops(h, r.trace_id, ids, 3);
	}
	r = rec(6, 72, 0, 0);
	r.parent_span_id = 70;
	assert_int_equal(admit(h, &r, true, 8, &d), DFT_FATE_HELD);
	r = rec(6, 71, 0, DFT_KEEP_ERROR);
	r.parent_span_id = 70;
	assert_int_equal(admit(h, &r, true, 9, &d), DFT_FATE_REPORT);
	out = dft_hold_release_peek(h);
	assert_non_null(out);
	assert_int_equal(out->span_id, 70);
	assert_int_equal(out->keep_reasons, DFT_KEEP_RETRO);
	dft_hold_release_pop(h);
	assert_null(dft_hold_release_peek(h));
	r = rec(6, 69, 0, 0);
	r.parent_span_id = 0;
	assert_int_equal(admit(h, &r, true, 10, &d), DFT_FATE_REPORT);
	dft_hold_stats(h, &st);
	assert_int_equal(st.path_drops, 3);
	assert_int_equal(st.released, 1);
	assert_int_equal(st.held, 0);
	/* a weak outlier is reported but does not make its trace anomalous */
	r = rec(9, 91, 0, 0);
	assert_int_equal(admit(h, &r, true, 11, &d), DFT_FATE_HELD);
	r = rec(9, 92, 0, DFT_KEEP_OUTLIER);
	r.weak = true;
	assert_int_equal(admit(h, &r, true, 11, &d), DFT_FATE_REPORT);
	assert_null(dft_hold_release_peek(h));
	assert_int_equal(held(h), 1);
	/* a span no hop list named is reported: nothing could rebuild it */
	r = rec(5, 61, 0, 0);
	r.parent_span_id = 40;
	assert_int_equal(admit(h, &r, true, 11, &d), DFT_FATE_REPORT);
	assert_int_equal(r.keep_reasons, DFT_KEEP_RETRO);
	/* a trace no span of which carried hops is kept whole: nothing could rebuild it */
	r = rec(8, 81, 0, 0);
	assert_int_equal(admit(h, &r, true, 11, &d), DFT_FATE_HELD);
	r = rec(8, 82, 0, DFT_KEEP_ERROR);
	r.parent_span_id = 80;
	assert_int_equal(admit(h, &r, true, 11, &d), DFT_FATE_REPORT);
	out = dft_hold_release_peek(h);
	assert_non_null(out);
	assert_int_equal(out->span_id, 81);
	dft_hold_release_pop(h);
	r = rec(8, 83, 0, 0);
	assert_int_equal(admit(h, &r, true, 11, &d), DFT_FATE_REPORT);
	assert_int_equal(r.keep_reasons, DFT_KEEP_RETRO);
	/* more open branches than wishes: the oldest gives way, counted */
	r = rec(7, 99, 0, 0);
	assert_int_equal(admit(h, &r, true, 11, &d), DFT_FATE_HELD);
	{
		static const uint64_t ids[] = {99, 200, 201, 202, 203, 204};

		dft_hold_saw_hops(h, r.trace_id, ids, 6);
	}
	for (uint64_t i = 0; i < DFT_HOLD_WANT + 1; i++) {
		r = rec(7, 100 + i, 0, DFT_KEEP_ERROR);
		r.parent_span_id = 200 + i;
		admit(h, &r, true, 11, &d);
	}
	dft_hold_stats(h, &st);
	assert_int_equal(st.want_full, 1);
	assert_int_equal(st.path_drops, 4); /* and 99, held when the first error came */
	r = rec(7, 200, 0, 0);
	assert_int_equal(admit(h, &r, true, 12, &d), DFT_FATE_FILTER);
	r = rec(7, 201, 0, 0);
	assert_int_equal(admit(h, &r, true, 12, &d), DFT_FATE_REPORT);
	/* hold time runs out: named spans are filtered, the one no hop list named is held 3 x longer,
	 * long enough for a request stuck in a cold start to fail and release it */
	{
		static const uint64_t ids[] = {111};
		struct dft_hold_now t = {.span_ns = 10000 * MS, .wall_ns = 10000 * MS};
		unsigned before;

		/* everything before ends (held traces, their extensions, remembered ones) */
		dft_hold_expire(h, &t, on_drop, &d);
		t.span_ns = t.wall_ns = 20000 * MS;
		dft_hold_expire(h, &t, on_drop, &d);
		assert_int_equal(held(h), 0);
		dft_hold_stats(h, &st);
		before = d.n;
		assert_int_equal(st.extended, 1); /* trace 9's 91, named by no hop list, held longer first */

		r = rec(10, 111, 0, 0);
		r.parent_span_id = 110;
		assert_int_equal(dft_hold_admit(h, &r, true, &t, on_drop, &d), DFT_FATE_HELD);
		dft_hold_saw_hops(h, r.trace_id, ids, 1);
		r = rec(10, 112, 0, 0);
		r.parent_span_id = 110;
		assert_int_equal(dft_hold_admit(h, &r, true, &t, on_drop, &d), DFT_FATE_HELD);
		t.span_ns += 500 * MS;
		dft_hold_expire(h, &t, on_drop, &d);
		assert_int_equal(d.n, before + 1);
		assert_int_equal(d.last_span, 111);
		dft_hold_stats(h, &st);
		assert_int_equal(st.extended, 2);
		t.span_ns += 1000 * MS;
		dft_hold_expire(h, &t, on_drop, &d);
		r = rec(10, 110, 0, DFT_KEEP_ERROR | DFT_KEEP_COLD_START);
		r.parent_span_id = 100;
		assert_int_equal(dft_hold_admit(h, &r, true, &t, on_drop, &d), DFT_FATE_REPORT);
		out = dft_hold_release_peek(h);
		assert_non_null(out);
		assert_int_equal(out->span_id, 112);
		dft_hold_release_pop(h);
		/* an extension ends too: 3 hold times */
		r = rec(11, 113, 0, 0);
		assert_int_equal(dft_hold_admit(h, &r, true, &t, on_drop, &d), DFT_FATE_HELD);
		t.span_ns += 500 * MS;
		dft_hold_expire(h, &t, on_drop, &d);
		assert_int_equal(d.n, before + 1);
		t.span_ns += 1500 * MS;
		dft_hold_expire(h, &t, on_drop, &d);
		assert_int_equal(d.n, before + 2);
		assert_int_equal(d.last_span, 113);
	}
	dft_hold_destroy(h);
}

static void test_disabled(void **state)
{
	struct dft_hold_cfg c = {.enabled = false, .max_spans = 4, .hold_ns = 1, .remember_traces = 1,
				 .remember_ns = 1};
	struct dft_hold_now zero = {0, 0};
	struct dft_hold *h;
	struct dft_span_rec r;

	(void)state;
	assert_int_equal(dft_hold_create(&c, &h), 0);
	r = rec(1, 1, 0, 0);
	assert_int_equal(dft_hold_admit(h, &r, true, &zero, NULL, NULL), DFT_FATE_FILTER);
	r = rec(1, 2, 0, DFT_KEEP_ERROR);
	assert_int_equal(dft_hold_admit(h, &r, true, &zero, NULL, NULL), DFT_FATE_REPORT);
	r = rec(1, 3, 0, 0);
	assert_int_equal(dft_hold_admit(NULL, &r, true, &zero, NULL, NULL), DFT_FATE_FILTER);
	assert_int_equal(r.keep_reasons, 0);
	dft_hold_destroy(h);
	c.max_spans = 0;
	assert_int_not_equal(dft_hold_create(&c, &h), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retro_release),
		cmocka_unit_test(test_platform_anomaly_releases),
		cmocka_unit_test(test_root_drop),
		cmocka_unit_test(test_timeout),
		cmocka_unit_test(test_overflow_and_flush),
		cmocka_unit_test(test_anomalous_memory),
		cmocka_unit_test(test_span_time),
		cmocka_unit_test(test_retro_path),
		cmocka_unit_test(test_disabled),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
