/* SPDX-License-Identifier: MIT */
/* Storage health (health.c): faults of the store, their injection for tests, the degraded state. */
#ifndef DFT_HEALTH_H
#define DFT_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

struct dft_collector_stats;
struct dft_store;

#define DFT_BUSY_RETRY_MS 500u /* what a BUSY frame asks for; the NIC doubles its wait per BUSY */

/* Is the store's last error a storage fault (full, read-only, I/O, cannot open) rather than a bad
 * batch? Such a failure ends the round and is never blamed on the sender. */
bool dft_store_fault(struct dft_store *st);
/* The test hook: DFT_FAULT_STORE_FULL names a file; while it exists every commit fails as if the
 * disk were full. DFT_FAULT_COMMIT_DELAY_MS: each commit takes that much longer (a slow disk). */
bool dft_fault_store_full(void);
void dft_fault_commit_delay(void);
/* A round failed for want of storage / committed: health state and rate-limited log lines. */
void dft_health_failed(struct dft_collector_stats *cs, uint64_t now_ms, const char *why);
void dft_health_ok(struct dft_collector_stats *cs, uint64_t now_ms);

#endif /* DFT_HEALTH_H */
