/* SPDX-License-Identifier: MIT */
/*
 * The differential filter's rules (docs/filter.md). A span is kept when any enabled rule says so;
 * keep_reasons carries one bit per rule that did:
 *   function     its component is a user function
 *   error        status ERROR or DFT_SF_EXCEPTION
 *   keep         DFT_SF_KEEP (explicit keep through the API)
 *   cold_start   DFT_SF_COLD_START
 *   queueing     queue_ns above the absolute floor, or above a multiple of the component's queue p99
 *                once the component has min_samples observations
 *   outlier      self time (duration less the children seen on this NIC) above a margin under
 *                outlier_multiple x the (component, operation) median once the key has
 *                outlier_warmup samples; before that only the absolute ceiling applies
 *   contention   the component's metrics entry is over a threshold (contention.c)
 * The hold window adds `retro` later. The component kind is the span's own DFT_SF_KIND_* override,
 * else PLATFORM when the name is in --platform-components, else the kind the region declared.
 */
#include <string.h>

#include "filter.h"

static const char *const reason_names[DFT_KEEP_RULES] = {
	"function", "error", "keep", "cold_start", "queueing", "outlier", "contention", "retro",
};

const char *dft_keep_reason_name(unsigned bit)
{
	return bit < DFT_KEEP_RULES ? reason_names[bit] : "unknown";
}

bool dft_filter_weak_outlier(uint32_t keep, const struct dft_span_facts *x)
{
	uint64_t v = x->self_known ? x->self_ns : x->duration_ns;
	uint64_t def = x->self_known || !x->lim.wraps ? x->lim.self_def_ns : x->lim.duration_def_ns;

	if ((keep & ~DFT_KEEP_FUNCTION) != DFT_KEEP_OUTLIER)
		return false;
	/* the warm-up ceiling has no definition to fall short of */
	return def && v < def;
}

enum dft_kind dft_filter_kind(const struct dft_filter *f, const struct dft_span_rec *s, uint8_t region_kind,
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

uint32_t dft_filter_decide(const struct dft_filter *f, const struct dft_span_rec *s, const struct dft_span_facts *x)
{
	const struct dft_filter_cfg *c = &f->cfg;
	uint32_t keep = 0;

	if (c->keep_function && x->kind == DFT_KIND_FUNCTION)
		keep |= DFT_KEEP_FUNCTION;
	if (c->keep_error && (s->status == DFT_STATUS_ERROR || (s->flags & DFT_SF_EXCEPTION)))
		keep |= DFT_KEEP_ERROR;
	if (c->keep_explicit && (s->flags & DFT_SF_KEEP))
		keep |= DFT_KEEP_EXPLICIT;
	if (c->keep_cold_start && (s->flags & DFT_SF_COLD_START))
		keep |= DFT_KEEP_COLD_START;
	if (c->queueing && ((c->queue_floor_ns && s->queue_ns > c->queue_floor_ns) ||
			    (x->lim.queue_ns && s->queue_ns > x->lim.queue_ns)))
		keep |= DFT_KEEP_QUEUEING;
	if (c->outlier) {
		uint64_t v = x->duration_ns, limit;

		if (x->self_known) {
			v = x->self_ns;
			limit = x->lim.self_ns;
		} else {
			/* children unseen: a leaf key's self time is its duration; a wrapping key's span
			 * (its child went to another NIC, or comes later) is judged whole against the
			 * whole durations of its key */
			limit = x->lim.wraps ? x->lim.duration_ns : x->lim.self_ns;
		}
		/* warm-up policy: without a profile of enough samples only the absolute ceiling judges */
		if (!limit) {
			v = x->duration_ns;
			limit = c->outlier_ceiling_ns;
		}
		if (limit && v > limit)
			keep |= DFT_KEEP_OUTLIER;
	}
	if (c->contention && x->contended)
		keep |= DFT_KEEP_CONTENTION;
	return keep;
}
