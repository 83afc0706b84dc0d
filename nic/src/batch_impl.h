/* SPDX-License-Identifier: MIT */
/* The batch's layout, shared by the builder (batch.c) and the encoder (batch_pack.c) only. */
#ifndef DFT_NIC_BATCH_IMPL_H
#define DFT_NIC_BATCH_IMPL_H

#include "batch.h"
#include "tenant.h"

#define STR_LEN (DFT_NAME_MAX + 1)
#define HOPS_PER_SPAN_AVG 4u
#define NAME_CACHE 64u /* NIC-global name id -> string index, direct-mapped, per batch */

struct name_cache_entry {
	uint32_t id;  /* 0 = empty */
	uint32_t idx; /* string index */
};

struct dft_batch {
	uint32_t cap, n_spans;
	uint32_t hop_cap, n_hops;
	uint32_t str_cap, n_strings, hash_size;
	uint64_t open_tsc;
	uint32_t n_entries;
	uint32_t tenants[DFT_NIC_MAX_TENANTS]; /* spans per tenant: who gains or loses with the batch */
	Difftrace__Span *spans;
	Difftrace__Span **span_ptrs;
	Difftrace__Attr *attrs;
	Difftrace__Attr **attr_ptrs;
	Difftrace__Hop *hops;
	Difftrace__Hop **hop_ptrs;
	uint8_t (*trace_ids)[DFT_TRACE_ID_LEN];
	char (*msgs)[DFT_STATUS_MSG_MAX + 1]; /* per span: its status message, validated */
	char *arena;      /* str_cap * STR_LEN */
	char **strings;
	uint32_t *str_len;  /* per string: its length (the encoder's size pass) */
	uint32_t *span_len; /* per span: its encoded body size (between pack's two passes) */
	uint32_t *hash;   /* string index + 1, 0 = empty */
	/* a profile batch (dft_batch_profile) carries one Profile and no spans */
	Difftrace__Profile profile;
	Difftrace__Profile *profile_ptr;
	Difftrace__ProfileEntry *entries;
	Difftrace__ProfileEntry **entry_ptrs;
	struct name_cache_entry nc[NAME_CACHE]; /* names already in the string table */
};

#endif /* DFT_NIC_BATCH_IMPL_H */
