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
	X(batches_acked) X(backlog_batches) X(ring_corrupt) X(connects) X(connect_failures) X(disconnects) X(regions_attached)          \
	X(regions_refused) X(regions_retired) X(held) X(hold_timeouts) X(hold_root_drops) X(hold_released)           \
	X(anomalous_evicted) X(hold_path_drops) X(hold_want_full) X(hold_extended) X(names_full) X(prof_keys_full)                  \
	X(children_evicted) X(prof_clock_resets) X(span_clock_jumps) X(profiles_built) X(profiles_dropped)          \
	X(metrics_torn) X(metrics_bad) X(dma_copies) X(dma_errors) X(rdma_reads) X(rdma_writes) X(rdma_errors)      \
	X(hops_dropped) X(status_msg_invalid) X(reg_conns_timed_out) X(reg_conns_evicted)

/*
 * Per-region rows, one writer (the worker) and any number of readers (telemetry). A seqlock rather
 * than a lock: the worker never waits for a reader.
 *   [Q1] the writer makes seq odd, then (release fence) writes the rows, then makes it even with a
 *        release store; a reader that loads an even seq with acquire, copies, and (acquire fence)
 *        finds seq unchanged saw one whole publication.
 */
static struct {
	uint32_t seq;
	uint32_t n;
	struct dft_nic_region_stat v[DFT_NIC_MAX_REGIONS];
} regions_pub;

void dft_nic_regions_publish(const struct dft_nic_region_stat *v, unsigned n)
{
	uint32_t seq = __atomic_load_n(&regions_pub.seq, __ATOMIC_RELAXED);

	if (n > DFT_NIC_MAX_REGIONS)
		n = DFT_NIC_MAX_REGIONS;
	__atomic_store_n(&regions_pub.seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE); /* [Q1] odd before any row changes */
	__atomic_store_n(&regions_pub.n, n, __ATOMIC_RELAXED);
	memcpy(regions_pub.v, v, n * sizeof(*v));
	__atomic_store_n(&regions_pub.seq, seq + 2, __ATOMIC_RELEASE); /* [Q1] */
}

int dft_nic_regions_read(struct dft_nic_region_stat *out, unsigned max)
{
	for (int tries = 0; tries < 100; tries++) {
		uint32_t s1 = __atomic_load_n(&regions_pub.seq, __ATOMIC_ACQUIRE), s2, n; /* [Q1] */

		if (s1 & 1)
			continue;
		n = __atomic_load_n(&regions_pub.n, __ATOMIC_RELAXED);
		if (n > DFT_NIC_MAX_REGIONS)
			continue; /* torn */
		memcpy(out, regions_pub.v, (n < max ? n : max) * sizeof(*out));
		__atomic_thread_fence(__ATOMIC_ACQUIRE); /* [Q1] the copy before the second look */
		s2 = __atomic_load_n(&regions_pub.seq, __ATOMIC_RELAXED);
		if (s1 == s2)
			return (int)n;
	}
	return -EBUSY;
}

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

/* rows shown: a telemetry reply is one 16 KB message, a row ~150 bytes */
#define TELEMETRY_REGIONS 64u

static int telemetry_regions(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct dft_nic_region_stat v[TELEMETRY_REGIONS]; /* on the stack: each client has its own thread */
	char key[32];
	int n;

	(void)cmd;
	(void)params;
	n = dft_nic_regions_read(v, TELEMETRY_REGIONS);
	if (n < 0)
		return n;
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "regions", (uint64_t)n);
	for (int i = 0; i < n && i < (int)TELEMETRY_REGIONS; i++) {
		struct rte_tel_data *r = rte_tel_data_alloc();

		if (!r)
			return -ENOMEM;
		rte_tel_data_start_dict(r);
		rte_tel_data_add_dict_u64(r, "pid", v[i].pid);
		rte_tel_data_add_dict_u64(r, "peer_pid", v[i].peer_pid);
		rte_tel_data_add_dict_u64(r, "peer_uid", v[i].peer_uid);
		rte_tel_data_add_dict_u64(r, "instance_id", v[i].instance_id);
		rte_tel_data_add_dict_u64(r, "produced", v[i].produced);
		rte_tel_data_add_dict_u64(r, "lost_ring_full", v[i].lost_ring_full);
		rte_tel_data_add_dict_u64(r, "lost_no_ring", v[i].lost_no_ring);
		rte_tel_data_add_dict_u64(r, "hops_dropped", v[i].hops_dropped);
		snprintf(key, sizeof(key), "region_%u", v[i].id);
		if (rte_tel_data_add_dict_container(d, key, r, 0)) {
			rte_tel_data_free(r);
			break; /* the reply is full */
		}
	}
	return 0;
}

int dft_nic_telemetry_register(void)
{
	int rc = rte_telemetry_register_cmd("/difftrace/stats", telemetry_stats,
					    "Returns difftrace-nic counters. Takes no parameters");

	if (rc)
		return rc;
	return rte_telemetry_register_cmd("/difftrace/regions", telemetry_regions,
					  "Returns each live region's host-written counters as clamped (the first 64). "
					  "Takes no parameters");
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
