/* SPDX-License-Identifier: MIT */
/*
 * Critical path and slack of one trace (no I/O: the caller loads the spans).
 *
 * The path starts at the root's end and walks back in time: a span waited on the child that ended
 * last before the current point, then, from that child's start, on the child that ended last
 * before it, and so on; time where it waited on no child is its own. Each child on the path is
 * walked the same way from its own end. The path's segments tile [root start, root end] exactly.
 *
 * A child that ends after its parent ends was not waited on (fire and forget): it is never on the
 * path and has no slack. A child that starts before its parent is clipped to the parent's start.
 * Slack: how much later a span could end without moving the root's end, assuming its parent
 * waits for it at the next point where the parent waits on its path (the end of the earliest
 * path child that ends no earlier than it, else the parent's own end), plus the parent's slack.
 */
#ifndef DFT_CRITICAL_PATH_H
#define DFT_CRITICAL_PATH_H

#include <stdbool.h>
#include <stdint.h>

/* one span as the algorithm sees it; strings are only carried for the component shares */
struct dft_cp_span {
	uint64_t id;
	uint64_t parent; /* 0 = none */
	uint64_t start_ns, end_ns;
	const char *component;
	bool estimated; /* rebuilt by the collector: its end is an estimate */
};

/* [from_ns, to_ns) of the path spent in span `span` (its own time there) */
struct dft_cp_seg {
	uint32_t span;
	uint64_t from_ns, to_ns;
};

#define DFT_CP_NO_SLACK INT64_MIN

struct dft_cp_share {
	const char *component; /* points into the input spans */
	uint64_t ns;           /* path time in this component's spans */
	uint64_t estimated_ns; /* of which in rebuilt spans */
};

struct dft_cp {
	uint32_t n;
	int32_t root;            /* index of the root span */
	uint64_t total_ns;       /* root end - root start */
	bool *on_path;           /* [n] */
	uint64_t *path_ns;       /* [n]: own time on the path */
	int64_t *slack_ns;       /* [n]: DFT_CP_NO_SLACK when not waited on or not under the root */
	int32_t *parent_idx;     /* [n]: -1 when the parent is not in the trace */
	struct dft_cp_seg *segs; /* in time order */
	uint32_t n_segs;
	struct dft_cp_share *shares; /* largest first */
	uint32_t n_shares;
	uint64_t estimated_ns; /* path time in rebuilt spans */
	uint32_t detached;     /* spans not under the root (other roots, cycles) */
};

/*
 * The root: the span without a parent in the trace that lasts longest (ties: earliest start).
 * Duplicate span ids: the first one counts, the others are detached. Returns 0, -EINVAL (n == 0),
 * -ENOMEM.
 */
int dft_cp_compute(const struct dft_cp_span *sp, uint32_t n, struct dft_cp **out);
void dft_cp_free(struct dft_cp *cp);

#endif /* DFT_CRITICAL_PATH_H */
