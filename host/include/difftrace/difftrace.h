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
 * counted (see dft_stats()). The one exception, dft_span_set_status_message, refuses a text it could
 * not send rather than send a different one.
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

struct dft_hop_list;

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
	uint8_t reserved[2];
	uint8_t status_msg_len; /* dft_span_set_status_message; 0 for nearly every span */
	uint16_t attr_key[DFT_SPAN_ATTRS];
	int64_t attr_val[DFT_SPAN_ATTRS];
	const struct dft_hop_list *hops; /* dft_span_set_hops; NULL for nearly every span */
	const char *status_msg;
};

/*
 * Start a span named by op. parent == NULL starts a new trace (fresh trace id, root span); else the
 * span continues parent's trace as its child. The start time is read from the CPU tick counter.
 */
void dft_span_begin(struct dft_span *sp, uint16_t op, const struct dft_ctx *parent);

/*
 * The span clock: the CPU tick counter (rdtsc; cntvct_el0 on Arm), the unit dft_span_begin and
 * dft_span_end read, converted to unix ns by the daemon. A caller that reads the time anyway, or
 * ends one span where the next begins, reads it once and passes it to the _tick variants: a span
 * then costs one tick read instead of two. Ticks from any thread of the process may be mixed.
 */
uint64_t dft_tick(void);

/* dft_span_begin with the start given as a dft_tick() value. */
void dft_span_begin_tick(struct dft_span *sp, uint16_t op, const struct dft_ctx *parent, uint64_t tick);

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

#define DFT_STATUS_MESSAGE_MAX 120 /* bytes: one 128-byte continuation slot */

/*
 * A short description of the error (OTLP status.message), msg[0, len): UTF-8 without control
 * characters. Longer than DFT_STATUS_MESSAGE_MAX bytes: cut to fit at a character boundary. The
 * span keeps a POINTER to msg (it stays a small stack object): the text must stay unchanged and
 * alive until dft_span_end/dft_span_end_at returns. It is sent only when the span ends with status
 * DFT_SPAN_ERROR, in one continuation slot behind the span (and its hops): a ring without room for
 * all of them drops the whole span, counted once in dropped_full. msg NULL or len 0 clears it.
 * Returns 0, or -EINVAL (text not valid UTF-8 or with a control character: nothing is set, a
 * previous message is cleared). No lock, no syscall, no allocation.
 */
int dft_span_set_status_message(struct dft_span *sp, const char *msg, size_t len);
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
/* dft_span_end with the end given as a dft_tick() value (not before the span's start). */
void dft_span_end_tick(struct dft_span *sp, uint64_t tick);

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
	/* hop header, counted since dft_init */
	uint64_t hops_malformed; /* tracestate headers dft_tracestate_extract rejected */
	uint64_t hops_cut;       /* hops left out of a header: more than DFT_HOP_LIST_MAX, or over its size */
	uint64_t hops_dropped;   /* hops a span could not carry to the ring (see dft_span_set_hops) */
};

int dft_stats(struct dft_host_stats *out);

/*
 * The hop header. Each platform component that forwards a request appends its hops (its own span
 * and any step spans it finished before forwarding: span id, parent, start time, and a hash of
 * component and operation) to a `dft` entry of the W3C `tracestate` header; the user function at
 * the end of the path hands the list to its span, which carries every hop to the daemon, so the
 * platform spans the filter leaves out can still be drawn. Names do not travel: the collector
 * resolves a hop's name hash from the profiles the daemons ship.
 *
 * Platform component, per forwarded request:
 *     struct dft_hop_list in;
 *     dft_tracestate_extract(ts, ts_len, &in);            // malformed: in.n == 0, carry on
 *     dft_span_begin(&sp, op, &parent);
 *     dft_hop_list_add(&in, &sp);                         // this component's span
 *     dft_hop_list_add(&in, &step);                       // a step span (child of sp), if any
 *     n = dft_tracestate_inject(&in, NULL, ts, ts_len, out, sizeof(out));
 *     // n >= 0: send `out` as the tracestate; n < 0: forward the incoming tracestate unchanged
 * (dft_tracestate_inject(&in, &sp, ...) adds sp itself: the common one-span case in one call.)
 * User function (its span is a child of the component's span that forwarded the request):
 *     dft_tracestate_extract(ts, ts_len, &in);
 *     dft_span_begin(&sp, op, &parent);
 *     dft_span_set_hops(&sp, &in);                        // `in` must outlive dft_span_end(&sp)
 */
#define DFT_HOP_LIST_MAX 16

struct dft_hop_entry {
	uint64_t parent_span_id; /* the span this hop's span is a child of (0: the trace's root) */
	uint64_t span_id;        /* never 0 */
	uint64_t start_ns;       /* unix ns */
	uint32_t name_hash;      /* dft_hop_name_hash(component, operation) */
	uint32_t reserved;
};

struct dft_hop_list {
	uint8_t n;   /* hop[0, n) are valid, oldest first */
	uint8_t cut; /* hops left out of this list: over DFT_HOP_LIST_MAX (counted in hops_cut) */
	uint8_t reserved[6];
	struct dft_hop_entry hop[DFT_HOP_LIST_MAX];
};

/* The hash that names a hop's (component, operation); operation may be NULL or "". */
uint32_t dft_hop_name_hash(const char *component, const char *operation);

/*
 * Read the hops of an incoming tracestate header value ts[0, len) (stops early at a NUL, so a
 * buffer size may be passed). No `dft` entry (or ts == NULL with len 0): 0 with out->n == 0.
 * A tracestate that is not a valid W3C list, or a `dft` entry that does not decode: -EINVAL with
 * out->n == 0, counted in hops_malformed. Never reads past ts[len). ts == NULL with len > 0 or
 * out == NULL: -EINVAL, not counted. Needs no dft_init (counters restart at dft_init). No lock,
 * no syscall, no allocation.
 */
int dft_tracestate_extract(const char *ts, size_t len, struct dft_hop_list *out);

/*
 * Append sp's hop (component: the process's, or the one dft_span_set_component set; sp's
 * operation, span id, parent and start in unix ns) to l. A full list leaves its oldest hop out
 * (counted in l->cut and hops_cut). Returns 0 or -EINVAL (NULL l/sp, library not initialised,
 * l->n > DFT_HOP_LIST_MAX, sp's names not in the name table). No lock, no syscall, no allocation.
 */
int dft_hop_list_add(struct dft_hop_list *l, const struct dft_span *sp);

/*
 * Platform component forwarding a request: write the outgoing tracestate into out[0, cap), which
 * must not overlap incoming_ts. Its first member is the `dft` entry: the hops of `hops` (may be
 * NULL) plus, when sp is not NULL, sp's hop as dft_hop_list_add would append it. The other members
 * of incoming_ts[0, ts_len) (may be NULL; stops at a NUL) follow in their order (W3C: a modified
 * entry moves to the front); members that would pass 512 characters or 32 members are left out,
 * and malformed ones are not repeated. Hops that do not fit (more than DFT_HOP_LIST_MAX, or over
 * the entry's 256 characters, about twelve hops) are left out oldest first and counted in
 * hops_cut. Returns the length written (out is NUL-terminated), or -EINVAL (NULL out, library not
 * initialised, nothing to send, a hop with a zero span id, hops->n > DFT_HOP_LIST_MAX, sp's names
 * unknown),
 * -ENOSPC (cap too small). No lock, no syscall, no allocation.
 */
int dft_tracestate_inject(const struct dft_hop_list *hops, const struct dft_span *sp, const char *incoming_ts,
                          size_t ts_len, char *out, size_t cap);

/*
 * User function: the span carries these hops to the daemon in continuation slots behind its own
 * slots. The span keeps a POINTER to hops (a span stays a small stack object): the list must stay
 * unchanged and alive until dft_span_end/dft_span_end_at returns. NULL or an empty list: no hops.
 * A span with n hops takes 1 + ceil(n / 3) slots, reserved all at once: a ring without room for
 * all of them drops the whole span (counted once in dropped_full). A hop with a zero span id or
 * beyond DFT_HOP_LIST_MAX is left out and counted in hops_dropped.
 */
void dft_span_set_hops(struct dft_span *sp, const struct dft_hop_list *hops);

/*
 * Resource metrics of a component for the contention rule of the filter, published in the region's
 * metrics page (one entry per component, seqlock per entry; the daemon reads them).
 */
struct dft_component_metrics {
	uint32_t cpu_throttle_ppm;  /* share of the last period the component was CPU-throttled */
	uint32_t concurrency;       /* requests in flight */
	uint32_t concurrency_limit; /* 0: unlimited */
	uint32_t mem_pressure_ppm;
};

/*
 * Write (or update) the entry of component_id (an id from dft_name) with a reading taken now.
 * The first call for a component allocates its entry under a lock; updates are lock-free and make
 * no syscall. Returns 0, -EINVAL (NULL m, id 0 or not interned, library not initialised), -ENOSPC
 * (every one of the page's 64 entries belongs to another component), or -EBUSY when another thread
 * is writing the same component's entry at this very moment (its reading stands; nothing waits).
 */
int dft_metrics_publish(uint16_t component_id, const struct dft_component_metrics *m);

/*
 * Same with the reading's time given in unix ns (not 0): replay of recorded metrics, or a publisher
 * that knows when a state began better than when it gets to write it. The daemon's contention rule
 * takes a reading as the component's state from that time on.
 */
int dft_metrics_publish_at(uint16_t component_id, const struct dft_component_metrics *m, uint64_t taken_ns);

/*
 * The daemon's clock (unix ns) just before its newest reading of this process's metrics page: a
 * reading published before it has been seen. 0: never read (no daemon yet, or one that does not
 * say), or the library is not initialised. Lets a publisher of short-lived states wait for the
 * daemon instead of guessing how often it reads.
 */
uint64_t dft_metrics_read_ns(void);

#ifdef __cplusplus
}
#endif

#endif /* DIFFTRACE_H */
