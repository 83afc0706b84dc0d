/* SPDX-License-Identifier: MIT */
/*
 * CPU contention windows. Contention is a property of a component over a stretch of time, not of
 * one request: windows start as a Poisson process (intensity = per-request rate x request rate),
 * each on one component drawn uniformly, all drawn up front from the seed. Every span of that
 * component that starts inside a window is slowed down and is anomalous; the run's metrics thread
 * publishes a high cpu_throttle_ppm for the component while the window is open.
 */
#ifndef DFT_GEN_ANOMALY_H
#define DFT_GEN_ANOMALY_H

#include <stdint.h>

struct dft_gen_window {
	uint64_t start, end; /* ns since the run's anchor */
	uint32_t comp;       /* contention target index */
};

struct dft_gen_contention {
	struct dft_gen_window *w; /* by start */
	uint32_t n;
	uint64_t len_ns;
};

/* Returns 0, -EINVAL, -ENOMEM; rate 0 or n_comp 0 gives no windows. */
int dft_gen_contention_build(struct dft_gen_contention *c, uint64_t seed, double per_request, double requests_per_s,
                             uint64_t duration_ns, uint32_t n_comp, uint64_t len_ns);
/* 1 when comp is in a window at t (ns since the anchor). */
int dft_gen_contention_active(const struct dft_gen_contention *c, uint32_t comp, uint64_t t);
/* The first window edge (a start or an end) after t (ns since the anchor); UINT64_MAX when none is
 * left. The metrics loop publishes each edge stamped with its own time. */
uint64_t dft_gen_contention_next_edge(const struct dft_gen_contention *c, uint64_t t);
void dft_gen_contention_free(struct dft_gen_contention *c);

#endif /* DFT_GEN_ANOMALY_H */
