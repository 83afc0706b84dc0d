/* SPDX-License-Identifier: MIT */
/*
 * A tenant's workload for test_tenants.py: one process, one component (the region's, which the NIC
 * maps to a tenant), N threads ending function spans (always kept by the filter) for S seconds,
 * either as fast as the library takes them (a flooder: its small rings fill and drop, counted) or
 * paced at R spans/s per thread. Prints {"produced":N,"dropped_full":N,"dropped_no_ring":N} after
 * dft_fini waited for the daemon to drain.
 *
 * --scribble: a hostile tenant. One more thread maps the process's own region (found as the memfd
 * among its open files) and writes random bytes over its rings (headers, counters and slots) every
 * 100 us while the spans flow: what the NIC must survive without anyone else's account moving. The
 * header, metrics page and name table stay intact, so a restarted NIC still maps the region to its
 * tenant by component name.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <difftrace/difftrace.h>

static unsigned seconds = 3, rate;
static volatile int running = 1;
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

/* The region: the memfd libdifftrace created (its link reads "/memfd:..."). */
static void *map_region(size_t *len)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	void *p = NULL;

	while (d && (e = readdir(d))) {
		char path[300], link[256];
		ssize_t n;
		struct stat st;
		int fd;

		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (strncmp(link, "/memfd:", 7))
			continue;
		fd = atoi(e->d_name);
		if (fstat(fd, &st) || st.st_size <= 8192)
			continue;
		p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			p = NULL;
			continue;
		}
		*len = (size_t)st.st_size;
		break;
	}
	if (d)
		closedir(d);
	return p;
}

static void *scribble(void *arg)
{
	size_t len = 0;
	uint8_t *base = map_region(&len);
	uint64_t x = (uint64_t)(uintptr_t)arg | 1, from;

	if (!base) {
		fprintf(stderr, "dft_tenantapp: --scribble: no region found\n");
		return NULL;
	}
	/* rings_off as the library wrote it (abi.h: the region header's layout fields) */
	memcpy(&from, base + 56, sizeof(from));
	if (from < 4096 || from >= len - 8) {
		fprintf(stderr, "dft_tenantapp: --scribble: no rings in the region\n");
		return NULL;
	}
	while (running) {
		struct timespec d = {0, 100000};

		for (int i = 0; i < 16; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			size_t off = (size_t)from + (size_t)(x % (len - from - 8));

			memcpy(base + (off & ~(size_t)7), &x, 8);
		}
		nanosleep(&d, NULL);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"component", 1, 0, 'c'}, {"threads", 1, 0, 't'}, {"seconds", 1, 0, 's'},
					     {"rate", 1, 0, 'r'}, {"ring-slots", 1, 0, 'n'}, {"scribble", 0, 0, 'x'},
					     {0, 0, 0, 0}};
	struct dft_options o = {.size = sizeof(o), .ring_count = 4, .ring_slots = 1024, .name_capacity = 32};
	const char *component = NULL;
	unsigned threads = 1;
	pthread_t th[16], sth;
	int scribbler = 0;
	struct dft_host_stats st;
	int c, rc;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': component = optarg; break;
		case 't': threads = (unsigned)atoi(optarg); break;
		case 's': seconds = (unsigned)atoi(optarg); break;
		case 'r': rate = (unsigned)atoi(optarg); break;
		case 'n': o.ring_slots = (uint32_t)atoi(optarg); break;
		case 'x': scribbler = 1; break;
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
	if (scribbler)
		pthread_create(&sth, NULL, scribble, (void *)(uintptr_t)now_ns());
	for (unsigned i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	running = 0;
	if (scribbler)
		pthread_join(sth, NULL);
	dft_stats(&st);
	rc = dft_fini(10000);
	printf("{\"produced\":%" PRIu64 ",\"dropped_full\":%" PRIu64 ",\"dropped_no_ring\":%" PRIu64 ",\"fini\":%d}\n",
	       st.produced, st.dropped_full, st.dropped_no_ring, rc);
	return 0;
}
