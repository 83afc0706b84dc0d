/* SPDX-License-Identifier: MIT */
/*
 * The NIC's span record: a validated slot decoded once, decoupled from its region (names are
 * NIC-global ids, times unix ns), and what the filter, the hold window and the batch builder all
 * consume. A slot's ticks are converted here and nowhere else.
 */
#ifndef DFT_NIC_SPAN_H
#define DFT_NIC_SPAN_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "dft/abi.h"
#include "dft/clock.h"
#include "dft/validate.h"

struct dft_span_rec {
	uint8_t trace_id[DFT_TRACE_ID_LEN];
	uint64_t span_id, parent_span_id, start_ns, end_ns, instance_id;
	int64_t attr_val[DFT_SLOT_ATTRS];
	uint32_t comp, op, attr_key[DFT_SLOT_ATTRS];
	uint32_t queue_ns, pid, keep_reasons;
	int32_t prof_key; /* -1 = none */
	uint8_t tenant;   /* of the region the span came from */
	bool weak;        /* kept as an outlier only inside the threshold's margin: proves nothing */
	uint16_t flags;
	uint8_t status, span_kind, n_attrs, kind;
	/* continuation slots (hops, a status message; checked by dft_conts_validate): the burst's private
	 * copies, valid until the span is batched. A held span has none (the hold window takes only
	 * spans without), so a record that outlives its burst never points into it. */
	uint8_t n_cont;
	const struct dft_slot *cont;
};

/* Region-local name id -> NIC-global id (0: none; the caller counts why). */
typedef uint32_t (*dft_gname_fn)(void *arg, uint16_t local_id);

static inline uint64_t dft_span_ns(const struct dft_slot *s, const struct dft_clock_cal *cal, uint64_t t)
{
	return (s->flags & DFT_SF_TS_NS) ? t : dft_ticks_to_ns(cal, t);
}

/*
 * Decode a validated slot s (cont: its s->n_cont continuation slots) of the region described by g
 * into rec. Names through gname (inline, so a constant gname is a direct call); an end before the
 * start (a calibration step between the two) is raised to the start. kind is the region's until
 * the filter decides; keep_reasons 0, prof_key -1, tenant 0: the caller sets what it knows.
 */
static inline void dft_span_decode(const struct dft_slot *s, const struct dft_slot *cont,
				   const struct dft_region_geom *g, const struct dft_clock_cal *cal, dft_gname_fn gname,
				   void *arg, struct dft_span_rec *rec)
{
	memcpy(rec->trace_id, s->trace_id, DFT_TRACE_ID_LEN);
	rec->span_id = s->span_id;
	rec->parent_span_id = s->parent_span_id;
	rec->start_ns = dft_span_ns(s, cal, s->start);
	rec->end_ns = dft_span_ns(s, cal, s->end);
	if (rec->end_ns < rec->start_ns)
		rec->end_ns = rec->start_ns;
	rec->instance_id = g->instance_id;
	rec->pid = g->pid;
	rec->comp = gname(arg, s->component_id ? s->component_id : g->component_id);
	rec->op = gname(arg, s->op_id);
	rec->n_attrs = s->n_attrs <= DFT_SLOT_ATTRS ? s->n_attrs : DFT_SLOT_ATTRS;
	for (unsigned a = 0; a < rec->n_attrs; a++) {
		rec->attr_key[a] = gname(arg, s->attr_key[a]);
		rec->attr_val[a] = s->attr_val[a];
	}
	rec->queue_ns = s->queue_ns;
	rec->flags = s->flags;
	rec->status = s->status;
	rec->span_kind = s->span_kind;
	rec->kind = g->component_kind;
	rec->keep_reasons = 0;
	rec->prof_key = -1;
	rec->tenant = 0;
	rec->weak = false;
	rec->n_cont = s->n_cont;
	rec->cont = s->n_cont ? cont : NULL;
}

struct dft_names;
/*
 * dft_span_decode for callers that hold a mapped region and no per-region name cache (tests,
 * benchmarks, tools): each name is read with dft_name_read (ids up to names_published) and
 * interned in names.
 */
void dft_span_decode_mapped(const struct dft_slot *s, const struct dft_slot *cont, const void *base,
			    const struct dft_region_geom *g, uint32_t names_published, const struct dft_clock_cal *cal,
			    struct dft_names *names, struct dft_span_rec *rec);

#endif /* DFT_NIC_SPAN_H */
