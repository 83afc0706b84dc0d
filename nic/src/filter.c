/* SPDX-License-Identifier: MIT */
/*
 * The skeleton differential filter. A span is kept when
 *   its component is a user function (DFT_KEEP_FUNCTION),
 *   it failed: status ERROR or DFT_SF_EXCEPTION (DFT_KEEP_ERROR),
 *   the application asked for it with DFT_SF_KEEP (DFT_KEEP_EXPLICIT);
 * every other (platform) span is filtered and counted. The component kind is the span's own
 * DFT_SF_KIND_* override when set, else PLATFORM when the component's name is in
 * --platform-components, else the kind the region declared.
 */
#include <string.h>

#include "nic.h"

enum dft_kind dft_filter_kind(const struct dft_filter *f, const struct dft_slot *s, uint8_t region_kind,
			      const char *comp)
{
	if (s->flags & DFT_SF_KIND_FUNCTION)
		return DFT_KIND_FUNCTION;
	if (s->flags & DFT_SF_KIND_PLATFORM)
		return DFT_KIND_PLATFORM;
	for (unsigned i = 0; f && comp && i < f->n_platform; i++)
		if (!strcmp(f->platform[i], comp))
			return DFT_KIND_PLATFORM;
	return region_kind <= DFT_KIND_FUNCTION ? (enum dft_kind)region_kind : DFT_KIND_UNKNOWN;
}

uint32_t dft_filter_decide(const struct dft_slot *s, enum dft_kind kind)
{
	uint32_t keep = 0;

	if (kind == DFT_KIND_FUNCTION)
		keep |= DFT_KEEP_FUNCTION;
	if (s->status == DFT_STATUS_ERROR || (s->flags & DFT_SF_EXCEPTION))
		keep |= DFT_KEEP_ERROR;
	if (s->flags & DFT_SF_KEEP)
		keep |= DFT_KEEP_EXPLICIT;
	return keep;
}
