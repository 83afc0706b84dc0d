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
	uint32_t names_published;
	struct dft_names *names; /* the NIC-global table the decoded spans' names are in */
};

static void set_name(struct dft_region_hdr *h, uint16_t id, const char *s)
{
	struct dft_name *n = dft_region_name(h, id);

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
	dft_region_hdr_init(h, NAME_CAP, 1, 64);
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
	f->names_published = N_OTHER;
	assert_int_equal(dft_names_create(4 * NAME_CAP, &f->names), 0);
	*state = f;
	return 0;
}

/* A slot of the fixture's region decoded as the worker decodes it (span.h), then batched. */
static int add(struct fx *f, struct dft_batch *b, const struct dft_slot *s, const struct dft_slot *cont,
	       enum dft_kind kind, uint32_t keep)
{
	struct dft_span_rec r;

	dft_span_decode_mapped(s, cont, f->h, &f->g, f->names_published, &f->cal, f->names, &r);
	r.kind = (uint8_t)kind;
	r.keep_reasons = keep;
	return dft_batch_add(b, f->names, &r);
}

static int teardown(void **state)
{
	struct fx *f = *state;

	dft_names_destroy(f->names);
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
	s.attr_val[0] = (int64_t)(0 - id); /* unsigned arithmetic: ids from the random test wrap, by design */
	s.attr_key[1] = N_KEY2;
	s.attr_val[1] = (int64_t)((uint64_t)INT64_MAX - id);
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
	assert_non_null(m);
	/* the hand-written encoder writes exactly what protobuf-c writes for the same message */
	{
		size_t n = difftrace__span_batch__get_packed_size(m);
		uint8_t *ref = malloc(n ? n : 1);

		assert_non_null(ref);
		assert_int_equal(difftrace__span_batch__pack(m, ref), n);
		assert_int_equal(n, len - HDR_ROOM);
		assert_memory_equal(ref, buf + HDR_ROOM, n);
		free(ref);
	}
	free(buf);
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
	hs->hop[0] = (struct dft_hop){.name_hash = 0x11223344, .span_id = 31, .start_ns = 777, .parent_span_id = 555};
	hs->hop[1] = (struct dft_hop){.name_hash = 0x55667788, .span_id = 32, .start_ns = 778, .parent_span_id = 31};
	assert_int_equal(add(f, b, &s[0], NULL, DFT_KIND_PLATFORM, DFT_KEEP_EXPLICIT), 0);
	assert_int_equal(add(f, b, &s[1], NULL, DFT_KIND_FUNCTION, DFT_KEEP_FUNCTION), 0);
	assert_int_equal(add(f, b, &s[2], cont, DFT_KIND_PLATFORM, DFT_KEEP_ERROR), 0);
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
	/* activator, proxy, app.attempt, http.status, user-fn: "proxy" once, hops carry none */
	assert_int_equal(m->n_strings, 5);
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
	/* hops pass through as the slots carry them: name hash, span, start, parent */
	assert_int_equal(m->spans[2]->n_hops, 2);
	assert_int_equal(m->spans[2]->hops[0]->name_hash, 0x11223344);
	assert_int_equal(m->spans[2]->hops[0]->span_id, 31);
	assert_int_equal(m->spans[2]->hops[0]->start_ns, 777);
	assert_int_equal(m->spans[2]->hops[0]->parent_span_id, 555);
	assert_int_equal(m->spans[2]->hops[1]->name_hash, 0x55667788);
	assert_int_equal(m->spans[2]->hops[1]->parent_span_id, 31);
	difftrace__span_batch__free_unpacked(m, NULL);
	dft_batch_destroy(b);
}

/* Hops across two continuation slots keep their order and parents over the slot boundary. */
static void test_hop_chain_two_slots(void **state)
{
	struct fx *f = *state;
	Difftrace__Counters c = DIFFTRACE__COUNTERS__INIT;
	struct dft_slot s, cont[2];
	struct dft_hops_slot *h0 = (struct dft_hops_slot *)(void *)&cont[0];
	struct dft_hops_slot *h1 = (struct dft_hops_slot *)(void *)&cont[1];
	struct dft_batch *b;
	Difftrace__SpanBatch *m;

	assert_int_equal(dft_batch_create(4, &b), 0);
	s = span(9, N_COMP, N_OP, DFT_SF_TS_NS);
	s.n_cont = 2;
	memset(cont, 0, sizeof(cont));
	h0->type = h1->type = DFT_SLOT_HOPS;
	h0->n_hops = DFT_HOPS_PER_SLOT;
	h1->n_hops = 2;
	for (unsigned i = 0; i < DFT_HOPS_PER_SLOT; i++)
		h0->hop[i] = (struct dft_hop){
		    .name_hash = 7, .span_id = 100 + i, .start_ns = i, .parent_span_id = i ? 100 + i - 1 : 4242};
	for (unsigned i = 0; i < 2; i++) /* children of the first hop: a component's steps */
		h1->hop[i] = (struct dft_hop){.name_hash = 8 + i, .span_id = 200 + i, .start_ns = i, .parent_span_id = 100};
	assert_int_equal(add(f, b, &s, cont, DFT_KIND_FUNCTION, DFT_KEEP_FUNCTION), 0);
	m = roundtrip(b, 1, &c);
	assert_int_equal(m->spans[0]->n_hops, DFT_HOPS_PER_SLOT + 2);
	assert_int_equal(m->spans[0]->hops[0]->parent_span_id, 4242);
	for (unsigned i = 1; i < DFT_HOPS_PER_SLOT; i++)
		assert_int_equal(m->spans[0]->hops[i]->parent_span_id, m->spans[0]->hops[i - 1]->span_id);
	assert_int_equal(m->spans[0]->hops[DFT_HOPS_PER_SLOT]->span_id, 200);
	assert_int_equal(m->spans[0]->hops[DFT_HOPS_PER_SLOT + 1]->parent_span_id, 100);
	assert_int_equal(m->spans[0]->hops[DFT_HOPS_PER_SLOT + 1]->name_hash, 9);
	difftrace__span_batch__free_unpacked(m, NULL);
	dft_batch_destroy(b);
}

static struct dft_slot msg_cont(const char *text, size_t len)
{
	struct dft_msg_slot ms;
	struct dft_slot out;

	memset(&ms, 0, sizeof(ms));
	ms.type = DFT_SLOT_STATUS_MSG;
	ms.len = (uint8_t)len;
	memcpy(ms.text, text, len > DFT_STATUS_MSG_MAX ? DFT_STATUS_MSG_MAX : len);
	memcpy(&out, &ms, sizeof(out));
	return out;
}

/*
 * An error span's status message (after its hops) reaches the batch; a message the host wrote
 * badly (text, length, or on a span that is not an error) is left out and counted, and the span
 * still goes.
 */
static void test_status_message(void **state)
{
	struct fx *f = *state;
	Difftrace__Counters c = DIFFTRACE__COUNTERS__INIT;
	struct dft_hops_slot *h0;
	struct dft_slot s, cont[2];
	struct dft_batch *b;
	Difftrace__SpanBatch *m;
	uint64_t invalid0 = dft_ctr_get(&dft_nic_ctr.status_msg_invalid);

	assert_int_equal(dft_batch_create(8, &b), 0);
	/* hops, then the message */
	s = span(1, N_COMP, N_OP, DFT_SF_TS_NS);
	s.n_cont = 2;
	memset(cont, 0, sizeof(cont));
	h0 = (struct dft_hops_slot *)(void *)&cont[0];
	h0->type = DFT_SLOT_HOPS;
	h0->n_hops = 1;
	h0->hop[0] = (struct dft_hop){.name_hash = 7, .span_id = 100, .start_ns = 1, .parent_span_id = 5};
	cont[1] = msg_cont("no healthy upstream", 19);
	assert_int_equal(add(f, b, &s, cont, DFT_KIND_FUNCTION, DFT_KEEP_ERROR), 0);
	/* only a message */
	s = span(2, N_COMP, N_OP, DFT_SF_TS_NS);
	s.n_cont = 1;
	cont[0] = msg_cont("caf\xc3\xa9 closed", 12);
	assert_int_equal(add(f, b, &s, cont, DFT_KIND_FUNCTION, DFT_KEEP_ERROR), 0);
	/* hostile texts: control character, length past the slot, invalid UTF-8 */
	s = span(3, N_COMP, N_OP, DFT_SF_TS_NS);
	s.n_cont = 1;
	cont[0] = msg_cont("a\x1b[2Jb", 7);
	assert_int_equal(add(f, b, &s, cont, DFT_KIND_FUNCTION, DFT_KEEP_ERROR), 0);
	s = span(4, N_COMP, N_OP, DFT_SF_TS_NS);
	s.n_cont = 1;
	cont[0] = msg_cont("abc", 3);
	((struct dft_msg_slot *)(void *)&cont[0])->len = 250;
	assert_int_equal(add(f, b, &s, cont, DFT_KIND_FUNCTION, DFT_KEEP_ERROR), 0);
	s = span(5, N_COMP, N_OP, DFT_SF_TS_NS);
	s.n_cont = 1;
	cont[0] = msg_cont("\xfe\xff", 2);
	assert_int_equal(add(f, b, &s, cont, DFT_KIND_FUNCTION, DFT_KEEP_ERROR), 0);
	/* a message on a span that is not an error */
	s = span(6, N_COMP, N_OP, DFT_SF_TS_NS);
	s.status = DFT_STATUS_OK;
	s.n_cont = 1;
	cont[0] = msg_cont("fine", 4);
	assert_int_equal(add(f, b, &s, cont, DFT_KIND_FUNCTION, DFT_KEEP_FUNCTION), 0);
	assert_int_equal(dft_ctr_get(&dft_nic_ctr.status_msg_invalid) - invalid0, 4);

	m = roundtrip(b, 1, &c);
	assert_int_equal(m->n_spans, 6);
	assert_string_equal(m->spans[0]->status_message, "no healthy upstream");
	assert_int_equal(m->spans[0]->n_hops, 1);
	assert_string_equal(m->spans[1]->status_message, "caf\xc3\xa9 closed");
	assert_int_equal(m->spans[1]->n_hops, 0);
	for (unsigned i = 2; i < 6; i++)
		assert_string_equal(m->spans[i]->status_message, "");
	difftrace__span_batch__free_unpacked(m, NULL);
	dft_batch_destroy(b);
}

/* A slot decoded once (span.h): ticks to ns with the region's calibration, names to NIC-global ids. */
static void test_span_decode(void **state)
{
	struct fx *f = *state;
	struct dft_slot s = span(3, 0, N_OP, 0), cont[1];
	struct dft_span_rec r;

	memset(cont, 0, sizeof(cont));
	s.end = s.start - 1; /* a calibration step between the two: raised to the start */
	dft_span_decode_mapped(&s, cont, f->h, &f->g, f->names_published, &f->cal, f->names, &r);
	/* 1.5 ns per tick from tick_base 1000 */
	assert_int_equal(r.start_ns, 1700000000000000000ull + (s.start - 1000) * 3 / 2);
	assert_int_equal(r.end_ns, r.start_ns);
	/* component 0: the region's own component; ids are the global table's, whatever the region's */
	assert_string_equal(dft_names_str(f->names, r.comp), "user-fn");
	assert_string_equal(dft_names_str(f->names, r.op), "proxy");
	assert_string_equal(dft_names_str(f->names, r.attr_key[1]), "http.status");
	assert_int_equal(r.instance_id, 0xabcdef);
	assert_int_equal(r.pid, 77);
	assert_int_equal(r.kind, DFT_KIND_FUNCTION);
	assert_int_equal(r.prof_key, -1);
	assert_null(r.cont); /* no continuation slots: nothing pointed at */
	s.n_cont = 1;
	s.flags = DFT_SF_TS_NS; /* times already in ns: taken as they are */
	s.end = s.start + 5;
	dft_span_decode_mapped(&s, cont, f->h, &f->g, f->names_published, &f->cal, f->names, &r);
	assert_int_equal(r.start_ns, s.start);
	assert_int_equal(r.end_ns, s.start + 5);
	assert_ptr_equal(r.cont, cont);
	assert_int_equal(r.n_cont, 1);
	/* the other region id of the same text is the same global name */
	s.op_id = N_OTHER;
	dft_span_decode_mapped(&s, cont, f->h, &f->g, f->names_published, &f->cal, f->names, &r);
	assert_int_equal(r.op, dft_names_intern(f->names, "proxy"));
}

/* A span the hold window released: names come from the NIC-global table. */
static void test_add_rec(void **state)
{
	Difftrace__Counters c = DIFFTRACE__COUNTERS__INIT;
	struct dft_names *names;
	struct dft_span_rec r;
	struct dft_batch *b;
	Difftrace__SpanBatch *m;

	(void)state;
	assert_int_equal(dft_names_create(16, &names), 0);
	memset(&r, 0, sizeof(r));
	memset(r.trace_id, 0x5a, sizeof(r.trace_id));
	r.span_id = 77;
	r.parent_span_id = 66;
	r.start_ns = 1000;
	r.end_ns = 3000;
	r.comp = dft_names_intern(names, "activator");
	r.op = dft_names_intern(names, "proxy");
	r.n_attrs = 1;
	r.attr_key[0] = dft_names_intern(names, "app.attempt");
	r.attr_val[0] = -5;
	r.keep_reasons = DFT_KEEP_RETRO;
	r.kind = DFT_KIND_PLATFORM;
	r.status = DFT_STATUS_OK;
	r.queue_ns = 12;
	r.flags = DFT_SF_TS_NS;
	r.instance_id = 9;
	r.pid = 3;
	assert_int_equal(dft_batch_create(2, &b), 0);
	assert_int_equal(dft_batch_add(b, names, &r), 0);
	m = roundtrip(b, 1, &c);
	assert_int_equal(m->n_spans, 1);
	assert_int_equal(m->spans[0]->span_id, 77);
	assert_int_equal(m->spans[0]->parent_span_id, 66);
	assert_int_equal(m->spans[0]->end_ns, 3000);
	assert_int_equal(m->spans[0]->keep_reasons, DFT_KEEP_RETRO);
	assert_int_equal(m->spans[0]->queue_ns, 12);
	assert_int_equal(m->spans[0]->instance_id, 9);
	assert_string_equal(str(m, m->spans[0]->component), "activator");
	assert_string_equal(str(m, m->spans[0]->operation), "proxy");
	assert_string_equal(str(m, m->spans[0]->attrs[0]->key), "app.attempt");
	assert_int_equal(m->spans[0]->attrs[0]->value, -5);
	difftrace__span_batch__free_unpacked(m, NULL);
	dft_batch_destroy(b);
	dft_names_destroy(names);
}

static void test_profile_batch(void **state)
{
	Difftrace__Counters c = DIFFTRACE__COUNTERS__INIT;
	struct dft_prof_row rows[3] = {
		{"activator", "proxy", 10, 2, 8, 100, 900, 50, 100},
		{"activator", "health", 4, 0, 4, 10, 20, 0, 10},
		{"queue-proxy", "proxy", 7, 7, 0, 1, 2, 3, 1},
	};
	struct dft_batch *b;
	Difftrace__SpanBatch *m;

	(void)state;
	assert_int_equal(dft_batch_profile(1234, rows, 0, &b), -EINVAL);
	assert_int_equal(dft_batch_profile(1234, rows, 3, &b), 0);
	assert_false(dft_batch_empty(b));
	assert_int_equal(dft_batch_spans(b), 0);
	m = roundtrip(b, 2, &c);
	assert_int_equal(m->n_spans, 0);
	assert_int_equal(m->n_profiles, 1);
	assert_int_equal(m->profiles[0]->created_ns, 1234);
	assert_int_equal(m->profiles[0]->n_entries, 3);
	assert_int_equal(m->n_strings, 4); /* activator, proxy, health, queue-proxy */
	for (unsigned i = 0; i < 3; i++) {
		const Difftrace__ProfileEntry *e = m->profiles[0]->entries[i];

		assert_string_equal(str(m, e->component), rows[i].component);
		assert_string_equal(str(m, e->operation), rows[i].operation);
		assert_int_equal(e->count, rows[i].count);
		assert_int_equal(e->kept, rows[i].kept);
		assert_int_equal(e->filtered, rows[i].filtered);
		assert_int_equal(e->duration_p50_ns, rows[i].duration_p50_ns);
		assert_int_equal(e->duration_p99_ns, rows[i].duration_p99_ns);
		assert_int_equal(e->queue_p99_ns, rows[i].queue_p99_ns);
		assert_int_equal(e->self_time_ns, rows[i].self_time_ns);
	}
	difftrace__span_batch__free_unpacked(m, NULL);
	dft_batch_destroy(b);
	/* a span batch without spans is empty; the worker never sends it */
	assert_int_equal(dft_batch_create(2, &b), 0);
	assert_true(dft_batch_empty(b));
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
	assert_int_equal(add(f, b, &s, NULL, DFT_KIND_FUNCTION, DFT_KEEP_FUNCTION), 0);
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

		assert_int_equal(add(f, b, &s, NULL, DFT_KIND_FUNCTION, 1), 0);
	}
	assert_true(dft_batch_full(b));
	{
		struct dft_slot s = span(3, N_COMP, N_OP, DFT_SF_TS_NS);

		assert_int_equal(add(f, b, &s, NULL, DFT_KIND_FUNCTION, 1), -ENOSPC);
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

/* Random spans (zero and extreme values, hops, messages, attributes): the encoding is protobuf-c's. */
static void test_encoding_random(void **state)
{
	struct fx *f = *state;
	Difftrace__Counters c = DIFFTRACE__COUNTERS__INIT;
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (unsigned round = 0; round < 200; round++) {
		struct dft_batch *b;
		Difftrace__SpanBatch *m;
		unsigned n = 1 + round % 17;

		assert_int_equal(dft_batch_create(n, &b), 0);
		for (unsigned i = 0; i < n; i++) {
			struct dft_slot s[1 + DFT_SLOT_CONT_MAX];
			struct dft_slot sp;
			uint64_t r[8];
			unsigned nh, nc = 0;

			for (unsigned k = 0; k < 8; k++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				/* a mix of zero, small, large and all-ones values */
				r[k] = (x & 3) == 0 ? 0 : (x & 3) == 1 ? (x >> 58) : (x & 3) == 2 ? x : ~0ull;
			}
			sp = span(r[0], (uint16_t)(r[1] % 3 ? N_COMP : 0), N_OP, (uint16_t)(DFT_SF_TS_NS | (r[2] & 0x3)));
			sp.parent_span_id = r[3];
			sp.start = r[4] >> 1;
			sp.end = sp.start + (r[5] >> 2);
			sp.queue_ns = (uint32_t)r[6];
			sp.status = (uint8_t)(r[7] % 3);
			sp.span_kind = (uint8_t)(r[2] % 6);
			sp.n_attrs = (uint8_t)(r[1] % 5);
			for (unsigned k = 0; k < sp.n_attrs; k++) {
				sp.attr_key[k] = (uint16_t)(k % 2 ? N_KEY2 : N_KEY1);
				sp.attr_val[k] = (int64_t)r[(k + 3) % 8] * (k % 2 ? -1 : 1);
			}
			memset(s, 0, sizeof(s));
			nh = (unsigned)(r[6] % 5);
			if (nh) {
				struct dft_hops_slot *hs = (struct dft_hops_slot *)(void *)&s[1 + nc++];

				hs->type = DFT_SLOT_HOPS;
				hs->n_hops = (uint8_t)(nh > 3 ? 3 : nh);
				for (unsigned k = 0; k < hs->n_hops; k++)
					hs->hop[k] = (struct dft_hop){.name_hash = (uint32_t)r[k], .span_id = r[k + 1],
								      .start_ns = r[k + 2], .parent_span_id = r[k + 3]};
			}
			if (sp.status == DFT_STATUS_ERROR && (r[4] & 1)) {
				struct dft_msg_slot *ms = (struct dft_msg_slot *)(void *)&s[1 + nc++];
				static const char txt[] = "upstream connect error";

				ms->type = DFT_SLOT_STATUS_MSG;
				ms->len = (uint8_t)(1 + r[5] % (sizeof(txt) - 1));
				memcpy(ms->text, txt, ms->len);
			}
			sp.n_cont = (uint8_t)nc;
			assert_int_equal(add(f, b, &sp, &s[1], (enum dft_kind)(r[0] % 3),
						       (uint32_t)r[7]), 0);
		}
		c.produced = x;
		c.lost_invalid = round;
		m = roundtrip(b, round + 1, &c);
		assert_int_equal(m->n_spans, n);
		difftrace__span_batch__free_unpacked(m, NULL);
		dft_batch_destroy(b);
	}
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
	f->names_published = NAME_CAP;
	assert_int_equal(dft_batch_create(1, &b), 0);
	/* a one-span batch holds the span's own names; force many distinct ones through attrs */
	for (unsigned round = 0; round < 8 && rc == 0; round++) {
		struct dft_slot s = span(1, N_COMP, N_OP, DFT_SF_TS_NS);

		s.n_attrs = 4;
		for (unsigned k = 0; k < 4; k++)
			s.attr_key[k] = (uint16_t)(9 + (round * 4 + k) % (NAME_CAP - 8));
		rc = add(f, b, &s, NULL, DFT_KIND_FUNCTION, 1);
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
		cmocka_unit_test_setup_teardown(test_hop_chain_two_slots, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_message, setup, teardown),
		cmocka_unit_test_setup_teardown(test_encoding_random, setup, teardown),
		cmocka_unit_test_setup_teardown(test_span_decode, setup, teardown),
		cmocka_unit_test(test_add_rec),
		cmocka_unit_test(test_profile_batch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
