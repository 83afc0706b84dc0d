/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "dft/hash.h"
#include "dft/hops.h"

#define PAYLOAD_MAX (DFT_HOPS_VALUE_MAX / 4 * 3)

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

static size_t b64_encode(const uint8_t *p, size_t n, char *out)
{
	size_t o = 0, i;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (n - i == 1) {
		out[o++] = b64[p[i] >> 2];
		out[o++] = b64[(p[i] & 3) << 4];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 8 | p[i + 1];

		out[o++] = b64[v >> 10];
		out[o++] = b64[(v >> 4) & 63];
		out[o++] = b64[(v & 15) << 2];
	}
	return o;
}

/* Returns decoded length or -EINVAL; out must hold len*3/4 bytes. Rejects non-canonical tails. */
static int b64_decode(const char *s, size_t len, uint8_t *out)
{
	size_t o = 0, i;
	uint32_t acc = 0;

	if (len % 4 == 1)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		int v = b64_val(s[i]);

		if (v < 0)
			return -EINVAL;
		acc = acc << 6 | (uint32_t)v;
		if (i % 4 == 3) {
			out[o++] = (uint8_t)(acc >> 16);
			out[o++] = (uint8_t)(acc >> 8);
			out[o++] = (uint8_t)acc;
			acc = 0;
		}
	}
	if (len % 4 == 2) {
		if (acc & 15)
			return -EINVAL;
		out[o++] = (uint8_t)(acc >> 4);
	} else if (len % 4 == 3) {
		if (acc & 3)
			return -EINVAL;
		out[o++] = (uint8_t)(acc >> 10);
		out[o++] = (uint8_t)(acc >> 2);
	}
	return (int)o;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static int get_varint(const uint8_t *p, size_t len, size_t *off, uint64_t *out)
{
	uint64_t v = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t b;

		if (*off >= len)
			return -EINVAL;
		b = p[(*off)++];
		if (shift == 63 && b > 1)
			return -EINVAL;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*out = v;
			return 0;
		}
	}
	return -EINVAL;
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

uint32_t dft_hops_name_hash(const char *comp, size_t comp_len, const char *op, size_t op_len)
{
	static const uint8_t sep = 0xff;
	uint64_t h = dft_fnv64(comp, comp_len, DFT_FNV64_INIT);

	h = dft_fnv64(&sep, 1, h);
	h = dft_fnv64(op, op_len, h);
	return (uint32_t)(h ^ (h >> 32));
}

static void put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int b = 0; b < bytes; b++)
		p[b] = (uint8_t)(v >> (8 * b));
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int b = 0; b < bytes; b++)
		v |= (uint64_t)p[b] << (8 * b);
	return v;
}

/* How many places back hop i's parent is within [first, i), or 0 when it is not there. */
static unsigned parent_ref(const struct dft_hop_rec *h, unsigned first, unsigned i)
{
	for (unsigned j = i; j-- > first;)
		if (h[j].span_id == h[i].parent_span_id)
			return i - j;
	return 0;
}

/* Serialise hops [first, n) into buf; returns bytes or 0 when they exceed PAYLOAD_MAX. */
static size_t serialise(const struct dft_hop_rec *h, unsigned first, unsigned n, uint8_t *buf)
{
	uint8_t tmp[10 + 8 + 4 + 8 + 10];
	size_t len = 0;

	buf[len++] = DFT_HOPS_VERSION;
	for (unsigned i = first; i < n; i++) {
		unsigned ref = parent_ref(h, first, i);
		size_t t = put_varint(tmp, ref);

		if (!ref) {
			put_le(tmp + t, h[i].parent_span_id, 8);
			t += 8;
		}
		put_le(tmp + t, h[i].name_hash, 4);
		t += 4;
		put_le(tmp + t, h[i].span_id, 8);
		t += 8;
		if (i == first)
			t += put_varint(tmp + t, h[i].start_ns);
		else
			t += put_varint(tmp + t, zigzag((int64_t)(h[i].start_ns - h[i - 1].start_ns)));
		if (len + t > PAYLOAD_MAX)
			return 0;
		memcpy(buf + len, tmp, t);
		len += t;
	}
	return len;
}

int dft_hops_encode(const struct dft_hop_rec *h, unsigned n, char *out, size_t cap, unsigned *n_left_out)
{
	uint8_t buf[PAYLOAD_MAX];
	size_t len = 0, chars;
	unsigned first;

	for (unsigned i = 0; i < n; i++)
		if (h[i].span_id == 0)
			return -EINVAL;
	/* drop the oldest hops until the rest fit */
	for (first = 0; first < n; first++) {
		len = serialise(h, first, n, buf);
		if (len)
			break;
	}
	if (n == 0)
		len = serialise(h, 0, 0, buf);
	if (first == n && n > 0)
		return -ENOSPC;
	chars = (len * 4 + 2) / 3;
	if (chars + 1 > cap)
		return -ENOSPC;
	b64_encode(buf, len, out);
	out[chars] = 0;
	*n_left_out = first;
	return (int)chars;
}

int dft_hops_decode(const char *val, size_t len, struct dft_hop_rec *h, unsigned max, unsigned *n_cut)
{
	uint8_t buf[PAYLOAD_MAX + 3];
	/* span ids of every hop seen, kept or cut, so references resolve whatever max is */
	uint64_t ids[PAYLOAD_MAX / 13 + 1];
	size_t off = 1;
	unsigned n = 0, seen = 0;
	uint64_t prev = 0;
	int blen;

	if (len == 0 || len > DFT_HOPS_VALUE_MAX)
		return -EINVAL;
	blen = b64_decode(val, len, buf);
	if (blen < 1 || buf[0] != DFT_HOPS_VERSION)
		return -EINVAL;
	while (off < (size_t)blen) {
		struct dft_hop_rec r;
		uint64_t ref, t;

		memset(&r, 0, sizeof(r));
		if (get_varint(buf, (size_t)blen, &off, &ref) || ref > seen)
			return -EINVAL;
		if (ref == 0) {
			if (off + 8 > (size_t)blen)
				return -EINVAL;
			r.parent_span_id = get_le(buf + off, 8);
			off += 8;
		} else {
			r.parent_span_id = ids[seen - ref];
		}
		if (off + 12 > (size_t)blen)
			return -EINVAL;
		r.name_hash = (uint32_t)get_le(buf + off, 4);
		r.span_id = get_le(buf + off + 4, 8);
		off += 12;
		if (get_varint(buf, (size_t)blen, &off, &t) || r.span_id == 0)
			return -EINVAL;
		r.start_ns = seen == 0 ? t : prev + (uint64_t)unzigzag(t);
		prev = r.start_ns;
		/* a hop is at least 14 bytes, so ids[] cannot overflow within PAYLOAD_MAX */
		ids[seen++] = r.span_id;
		if (n < max)
			h[n++] = r;
	}
	*n_cut = seen - n;
	return (int)n;
}

static int is_ws(char c)
{
	return c == ' ' || c == '\t';
}

/* Iterate list members: returns 1 with [*ms, *me) trimmed, 0 at the end. */
static int next_member(const char *ts, size_t len, size_t *pos, size_t *ms, size_t *me)
{
	while (*pos < len) {
		size_t s = *pos, e;

		while (*pos < len && ts[*pos] != ',')
			(*pos)++;
		e = *pos;
		if (*pos < len)
			(*pos)++;
		while (s < e && is_ws(ts[s]))
			s++;
		while (e > s && is_ws(ts[e - 1]))
			e--;
		if (s < e) {
			*ms = s;
			*me = e;
			return 1;
		}
	}
	return 0;
}

static int member_valid(const char *m, size_t n, size_t *eq)
{
	const char *p = memchr(m, '=', n);

	if (!p || p == m || (size_t)(p - m) > 256 || n - (size_t)(p - m) - 1 == 0 ||
	    n - (size_t)(p - m) - 1 > DFT_HOPS_VALUE_MAX)
		return 0;
	for (const char *c = m; c < p; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' || *c == '*' ||
		      *c == '/' || *c == '@'))
			return 0;
	for (const char *c = p + 1; c < m + n; c++)
		if (*c < 0x20 || *c > 0x7e || *c == ',' || *c == '=')
			return 0;
	*eq = (size_t)(p - m);
	return 1;
}

int dft_tracestate_get(const char *ts, size_t len, const char *key, const char **val, size_t *vlen)
{
	size_t pos = 0, ms, me, eq, klen = strlen(key);
	unsigned members = 0;

	if (len > DFT_TRACESTATE_MAX)
		return -EINVAL;
	while (next_member(ts, len, &pos, &ms, &me)) {
		if (++members > 32 || !member_valid(ts + ms, me - ms, &eq))
			return -EINVAL;
		if (eq == klen && memcmp(ts + ms, key, klen) == 0) {
			*val = ts + ms + eq + 1;
			*vlen = me - ms - eq - 1;
			return 0;
		}
	}
	return -ENOENT;
}

int dft_tracestate_put(const char *ts, size_t len, const char *key, const char *val, size_t vlen, char *out,
		       size_t cap)
{
	size_t klen = strlen(key), o, pos = 0, ms, me, eq;
	unsigned members = 1;

	if (klen + 1 + vlen + 1 > cap || klen + 1 + vlen > DFT_TRACESTATE_MAX)
		return -ENOSPC;
	memcpy(out, key, klen);
	out[klen] = '=';
	memcpy(out + klen + 1, val, vlen);
	o = klen + 1 + vlen;
	while (ts && len <= DFT_TRACESTATE_MAX && next_member(ts, len, &pos, &ms, &me)) {
		size_t n = me - ms;

		if (!member_valid(ts + ms, n, &eq))
			continue; /* a malformed member is not ours to repeat */
		if (eq == klen && memcmp(ts + ms, key, klen) == 0)
			continue;
		if (members == 32 || o + 1 + n > DFT_TRACESTATE_MAX || o + 1 + n + 1 > cap)
			break;
		out[o++] = ',';
		memcpy(out + o, ts + ms, n);
		o += n;
		members++;
	}
	out[o] = 0;
	return (int)o;
}
