/* SPDX-License-Identifier: MIT */
/*
 * Reading what difftrace-collector stored, for the views: one trace's spans, the newest profile
 * per (component, operation), and the traces of the same root operation around a time. The store
 * is opened read-only; every function returns 0 or -errno and leaves a message in err.
 */
#ifndef DFT_VIEW_TRACE_STORE_H
#define DFT_VIEW_TRACE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#define DFT_VIEW_MAX_SPANS 100000u

struct dft_vspan {
	uint64_t id, parent, start_ns, end_ns, queue_ns;
	char *component, *operation;
	int kind, status; /* as stored: kind 1 platform, 2 function; status 2 error */
	uint32_t flags, keep_reasons;
	bool reconstructed;
};

struct dft_vtrace {
	uint8_t id[16];
	uint32_t n;
	struct dft_vspan *sp;
	bool truncated; /* more than DFT_VIEW_MAX_SPANS rows: the rest was left out */
};

struct dft_vprof {
	char *component, *operation;
	uint64_t count, duration_p50_ns, duration_p99_ns, created_ns;
};

struct dft_vprofs {
	uint32_t n;
	struct dft_vprof *p; /* sorted by (component, operation) */
};

struct dft_verr {
	char msg[512];
};

/* Opens DB read-only and checks it is a difftrace store (a spans table). -ENOENT, -EINVAL, -EIO. */
int dft_vstore_open(const char *path, sqlite3 **db, struct dft_verr *err);
/* 32 hex digits -> 16 bytes; 0 or -EINVAL */
int dft_trace_id_parse(const char *hex, uint8_t out[16]);
void dft_trace_id_hex(const uint8_t id[16], char out[33]);
void dft_span_id_hex(uint64_t id, char out[17]);

/* -ENOENT when the trace has no rows; -EIO; -ENOMEM */
int dft_vtrace_load(sqlite3 *db, const uint8_t id[16], struct dft_vtrace **out, struct dft_verr *err);
void dft_vtrace_free(struct dft_vtrace *t);

int dft_vprofs_load(sqlite3 *db, struct dft_vprofs *out, struct dft_verr *err);
void dft_vprofs_free(struct dft_vprofs *p);
const struct dft_vprof *dft_vprofs_find(const struct dft_vprofs *p, const char *component, const char *operation);

/* the names of the keep-reason bits (docs/filter.md), NULL past the last */
const char *dft_keep_reason_name(unsigned bit);
/* a name -> its bit, 0 when unknown */
uint32_t dft_keep_reason_bit(const char *name);

#endif /* DFT_VIEW_TRACE_STORE_H */
