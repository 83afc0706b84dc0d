/* SPDX-License-Identifier: MIT */
/*
 * Counters: the rte_telemetry command /difftrace/stats and the --stats-json file show the same
 * keys. The telemetry callback runs on DPDK's telemetry thread: it only loads counters (relaxed),
 * never writes them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_telemetry.h>

#include "nic.h"

struct dft_nic_counters dft_nic_ctr;
bool dft_nic_tx_ready;

#define CTR_FIELDS(X)                                                                                             \
	X(produced) X(reported) X(filtered) X(lost_ring_full) X(lost_no_ring) X(lost_invalid) X(lost_backlog_full) \
	X(lost_transport) X(lost_hold_overflow) X(batches_built) X(batches_admitted) X(batches_sent)               \
	X(batches_acked) X(backlog_batches) X(ring_corrupt) X(connects) X(disconnects) X(regions_attached)          \
	X(regions_refused) X(regions_net) X(regions_retired) X(held) X(hold_timeouts) X(hold_root_drops) X(hold_released)           \
	X(anomalous_evicted) X(hold_path_drops) X(hold_want_full) X(names_full) X(prof_keys_full)                  \
	X(children_evicted) X(prof_clock_resets) X(span_clock_jumps) X(profiles_built) X(profiles_dropped)          \
	X(metrics_torn) X(metrics_bad) X(dma_copies) X(dma_errors) X(rdma_reads) X(rdma_writes) X(rdma_errors)

void dft_nic_snapshot(struct dft_nic_snapshot *s)
{
	struct dft_nic_counters *c = &s->c;
	uint64_t out;

	/* main-side counters first: a span moves batched -> (reported | lost_*) only after it was
	 * batched, so reading the worker's batched last never makes in_flight negative */
#define LOAD(f) c->f = dft_ctr_get(&dft_nic_ctr.f);
	CTR_FIELDS(LOAD)
#undef LOAD
	for (unsigned i = 0; i < DFT_INVALID_COUNT; i++)
		c->invalid[i] = dft_ctr_get(&dft_nic_ctr.invalid[i]);
	for (unsigned i = 0; i < DFT_KEEP_RULES; i++)
		c->kept[i] = dft_ctr_get(&dft_nic_ctr.kept[i]);
	c->batched = dft_ctr_get(&dft_nic_ctr.batched);
	out = c->reported + c->lost_backlog_full + c->lost_transport;
	/* spans in the hold window are consumed but not yet reported or filtered */
	s->in_flight = (c->batched > out ? c->batched - out : 0) + c->held;
}

static int telemetry_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dft_nic_snapshot s;
	char key[64];

	(void)cmd;
	(void)params;
	dft_nic_snapshot(&s);
	rte_tel_data_start_dict(d);
#define ADD(f) rte_tel_data_add_dict_u64(d, #f, s.c.f);
	CTR_FIELDS(ADD)
#undef ADD
	rte_tel_data_add_dict_u64(d, "in_flight", s.in_flight);
	for (unsigned i = 0; i < DFT_KEEP_RULES; i++) {
		snprintf(key, sizeof(key), "kept_%s", dft_keep_reason_name(i));
		rte_tel_data_add_dict_u64(d, key, s.c.kept[i]);
	}
	for (unsigned i = 1; i < DFT_INVALID_COUNT; i++) {
		snprintf(key, sizeof(key), "invalid_%s", dft_invalid_reason_name(i));
		rte_tel_data_add_dict_u64(d, key, s.c.invalid[i]);
	}
	return 0;
}

int dft_nic_telemetry_register(void)
{
	return rte_telemetry_register_cmd("/difftrace/stats", telemetry_stats,
					  "Returns difftrace-nic counters. Takes no parameters");
}

int dft_nic_stats_write(const char *path)
{
	struct dft_nic_snapshot s;
	char tmp[4096];
	FILE *f;
	int rc = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	dft_nic_snapshot(&s);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fputc('{', f);
#define PUT(fl) fprintf(f, "\"%s\":%" PRIu64 ",", #fl, s.c.fl);
	CTR_FIELDS(PUT)
#undef PUT
	for (unsigned i = 1; i < DFT_INVALID_COUNT; i++)
		fprintf(f, "\"invalid_%s\":%" PRIu64 ",", dft_invalid_reason_name(i), s.c.invalid[i]);
	for (unsigned i = 0; i < DFT_KEEP_RULES; i++)
		fprintf(f, "\"kept_%s\":%" PRIu64 ",", dft_keep_reason_name(i), s.c.kept[i]);
	fprintf(f, "\"in_flight\":%" PRIu64 "}\n", s.in_flight);
	if (fflush(f) || ferror(f))
		rc = -EIO;
	if (fclose(f) && !rc)
		rc = -EIO;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}
