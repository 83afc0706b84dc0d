/* SPDX-License-Identifier: MIT */
/*
 * The dmadev ingest backend on a synthetic region, with DPDK's software DMA engine (dma_skeleton,
 * whose copy thread stands in for a DPU's engine) under EAL --no-huge --iova-mode=va. The backend
 * starts copying a ring's next slots while the worker judges the current ones; whatever the order
 * of fills, polls and (partial) releases across rings, every burst must be exactly the slots at the
 * ring's tail as the host wrote them, never a stale prefetch, and a region may be detached while a
 * copy is in flight.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <rte_eal.h>

#include "ingest.h"
#include "stats.h"
#include "eal_fixture.h"
#include "synth.h"

#define RINGS 3
#define RING_SLOTS 128 /* small: the copies wrap often */

struct fx {
	struct dft_synth s;
	struct dft_nic_region r;
	struct dft_ingest *in;
};


static struct dft_ring_hdr *ring(struct fx *f, uint32_t k)
{
	return dft_region_ring(f->s.base, f->s.g.rings_off, f->s.g.ring_stride, k);
}

static void open_fx(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(dft_synth_create(RINGS, RING_SLOTS, DFT_SYNTH_FUNCTION, 1000000000ull, &f->s), 0);
	f->r.fd = f->r.conn = -1;
	f->r.map = f->s.base;
	f->r.g = f->s.g;
	assert_int_equal(dft_ingest_create(&(struct dft_ingest_cfg){.name = "dmadev"}, &f->in), 0);
	assert_int_equal(dft_ingest_attach(f->in, &f->r), 0);
}

static void close_fx(struct fx *f)
{
	dft_ingest_detach(f->in, &f->r);
	assert_null(f->r.ingest_priv);
	dft_ingest_destroy(f->in);
	dft_synth_destroy(&f->s);
}

/* The burst must be the n slots from the ring's tail, as they sit in the host's memory (the
 * producer cannot have reused them: nothing past the tail was released). */
static void check_burst(struct fx *f, uint32_t k, const struct dft_slot *burst, int n)
{
	struct dft_ring_hdr *h = ring(f, k);
	const struct dft_slot *slots = dft_ring_slots(h);
	uint64_t tail = dft_load_relaxed(&h->tail);

	for (int i = 0; i < n; i++)
		if (memcmp(&burst[i], &slots[(tail + (uint64_t)i) & (RING_SLOTS - 1)], sizeof(*burst)))
			fail_msg("ring %u: slot %d of %d (tail %llu) is not the host's", k, i, n, (unsigned long long)tail);
}

/* Random fills, polls of random size and releases of part of what was handed out, across rings. */
static void test_random_interleaving(void **state)
{
	struct dft_slot burst[64];
	uint64_t filled = 0, released = 0, copies0 = dft_nic_ctr.dma_copies;
	unsigned seed = 12345;
	struct fx f;

	(void)state;
	open_fx(&f);
	for (int it = 0; it < 20000; it++) {
		uint32_t k = (uint32_t)rand_r(&seed) % RINGS;
		int n;

		if (rand_r(&seed) % 3 == 0)
			filled += dft_synth_fill(&f.s, k, 1 + (uint32_t)rand_r(&seed) % 80);
		n = dft_ingest_poll(f.in, &f.r, k, burst, 1 + (uint32_t)rand_r(&seed) % 64);
		assert_true(n >= 0);
		check_burst(&f, k, burst, n);
		if (n) {
			/* mostly all of it (the prefetch then fits), sometimes part (it must be dropped) */
			uint32_t used = rand_r(&seed) % 4 ? (uint32_t)n : (uint32_t)rand_r(&seed) % ((uint32_t)n + 1);

			dft_ingest_release(f.in, &f.r, k, used);
			released += used;
		}
	}
	for (uint32_t k = 0; k < RINGS; k++) {
		int n;

		while ((n = dft_ingest_poll(f.in, &f.r, k, burst, 64)) > 0) {
			check_burst(&f, k, burst, n);
			dft_ingest_release(f.in, &f.r, k, (uint32_t)n);
			released += (uint64_t)n;
		}
		assert_int_equal(n, 0);
	}
	assert_true(dft_ingest_empty(f.in, &f.r));
	assert_int_equal(released, filled);
	assert_true(filled > 10000);
	assert_true(dft_nic_ctr.dma_copies > copies0);
	assert_int_equal(dft_nic_ctr.dma_errors, 0);
	close_fx(&f);
}

/* Slots published after a prefetch started come with a later poll, in order, none twice. */
static void test_late_slots(void **state)
{
	struct dft_slot burst[64];
	struct fx f;
	int n;

	(void)state;
	open_fx(&f);
	assert_int_equal(dft_synth_fill(&f.s, 0, 10), 10);
	n = dft_ingest_poll(f.in, &f.r, 0, burst, 4);
	assert_int_equal(n, 4);
	check_burst(&f, 0, burst, n);
	dft_ingest_release(f.in, &f.r, 0, 4);
	assert_int_equal(dft_synth_fill(&f.s, 0, 20), 20);
	/* the prefetch copied slots 4..7 (no more than the poll asked for); the slots written after it
	 * come with the polls that follow */
	for (uint32_t left = 26; left;) {
		n = dft_ingest_poll(f.in, &f.r, 0, burst, 64);
		assert_true(n > 0 && (uint32_t)n <= left);
		check_burst(&f, 0, burst, n);
		dft_ingest_release(f.in, &f.r, 0, (uint32_t)n);
		left -= (uint32_t)n;
	}
	assert_int_equal(dft_ingest_poll(f.in, &f.r, 0, burst, 64), 0);
	close_fx(&f);
}

/* Detaching right after a poll (its prefetch possibly still copying) and attaching again. */
static void test_detach_in_flight(void **state)
{
	struct dft_slot burst[64];
	struct fx f;

	(void)state;
	open_fx(&f);
	for (int round = 0; round < 50; round++) {
		for (uint32_t k = 0; k < RINGS; k++) {
			dft_synth_fill(&f.s, k, RING_SLOTS);
			assert_true(dft_ingest_poll(f.in, &f.r, k, burst, 32) > 0);
		}
		dft_ingest_detach(f.in, &f.r);
		assert_null(f.r.ingest_priv);
		assert_int_equal(dft_ingest_attach(f.in, &f.r), 0);
		/* nothing was released: the same slots again */
		for (uint32_t k = 0; k < RINGS; k++) {
			int n = dft_ingest_poll(f.in, &f.r, k, burst, 64);

			assert_int_equal(n, 64);
			check_burst(&f, k, burst, n);
			dft_ingest_release(f.in, &f.r, k, (uint32_t)n);
		}
	}
	close_fx(&f);
}

static int setup(void **state)
{
	static const char *const extra[] = {"--vdev=dma_skeleton", "--iova-mode=va"};

	(void)state;
	return dft_test_eal_up("test_ingest_dmadev", "dftdma", extra, 2);
}

static int teardown(void **state)
{
	(void)state;
	return dft_test_eal_down();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_interleaving),
		cmocka_unit_test(test_late_slots),
		cmocka_unit_test(test_detach_in_flight),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
