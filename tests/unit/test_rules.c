/* SPDX-License-Identifier: MIT */
/*
 * The differential filter's rules: each rule's kept and not-kept cases, thresholds at the boundary,
 * the outlier warm-up policy, the platform-components override, and the contention rule reading a
 * metrics page that changes under it (including torn and hostile entries), and the history of
 * contention intervals a span's time is matched against.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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

#define MS 1000000ull
#define WALL (1700000000ull * 1000 * MS) /* the region's clock (unix ns) in these tests */
#define NAME_CAP 128u /* more components than the page has entries: track eviction */

static struct dft_slot slot(uint16_t flags, uint8_t status, uint32_t queue_ns)
{
	struct dft_slot s;

	memset(&s, 0, sizeof(s));
	s.type = DFT_SLOT_SPAN;
	s.flags = flags;
	s.status = status;
	s.queue_ns = queue_ns;
	return s;
}

static struct dft_filter filter(void)
{
	struct dft_filter f = {0};

	dft_filter_cfg_defaults(&f.cfg);
	return f;
}

static uint32_t decide(const struct dft_filter *f, const struct dft_slot *s, enum dft_kind kind, uint64_t dur,
		       const struct dft_prof_limits *lim, bool contended)
{
	struct dft_span_facts x = {.kind = kind, .duration_ns = dur, .contended = contended};

	if (lim)
		x.lim = *lim;
	return dft_filter_decide(f, rec_of(s), &x);
}

static void test_flag_rules(void **state)
{
	struct dft_filter f = filter();
	struct dft_slot s;

	(void)state;
	s = slot(0, DFT_STATUS_OK, 0);
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 1000, NULL, false), 0);
	assert_int_equal(decide(&f, &s, DFT_KIND_FUNCTION, 1000, NULL, false), DFT_KEEP_FUNCTION);
	s = slot(0, DFT_STATUS_ERROR, 0);
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 0, NULL, false), DFT_KEEP_ERROR);
	s = slot(DFT_SF_EXCEPTION, DFT_STATUS_UNSET, 0);
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 0, NULL, false), DFT_KEEP_ERROR);
	s = slot(DFT_SF_KEEP, DFT_STATUS_OK, 0);
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 0, NULL, false), DFT_KEEP_EXPLICIT);
	s = slot(DFT_SF_COLD_START, DFT_STATUS_OK, 0);
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 0, NULL, false), DFT_KEEP_COLD_START);
	/* every knob turns its rule off and only its rule */
	f.cfg.keep_cold_start = false;
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 0, NULL, false), 0);
	s = slot(DFT_SF_KEEP | DFT_SF_EXCEPTION, DFT_STATUS_ERROR, 0);
	f.cfg.keep_error = false;
	assert_int_equal(decide(&f, &s, DFT_KIND_FUNCTION, 0, NULL, false), DFT_KEEP_FUNCTION | DFT_KEEP_EXPLICIT);
	f.cfg.keep_explicit = false;
	f.cfg.keep_function = false;
	assert_int_equal(decide(&f, &s, DFT_KIND_FUNCTION, 0, NULL, false), 0);
}

static void test_queue_floor(void **state)
{
	struct dft_filter f = filter();
	struct dft_slot s;

	(void)state;
	assert_int_equal(f.cfg.queue_floor_ns, 5 * MS);
	s = slot(0, DFT_STATUS_OK, 5 * MS); /* at the floor: not above it */
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 0, NULL, false), 0);
	s.queue_ns = 5 * MS + 1;
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 0, NULL, false), DFT_KEEP_QUEUEING);
	f.cfg.queueing = false;
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 0, NULL, false), 0);
	f.cfg.queueing = true;
	f.cfg.queue_floor_ns = 0; /* no floor, no profile: nothing queues "too long" */
	s.queue_ns = UINT32_MAX;
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 0, NULL, false), 0);
}

/* A profiler with n leaf spans of (comp 1, op 2), duration dur and queue q, then one more
 * interval of span time later so the thresholds are refreshed on all n. */
static struct dft_profiler *profile(unsigned n, uint64_t dur, uint64_t q, int *key)
{
	struct dft_prof_cfg pc;
	struct dft_profiler *p;
	struct dft_prof_obs o = {.end_ns = WALL, .duration_ns = dur, .self_ns = dur, .queue_ns = (uint32_t)q};

	dft_prof_cfg_defaults(&pc);
	pc.interval_ns = 10 * MS;
	assert_int_equal(dft_profiler_create(&pc, &p), 0);
	*key = dft_profiler_key(p, 1, 2);
	assert_true(*key >= 0);
	for (unsigned i = 0; i + 1 < n; i++) {
		o.end_ns = WALL + i;
		dft_profiler_observe(p, *key, &o);
	}
	if (n) {
		o.end_ns = WALL + pc.interval_ns + n;
		dft_profiler_observe(p, *key, &o);
	}
	return p;
}

static void test_queue_relative(void **state)
{
	struct dft_filter f = filter();
	struct dft_prof_limits lim;
	struct dft_profiler *p;
	struct dft_slot s;
	int key;

	(void)state;
	/* one sample short of queue_min_samples: only the floor applies */
	p = profile(199, 1000, 100000, &key);
	dft_profiler_limits(p, key, &lim);
	assert_int_equal(lim.queue_ns, 0);
	s = slot(0, DFT_STATUS_OK, 1000000);
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 1000, &lim, false), 0);
	dft_profiler_destroy(p);

	p = profile(200, 1000, 100000, &key);
	dft_profiler_limits(p, key, &lim);
	/* 4 x p99 (100 us, within the histogram's 2.2%) */
	assert_in_range(lim.queue_ns, 4 * 97800, 4 * 102200);
	s.queue_ns = (uint32_t)lim.queue_ns;
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 1000, &lim, false), 0);
	s.queue_ns = (uint32_t)lim.queue_ns + 1;
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 1000, &lim, false), DFT_KEEP_QUEUEING);
	f.cfg.queueing = false;
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 1000, &lim, false), 0);
	dft_profiler_destroy(p);
}

static void test_outlier_warmup(void **state)
{
	struct dft_filter f = filter();
	struct dft_prof_limits lim = {0};
	struct dft_profiler *p;
	struct dft_slot s = slot(0, DFT_STATUS_OK, 0);
	int key;

	(void)state;
	/* warm-up policy: no profile, only the absolute ceiling (1 s) */
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 1000 * MS, &lim, false), 0);
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 1000 * MS + 1, &lim, false), DFT_KEEP_OUTLIER);
	p = profile(7, 100000, 0, &key);
	dft_profiler_limits(p, key, &lim);
	assert_int_equal(lim.self_ns, 0);
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 200 * MS, &lim, false), 0);
	dft_profiler_destroy(p);
	/* warm (20 samples): under 10 x the median, and the ceiling no longer decides */
	p = profile(20, 100000, 0, &key);
	dft_profiler_limits(p, key, &lim);
	assert_in_range(lim.self_ns, 100000 * 5, 100000 * 10 - 1);
	assert_false(lim.wraps);
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, lim.self_ns, &lim, false), 0);
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, lim.self_ns + 1, &lim, false), DFT_KEEP_OUTLIER);
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 10 * 100000, &lim, false), DFT_KEEP_OUTLIER);
	f.cfg.outlier = false;
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 200 * MS, &lim, false), 0);
	f.cfg.outlier = true;
	/* a ceiling of 0 turns the warm-up test off */
	f.cfg.outlier_ceiling_ns = 0;
	lim.self_ns = 0;
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, UINT64_MAX, &lim, false), 0);
	dft_profiler_destroy(p);
}

/* Self time decides where the span's children were seen; a wrapping key's span without them is
 * judged whole against whole durations. */
static void test_outlier_self_time(void **state)
{
	struct dft_filter f = filter();
	struct dft_prof_limits lim = {.self_ns = 2 * MS, .duration_ns = 200 * MS, .wraps = true};
	struct dft_slot s = slot(0, DFT_STATUS_OK, 0);
	struct dft_span_facts x = {.kind = DFT_KIND_PLATFORM, .duration_ns = 100 * MS, .lim = lim};

	(void)state;
	/* a proxy that waited 100 ms for a slow function but spent 1 ms itself is not an outlier */
	x.self_known = true;
	x.self_ns = 1 * MS;
	assert_int_equal(dft_filter_decide(&f, rec_of(&s), &x), 0);
	/* 60 ms of its own inside a short inclusive time is */
	x.duration_ns = 70 * MS;
	x.self_ns = 60 * MS;
	assert_int_equal(dft_filter_decide(&f, rec_of(&s), &x), DFT_KEEP_OUTLIER);
	/* children not seen: the inclusive baseline */
	x.self_known = false;
	assert_int_equal(dft_filter_decide(&f, rec_of(&s), &x), 0);
	x.duration_ns = 200 * MS + 1;
	assert_int_equal(dft_filter_decide(&f, rec_of(&s), &x), DFT_KEEP_OUTLIER);
	/* a leaf key: the duration against the self baseline */
	x.lim.wraps = false;
	x.duration_ns = 2 * MS + 1;
	assert_int_equal(dft_filter_decide(&f, rec_of(&s), &x), DFT_KEEP_OUTLIER);
	/* kept inside the margin (above the threshold, under 10 x the median) proves nothing about the
	 * trace; at the definition's 10 x it does, and so does any other reason beside it */
	x.lim.self_def_ns = 3 * MS;
	assert_true(dft_filter_weak_outlier(DFT_KEEP_OUTLIER, &x));
	x.duration_ns = 3 * MS;
	assert_false(dft_filter_weak_outlier(DFT_KEEP_OUTLIER, &x));
	x.duration_ns = 2 * MS + 1;
	assert_false(dft_filter_weak_outlier(DFT_KEEP_OUTLIER | DFT_KEEP_ERROR, &x));
	assert_false(dft_filter_weak_outlier(DFT_KEEP_QUEUEING, &x));
	x.lim.self_def_ns = 0; /* no profile: the ceiling judged */
	assert_false(dft_filter_weak_outlier(DFT_KEEP_OUTLIER, &x));
}

static void test_platform_override(void **state)
{
	static const char names[2][DFT_NAME_MAX + 1] = {"gateway", "activator"};
	struct dft_filter f = filter();
	struct dft_slot s = slot(0, DFT_STATUS_OK, 0);

	(void)state;
	f.n_platform = 2;
	f.platform = names;
	/* a function region's listed component is platform: filtered unless a rule keeps it */
	assert_int_equal(decide(&f, &s, dft_filter_kind(&f, rec_of(&s), DFT_KIND_FUNCTION, "gateway"), 10, NULL, false), 0);
	assert_int_equal(decide(&f, &s, dft_filter_kind(&f, rec_of(&s), DFT_KIND_FUNCTION, "gatewayx"), 10, NULL, false),
			 DFT_KEEP_FUNCTION);
	/* the span's own kind flag wins over the list */
	s = slot(DFT_SF_KIND_FUNCTION, DFT_STATUS_OK, 0);
	assert_int_equal(decide(&f, &s, dft_filter_kind(&f, rec_of(&s), DFT_KIND_PLATFORM, "activator"), 10, NULL, false),
			 DFT_KEEP_FUNCTION);
	s = slot(DFT_SF_KIND_PLATFORM, DFT_STATUS_OK, 0);
	assert_int_equal(decide(&f, &s, dft_filter_kind(&f, rec_of(&s), DFT_KIND_FUNCTION, "user-fn"), 10, NULL, false), 0);
}

/* ---- contention on a region's metrics page */

struct region {
	struct dft_region_hdr *h;
	struct dft_region_geom g;
	struct dft_metrics_page *pg;
};

static int setup_region(void **state)
{
	struct region *r = calloc(1, sizeof(*r));
	size_t size = dft_region_size(NAME_CAP, 1, 64);

	r->h = aligned_alloc(DFT_PAGE, (size + DFT_PAGE - 1) / DFT_PAGE * DFT_PAGE);
	memset(r->h, 0, size);
	dft_region_hdr_init(r->h, NAME_CAP, 1, 64);
	r->h->component_kind = DFT_KIND_PLATFORM;
	assert_int_equal(dft_region_validate(r->h, size, &r->g), 0);
	r->pg = (struct dft_metrics_page *)(void *)((uint8_t *)r->h + DFT_METRICS_OFF);
	*state = r;
	return 0;
}

static int teardown_region(void **state)
{
	struct region *r = *state;

	free(r->h);
	free(r);
	return 0;
}

static void put(struct dft_metrics_page *pg, unsigned i, uint16_t comp, uint32_t throttle, uint32_t conc,
		uint32_t limit, uint32_t mem)
{
	struct dft_metric_entry *e = &pg->entry[i];

	e->seq++;
	e->updated_ns = 0; /* no time of its own: the reading is taken "now" */
	e->component_id = comp;
	e->cpu_throttle_ppm = throttle;
	e->concurrency = conc;
	e->concurrency_limit = limit;
	e->mem_pressure_ppm = mem;
	e->seq++;
}

static void test_contention(void **state)
{
	struct region *r = *state;
	struct dft_filter f = filter();
	struct dft_contention c;
	struct dft_slot s = slot(0, DFT_STATUS_OK, 0);
	uint64_t now = 1000 * MS;

	memset(&c, 0, sizeof(c));
	r->pg->count = 3;
	put(r->pg, 0, 1, 200000, 0, 0, 0);      /* throttled: at the threshold */
	put(r->pg, 1, 2, 199999, 10, 10, 0);    /* at its concurrency limit */
	put(r->pg, 2, 3, 0, 11, 0, 799999);     /* no limit, memory just under */
	dft_contention_refresh(&c, &f.cfg, r->pg, &r->g, 8, now, WALL, false);
	assert_true(dft_contention_on(&c, 1));
	assert_true(dft_contention_on(&c, 2));
	assert_false(dft_contention_on(&c, 3));
	assert_false(dft_contention_on(&c, 4));
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 0, NULL, dft_contention_on(&c, 1)), DFT_KEEP_CONTENTION);
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 0, NULL, dft_contention_on(&c, 3)), 0);

	/* the metrics change; within the refresh interval the readings are not re-read */
	put(r->pg, 0, 1, 199999, 0, 0, 0);
	put(r->pg, 2, 3, 0, 0, 0, 800000);
	dft_contention_refresh(&c, &f.cfg, r->pg, &r->g, 8, now + f.cfg.metrics_refresh_ns - 1, WALL, false);
	assert_true(dft_contention_on(&c, 1));
	dft_contention_refresh(&c, &f.cfg, r->pg, &r->g, 8, now + f.cfg.metrics_refresh_ns, WALL, false);
	assert_false(dft_contention_on(&c, 1));
	assert_true(dft_contention_on(&c, 2));
	assert_true(dft_contention_on(&c, 3));
	now += f.cfg.metrics_refresh_ns;

	/* a torn entry (writer mid-update) is ignored: the previous reading stands */
	r->pg->entry[0].seq++;
	r->pg->entry[0].cpu_throttle_ppm = 900000;
	r->pg->entry[2].seq++;
	r->pg->entry[2].mem_pressure_ppm = 0;
	dft_contention_refresh(&c, &f.cfg, r->pg, &r->g, 8, now, WALL, true);
	assert_false(dft_contention_on(&c, 1));
	assert_true(dft_contention_on(&c, 3));
	assert_int_equal(c.torn, 2);
	r->pg->entry[0].seq++;
	r->pg->entry[2].seq++;
	dft_contention_refresh(&c, &f.cfg, r->pg, &r->g, 8, now, WALL, true);
	assert_true(dft_contention_on(&c, 1));
	assert_false(dft_contention_on(&c, 3));

	/* the concurrency limit of 0 means "no limit" */
	put(r->pg, 1, 2, 0, 1000, 0, 0);
	dft_contention_refresh(&c, &f.cfg, r->pg, &r->g, 8, now, WALL, true);
	assert_false(dft_contention_on(&c, 2));

	/* hostile: an unpublished component id and a count beyond the page are ignored */
	put(r->pg, 1, 9, 999999, 0, 0, 0);
	r->pg->count = 100000;
	dft_contention_refresh(&c, &f.cfg, r->pg, &r->g, 8, now, WALL, true);
	assert_false(dft_contention_on(&c, 9));
	assert_true(c.bad >= 1);
	r->pg->count = 1;
	dft_contention_refresh(&c, &f.cfg, r->pg, &r->g, 16, now, WALL, true);
	assert_true(dft_contention_on(&c, 1));
	assert_false(dft_contention_on(&c, 9)); /* entry 1 is beyond count now */

	/* thresholds are knobs: 0 turns a trigger off, and the rule itself can be off */
	f.cfg.cpu_throttle_ppm = 0;
	dft_contention_refresh(&c, &f.cfg, r->pg, &r->g, 16, now, WALL, true);
	assert_false(dft_contention_on(&c, 1));
	f.cfg.contention = false;
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, 0, NULL, true), 0);
}

/* A throttle reading of comp at region time t (0: none of its own). */
static void put_at(struct dft_metrics_page *pg, unsigned i, uint16_t comp, uint32_t throttle, uint64_t t)
{
	put(pg, i, comp, throttle, 0, 0, 0);
	pg->entry[i].seq++;
	pg->entry[i].updated_ns = t;
	pg->entry[i].seq++;
}

static void refresh_at(struct region *r, struct dft_contention *c, const struct dft_filter *f, uint64_t region_now)
{
	dft_contention_refresh(c, &f->cfg, r->pg, &r->g, NAME_CAP, 0, region_now, true);
}

/* The span [a, b] (ms after WALL) matches comp's contention history. */
static bool ran_contended(const struct dft_contention *c, uint16_t comp, uint64_t a, uint64_t b)
{
	return dft_contention_match(c, comp, WALL + a * MS, WALL + b * MS);
}

static void test_contention_history(void **state)
{
	struct region *r = *state;
	struct dft_filter f = filter();
	struct dft_contention c;
	struct dft_slot s = slot(0, DFT_STATUS_OK, 0);

	memset(&c, 0, sizeof(c));
	r->pg->count = 2;
	put_at(r->pg, 0, 1, 0, WALL);
	refresh_at(r, &c, &f, WALL + 1 * MS);
	assert_false(ran_contended(&c, 1, 0, 1000));

	/* the window opens at the reading's own time (10 ms), not when the NIC looked (12 ms) */
	put_at(r->pg, 0, 1, 900000, WALL + 10 * MS);
	refresh_at(r, &c, &f, WALL + 12 * MS);
	assert_true(dft_contention_on(&c, 1));
	assert_true(ran_contended(&c, 1, 11, 11));  /* inside the open window */
	assert_true(ran_contended(&c, 1, 5, 10));   /* ends at its first instant */
	assert_true(ran_contended(&c, 1, 9, 500));  /* still running */
	assert_false(ran_contended(&c, 1, 2, 9));   /* ended before it */
	assert_false(ran_contended(&c, 2, 11, 11)); /* another component */

	/* the window closes at 50 ms; spans that ran inside it arrive later and still match */
	put_at(r->pg, 0, 1, 1000, WALL + 50 * MS);
	refresh_at(r, &c, &f, WALL + 53 * MS);
	assert_false(dft_contention_on(&c, 1));
	assert_true(ran_contended(&c, 1, 20, 21));
	assert_true(ran_contended(&c, 1, 49, 60));
	assert_true(ran_contended(&c, 1, 0, 100)); /* spans the whole window */
	assert_false(ran_contended(&c, 1, 51, 60)); /* started after it closed */
	assert_false(ran_contended(&c, 1, 2, 9));
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, MS, NULL, ran_contended(&c, 1, 20, 21)),
			 DFT_KEEP_CONTENTION);
	assert_int_equal(decide(&f, &s, DFT_KIND_PLATFORM, MS, NULL, ran_contended(&c, 1, 60, 61)), 0);
	/* an end before the start is taken as an instant */
	assert_true(dft_contention_match(&c, 1, WALL + 30 * MS, WALL + 1 * MS));

	/* a torn entry keeps the window as it was (open stays open, closed stays closed) */
	put_at(r->pg, 0, 1, 900000, WALL + 100 * MS);
	refresh_at(r, &c, &f, WALL + 100 * MS);
	r->pg->entry[0].seq++; /* the writer is busy */
	r->pg->entry[0].cpu_throttle_ppm = 0;
	refresh_at(r, &c, &f, WALL + 150 * MS);
	assert_true(dft_contention_on(&c, 1));
	assert_true(ran_contended(&c, 1, 140, 141));
	r->pg->entry[0].seq++; /* done */
	put_at(r->pg, 0, 1, 0, WALL + 160 * MS);
	refresh_at(r, &c, &f, WALL + 170 * MS);
	assert_false(dft_contention_on(&c, 1));
	assert_true(ran_contended(&c, 1, 159, 159));
	assert_false(ran_contended(&c, 1, 161, 165));

	/* the history is bounded: after DFT_CONTENTION_HIST more windows the oldest is forgotten */
	for (unsigned k = 0; k < DFT_CONTENTION_HIST; k++) {
		uint64_t t = 1000 + 100 * k;

		put_at(r->pg, 0, 1, 900000, WALL + t * MS);
		refresh_at(r, &c, &f, WALL + t * MS);
		put_at(r->pg, 0, 1, 0, WALL + (t + 10) * MS);
		refresh_at(r, &c, &f, WALL + (t + 10) * MS);
	}
	assert_false(ran_contended(&c, 1, 20, 21));    /* the 10..50 ms window */
	assert_false(ran_contended(&c, 1, 140, 141)); /* the 100..160 ms window */
	for (unsigned k = 0; k < DFT_CONTENTION_HIST; k++) {
		assert_true(ran_contended(&c, 1, 1005 + 100 * k, 1005 + 100 * k));
		assert_false(ran_contended(&c, 1, 1050 + 100 * k, 1060 + 100 * k));
	}

	/* an entry that goes away closes its window at the region's now; one with no time of its own
	 * opens it at the region's now */
	put_at(r->pg, 1, 2, 900000, 0);
	refresh_at(r, &c, &f, WALL + 3000 * MS);
	assert_true(dft_contention_on(&c, 2));
	assert_false(ran_contended(&c, 2, 2990, 2999));
	r->pg->count = 1;
	refresh_at(r, &c, &f, WALL + 3100 * MS);
	assert_false(dft_contention_on(&c, 2));
	assert_true(ran_contended(&c, 2, 3050, 3050));
	assert_false(ran_contended(&c, 2, 3101, 3200));

	/* hostile times: an "off" reading older than the window's start leaves an ordered (empty)
	 * interval at the start, never a reversed one */
	put_at(r->pg, 0, 3, 900000, WALL + 4000 * MS);
	refresh_at(r, &c, &f, WALL + 4000 * MS);
	put_at(r->pg, 0, 3, 0, WALL + 10 * MS);
	refresh_at(r, &c, &f, WALL + 4010 * MS);
	assert_true(ran_contended(&c, 3, 4000, 4000));
	assert_false(ran_contended(&c, 3, 11, 3999));
	assert_false(ran_contended(&c, 3, 4001, 4002));
	/* ids past any name table never match */
	assert_false(dft_contention_match(&c, UINT16_MAX, 0, UINT64_MAX));
	assert_false(dft_contention_on(&c, UINT16_MAX));

	/* more contended components over time than tracks: the stalest history goes, counted, and
	 * every component still maps to its own history */
	for (uint16_t comp = 10; comp < 10 + DFT_METRICS_MAX + 6; comp++) {
		uint64_t t = 5000 + 10 * (uint64_t)comp;

		put_at(r->pg, 0, comp, 900000, WALL + t * MS);
		refresh_at(r, &c, &f, WALL + t * MS);
		put_at(r->pg, 0, comp, 0, WALL + (t + 5) * MS);
		refresh_at(r, &c, &f, WALL + (t + 5) * MS);
	}
	assert_int_equal(c.evicted, 6 + 3); /* comps 1, 2, 3 went first (stalest), then 10..15 */
	assert_false(ran_contended(&c, 1, 1005, 1005));
	assert_false(ran_contended(&c, 10, 5100, 5101));
	for (uint16_t comp = 16; comp < 10 + DFT_METRICS_MAX + 6; comp++) {
		uint64_t t = 5000 + 10 * (uint64_t)comp;

		assert_true(dft_contention_match(&c, comp, WALL + (t + 1) * MS, WALL + (t + 1) * MS));
		assert_false(dft_contention_match(&c, comp, WALL + (t + 6) * MS, WALL + (t + 9) * MS));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flag_rules),
		cmocka_unit_test(test_queue_floor),
		cmocka_unit_test(test_queue_relative),
		cmocka_unit_test(test_outlier_warmup),
		cmocka_unit_test(test_outlier_self_time),
		cmocka_unit_test(test_platform_override),
		cmocka_unit_test_setup_teardown(test_contention, setup_region, teardown_region),
		cmocka_unit_test_setup_teardown(test_contention_history, setup_region, teardown_region),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
