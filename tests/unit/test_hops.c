/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "dft/hops.h"

static struct dft_hop_rec hop(const char *comp, const char *op, uint64_t id, uint64_t start)
{
	struct dft_hop_rec r;

	memset(&r, 0, sizeof(r));
	r.comp_len = (uint8_t)strlen(comp);
	memcpy(r.comp, comp, r.comp_len);
	r.op_len = (uint8_t)strlen(op);
	memcpy(r.op, op, r.op_len);
	r.span_id = id;
	r.start_ns = start;
	return r;
}

static void assert_hop_equal(const struct dft_hop_rec *a, const struct dft_hop_rec *b)
{
	assert_int_equal(a->comp_len, b->comp_len);
	assert_memory_equal(a->comp, b->comp, a->comp_len);
	assert_int_equal(a->op_len, b->op_len);
	assert_memory_equal(a->op, b->op, a->op_len);
	assert_int_equal(a->span_id, b->span_id);
	assert_int_equal(a->start_ns, b->start_ns);
	assert_int_equal(a->parent_span_id, b->parent_span_id);
}

static void test_round_trip(void **state)
{
	struct dft_hop_rec in[3], out[DFT_HOPS_MAX];
	char val[DFT_HOPS_VALUE_MAX + 1];
	unsigned left, cut;
	int n;

	(void)state;
	in[0] = hop("ingress-gateway", "route", 0x1122334455667788ull, 1700000000123456789ull);
	in[1] = hop("activator", "proxy", 0xffffffffffffffffull, 1700000000123456000ull); /* earlier: negative delta */
	in[2] = hop("queue-proxy", "", 42, 1700000000999999999ull);
	in[0].parent_span_id = 0xabcdef0102030405ull; /* the calling function's span */
	in[1].parent_span_id = in[0].span_id;
	in[2].parent_span_id = in[1].span_id;
	n = dft_hops_encode(in, 3, val, sizeof(val), &left);
	assert_true(n > 0);
	assert_int_equal(left, 0);
	assert_int_equal(strlen(val), (size_t)n);
	n = dft_hops_decode(val, strlen(val), out, DFT_HOPS_MAX, &cut);
	assert_int_equal(n, 3);
	assert_int_equal(cut, 0);
	for (int i = 0; i < 3; i++)
		assert_hop_equal(&in[i], &out[i]);
	/* decoding into a smaller array reports the rest as cut */
	n = dft_hops_decode(val, strlen(val), out, 2, &cut);
	assert_int_equal(n, 2);
	assert_int_equal(cut, 1);
}

/* More hops than fit: the oldest are left out, the newest survive intact. */
static void test_overflow_keeps_newest(void **state)
{
	struct dft_hop_rec in[DFT_HOPS_MAX], out[DFT_HOPS_MAX];
	char val[DFT_HOPS_VALUE_MAX + 1];
	unsigned left, cut;
	int n;

	(void)state;
	for (unsigned i = 0; i < DFT_HOPS_MAX; i++) {
		char c[40];

		snprintf(c, sizeof(c), "platform-component-%02u", i);
		in[i] = hop(c, "forward-request", 1000 + i, 1700000000000000000ull + i * 1000);
		in[i].parent_span_id = i ? in[i - 1].span_id : 7;
	}
	n = dft_hops_encode(in, DFT_HOPS_MAX, val, sizeof(val), &left);
	assert_true(n > 0 && n <= (int)DFT_HOPS_VALUE_MAX);
	assert_true(left > 0);
	n = dft_hops_decode(val, strlen(val), out, DFT_HOPS_MAX, &cut);
	assert_int_equal((unsigned)n + left, DFT_HOPS_MAX);
	for (int i = 0; i < n; i++)
		assert_hop_equal(&in[left + (unsigned)i], &out[i]);
}

static void test_malformed_rejected(void **state)
{
	static const char *const bad[] = {
		"",          /* empty */
		"A",         /* impossible base64 length */
		"AQ=",       /* padding is not base64url-without-padding */
		"AQ!",       /* bad character */
		"AgAAAAAAAAAA",     /* version 2 */
		"AQAAAAAAAAA",      /* version 1 but the first-parent field is cut short */
		"AQAAAAAAAAAAAQ",   /* hop with a component length and nothing else */
		"AQAAAAAAAAAAAWE",  /* component, no operation length */
		"AQAAAAAAAAAAAWEA", /* no span id */
		"AQAAAAAAAAAAAWEAAQAAAAAAAAA", /* span id without start */
		"AQAAAAAAAAAAAWEAAAAAAAAAAAAA", /* span id zero */
		"AQ_",       /* non-canonical tail bits */
	};
	struct dft_hop_rec out[4];
	char longv[DFT_HOPS_VALUE_MAX + 8];
	unsigned cut;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (dft_hops_decode(bad[i], strlen(bad[i]), out, 4, &cut) != -EINVAL)
			fail_msg("accepted malformed value '%s'", bad[i]);
	memset(longv, 'A', sizeof(longv));
	assert_int_equal(dft_hops_decode(longv, sizeof(longv), out, 4, &cut), -EINVAL);
	/* a name that is too long never encodes */
	out[0] = hop("x", "y", 1, 1);
	out[0].comp_len = DFT_HOP_NAME_MAX + 1;
	assert_int_equal(dft_hops_encode(out, 1, longv, sizeof(longv), &cut), -EINVAL);
}

static void test_tracestate(void **state)
{
	const char *ts = "congo=t61rcWkgMzE, dft=AQ , rojo=00f067aa0ba902b7";
	char out[DFT_TRACESTATE_MAX + 1];
	const char *v;
	size_t vlen;
	int n;

	(void)state;
	assert_int_equal(dft_tracestate_get(ts, strlen(ts), "dft", &v, &vlen), 0);
	assert_int_equal(vlen, 2);
	assert_memory_equal(v, "AQ", 2);
	assert_int_equal(dft_tracestate_get(ts, strlen(ts), "nope", &v, &vlen), -ENOENT);
	assert_int_equal(dft_tracestate_get("a=1,=2", 6, "a", &v, &vlen), 0); /* found before the bad member */
	assert_int_equal(dft_tracestate_get("=2,a=1", 6, "a", &v, &vlen), -EINVAL);
	assert_int_equal(dft_tracestate_get("A=1", 3, "b", &v, &vlen), -EINVAL); /* upper-case key */
	n = dft_tracestate_put(ts, strlen(ts), "dft", "AQFh", 4, out, sizeof(out));
	assert_true(n > 0);
	assert_string_equal(out, "dft=AQFh,congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
	n = dft_tracestate_put(NULL, 0, "dft", "AQ", 2, out, sizeof(out));
	assert_string_equal(out, "dft=AQ");
	assert_int_equal(dft_tracestate_put(NULL, 0, "dft", "AQ", 2, out, 4), -ENOSPC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_overflow_keeps_newest),
		cmocka_unit_test(test_malformed_rejected),
		cmocka_unit_test(test_tracestate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
