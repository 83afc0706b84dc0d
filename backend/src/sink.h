/* SPDX-License-Identifier: MIT */
/* Output sinks: everything accepted goes to each sink before the store commits. */
#ifndef DFT_SINK_H
#define DFT_SINK_H

#include <stdbool.h>
#include <stdint.h>

#include "difftrace.pb-c.h"

struct dft_sink_ops {
	const char *name;
	/* Takes a validated, accepted (or synthesized: reconstructed) batch; adds the spans written to *spans. */
	int (*put)(void *ctx, const Difftrace__SpanBatch *b, bool reconstructed, uint64_t *spans);
	/* Called once per group commit before the store commits. */
	int (*flush)(void *ctx);
	/* Optional (NULL: nothing to do): close and reopen output files, between rounds (SIGHUP). */
	int (*reopen)(void *ctx);
	void (*destroy)(void *ctx);
};

struct dft_sink {
	const struct dft_sink_ops *ops;
	void *ctx;
};

#endif /* DFT_SINK_H */
