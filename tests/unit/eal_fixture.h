/* SPDX-License-Identifier: MIT */
/*
 * EAL for a unit test group: --no-huge, one lcore, a file prefix of its own (tests run side by
 * side), errors only in the log; extra arguments as the test needs (a vdev). Its runtime directory
 * is removed at teardown.
 */
#ifndef DFT_TEST_EAL_FIXTURE_H
#define DFT_TEST_EAL_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <rte_eal.h>

static char dft_test_eal_prefix[64];

static inline int dft_test_eal_up(const char *prog, const char *tag, const char *const *extra, int n_extra)
{
	char pfx[96];
	char *argv[16] = {(char *)prog, "--no-huge", "--no-pci", "-m", "128", "-l", "0", pfx, "--log-level=*:error"};
	int argc = 9;

	if (n_extra > (int)(sizeof(argv) / sizeof(argv[0])) - argc)
		return -1;
	for (int i = 0; i < n_extra; i++)
		argv[argc++] = (char *)extra[i];
	snprintf(dft_test_eal_prefix, sizeof(dft_test_eal_prefix), "%s%d", tag, (int)getpid());
	snprintf(pfx, sizeof(pfx), "--file-prefix=%s", dft_test_eal_prefix);
	return rte_eal_init(argc, argv) < 0 ? -1 : 0;
}

static inline int dft_test_eal_down(void)
{
	char cmd[160];

	rte_eal_cleanup();
	snprintf(cmd, sizeof(cmd), "rm -rf /var/run/dpdk/%s", dft_test_eal_prefix);
	return system(cmd) == 0 ? 0 : 0;
}

#endif /* DFT_TEST_EAL_FIXTURE_H */
