/* SPDX-License-Identifier: MIT */
/* Hop synthesis: the platform ancestors of a function span, outermost first, chained to the span the
 * request came from; trace grouping by (trace id, span id). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dft/hops.h"
#include "replay.h"

#define P DFT_REPLAY_KIND_PLATFORM
#define F DFT_REPLAY_KIND_FUNCTION

static struct dft_replay_span mk(uint8_t trace, uint64_t id, uint64_t parent, const char *comp, const char *op,
                                 uint8_t kind, uint64_t start)
{
	struct dft_replay_span s = {.span_id = id,
	                            .parent_span_id = parent,
	                            .component = comp,
	                            .name = op,
	                            .kind = kind,
	                            .start_ns = start,
	                            .end_ns = start + 1000};

	memset(s.trace_id, trace, sizeof(s.trace_id));
	return s;
}

static void sorted(struct dft_replay_span *s, size_t n, struct dft_replay_span **v)
{
	for (size_t i = 0; i < n; i++)
		v[i] = &s[i];
	dft_replay_sort_by_trace(v, n);
}

static void check_hop(const struct dft_hop_entry *h, const struct dft_replay_span *s, uint64_t parent)
{
	assert_true(h->span_id == s->span_id);
	assert_true(h->parent_span_id == parent);
	assert_true(h->start_ns == s->start_ns);
	assert_int_equal(h->name_hash, dft_hops_name_hash(s->component, strlen(s->component), s->name, strlen(s->name)));
}

static void test_chain_of_three(void **state)
{
	/* caller(fn) -> ingress -> activator -> queue-proxy -> fn-a -> fn-b; fn-a -> sidecar -> fn-c */
	struct dft_replay_span s[] = {
	    mk(1, 0x90, 0x50, "fn-a", "handle", F, 400),       mk(1, 0x10, 0, "caller", "call", F, 100),
	    mk(1, 0x30, 0x20, "activator", "proxy", P, 200),   mk(1, 0x20, 0x10, "ingress", "route", P, 150),
	    mk(1, 0x50, 0x30, "queue-proxy", "queue", P, 300), mk(1, 0x95, 0x90, "fn-b", "work", F, 500),
	    mk(1, 0x60, 0x90, "sidecar", "fwd", P, 450),       mk(1, 0x70, 0x60, "fn-c", "job", F, 460),
	};
	struct dft_replay_span *v[8];
	struct dft_hop_list h;

	(void)state;
	sorted(s, 8, v);
	assert_int_equal(dft_replay_trace_len(v, 8), 8);
	for (size_t i = 1; i < 8; i++)
		assert_true(v[i - 1]->span_id < v[i]->span_id);

	dft_replay_hops(v, 8, &s[0], &h);
	assert_int_equal(h.n, 3);
	assert_int_equal(h.cut, 0);
	check_hop(&h.hop[0], &s[3], 0x10); /* ingress: its parent is the caller */
	check_hop(&h.hop[1], &s[2], 0x20);
	check_hop(&h.hop[2], &s[4], 0x30);

	dft_replay_hops(v, 8, &s[5], &h); /* a function under a function */
	assert_int_equal(h.n, 0);
	dft_replay_hops(v, 8, &s[2], &h); /* a platform span carries none */
	assert_int_equal(h.n, 0);
	dft_replay_hops(v, 8, &s[1], &h); /* the root */
	assert_int_equal(h.n, 0);

	dft_replay_hops(v, 8, &s[7], &h); /* the walk stops at the function fn-a */
	assert_int_equal(h.n, 1);
	check_hop(&h.hop[0], &s[6], 0x90);
}

static void test_platform_root(void **state)
{
	/* the first hop is the trace's root: its parent is 0 */
	struct dft_replay_span s[] = {
	    mk(2, 1, 0, "ingress", "route", P, 10), mk(2, 2, 1, "activator", "proxy", P, 20),
	    mk(2, 3, 2, "fn", "h", F, 30), mk(2, 4, 99, "fn", "orphan", F, 40), /* parent not in the batch */
	};
	struct dft_replay_span *v[4];
	struct dft_hop_list h;

	(void)state;
	sorted(s, 4, v);
	dft_replay_hops(v, 4, &s[2], &h);
	assert_int_equal(h.n, 2);
	check_hop(&h.hop[0], &s[0], 0);
	check_hop(&h.hop[1], &s[1], 1);
	dft_replay_hops(v, 4, &s[3], &h);
	assert_int_equal(h.n, 0);
}

static void test_long_chain_and_names(void **state)
{
	enum { N = DFT_HOP_LIST_MAX + 4 };
	struct dft_replay_span s[N + 1];
	struct dft_replay_span *v[N + 1];
	struct dft_hop_list h;
	static const char long_name[] = "a-component-name-longer-than-32-bytes";

	(void)state;
	for (unsigned i = 0; i < N; i++)
		s[i] = mk(3, 100 + i, i ? 100 + i - 1 : 0, "p", "op", P, 1000 + i);
	s[N] = mk(3, 500, 100 + N - 1, "fn", "h", F, 5000);
	sorted(s, N + 1, v);
	dft_replay_hops(v, N + 1, &s[N], &h);
	/* the header keeps the newest hops: the innermost DFT_HOP_LIST_MAX */
	assert_int_equal(h.n, DFT_HOP_LIST_MAX);
	assert_int_equal(h.cut, 4);
	check_hop(&h.hop[0], &s[4], 103);
	check_hop(&h.hop[DFT_HOP_LIST_MAX - 1], &s[N - 1], 100 + N - 2);

	/* names travel as a hash: a long one is as good as a short one */
	s[10].component = long_name;
	dft_replay_hops(v, N + 1, &s[N], &h);
	assert_int_equal(h.n, DFT_HOP_LIST_MAX);
	check_hop(&h.hop[6], &s[10], 109);
	for (unsigned k = 1; k < h.n; k++)
		assert_true(h.hop[k].parent_span_id == h.hop[k - 1].span_id);
}

static void test_cycle_and_groups(void **state)
{
	/* two platform spans that claim each other as parent: hostile input must terminate */
	struct dft_replay_span s[] = {
	    mk(4, 1, 2, "p", "a", P, 1), mk(4, 2, 1, "p", "b", P, 2),  mk(4, 3, 2, "fn", "h", F, 3),
	    mk(5, 1, 0, "q", "r", P, 1), mk(4, 9, 0, "fn", "x", F, 9),
	};
	struct dft_replay_span *v[5];
	struct dft_hop_list h;

	(void)state;
	sorted(s, 5, v);
	assert_int_equal(dft_replay_trace_len(v, 5), 4); /* trace 4 first (memcmp order), then trace 5 */
	assert_int_equal(dft_replay_trace_len(v + 4, 1), 1);
	dft_replay_hops(v, 4, &s[2], &h);
	assert_true(h.n <= 4);
}

static void by_parent(struct dft_replay_span *s, size_t n, struct dft_replay_span **bp)
{
	for (size_t i = 0; i < n; i++)
		bp[i] = &s[i];
	dft_replay_sort_by_parent(bp, n);
}

static void test_steps_travel_as_hops(void **state)
{
	/* ingress (steps match, authz before forwarding; log after it) -> activator (step throttle) ->
	 * queue-proxy -> fn; a function child of ingress is no step */
	struct dft_replay_span s[] = {
	    mk(6, 0x10, 0, "ingress", "route", P, 100),       mk(6, 0x11, 0x10, "ingress", "match", P, 110),
	    mk(6, 0x12, 0x10, "ingress", "authz", P, 1200),   mk(6, 0x13, 0x10, "ingress", "log", P, 9000),
	    mk(6, 0x20, 0x10, "activator", "proxy", P, 2300), mk(6, 0x21, 0x20, "activator", "throttle", P, 2400),
	    mk(6, 0x30, 0x20, "queue-proxy", "queue", P, 3500), mk(6, 0x40, 0x30, "fn", "h", F, 4600),
	    mk(6, 0x14, 0x10, "side-fn", "x", F, 150),
	};
	enum { N = sizeof(s) / sizeof(s[0]) };
	struct dft_replay_span *v[N], *bp[N];
	struct dft_hop_list h;

	(void)state;
	s[1].end_ns = 1200; /* ends exactly when authz starts: finished before forwarding (2300) */
	s[2].end_ns = 2300;
	s[5].end_ns = 3600; /* overlaps the forward to queue-proxy (3500): not in the header */
	sorted(s, N, v);
	by_parent(s, N, bp);
	dft_replay_hops_steps(v, bp, N, &s[7], &h);
	assert_int_equal(h.n, 5);
	assert_int_equal(h.cut, 0);
	check_hop(&h.hop[0], &s[0], 0);
	check_hop(&h.hop[1], &s[1], 0x10); /* steps follow their component, in start order */
	check_hop(&h.hop[2], &s[2], 0x10);
	check_hop(&h.hop[3], &s[4], 0x10);
	check_hop(&h.hop[4], &s[6], 0x20);

	s[5].end_ns = 3500; /* now it ended when the forward started */
	dft_replay_hops_steps(v, bp, N, &s[7], &h);
	assert_int_equal(h.n, 6);
	check_hop(&h.hop[4], &s[5], 0x20);
	check_hop(&h.hop[5], &s[6], 0x20);

	dft_replay_hops_steps(v, NULL, N, &s[7], &h); /* no parent index: the path only */
	assert_int_equal(h.n, 3);
}

static void test_steps_cut_oldest(void **state)
{
	/* 3 components with 6 steps each: 21 hops, the header keeps the newest 16 */
	struct dft_replay_span s[22];
	struct dft_replay_span *v[22], *bp[22];
	struct dft_hop_list h;
	unsigned k = 0;

	(void)state;
	for (unsigned c = 0; c < 3; c++) {
		uint64_t id = 0x100 * (c + 1), t0 = 100000 * (c + 1);

		s[k++] = mk(7, id, c ? 0x100 * c : 0, "p", "comp", P, t0);
		for (unsigned j = 0; j < 6; j++)
			s[k++] = mk(7, id + 1 + j, id, "p", "step", P, t0 + 10 + 1000 * j);
	}
	s[k++] = mk(7, 0x900, 0x300, "fn", "h", F, 900000);
	sorted(s, k, v);
	by_parent(s, k, bp);
	dft_replay_hops_steps(v, bp, k, &s[k - 1], &h);
	assert_int_equal(h.n, DFT_HOP_LIST_MAX);
	assert_int_equal(h.cut, 21 - DFT_HOP_LIST_MAX);
	check_hop(&h.hop[0], &s[5], 0x100);                       /* comp 1's 5th step: the oldest kept */
	check_hop(&h.hop[DFT_HOP_LIST_MAX - 1], &s[20], 0x300); /* comp 3's last step */
}

static void test_end_order_and_due(void **state)
{
	struct dft_replay_span s[] = {
	    mk(8, 1, 0, "ingress", "route", P, 100), mk(8, 2, 1, "activator", "proxy", P, 200),
	    mk(8, 3, 2, "fn", "h", F, 300),          mk(9, 4, 0, "ingress", "route", P, 150),
	};
	struct dft_replay_emit e[4];

	(void)state;
	s[0].end_ns = 5000; /* the root and its child end together: the root goes last */
	s[1].end_ns = 5000;
	s[2].end_ns = 5000; /* fn started later than activator: inner first */
	s[3].end_ns = 4000;
	for (unsigned i = 0; i < 4; i++)
		e[i] = (struct dft_replay_emit){.s = &s[i]};
	dft_replay_sort_by_end(e, 4);
	assert_ptr_equal(e[0].s, &s[3]);
	assert_ptr_equal(e[1].s, &s[2]);
	assert_ptr_equal(e[2].s, &s[1]);
	assert_ptr_equal(e[3].s, &s[0]);

	assert_true(dft_replay_due_ns(1000, 5000, 5000, 1.0) == 1000);
	assert_true(dft_replay_due_ns(1000, 5000, 2005000, 1.0) == 2001000);   /* real time */
	assert_true(dft_replay_due_ns(1000, 5000, 2005000, 2.0) == 1001000);   /* twice as fast */
	assert_true(dft_replay_due_ns(1000, 5000, 2005000, 0.5) == 4001000);   /* half speed */
	assert_true(dft_replay_due_ns(1000, 5000, 2005000, 0.0) == 1000);      /* as fast as possible */
	assert_true(dft_replay_due_ns(1000, 5000, 10, 1.0) == 1000);           /* before the first: now */
	assert_true(dft_replay_due_ns(1000, 0, UINT64_MAX, 1e-6) == UINT64_MAX); /* saturates */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain_of_three),
	    cmocka_unit_test(test_platform_root),
	    cmocka_unit_test(test_long_chain_and_names),
	    cmocka_unit_test(test_cycle_and_groups),
	    cmocka_unit_test(test_steps_travel_as_hops),
	    cmocka_unit_test(test_steps_cut_oldest),
	    cmocka_unit_test(test_end_order_and_due),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
