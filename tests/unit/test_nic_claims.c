/* SPDX-License-Identifier: MIT */
/*
 * Counters the host writes into its region are claims: the NIC's copy never runs backwards and
 * never passes the bound the host's other claims allow, and the clamped figure reaches the stats
 * and, per region, the rows telemetry shows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "nic.h"

static void test_claim_never_backwards(void **state)
{
	uint64_t last = 0;

	(void)state;
	assert_int_equal(dft_claim_clamp(&last, 10, UINT64_MAX), 10);
	/* a host that rewrites its counter smaller (or a torn read) */
	assert_int_equal(dft_claim_clamp(&last, 3, UINT64_MAX), 10);
	assert_int_equal(last, 10);
	assert_int_equal(dft_claim_clamp(&last, 12, UINT64_MAX), 12);
}

static void test_claim_bounded(void **state)
{
	uint64_t last = 0, produced = 2;

	(void)state;
	/* two spans can have lost at most 2 * 255 hops, whatever the header says */
	assert_int_equal(dft_claim_clamp(&last, UINT64_MAX, produced * DFT_NIC_HOPS_CUT_PER_SPAN),
	                 2 * DFT_NIC_HOPS_CUT_PER_SPAN);
	/* the bound never undoes what was already granted */
	assert_int_equal(dft_claim_clamp(&last, 5, 1), 2 * DFT_NIC_HOPS_CUT_PER_SPAN);
}

static void test_hops_dropped_in_stats_json(void **state)
{
	char path[] = "/tmp/dft-test-claims-XXXXXX", buf[8192];
	size_t n;
	FILE *f;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	dft_ctr_set(&dft_nic_ctr.hops_dropped, 4242);
	assert_int_equal(dft_nic_stats_write(path), 0);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = 0;
	fclose(f);
	unlink(path);
	assert_non_null(strstr(buf, "\"hops_dropped\":4242,"));
	dft_ctr_set(&dft_nic_ctr.hops_dropped, 0);
}

/* Each live region's row, as the worker publishes them and telemetry reads them. */
static void test_region_rows(void **state)
{
	struct dft_nic_region_stat rows[3], out[3];

	(void)state;
	memset(rows, 0, sizeof(rows));
	for (unsigned i = 0; i < 3; i++) {
		rows[i].id = 10 + i;
		rows[i].pid = 100 + i;
		rows[i].hops_dropped = 7 * i;
		rows[i].produced = 1000 + i;
	}
	dft_nic_regions_publish(rows, 3);
	memset(out, 0, sizeof(out));
	assert_int_equal(dft_nic_regions_read(out, 3), 3);
	assert_memory_equal(out, rows, sizeof(rows));
	/* a smaller buffer gets the first rows and the whole count */
	memset(out, 0, sizeof(out));
	assert_int_equal(dft_nic_regions_read(out, 2), 3);
	assert_int_equal(out[1].hops_dropped, 7);
	assert_int_equal(out[2].id, 0);
	/* regions gone: an empty publication */
	dft_nic_regions_publish(rows, 0);
	assert_int_equal(dft_nic_regions_read(out, 3), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_claim_never_backwards),
	    cmocka_unit_test(test_claim_bounded),
	    cmocka_unit_test(test_hops_dropped_in_stats_json),
	    cmocka_unit_test(test_region_rows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
