/* SPDX-License-Identifier: MIT */
/* SpanBatch builder: slots in, protobuf out, decoded and compared field by field. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "nic.h"

#define NAME_CAP 32u
#define HDR_ROOM 16u

struct fx {
	struct dft_region_hdr *h;
	struct dft_region_geom g;
	struct dft_clock_cal cal;
	struct dft_batch_src src;
};

static void set_name(struct dft_region_hdr *h, uint16_t id, const char *s)
{
	struct dft_name *n = (struct dft_name *)(void *)((uint8_t *)h + DFT_NAMES_OFF) + (id - 1);

	n->len = (uint16_t)strlen(s);
	memcpy(n->str, s, n->len);
}

enum { N_COMP = 1, N_OP, N_KEY1, N_KEY2, N_HOPC, N_HOPO, N_REGION, N_OTHER };

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	size_t size = dft_region_size(NAME_CAP, 1, 64);
	struct dft_region_hdr *h = f->h = aligned_alloc(DFT_PAGE, (size + DFT_PAGE - 1) / DFT_PAGE * DFT_PAGE);

	memset(h, 0, size);
	h->magic = DFT_REGION_MAGIC;
	h->abi_version = DFT_ABI_VERSION;
	h->hdr_size = sizeof(*h);
	h->region_size = size;
	h->slot_size = DFT_SLOT_SIZE;
	h->ring_slots = 64;
	h->ring_count = 1;
	h->name_capacity = NAME_CAP;
	h->metrics_off = DFT_METRICS_OFF;
	h->names_off = DFT_NAMES_OFF;
	h->rings_off = dft_rings_off(NAME_CAP);
	h->ring_stride = dft_ring_stride(64);
	h->instance_id = 0xabcdef;
	h->pid = 77;
	h->component_id = N_REGION;
	h->component_kind = DFT_KIND_FUNCTION;
	set_name(h, N_COMP, "activator");
	set_name(h, N_OP, "proxy");
	set_name(h, N_KEY1, "app.attempt");
	set_name(h, N_KEY2, "http.status");
	set_name(h, N_HOPC, "ingress");
	set_name(h, N_HOPO, "route");
	set_name(h, N_REGION, "user-fn");
	set_name(h, N_OTHER, "proxy"); /* same text, different id: one string per batch */
	assert_int_equal(dft_region_validate(h, size, &f->g), 0);
	/* 1.5 ns per tick */
	f->cal = (struct dft_clock_cal){.tick_base = 1000, .ns_base = 1700000000000000000ull, .tick_mult = 3ull << 31,
					.tick_shift = 32};
	f->src = (struct dft_batch_src){.base = h, .g = &f->g, .names_published = N_OTHER, .cal = &f->cal};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	free(f->h);
	free(f);
	return 0;
}

static struct dft_slot span(uint64_t id, uint16_t comp, uint16_t op, uint16_t flags)
{
	struct dft_slot s;

	memset(&s, 0, sizeof(s));
	s.type = DFT_SLOT_SPAN;
	s.flags = flags;
	s.component_id = comp;
	s.op_id = op;
	for (unsigned i = 0; i < DFT_TRACE_ID_LEN; i++)
		s.trace_id[i] = (uint8_t)(id * 16 + i);
	s.span_id = id;
	s.parent_span_id = id + 1000;
	s.start = 5000 + id;
	s.end = 9000 + id * 2;
	s.queue_ns = (uint32_t)(id * 3);
	s.status = DFT_STATUS_ERROR;
	s.span_kind = 2;
	s.n_attrs = 2;
	s.attr_key[0] = N_KEY1;
	s.attr_val[0] = -(int64_t)id;
	s.attr_key[1] = N_KEY2;
	s.attr_val[1] = INT64_MAX - (int64_t)id;
	return s;
}

static Difftrace__SpanBatch *roundtrip(struct dft_batch *b, uint64_t seq, const Difftrace__Counters *c)
{
	uint8_t *buf;
	size_t len;
	Difftrace__SpanBatch *m;

	assert_int_equal(dft_batch_pack(b, 0x1234, seq, 99, c, HDR_ROOM, &buf, &len), 0);
	assert_true(len > HDR_ROOM);
	m = difftrace__span_batch__unpack(NULL, len - HDR_ROOM, buf + HDR_ROOM);
	free(buf);
	assert_non_null(m);
	return m;
}

static const char *str(const Difftrace__SpanBatch *m, uint32_t i)
{
	assert_true(i < m->n_strings);
	return m->strings[i];
}

static void test_build_and_decode(void **state)
{
	struct fx *f = *state;
	Difftrace__Counters c = DIFFTRACE__COUNTERS__INIT;
	struct dft_slot s[3], cont[2];
	struct dft_hops_slot *hs = (struct dft_hops_slot *)(void *)&cont[0];
	struct dft_batch *b;
	Difftrace__SpanBatch *m;

	assert_int_equal(dft_batch_create(8, &b), 0);
	s[0] = span(1, N_COMP, N_OP, DFT_SF_TS_NS | DFT_SF_KEEP);
	s[1] = span(2, 0, N_OTHER, DFT_SF_HAS_PARENT);         /* region component, tick times */
	s[2] = span(3, N_COMP, N_OP, DFT_SF_TS_NS);
	s[2].n_cont = 1;
	memset(cont, 0, sizeof(cont));
	hs->type = DFT_SLOT_HOPS;
	hs->n_hops = 2;
	hs->first_parent_span_id = 555;
	hs->hop[0] = (struct dft_hop){.component_id = N_HOPC, .op_id = N_HOPO, .span_id = 31, .start_ns = 777};
	hs->hop[1] = (struct dft_hop){.component_id = N_COMP, .op_id = 0, .span_id = 32, .start_ns = 778};
	assert_int_equal(dft_batch_add(b, &f->src, &s[0], NULL, DFT_KIND_PLATFORM, DFT_KEEP_EXPLICIT), 0);
	assert_int_equal(dft_batch_add(b, &f->src, &s[1], NULL, DFT_KIND_FUNCTION, DFT_KEEP_FUNCTION), 0);
	assert_int_equal(dft_batch_add(b, &f->src, &s[2], cont, DFT_KIND_PLATFORM, DFT_KEEP_ERROR), 0);
	assert_int_equal(dft_batch_spans(b), 3);
	c.produced = 10;
	c.filtered = 7;
	m = roundtrip(b, 5, &c);

	assert_non_null(m->header);
	assert_int_equal(m->header->sender_id, 0x1234);
	assert_int_equal(m->header->sequence, 5);
	assert_int_equal(m->header->created_ns, 99);
	assert_non_null(m->header->counters);
	assert_int_equal(m->header->counters->produced, 10);
	assert_int_equal(m->header->counters->filtered, 7);
	assert_int_equal(m->n_spans, 3);
	/* activator, proxy, app.attempt, http.status, user-fn, ingress, route, "" : "proxy" once */
	assert_int_equal(m->n_strings, 8);
	for (unsigned i = 0; i < m->n_strings; i++)
		for (unsigned k = i + 1; k < m->n_strings; k++)
			assert_string_not_equal(m->strings[i], m->strings[k]);
	for (unsigned i = 0; i < 3; i++) {
		const Difftrace__Span *sp = m->spans[i];
		uint64_t id = i + 1;

		assert_int_equal(sp->trace_id.len, 16);
		assert_memory_equal(sp->trace_id.data, s[i].trace_id, 16);
		assert_int_equal(sp->span_id, id);
		assert_int_equal(sp->parent_span_id, id + 1000);
		assert_int_equal(sp->status, DIFFTRACE__STATUS__STATUS_ERROR);
		assert_int_equal(sp->span_kind, 2);
		assert_int_equal(sp->queue_ns, id * 3);
		assert_int_equal(sp->flags, s[i].flags);
		assert_int_equal(sp->instance_id, 0xabcdef);
		assert_int_equal(sp->pid, 77);
		assert_int_equal(sp->n_attrs, 2);
		assert_string_equal(str(m, sp->attrs[0]->key), "app.attempt");
		assert_int_equal(sp->attrs[0]->value, -(int64_t)id);
		assert_string_equal(str(m, sp->attrs[1]->key), "http.status");
		assert_int_equal(sp->attrs[1]->value, INT64_MAX - (int64_t)id);
	}
	assert_string_equal(str(m, m->spans[0]->component), "activator");
	assert_string_equal(str(m, m->spans[0]->operation), "proxy");
	assert_int_equal(m->spans[0]->kind, DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_PLATFORM);
	assert_int_equal(m->spans[0]->keep_reasons, DFT_KEEP_EXPLICIT);
	/* explicit nanoseconds pass through */
	assert_int_equal(m->spans[0]->start_ns, s[0].start);
	assert_int_equal(m->spans[0]->end_ns, s[0].end);
	/* component 0 = the region's component; ticks converted at 1.5 ns per tick */
	assert_string_equal(str(m, m->spans[1]->component), "user-fn");
	assert_string_equal(str(m, m->spans[1]->operation), "proxy");
	assert_int_equal(m->spans[1]->kind, DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_FUNCTION);
	assert_int_equal(m->spans[1]->start_ns, f->cal.ns_base + (s[1].start - 1000) * 3 / 2);
	assert_int_equal(m->spans[1]->end_ns, f->cal.ns_base + (s[1].end - 1000) * 3 / 2);
	assert_int_equal(m->spans[1]->n_hops, 0);
	/* hops with their own names; the first carries the chain's parent */
	assert_int_equal(m->spans[2]->n_hops, 2);
	assert_string_equal(str(m, m->spans[2]->hops[0]->component), "ingress");
	assert_string_equal(str(m, m->spans[2]->hops[0]->operation), "route");
	assert_int_equal(m->spans[2]->hops[0]->span_id, 31);
	assert_int_equal(m->spans[2]->hops[0]->start_ns, 777);
	assert_int_equal(m->spans[2]->hops[0]->parent_span_id, 555);
	assert_string_equal(str(m, m->spans[2]->hops[1]->component), "activator");
	assert_string_equal(str(m, m->spans[2]->hops[1]->operation), "");
	assert_int_equal(m->spans[2]->hops[1]->parent_span_id, 0);
	difftrace__span_batch__free_unpacked(m, NULL);
	dft_batch_destroy(b);
}

static void test_ticks_before_base(void **state)
{
	struct fx *f = *state;
	Difftrace__Counters c = DIFFTRACE__COUNTERS__INIT;
	struct dft_slot s = span(4, N_COMP, N_OP, 0);
	struct dft_batch *b;
	Difftrace__SpanBatch *m;

	s.start = 600; /* 400 ticks before the base: 600 ns earlier */
	s.end = 1000;
	assert_int_equal(dft_batch_create(1, &b), 0);
	assert_int_equal(dft_batch_add(b, &f->src, &s, NULL, DFT_KIND_FUNCTION, DFT_KEEP_FUNCTION), 0);
	m = roundtrip(b, 1, &c);
	assert_int_equal(m->spans[0]->start_ns, f->cal.ns_base - 600);
	assert_int_equal(m->spans[0]->end_ns, f->cal.ns_base);
	difftrace__span_batch__free_unpacked(m, NULL);
	dft_batch_destroy(b);
}

static void test_full_and_empty(void **state)
{
	struct fx *f = *state;
	Difftrace__Counters c = DIFFTRACE__COUNTERS__INIT;
	struct dft_batch *b;
	Difftrace__SpanBatch *m;

	assert_int_equal(dft_batch_create(0, &b), -EINVAL);
	assert_int_equal(dft_batch_create(2, &b), 0);
	assert_false(dft_batch_full(b));
	dft_batch_set_open_tsc(b, 12345);
	assert_int_equal(dft_batch_open_tsc(b), 12345);
	for (uint64_t i = 1; i <= 2; i++) {
		struct dft_slot s = span(i, N_COMP, N_OP, DFT_SF_TS_NS);

		assert_int_equal(dft_batch_add(b, &f->src, &s, NULL, DFT_KIND_FUNCTION, 1), 0);
	}
	assert_true(dft_batch_full(b));
	{
		struct dft_slot s = span(3, N_COMP, N_OP, DFT_SF_TS_NS);

		assert_int_equal(dft_batch_add(b, &f->src, &s, NULL, DFT_KIND_FUNCTION, 1), -ENOSPC);
	}
	m = roundtrip(b, 2, &c);
	assert_int_equal(m->n_spans, 2); /* the refused span left nothing behind */
	difftrace__span_batch__free_unpacked(m, NULL);
	dft_batch_destroy(b);
	/* the final zero-span batch carries counters only */
	c.reported = 42;
	m = roundtrip(NULL, 9, &c);
	assert_int_equal(m->n_spans, 0);
	assert_int_equal(m->header->sequence, 9);
	assert_int_equal(m->header->counters->reported, 42);
	difftrace__span_batch__free_unpacked(m, NULL);
}

/* Distinct names beyond the string table: -ENOSPC, and the batch is exactly as before. */
static void test_string_table_bound(void **state)
{
	struct fx *f = *state;
	Difftrace__Counters c = DIFFTRACE__COUNTERS__INIT;
	struct dft_batch *b;
	Difftrace__SpanBatch *m;
	unsigned added = 0;
	int rc = 0;

	for (uint16_t id = 9; id <= NAME_CAP; id++) {
		char name[16];

		snprintf(name, sizeof(name), "name-%u", id);
		set_name(f->h, id, name);
	}
	f->src.names_published = NAME_CAP;
	assert_int_equal(dft_batch_create(1, &b), 0);
	/* a one-span batch holds the span's own names; force many distinct ones through attrs */
	for (unsigned round = 0; round < 8 && rc == 0; round++) {
		struct dft_slot s = span(1, N_COMP, N_OP, DFT_SF_TS_NS);

		s.n_attrs = 4;
		for (unsigned k = 0; k < 4; k++)
			s.attr_key[k] = (uint16_t)(9 + (round * 4 + k) % (NAME_CAP - 8));
		rc = dft_batch_add(b, &f->src, &s, NULL, DFT_KIND_FUNCTION, 1);
		added += rc == 0;
	}
	assert_int_equal(rc, -ENOSPC); /* cap 1: the second span never fits */
	assert_int_equal(added, 1);
	m = roundtrip(b, 1, &c);
	assert_int_equal(m->n_spans, 1);
	assert_int_equal(m->n_strings, 2 + 4);
	difftrace__span_batch__free_unpacked(m, NULL);
	dft_batch_destroy(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_build_and_decode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ticks_before_base, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_and_empty, setup, teardown),
		cmocka_unit_test_setup_teardown(test_string_table_bound, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
