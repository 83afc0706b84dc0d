/* SPDX-License-Identifier: MIT */
/* Region header and slot validation: every check can reject, and garbage never crashes it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dft/text.h"
#include "dft/validate.h"

#define NAME_CAP 16u
#define RING_COUNT 2u
#define RING_SLOTS 64u

struct fixture {
	struct dft_region_hdr *h;
	size_t size;
	struct dft_region_geom g;
};

static void set_name(struct dft_region_hdr *h, uint16_t id, const char *s, uint16_t len)
{
	struct dft_name *n = dft_region_name(h, id);

	n->len = len;
	memcpy(n->str, s, len > DFT_NAME_MAX ? DFT_NAME_MAX : len);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct dft_region_hdr *h;

	f->size = dft_region_size(NAME_CAP, RING_COUNT, RING_SLOTS);
	h = f->h = aligned_alloc(DFT_PAGE, (f->size + DFT_PAGE - 1) / DFT_PAGE * DFT_PAGE); /* C11: a multiple of the alignment */
	memset(h, 0, f->size);
	dft_region_hdr_init(h, NAME_CAP, RING_COUNT, RING_SLOTS);
	h->instance_id = 0x1122334455667788ull;
	h->pid = 4242;
	h->component_id = 1;
	h->component_kind = DFT_KIND_PLATFORM;
	h->names_published = 3;
	set_name(h, 1, "ingress", 7);
	set_name(h, 2, "op", 2);
	set_name(h, 3, "key", 3);
	assert_int_equal(dft_region_validate(h, f->size, &f->g), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	free(f->h);
	free(f);
	return 0;
}

static void test_region_valid(void **state)
{
	struct fixture *f = *state;
	struct dft_region_geom g;

	assert_int_equal(dft_region_validate(f->h, f->size + 4096, &g), 0);
	assert_int_equal(g.map_len, f->size + 4096);
	assert_int_equal(g.region_size, f->size);
	assert_int_equal(g.ring_slots, RING_SLOTS);
	assert_int_equal(g.ring_count, RING_COUNT);
	assert_int_equal(g.name_capacity, NAME_CAP);
	assert_int_equal(g.rings_off, dft_rings_off(NAME_CAP));
	assert_int_equal(g.ring_stride, dft_ring_stride(RING_SLOTS));
	assert_int_equal(g.instance_id, 0x1122334455667788ull);
	assert_int_equal(g.pid, 4242);
	assert_int_equal(g.component_kind, DFT_KIND_PLATFORM);
}

/* Apply one tampering to a fresh copy of the header and expect rc. */
#define TAMPER(field, value, rc)                                                                                  \
	do {                                                                                                      \
		struct dft_region_hdr saved = *f->h;                                                              \
		struct dft_region_geom tg;                                                                        \
		f->h->field = value;                                                                              \
		assert_int_equal(dft_region_validate(f->h, f->size, &tg), rc);                                    \
		*f->h = saved;                                                                                    \
	} while (0)

static void test_region_bad_fields(void **state)
{
	struct fixture *f = *state;
	struct dft_region_geom g;

	TAMPER(magic, DFT_REGION_MAGIC + 1, -EBADF);
	TAMPER(abi_version, DFT_ABI_VERSION + 1, -EPROTONOSUPPORT);
	TAMPER(hdr_size, 4095, -EPROTONOSUPPORT);
	TAMPER(slot_size, 64, -EPROTONOSUPPORT);
	TAMPER(ring_slots, 96, -EINVAL);                     /* not a power of two */
	TAMPER(ring_slots, DFT_RING_SLOTS_MIN / 2, -EINVAL);
	TAMPER(ring_slots, DFT_RING_SLOTS_MAX * 2, -EINVAL);
	TAMPER(ring_count, 0, -EINVAL);
	TAMPER(ring_count, DFT_RING_COUNT_MAX + 1, -EINVAL);
	TAMPER(name_capacity, 0, -EINVAL);
	TAMPER(name_capacity, DFT_NAME_CAPACITY_MAX + 1, -EINVAL);
	TAMPER(metrics_off, DFT_METRICS_OFF + 64, -EINVAL);
	TAMPER(names_off, 0, -EINVAL);
	TAMPER(rings_off, f->h->rings_off - DFT_PAGE, -EINVAL);
	TAMPER(ring_stride, f->h->ring_stride + 64, -EINVAL);
	TAMPER(region_size, f->size - 1, -EINVAL);
	TAMPER(component_kind, DFT_KIND_FUNCTION + 1, -EINVAL);
	TAMPER(component_id, NAME_CAP + 1, -EINVAL);
	/* larger rings than the file holds: consistent offsets, but more than was mapped */
	TAMPER(ring_count, RING_COUNT + 1, -EINVAL);
	/* the mapping, not the header, bounds the region */
	assert_int_equal(dft_region_validate(f->h, f->size - 1, &g), -ERANGE);
	assert_int_equal(dft_region_validate(f->h, 100, &g), -ERANGE);
	f->h->ring_count = RING_COUNT + 1;
	f->h->region_size = dft_region_size(NAME_CAP, RING_COUNT + 1, RING_SLOTS);
	assert_int_equal(dft_region_validate(f->h, f->size, &g), -ERANGE);
	f->h->ring_count = RING_COUNT;
	f->h->region_size = f->size;
	assert_int_equal(dft_region_validate(f->h, f->size, &g), 0);
}

static struct dft_slot good_slot(void)
{
	struct dft_slot s;

	memset(&s, 0, sizeof(s));
	s.type = DFT_SLOT_SPAN;
	s.flags = DFT_SF_HAS_PARENT | DFT_SF_KEEP;
	s.component_id = 0;
	s.op_id = 2;
	s.trace_id[15] = 1;
	s.span_id = 7;
	s.parent_span_id = 6;
	s.start = 100;
	s.end = 200;
	s.status = DFT_STATUS_OK;
	s.span_kind = 2;
	s.n_attrs = 1;
	s.attr_key[0] = 3;
	s.attr_val[0] = -5;
	return s;
}

static void expect_reason(const struct fixture *f, const struct dft_slot *s, enum dft_invalid_reason r)
{
	enum dft_invalid_reason why = DFT_INVALID_NONE;

	assert_int_equal(dft_slot_validate(s, &f->g, 3, &why), -EINVAL);
	assert_int_equal(why, r);
}

static void test_slot_reasons(void **state)
{
	struct fixture *f = *state;
	enum dft_invalid_reason why = DFT_INVALID_BAD_NAME;
	struct dft_slot s = good_slot();

	assert_int_equal(dft_slot_validate(&s, &f->g, 3, &why), 0);
	assert_int_equal(why, DFT_INVALID_NONE);

#define BAD(stmt, reason)                                                                                         \
	do {                                                                                                      \
		s = good_slot();                                                                                  \
		stmt;                                                                                             \
		expect_reason(f, &s, reason);                                                                     \
	} while (0)
	BAD(s.type = DFT_SLOT_EMPTY, DFT_INVALID_BAD_TYPE);
	BAD(s.type = DFT_SLOT_HOPS, DFT_INVALID_BAD_TYPE);
	BAD(s.type = 9, DFT_INVALID_BAD_TYPE);
	BAD(s.flags |= 1u << 9, DFT_INVALID_BAD_FLAGS);
	BAD(s.flags |= DFT_SF_KIND_PLATFORM | DFT_SF_KIND_FUNCTION, DFT_INVALID_BAD_FLAGS);
	BAD(s.status = 3, DFT_INVALID_BAD_STATUS);
	BAD(s.span_kind = 6, DFT_INVALID_BAD_KIND);
	BAD(s.n_attrs = 5, DFT_INVALID_BAD_ATTRS);
	BAD(s.op_id = 0, DFT_INVALID_BAD_NAME);
	BAD(s.op_id = 4, DFT_INVALID_BAD_NAME);             /* above names_published */
	BAD(s.component_id = 4, DFT_INVALID_BAD_NAME);
	BAD(s.attr_key[0] = 0, DFT_INVALID_BAD_NAME);
	BAD((s.n_attrs = 2, s.attr_key[1] = 99), DFT_INVALID_BAD_NAME);
	BAD(s.trace_id[15] = 0, DFT_INVALID_ZERO_ID);
	BAD(s.span_id = 0, DFT_INVALID_ZERO_ID);
	BAD(s.end = s.start - 1, DFT_INVALID_BAD_TIME);
	BAD(s.reserved0 = 1, DFT_INVALID_BAD_RESERVED);
	BAD(s.reserved1[2] = 1, DFT_INVALID_BAD_RESERVED);
	BAD(s.n_cont = DFT_SLOT_CONT_MAX + 1, DFT_INVALID_BAD_CONT);
#undef BAD
	/* names above the region's capacity are refused even if names_published claims more */
	s = good_slot();
	s.op_id = NAME_CAP + 1;
	assert_int_equal(dft_slot_validate(&s, &f->g, 60000, &why), -EINVAL);
	assert_int_equal(why, DFT_INVALID_BAD_NAME);
	/* an unused attribute key is not looked at */
	s = good_slot();
	s.attr_key[3] = 999;
	assert_int_equal(dft_slot_validate(&s, &f->g, 3, &why), 0);
}

static void test_cont(void **state)
{
	struct fixture *f = *state;
	enum dft_invalid_reason why;
	struct dft_hops_slot hs;

	(void)f;
	memset(&hs, 0, sizeof(hs));
	hs.type = DFT_SLOT_HOPS;
	hs.n_hops = 2;
	hs.hop[0] = (struct dft_hop){.name_hash = 0xdeadbeef, .span_id = 10, .start_ns = 1, .parent_span_id = 5};
	hs.hop[1] = (struct dft_hop){.name_hash = 0, .span_id = 11, .start_ns = 2, .parent_span_id = 10};
	assert_int_equal(dft_cont_validate((struct dft_slot *)(void *)&hs, &why), 0);
#define BADC(stmt)                                                                                                \
	do {                                                                                                      \
		struct dft_hops_slot c = hs;                                                                      \
		stmt;                                                                                             \
		why = DFT_INVALID_NONE;                                                                           \
		assert_int_equal(dft_cont_validate((struct dft_slot *)(void *)&c, &why), -EINVAL);                \
		assert_int_equal(why, DFT_INVALID_BAD_CONT);                                                      \
	} while (0)
	BADC(c.type = DFT_SLOT_SPAN);
	BADC(c.n_hops = 0);
	BADC(c.n_hops = DFT_HOPS_PER_SLOT + 1);
	BADC(c.reserved[3] = 1);
	BADC(c.hop[0].reserved = 1);
	BADC(c.hop[1].span_id = 0);
#undef BADC
}

static struct dft_slot msg_slot(const char *text, size_t len)
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

/* The status message slot: the frame decides about the span, the text only about the message. */
static void test_status_msg(void **state)
{
	struct dft_slot c[2], m = msg_slot("upstream timeout: caf\xc3\xa9", 23);
	struct dft_msg_slot *mp = (struct dft_msg_slot *)(void *)&m;
	enum dft_invalid_reason why;
	char out[DFT_STATUS_MSG_MAX + 1];
	char full[DFT_STATUS_MSG_MAX];

	(void)state;
	assert_int_equal(dft_cont_validate(&m, &why), 0);
	assert_int_equal(dft_status_msg_read(&m, out, sizeof(out)), 23);
	assert_string_equal(out, "upstream timeout: caf\xc3\xa9");
	/* the longest one */
	memset(full, 'x', sizeof(full));
	m = msg_slot(full, DFT_STATUS_MSG_MAX);
	assert_int_equal(dft_status_msg_read(&m, out, sizeof(out)), DFT_STATUS_MSG_MAX);
	assert_int_equal(dft_status_msg_read(&m, out, DFT_STATUS_MSG_MAX), -EINVAL); /* no room for the NUL */
#define BADTEXT(text, len, stmt)                                                                                  \
	do {                                                                                                      \
		m = msg_slot(text, len);                                                                          \
		stmt;                                                                                             \
		assert_int_equal(dft_cont_validate(&m, &why), 0); /* the frame is fine */                        \
		assert_int_equal(dft_status_msg_read(&m, out, sizeof(out)), -EINVAL);                             \
		assert_string_equal(out, "");                                                                     \
	} while (0)
	BADTEXT("", 0, (void)0);                               /* empty */
	BADTEXT("abc", 3, mp->len = DFT_STATUS_MSG_MAX + 1);  /* longer than a slot holds */
	BADTEXT("abc", 3, mp->len = 255);
	BADTEXT("abc", 3, mp->text[5] = 'z');                 /* bytes after the text */
	BADTEXT("a\nb", 3, (void)0);                           /* control character */
	BADTEXT("a\x7f", 2, (void)0);                          /* DEL */
	BADTEXT("a\xc2\x85", 3, (void)0);                      /* C1 control (NEL) */
	BADTEXT("\xc3", 1, (void)0);                           /* cut short */
	BADTEXT("\xc0\xaf", 2, (void)0);                       /* overlong */
	BADTEXT("\xed\xa0\x80", 3, (void)0);                   /* surrogate */
	BADTEXT("\xf4\x90\x80\x80", 4, (void)0);               /* above U+10FFFF */
	BADTEXT("\x80", 1, (void)0);                           /* continuation first */
#undef BADTEXT
	/* a frame with reserved bytes set makes the span invalid, like any bad continuation */
	m = msg_slot("x", 1);
	mp->reserved[2] = 1;
	assert_int_equal(dft_cont_validate(&m, &why), -EINVAL);
	assert_int_equal(why, DFT_INVALID_BAD_CONT);
	/* one message, last: after the hops is fine, before them is not, two are not */
	memset(&c[0], 0, sizeof(c[0]));
	((struct dft_hops_slot *)(void *)&c[0])->type = DFT_SLOT_HOPS;
	((struct dft_hops_slot *)(void *)&c[0])->n_hops = 1;
	((struct dft_hops_slot *)(void *)&c[0])->hop[0].span_id = 7;
	c[1] = msg_slot("x", 1);
	assert_int_equal(dft_conts_validate(c, 2, &why), 0);
	assert_int_equal(why, DFT_INVALID_NONE);
	assert_int_equal(dft_conts_validate(c, 0, &why), 0);
	m = c[0];
	c[0] = c[1];
	c[1] = m;
	assert_int_equal(dft_conts_validate(c, 2, &why), -EINVAL);
	assert_int_equal(why, DFT_INVALID_BAD_CONT);
	c[1] = c[0];
	assert_int_equal(dft_conts_validate(c, 2, &why), -EINVAL);
}

static void test_text_cut(void **state)
{
	(void)state;
	assert_int_equal(dft_text_cut("abcdef", 6, 10), 6);
	assert_int_equal(dft_text_cut("abcdef", 6, 4), 4);
	/* "ab" then U+00E9 (2 bytes): a cut at 3 would split it */
	assert_int_equal(dft_text_cut("ab\xc3\xa9z", 5, 3), 2);
	assert_int_equal(dft_text_cut("ab\xc3\xa9z", 5, 4), 4);
	/* U+20AC (3 bytes) */
	assert_int_equal(dft_text_cut("\xe2\x82\xac\xe2\x82\xac", 6, 5), 3);
	assert_true(dft_text_valid("\xe2\x82\xac \xf0\x9f\x98\x80", 8));
	assert_true(dft_text_valid("", 0));
}

static void test_reason_names(void **state)
{
	static const char *const want[] = {"none", "bad_type", "bad_flags", "bad_status", "bad_kind", "bad_attrs",
					   "bad_name", "zero_id", "bad_time", "bad_reserved", "bad_cont",
					   "ring_corrupt", "not_allowed"};

	(void)state;
	assert_int_equal(sizeof(want) / sizeof(want[0]), DFT_INVALID_COUNT);
	for (unsigned i = 0; i < DFT_INVALID_COUNT; i++)
		assert_string_equal(dft_invalid_reason_name(i), want[i]);
	assert_string_equal(dft_invalid_reason_name(DFT_INVALID_COUNT), "unknown");
}

static void test_name_read(void **state)
{
	struct fixture *f = *state;
	char out[DFT_NAME_MAX + 1];
	char small[4];

	assert_int_equal(dft_name_read(f->h, &f->g, 3, 1, out, sizeof(out)), 7);
	assert_string_equal(out, "ingress");
	assert_int_equal(dft_name_read(f->h, &f->g, 3, 0, out, sizeof(out)), -ENOENT);
	assert_string_equal(out, "");
	assert_int_equal(dft_name_read(f->h, &f->g, 3, 4, out, sizeof(out)), -ENOENT);
	/* a hostile length is clamped and control bytes are replaced */
	set_name(f->h, 4, "a\x01\xff" "b", 4);
	((struct dft_name *)(void *)((uint8_t *)f->h + DFT_NAMES_OFF))[3].len = 60000;
	assert_int_equal(dft_name_read(f->h, &f->g, 4, 4, out, sizeof(out)), DFT_NAME_MAX);
	assert_memory_equal(out, "a??b", 4);
	assert_int_equal(strlen(out), DFT_NAME_MAX);
	/* a small buffer is filled and terminated */
	assert_int_equal(dft_name_read(f->h, &f->g, 3, 1, small, sizeof(small)), 3);
	assert_string_equal(small, "ing");
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void test_garbage(void **state)
{
	struct fixture *f = *state;
	uint64_t seed = 12345;
	unsigned accepted = 0, rejected = 0;

	for (unsigned i = 0; i < 200000; i++) {
		struct dft_slot s;
		uint64_t *w = (uint64_t *)(void *)&s;
		enum dft_invalid_reason why1, why2;
		int rc1, rc2;

		for (unsigned k = 0; k < sizeof(s) / 8; k++)
			w[k] = rnd(&seed);
		/* bias towards almost-valid slots so the later checks are reached too */
		if (i & 1) {
			struct dft_slot g = good_slot();
			unsigned byte = (unsigned)(rnd(&seed) % sizeof(s));

			memcpy(&s, &g, sizeof(s));
			((uint8_t *)&s)[byte] = (uint8_t)rnd(&seed);
		}
		rc1 = dft_slot_validate(&s, &f->g, 3, &why1);
		rc2 = dft_slot_validate(&s, &f->g, 3, &why2);
		assert_int_equal(rc1, rc2);
		assert_int_equal(why1, why2);
		if (rc1 == 0) {
			accepted++;
			assert_int_equal(why1, DFT_INVALID_NONE);
			assert_int_equal(s.type, DFT_SLOT_SPAN);
			assert_int_equal(s.flags & ~DFT_SF_KNOWN_MASK, 0);
			assert_true(s.status <= DFT_STATUS_ERROR && s.span_kind <= 5 && s.n_attrs <= DFT_SLOT_ATTRS);
			assert_true(s.op_id >= 1 && s.op_id <= 3 && s.component_id <= 3);
			assert_true(s.span_id != 0 && s.end >= s.start && s.n_cont <= DFT_SLOT_CONT_MAX);
		} else {
			rejected++;
			assert_int_equal(rc1, -EINVAL);
			assert_true(why1 > DFT_INVALID_NONE && why1 < DFT_INVALID_RING_CORRUPT);
		}
	}
	assert_true(accepted > 0);
	assert_true(rejected > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_region_valid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_bad_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_reasons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cont, setup, teardown),
		cmocka_unit_test(test_status_msg),
		cmocka_unit_test(test_text_cut),
		cmocka_unit_test(test_reason_names),
		cmocka_unit_test_setup_teardown(test_name_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
