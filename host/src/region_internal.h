/* SPDX-License-Identifier: MIT */
/*
 * Test-only access to the region of the current dft_init(). The symbol is hidden in the shared
 * library; unit tests link libdifftrace.a to reach it.
 */
#ifndef DFT_REGION_INTERNAL_H
#define DFT_REGION_INTERNAL_H

#include <stddef.h>

/* The mapped region and its size, or NULL when the library is not initialised. */
const void *dft__region(size_t *len);

#endif /* DFT_REGION_INTERNAL_H */
