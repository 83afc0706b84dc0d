/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "batch_impl.h"
#include "epoch.h"

/*
 * The SpanBatch encoder. protobuf-c's generic packer walks the descriptor of every field of every
 * span twice (size, then pack): ~250 ns per span, more than the rest of the NIC pipeline. The spans
 * and the string table are written here by hand for this one schema (proto/difftrace.proto), in
 * the bytes protobuf-c would write: fields in field-number order, proto3 zero values left out,
 * int32 enums as sign-extended varints. The header and profiles (one each per batch at most) still
 * go through protobuf-c. tests/unit/test_batch.c checks every batch it builds against protobuf-c's
 * own encoding of the decoded message, byte for byte.
 */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "fixed64/fixed32 are copied little-endian");

static inline size_t vsize(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static inline uint8_t *vput(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

static inline uint64_t enum_wire(int v)
{
	return (uint64_t)(int64_t)v; /* int32: a negative value is ten bytes, as protobuf-c writes it */
}

static inline uint64_t zigzag64(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* optional scalar fields with one-byte tags: the size of tag + varint when v != 0 */
#define VSZ(v) ((v) ? 1 + vsize(v) : 0)
#define F64SZ(v) ((v) ? 9 : 0)

static inline size_t attr_body(const Difftrace__Attr *a)
{
	return VSZ(a->key) + VSZ(zigzag64(a->value));
}

static inline size_t hop_body(const Difftrace__Hop *h)
{
	return F64SZ(h->span_id) + F64SZ(h->start_ns) + F64SZ(h->parent_span_id) + (h->name_hash ? 5 : 0);
}

static size_t span_body(const Difftrace__Span *sp)
{
	size_t n = 0;

	if (sp->trace_id.len)
		n += 1 + vsize(sp->trace_id.len) + sp->trace_id.len;
	n += F64SZ(sp->span_id) + F64SZ(sp->parent_span_id) + F64SZ(sp->start_ns) + F64SZ(sp->end_ns);
	n += VSZ(sp->component) + VSZ(sp->operation) + VSZ(enum_wire(sp->kind)) + VSZ(enum_wire(sp->status));
	n += VSZ(sp->span_kind) + VSZ(sp->queue_ns) + VSZ(sp->flags) + VSZ(sp->keep_reasons);
	for (size_t i = 0; i < sp->n_attrs; i++) {
		size_t a = attr_body(sp->attrs[i]);

		n += 1 + vsize(a) + a;
	}
	for (size_t i = 0; i < sp->n_hops; i++) {
		size_t h = hop_body(sp->hops[i]);

		n += 1 + vsize(h) + h;
	}
	/* fields 16-18 have two-byte tags */
	if (sp->instance_id)
		n += 2 + 8;
	if (sp->pid)
		n += 2 + vsize(sp->pid);
	if (sp->status_message && sp->status_message[0]) {
		size_t l = strlen(sp->status_message);

		n += 2 + vsize(l) + l;
	}
	return n;
}

static inline uint8_t *put_f64(uint8_t *p, uint8_t tag, uint64_t v)
{
	if (!v)
		return p;
	*p++ = tag;
	memcpy(p, &v, 8);
	return p + 8;
}

static inline uint8_t *put_v(uint8_t *p, uint8_t tag, uint64_t v)
{
	if (!v)
		return p;
	*p++ = tag;
	return vput(p, v);
}

static uint8_t *span_write(uint8_t *p, const Difftrace__Span *sp)
{
	if (sp->trace_id.len) {
		*p++ = 1 << 3 | 2;
		p = vput(p, sp->trace_id.len);
		memcpy(p, sp->trace_id.data, sp->trace_id.len);
		p += sp->trace_id.len;
	}
	p = put_f64(p, 2 << 3 | 1, sp->span_id);
	p = put_f64(p, 3 << 3 | 1, sp->parent_span_id);
	p = put_f64(p, 4 << 3 | 1, sp->start_ns);
	p = put_f64(p, 5 << 3 | 1, sp->end_ns);
	p = put_v(p, 6 << 3, sp->component);
	p = put_v(p, 7 << 3, sp->operation);
	p = put_v(p, 8 << 3, enum_wire(sp->kind));
	p = put_v(p, 9 << 3, enum_wire(sp->status));
	p = put_v(p, 10 << 3, sp->span_kind);
	p = put_v(p, 11 << 3, sp->queue_ns);
	p = put_v(p, 12 << 3, sp->flags);
	p = put_v(p, 13 << 3, sp->keep_reasons);
	for (size_t i = 0; i < sp->n_attrs; i++) {
		const Difftrace__Attr *a = sp->attrs[i];

		*p++ = 14 << 3 | 2;
		p = vput(p, attr_body(a));
		p = put_v(p, 1 << 3, a->key);
		p = put_v(p, 2 << 3, zigzag64(a->value));
	}
	for (size_t i = 0; i < sp->n_hops; i++) {
		const Difftrace__Hop *h = sp->hops[i];

		*p++ = 15 << 3 | 2;
		p = vput(p, hop_body(h));
		p = put_f64(p, 3 << 3 | 1, h->span_id);
		p = put_f64(p, 4 << 3 | 1, h->start_ns);
		p = put_f64(p, 5 << 3 | 1, h->parent_span_id);
		if (h->name_hash) {
			*p++ = 6 << 3 | 5;
			memcpy(p, &h->name_hash, 4);
			p += 4;
		}
	}
	if (sp->instance_id) {
		*p++ = (uint8_t)(16 << 3 | 1 | 0x80); /* tag 129 as a varint: 0x81 0x01 */
		*p++ = 1;
		memcpy(p, &sp->instance_id, 8);
		p += 8;
	}
	if (sp->pid) {
		*p++ = (uint8_t)((17 << 3) | 0x80); /* tag 136: 0x88 0x01 */
		*p++ = 1;
		p = vput(p, sp->pid);
	}
	if (sp->status_message && sp->status_message[0]) {
		size_t l = strlen(sp->status_message);

		*p++ = (uint8_t)((18 << 3 | 2) | 0x80); /* tag 146: 0x92 0x01 */
		*p++ = 1;
		p = vput(p, l);
		memcpy(p, sp->status_message, l);
		p += l;
	}
	return p;
}

int dft_batch_pack(struct dft_batch *b, uint64_t sender_id, uint64_t seq, uint64_t created_ns,
		   const Difftrace__Counters *ctr, size_t hdr_room, uint8_t **out, size_t *out_len)
{
	Difftrace__BatchHeader hdr = DIFFTRACE__BATCH_HEADER__INIT;
	Difftrace__Counters c = *ctr;
	size_t len, hlen, plen = 0;
	uint8_t *buf, *p;

	hdr.sender_id = sender_id;
	hdr.sequence = seq;
	hdr.created_ns = created_ns;
	hdr.epoch = dft_nic_epoch; /* set once at start: which instance of this sender made the batch */
	hdr.counters = &c;
	/* SpanBatch: header = 1, strings = 2, spans = 3, profiles = 4 */
	hlen = difftrace__batch_header__get_packed_size(&hdr);
	len = 1 + vsize(hlen) + hlen;
	if (b) {
		for (uint32_t i = 0; i < b->n_strings; i++)
			len += 1 + vsize(b->str_len[i]) + b->str_len[i];
		for (uint32_t i = 0; i < b->n_spans; i++) {
			size_t n = span_body(b->span_ptrs[i]);

			b->span_len[i] = (uint32_t)n;
			len += 1 + vsize(n) + n;
		}
		if (b->profile_ptr) {
			plen = difftrace__profile__get_packed_size(b->profile_ptr);
			len += 1 + vsize(plen) + plen;
		}
	}
	buf = malloc(hdr_room + len);
	if (!buf)
		return -ENOMEM;
	p = buf + hdr_room;
	*p++ = 1 << 3 | 2;
	p = vput(p, hlen);
	p += difftrace__batch_header__pack(&hdr, p);
	if (b) {
		for (uint32_t i = 0; i < b->n_strings; i++) {
			*p++ = 2 << 3 | 2;
			p = vput(p, b->str_len[i]);
			memcpy(p, b->strings[i], b->str_len[i]);
			p += b->str_len[i];
		}
		for (uint32_t i = 0; i < b->n_spans; i++) {
			*p++ = 3 << 3 | 2;
			p = vput(p, b->span_len[i]);
			p = span_write(p, b->span_ptrs[i]);
		}
		if (b->profile_ptr) {
			*p++ = 4 << 3 | 2;
			p = vput(p, plen);
			p += difftrace__profile__pack(b->profile_ptr, p);
		}
	}
	if ((size_t)(p - buf) != hdr_room + len) { /* a size pass that disagrees with the write pass */
		free(buf);
		return -EPROTO;
	}
	*out = buf;
	*out_len = hdr_room + len;
	return 0;
}
