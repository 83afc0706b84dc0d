/* SPDX-License-Identifier: MIT */
/*
 * The hop header at the library's surface: the `dft` entry of W3C tracestate, read into the public
 * struct dft_hop_list and written back with this component's hop appended. The wire format and the
 * tracestate list handling are shared/src/hops.c (compiled into this library, hidden).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "dft/hops.h"
#include "host_internal.h"

_Static_assert(DFT_HOP_LIST_MAX == DFT_HOPS_MAX, "public hop list holds what the header may carry");
_Static_assert(DFT_HOP_NAME_LEN == DFT_HOP_NAME_MAX, "public hop names are the header's names");

static void dft_hops_count(uint64_t *counter, unsigned n)
{
	if (n)
		__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

int dft_tracestate_extract(const char *ts, size_t len, struct dft_hop_list *out)
{
	struct dft_hop_rec rec[DFT_HOPS_MAX];
	const char *val;
	size_t vlen;
	unsigned cut = 0;
	int n;

	if (!out)
		return -EINVAL;
	memset(out, 0, offsetof(struct dft_hop_list, hop));
	if (!ts)
		return len ? -EINVAL : 0;
	len = strnlen(ts, len);
	n = dft_tracestate_get(ts, len, DFT_HOPS_KEY, &val, &vlen);
	if (n == -ENOENT)
		return 0;
	if (n < 0)
		goto malformed;
	/*
	 * A value is at most 256 characters (192 bytes) and a hop takes at least 12 of them, so the
	 * decoder cannot find more than DFT_HOPS_MAX; should it, it keeps the first ones and says how
	 * many it cut.
	 */
	n = dft_hops_decode(val, vlen, rec, DFT_HOPS_MAX, &cut);
	if (n < 0)
		goto malformed;
	for (int i = 0; i < n; i++) {
		struct dft_hop_entry *e = &out->hop[i];

		e->parent_span_id = rec[i].parent_span_id;
		e->span_id = rec[i].span_id;
		e->start_ns = rec[i].start_ns;
		e->component_len = rec[i].comp_len;
		e->operation_len = rec[i].op_len;
		memcpy(e->component, rec[i].comp, sizeof(e->component));
		memcpy(e->operation, rec[i].op, sizeof(e->operation));
	}
	out->n = (uint8_t)n;
	out->cut = (uint8_t)(cut > UINT8_MAX ? UINT8_MAX : cut);
	dft_hops_count(&dft_host.hops_cut, cut);
	return 0;

malformed:
	dft_hops_count(&dft_host.hops_malformed, 1);
	return -EINVAL;
}

/* This component's hop from the span: 0, -EINVAL or -ENAMETOOLONG. */
static int dft_hop_of_span(const struct dft_span *sp, struct dft_hop_rec *r)
{
	uint16_t comp = sp->component_id ? sp->component_id : dft_host.hdr->component_id;
	const char *cs, *os = NULL;
	size_t cl, ol = 0;

	if (!dft_name_str(comp, &cs, &cl) || (sp->op_id && !dft_name_str(sp->op_id, &os, &ol)))
		return -EINVAL;
	if (cl > DFT_HOP_NAME_MAX || ol > DFT_HOP_NAME_MAX)
		return -ENAMETOOLONG;
	memset(r, 0, sizeof(*r));
	/* used only when ours is the first hop; otherwise the chain says the previous hop */
	r->parent_span_id = sp->parent_span_id;
	r->span_id = sp->span_id;
	r->start_ns = sp->start;
	if (!(sp->flags & DFT_SF_TS_NS)) {
		struct dft_clock_cal cal;

		dft_clock_current(&cal);
		r->start_ns = dft_ticks_to_ns(&cal, sp->start);
	}
	r->comp_len = (uint8_t)cl;
	r->op_len = (uint8_t)ol;
	memcpy(r->comp, cs, cl);
	if (ol)
		memcpy(r->op, os, ol);
	return 0;
}

int dft_tracestate_inject(const struct dft_hop_list *incoming, const struct dft_span *sp, const char *incoming_ts,
                          size_t ts_len, char *out, size_t cap)
{
	struct dft_hop_rec rec[DFT_HOPS_MAX];
	char val[DFT_HOPS_VALUE_MAX + 1];
	unsigned n_in = incoming ? incoming->n : 0, first = 0, n = 0, left = 0;
	int len;

	if (!sp || !out || !dft_load_acquire(&dft_host.live) || n_in > DFT_HOP_LIST_MAX)
		return -EINVAL;
	/* ours is the newest: the oldest incoming hops make room for it */
	if (n_in + 1 > DFT_HOPS_MAX)
		first = n_in + 1 - DFT_HOPS_MAX;
	for (unsigned i = first; i < n_in; i++) {
		const struct dft_hop_entry *e = &incoming->hop[i];
		struct dft_hop_rec *r = &rec[n++];

		/* the list is the caller's memory: a hop the next component would reject is not sent */
		if (e->component_len == 0 || e->component_len > DFT_HOP_NAME_MAX ||
		    e->operation_len > DFT_HOP_NAME_MAX || e->span_id == 0)
			return -EINVAL;
		r->parent_span_id = e->parent_span_id;
		r->span_id = e->span_id;
		r->start_ns = e->start_ns;
		r->comp_len = e->component_len;
		r->op_len = e->operation_len;
		memcpy(r->comp, e->component, e->component_len);
		memcpy(r->op, e->operation, e->operation_len);
	}
	len = dft_hop_of_span(sp, &rec[n]);
	if (len)
		return len;
	n++;
	len = dft_hops_encode(rec, n, val, sizeof(val), &left);
	if (len < 0)
		return len;
	len = dft_tracestate_put(incoming_ts, incoming_ts ? strnlen(incoming_ts, ts_len) : 0, DFT_HOPS_KEY, val,
	                         (size_t)len, out, cap);
	if (len < 0)
		return len;
	dft_hops_count(&dft_host.hops_cut, first + left);
	return len;
}
