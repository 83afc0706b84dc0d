/* SPDX-License-Identifier: MIT */
/*
 * Ground truth: one JSON line per span. Each worker thread formats into its own buffer and flushes
 * it to its own part file; the parts are concatenated in thread order at the end, so no lock is ever
 * taken on the span path and the file's order is a function of the seed.
 */
#ifndef DFT_GEN_TRUTH_H
#define DFT_GEN_TRUTH_H

#include <stddef.h>
#include <stdint.h>

#include "gen_plan.h"

struct dft_gen_truth_rec {
	uint8_t trace_id[16];
	uint64_t span_id, parent_span_id;
	const char *component, *operation;
	int function; /* kind "function", else "platform" */
	uint64_t start_ns, end_ns;
	enum dft_gen_anomaly anomaly;
};

struct dft_gen_truth {
	int fd; /* -1: truth disabled, records are only counted */
	char *buf;
	size_t len, cap;
	uint64_t records;
	int err; /* first write error (-errno), sticky */
};

/* path NULL: a disabled writer. Returns 0 or -errno. */
int dft_gen_truth_open(struct dft_gen_truth *t, const char *path);
void dft_gen_truth_put(struct dft_gen_truth *t, const struct dft_gen_truth_rec *r);
/* Flushes and closes; returns the first error seen, 0 if none. */
int dft_gen_truth_close(struct dft_gen_truth *t);
/* out = concatenation of parts[0, n), each removed afterwards. Returns 0 or -errno. */
int dft_gen_truth_merge(const char *out, char *const *parts, unsigned n);

#endif /* DFT_GEN_TRUTH_H */
