/* SPDX-License-Identifier: MIT */
/*
 * The NIC-global name table: the same component runs in many processes whose regions number their
 * names differently, so the worker maps each region-local name id onto one id here (and caches the
 * mapping per region: names never change once published). Profiles, keep decisions and batches
 * all speak these ids. Fixed-size open-addressing hash allocated at start; a name that does not fit
 * is counted, never allocated for.
 */
#ifndef DFT_NIC_NAMES_H
#define DFT_NIC_NAMES_H

#include <stdint.h>

struct dft_names;
/* A table of at most cap names (ids 1..cap). 0/-ENOMEM. */
int dft_names_create(uint32_t cap, struct dft_names **out);
void dft_names_destroy(struct dft_names *n);
/* Id of s (at most DFT_NAME_MAX bytes are used), added when new; 0 when the table is full (counted). */
uint32_t dft_names_intern(struct dft_names *n, const char *s);
/* The name of id; "" for 0 or an id never handed out. */
const char *dft_names_str(const struct dft_names *n, uint32_t id);
uint32_t dft_names_count(const struct dft_names *n);
uint64_t dft_names_full(const struct dft_names *n);

#endif /* DFT_NIC_NAMES_H */
