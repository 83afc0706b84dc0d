/* SPDX-License-Identifier: MIT */
/*
 * dft-bench-span-instr: a fixed number of spans through libdifftrace with nothing else in the
 * timed function, for an instruction count under callgrind (bench/host/instr.sh), which counts
 * the same on a loaded machine as on an idle one. No daemon (DFT_OPT_NO_DAEMON): one ring large
 * enough that no span of the run is dropped, so every span takes the full path (reserve, slot,
 * publish).
 *   dft-bench-span-instr VARIANT N
 * VARIANT: child    dft-bench-host's span: begin with a parent, two attributes, end
 *          root     begin without a parent (new trace id), two attributes, end
 *          at       begin_at / end_at with caller-given ns times (replay), parent, two attributes
 *          chain    child spans back to back, each begun at the tick the previous one ended at
 *                   (dft_tick, dft_span_begin_tick, dft_span_end_tick): one tick read per span
 * Each variant runs in dft_instr_<variant>() (noinline) so `--toggle-collect` counts it alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "difftrace/difftrace.h"

#define RING_SLOTS (1u << 17)

static uint16_t op, k1, k2;
static struct dft_ctx parent;

__attribute__((noinline)) void dft_instr_child(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct dft_span sp;

		dft_span_begin(&sp, op, &parent);
		dft_span_set_attr(&sp, k1, (int64_t)i);
		dft_span_set_attr(&sp, k2, 42);
		dft_span_end(&sp);
	}
}

__attribute__((noinline)) void dft_instr_root(unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct dft_span sp;

		dft_span_begin(&sp, op, NULL);
		dft_span_set_attr(&sp, k1, (int64_t)i);
		dft_span_set_attr(&sp, k2, 42);
		dft_span_end(&sp);
	}
}

__attribute__((noinline)) void dft_instr_at(unsigned n)
{
	uint64_t t = 1700000000000000000ull;

	for (unsigned i = 0; i < n; i++) {
		struct dft_span sp;

		dft_span_begin_at(&sp, op, &parent, t);
		dft_span_set_attr(&sp, k1, (int64_t)i);
		dft_span_set_attr(&sp, k2, 42);
		dft_span_end_at(&sp, t + 1000);
		t += 2000;
	}
}

__attribute__((noinline)) void dft_instr_chain(unsigned n)
{
	uint64_t t = dft_tick();

	for (unsigned i = 0; i < n; i++) {
		struct dft_span sp;

		dft_span_begin_tick(&sp, op, &parent, t);
		dft_span_set_attr(&sp, k1, (int64_t)i);
		dft_span_set_attr(&sp, k2, 42);
		t = dft_tick();
		dft_span_end_tick(&sp, t);
	}
}

int main(int argc, char **argv)
{
	struct dft_options o = {.size = sizeof(o), .flags = DFT_OPT_NO_DAEMON, .ring_count = 1, .ring_slots = RING_SLOTS};
	struct dft_host_stats st;
	struct dft_span root;
	unsigned n;
	int rc;

	if (argc != 3 || (n = (unsigned)strtoul(argv[2], NULL, 10)) == 0 || n > RING_SLOTS) {
		fprintf(stderr, "usage: dft-bench-span-instr child|root|at|chain N (N <= %u)\n", RING_SLOTS);
		return 2;
	}
	rc = dft_init("bench-app", DFT_COMPONENT_FUNCTION, &o);
	if (rc) {
		fprintf(stderr, "dft-bench-span-instr: dft_init: %s\n", strerror(-rc));
		return 1;
	}
	op = dft_name("handle");
	k1 = dft_name("req.seq");
	k2 = dft_name("http.status");
	dft_span_begin(&root, op, NULL);
	dft_span_context(&root, &parent);
	/* claims the ring: the cold path stays out of the counted function */
	dft_span_end(&root);
	if (!strcmp(argv[1], "child"))
		dft_instr_child(n);
	else if (!strcmp(argv[1], "root"))
		dft_instr_root(n);
	else if (!strcmp(argv[1], "at"))
		dft_instr_at(n);
	else if (!strcmp(argv[1], "chain"))
		dft_instr_chain(n);
	else {
		fprintf(stderr, "dft-bench-span-instr: unknown variant '%s'\n", argv[1]);
		return 2;
	}
	dft_stats(&st);
	printf("spans %llu dropped %llu\n", (unsigned long long)st.produced - 1,
	       (unsigned long long)(st.dropped_full + st.dropped_no_ring));
	dft_fini(0);
	return st.dropped_full + st.dropped_no_ring ? 1 : 0;
}
