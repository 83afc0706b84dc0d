/* SPDX-License-Identifier: MIT */
/*
 * view_fixture DB [--empty]: a store for the view tests, written through the collector's own
 * store code (dft_store_put_batch / dft_store_put_reconstructed), so the rows are what a collector
 * writes. Deterministic; times from 2026-12-05T08:00:00Z.
 *
 *   60 normal traces  ingress-gateway checkout -> activator -> queue-proxy (both rebuilt) ->
 *                     checkout-fn handle -> db query, cache get; every 10th has an extra retry
 *   1 anomalous trace a1a1...a1: the same path with an activator latency outlier, a three-way
 *                     fan-out with a cold start, an error, a child that outlives the root, a
 *                     rebuilt span whose name no profile resolved, and a span whose names are
 *                     markup, quotes, invalid UTF-8 and U+2028 (names are untrusted)
 *   1 large trace     b1b1...b1: root + 50 children with 99 children each (5001 spans)
 * plus one profile row per (component, operation). --empty writes the schema and nothing else.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_sqlite.h"

#define T0          1796457600000000000ull
#define MS          1000000ull
#define US          1000ull
#define MAX_SPANS   6000u
#define MAX_STRINGS 64u

enum {
	PLAT = DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_PLATFORM,
	FUNC = DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_FUNCTION
};

/* keep-reason bits (docs/filter.md) */
#define KR_FUNCTION 1u
#define KR_ERROR    2u
#define KR_COLD     8u
#define KR_OUTLIER  32u
#define KR_RETRO    128u

static char hostile_comp[] = "evil<script>alert(1)</script>";
static char hostile_op[] = "\"><img id=pwned src=x onerror=alert(1)>\xff\xe2\x80\xa8'&amp;</script>";

struct builder {
	Difftrace__SpanBatch b;
	Difftrace__BatchHeader h;
	char *strings[MAX_STRINGS];
	Difftrace__Span spans[MAX_SPANS];
	Difftrace__Span *sp[MAX_SPANS];
	uint8_t tid[16];
};

static struct builder rep, rec;
static uint64_t seq;

static void reset(struct builder *b, const uint8_t tid[16])
{
	difftrace__span_batch__init(&b->b);
	difftrace__batch_header__init(&b->h);
	b->b.header = &b->h;
	b->b.strings = b->strings;
	b->b.spans = b->sp;
	b->b.n_strings = 0;
	b->b.n_spans = 0;
	memcpy(b->tid, tid, 16);
}

static uint32_t str(struct builder *b, const char *s)
{
	for (size_t i = 0; i < b->b.n_strings; i++)
		if (!strcmp(b->strings[i], s))
			return (uint32_t)i;
	if (b->b.n_strings == MAX_STRINGS) {
		fprintf(stderr, "view_fixture: too many strings\n");
		exit(1);
	}
	b->strings[b->b.n_strings] = (char *)s;
	return (uint32_t)b->b.n_strings++;
}

static Difftrace__Span *add(struct builder *b, uint64_t id, uint64_t parent, uint64_t start, uint64_t end,
                            const char *comp, const char *op, int kind, uint32_t kr)
{
	Difftrace__Span *s = &b->spans[b->b.n_spans];

	difftrace__span__init(s);
	s->trace_id.data = b->tid;
	s->trace_id.len = 16;
	s->span_id = id;
	s->parent_span_id = parent;
	s->start_ns = start;
	s->end_ns = end;
	s->component = str(b, comp);
	s->operation = str(b, op);
	s->kind = kind;
	s->keep_reasons = kr;
	b->sp[b->b.n_spans++] = s;
	return s;
}

static int flush(struct dft_store *st)
{
	int rc = 0;

	rep.h.sender_id = rec.h.sender_id = 0x7e57;
	rep.h.sequence = rec.h.sequence = ++seq;
	if (rep.b.n_spans || rep.b.n_profiles)
		rc = dft_store_put_batch(st, &rep.b);
	if (!rc && rec.b.n_spans)
		rc = dft_store_put_reconstructed(st, &rec.b);
	return rc;
}

static void trace_id(uint8_t tid[16], uint8_t a, uint8_t b)
{
	for (int i = 0; i < 16; i++)
		tid[i] = i == 1 ? b : a;
}

/* the usual path: gateway (reported as the root), activator and queue-proxy (rebuilt), the function */
static void checkout(uint64_t t, uint64_t id0, uint64_t stretch, bool extra, bool anomalous)
{
	uint64_t act_end = t + 9500 * US + stretch;

	add(&rep, id0 + 1, 0, t, t + 10 * MS + stretch, "ingress-gateway", "checkout", PLAT, anomalous ? KR_RETRO : 0);
	if (anomalous)
		add(&rep, id0 + 2, id0 + 1, t + 500 * US, act_end, "activator", "proxy", PLAT, KR_OUTLIER | KR_RETRO);
	else
		add(&rec, id0 + 2, id0 + 1, t + 500 * US, act_end, "activator", "proxy", PLAT, 0);
	add(anomalous ? &rep : &rec, id0 + 3, id0 + 2, t + 1 * MS, t + 9 * MS, "queue-proxy", "proxy", PLAT,
	    anomalous ? KR_RETRO : 0);
	add(&rep, id0 + 4, id0 + 3, t + 1500 * US, t + 8500 * US, "checkout-fn", "handle", FUNC, KR_FUNCTION);
	add(&rep, id0 + 5, id0 + 4, t + 2 * MS, t + 4 * MS, "checkout-fn", "db query", FUNC, KR_FUNCTION);
	add(&rep, id0 + 6, id0 + 4, t + 4500 * US, t + 5 * MS, "checkout-fn", "cache get", FUNC, KR_FUNCTION);
	if (extra)
		add(&rep, id0 + 7, id0 + 4, t + 5 * MS, t + 6 * MS, "checkout-fn", "retry", FUNC, KR_FUNCTION);
}

static void profiles(void)
{
	static const struct {
		const char *c, *o;
		uint64_t p50, p99;
	} p[] = {
	    {"ingress-gateway", "checkout", 10 * MS, 14 * MS}, {"activator", "proxy", 9 * MS, 12 * MS},
	    {"queue-proxy", "proxy", 8 * MS, 11 * MS},         {"checkout-fn", "handle", 7 * MS, 10 * MS},
	    {"checkout-fn", "db query", 2 * MS, 4 * MS},       {"checkout-fn", "cache get", 500 * US, 2 * MS},
	    {"checkout-fn", "fetch", 3 * MS, 6 * MS},          {"ingress-gateway", "bulk", 50 * MS, 80 * MS},
	};
	static Difftrace__ProfileEntry e[sizeof(p) / sizeof(p[0])];
	static Difftrace__ProfileEntry *ep[sizeof(p) / sizeof(p[0])];
	static Difftrace__Profile prof;
	static Difftrace__Profile *pp[1];
	uint8_t none[16] = {0};

	reset(&rep, none);
	difftrace__profile__init(&prof);
	prof.created_ns = T0;
	for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
		difftrace__profile_entry__init(&e[i]);
		e[i].component = str(&rep, p[i].c);
		e[i].operation = str(&rep, p[i].o);
		e[i].count = 1000;
		e[i].duration_p50_ns = p[i].p50;
		e[i].duration_p99_ns = p[i].p99;
		ep[i] = &e[i];
	}
	prof.n_entries = sizeof(p) / sizeof(p[0]);
	prof.entries = ep;
	pp[0] = &prof;
	rep.b.n_profiles = 1;
	rep.b.profiles = pp;
}

int main(int argc, char **argv)
{
	struct dft_store *st;
	uint8_t tid[16];
	int rc;

	if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--empty"))) {
		fprintf(stderr, "usage: view_fixture DB [--empty]\n");
		return 2;
	}
	remove(argv[1]);
	rc = dft_store_open(argv[1], &st);
	if (rc)
		return 1;
	if (argc == 3)
		goto commit;
	profiles();
	rc = flush(st);
	rep.b.n_profiles = 0;
	for (unsigned k = 0; k < 60 && !rc; k++) {
		trace_id(tid, 0x10, (uint8_t)k);
		reset(&rep, tid);
		reset(&rec, tid);
		checkout(T0 + k * 100 * MS, (uint64_t)(k + 1) << 16, (k % 7) * 300 * US, k % 10 == 0, false);
		rc = flush(st);
	}
	if (!rc) {
		uint64_t t = T0 + 3 * 1000 * MS + 50 * MS, id0 = 0xa1ull << 32;

		trace_id(tid, 0xa1, 0xa1);
		reset(&rep, tid);
		reset(&rec, tid);
		checkout(t, id0, 40 * MS, false, true);
		/* the fan-out under the function: fetch 2 (cold start) is the one it waits on */
		add(&rep, id0 + 10, id0 + 4, t + 5 * MS, t + 7 * MS, "checkout-fn", "fetch", FUNC, KR_FUNCTION);
		add(&rep, id0 + 11, id0 + 4, t + 5 * MS, t + 8 * MS, "checkout-fn", "fetch", FUNC,
		    KR_FUNCTION | KR_COLD);
		add(&rep, id0 + 12, id0 + 4, t + 5 * MS, t + 6 * MS, "checkout-fn", "fetch", FUNC, KR_FUNCTION);
		add(&rep, id0 + 13, id0 + 6, t + 4600 * US, t + 4900 * US, "checkout-fn", "render", FUNC,
		    KR_FUNCTION | KR_ERROR)
		    ->status = DIFFTRACE__STATUS__STATUS_ERROR;
		/* fire and forget: ends after the root */
		add(&rep, id0 + 14, id0 + 1, t + 49 * MS, t + 70 * MS, "ingress-gateway", "audit", PLAT, KR_RETRO);
		add(&rec, id0 + 15, id0 + 2, t + 600 * US, t + 900 * US, "unresolved", "deadbeef", PLAT, 0);
		add(&rep, id0 + 16, id0 + 3, t + 1100 * US, t + 1300 * US, hostile_comp, hostile_op, PLAT, KR_RETRO);
		rc = flush(st);
	}
	if (!rc) {
		uint64_t t = T0 + 5 * 1000 * MS, id0 = 0xb1ull << 32, id = id0 + 1;

		trace_id(tid, 0xb1, 0xb1);
		reset(&rep, tid);
		reset(&rec, tid);
		add(&rep, id, 0, t, t + 60 * MS, "ingress-gateway", "bulk", PLAT, KR_OUTLIER);
		for (unsigned c = 0; c < 50; c++) {
			uint64_t cid = id0 + 100 + c * 100, cs = t + c * MS;

			add(&rep, cid, id, cs, cs + 9 * MS, "bulk-fn", "part", FUNC, KR_FUNCTION);
			for (unsigned g = 0; g < 99; g++)
				add(&rep, cid + 1 + g, cid, cs + g * 80 * US, cs + g * 80 * US + 70 * US, "bulk-fn",
				    "item", FUNC, KR_FUNCTION);
		}
		rc = flush(st);
	}
commit:
	if (!rc)
		rc = dft_store_commit(st);
	if (rc)
		fprintf(stderr, "view_fixture: %s: %s\n", argv[1], dft_store_errmsg(st));
	dft_store_close(st);
	return rc ? 1 : 0;
}
