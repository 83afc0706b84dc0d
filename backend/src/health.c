/* SPDX-License-Identifier: MIT */
/*
 * Storage health. When the store cannot write (disk full, read-only file system, I/O errors) the
 * collector must not acknowledge anything, and must not turn the failure into a storm: every
 * sender of a failed round gets a BUSY frame instead of its ACKs and is disconnected, and the NIC
 * waits before it tries again, longer each time (nic/src/tx_tcp.c). The round's work is rolled
 * back whole; the NICs still hold every unacknowledged batch, so nothing accepted is lost, and the
 * first commit that succeeds again ends the degraded state.
 *
 * One failure can repeat every round, so its log line is rate limited: the first failure, then at
 * most one line per DFT_HEALTH_LOG_MS with the number held back, and one line at recovery.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "collector.h"
#include "health.h"
#include "store_sqlite.h"

#define DFT_HEALTH_LOG_MS 10000u

static uint64_t last_log_ms;
static uint64_t held_back;

bool dft_store_fault(struct dft_store *st)
{
	switch (sqlite3_errcode(dft_store_sqlite(st)) & 0xff) {
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_CANTOPEN:
	case SQLITE_NOMEM:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_NOLFS:
		return true;
	default:
		return dft_fault_store_full();
	}
}

bool dft_fault_store_full(void)
{
	const char *f = getenv("DFT_FAULT_STORE_FULL");

	return f && f[0] && access(f, F_OK) == 0;
}

void dft_fault_commit_delay(void)
{
	const char *v = getenv("DFT_FAULT_COMMIT_DELAY_MS");
	long ms = v ? strtol(v, NULL, 10) : 0;

	if (ms > 0 && ms <= 60000) {
		struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

		nanosleep(&ts, NULL);
	}
}

void dft_health_failed(struct dft_collector_stats *cs, uint64_t now_ms, const char *why)
{
	cs->storage_failures++;
	if (!cs->degraded) {
		cs->degraded = true;
		cs->degraded_since_ms = now_ms;
		fprintf(stderr,
		        "difftrace-collector: storage failing (%s): degraded; nothing is acknowledged, senders are "
		        "told BUSY and resend later\n", why);
		last_log_ms = now_ms;
		held_back = 0;
		return;
	}
	if (now_ms - last_log_ms < DFT_HEALTH_LOG_MS) {
		held_back++;
		cs->log_suppressed++;
		return;
	}
	fprintf(stderr, "difftrace-collector: storage still failing (%s); %" PRIu64 " failures since the last message\n",
	        why, held_back + 1);
	last_log_ms = now_ms;
	held_back = 0;
}

void dft_health_ok(struct dft_collector_stats *cs, uint64_t now_ms)
{
	if (!cs->degraded)
		return;
	cs->degraded = false;
	fprintf(stderr, "difftrace-collector: storage recovered after %" PRIu64 " ms (%" PRIu64 " failed rounds in all)\n",
	        now_ms - cs->degraded_since_ms, cs->storage_failures);
}
