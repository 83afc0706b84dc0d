/* SPDX-License-Identifier: MIT */
/*
 * The JSON the collector writes (json.c) into bounded buffers (dft/buf.h), and the counters batch
 * headers carry, in and out of their JSON form.
 */
#ifndef DFT_JSON_H
#define DFT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dft/buf.h"
#include "difftrace.pb-c.h"

/* a JSON string literal with quotes; invalid UTF-8 bytes become U+FFFD */
void dft_buf_json_str(struct dft_buf *b, const char *s);
void dft_buf_hex(struct dft_buf *b, const uint8_t *p, size_t n);
void dft_buf_hex64(struct dft_buf *b, uint64_t v);
/* v in decimal, as "%lld" */
void dft_buf_i64(struct dft_buf *b, int64_t v);

/* Counters carried in batch headers. */

/* every Counters field of the proto, in proto order, by its proto name */
// clang-format off
#define DFT_COUNTER_NAMES(X) \
	X(produced) X(reported) X(filtered) X(lost_ring_full) X(lost_invalid) X(lost_backlog_full) \
	X(lost_transport) X(lost_hold_overflow) X(lost_no_ring) X(batches) X(adopted)
// clang-format on

struct dft_counters {
#define DFT_COUNTER_FIELD(n) uint64_t n;
	DFT_COUNTER_NAMES(DFT_COUNTER_FIELD)
#undef DFT_COUNTER_FIELD
};

void dft_counters_from_proto(struct dft_counters *out, const Difftrace__Counters *c);
void dft_counters_json(struct dft_buf *b, const struct dft_counters *c);
/* The counters as a JSON object in a new buffer b (the caller frees it): 0, or -ENOMEM with b freed. */
int dft_counters_json_new(struct dft_buf *b, const struct dft_counters *c);
/* Parses what dft_counters_json wrote; missing names stay 0. Returns 0 or -EINVAL. */
int dft_counters_parse(const char *json, struct dft_counters *out);

#endif /* DFT_JSON_H */
