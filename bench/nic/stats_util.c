/* SPDX-License-Identifier: MIT */
#include <math.h>
#include <stdlib.h>

#include "stats_util.h"

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

void dft_bstats_compute(struct dft_bstats *out, double *v, unsigned n)
{
	double sum = 0;
	unsigned rank;

	*out = (struct dft_bstats){0};
	if (n == 0)
		return;
	qsort(v, n, sizeof(*v), cmp_double);
	for (unsigned i = 0; i < n; i++)
		sum += v[i];
	rank = (unsigned)ceil(0.99 * n);
	out->n = n;
	out->min = v[0];
	out->max = v[n - 1];
	out->median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	out->p99 = v[(rank ? rank : 1) - 1];
	out->mean = sum / n;
}
