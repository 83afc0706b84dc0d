/* SPDX-License-Identifier: MIT */
/* The latest profile per (component, operation) (profiles.c). */
#ifndef DFT_PROFILES_H
#define DFT_PROFILES_H

#include <stdint.h>

#include "difftrace.pb-c.h"

struct dft_profile {
	char *component; /* NULL: slot free */
	char *operation;
	uint64_t created_ns;
	uint64_t count, kept, filtered;
	uint64_t duration_p50_ns, duration_p99_ns, queue_p99_ns, self_time_ns;
	uint32_t name_hash; /* dft_hops_name_hash(component, operation), set by the table */
};

#define DFT_PROFILE_SENDERS 64u /* senders whose latest snapshot time is remembered */

struct dft_profiles {
	struct dft_profile *tab;
	uint32_t cap; /* power of two, >= 2 * max */
	uint32_t count;
	uint32_t max;
	uint64_t cut; /* updates for a new (component, operation) while the table was full */
	struct {
		uint64_t sender_id, created_ns;
	} through[DFT_PROFILE_SENDERS]; /* the newest snapshot seen from each sender */
	uint32_t n_through;
};

int dft_profiles_init(struct dft_profiles *p, uint32_t max);
void dft_profiles_destroy(struct dft_profiles *p);
/* Keeps v (component/operation copied) unless the entry held is newer. 0, -ENOSPC (cut) or -ENOMEM. */
int dft_profiles_put(struct dft_profiles *p, const struct dft_profile *v);
const struct dft_profile *dft_profiles_get(const struct dft_profiles *p, const char *component, const char *operation);
/* The entry a hop's name hash names (the first one should two names share a hash), or NULL. */
const struct dft_profile *dft_profiles_get_hash(const struct dft_profiles *p, uint32_t hash);
/* The creation time of the newest snapshot seen from sender (0: none remembered). */
uint64_t dft_profiles_through(const struct dft_profiles *p, uint64_t sender_id);
/* Every entry of every Profile of a validated batch. */
void dft_profiles_put_batch(struct dft_profiles *p, const Difftrace__SpanBatch *b);

#endif /* DFT_PROFILES_H */
