/* SPDX-License-Identifier: MIT */
/*
 * Tick -> unix ns calibration, published in the region header under the clock_seq seqlock.
 *
 * The rate is measured against CLOCK_MONOTONIC (slewed like CLOCK_REALTIME but never stepped) and
 * the anchor pairs a tick reading with CLOCK_REALTIME. dft_init measures over ~10 ms; the
 * registration thread re-measures from the same starting point a second later and then once a
 * minute, so the rate error shrinks with the length of the baseline (10 ms of clock-read jitter on
 * a 10 ms baseline is ~1e-5, on a 60 s baseline ~1e-9).
 */
#define _GNU_SOURCE
#include <time.h>

#include "host_internal.h"

#define DFT_TICK_SHIFT  32u
#define DFT_CAL_INIT_NS 10000000ull

/* One (ticks, clock) pair taken as close together as this CPU allows: the tightest of a few tries. */
static void dft_clock_pair(clockid_t id, uint64_t *ticks, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;

	*ticks = *ns = 0; /* the first try always replaces these; gcc for aarch64 cannot tell */
	for (int i = 0; i < 5; i++) {
		uint64_t t0 = dft_ticks();
		uint64_t c = dft_clock_ns(id);
		uint64_t t1 = dft_ticks();

		if (t1 - t0 < best) {
			best = t1 - t0;
			*ticks = t0 + (t1 - t0) / 2;
			*ns = c;
		}
	}
}

static void dft_clock_publish(uint64_t tick_base, uint64_t ns_base, uint64_t mult, uint64_t hz)
{
	struct dft_region_hdr *h = dft_host.hdr;
	uint32_t seq = dft_load_relaxed(&h->clock_seq);

	/*
	 * [C1] Seqlock write without a fence (TSan does not model fences): each field is stored with
	 * release, so a reader that sees a new field value and then loads clock_seq (after its
	 * acquire fence or acquire loads) sees at least the odd value stored before it, and retries.
	 */
	dft_store_relaxed(&h->clock_seq, seq + 1);
	dft_store_release(&h->tick_shift, DFT_TICK_SHIFT);
	dft_store_release(&h->tick_mult, mult);
	dft_store_release(&h->tick_base, tick_base);
	dft_store_release(&h->ns_base, ns_base);
	dft_store_release(&h->tick_hz, hz);
	/* even again: pairs with the reader's first load-acquire of clock_seq */
	dft_store_release(&h->clock_seq, seq + 2);
}

/* Rate from (t0, m0) to now, anchored at now. */
static void dft_clock_measure_from(uint64_t t0, uint64_t m0)
{
	uint64_t t1, m1, tr, real, hz, mult;

	dft_clock_pair(CLOCK_MONOTONIC, &t1, &m1);
	dft_clock_pair(CLOCK_REALTIME, &tr, &real);
	if (t1 <= t0 || m1 <= m0)
		return; /* a clock went backwards (migration to a CPU with another TSC): keep the old one */
	hz = (uint64_t)((unsigned __int128)(t1 - t0) * 1000000000u / (m1 - m0));
	if (!hz)
		return;
	/* mult = 2^shift * ns per tick */
	mult = (uint64_t)(((unsigned __int128)(m1 - m0) << DFT_TICK_SHIFT) / (t1 - t0));
	dft_clock_publish(tr, real, mult, hz);
}

void dft_clock_calibrate_init(void)
{
	uint64_t t, m;

	dft_clock_pair(CLOCK_MONOTONIC, &dft_host.cal_tick0, &dft_host.cal_mono0);
	do {
		dft_clock_pair(CLOCK_MONOTONIC, &t, &m);
	} while (m - dft_host.cal_mono0 < DFT_CAL_INIT_NS);
	dft_clock_measure_from(dft_host.cal_tick0, dft_host.cal_mono0);
}

void dft_clock_recalibrate(void)
{
	dft_clock_measure_from(dft_host.cal_tick0, dft_host.cal_mono0);
}

void dft_clock_current(struct dft_clock_cal *out)
{
	const struct dft_region_hdr *h = dft_host.hdr;

	/*
	 * Our own header, whose only writer is our own thread, so this cannot stay odd for long. The
	 * same protocol as dft_clock_cal_read, with acquire loads in place of its fence: the
	 * re-check of clock_seq cannot move above them. [C1]
	 */
	for (;;) {
		uint32_t s1 = dft_load_acquire(&h->clock_seq);

		if (s1 & 1u)
			continue;
		out->tick_base = dft_load_acquire(&h->tick_base);
		out->ns_base = dft_load_acquire(&h->ns_base);
		out->tick_mult = dft_load_acquire(&h->tick_mult);
		out->tick_shift = dft_load_acquire(&h->tick_shift);
		if (dft_load_relaxed(&h->clock_seq) == s1)
			return;
	}
}
