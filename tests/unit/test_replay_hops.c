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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain_of_three),
	    cmocka_unit_test(test_platform_root),
	    cmocka_unit_test(test_long_chain_and_names),
	    cmocka_unit_test(test_cycle_and_groups),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
