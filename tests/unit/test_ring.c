/* SPDX-License-Identifier: MIT */
/*
 * SPSC ring (shared/include/dft/ring.h): wrap-around, full/drop accounting, free-running index
 * overflow, a hostile head, and two threads pushing millions of sequence-numbered records.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dft/ring.h"

#define SMALL_SLOTS 64u
#define MT_SLOTS    1024u
#define MT_RECORDS  (4u << 20)

static struct dft_ring_hdr *ring_new(uint32_t slots)
{
	size_t len = sizeof(struct dft_ring_hdr) + (size_t)slots * DFT_SLOT_SIZE;
	struct dft_ring_hdr *r = aligned_alloc(DFT_CACHELINE, len);

	assert_non_null(r);
	memset(r, 0, len);
	return r;
}

static int push(struct dft_ring_prod *p, uint64_t seq)
{
	struct dft_slot *s = dft_ring_prod_reserve(p, 1);

	if (!s)
		return -1;
	s->type = DFT_SLOT_SPAN;
	s->span_id = seq;
	s->end = ~seq;
	dft_ring_prod_commit(p, 1);
	return 0;
}

/* Pops up to n records and checks they continue at *next. Returns how many it popped. */
static uint64_t pop_check(struct dft_ring_cons *c, uint64_t n, uint64_t *next)
{
	int64_t avail = dft_ring_cons_avail(c, (uint32_t)n);

	assert_true(avail >= 0);
	for (int64_t i = 0; i < avail; i++) {
		struct dft_slot *s = dft_ring_cons_slot(c, (uint64_t)i);

		assert_int_equal(s->span_id, *next);
		assert_int_equal(s->end, ~*next);
		(*next)++;
	}
	dft_ring_cons_release(c, (uint32_t)avail);
	return (uint64_t)avail;
}

static void test_wrap_around(void **state)
{
	struct dft_ring_hdr *r = ring_new(SMALL_SLOTS);
	struct dft_ring_prod p;
	struct dft_ring_cons c;
	uint64_t seq = 0, next = 0;

	(void)state;
	dft_ring_prod_attach(&p, r, SMALL_SLOTS);
	dft_ring_cons_attach(&c, r, SMALL_SLOTS);
	/* 40 at a time does not divide 64: every round lands at another offset and crosses the end */
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 40; i++)
			assert_int_equal(push(&p, seq++), 0);
		assert_int_equal(pop_check(&c, 1000, &next), 40);
	}
	assert_int_equal(next, seq);
	assert_int_equal(r->head, seq);
	assert_int_equal(r->tail, seq);
	assert_int_equal(r->produced, seq);
	assert_int_equal(r->dropped_full, 0);
	free(r);
}

static void test_full_and_drop(void **state)
{
	struct dft_ring_hdr *r = ring_new(SMALL_SLOTS);
	struct dft_ring_prod p;
	struct dft_ring_cons c;
	uint64_t next = 0;

	(void)state;
	dft_ring_prod_attach(&p, r, SMALL_SLOTS);
	dft_ring_cons_attach(&c, r, SMALL_SLOTS);
	for (uint64_t i = 0; i < SMALL_SLOTS; i++)
		assert_int_equal(push(&p, i), 0);
	/* full: the next three are dropped and counted, head does not move */
	for (int i = 0; i < 3; i++)
		assert_int_equal(push(&p, 1000 + i), -1);
	assert_int_equal(r->dropped_full, 3);
	assert_int_equal(r->produced, SMALL_SLOTS + 3);
	assert_int_equal(r->head, SMALL_SLOTS);
	/* one slot freed: exactly one more fits, and it continues the sequence */
	assert_int_equal(pop_check(&c, 1, &next), 1);
	assert_int_equal(push(&p, SMALL_SLOTS), 0);
	assert_int_equal(push(&p, 2000), -1);
	assert_int_equal(r->dropped_full, 4);
	/* the consumer's cached head still says 63: it reloads only once those are gone */
	assert_int_equal(pop_check(&c, 1000, &next), SMALL_SLOTS - 1);
	assert_int_equal(pop_check(&c, 1000, &next), 1);
	assert_int_equal(next, SMALL_SLOTS + 1);
	/* accounting per ring: produced = consumed + dropped_full + pending */
	assert_int_equal(r->produced, next + r->dropped_full + (r->head - r->tail));
	/* a producer re-attaching (another thread taking the ring over) continues the counters */
	dft_ring_prod_attach(&p, r, SMALL_SLOTS);
	assert_int_equal(push(&p, next), 0);
	assert_int_equal(r->produced, SMALL_SLOTS + 6);
	assert_int_equal(pop_check(&c, 1000, &next), 1);
	free(r);
}

static void test_index_overflow(void **state)
{
	struct dft_ring_hdr *r = ring_new(SMALL_SLOTS);
	struct dft_ring_prod p;
	struct dft_ring_cons c;
	uint64_t seq = 0, next = 0;

	(void)state;
	/* free-running indices just below 2^64: masking and differences must survive the wrap */
	r->head = r->tail = UINT64_MAX - 20;
	dft_ring_prod_attach(&p, r, SMALL_SLOTS);
	dft_ring_cons_attach(&c, r, SMALL_SLOTS);
	for (int round = 0; round < 4; round++) {
		for (uint32_t i = 0; i < SMALL_SLOTS; i++)
			assert_int_equal(push(&p, seq++), 0);
		assert_int_equal(push(&p, 99999), -1);
		assert_int_equal(pop_check(&c, 1000, &next), SMALL_SLOTS);
	}
	assert_true(r->head < 1000); /* it did wrap */
	assert_int_equal(r->dropped_full, 4);
	free(r);
}

static void test_hostile_head(void **state)
{
	struct dft_ring_hdr *r = ring_new(SMALL_SLOTS);
	struct dft_ring_cons c;

	(void)state;
	r->head = r->tail = 1000;
	dft_ring_cons_attach(&c, r, SMALL_SLOTS);
	r->head = 1000 + SMALL_SLOTS + 1; /* more than a ring ahead */
	assert_int_equal(dft_ring_cons_avail(&c, 1000), -EOVERFLOW);
	r->head = 999; /* behind tail */
	assert_int_equal(dft_ring_cons_avail(&c, 1000), -EOVERFLOW);
	r->head = UINT64_MAX;
	assert_int_equal(dft_ring_cons_avail(&c, 1000), -EOVERFLOW);
	assert_int_equal(c.tail, 1000); /* nothing consumed */
	assert_int_equal(r->tail, 1000);
	r->head = 1000 + SMALL_SLOTS; /* exactly full is fine */
	assert_int_equal(dft_ring_cons_avail(&c, 1000), SMALL_SLOTS);
	assert_int_equal(dft_ring_cons_avail(&c, 5), 5);
	free(r);
}

/* Slots beyond those already taken: the cached head first, the published one when that is used up,
 * the same refusals as at the tail. */
static void test_avail_from(void **state)
{
	struct dft_ring_hdr *r = ring_new(SMALL_SLOTS);
	struct dft_ring_cons c;

	(void)state;
	r->head = r->tail = 1000;
	dft_ring_cons_attach(&c, r, SMALL_SLOTS);
	r->head = 1010;
	assert_int_equal(dft_ring_cons_avail(&c, 4), 4);
	assert_int_equal(dft_ring_cons_avail_from(&c, 4, 100), 6);
	assert_int_equal(dft_ring_cons_avail_from(&c, 4, 3), 3);
	assert_int_equal(dft_ring_cons_avail_from(&c, 10, 100), 0); /* all taken, nothing published */
	r->head = 1015;
	assert_int_equal(dft_ring_cons_avail_from(&c, 10, 100), 5); /* the new head is loaded */
	r->head = 1012; /* went back, yet ahead of the tail: nothing beyond what was taken */
	assert_int_equal(dft_ring_cons_avail_from(&c, 15, 100), 0);
	assert_int_equal(c.head_cache, 1015); /* the accepted head stays: slots up to it were handed out */
	assert_int_equal(dft_ring_cons_avail(&c, 100), 15);
	r->head = 1000 + SMALL_SLOTS + 1;
	assert_int_equal(dft_ring_cons_avail_from(&c, 15, 100), -EOVERFLOW);
	r->head = 999;
	assert_int_equal(dft_ring_cons_avail_from(&c, 15, 100), -EOVERFLOW);
	assert_int_equal(c.tail, 1000);
	free(r);
}

struct mt {
	struct dft_ring_hdr *r;
	bool retry;       /* producer spins on a full ring instead of dropping */
	uint64_t retries; /* producer: failed reserves (each one counted in dropped_full) */
	uint32_t done;    /* producer finished (store-release after its last commit) */
};

static void *producer(void *arg)
{
	struct mt *m = arg;
	struct dft_ring_prod p;

	dft_ring_prod_attach(&p, m->r, MT_SLOTS);
	for (uint64_t seq = 0; seq < MT_RECORDS; seq++) {
		while (push(&p, seq) != 0) {
			if (!m->retry)
				break;
			m->retries++;
			sched_yield();
		}
	}
	dft_store_release(&m->done, 1);
	return NULL;
}

/* Consumes until the producer is done and the ring is empty. Returns records consumed; *gaps is the
 * number of sequence numbers skipped (the producer's drops). Order must be strictly increasing. */
static uint64_t consume_all(struct mt *m, uint64_t *gaps)
{
	struct dft_ring_cons c;
	uint64_t got = 0, expect = 0;

	*gaps = 0;
	dft_ring_cons_attach(&c, m->r, MT_SLOTS);
	for (;;) {
		uint32_t done = dft_load_acquire(&m->done);
		int64_t n = dft_ring_cons_avail(&c, 256);

		assert_true(n >= 0);
		if (n == 0) {
			if (done)
				break;
			sched_yield();
			continue;
		}
		for (int64_t i = 0; i < n; i++) {
			const struct dft_slot *s = dft_ring_cons_slot(&c, (uint64_t)i);
			uint64_t seq = s->span_id;

			if (seq < expect || s->end != ~seq)
				fail_msg("record %" PRIu64 ": seq %" PRIu64 " expected >= %" PRIu64, got, seq, expect);
			*gaps += seq - expect;
			expect = seq + 1;
			got++;
		}
		dft_ring_cons_release(&c, (uint32_t)n);
	}
	return got;
}

static void run_mt(bool retry)
{
	struct mt m = {.r = ring_new(MT_SLOTS), .retry = retry};
	pthread_t th;
	uint64_t got, gaps;

	assert_int_equal(pthread_create(&th, NULL, producer, &m), 0);
	got = consume_all(&m, &gaps);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(m.r->head, got);
	if (retry) {
		assert_int_equal(got, MT_RECORDS);
		assert_int_equal(gaps, 0);
		assert_int_equal(m.r->dropped_full, m.retries);
		assert_int_equal(m.r->produced, MT_RECORDS + m.retries);
	} else {
		assert_int_equal(m.r->produced, MT_RECORDS);
		assert_int_equal(got + m.r->dropped_full, MT_RECORDS);
		/* the holes in the sequence are exactly the drops, except drops after the last record */
		assert_true(gaps <= m.r->dropped_full);
	}
	free(m.r);
}

static void test_mt_no_drop(void **state)
{
	(void)state;
	run_mt(true);
}

static void test_mt_drop(void **state)
{
	(void)state;
	run_mt(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wrap_around),    cmocka_unit_test(test_full_and_drop),
	    cmocka_unit_test(test_index_overflow), cmocka_unit_test(test_hostile_head),
	    cmocka_unit_test(test_avail_from),
	    cmocka_unit_test(test_mt_no_drop),     cmocka_unit_test(test_mt_drop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
