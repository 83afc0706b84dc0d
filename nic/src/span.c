/* SPDX-License-Identifier: MIT */
/* Decoding a slot of a mapped region without a per-region cache (span.h). */
#include "names.h"
#include "span.h"

struct mapped {
	const void *base;
	const struct dft_region_geom *g;
	uint32_t names_published;
	struct dft_names *names;
};

static uint32_t mapped_gname(void *arg, uint16_t id)
{
	const struct mapped *m = arg;
	char name[DFT_NAME_MAX + 1];

	/* an unnamed region component or hop operation, or one not published: the empty name */
	if (dft_name_read(m->base, m->g, m->names_published, id, name, sizeof(name)) < 0)
		name[0] = 0;
	return dft_names_intern(m->names, name);
}

void dft_span_decode_mapped(const struct dft_slot *s, const struct dft_slot *cont, const void *base,
			    const struct dft_region_geom *g, uint32_t names_published, const struct dft_clock_cal *cal,
			    struct dft_names *names, struct dft_span_rec *rec)
{
	struct mapped m = {.base = base, .g = g, .names_published = names_published, .names = names};

	dft_span_decode(s, cont, g, cal, mapped_gname, &m, rec);
}
