/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "dft/hist.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t xr(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t exact_q(const uint64_t *sorted, size_t n, double q)
{
	size_t rank = (size_t)ceil(q * (double)n);

	return sorted[rank ? rank - 1 : 0];
}

/* Bucket boundaries: every value maps into a bucket whose range contains it. */
static void test_buckets_cover_values(void **state)
{
	(void)state;
	for (int i = 0; i < 200000; i++) {
		uint64_t v = xr() >> (xr() % 64);
		unsigned b = dft_hist_bucket_of(v);

		assert_true(b < DFT_HIST_BUCKETS);
		if (b + 1 < DFT_HIST_BUCKETS && v < (1ull << DFT_HIST_POW)) {
			uint64_t mid = dft_hist_bucket_mid(b);
			double rel = mid > v ? (double)(mid - v) / (double)v : (double)(v - mid) / (double)(v ? v : 1);

			assert_true(rel <= 1.0 / DFT_HIST_SUB + 1e-9);
		}
	}
	for (uint64_t v = 0; v < DFT_HIST_SUB; v++)
		assert_int_equal(dft_hist_bucket_mid(dft_hist_bucket_of(v)), v);
}

/* Quantiles against exact ones on several random distributions: bounded relative error. */
static void test_quantiles_vs_exact(void **state)
{
	static const double qs[] = {0.01, 0.1, 0.5, 0.9, 0.99, 0.999};
	enum { N = 100000 };
	uint64_t *vals = malloc(N * sizeof(*vals));
	struct dft_hist *h = malloc(sizeof(*h));

	(void)state;
	assert_non_null(vals);
	assert_non_null(h);
	for (int dist = 0; dist < 3; dist++) {
		dft_hist_reset(h);
		for (int i = 0; i < N; i++) {
			double u = (double)(xr() >> 11) / 9007199254740992.0;
			uint64_t v;

			if (dist == 0) /* uniform 1 us .. 10 ms */
				v = 1000 + xr() % 10000000;
			else if (dist == 1) /* exponential, mean 200 us */
				v = (uint64_t)(-log(1 - u) * 200000.0) + 1;
			else /* log-normal-ish heavy tail */
				v = (uint64_t)exp(8 + 3 * u * u * u * 5) + 1;
			vals[i] = v;
			dft_hist_add(h, v);
		}
		qsort(vals, N, sizeof(*vals), cmp_u64);
		assert_int_equal(h->count, N);
		for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
			uint64_t want = exact_q(vals, N, qs[k]);
			uint64_t got = dft_hist_quantile(h, qs[k]);
			double rel = fabs((double)got - (double)want) / (double)want;

			if (rel > 0.035)
				fail_msg("dist %d q %.3f: got %llu want %llu (rel %.4f)", dist, qs[k],
					 (unsigned long long)got, (unsigned long long)want, rel);
		}
	}
	free(vals);
	free(h);
}

static void test_empty_and_window(void **state)
{
	struct dft_hist_win *w = malloc(sizeof(*w));

	(void)state;
	assert_non_null(w);
	dft_hist_win_reset(w);
	assert_int_equal(dft_hist_win_quantile(w, 0.99), 0);
	for (int i = 0; i < 1000; i++)
		dft_hist_win_add(w, 1000000); /* an old regime at 1 ms */
	dft_hist_win_rotate(w);
	for (int i = 0; i < 1000; i++)
		dft_hist_win_add(w, 1000); /* a new regime at 1 us */
	assert_int_equal(dft_hist_win_count(w), 2000);
	assert_true(dft_hist_win_quantile(w, 0.99) > 900000); /* both halves still count */
	dft_hist_win_rotate(w); /* drops the 1 ms half */
	assert_int_equal(dft_hist_win_count(w), 1000);
	assert_true(dft_hist_win_quantile(w, 0.99) <= 1000);
	assert_true(dft_hist_win_quantile(w, 0.99) >= 960);
	free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_cover_values),
		cmocka_unit_test(test_quantiles_vs_exact),
		cmocka_unit_test(test_empty_and_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
