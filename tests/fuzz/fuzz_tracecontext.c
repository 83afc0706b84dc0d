/* SPDX-License-Identifier: MIT */
/*
 * Fuzz libdifftrace's request-header parsers: traceparent and the tracestate hop entry, as an
 * application calls them on headers it received. Whatever parses must re-inject to a header that
 * parses to the same thing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <difftrace/difftrace.h>

#include "dft/hops.h"

#define FUZZ_CHECK(c)                                                                                                  \
	do {                                                                                                           \
		if (!(c))                                                                                              \
			abort();                                                                                       \
	} while (0)

static uint16_t op_id;

static void lib_init(void)
{
	static int done;
	struct dft_options o = {.size = sizeof(o), .flags = DFT_OPT_NO_DAEMON, .ring_count = 1, .ring_slots = 64};

	if (done)
		return;
	FUZZ_CHECK(dft_init("fuzz-component", DFT_COMPONENT_PLATFORM, &o) == 0);
	op_id = dft_name("fuzz-op");
	FUZZ_CHECK(op_id != 0);
	done = 1;
}

static void check_list(const struct dft_hop_list *l)
{
	FUZZ_CHECK(l->n <= DFT_HOP_LIST_MAX);
	for (unsigned i = 0; i < l->n; i++)
		FUZZ_CHECK(l->hop[i].span_id != 0);
}

static void fuzz_traceparent(const char *p, size_t size)
{
	struct dft_ctx ctx, again;
	char out[56];
	int rc = dft_traceparent_extract(p, size, &ctx);

	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (rc)
		return;
	FUZZ_CHECK(dft_traceparent_inject(&ctx, out, sizeof(out)) == 0);
	FUZZ_CHECK(dft_traceparent_extract(out, sizeof(out), &again) == 0);
	FUZZ_CHECK(memcmp(&again.trace_id, &ctx.trace_id, 16) == 0 && again.span_id == ctx.span_id &&
	           again.trace_flags == ctx.trace_flags);
	/* a version-00 header is exactly what we write */
	if (p[0] == '0' && p[1] == '0')
		FUZZ_CHECK(memcmp(out, p, 55) == 0);
}

static void fuzz_tracestate(const char *p, size_t size)
{
	char out[DFT_TRACESTATE_MAX + 1];
	struct dft_hop_list in, again;
	struct dft_span sp;
	int rc = dft_tracestate_extract(p, size, &in), n;

	FUZZ_CHECK(rc == 0 || rc == -EINVAL);
	if (rc) {
		FUZZ_CHECK(in.n == 0);
		memset(&in, 0, sizeof(in)); /* a component forwards with no incoming hops */
	}
	check_list(&in);
	/* forward it: our hop appended, the other members of the header kept where they fit */
	dft_span_begin(&sp, op_id, NULL);
	n = dft_tracestate_inject(&in, &sp, p, size, out, sizeof(out));
	FUZZ_CHECK(n > 0 && (size_t)n == strlen(out) && n <= (int)DFT_TRACESTATE_MAX);
	FUZZ_CHECK(dft_tracestate_extract(out, (size_t)n, &again) == 0);
	check_list(&again);
	FUZZ_CHECK(again.n >= 1 && again.n <= in.n + 1);
	FUZZ_CHECK(again.hop[again.n - 1].span_id == sp.span_id);
	for (unsigned i = 0; i + 1 < again.n; i++) {
		const struct dft_hop_entry *a = &again.hop[i], *b = &in.hop[in.n - (again.n - 1) + i];

		FUZZ_CHECK(a->span_id == b->span_id && a->start_ns == b->start_ns && a->name_hash == b->name_hash &&
		           a->parent_span_id == b->parent_span_id);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy: a read past the end is a sanitizer error even under the plain driver */
	char *p = malloc(size ? size : 1);

	FUZZ_CHECK(p);
	lib_init();
	memcpy(p, data, size);
	fuzz_traceparent(p, size);
	fuzz_tracestate(p, size);
	free(p);
	return 0;
}

/* valid headers for the driver's mutations to start from */
size_t dft_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
	static const char tp[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	char ts[DFT_TRACESTATE_MAX + 1] = "congo=t61rcWkgMzE", next[DFT_TRACESTATE_MAX + 1];
	struct dft_hop_list l;
	size_t n;

	lib_init();
	if (i == 0) {
		n = sizeof(tp) - 1;
		memcpy(buf, tp, n < cap ? n : cap);
		return n < cap ? n : cap;
	}
	if (i > 4)
		return 0;
	/* i hops deep */
	memset(&l, 0, sizeof(l));
	for (unsigned k = 0; k < i; k++) {
		struct dft_span sp;
		int len;

		dft_span_begin(&sp, op_id, NULL);
		len = dft_tracestate_inject(&l, &sp, ts, strlen(ts), next, sizeof(next));
		FUZZ_CHECK(len > 0);
		memcpy(ts, next, (size_t)len + 1);
		FUZZ_CHECK(dft_tracestate_extract(ts, (size_t)len, &l) == 0);
	}
	n = strlen(ts);
	memcpy(buf, ts, n < cap ? n : cap);
	return n < cap ? n : cap;
}
