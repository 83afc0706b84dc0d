/* SPDX-License-Identifier: MIT */
/*
 * libdifftrace: the host half of difftrace.
 *
 * A process calls dft_init() once with its component name and kind. Each thread that ends a span
 * claims its own single-producer ring in a shared-memory region (a memfd) that the library hands
 * to the difftrace-nic daemon over a Unix socket. Ending a span writes one 128-byte slot into that
 * ring: no lock, no syscall, no allocation. A full ring drops the span and counts it.
 *
 * Functions that can fail return 0 or a negative errno. Span functions cannot fail: problems are
 * counted (see dft_stats()).
 */
#ifndef DIFFTRACE_H
#define DIFFTRACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum dft_component_kind {
	DFT_COMPONENT_PLATFORM = 1, /* ingress, activator, queue-proxy, scheduler, ... */
	DFT_COMPONENT_FUNCTION = 2, /* user function code: always reported */
};

#define DFT_OPT_NO_DAEMON (1u << 0) /* do not connect to difftrace-nic (benchmarks, tests) */

struct dft_options {
	uint32_t size;           /* sizeof(struct dft_options): lets the struct grow */
	uint32_t flags;          /* DFT_OPT_*; unknown bits are rejected */
	const char *socket_path; /* NULL: $DFT_SOCKET, else /run/difftrace/nic.sock */
	uint32_t ring_count;     /* 0: 16; the most threads that report at once */
	uint32_t ring_slots;     /* 0: 4096; power of two */
	uint32_t name_capacity;  /* 0: 1024 */
	uint32_t reserved;
};

/* Returns 0, -EALREADY if initialised, -EINVAL on bad arguments, -errno from memfd/mmap. */
int dft_init(const char *component, enum dft_component_kind kind, const struct dft_options *opts);

/*
 * Waits up to timeout_ms for the daemon to drain every ring (0: do not wait), then unregisters and
 * unmaps. Returns 0 when everything was drained (or nothing was pending), -ETIMEDOUT otherwise.
 * No thread may use a span function during or after dft_fini().
 */
int dft_fini(unsigned timeout_ms);

/*
 * Intern a name (operation, component or attribute key) once, up front; spans refer to it by id.
 * Returns an id >= 1 (the same id for the same string), or 0 when the table is full, the string is
 * empty or longer than 62 bytes, or the library is not initialised. Takes a lock: not for the hot path.
 */
uint16_t dft_name(const char *name);

/* W3C trace context carried between components. */
struct dft_ctx {
	uint8_t trace_id[16];
	uint64_t span_id;
	uint8_t trace_flags; /* W3C flags; bit 0 = sampled */
};

#define DFT_SPAN_ATTRS 4

/* A span in progress: lives on the caller's stack; fields are internal. */
struct dft_span {
	uint8_t trace_id[16];
	uint64_t span_id;
	uint64_t parent_span_id;
	uint64_t start;
	uint32_t queue_ns;
	uint16_t op_id;
	uint16_t component_id;
	uint16_t flags;
	uint8_t status;
	uint8_t span_kind;
	uint8_t n_attrs;
	uint8_t reserved[3];
	uint16_t attr_key[DFT_SPAN_ATTRS];
	int64_t attr_val[DFT_SPAN_ATTRS];
};

/*
 * Start a span named by op. parent == NULL starts a new trace (fresh trace id, root span); else the
 * span continues parent's trace as its child. The start time is read from the CPU tick counter.
 */
void dft_span_begin(struct dft_span *sp, uint16_t op, const struct dft_ctx *parent);

/* Same with an explicit start time in unix ns (replay of recorded traces). */
void dft_span_begin_at(struct dft_span *sp, uint16_t op, const struct dft_ctx *parent, uint64_t start_ns);

/* Replay: force recorded ids. parent_span_id 0 = root. Call right after begin. */
void dft_span_set_ids(struct dft_span *sp, const uint8_t trace_id[16], uint64_t span_id, uint64_t parent_span_id);

/* Attribute this span to another component than the process's own (replay, in-process proxies). */
void dft_span_set_component(struct dft_span *sp, uint16_t component_id, enum dft_component_kind kind);

enum dft_span_status {
	DFT_SPAN_UNSET = 0,
	DFT_SPAN_OK = 1,
	DFT_SPAN_ERROR = 2,
};

void dft_span_set_status(struct dft_span *sp, enum dft_span_status status);
void dft_span_set_exception(struct dft_span *sp); /* implies DFT_SPAN_ERROR */
/* Up to DFT_SPAN_ATTRS numeric attributes; further ones are ignored. */
void dft_span_set_attr(struct dft_span *sp, uint16_t key_id, int64_t value);
void dft_span_set_queue_ns(struct dft_span *sp, uint32_t queue_ns);
void dft_span_set_cold_start(struct dft_span *sp);
void dft_span_set_kind(struct dft_span *sp, uint8_t otlp_span_kind); /* 0..5 */
void dft_span_keep(struct dft_span *sp); /* ask the filter to keep this span whatever it is */

/* The context a child of this span (or a downstream request) should carry. */
void dft_span_context(const struct dft_span *sp, struct dft_ctx *out);

/* End the span now (ticks) or at an explicit unix ns time, and hand it to the ring. */
void dft_span_end(struct dft_span *sp);
void dft_span_end_at(struct dft_span *sp, uint64_t end_ns);

/*
 * W3C traceparent "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>".
 * inject writes 55 characters and a NUL: returns 0 or -ENOSPC when len < 56.
 * inject returns -EINVAL for a NULL or all-zero context.
 * extract returns 0 or -EINVAL for anything that is not a valid header: version 00 with exactly 55
 * characters, or a later version (not ff) with at least those fields; all-zero ids, upper-case or
 * non-hex digits are invalid. It stops at a NUL, so a buffer size may be passed as len.
 */
int dft_traceparent_inject(const struct dft_ctx *ctx, char *buf, size_t len);
int dft_traceparent_extract(const char *hdr, size_t len, struct dft_ctx *out);

struct dft_host_stats {
	uint64_t produced;        /* spans ended (all rings) */
	uint64_t dropped_full;    /* ... lost because the ring was full */
	uint64_t dropped_no_ring; /* ... lost because every ring was claimed */
	uint64_t pending;         /* slots written and not yet consumed by the daemon */
	uint32_t registered;      /* 1 while the daemon holds the region */
	uint32_t registrations;   /* successful registrations so far (re-registrations included) */
};

int dft_stats(struct dft_host_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* DIFFTRACE_H */
