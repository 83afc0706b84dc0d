/* SPDX-License-Identifier: MIT */
/*
 * The hop header: each platform component that forwards a request appends its hop (component,
 * operation, span id, start time) to a `dft` entry of the W3C `tracestate` header, so the user
 * function at the end of the path can carry every platform hop to the NIC and the collector can
 * rebuild the platform spans the filter left out.
 *
 * Entry value: base64url (no padding) of
 *   u8 version (1)
 *   first parent: 8 bytes little-endian, the span the first hop's span is a child of (0 = root);
 *            every later hop is a child of the hop before it
 *   per hop: u8 component length (1..32), component bytes, u8 operation length (0..32), operation
 *            bytes, span id (8 bytes little-endian), start: varint unix ns for the first hop,
 *            zigzag varint delta from the previous hop's start for the others.
 * The value is at most DFT_HOPS_VALUE_MAX characters (W3C's per-entry limit); when hops do not fit
 * the oldest are left out and the caller counts them (the first kept hop's parent is then the span
 * of the last hop left out).
 */
#ifndef DFT_HOPS_H
#define DFT_HOPS_H

#include <stddef.h>
#include <stdint.h>

#define DFT_HOPS_KEY "dft"
#define DFT_HOP_NAME_MAX 32u
#define DFT_HOPS_MAX 16u
#define DFT_HOPS_VALUE_MAX 256u
#define DFT_TRACESTATE_MAX 512u

struct dft_hop_rec {
	uint64_t parent_span_id; /* meaningful on the first hop of a list; later hops chain */
	uint64_t span_id;
	uint64_t start_ns;
	uint8_t comp_len;
	uint8_t op_len;
	char comp[DFT_HOP_NAME_MAX];
	char op[DFT_HOP_NAME_MAX];
};

/*
 * Encode the most recent hops of h[0..n) that fit into out (NUL-terminated). Returns the value's
 * length, or -EINVAL (bad hop: empty/oversized name) / -ENOSPC (cap too small for even one hop).
 * *n_left_out = hops at the front of h that did not fit.
 */
int dft_hops_encode(const struct dft_hop_rec *h, unsigned n, char *out, size_t cap, unsigned *n_left_out);

/*
 * Decode a value. Returns the number of hops written to h (<= max), -EINVAL for anything malformed
 * (bad base64url, bad version, truncated hop, name too long, value too long). *n_cut = hops present
 * beyond max. Never reads past val[len).
 */
int dft_hops_decode(const char *val, size_t len, struct dft_hop_rec *h, unsigned max, unsigned *n_cut);

/* Find key's value in a tracestate header. Returns 0, -ENOENT, or -EINVAL for a malformed list. */
int dft_tracestate_get(const char *ts, size_t len, const char *key, const char **val, size_t *vlen);

/*
 * Write a tracestate with key=val first (W3C: a modified entry moves to the front), followed by the
 * other entries of ts (which may be NULL), dropping entries from the end to stay within
 * DFT_TRACESTATE_MAX and 32 entries. Returns the length written or -ENOSPC / -EINVAL.
 */
int dft_tracestate_put(const char *ts, size_t len, const char *key, const char *val, size_t vlen, char *out,
		       size_t cap);

#endif /* DFT_HOPS_H */
