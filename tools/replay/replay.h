/* SPDX-License-Identifier: MIT */
/*
 * difftrace-replay: recorded OTLP JSON lines back through libdifftrace, with the recorded ids and
 * timestamps. The parser and the hop synthesis are free of libdifftrace state (unit-testable alone);
 * replay_run.c does the emission.
 */
#ifndef DFT_REPLAY_H
#define DFT_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <difftrace/difftrace.h>

#define DFT_REPLAY_ATTRS 4

enum dft_replay_kind {
	DFT_REPLAY_KIND_UNSET = 0, /* no difftrace.component.kind: decided by --platform-components */
	DFT_REPLAY_KIND_PLATFORM = 1,
	DFT_REPLAY_KIND_FUNCTION = 2,
};

struct dft_replay_span {
	uint8_t trace_id[16];
	uint64_t span_id;
	uint64_t parent_span_id; /* 0: root */
	uint64_t start_ns, end_ns;
	const char *name;      /* in the batch's arena */
	const char *component; /* in the batch's arena */
	uint8_t kind;          /* enum dft_replay_kind */
	uint8_t span_kind;     /* OTLP SpanKind 0..5 */
	uint8_t status;        /* OTLP status code 0..2 */
	bool cold_start;
	const char *status_message; /* in the batch's arena, control characters made spaces; NULL: none */
	size_t status_message_len;
	uint32_t queue_ns;
	uint8_t n_attrs;
	const char *attr_key[DFT_REPLAY_ATTRS];
	int64_t attr_val[DFT_REPLAY_ATTRS];
	/* name ids, interned by the replay before the batch is emitted (0: not interned) */
	uint16_t op_id, comp_id;
	uint16_t attr_id[DFT_REPLAY_ATTRS];
};

/* Bump allocator for the strings of one batch: reset, not freed, between batches. */
struct dft_replay_arena_blk;
struct dft_replay_arena {
	struct dft_replay_arena_blk *head;
};

struct dft_replay_batch {
	struct dft_replay_span *spans;
	size_t n, cap;
	struct dft_replay_arena arena;
	/* counted while parsing, kept across batches */
	uint64_t attrs_cut;             /* numeric attributes beyond DFT_REPLAY_ATTRS */
	uint64_t queue_clamped;         /* difftrace.queue_ns over UINT32_MAX */
	uint64_t reconstructed_skipped; /* spans marked difftrace.reconstructed: not the system's own */
};

void dft_replay_batch_init(struct dft_replay_batch *b);
/* Forgets the spans and their strings; keeps the memory and the counters. */
void dft_replay_batch_reset(struct dft_replay_batch *b);
void dft_replay_batch_free(struct dft_replay_batch *b);

/*
 * Parse one ExportTraceServiceRequest line[0, len) and append its spans to b. On any error nothing
 * of the line is kept, err gets "line <lineno>: <what was wrong>" and the result is -EINVAL
 * (-ENOMEM when memory ran out). Blank lines are valid and hold no span.
 */
int dft_replay_parse_line(struct dft_replay_batch *b, const char *line, size_t len, unsigned long lineno, char *err,
                          size_t errlen);

/* Parses 2*n hex digits (either case) into out[0, n); 0 or -EINVAL. */
int dft_replay_hex(const char *s, size_t slen, uint8_t *out, size_t n);

/*
 * Resolves the kind of every span without difftrace.component.kind: platform when its component is
 * in list (comma separated, may be NULL), else function.
 */
void dft_replay_resolve_kinds(struct dft_replay_batch *b, const char *platform_list);

/* Sorts v[0, n) by (trace id, span id): each trace becomes one run, ordered by span id. */
void dft_replay_sort_by_trace(struct dft_replay_span **v, size_t n);

/* Length of the run of v[0, n) that shares v[0]'s trace id. */
size_t dft_replay_trace_len(struct dft_replay_span *const *v, size_t n);

/*
 * The hops the platform components above fn would have sent: fn's ancestors while they are
 * platform spans (up to a function span or the root), outermost first; hop 0's parent is the
 * outermost one's parent. t[0, n) is fn's trace sorted by span id. A non-function fn gets none.
 * Ancestors beyond DFT_HOP_LIST_MAX are left out outermost first (counted in out->cut).
 */
void dft_replay_hops(struct dft_replay_span *const *t, size_t n, const struct dft_replay_span *fn,
                     struct dft_hop_list *out);

/* Sorts v[0, n) by (trace id, parent span id, start, span id): the same trace runs as
 * dft_replay_sort_by_trace, each holding a span's children together, in start order. */
void dft_replay_sort_by_parent(struct dft_replay_span **v, size_t n);

/*
 * dft_replay_hops, and after each platform ancestor the step spans it finished before it forwarded
 * the request: its platform children off the path that ended no later than the next span on the
 * path (or fn) started, in start order. bp[0, n) is the same trace sorted by dft_replay_sort_by_parent
 * (NULL: no steps); only the first 64 children of a span are looked at. Beyond DFT_HOP_LIST_MAX entries the oldest are left out (counted in out->cut).
 */
void dft_replay_hops_steps(struct dft_replay_span *const *t, struct dft_replay_span *const *bp, size_t n,
                           const struct dft_replay_span *fn, struct dft_hop_list *out);

/* A span to emit with its trace (sorted by span id, and by parent) for the hop synthesis. */
struct dft_replay_emit {
	const struct dft_replay_span *s;
	struct dft_replay_span *const *t;
	struct dft_replay_span *const *bp;
	size_t n;
};

/* Sorts by end time, the order a live component hands spans to its ring; at equal ends a root comes
 * after the others and an inner span (later start) before the one around it. */
void dft_replay_sort_by_end(struct dft_replay_emit *v, size_t n);

/*
 * When a span recorded to end at rec_ns is due, on a clock where the replay started at wall0 with
 * the span that ended at rec0: wall0 + (rec_ns - rec0) / speed. speed <= 0 (as fast as possible) or a
 * span before rec0: wall0. Saturates at UINT64_MAX.
 */
uint64_t dft_replay_due_ns(uint64_t wall0, uint64_t rec0, uint64_t rec_ns, double speed);

#endif /* DFT_REPLAY_H */
