/* SPDX-License-Identifier: MIT */
/*
 * libdifftrace as an application uses it, checked against the region it builds: the header, names,
 * what each span function puts into the slot, ring claiming and release across threads, the drop
 * counters, option validation, init/fini cycles, and registration with a fake daemon (a Unix socket
 * owned by the test) including the reconnect after the daemon goes away.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <difftrace/difftrace.h>

#include "dft/abi.h"
#include "dft/clock.h"
#include "dft/reg.h"
#include "dft/ring.h"
#include "host_region.h"

static struct dft_options small_opts(uint32_t flags)
{
	struct dft_options o = {
	    .size = sizeof(o), .flags = flags, .ring_count = 4, .ring_slots = 64, .name_capacity = 32};
	return o;
}

static uint64_t mono_ms(void)
{
	return dft_clock_ns(CLOCK_MONOTONIC) / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static void test_options(void **state)
{
	char longname[80], longpath[200];
	struct dft_options o;

	(void)state;
	memset(longname, 'n', sizeof(longname));
	longname[63] = 0;
	memset(longpath, 'p', sizeof(longpath));
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = 0;

	o = small_opts(DFT_OPT_NO_DAEMON);
	o.size = sizeof(o) - 4;
	assert_int_equal(dft_init("c", DFT_COMPONENT_PLATFORM, &o), -EINVAL);
	o = small_opts(DFT_OPT_NO_DAEMON | (1u << 5));
	assert_int_equal(dft_init("c", DFT_COMPONENT_PLATFORM, &o), -EINVAL);
	o = small_opts(DFT_OPT_NO_DAEMON);
	o.ring_slots = 100;
	assert_int_equal(dft_init("c", DFT_COMPONENT_PLATFORM, &o), -EINVAL);
	o.ring_slots = DFT_RING_SLOTS_MIN / 2;
	assert_int_equal(dft_init("c", DFT_COMPONENT_PLATFORM, &o), -EINVAL);
	o.ring_slots = DFT_RING_SLOTS_MAX * 2;
	assert_int_equal(dft_init("c", DFT_COMPONENT_PLATFORM, &o), -EINVAL);
	o = small_opts(DFT_OPT_NO_DAEMON);
	o.ring_count = DFT_RING_COUNT_MAX + 1;
	assert_int_equal(dft_init("c", DFT_COMPONENT_PLATFORM, &o), -EINVAL);
	o = small_opts(DFT_OPT_NO_DAEMON);
	o.name_capacity = DFT_NAME_CAPACITY_MAX + 1;
	assert_int_equal(dft_init("c", DFT_COMPONENT_PLATFORM, &o), -EINVAL);
	o = small_opts(DFT_OPT_NO_DAEMON);
	o.reserved = 1;
	assert_int_equal(dft_init("c", DFT_COMPONENT_PLATFORM, &o), -EINVAL);
	o = small_opts(0);
	o.socket_path = longpath;
	assert_int_equal(dft_init("c", DFT_COMPONENT_PLATFORM, &o), -EINVAL);
	o = small_opts(DFT_OPT_NO_DAEMON);
	assert_int_equal(dft_init(NULL, DFT_COMPONENT_PLATFORM, &o), -EINVAL);
	assert_int_equal(dft_init("", DFT_COMPONENT_PLATFORM, &o), -EINVAL);
	assert_int_equal(dft_init(longname, DFT_COMPONENT_PLATFORM, &o), -EINVAL);
	assert_int_equal(dft_init("c", (enum dft_component_kind)0, &o), -EINVAL);
	assert_int_equal(dft_init("c", (enum dft_component_kind)3, &o), -EINVAL);
	assert_null(dft__region(NULL)); /* no failed attempt left anything behind */

	/* not initialised: everything is inert */
	{
		struct dft_host_stats st;
		struct dft_span sp;

		assert_int_equal(dft_name("x"), 0);
		assert_int_equal(dft_stats(&st), -EINVAL);
		dft_span_begin(&sp, 1, NULL);
		dft_span_end(&sp);
		dft_span_end_at(&sp, 5);
		assert_int_equal(dft_fini(0), 0);
	}

	/* the extremes are accepted; and NULL options mean the defaults */
	o = small_opts(DFT_OPT_NO_DAEMON);
	o.ring_slots = DFT_RING_SLOTS_MIN;
	o.ring_count = 1;
	o.name_capacity = 1;
	assert_int_equal(dft_init(longname + 1, DFT_COMPONENT_FUNCTION, &o), 0);
	assert_int_equal(dft_init("c", DFT_COMPONENT_PLATFORM, &o), -EALREADY);
	assert_int_equal(region()->names_published, 1);
	assert_int_equal(dft_name("other"), 0); /* the component took the only name */
	assert_int_equal(dft_fini(0), 0);
}

static void test_region_header(void **state)
{
	struct dft_options o = small_opts(DFT_OPT_NO_DAEMON);
	const struct dft_region_hdr *h;
	const struct dft_name *names;
	struct dft_clock_cal cal;
	uint64_t inst, now_ns, conv;

	(void)state;
	assert_int_equal(dft_init("queue-proxy", DFT_COMPONENT_PLATFORM, &o), 0);
	h = region();
	assert_int_equal(h->magic, DFT_REGION_MAGIC);
	assert_int_equal(h->abi_version, DFT_ABI_VERSION);
	assert_int_equal(h->hdr_size, sizeof(struct dft_region_hdr));
	assert_int_equal(h->region_size, dft_region_size(32, 4, 64));
	assert_int_equal(h->slot_size, DFT_SLOT_SIZE);
	assert_int_equal(h->ring_slots, 64);
	assert_int_equal(h->ring_count, 4);
	assert_int_equal(h->name_capacity, 32);
	assert_int_equal(h->metrics_off, DFT_METRICS_OFF);
	assert_int_equal(h->names_off, DFT_NAMES_OFF);
	assert_int_equal(h->rings_off, dft_rings_off(32));
	assert_int_equal(h->ring_stride, dft_ring_stride(64));
	assert_int_equal(h->pid, (uint32_t)getpid());
	assert_int_equal(h->component_kind, DFT_KIND_PLATFORM);
	assert_int_not_equal(h->instance_id, 0);
	assert_int_equal(h->component_id, 1);
	names = (const struct dft_name *)((const char *)h + h->names_off);
	assert_int_equal(names[0].len, strlen("queue-proxy"));
	assert_memory_equal(names[0].str, "queue-proxy", names[0].len);
	for (uint32_t i = 0; i < h->ring_count; i++) {
		assert_int_equal(ring_at(h, i)->state, DFT_RING_FREE);
		assert_int_equal(ring_at(h, i)->head, 0);
	}
	/* calibration: a tick reading converts to within a few ms of the wall clock */
	assert_int_equal(h->clock_seq & 1, 0);
	assert_int_not_equal(h->clock_seq, 0);
	assert_int_not_equal(h->tick_hz, 0);
	/* no registration thread (NO_DAEMON): nobody rewrites the calibration, plain reads are fine
	 * (and dft_clock_cal_read's fence does not build under -fsanitize=thread with gcc) */
	assert_int_equal(h->tick_shift, 32);
	cal = (struct dft_clock_cal){
	    .tick_base = h->tick_base, .ns_base = h->ns_base, .tick_mult = h->tick_mult, .tick_shift = h->tick_shift};
	conv = dft_ticks_to_ns(&cal, dft_ticks());
	now_ns = dft_clock_ns(CLOCK_REALTIME);
	if (conv > now_ns + 5000000 || conv + 5000000 < now_ns)
		fail_msg("tick conversion off by %" PRId64 " ns", (int64_t)(conv - now_ns));
	inst = h->instance_id;
	assert_int_equal(dft_fini(0), 0);
	assert_null(dft__region(NULL));

	assert_int_equal(dft_init("fn", DFT_COMPONENT_FUNCTION, &o), 0);
	h = region();
	assert_int_not_equal(h->instance_id, inst);
	assert_int_equal(h->component_kind, DFT_KIND_FUNCTION);
	assert_int_equal(dft_fini(0), 0);
}

static void test_names(void **state)
{
	struct dft_options o = small_opts(DFT_OPT_NO_DAEMON);
	const struct dft_region_hdr *h;
	const struct dft_name *names;
	char s62[63], s63[64], buf[16];
	uint16_t a, b;

	(void)state;
	memset(s62, 'x', 62);
	s62[62] = 0;
	memset(s63, 'y', 63);
	s63[63] = 0;
	assert_int_equal(dft_init("comp", DFT_COMPONENT_PLATFORM, &o), 0);
	h = region();
	names = (const struct dft_name *)((const char *)h + h->names_off);
	a = dft_name("http.get");
	b = dft_name("http.post");
	assert_int_equal(a, 2);
	assert_int_equal(b, 3);
	assert_int_equal(dft_name("http.get"), a);
	assert_int_equal(dft_name("comp"), 1);
	assert_int_equal(dft_name(""), 0);
	assert_int_equal(dft_name(NULL), 0);
	assert_int_equal(dft_name(s63), 0);
	assert_int_equal(dft_name(s62), 4);
	assert_int_equal(names[3].len, 62);
	assert_memory_equal(names[3].str, s62, 62);
	assert_int_equal(h->names_published, 4);
	for (unsigned i = 5; i <= 32; i++) {
		snprintf(buf, sizeof(buf), "n%u", i);
		assert_int_equal(dft_name(buf), i);
	}
	assert_int_equal(h->names_published, 32);
	assert_int_equal(dft_name("one-too-many"), 0);
	assert_int_equal(dft_name("n17"), 17); /* a full table still finds what it holds */
	assert_int_equal(h->names_published, 32);
	assert_int_equal(dft_fini(0), 0);
}

static void check_reserved_zero(const struct dft_slot *s)
{
	assert_int_equal(s->n_cont, 0);
	assert_int_equal(s->reserved0, 0);
	assert_int_equal(s->reserved1[0] | s->reserved1[1] | s->reserved1[2], 0);
	for (unsigned i = s->n_attrs; i < DFT_SLOT_ATTRS; i++) {
		assert_int_equal(s->attr_key[i], 0);
		assert_int_equal(s->attr_val[i], 0);
	}
}

static void test_span_contents(void **state)
{
	struct dft_options o = small_opts(DFT_OPT_NO_DAEMON);
	const struct dft_region_hdr *h;
	struct dft_ring_hdr *r;
	struct dft_ring_cons c;
	struct dft_span root, child, remote, replay;
	struct dft_ctx ctx, rctx;
	const struct dft_slot *s;
	uint16_t op, comp, k[5];
	uint64_t t0, t1;
	static const uint8_t rec_tid[16] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6};
	char hdr[56];

	(void)state;
	assert_int_equal(dft_init("activator", DFT_COMPONENT_PLATFORM, &o), 0);
	h = region();
	op = dft_name("proxy");
	comp = dft_name("user-fn");
	for (int i = 0; i < 5; i++) {
		char n[8];

		snprintf(n, sizeof(n), "k%d", i);
		k[i] = dft_name(n);
	}

	t0 = dft_ticks();
	dft_span_begin(&root, op, NULL);
	for (int i = 0; i < 5; i++)
		dft_span_set_attr(&root, k[i], -1000 * (i + 1));
	dft_span_set_component(&root, comp, DFT_COMPONENT_FUNCTION);
	dft_span_set_exception(&root);
	dft_span_keep(&root);
	dft_span_set_cold_start(&root);
	dft_span_set_queue_ns(&root, 12345);
	dft_span_set_kind(&root, 2);
	dft_span_set_kind(&root, 6); /* out of range: ignored */
	dft_span_context(&root, &ctx);
	assert_int_equal(ctx.span_id, root.span_id);
	assert_int_equal(ctx.trace_flags & 1, 1);

	dft_span_begin(&child, op, &ctx);
	dft_span_set_status(&child, DFT_SPAN_OK);
	dft_span_end(&child);
	dft_span_end(&root);
	t1 = dft_ticks();

	/* a parent that came through a header is remote */
	assert_int_equal(dft_traceparent_inject(&ctx, hdr, sizeof(hdr)), 0);
	assert_int_equal(dft_traceparent_extract(hdr, strlen(hdr), &rctx), 0);
	dft_span_begin(&remote, op, &rctx);
	dft_span_end_at(&remote, 0); /* tick span ended at an explicit time: both become ns */

	dft_span_begin_at(&replay, op, NULL, 1000000000ull);
	dft_span_set_ids(&replay, rec_tid, 0x1234, 0x5678);
	dft_span_end_at(&replay, 1000000500ull);

	r = active_ring(h);
	assert_int_equal(r->head, 4);
	assert_int_equal(r->produced, 4);
	dft_ring_cons_attach(&c, r, h->ring_slots);
	assert_int_equal(dft_ring_cons_avail(&c, 100), 4);

	/* child ends first */
	s = dft_ring_cons_slot(&c, 0);
	assert_int_equal(s->type, DFT_SLOT_SPAN);
	assert_int_equal(s->flags, DFT_SF_HAS_PARENT);
	assert_memory_equal(s->trace_id, root.trace_id, 16);
	assert_int_equal(s->parent_span_id, root.span_id);
	assert_int_equal(s->span_id, child.span_id);
	assert_int_not_equal(s->span_id, root.span_id);
	assert_int_equal(s->status, DFT_STATUS_OK);
	assert_int_equal(s->component_id, 0);
	assert_int_equal(s->op_id, op);
	assert_int_equal(s->n_attrs, 0);
	check_reserved_zero(s);

	s = dft_ring_cons_slot(&c, 1);
	assert_int_equal(s->flags,
	                 DFT_SF_ROOT | DFT_SF_EXCEPTION | DFT_SF_KEEP | DFT_SF_COLD_START | DFT_SF_KIND_FUNCTION);
	assert_int_equal(s->span_id, root.span_id);
	assert_int_not_equal(s->span_id, 0);
	assert_int_equal(s->parent_span_id, 0);
	assert_int_equal(s->status, DFT_STATUS_ERROR);
	assert_int_equal(s->component_id, comp);
	assert_int_equal(s->queue_ns, 12345);
	assert_int_equal(s->span_kind, 2);
	assert_int_equal(s->n_attrs, 4);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(s->attr_key[i], k[i]);
		assert_int_equal(s->attr_val[i], -1000 * (i + 1));
	}
	assert_true(s->start >= t0 && s->start <= s->end && s->end <= t1);
	check_reserved_zero(s);

	s = dft_ring_cons_slot(&c, 2);
	assert_int_equal(s->flags, DFT_SF_HAS_PARENT | DFT_SF_REMOTE_PARENT | DFT_SF_TS_NS);
	assert_int_equal(s->parent_span_id, root.span_id);
	assert_memory_equal(s->trace_id, root.trace_id, 16);
	assert_int_equal(s->end, 0);
	/* the tick start became unix ns: close to now */
	assert_true(s->start + 1000000000ull > dft_clock_ns(CLOCK_REALTIME));

	s = dft_ring_cons_slot(&c, 3);
	assert_int_equal(s->flags, DFT_SF_HAS_PARENT | DFT_SF_TS_NS);
	assert_memory_equal(s->trace_id, rec_tid, 16);
	assert_int_equal(s->span_id, 0x1234);
	assert_int_equal(s->parent_span_id, 0x5678);
	assert_int_equal(s->start, 1000000000ull);
	assert_int_equal(s->end, 1000000500ull);
	check_reserved_zero(s);
	dft_ring_cons_release(&c, 4);

	/* two roots get different trace ids */
	dft_span_begin(&child, op, NULL);
	assert_memory_not_equal(child.trace_id, root.trace_id, 16);
	assert_int_equal(dft_fini(0), 0);
}

/* The _tick variants: spans back to back share one tick read; a span's stack memory need not be
 * clean (begin sets every field once, nothing is cleared first). */
static void test_span_tick(void **state)
{
	struct dft_options o = small_opts(DFT_OPT_NO_DAEMON);
	const struct dft_region_hdr *h;
	struct dft_ring_hdr *r;
	struct dft_ring_cons c;
	struct dft_span a, b, ns;
	struct dft_ctx ctx;
	const struct dft_slot *s;
	uint16_t op, k;
	uint64_t t0, t1, t2;

	(void)state;
	assert_int_equal(dft_init("activator", DFT_COMPONENT_PLATFORM, &o), 0);
	h = region();
	op = dft_name("step");
	k = dft_name("k");
	memset(&a, 0xa5, sizeof(a));
	memset(&b, 0x5a, sizeof(b));
	memset(&ns, 0xff, sizeof(ns));
	memset(&ctx, 0, sizeof(ctx));
	ctx.trace_id[0] = 1;
	ctx.span_id = 77;
	ctx.trace_flags = 1;

	t0 = dft_tick();
	assert_true(t0 >= dft_ticks() - 1000000000ull);
	dft_span_begin_tick(&a, op, &ctx, t0);
	dft_span_set_attr(&a, k, 7);
	t1 = dft_tick();
	dft_span_end_tick(&a, t1);
	dft_span_begin_tick(&b, op, &ctx, t1);
	t2 = dft_tick();
	dft_span_end_tick(&b, t2);
	dft_span_begin_at(&ns, op, NULL, 1000000000ull);
	dft_span_end_tick(&ns, dft_tick()); /* began in ns: the tick end is converted */

	r = active_ring(h);
	dft_ring_cons_attach(&c, r, h->ring_slots);
	assert_int_equal(dft_ring_cons_avail(&c, 100), 3);
	s = dft_ring_cons_slot(&c, 0);
	assert_int_equal(s->flags, DFT_SF_HAS_PARENT);
	assert_int_equal(s->start, t0);
	assert_int_equal(s->end, t1);
	assert_int_equal(s->parent_span_id, 77);
	assert_int_equal(s->n_attrs, 1);
	assert_int_equal(s->attr_key[0], k);
	assert_int_equal(s->attr_val[0], 7);
	for (int i = 1; i < 4; i++) {
		assert_int_equal(s->attr_key[i], 0);
		assert_int_equal(s->attr_val[i], 0);
	}
	assert_int_equal(s->status, 0);
	assert_int_equal(s->span_kind, 0);
	assert_int_equal(s->queue_ns, 0);
	assert_int_equal(s->component_id, 0);
	check_reserved_zero(s);
	s = dft_ring_cons_slot(&c, 1);
	assert_int_equal(s->start, t1);
	assert_int_equal(s->end, t2);
	assert_int_equal(s->n_attrs, 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(s->attr_key[i], 0);
		assert_int_equal(s->attr_val[i], 0);
	}
	check_reserved_zero(s);
	s = dft_ring_cons_slot(&c, 2);
	assert_int_equal(s->flags, DFT_SF_ROOT | DFT_SF_TS_NS);
	assert_int_equal(s->start, 1000000000ull);
	assert_true(s->end + 1000000000ull > dft_clock_ns(CLOCK_REALTIME));
	check_reserved_zero(s);
	dft_ring_cons_release(&c, 3);
	assert_int_equal(dft_fini(0), 0);
}

#define SPANS_PER_THREAD 50

struct worker {
	uint16_t op, key;
	int64_t idx;
	pthread_barrier_t *together; /* NULL: run alone */
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < SPANS_PER_THREAD; i++) {
		struct dft_span sp;

		dft_span_begin(&sp, w->op, NULL);
		dft_span_set_attr(&sp, w->key, w->idx * 1000 + i);
		dft_span_end(&sp);
		/* both threads hold a ring at once, else the second may take over the first's */
		if (i == 0 && w->together)
			pthread_barrier_wait(w->together);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct dft_options o = small_opts(DFT_OPT_NO_DAEMON);
	struct worker w[3];
	pthread_t th[2];
	const struct dft_region_hdr *h;
	struct dft_host_stats st;
	int seen[2] = {0, 0};
	pthread_barrier_t together;

	(void)state;
	assert_int_equal(pthread_barrier_init(&together, NULL, 2), 0);
	assert_int_equal(dft_init("multi", DFT_COMPONENT_PLATFORM, &o), 0);
	h = region();
	for (int i = 0; i < 3; i++)
		w[i] = (struct worker){
		    .op = dft_name("op"), .key = dft_name("thread"), .idx = i, .together = i < 2 ? &together : NULL};
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	/* each thread had its own ring, in order, and gave it back when it exited */
	for (uint32_t i = 0; i < h->ring_count; i++) {
		struct dft_ring_hdr *r = ring_at(h, i);
		struct dft_ring_cons c;
		int64_t owner = -1;

		assert_int_equal(r->state, DFT_RING_FREE);
		if (r->head == 0)
			continue;
		assert_int_equal(r->head, SPANS_PER_THREAD);
		dft_ring_cons_attach(&c, r, h->ring_slots);
		assert_int_equal(dft_ring_cons_avail(&c, 1000), SPANS_PER_THREAD);
		for (int j = 0; j < SPANS_PER_THREAD; j++) {
			const struct dft_slot *s = dft_ring_cons_slot(&c, (uint64_t)j);

			if (owner < 0)
				owner = s->attr_val[0] / 1000;
			assert_true(owner == 0 || owner == 1);
			assert_int_equal(s->attr_val[0], owner * 1000 + j);
		}
		seen[owner]++;
		dft_ring_cons_release(&c, SPANS_PER_THREAD);
	}
	assert_int_equal(seen[0], 1);
	assert_int_equal(seen[1], 1);
	assert_int_equal(dft_stats(&st), 0);
	assert_int_equal(st.produced, 2 * SPANS_PER_THREAD);
	assert_int_equal(st.pending, 0);
	assert_int_equal(st.registered, 0);

	/* a new thread takes a released ring over and continues its indices */
	assert_int_equal(pthread_create(&th[0], NULL, worker_main, &w[2]), 0);
	assert_int_equal(pthread_join(th[0], NULL), 0);
	assert_int_equal(dft_stats(&st), 0);
	assert_int_equal(st.produced, 3 * SPANS_PER_THREAD);
	assert_int_equal(st.pending, SPANS_PER_THREAD);
	assert_int_equal(ring_at(h, 0)->head, 2 * SPANS_PER_THREAD);
	assert_int_equal(dft_fini(0), 0);
	pthread_barrier_destroy(&together);
}

static void *one_span(void *arg)
{
	struct dft_span sp;

	(void)arg;
	for (int i = 0; i < 3; i++) {
		dft_span_begin(&sp, 1, NULL);
		dft_span_end(&sp);
	}
	return NULL;
}

static void test_drops(void **state)
{
	struct dft_options o = small_opts(DFT_OPT_NO_DAEMON);
	struct dft_host_stats st;
	pthread_t th;

	(void)state;
	o.ring_count = 1;
	assert_int_equal(dft_init("full", DFT_COMPONENT_PLATFORM, &o), 0);
	for (int i = 0; i < 100; i++) {
		struct dft_span sp;

		dft_span_begin(&sp, 1, NULL);
		dft_span_end(&sp);
	}
	assert_int_equal(dft_stats(&st), 0);
	assert_int_equal(st.dropped_full, 100 - 64);
	assert_int_equal(st.pending, 64);
	assert_int_equal(st.dropped_no_ring, 0);
	assert_int_equal(st.produced, 100);
	/* the only ring is ours: another thread has nowhere to write */
	assert_int_equal(pthread_create(&th, NULL, one_span, NULL), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(dft_stats(&st), 0);
	assert_int_equal(st.dropped_no_ring, 3);
	assert_int_equal(region()->dropped_no_ring, 3);
	assert_int_equal(st.produced, 103);
	/* no daemon: nothing could ever drain, fini does not wait */
	assert_int_equal(dft_fini(5000), 0);
}

static void test_fini_timeout(void **state)
{
	struct dft_options o = small_opts(0);
	char dir[] = "/tmp/dft-test-XXXXXX", path[128];
	struct dft_span sp;
	uint64_t t0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/nobody.sock", dir);
	o.socket_path = path;
	assert_int_equal(dft_init("lonely", DFT_COMPONENT_PLATFORM, &o), 0);
	/* nothing pending: returns at once */
	t0 = mono_ms();
	assert_int_equal(dft_fini(5000), 0);
	assert_true(mono_ms() - t0 < 1000);

	assert_int_equal(dft_init("lonely", DFT_COMPONENT_PLATFORM, &o), 0);
	dft_span_begin(&sp, 1, NULL);
	dft_span_end(&sp);
	t0 = mono_ms();
	assert_int_equal(dft_fini(100), -ETIMEDOUT);
	assert_true(mono_ms() - t0 >= 100);
	rmdir(dir);
}

/* ---- a fake daemon ---- */

struct fake_daemon {
	char dir[32];
	char path[128];
	int lfd;
};

static void fake_listen(struct fake_daemon *d)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};

	strcpy(d->dir, "/tmp/dft-test-XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->path, sizeof(d->path), "%s/nic.sock", d->dir);
	strcpy(a.sun_path, d->path);
	d->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(d->lfd >= 0);
	assert_int_equal(bind(d->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(d->lfd, 4), 0);
}

/* Accepts one registration: returns the connection, and the memfd in *memfd. */
static int fake_accept(struct fake_daemon *d, struct dft_reg_msg *msg, int *memfd)
{
	struct pollfd p = {.fd = d->lfd, .events = POLLIN};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(*msg)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *cm;
	int fd;

	assert_int_equal(poll(&p, 1, 5000), 1);
	fd = accept4(d->lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(recvmsg(fd, &mh, MSG_CMSG_CLOEXEC), sizeof(*msg));
	cm = CMSG_FIRSTHDR(&mh);
	assert_non_null(cm);
	assert_int_equal(cm->cmsg_type, SCM_RIGHTS);
	memcpy(memfd, CMSG_DATA(cm), sizeof(int));
	assert_int_equal(msg->magic, DFT_REG_MAGIC);
	assert_int_equal(msg->version, DFT_REG_VERSION);
	assert_int_equal(msg->type, DFT_REG_REGISTER);
	assert_int_equal(msg->size, sizeof(*msg));
	assert_int_equal(msg->pid, (uint32_t)getpid());
	assert_int_equal(msg->mr_addr, 0);
	return fd;
}

static void fake_reply(int fd, int32_t status)
{
	struct dft_reg_reply rep = {.magic = DFT_REG_MAGIC, .status = status, .daemon_id = 77};

	assert_int_equal(send(fd, &rep, sizeof(rep), MSG_NOSIGNAL), sizeof(rep));
}

static void wait_stats(uint32_t registered, uint32_t registrations)
{
	struct dft_host_stats st;
	uint64_t deadline = mono_ms() + 5000;

	for (;;) {
		assert_int_equal(dft_stats(&st), 0);
		if (st.registered == registered && st.registrations == registrations)
			return;
		if (mono_ms() > deadline)
			fail_msg("registered=%u registrations=%u, want %u %u", st.registered, st.registrations,
			         registered, registrations);
		sleep_ms(5);
	}
}

struct drainer {
	struct dft_region_hdr *h;
	unsigned delay_ms;
	uint64_t consumed;
};

/* The daemon's part: consume every ring of the mapped region. */
static uint64_t drain(struct dft_region_hdr *h)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < h->ring_count; i++) {
		struct dft_ring_cons c;
		int64_t avail;

		dft_ring_cons_attach(&c, ring_at(h, i), h->ring_slots);
		avail = dft_ring_cons_avail(&c, UINT32_MAX);
		assert_true(avail >= 0);
		for (int64_t j = 0; j < avail; j++)
			assert_int_equal(dft_ring_cons_slot(&c, (uint64_t)j)->type, DFT_SLOT_SPAN);
		dft_ring_cons_release(&c, (uint32_t)avail);
		n += (uint64_t)avail;
	}
	return n;
}

static void *drainer_main(void *arg)
{
	struct drainer *d = arg;

	sleep_ms(d->delay_ms);
	d->consumed = drain(d->h);
	return NULL;
}

static void produce(int n)
{
	for (int i = 0; i < n; i++) {
		struct dft_span sp;

		dft_span_begin(&sp, 1, NULL);
		dft_span_end(&sp);
	}
}

static void test_registration(void **state)
{
	struct dft_options o = small_opts(0);
	struct fake_daemon d;
	struct dft_reg_msg msg;
	struct dft_region_hdr *h;
	struct drainer dr;
	struct stat stbuf;
	pthread_t th;
	uint64_t inst, t0;
	int conn, memfd;

	(void)state;
	fake_listen(&d);
	o.socket_path = d.path;
	t0 = mono_ms();
	assert_int_equal(dft_init("registered", DFT_COMPONENT_FUNCTION, &o), 0);
	assert_true(mono_ms() - t0 < 1000); /* never waits for the daemon */

	/* a daemon that refuses: not counted, and the library asks again */
	conn = fake_accept(&d, &msg, &memfd);
	close(memfd);
	fake_reply(conn, -EPROTO);
	close(conn);

	conn = fake_accept(&d, &msg, &memfd);
	assert_int_equal(fstat(memfd, &stbuf), 0);
	assert_int_equal((uint64_t)stbuf.st_size, msg.region_size);
	h = mmap(NULL, (size_t)stbuf.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	assert_true(h != MAP_FAILED);
	close(memfd);
	assert_int_equal(h->magic, DFT_REGION_MAGIC);
	assert_int_equal(h->region_size, msg.region_size);
	assert_int_equal(h->instance_id, msg.instance_id);
	assert_int_equal(h->region_size, dft_region_size(32, 4, 64));
	inst = msg.instance_id;
	fake_reply(conn, 0);
	wait_stats(1, 1);

	/* spans written by the library appear in our mapping */
	produce(10);
	assert_int_equal(drain(h), 10);

	/* the daemon goes away and comes back: the library registers the same region again */
	close(conn);
	conn = fake_accept(&d, &msg, &memfd);
	close(memfd);
	assert_int_equal(msg.instance_id, inst);
	fake_reply(conn, 0);
	wait_stats(1, 2);

	/* fini waits for the daemon to drain what is pending */
	produce(20);
	dr = (struct drainer){.h = h, .delay_ms = 150};
	assert_int_equal(pthread_create(&th, NULL, drainer_main, &dr), 0);
	t0 = mono_ms();
	assert_int_equal(dft_fini(5000), 0);
	assert_true(mono_ms() - t0 >= 100);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(dr.consumed, 20);
	/* the library closed its end: the daemon sees EOF */
	{
		char b;

		assert_int_equal(recv(conn, &b, 1, 0), 0);
	}
	close(conn);
	munmap(h, (size_t)stbuf.st_size);
	close(d.lfd);
	unlink(d.path);
	rmdir(d.dir);
}

static void test_env_socket(void **state)
{
	struct dft_options o = small_opts(0);
	struct fake_daemon d;
	struct dft_reg_msg msg;
	int conn, memfd;

	(void)state;
	fake_listen(&d);
	/* socket_path NULL: $DFT_SOCKET names the daemon */
	assert_int_equal(setenv("DFT_SOCKET", d.path, 1), 0);
	assert_int_equal(dft_init("env", DFT_COMPONENT_PLATFORM, &o), 0);
	unsetenv("DFT_SOCKET");
	conn = fake_accept(&d, &msg, &memfd);
	close(memfd);
	assert_int_equal(msg.instance_id, region()->instance_id);
	fake_reply(conn, 0);
	wait_stats(1, 1);
	assert_int_equal(dft_fini(1000), 0);
	close(conn);
	close(d.lfd);
	unlink(d.path);
	rmdir(d.dir);
}

static void test_fini_while_registering(void **state)
{
	struct dft_options o = small_opts(0);
	struct fake_daemon d;
	struct dft_reg_msg msg;
	uint64_t t0;
	int conn, memfd;

	(void)state;
	fake_listen(&d);
	o.socket_path = d.path;
	assert_int_equal(dft_init("hung", DFT_COMPONENT_PLATFORM, &o), 0);
	/* a daemon that accepts and never answers: fini must not wait for the reply */
	conn = fake_accept(&d, &msg, &memfd);
	close(memfd);
	t0 = mono_ms();
	assert_int_equal(dft_fini(0), 0);
	/* A fini that waited for the reply would never return: the registration thread would time out
	 * (2 s), reconnect to this listener and wait again, for ever. So the bound is only a ceiling
	 * for a hang, generous enough for a sanitizer build on a loaded machine (it was 500 ms). */
	assert_true(mono_ms() - t0 < 30000);
	close(conn);
	close(d.lfd);
	unlink(d.path);
	rmdir(d.dir);
}

/* Seqlock read with acquire loads (the fence in dft_clock_cal_read does not build under gcc TSan). */
static uint32_t read_cal(const struct dft_region_hdr *h, struct dft_clock_cal *c)
{
	for (;;) {
		uint32_t s1 = dft_load_acquire(&h->clock_seq);

		if (s1 & 1u)
			continue;
		c->tick_base = dft_load_acquire(&h->tick_base);
		c->ns_base = dft_load_acquire(&h->ns_base);
		c->tick_mult = dft_load_acquire(&h->tick_mult);
		c->tick_shift = dft_load_acquire(&h->tick_shift);
		if (dft_load_relaxed(&h->clock_seq) == s1)
			return s1;
	}
}

static void test_clock_refine(void **state)
{
	struct dft_options o = small_opts(0);
	char dir[] = "/tmp/dft-test-XXXXXX", path[128];
	const struct dft_region_hdr *h;
	struct dft_clock_cal c;
	uint32_t seq0, seq1;
	int64_t err_ns = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/nobody.sock", dir);
	o.socket_path = path;
	assert_int_equal(dft_init("clock", DFT_COMPONENT_PLATFORM, &o), 0);
	h = region();
	seq0 = read_cal(h, &c);
	/* the background thread re-measures the rate over ~1 s; on a loaded machine (a sanitizer
	 * build beside other work) it may take many times that: wait for the event, not a time */
	for (int i = 0; i < 6000 && (seq1 = read_cal(h, &c)) == seq0; i++)
		sleep_ms(10);
	assert_true(seq1 > seq0);
	assert_int_equal(seq1 & 1, 0);
	/* after the longer baseline a tick reading converts to within 1 ms of the wall clock (the
	 * clocks' own read cost and scheduling noise are far below that) */
	for (int i = 0; i < 5; i++) {
		uint64_t conv = dft_ticks_to_ns(&c, dft_ticks());
		int64_t d = (int64_t)(conv - dft_clock_ns(CLOCK_REALTIME));

		err_ns = i == 0 || llabs(d) < llabs(err_ns) ? d : err_ns;
	}
	if (llabs(err_ns) > 1000000)
		fail_msg("refined tick conversion off by %" PRId64 " ns", err_ns);
	assert_int_equal(dft_fini(0), 0);
	rmdir(dir);
}

static void test_fork(void **state)
{
	struct dft_options o = small_opts(DFT_OPT_NO_DAEMON);
	const struct dft_region_hdr *h;
	uint64_t inst;
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(dft_init("parent", DFT_COMPONENT_PLATFORM, &o), 0);
	produce(1); /* this thread holds a ring of the parent's region */
	h = region();
	inst = h->instance_id; /* the child unmaps h: its new region may land at the same address */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* child: uninitialised, its spans go nowhere, and it can start its own region */
		int bad = 0;

		bad |= dft__region(NULL) != NULL;
		produce(5);
		bad |= dft_init("child", DFT_COMPONENT_PLATFORM, &o) != 0;
		produce(2);
		bad |= ((const struct dft_region_hdr *)dft__region(NULL))->instance_id == inst;
		bad |= dft_fini(0) != 0;
		_exit(bad ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(ring_at(h, 0)->head, 1); /* the child wrote nothing into our rings */
	produce(1);
	assert_int_equal(ring_at(h, 0)->head, 2);
	assert_int_equal(dft_fini(0), 0);
}

/* A test that fails part-way leaves the library live; the next one must not inherit its region. */
static int fini_teardown(void **state)
{
	(void)state;
	dft_fini(0);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_teardown(test_options, fini_teardown),      cmocka_unit_test_teardown(test_region_header, fini_teardown),
	    cmocka_unit_test_teardown(test_names, fini_teardown),        cmocka_unit_test_teardown(test_span_contents, fini_teardown),
	    cmocka_unit_test_teardown(test_span_tick, fini_teardown),
	    cmocka_unit_test_teardown(test_threads, fini_teardown),      cmocka_unit_test_teardown(test_drops, fini_teardown),
	    cmocka_unit_test_teardown(test_fini_timeout, fini_teardown), cmocka_unit_test_teardown(test_registration, fini_teardown),
	    cmocka_unit_test_teardown(test_env_socket, fini_teardown),   cmocka_unit_test_teardown(test_fork, fini_teardown),
	    cmocka_unit_test_teardown(test_clock_refine, fini_teardown), cmocka_unit_test_teardown(test_fini_while_registering, fini_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
