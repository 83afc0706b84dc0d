/* SPDX-License-Identifier: MIT */
/*
 * The NIC instance's epoch, and what a restarted instance takes over from the one before it.
 *
 * Every start draws a random 64-bit epoch. It travels in every batch header and in the HELLO, and
 * the collector keeps an account per (sender, epoch): a restarted NIC numbers its batches from 1
 * again without its sequences colliding with those of the instance that died, and the dead
 * instance's unacknowledged batches are charged to the dead instance (backend/src/epochs.c).
 * Random rather than stored: a stored counter needs a writable, durable place on the DPU and a
 * crash between reading and writing it reuses an epoch; 2^64 random values do not collide.
 *
 * Adoption: the host's ring counters (produced, dropped_full) count from the host's start, not
 * from this instance's. A ring whose tail is not 0 when this instance attaches was read before, by
 * an earlier instance, which already counted what it saw. This instance's account of such a ring
 * is what it saw itself: the spans it reads from the ring (valid or not, counted by the worker as
 * it decides each one) plus the host's drops since the attach (dropped_full, clamped, less its
 * value at the attach). Not the host's produced less a base: the host counts a span as produced
 * before it publishes it, so any base read while the host writes can be one span off per ring.
 * The spans waiting in the ring at the attach are counted as `adopted` (walked once, slot types
 * read once), so a reader can tell them from the earlier instance's losses. Only the mmap ingest
 * maps the ring where the worker can see its tail at attach; with the others a restarted NIC
 * counts the host's totals as before (docs/reliability.md).
 */
#include <errno.h>
#include <sys/random.h>

#include "ingest.h"
#include "nic.h"

uint64_t dft_nic_epoch;

int dft_nic_epoch_init(void)
{
	uint64_t e = 0;

	while (e == 0) {
		ssize_t n = getrandom(&e, sizeof(e), 0);

		if (n < 0 && errno != EINTR)
			return -errno;
		if (n >= 0 && n != (ssize_t)sizeof(e))
			return -EIO;
	}
	dft_nic_epoch = e;
	return 0;
}

void dft_nic_adopt_ring(struct dft_nic_ring_state *rs, const struct dft_ring_claims *cl)
{
	rs->adopted = true;
	rs->base_dropped = cl->dropped_full;
	/* the clamps move up from here, so a count below it cannot make this account negative; the
	 * produced clamp only bounds the other claims */
	rs->dropped_full = rs->base_dropped;
	rs->produced = cl->produced;
}

uint64_t dft_nic_ring_produced(const struct dft_nic_ring_state *rs)
{
	return rs->adopted ? rs->spans_taken + (rs->dropped_full - rs->base_dropped) : rs->produced;
}
