/* SPDX-License-Identifier: MIT */
/*
 * What the host-library unit tests read of the region the library built: the header, ring i, and
 * the one ring the calling thread claimed. Include after cmocka.h.
 */
#ifndef DFT_TEST_HOST_REGION_H
#define DFT_TEST_HOST_REGION_H

#include "dft/abi.h"
#include "region_internal.h"

static inline const struct dft_region_hdr *region(void)
{
	size_t len = 0;
	const struct dft_region_hdr *h = dft__region(&len);

	assert_non_null(h);
	assert_int_equal(len, h->region_size);
	return h;
}

static inline struct dft_ring_hdr *ring_at(const struct dft_region_hdr *h, uint32_t i)
{
	return dft_region_ring((void *)h, h->rings_off, h->ring_stride, i);
}

/* The ring the calling thread claimed: the only ACTIVE one in single-thread tests. */
static inline struct dft_ring_hdr *active_ring(const struct dft_region_hdr *h)
{
	struct dft_ring_hdr *found = NULL;

	for (uint32_t i = 0; i < h->ring_count; i++) {
		if (ring_at(h, i)->state == DFT_RING_ACTIVE) {
			assert_null(found);
			found = ring_at(h, i);
		}
	}
	assert_non_null(found);
	return found;
}

#endif /* DFT_TEST_HOST_REGION_H */
