/* SPDX-License-Identifier: MIT */
/*
 * Interned names: operation, component and attribute-key strings, referred to by 16-bit id in
 * slots. The table lives in the region so the daemon resolves ids itself; an entry is complete
 * before names_published covers it, and is never changed afterwards.
 *
 * Hop names arrive in request headers and are interned when a span ends, so finding a name that
 * exists already must not take the lock: an open-addressing index (private to the process) maps
 * a hash to ids. Names are append-only, so a slot of the index goes from 0 to an id once and
 * never changes again until the next dft_init.
 *   [N1] the region entry is written before names_published covers it (the daemon's acquire)
 *   [N2] the region entry is written before the index slot that names it is stored with release;
 *        a lock-free reader loads the slot with acquire and may then read the entry.
 * A reader that finds no id goes to the lock, which inserts or finds a name another thread
 * published in between.
 */
#include <string.h>

#include "dft/hash.h"
#include "host_internal.h"

/* twice the largest table, so a probe always ends at an empty slot within a few steps */
#define DFT_NAME_INDEX_SLOTS (2u * DFT_NAME_CAPACITY_MAX)

static uint16_t dft_name_index[DFT_NAME_INDEX_SLOTS];

_Static_assert((DFT_NAME_INDEX_SLOTS & (DFT_NAME_INDEX_SLOTS - 1)) == 0, "index size is a power of two");

void dft_names_reset(void)
{
	pthread_mutex_lock(&dft_host.name_lock);
	dft_host.names_count = 0;
	for (uint32_t i = 0; i < DFT_NAME_INDEX_SLOTS; i++)
		dft_store_relaxed(&dft_name_index[i], 0);
	pthread_mutex_unlock(&dft_host.name_lock);
}

/* names are short; the index only needs a fair spread */
static uint32_t dft_name_hash(const char *s, size_t len)
{
	return dft_fnv32(s, len, DFT_FNV32_INIT);
}

/*
 * Returns the id of s, or 0; *empty = the first empty index slot of the probe (where an insert
 * goes). Safe without the lock [N2].
 */
static uint16_t dft_name_find(const char *s, size_t len, uint32_t *empty)
{
	uint32_t mask = DFT_NAME_INDEX_SLOTS - 1, i = dft_name_hash(s, len) & mask;

	for (uint32_t step = 0; step < DFT_NAME_INDEX_SLOTS; step++, i = (i + 1) & mask) {
		uint16_t id = dft_load_acquire(&dft_name_index[i]); /* [N2] */
		const struct dft_name *n;

		if (!id) {
			*empty = i;
			return 0;
		}
		n = &dft_host.names[id - 1];
		if (n->len == len && memcmp(n->str, s, len) == 0)
			return id;
	}
	*empty = UINT32_MAX; /* cannot happen: the index holds at most half as many ids as slots */
	return 0;
}

/* Returns the id, or 0 for an empty or over-long name or a full table. dft_init calls it before
 * the library is live (for the component name), so it does not check live itself. */
uint16_t dft_name_intern_n(const char *s, size_t len)
{
	uint32_t slot;
	uint16_t id;

	if (!s || len == 0 || len > DFT_NAME_MAX)
		return 0;
	id = dft_name_find(s, len, &slot);
	if (likely(id))
		return id;
	pthread_mutex_lock(&dft_host.name_lock);
	id = dft_name_find(s, len, &slot);
	if (!id && slot != UINT32_MAX && dft_host.names_count < dft_host.name_capacity &&
	    dft_host.names_count < UINT16_MAX) {
		struct dft_name *n = &dft_host.names[dft_host.names_count];

		n->len = (uint16_t)len;
		memcpy(n->str, s, len);
		id = (uint16_t)++dft_host.names_count;
		dft_store_release(&dft_host.hdr->names_published, dft_host.names_count); /* [N1] */
		dft_store_release(&dft_name_index[slot], id);                            /* [N2] */
	}
	pthread_mutex_unlock(&dft_host.name_lock);
	return id;
}

uint16_t dft_name_intern(const char *s)
{
	if (!s)
		return 0;
	return dft_name_intern_n(s, strnlen(s, DFT_NAME_MAX + 1));
}

bool dft_name_str(uint16_t id, const char **s, size_t *len)
{
	/* [N1] from our side: an id below names_published has a complete entry */
	if (id == 0 || id > dft_load_acquire(&dft_host.hdr->names_published))
		return false;
	*s = dft_host.names[id - 1].str;
	*len = dft_host.names[id - 1].len;
	return true;
}

uint16_t dft_name(const char *name)
{
	if (!dft_load_acquire(&dft_host.live))
		return 0;
	return dft_name_intern(name);
}
