/* SPDX-License-Identifier: MIT */
/*
 * dft_metrics_publish against the region's metrics page, read back the way the daemon reads it:
 * count with acquire, each entry under its seqlock. The concurrent tests write readings whose
 * fields are all equal, so a reader that ever accepts unequal fields saw a torn entry.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <difftrace/difftrace.h>

#include "dft/abi.h"
#include "dft/clock.h"
#include "dft/ring.h"
#include "region_internal.h"

static struct dft_options opts(void)
{
	struct dft_options o = {
	    .size = sizeof(o), .flags = DFT_OPT_NO_DAEMON, .ring_count = 2, .ring_slots = 64, .name_capacity = 128};
	return o;
}

static const struct dft_metrics_page *page(void)
{
	size_t len = 0;
	const struct dft_region_hdr *h = dft__region(&len);

	assert_non_null(h);
	assert_true(h->metrics_off + sizeof(struct dft_metrics_page) <= len);
	return (const struct dft_metrics_page *)((const char *)h + h->metrics_off);
}

/* One consistent reading of e, or false when a writer kept it busy for every try. */
static bool read_entry(const struct dft_metric_entry *e, struct dft_metric_entry *out)
{
	for (int i = 0; i < 1000; i++) {
		uint32_t s1 = dft_load_acquire(&e->seq);

		if (s1 & 1u)
			continue;
		out->component_id = dft_load_acquire(&e->component_id);
		out->cpu_throttle_ppm = dft_load_acquire(&e->cpu_throttle_ppm);
		out->concurrency = dft_load_acquire(&e->concurrency);
		out->concurrency_limit = dft_load_acquire(&e->concurrency_limit);
		out->mem_pressure_ppm = dft_load_acquire(&e->mem_pressure_ppm);
		out->updated_ns = dft_load_acquire(&e->updated_ns);
		if (dft_load_relaxed(&e->seq) == s1) {
			out->seq = s1;
			return true;
		}
	}
	return false;
}

/* The entry of component id in [0, count), read consistently; NULL when there is none. */
static const struct dft_metric_entry *find(uint16_t id, struct dft_metric_entry *out)
{
	const struct dft_metrics_page *p = page();
	uint32_t count = dft_load_acquire(&p->count);

	assert_true(count <= DFT_METRICS_MAX);
	for (uint32_t i = 0; i < count; i++) {
		if (dft_load_relaxed(&p->entry[i].component_id) == id) {
			assert_true(read_entry(&p->entry[i], out));
			return &p->entry[i];
		}
	}
	return NULL;
}

static struct dft_component_metrics reading(uint32_t v)
{
	return (struct dft_component_metrics){
	    .cpu_throttle_ppm = v, .concurrency = v, .concurrency_limit = v, .mem_pressure_ppm = v};
}

static void test_publish_update(void **state)
{
	struct dft_options o = opts();
	struct dft_component_metrics m = {
	    .cpu_throttle_ppm = 250000, .concurrency = 7, .concurrency_limit = 10, .mem_pressure_ppm = 3};
	struct dft_metric_entry e, e2;
	const struct dft_metric_entry *at, *at2;
	uint16_t qp, act;
	uint64_t t0, t1;

	(void)state;
	/* not initialised */
	assert_int_equal(dft_metrics_publish(1, &m), -EINVAL);

	assert_int_equal(dft_init("queue-proxy", DFT_COMPONENT_PLATFORM, &o), 0);
	qp = dft_name("queue-proxy");
	act = dft_name("activator");
	assert_int_equal(page()->count, 0);
	assert_null(find(qp, &e));

	t0 = dft_clock_ns(CLOCK_REALTIME);
	assert_int_equal(dft_metrics_publish(qp, &m), 0);
	t1 = dft_clock_ns(CLOCK_REALTIME);
	assert_int_equal(page()->count, 1);
	at = find(qp, &e);
	assert_non_null(at);
	assert_int_equal(e.seq & 1u, 0);
	assert_int_equal(e.cpu_throttle_ppm, 250000);
	assert_int_equal(e.concurrency, 7);
	assert_int_equal(e.concurrency_limit, 10);
	assert_int_equal(e.mem_pressure_ppm, 3);
	/* the time comes from ticks through the calibration: within a few ms of the wall clock */
	assert_true(e.updated_ns + 5000000 >= t0 && e.updated_ns <= t1 + 5000000);

	/* an update rewrites the same entry through its seqlock */
	m.concurrency = 9;
	m.cpu_throttle_ppm = 0;
	assert_int_equal(dft_metrics_publish(qp, &m), 0);
	assert_int_equal(page()->count, 1);
	at2 = find(qp, &e2);
	assert_ptr_equal(at, at2);
	assert_int_equal(e2.seq, e.seq + 2);
	assert_int_equal(e2.concurrency, 9);
	assert_int_equal(e2.cpu_throttle_ppm, 0);
	assert_int_equal(e2.concurrency_limit, 10);
	assert_true(e2.updated_ns >= e.updated_ns);

	/* a second component gets the next entry */
	assert_int_equal(dft_metrics_publish(act, &m), 0);
	assert_int_equal(page()->count, 2);
	assert_ptr_equal(find(act, &e), &page()->entry[1]);
	assert_int_equal(e.concurrency, 9);

	/* a reading with its own time: stored as given, in the same entry */
	assert_int_equal(dft_metrics_publish_at(qp, &m, 1234567890123ull), 0);
	assert_ptr_equal(find(qp, &e2), at);
	assert_int_equal(e2.updated_ns, 1234567890123ull);
	assert_int_equal(e2.concurrency, 9);
	assert_int_equal(dft_metrics_publish_at(qp, &m, 0), -EINVAL); /* 0 is "no time" to the daemon */

	/* bad arguments */
	assert_int_equal(dft_metrics_publish(qp, NULL), -EINVAL);
	assert_int_equal(dft_metrics_publish(0, &m), -EINVAL);
	assert_int_equal(dft_metrics_publish((uint16_t)(act + 1), &m), -EINVAL); /* never interned */
	assert_int_equal(page()->count, 2);
	assert_int_equal(dft_fini(0), 0);

	/* a new dft_init starts with an empty page */
	assert_int_equal(dft_init("x", DFT_COMPONENT_PLATFORM, &o), 0);
	assert_int_equal(page()->count, 0);
	assert_int_equal(dft_fini(0), 0);
}

static void test_limit(void **state)
{
	struct dft_options o = opts();
	struct dft_metric_entry e;
	uint16_t ids[DFT_METRICS_MAX + 1];

	(void)state;
	assert_int_equal(dft_init("c", DFT_COMPONENT_PLATFORM, &o), 0);
	for (unsigned i = 0; i <= DFT_METRICS_MAX; i++) {
		char n[16];

		snprintf(n, sizeof(n), "comp-%u", i);
		ids[i] = dft_name(n);
		assert_int_not_equal(ids[i], 0);
	}
	for (unsigned i = 0; i < DFT_METRICS_MAX; i++) {
		struct dft_component_metrics m = reading(i);

		assert_int_equal(dft_metrics_publish(ids[i], &m), 0);
	}
	assert_int_equal(page()->count, DFT_METRICS_MAX);
	{
		struct dft_component_metrics m = reading(99);

		assert_int_equal(dft_metrics_publish(ids[DFT_METRICS_MAX], &m), -ENOSPC);
		assert_int_equal(page()->count, DFT_METRICS_MAX);
		/* the components that have an entry still update it */
		assert_int_equal(dft_metrics_publish(ids[5], &m), 0);
	}
	for (unsigned i = 0; i < DFT_METRICS_MAX; i++) {
		assert_non_null(find(ids[i], &e));
		assert_int_equal(e.concurrency, i == 5 ? 99 : i);
	}
	assert_null(find(ids[DFT_METRICS_MAX], &e));
	assert_int_equal(dft_fini(0), 0);
}

#define ROUNDS 1000000u

struct pub {
	uint16_t id;
	uint32_t base; /* readings are base + i: tells two writers of one component apart */
	uint32_t ok, busy;
	pthread_barrier_t *go;
};

static void *publisher(void *arg)
{
	struct pub *p = arg;

	pthread_barrier_wait(p->go);
	for (uint32_t i = 1; i <= ROUNDS; i++) {
		struct dft_component_metrics m = reading(p->base + i);
		int rc = dft_metrics_publish(p->id, &m);

		if (rc == 0)
			p->ok++;
		else if (rc == -EBUSY)
			p->busy++;
		else
			fail_msg("publish returned %d", rc);
	}
	return NULL;
}

struct rdr {
	uint16_t id[2];
	uint32_t *stop;
	uint64_t reads, torn, backwards;
	pthread_barrier_t *go;
};

static void *reader(void *arg)
{
	struct rdr *r = arg;
	const struct dft_metrics_page *p = page();
	uint32_t last[2] = {0, 0};

	pthread_barrier_wait(r->go);
	while (!dft_load_acquire(r->stop)) {
		uint32_t count = dft_load_acquire(&p->count);

		for (uint32_t i = 0; i < count && i < DFT_METRICS_MAX; i++) {
			struct dft_metric_entry e;
			int k;

			if (!read_entry(&p->entry[i], &e))
				continue;
			k = e.component_id == r->id[0] ? 0 : e.component_id == r->id[1] ? 1 : -1;
			if (k < 0) {
				r->torn++; /* an entry nobody published */
				continue;
			}
			r->reads++;
			if (e.cpu_throttle_ppm != e.concurrency || e.concurrency != e.concurrency_limit ||
			    e.concurrency_limit != e.mem_pressure_ppm)
				r->torn++;
			/* a single writer's readings only grow */
			if (k == 0 && e.concurrency < last[0])
				r->backwards++;
			last[k] = e.concurrency;
		}
	}
	return NULL;
}

/* Runs the publishers and one reader until the publishers are done. */
static void run(struct pub *pubs, int n_pubs, struct rdr *rd)
{
	pthread_barrier_t go;
	pthread_t th[4];
	uint32_t stop = 0;

	assert_true(n_pubs <= 3);
	assert_int_equal(pthread_barrier_init(&go, NULL, (unsigned)n_pubs + 1), 0);
	rd->stop = &stop;
	rd->go = &go;
	assert_int_equal(pthread_create(&th[n_pubs], NULL, reader, rd), 0);
	for (int i = 0; i < n_pubs; i++) {
		pubs[i].go = &go;
		assert_int_equal(pthread_create(&th[i], NULL, publisher, &pubs[i]), 0);
	}
	for (int i = 0; i < n_pubs; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	dft_store_release(&stop, 1);
	assert_int_equal(pthread_join(th[n_pubs], NULL), 0);
	pthread_barrier_destroy(&go);
}

/* One writer per component (the normal case), reader and writer on the two cores. */
static void test_concurrent(void **state)
{
	struct dft_options o = opts();
	struct dft_metric_entry e;
	struct pub pub;
	struct rdr rd;
	uint16_t solo;

	(void)state;
	assert_int_equal(dft_init("c", DFT_COMPONENT_PLATFORM, &o), 0);
	solo = dft_name("solo");
	pub = (struct pub){.id = solo};
	rd = (struct rdr){.id = {solo, 0}};
	run(&pub, 1, &rd);
	assert_true(rd.reads > 0);
	assert_int_equal(rd.torn, 0);
	assert_int_equal(rd.backwards, 0);
	/* a single writer never collides with itself */
	assert_int_equal(pub.ok, ROUNDS);
	assert_int_equal(pub.busy, 0);
	assert_int_equal(page()->count, 1);
	assert_non_null(find(solo, &e));
	assert_int_equal(e.concurrency, ROUNDS);
	assert_int_equal(e.seq, 2u * (ROUNDS - 1)); /* the first reading is written before the entry exists */
	assert_int_equal(dft_fini(0), 0);
}

/* Two writers of one component at once (and a third on another): still never torn. */
static void test_concurrent_writers(void **state)
{
	struct dft_options o = opts();
	struct dft_metric_entry e;
	struct pub pubs[3];
	struct rdr rd;
	uint16_t solo, shared;

	(void)state;
	assert_int_equal(dft_init("c", DFT_COMPONENT_PLATFORM, &o), 0);
	solo = dft_name("solo");
	shared = dft_name("shared");
	pubs[0] = (struct pub){.id = solo};
	pubs[1] = (struct pub){.id = shared};
	pubs[2] = (struct pub){.id = shared, .base = 1u << 30};
	rd = (struct rdr){.id = {solo, shared}};
	run(pubs, 3, &rd);
	assert_true(rd.reads > 0);
	assert_int_equal(rd.torn, 0);
	assert_int_equal(rd.backwards, 0);
	assert_int_equal(pubs[0].ok, ROUNDS);
	/* the writers of one component may collide: the loser is told, nothing else is lost */
	assert_int_equal(pubs[1].ok + pubs[1].busy, ROUNDS);
	assert_int_equal(pubs[2].ok + pubs[2].busy, ROUNDS);
	/* one entry per component, however the first publications raced */
	assert_int_equal(page()->count, 2);
	assert_non_null(find(shared, &e));
	/* every successful publication but the one that created the entry went through the seqlock */
	assert_int_equal(e.seq, 2u * (pubs[1].ok + pubs[2].ok - 1));
	assert_int_equal(dft_fini(0), 0);
}

/* a failed test must not leave the library initialised for the next one */
static int fini(void **state)
{
	(void)state;
	dft_fini(0);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_publish_update, fini),
	    cmocka_unit_test_teardown(test_limit, fini),
	    cmocka_unit_test_teardown(test_concurrent, fini),
	    cmocka_unit_test_teardown(test_concurrent_writers, fini),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
