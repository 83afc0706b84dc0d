/* SPDX-License-Identifier: MIT */
/*
 * Interned names: operation, component and attribute-key strings, referred to by 16-bit id in
 * slots. The table lives in the region so the daemon resolves ids itself; an entry is complete
 * before names_published covers it, and is never changed afterwards.
 */
#include <string.h>

#include "host_internal.h"

void dft_names_reset(void)
{
	pthread_mutex_lock(&dft_host.name_lock);
	dft_host.names_count = 0;
	pthread_mutex_unlock(&dft_host.name_lock);
}

static uint16_t dft_name_find(const char *s, size_t len)
{
	for (uint32_t i = 0; i < dft_host.names_count; i++) {
		const struct dft_name *n = &dft_host.names[i];

		if (n->len == len && memcmp(n->str, s, len) == 0)
			return (uint16_t)(i + 1);
	}
	return 0;
}

/* Returns the id, or 0 for an empty or over-long name or a full table. dft_init calls it before
 * the library is live (for the component name), so it does not check live itself. */
uint16_t dft_name_intern(const char *s)
{
	size_t len;
	uint16_t id;

	if (!s)
		return 0;
	len = strnlen(s, DFT_NAME_MAX + 1);
	if (len == 0 || len > DFT_NAME_MAX)
		return 0;
	pthread_mutex_lock(&dft_host.name_lock);
	id = dft_name_find(s, len);
	if (!id && dft_host.names_count < dft_host.name_capacity && dft_host.names_count < UINT16_MAX) {
		struct dft_name *n = &dft_host.names[dft_host.names_count];

		n->len = (uint16_t)len;
		memcpy(n->str, s, len);
		id = (uint16_t)++dft_host.names_count;
		/* [N1] the entry is written before the daemon may read it (it loads names_published
		 * with acquire) */
		dft_store_release(&dft_host.hdr->names_published, dft_host.names_count);
	}
	pthread_mutex_unlock(&dft_host.name_lock);
	return id;
}

uint16_t dft_name(const char *name)
{
	if (!dft_load_acquire(&dft_host.live))
		return 0;
	return dft_name_intern(name);
}
