/* SPDX-License-Identifier: MIT */
/*
 * difftrace-nic's log types, one per module, registered with rte_log so EAL's --log-level tunes
 * them: --log-level='difftrace.*:debug', --log-level=difftrace.tx:info. Messages that can repeat
 * for as long as a fault lasts (a collector that refuses connections) go through dft_log_limit,
 * which lets one through per interval and says how many it held back.
 *
 * Usage errors found before EAL parses its arguments (the command line, --config) are printed to
 * stderr directly: at that point no --log-level could have been applied yet.
 */
#ifndef DFT_NIC_LOG_H
#define DFT_NIC_LOG_H

#include <stdint.h>

#include <rte_log.h>

extern int dft_logtype_main;   /* difftrace.main: start, stop, setup */
extern int dft_logtype_ingest; /* difftrace.ingest: ingest backends */
extern int dft_logtype_reg;    /* difftrace.reg: host registrations */
extern int dft_logtype_filter; /* difftrace.filter: rules, profiler, hold window */
extern int dft_logtype_tx;     /* difftrace.tx: transports to the collector */

#define DFT_LOG(level, type, fmt, ...) \
	rte_log(RTE_LOG_##level, dft_logtype_##type, "difftrace-nic: " fmt "\n", ##__VA_ARGS__)

/* One message per interval_ns at most; the rest are counted and reported with the next one. */
struct dft_log_limit {
	uint64_t interval_ns;
	uint64_t next_ns;
	uint64_t held_back;
};

/* True when a message may go out now (then *held is how many were held back since the last). */
static inline int dft_log_limit_pass(struct dft_log_limit *l, uint64_t now_ns, uint64_t *held)
{
	if (now_ns < l->next_ns) {
		l->held_back++;
		return 0;
	}
	*held = l->held_back;
	l->held_back = 0;
	l->next_ns = now_ns + l->interval_ns;
	return 1;
}

#endif /* DFT_NIC_LOG_H */
