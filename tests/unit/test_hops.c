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

static struct dft_hop_rec hop(const char *comp, const char *op, uint64_t id, uint64_t parent, uint64_t start)
{
	struct dft_hop_rec r;

	memset(&r, 0, sizeof(r));
	r.name_hash = dft_hops_name_hash(comp, strlen(comp), op, strlen(op));
	r.span_id = id;
	r.parent_span_id = parent;
	r.start_ns = start;
	return r;
}

static void assert_hop_equal(const struct dft_hop_rec *a, const struct dft_hop_rec *b)
{
	assert_int_equal(a->name_hash, b->name_hash);
	assert_int_equal(a->span_id, b->span_id);
	assert_int_equal(a->start_ns, b->start_ns);
	assert_int_equal(a->parent_span_id, b->parent_span_id);
}

/* base64url without padding, so malformed payloads can be written as bytes */
static void b64(const uint8_t *p, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint32_t acc = 0;
	unsigned bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		acc = acc << 8 | p[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = a[(acc >> bits) & 63];
		}
	}
	if (bits)
		out[o++] = a[(acc << (6 - bits)) & 63];
	out[o] = 0;
}

static void test_name_hash(void **state)
{
	(void)state;
	assert_int_equal(dft_hops_name_hash("ab", 2, "c", 1), dft_hops_name_hash("ab", 2, "c", 1));
	assert_int_not_equal(dft_hops_name_hash("ab", 2, "c", 1), dft_hops_name_hash("a", 1, "bc", 2));
	assert_int_not_equal(dft_hops_name_hash("activator", 9, "", 0), dft_hops_name_hash("activator", 9, "x", 1));
}

/* A tree: steps are children of their component's span, the next component a child of the first. */
static void test_round_trip_tree(void **state)
{
	struct dft_hop_rec in[5], out[DFT_HOPS_MAX];
	char val[DFT_HOPS_VALUE_MAX + 1];
	unsigned left, cut;
	int n;

	(void)state;
	in[0] = hop("ingress-gateway", "fn-a", 0x1122334455667788ull, 0xabcdef0102030405ull, 1700000000123456789ull);
	in[1] = hop("ingress-gateway", "route_match", 0xffffffffffffffffull, in[0].span_id, 1700000000123456000ull);
	in[2] = hop("ingress-gateway", "ext_authz", 42, in[0].span_id, 1700000000123499999ull);
	in[3] = hop("activator", "fn-a", 43, in[0].span_id, 1700000000999999999ull);
	in[4] = hop("activator", "", 44, in[3].span_id, 1700000000999999999ull);
	n = dft_hops_encode(in, 5, val, sizeof(val), &left);
	assert_true(n > 0);
	assert_int_equal(left, 0);
	assert_int_equal(strlen(val), (size_t)n);
	n = dft_hops_decode(val, strlen(val), out, DFT_HOPS_MAX, &cut);
	assert_int_equal(n, 5);
	assert_int_equal(cut, 0);
	for (int i = 0; i < 5; i++)
		assert_hop_equal(&in[i], &out[i]);
	/* decoding into a smaller array reports the rest as cut */
	n = dft_hops_decode(val, strlen(val), out, 2, &cut);
	assert_int_equal(n, 2);
	assert_int_equal(cut, 3);
}

/* The path the generator models: three proxies with 3, 2 and 2 steps must fit one entry whole. */
static void test_knative_path_fits(void **state)
{
	static const unsigned steps[3] = {3, 2, 2};
	struct dft_hop_rec in[DFT_HOPS_MAX], out[DFT_HOPS_MAX];
	char val[DFT_HOPS_VALUE_MAX + 1];
	uint64_t t = 1763900000000000000ull, parent = 0x0123456789abcdefull, id = 0x8000000000000000ull;
	unsigned n = 0, left, cut;
	int m;

	(void)state;
	for (unsigned c = 0; c < 3; c++) {
		unsigned me = n;

		in[n++] = hop("queue-proxy", "function-with-a-long-name", id += 0x1234567890abull, parent, t += 250000);
		for (unsigned s = 0; s < steps[c]; s++)
			in[n++] = hop("queue-proxy", "breaker_acquire", id += 0x1234567890abull, in[me].span_id, t += 15000);
		parent = in[me].span_id;
		t += 1200000000ull; /* a cold start between components */
	}
	m = dft_hops_encode(in, n, val, sizeof(val), &left);
	assert_true(m > 0 && m <= (int)DFT_HOPS_VALUE_MAX);
	assert_int_equal(left, 0);
	m = dft_hops_decode(val, strlen(val), out, DFT_HOPS_MAX, &cut);
	assert_int_equal(m, (int)n);
	for (unsigned i = 0; i < n; i++)
		assert_hop_equal(&in[i], &out[i]);
}

/* More hops than fit: the oldest are left out, the newest survive with their real parents. */
static void test_overflow_keeps_newest(void **state)
{
	struct dft_hop_rec in[DFT_HOPS_MAX], out[DFT_HOPS_MAX];
	char val[DFT_HOPS_VALUE_MAX + 1];
	unsigned left, cut;
	int n;

	(void)state;
	for (unsigned i = 0; i < DFT_HOPS_MAX; i++) {
		/* every third hop hangs off hop 0, so a kept hop can reference a hop left out */
		uint64_t parent = i == 0 ? 7 : (i % 3 == 0 ? in[0].span_id : in[i - 1].span_id);

		in[i] = hop("platform", "forward", 0x0101010101010101ull * (i + 1), parent,
		            1700000000000000000ull + i * 1000);
	}
	n = dft_hops_encode(in, DFT_HOPS_MAX, val, sizeof(val), &left);
	assert_true(n > 0 && n <= (int)DFT_HOPS_VALUE_MAX);
	assert_true(left > 0);
	n = dft_hops_decode(val, strlen(val), out, DFT_HOPS_MAX, &cut);
	assert_int_equal((unsigned)n + left, DFT_HOPS_MAX);
	for (int i = 0; i < n; i++)
		assert_hop_equal(&in[left + (unsigned)i], &out[i]);
	assert_int_equal(out[n - 1].parent_span_id, in[0].span_id); /* DFT_HOPS_MAX - 1 = 15: a multiple of 3 */
}

static void test_malformed_rejected(void **state)
{
	/* hop bytes: ref, [parent x8], hash x4, span id x8, start varint */
	static const uint8_t ok_hop[] = {0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 5, 0, 0, 0, 0, 0, 0, 0, 100};
	static const struct {
		uint8_t b[40];
		size_t n;
		const char *what;
	} bad[] = {
		{{1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 5, 0, 0, 0, 0, 0, 0, 0, 100}, 23, "version 1"},
		{{2, 1, 9, 9, 9, 9, 5, 0, 0, 0, 0, 0, 0, 0, 100}, 15, "first hop references a hop before it"},
		{{2, 0, 1, 0, 0}, 5, "explicit parent cut short"},
		{{2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 9}, 12, "name hash cut short"},
		{{2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 5, 0, 0}, 17, "span id cut short"},
		{{2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 5, 0, 0, 0, 0, 0, 0, 0}, 22, "no start"},
		{{2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 0, 0, 0, 0, 0, 0, 0, 0, 100}, 23, "span id zero"},
		{{2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 9, 5, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		  0x80, 0x80, 0x80, 0x01},
		 33, "start varint longer than 64 bits"},
		{{2, 0x80}, 2, "reference varint cut short"},
	};
	static const char *const bad_text[] = {
		"",    /* empty */
		"A",   /* impossible base64 length */
		"Ag=", /* padding is not base64url-without-padding */
		"Ag!", /* bad character */
		"Ah",  /* non-canonical tail bits */
	};
	struct dft_hop_rec out[4];
	char val[2 * DFT_HOPS_VALUE_MAX];
	uint8_t b[64];
	unsigned cut;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_text) / sizeof(bad_text[0]); i++)
		if (dft_hops_decode(bad_text[i], strlen(bad_text[i]), out, 4, &cut) != -EINVAL)
			fail_msg("accepted malformed value '%s'", bad_text[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		b64(bad[i].b, bad[i].n, val);
		if (dft_hops_decode(val, strlen(val), out, 4, &cut) != -EINVAL)
			fail_msg("accepted malformed value (%s)", bad[i].what);
	}
	/* the well-formed hop the cases are cut from decodes, so the cases fail for their reason */
	b[0] = 2;
	memcpy(b + 1, ok_hop, sizeof(ok_hop));
	b64(b, 1 + sizeof(ok_hop), val);
	assert_int_equal(dft_hops_decode(val, strlen(val), out, 4, &cut), 1);
	assert_int_equal(out[0].parent_span_id, 1);
	assert_int_equal(out[0].span_id, 5);
	assert_int_equal(out[0].start_ns, 100);
	/* a second hop whose reference reaches past the first */
	memcpy(b + 1 + sizeof(ok_hop), ok_hop, sizeof(ok_hop));
	b[1 + sizeof(ok_hop)] = 2;
	memmove(b + 2 + sizeof(ok_hop), b + 10 + sizeof(ok_hop), sizeof(ok_hop) - 9);
	b64(b, 1 + 2 * sizeof(ok_hop) - 8, val);
	assert_int_equal(dft_hops_decode(val, strlen(val), out, 4, &cut), -EINVAL);
	b[1 + sizeof(ok_hop)] = 1; /* the same hop referencing the first: fine */
	b64(b, 1 + 2 * sizeof(ok_hop) - 8, val);
	assert_int_equal(dft_hops_decode(val, strlen(val), out, 4, &cut), 2);
	assert_int_equal(out[1].parent_span_id, 5);
	/* too long a value, and a zero span id, never pass */
	memset(val, 'A', DFT_HOPS_VALUE_MAX + 4);
	assert_int_equal(dft_hops_decode(val, DFT_HOPS_VALUE_MAX + 4, out, 4, &cut), -EINVAL);
	out[0] = hop("x", "y", 0, 1, 1);
	assert_int_equal(dft_hops_encode(out, 1, val, sizeof(val), &cut), -EINVAL);
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
		cmocka_unit_test(test_name_hash),
		cmocka_unit_test(test_round_trip_tree),
		cmocka_unit_test(test_knative_path_fits),
		cmocka_unit_test(test_overflow_keeps_newest),
		cmocka_unit_test(test_malformed_rejected),
		cmocka_unit_test(test_tracestate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
