/* SPDX-License-Identifier: MIT */
/*
 * The trace list behind `difftrace serve`: recent or anomalous traces with filters, as JSON or as
 * an HTML page. A trace is anomalous when a span in it was kept for a reason other than being a
 * user function's (error, queueing, outlier, cold start, contention, explicit keep, retro) or
 * ended with status ERROR.
 */
#ifndef DFT_VIEW_SERVE_LIST_H
#define DFT_VIEW_SERVE_LIST_H

#include "text.h"
#include "trace_store.h"

#define DFT_LIST_DEFAULT   100u
#define DFT_LIST_MAX       1000u
#define DFT_LIST_ANOMALOUS 20u /* rows of the front page's anomalous table */

struct dft_list_filter {
	const char *service; /* a component the trace has a span of, or NULL */
	uint32_t reason;     /* keep-reason bit some span carries, or 0 */
	const char *reason_name;
	uint64_t min_ns;         /* minimum trace duration */
	uint64_t from_ns, to_ns; /* trace start within [from, to]; to = 0: no upper bound */
	bool anomalous;
	uint32_t limit;
};

/*
 * Fills f from query values (any may be NULL). 0, or -EINVAL with a message naming the parameter.
 * Accepted: service, reason (a keep-reason name), min_ms (decimal ms), from / to (unix seconds or
 * YYYY-MM-DDTHH:MM[:SS] UTC), anomalous (1 / on / 0), limit (1..DFT_LIST_MAX).
 */
int dft_list_filter_parse(struct dft_list_filter *f, const char *service, const char *reason, const char *min_ms,
                          const char *from, const char *to, const char *anomalous, const char *limit,
                          struct dft_verr *err);

/* the list as JSON or as the page; 0 or -EIO with err */
int dft_list_json(sqlite3 *db, const struct dft_list_filter *f, struct dft_buf *o, struct dft_verr *err);
int dft_list_html(sqlite3 *db, const struct dft_list_filter *f, struct dft_buf *o, struct dft_verr *err);

#endif /* DFT_VIEW_SERVE_LIST_H */
