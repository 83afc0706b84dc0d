/* SPDX-License-Identifier: MIT */
/*
 * The OTLP/HTTP request body: spans copied out of the collector's batches into a self-contained
 * request (the batches are freed as soon as they are stored), then, on the sender thread, packed
 * with protobuf-c as an ExportTraceServiceRequest (proto/otlp_trace.proto) and gzipped.
 *
 * The mapping is the one of the OTLP JSON file (otlp_json.c): resource attributes service.name =
 * component and difftrace.component.kind; scope "difftrace"; span ids as big-endian bytes; kind
 * INTERNAL when the host left it unspecified; integer attributes as intValue, then
 * difftrace.queue_ns, difftrace.cold_start and difftrace.reconstructed when they apply.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "dft/abi.h"
#include "otlp_http.h"
#include "otlp_kind.h"
#include "otlp_trace.pb-c.h"

#define STR_MAX (256u << 20) /* string bytes of one request; a batch frame is at most 16 MiB */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 64;
	void *np;

	if (need <= *cap)
		return 0;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

int dft_otlp_req_init(struct dft_otlp_req *r)
{
	memset(r, 0, sizeof(*r));
	if (grow((void **)&r->str, &r->str_cap, 4096, 1))
		return -ENOMEM;
	r->str[0] = 0;
	r->str_len = 1;
	return 0;
}

void dft_otlp_req_reset(struct dft_otlp_req *r)
{
	r->n = 0;
	r->nattrs = 0;
	r->str_len = 1;
	r->next = NULL;
}

void dft_otlp_req_free(struct dft_otlp_req *r)
{
	free(r->recs);
	free(r->attrs);
	free(r->str);
	free(r->map);
	memset(r, 0, sizeof(*r));
}

/* Offset of batch string idx in r->str, copying it on its first use in this batch; 0 on failure. */
static uint32_t intern(struct dft_otlp_req *r, const Difftrace__SpanBatch *b, uint32_t idx)
{
	size_t len, at;

	if (r->map[idx])
		return r->map[idx] - 1;
	len = strlen(b->strings[idx]) + 1;
	at = r->str_len;
	if (at + len > STR_MAX || grow((void **)&r->str, &r->str_cap, at + len, 1))
		return 0;
	memcpy(r->str + at, b->strings[idx], len);
	r->str_len += len;
	r->map[idx] = (uint32_t)at + 1;
	return (uint32_t)at;
}

int dft_otlp_req_add(struct dft_otlp_req *r, const Difftrace__SpanBatch *b, size_t from, size_t to,
                     bool reconstructed)
{
	size_t n0 = r->n, a0 = r->nattrs, s0 = r->str_len, i, j, na = 0;

	for (i = from; i < to; i++)
		na += b->spans[i]->n_attrs;
	if (grow((void **)&r->recs, &r->cap, r->n + (to - from), sizeof(*r->recs)) ||
	    grow((void **)&r->attrs, &r->attrs_cap, r->nattrs + na, sizeof(*r->attrs)) ||
	    grow((void **)&r->map, &r->map_cap, b->n_strings ? b->n_strings : 1, sizeof(*r->map)))
		return -ENOMEM;
	memset(r->map, 0, b->n_strings * sizeof(*r->map));
	for (i = from; i < to; i++) {
		const Difftrace__Span *s = b->spans[i];
		struct dft_otlp_rec *o = &r->recs[r->n];

		memset(o->trace_id, 0, sizeof(o->trace_id));
		memcpy(o->trace_id, s->trace_id.data, s->trace_id.len < 16 ? s->trace_id.len : 16);
		o->span_id = s->span_id;
		o->parent_span_id = s->parent_span_id;
		o->start_ns = s->start_ns;
		o->end_ns = s->end_ns;
		o->queue_ns = s->queue_ns;
		o->service = intern(r, b, s->component);
		o->name = intern(r, b, s->operation);
		o->status_message = 0;
		if (!o->service || !o->name)
			goto undo;
		if (s->status_message && s->status_message[0]) {
			size_t len = strlen(s->status_message) + 1, at = r->str_len;

			if (at + len > STR_MAX || grow((void **)&r->str, &r->str_cap, at + len, 1))
				goto undo;
			memcpy(r->str + at, s->status_message, len);
			r->str_len += len;
			o->status_message = (uint32_t)at;
		}
		o->attr0 = (uint32_t)r->nattrs;
		o->n_attrs = (uint32_t)s->n_attrs;
		for (j = 0; j < s->n_attrs; j++) {
			uint32_t k = intern(r, b, s->attrs[j]->key);

			if (!k)
				goto undo;
			r->attrs[r->nattrs++] = (struct dft_otlp_attr){k, s->attrs[j]->value};
		}
		o->component_kind = (uint8_t)s->kind;
		o->span_kind = (uint8_t)s->span_kind;
		o->status = (uint8_t)s->status;
		o->cold_start = !!(s->flags & DFT_SF_COLD_START);
		o->reconstructed = reconstructed;
		r->n++;
	}
	return 0;
undo:
	r->n = n0;
	r->nattrs = a0;
	r->str_len = s0;
	return -E2BIG;
}

/* ---- packing */

/* The sender's packing memory, grown to the largest request and reused: fresh large blocks for every
 * request were page-faulted in and zeroed each time (a third of the sender's samples). */
struct dft_otlp_packer {
	size_t span_cap, kv_cap, group_cap, out_cap, gz_cap;
	Dftotlp__Span *spans;
	Dftotlp__Span **span_ptrs;
	Dftotlp__Status *status;
	uint8_t (*ids)[16]; /* span id, parent span id, big-endian */
	uint32_t *order;
	Dftotlp__KeyValue *kv;
	Dftotlp__KeyValue **kv_ptrs;
	Dftotlp__AnyValue *av;
	Dftotlp__ResourceSpans *rs;
	Dftotlp__ResourceSpans **rs_ptrs;
	Dftotlp__ScopeSpans *ss;
	Dftotlp__ScopeSpans **ss_ptrs;
	Dftotlp__Resource *res;
	Dftotlp__KeyValue *res_kv; /* 2 per resource */
	Dftotlp__KeyValue **res_kv_ptrs;
	Dftotlp__AnyValue *res_av;
	uint8_t *out;
	uint8_t *gz;
	z_stream z;
	bool z_ready;
};

int dft_otlp_packer_create(struct dft_otlp_packer **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void dft_otlp_packer_destroy(struct dft_otlp_packer *a)
{
	if (!a)
		return;
	free(a->spans);
	free(a->span_ptrs);
	free(a->status);
	free(a->ids);
	free(a->order);
	free(a->kv);
	free(a->kv_ptrs);
	free(a->av);
	free(a->rs);
	free(a->rs_ptrs);
	free(a->ss);
	free(a->ss_ptrs);
	free(a->res);
	free(a->res_kv);
	free(a->res_kv_ptrs);
	free(a->res_av);
	free(a->out);
	free(a->gz);
	if (a->z_ready)
		deflateEnd(&a->z);
	free(a);
}

/* Grows each array of one family to n elements (contents not kept). 0 or -ENOMEM. */
static int regrow(size_t *cap, size_t n, void **arrs[], const size_t sizes[], size_t count)
{
	if (n <= *cap)
		return 0;
	for (size_t i = 0; i < count; i++) {
		void *np = realloc(*arrs[i], n * sizes[i]);

		if (!np)
			return -ENOMEM;
		*arrs[i] = np;
	}
	*cap = n;
	return 0;
}

static int packer_fit(struct dft_otlp_packer *a, size_t n, size_t nkv, size_t ngroups)
{
	void **sp[] = {(void **)&a->spans, (void **)&a->span_ptrs, (void **)&a->status, (void **)&a->ids,
	               (void **)&a->order};
	const size_t sps[] = {sizeof(*a->spans), sizeof(*a->span_ptrs), sizeof(*a->status), sizeof(*a->ids),
	                      sizeof(*a->order)};
	void **kv[] = {(void **)&a->kv, (void **)&a->kv_ptrs, (void **)&a->av};
	const size_t kvs[] = {sizeof(*a->kv), sizeof(*a->kv_ptrs), sizeof(*a->av)};
	void **gr[] = {(void **)&a->rs, (void **)&a->rs_ptrs, (void **)&a->ss, (void **)&a->ss_ptrs, (void **)&a->res};
	const size_t grs[] = {sizeof(*a->rs), sizeof(*a->rs_ptrs), sizeof(*a->ss), sizeof(*a->ss_ptrs),
	                      sizeof(*a->res)};
	/* twice as many resource attributes as resources: sized by the same family at 2x */
	void **rk[] = {(void **)&a->res_kv, (void **)&a->res_kv_ptrs, (void **)&a->res_av};
	const size_t rks[] = {2 * sizeof(*a->res_kv), 2 * sizeof(*a->res_kv_ptrs), 2 * sizeof(*a->res_av)};
	size_t gcap = a->group_cap;

	if (regrow(&a->span_cap, n + 1, sp, sps, 5) || regrow(&a->kv_cap, nkv + 1, kv, kvs, 3) ||
	    regrow(&gcap, ngroups + 1, gr, grs, 5) || regrow(&a->group_cap, ngroups + 1, rk, rks, 3))
		return -ENOMEM;
	return 0;
}

static const struct dft_otlp_req *sort_req;

static int rec_cmp(const void *a, const void *b)
{
	const struct dft_otlp_rec *x = &sort_req->recs[*(const uint32_t *)a];
	const struct dft_otlp_rec *y = &sort_req->recs[*(const uint32_t *)b];
	int c = x->service == y->service ? 0 : strcmp(sort_req->str + x->service, sort_req->str + y->service);

	if (c)
		return c;
	if (x->component_kind != y->component_kind)
		return x->component_kind < y->component_kind ? -1 : 1;
	/* stable: arrival order within a resource */
	return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

static bool same_resource(const struct dft_otlp_req *r, const struct dft_otlp_rec *x, const struct dft_otlp_rec *y)
{
	return x->component_kind == y->component_kind &&
	       (x->service == y->service || !strcmp(r->str + x->service, r->str + y->service));
}

static void put_be64(uint8_t *d, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		d[i] = (uint8_t)v;
}

static void kv_int(Dftotlp__KeyValue *kv, Dftotlp__AnyValue *av, const char *key, int64_t v)
{
	*av = (Dftotlp__AnyValue)DFTOTLP__ANY_VALUE__INIT;
	av->value_case = DFTOTLP__ANY_VALUE__VALUE_INT_VALUE;
	av->int_value = v;
	*kv = (Dftotlp__KeyValue)DFTOTLP__KEY_VALUE__INIT;
	kv->key = (char *)key;
	kv->value = av;
}

static void kv_bool(Dftotlp__KeyValue *kv, Dftotlp__AnyValue *av, const char *key)
{
	*av = (Dftotlp__AnyValue)DFTOTLP__ANY_VALUE__INIT;
	av->value_case = DFTOTLP__ANY_VALUE__VALUE_BOOL_VALUE;
	av->bool_value = 1;
	*kv = (Dftotlp__KeyValue)DFTOTLP__KEY_VALUE__INIT;
	kv->key = (char *)key;
	kv->value = av;
}

static void kv_str(Dftotlp__KeyValue *kv, Dftotlp__AnyValue *av, const char *key, const char *v)
{
	*av = (Dftotlp__AnyValue)DFTOTLP__ANY_VALUE__INIT;
	av->value_case = DFTOTLP__ANY_VALUE__VALUE_STRING_VALUE;
	av->string_value = (char *)v;
	*kv = (Dftotlp__KeyValue)DFTOTLP__KEY_VALUE__INIT;
	kv->key = (char *)key;
	kv->value = av;
}

static void fill_span(const struct dft_otlp_req *r, const struct dft_otlp_rec *o, struct dft_otlp_packer *a, size_t k,
                      size_t *kvn)
{
	Dftotlp__Span *sp = &a->spans[k];
	size_t kv0 = *kvn, j;

	*sp = (Dftotlp__Span)DFTOTLP__SPAN__INIT;
	sp->trace_id = (ProtobufCBinaryData){16, (uint8_t *)o->trace_id};
	put_be64(a->ids[k], o->span_id);
	sp->span_id = (ProtobufCBinaryData){8, a->ids[k]};
	if (o->parent_span_id) {
		put_be64(a->ids[k] + 8, o->parent_span_id);
		sp->parent_span_id = (ProtobufCBinaryData){8, a->ids[k] + 8};
	}
	sp->name = r->str + o->name;
	/* as in the JSON file: a receiver MAY take UNSPECIFIED as INTERNAL; say so */
	sp->kind = (Dftotlp__Span__SpanKind)(o->span_kind ? o->span_kind : 1);
	sp->start_time_unix_nano = o->start_ns;
	sp->end_time_unix_nano = o->end_ns;
	for (j = 0; j < o->n_attrs; j++) {
		const struct dft_otlp_attr *at = &r->attrs[o->attr0 + j];

		kv_int(&a->kv[*kvn], &a->av[*kvn], r->str + at->key, at->value);
		(*kvn)++;
	}
	if (o->queue_ns > 0) {
		kv_int(&a->kv[*kvn], &a->av[*kvn], "difftrace.queue_ns", (int64_t)o->queue_ns);
		(*kvn)++;
	}
	if (o->cold_start) {
		kv_bool(&a->kv[*kvn], &a->av[*kvn], "difftrace.cold_start");
		(*kvn)++;
	}
	if (o->reconstructed) {
		kv_bool(&a->kv[*kvn], &a->av[*kvn], "difftrace.reconstructed");
		(*kvn)++;
	}
	for (j = kv0; j < *kvn; j++)
		a->kv_ptrs[j] = &a->kv[j];
	sp->n_attributes = *kvn - kv0;
	sp->attributes = sp->n_attributes ? &a->kv_ptrs[kv0] : NULL;
	a->status[k] = (Dftotlp__Status)DFTOTLP__STATUS__INIT;
	a->status[k].code = (Dftotlp__Status__StatusCode)o->status;
	if (o->status_message)
		a->status[k].message = r->str + o->status_message;
	sp->status = &a->status[k];
}

int dft_otlp_req_pack(struct dft_otlp_packer *a, const struct dft_otlp_req *r, const uint8_t **out, size_t *len)
{
	Dftotlp__ExportTraceServiceRequest req = DFTOTLP__EXPORT_TRACE_SERVICE_REQUEST__INIT;
	Dftotlp__InstrumentationScope scope = DFTOTLP__INSTRUMENTATION_SCOPE__INIT;
	size_t n = r->n, nkv = r->nattrs + 3 * r->n, ngroups = 0, kvn = 0, i, g;

	if (packer_fit(a, n, nkv, 0))
		return -ENOMEM;
	for (i = 0; i < n; i++)
		a->order[i] = (uint32_t)i;
	/* the sender thread is the only one packing: a file-scope comparator context is safe */
	sort_req = r;
	qsort(a->order, n, sizeof(*a->order), rec_cmp);
	for (i = 0; i < n; i++)
		ngroups += i == 0 || !same_resource(r, &r->recs[a->order[i]], &r->recs[a->order[i - 1]]);
	if (packer_fit(a, n, nkv, ngroups))
		return -ENOMEM;
	scope.name = "difftrace";
	for (i = 0, g = 0; i < n; i++) {
		const struct dft_otlp_rec *o = &r->recs[a->order[i]];

		if (i == 0 || !same_resource(r, o, &r->recs[a->order[i - 1]])) {
			Dftotlp__ResourceSpans *rs = &a->rs[g];

			kv_str(&a->res_kv[2 * g], &a->res_av[2 * g], "service.name", r->str + o->service);
			kv_str(&a->res_kv[2 * g + 1], &a->res_av[2 * g + 1], "difftrace.component.kind",
			       dft_component_kind_name((int)o->component_kind));
			a->res_kv_ptrs[2 * g] = &a->res_kv[2 * g];
			a->res_kv_ptrs[2 * g + 1] = &a->res_kv[2 * g + 1];
			a->res[g] = (Dftotlp__Resource)DFTOTLP__RESOURCE__INIT;
			a->res[g].n_attributes = 2;
			a->res[g].attributes = &a->res_kv_ptrs[2 * g];
			a->ss[g] = (Dftotlp__ScopeSpans)DFTOTLP__SCOPE_SPANS__INIT;
			a->ss[g].scope = &scope;
			a->ss[g].spans = &a->span_ptrs[i];
			a->ss_ptrs[g] = &a->ss[g];
			*rs = (Dftotlp__ResourceSpans)DFTOTLP__RESOURCE_SPANS__INIT;
			rs->resource = &a->res[g];
			rs->n_scope_spans = 1;
			rs->scope_spans = &a->ss_ptrs[g];
			a->rs_ptrs[g] = rs;
			g++;
		}
		fill_span(r, o, a, i, &kvn);
		a->span_ptrs[i] = &a->spans[i];
		a->ss[g - 1].n_spans++;
	}
	req.n_resource_spans = ngroups;
	req.resource_spans = a->rs_ptrs;
	*len = dftotlp__export_trace_service_request__get_packed_size(&req);
	if (*len + 1 > a->out_cap) {
		uint8_t *nb = realloc(a->out, *len + 1);

		if (!nb)
			return -ENOMEM;
		a->out = nb;
		a->out_cap = *len + 1;
	}
	dftotlp__export_trace_service_request__pack(&req, a->out);
	*out = a->out;
	return 0;
}

int dft_otlp_gzip(struct dft_otlp_packer *a, const uint8_t *in, size_t len, const uint8_t **out, size_t *out_len)
{
	uLong cap;

	/* windowBits 15 + 16: a gzip header and trailer instead of zlib's */
	if (!a->z_ready) {
		if (deflateInit2(&a->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
			return -ENOMEM;
		a->z_ready = true;
	} else if (deflateReset(&a->z) != Z_OK) {
		return -EIO;
	}
	cap = deflateBound(&a->z, (uLong)len) + 32;
	if (cap > a->gz_cap) {
		uint8_t *nb = realloc(a->gz, cap);

		if (!nb)
			return -ENOMEM;
		a->gz = nb;
		a->gz_cap = cap;
	}
	a->z.next_in = (Bytef *)in;
	a->z.avail_in = (uInt)len;
	a->z.next_out = a->gz;
	a->z.avail_out = (uInt)cap;
	if (deflate(&a->z, Z_FINISH) != Z_STREAM_END)
		return -EIO;
	*out = a->gz;
	*out_len = cap - a->z.avail_out;
	return 0;
}
