/* SPDX-License-Identifier: MIT */
/*
 * The hop header: each platform component that forwards a request appends its hops (its own span
 * and the step spans it finished before forwarding) to a `dft` entry of the W3C `tracestate`
 * header, so the user function at the end of the path can carry every platform span of that path
 * to the NIC and the collector can rebuild the ones the filter left out.
 *
 * Names do not travel: a hop names its (component, operation) by a 32-bit hash
 * (dft_hops_name_hash), which the collector resolves from the profile snapshots every NIC ships
 * (the profiler sees every span, filtered or not). That keeps a hop at ~16 bytes, so a path of
 * ten platform spans fits the 256-character entry W3C allows.
 *
 * Entry value: base64url (no padding) of
 *   u8 version (2)
 *   per hop, oldest first:
 *     varint parent reference: 0 = an explicit parent follows (8 bytes little-endian; 0 = root),
 *            k >= 1 = the parent is the hop k places before this one
 *     name hash: 4 bytes little-endian
 *     span id: 8 bytes little-endian, never 0
 *     start: varint unix ns for the first hop, zigzag varint delta from the previous hop's start
 *            for the others
 * The value is at most DFT_HOPS_VALUE_MAX characters; when hops do not fit the oldest are left out
 * and the caller counts them (a kept hop whose parent was left out carries it explicitly).
 */
#ifndef DFT_HOPS_H
#define DFT_HOPS_H

#include <stddef.h>
#include <stdint.h>

#define DFT_HOPS_KEY "dft"
#define DFT_HOPS_VERSION 2u
#define DFT_HOPS_MAX 16u
#define DFT_HOPS_VALUE_MAX 256u
#define DFT_TRACESTATE_MAX 512u

struct dft_hop_rec {
	uint64_t parent_span_id; /* resolved: the span this hop's span is a child of (0 = root) */
	uint64_t span_id;        /* never 0 */
	uint64_t start_ns;
	uint32_t name_hash;      /* dft_hops_name_hash(component, operation) */
};

/* FNV-1a (64-bit, folded) over component, a 0xff separator, operation: ("ab","c") != ("a","bc"). */
uint32_t dft_hops_name_hash(const char *comp, size_t comp_len, const char *op, size_t op_len);

/*
 * Encode the most recent hops of h[0..n) that fit into out (NUL-terminated). Returns the value's
 * length, or -EINVAL (a zero span id) / -ENOSPC (cap too small for even one hop).
 * *n_left_out = hops at the front of h that did not fit.
 */
int dft_hops_encode(const struct dft_hop_rec *h, unsigned n, char *out, size_t cap, unsigned *n_left_out);

/*
 * Decode a value. Returns the number of hops written to h (<= max), -EINVAL for anything malformed
 * (bad base64url, bad version, truncated hop, a reference before the first hop, a zero span id,
 * value too long). *n_cut = hops present beyond max. Never reads past val[len).
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
