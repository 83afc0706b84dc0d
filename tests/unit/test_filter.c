/* SPDX-License-Identifier: MIT */
/* The skeleton filter: component kind resolution and each keep rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "nic.h"

/* The rules read a decoded span (span.h); of a slot they look at its flags, status and queue time. */
static const struct dft_span_rec *rec_of(const struct dft_slot *s)
{
	static struct dft_span_rec r;

	r = (struct dft_span_rec){.flags = s->flags, .status = s->status, .queue_ns = s->queue_ns};
	return &r;
}

/* The skeleton rules only (function, error, keep) with no profile, metrics or duration. */
static uint32_t decide(const struct dft_slot *s, enum dft_kind kind)
{
	struct dft_filter f = {0};
	struct dft_span_facts x = {.kind = kind};

	dft_filter_cfg_defaults(&f.cfg);
	f.cfg.keep_cold_start = false;
	return dft_filter_decide(&f, rec_of(s), &x);
}

static struct dft_slot slot(uint16_t flags, uint8_t status)
{
	struct dft_slot s;

	memset(&s, 0, sizeof(s));
	s.type = DFT_SLOT_SPAN;
	s.flags = flags;
	s.status = status;
	return s;
}

static void test_kind(void **state)
{
	static const char names[2][DFT_NAME_MAX + 1] = {"activator", "queue-proxy"};
	struct dft_filter f = {.n_platform = 2, .platform = names};
	struct dft_filter none = {0};
	struct dft_slot s = slot(0, DFT_STATUS_OK);

	(void)state;
	/* the region's kind when nothing overrides it */
	assert_int_equal(dft_filter_kind(&none, rec_of(&s), DFT_KIND_FUNCTION, "fn"), DFT_KIND_FUNCTION);
	assert_int_equal(dft_filter_kind(&none, rec_of(&s), DFT_KIND_PLATFORM, "fn"), DFT_KIND_PLATFORM);
	assert_int_equal(dft_filter_kind(&none, rec_of(&s), DFT_KIND_UNKNOWN, "fn"), DFT_KIND_UNKNOWN);
	/* the --platform-components list turns a function region's component into platform */
	assert_int_equal(dft_filter_kind(&f, rec_of(&s), DFT_KIND_FUNCTION, "activator"), DFT_KIND_PLATFORM);
	assert_int_equal(dft_filter_kind(&f, rec_of(&s), DFT_KIND_FUNCTION, "queue-proxy"), DFT_KIND_PLATFORM);
	assert_int_equal(dft_filter_kind(&f, rec_of(&s), DFT_KIND_FUNCTION, "activato"), DFT_KIND_FUNCTION);
	assert_int_equal(dft_filter_kind(&f, rec_of(&s), DFT_KIND_FUNCTION, "user-fn"), DFT_KIND_FUNCTION);
	/* the span's own override wins over both */
	s = slot(DFT_SF_KIND_FUNCTION, DFT_STATUS_OK);
	assert_int_equal(dft_filter_kind(&f, rec_of(&s), DFT_KIND_PLATFORM, "activator"), DFT_KIND_FUNCTION);
	s = slot(DFT_SF_KIND_PLATFORM, DFT_STATUS_OK);
	assert_int_equal(dft_filter_kind(&none, rec_of(&s), DFT_KIND_FUNCTION, "fn"), DFT_KIND_PLATFORM);
	/* an out-of-range region kind is not trusted */
	s = slot(0, DFT_STATUS_OK);
	assert_int_equal(dft_filter_kind(&none, rec_of(&s), 7, "fn"), DFT_KIND_UNKNOWN);
}

static void test_decide(void **state)
{
	struct dft_slot s;

	(void)state;
	s = slot(0, DFT_STATUS_OK);
	assert_int_equal(decide(&s, DFT_KIND_PLATFORM), 0);
	assert_int_equal(decide(&s, DFT_KIND_UNKNOWN), 0);
	assert_int_equal(decide(&s, DFT_KIND_FUNCTION), DFT_KEEP_FUNCTION);
	s = slot(0, DFT_STATUS_UNSET);
	assert_int_equal(decide(&s, DFT_KIND_PLATFORM), 0);
	s = slot(0, DFT_STATUS_ERROR);
	assert_int_equal(decide(&s, DFT_KIND_PLATFORM), DFT_KEEP_ERROR);
	s = slot(DFT_SF_EXCEPTION, DFT_STATUS_OK);
	assert_int_equal(decide(&s, DFT_KIND_PLATFORM), DFT_KEEP_ERROR);
	s = slot(DFT_SF_KEEP, DFT_STATUS_OK);
	assert_int_equal(decide(&s, DFT_KIND_PLATFORM), DFT_KEEP_EXPLICIT);
	/* flags that are not rules keep nothing (cold start is its own rule, off here) */
	s = slot(DFT_SF_COLD_START | DFT_SF_ROOT | DFT_SF_HAS_PARENT | DFT_SF_TS_NS, DFT_STATUS_OK);
	assert_int_equal(decide(&s, DFT_KIND_PLATFORM), 0);
	/* reasons add up */
	s = slot(DFT_SF_KEEP | DFT_SF_EXCEPTION, DFT_STATUS_ERROR);
	assert_int_equal(decide(&s, DFT_KIND_FUNCTION), DFT_KEEP_FUNCTION | DFT_KEEP_ERROR | DFT_KEEP_EXPLICIT);
}

static void test_platform_list_end_to_end(void **state)
{
	static const char names[1][DFT_NAME_MAX + 1] = {"gateway"};
	struct dft_filter f = {.n_platform = 1, .platform = names};
	struct dft_slot s = slot(0, DFT_STATUS_OK);

	(void)state;
	/* a function region whose component is listed as platform: filtered unless a rule keeps it */
	assert_int_equal(decide(&s, dft_filter_kind(&f, rec_of(&s), DFT_KIND_FUNCTION, "gateway")), 0);
	s.status = DFT_STATUS_ERROR;
	assert_int_equal(decide(&s, dft_filter_kind(&f, rec_of(&s), DFT_KIND_FUNCTION, "gateway")),
			 DFT_KEEP_ERROR);
	s = slot(DFT_SF_KIND_FUNCTION, DFT_STATUS_OK);
	assert_int_equal(decide(&s, dft_filter_kind(&f, rec_of(&s), DFT_KIND_PLATFORM, "gateway")),
			 DFT_KEEP_FUNCTION);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kind),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_platform_list_end_to_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
