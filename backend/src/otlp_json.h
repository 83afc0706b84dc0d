/* SPDX-License-Identifier: MIT */
/*
 * OTLP JSON lines (otlp_json.c): rotated once the file reaches max_bytes (0: never), keeping keep
 * older files as path.1 (newest) .. path.keep (0: the full file is removed).
 */
#ifndef DFT_OTLP_JSON_H
#define DFT_OTLP_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "difftrace.pb-c.h"
#include "sink.h"

struct dft_buf;

int dft_otlp_json_open(const char *path, uint64_t max_bytes, unsigned keep, struct dft_sink *out);
struct dft_otlp_json_stats {
	uint64_t torn_cut, torn_bytes, write_errors, rotations; /* (struct dft_line_file) */
};
/* s: a sink dft_otlp_json_open made */
void dft_otlp_json_get_stats(const struct dft_sink *s, struct dft_otlp_json_stats *out);
/* Encodes one batch as an ExportTraceServiceRequest JSON object (no newline); reconstructed marks
 * every span with difftrace.reconstructed. */
int dft_otlp_json_encode(const Difftrace__SpanBatch *b, bool reconstructed, struct dft_buf *out, uint64_t *spans);

#endif /* DFT_OTLP_JSON_H */
