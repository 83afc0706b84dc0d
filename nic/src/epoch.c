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
 * an earlier instance, which already counted what it saw. This instance's account of the ring
 * starts at the attach: its base is the host's produced less the spans still waiting in the ring
 * (those are this instance's to read and report), and the host's dropped_full. The waiting spans
 * are counted as `adopted`, so a reader can tell them from the earlier instance's losses. Only
 * the mmap ingest maps the ring where the worker can walk it at attach; with the others a
 * restarted NIC counts the host's totals as before (docs/reliability.md).
 */
#include <errno.h>
#include <sys/random.h>

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

uint64_t dft_nic_adopt_ring(struct dft_nic_ring_state *rs, uint32_t ring_slots)
{
	const struct dft_ring_hdr *h = rs->cons.hdr;
	uint64_t tail = rs->cons.tail, head, produced, spans = 0;

	if (tail == 0)
		return 0; /* never read: the host's counters are all this instance's */
	head = dft_load_acquire(&h->head);
	/* the host's claims, read once; a head outside the ring adopts nothing (the ring is corrupt
	 * and will be resynchronised by the ingest like any other) */
	if (head - tail <= ring_slots) {
		for (uint64_t pos = tail; pos < head;) {
			const struct dft_slot *sl = &rs->cons.slots[pos & rs->cons.mask];
			uint8_t type = __atomic_load_n(&sl->type, __ATOMIC_RELAXED);
			uint8_t n_cont = __atomic_load_n(&sl->n_cont, __ATOMIC_RELAXED);

			spans += type == DFT_SLOT_SPAN;
			pos += 1u + (type == DFT_SLOT_SPAN ? n_cont : 0u);
		}
	}
	produced = dft_load_relaxed(&h->produced);
	rs->base_produced = produced > spans ? produced - spans : 0;
	rs->base_dropped = dft_load_relaxed(&h->dropped_full);
	/* the clamps move up from the base, so a count below it cannot make this account negative */
	rs->produced = rs->base_produced;
	rs->dropped_full = rs->base_dropped;
	return spans;
}
