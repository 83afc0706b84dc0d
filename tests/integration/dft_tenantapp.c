/* SPDX-License-Identifier: MIT */
/*
 * A tenant's workload for test_tenants.py: one process, one component (the region's, which the NIC
 * maps to a tenant), N threads ending function spans (always kept by the filter) for S seconds,
 * either as fast as the library takes them (a flooder: its small rings fill and drop, counted) or
 * paced at R spans/s per thread. Prints {"produced":N,"dropped_full":N,"dropped_no_ring":N} after
 * dft_fini waited for the daemon to drain.
 */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <difftrace/difftrace.h>

static unsigned seconds = 3, rate;
static uint16_t op;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void *run(void *arg)
{
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)seconds * 1000000000u, n = 0;

	(void)arg;
	for (uint64_t t = t0; t < end; t = now_ns()) {
		struct dft_span sp;

		if (rate && n * 1000000000u / rate > t - t0) {
			struct timespec d = {0, 200000};

			nanosleep(&d, NULL);
			continue;
		}
		dft_span_begin(&sp, op, NULL);
		dft_span_end(&sp);
		n++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"component", 1, 0, 'c'}, {"threads", 1, 0, 't'}, {"seconds", 1, 0, 's'},
					     {"rate", 1, 0, 'r'}, {"ring-slots", 1, 0, 'n'}, {0, 0, 0, 0}};
	struct dft_options o = {.size = sizeof(o), .ring_count = 4, .ring_slots = 1024, .name_capacity = 32};
	const char *component = NULL;
	unsigned threads = 1;
	pthread_t th[16];
	struct dft_host_stats st;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': component = optarg; break;
		case 't': threads = (unsigned)atoi(optarg); break;
		case 's': seconds = (unsigned)atoi(optarg); break;
		case 'r': rate = (unsigned)atoi(optarg); break;
		case 'n': o.ring_slots = (uint32_t)atoi(optarg); break;
		default: return 2;
		}
	}
	if (!component || threads < 1 || threads > 16) {
		fprintf(stderr, "usage: dft_tenantapp --component NAME [--threads 1..16] [--seconds S] [--rate R/thread] "
				"[--ring-slots N]\n");
		return 2;
	}
	rc = dft_init(component, DFT_COMPONENT_FUNCTION, &o);
	if (rc) {
		fprintf(stderr, "dft_tenantapp: dft_init: %d\n", rc);
		return 1;
	}
	op = dft_name("invoke");
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&th[i], NULL, run, NULL);
	for (unsigned i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	dft_stats(&st);
	rc = dft_fini(10000);
	printf("{\"produced\":%" PRIu64 ",\"dropped_full\":%" PRIu64 ",\"dropped_no_ring\":%" PRIu64 ",\"fini\":%d}\n",
	       st.produced, st.dropped_full, st.dropped_no_ring, rc);
	return 0;
}
