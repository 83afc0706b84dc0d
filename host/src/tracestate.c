/* SPDX-License-Identifier: MIT */
/*
 * The hop header at the library's surface: the `dft` entry of W3C tracestate, read into the public
 * struct dft_hop_list, extended with this component's spans and written back. The wire format and the
 * tracestate list handling are shared/src/hops.c (compiled into this library, hidden).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "dft/hops.h"
#include "host_internal.h"

_Static_assert(DFT_HOP_LIST_MAX == DFT_HOPS_MAX, "public hop list holds what the header may carry");

static void dft_hops_count(uint64_t *counter, unsigned n)
{
	if (n)
		__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

uint32_t dft_hop_name_hash(const char *component, const char *operation)
{
	return dft_hops_name_hash(component, component ? strlen(component) : 0, operation,
	                          operation ? strlen(operation) : 0);
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
	 * A value is at most 256 characters (192 bytes) and a hop takes at least 14 bytes, so the
	 * decoder cannot find more than DFT_HOPS_MAX; should it, it keeps the first ones and says how
	 * many it cut.
	 */
	n = dft_hops_decode(val, vlen, rec, DFT_HOPS_MAX, &cut);
	if (n < 0)
		goto malformed;
	for (int i = 0; i < n; i++)
		out->hop[i] = (struct dft_hop_entry){.parent_span_id = rec[i].parent_span_id,
		                                     .span_id = rec[i].span_id,
		                                     .start_ns = rec[i].start_ns,
		                                     .name_hash = rec[i].name_hash};
	out->n = (uint8_t)n;
	out->cut = (uint8_t)(cut > UINT8_MAX ? UINT8_MAX : cut);
	dft_hops_count(&dft_host.hops_cut, cut);
	return 0;

malformed:
	dft_hops_count(&dft_host.hops_malformed, 1);
	return -EINVAL;
}

/* sp's hop: 0 or -EINVAL (names unknown, zero span id). */
static int dft_hop_of_span(const struct dft_span *sp, struct dft_hop_entry *e)
{
	uint16_t comp = sp->component_id ? sp->component_id : dft_host.hdr->component_id;
	const char *cs, *os = NULL;
	size_t cl, ol = 0;

	if (!sp->span_id || !dft_name_str(comp, &cs, &cl) || (sp->op_id && !dft_name_str(sp->op_id, &os, &ol)))
		return -EINVAL;
	memset(e, 0, sizeof(*e));
	e->parent_span_id = sp->parent_span_id;
	e->span_id = sp->span_id;
	e->start_ns = sp->start;
	if (!(sp->flags & DFT_SF_TS_NS)) {
		struct dft_clock_cal cal;

		dft_clock_current(&cal);
		e->start_ns = dft_ticks_to_ns(&cal, sp->start);
	}
	e->name_hash = dft_hops_name_hash(cs, cl, os, ol);
	return 0;
}

int dft_hop_list_add(struct dft_hop_list *l, const struct dft_span *sp)
{
	struct dft_hop_entry e;
	int rc;

	if (!l || !sp || !dft_load_acquire(&dft_host.live) || l->n > DFT_HOP_LIST_MAX)
		return -EINVAL;
	rc = dft_hop_of_span(sp, &e);
	if (rc)
		return rc;
	if (l->n == DFT_HOP_LIST_MAX) {
		/* the oldest hop is the farthest from the function: it goes first */
		memmove(&l->hop[0], &l->hop[1], (DFT_HOP_LIST_MAX - 1) * sizeof(l->hop[0]));
		l->n--;
		if (l->cut < UINT8_MAX)
			l->cut++;
		dft_hops_count(&dft_host.hops_cut, 1);
	}
	l->hop[l->n++] = e;
	return 0;
}

int dft_tracestate_inject(const struct dft_hop_list *hops, const struct dft_span *sp, const char *incoming_ts,
                          size_t ts_len, char *out, size_t cap)
{
	struct dft_hop_rec rec[DFT_HOPS_MAX + 1];
	char val[DFT_HOPS_VALUE_MAX + 1];
	unsigned n_in = hops ? hops->n : 0, n = 0, left = 0;
	int len;

	if (!out || !dft_load_acquire(&dft_host.live) || n_in > DFT_HOP_LIST_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < n_in; i++) {
		const struct dft_hop_entry *e = &hops->hop[i];

		/* the list is the caller's memory: a hop the next component would reject is not sent */
		if (e->span_id == 0)
			return -EINVAL;
		rec[n++] = (struct dft_hop_rec){.parent_span_id = e->parent_span_id,
		                                .span_id = e->span_id,
		                                .start_ns = e->start_ns,
		                                .name_hash = e->name_hash};
	}
	if (sp) {
		struct dft_hop_entry e;

		len = dft_hop_of_span(sp, &e);
		if (len)
			return len;
		rec[n++] = (struct dft_hop_rec){
		    .parent_span_id = e.parent_span_id, .span_id = e.span_id, .start_ns = e.start_ns, .name_hash = e.name_hash};
	}
	if (n == 0)
		return -EINVAL; /* nothing to send */
	/* the encoder leaves the oldest out when they do not fit; more than the header's maximum never do */
	{
		unsigned first = n > DFT_HOPS_MAX ? n - DFT_HOPS_MAX : 0;

		len = dft_hops_encode(rec + first, n - first, val, sizeof(val), &left);
		left += first;
	}
	if (len < 0)
		return len;
	len = dft_tracestate_put(incoming_ts, incoming_ts ? strnlen(incoming_ts, ts_len) : 0, DFT_HOPS_KEY, val,
	                         (size_t)len, out, cap);
	if (len < 0)
		return len;
	dft_hops_count(&dft_host.hops_cut, left);
	return len;
}
