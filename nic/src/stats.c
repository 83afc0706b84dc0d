/* SPDX-License-Identifier: MIT */
/*
 * Counters: the rte_telemetry command /difftrace/stats and the --stats-json file show the same
 * keys. The telemetry callback runs on DPDK's telemetry thread: it only loads counters (relaxed),
 * never writes them.
 */
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_telemetry.h>

#include "epoch.h"
#include "region.h"
#include "stats.h"
#include "tenant.h"

struct dft_nic_counters dft_nic_ctr;
bool dft_nic_tx_ready;
bool dft_nic_collector_busy;

#define CTR_FIELDS(X)                                                                                             \
	X(produced) X(reported) X(filtered) X(lost_ring_full) X(lost_no_ring) X(lost_invalid) X(lost_backlog_full) \
	X(lost_transport) X(lost_hold_overflow) X(batches_built) X(batches_admitted) X(batches_sent)               \
	X(batches_acked) X(backlog_batches) X(ring_corrupt) X(connects) X(connect_failures) X(disconnects) X(regions_attached)          \
	X(regions_refused) X(regions_net) X(regions_retired) X(held) X(hold_timeouts) X(hold_root_drops) X(hold_released)           \
	X(anomalous_evicted) X(hold_path_drops) X(hold_want_full) X(hold_extended) X(names_full) X(prof_keys_full)                  \
	X(children_evicted) X(prof_clock_resets) X(span_clock_jumps) X(profiles_built) X(profiles_dropped)          \
	X(metrics_torn) X(metrics_bad) X(dma_copies) X(dma_errors) X(rdma_reads) X(rdma_writes) X(rdma_errors)      \
	X(hops_dropped) X(status_msg_invalid) X(reg_conns_timed_out) X(reg_conns_evicted) X(adopted)                \
	X(collector_busy)

/* Per-region rows, one writer (the worker) and any number of readers (telemetry). */
static struct {
	pthread_mutex_t mu;
	uint32_t n;
	struct dft_nic_region_stat v[DFT_NIC_MAX_REGIONS];
} regions_pub = {.mu = PTHREAD_MUTEX_INITIALIZER};

/*
 * The worker publishes every 10 ms and never waits: when a telemetry reader holds the lock it skips
 * this publication (the next one comes 10 ms later). A lock, not a seqlock: off the span path, and
 * checkable by ThreadSanitizer.
 */
void dft_nic_regions_publish(const struct dft_nic_region_stat *v, unsigned n)
{
	if (n > DFT_NIC_MAX_REGIONS)
		n = DFT_NIC_MAX_REGIONS;
	if (pthread_mutex_trylock(&regions_pub.mu))
		return;
	regions_pub.n = n;
	memcpy(regions_pub.v, v, n * sizeof(*v));
	pthread_mutex_unlock(&regions_pub.mu);
}

int dft_nic_regions_read(struct dft_nic_region_stat *out, unsigned max)
{
	unsigned n;

	pthread_mutex_lock(&regions_pub.mu);
	n = regions_pub.n;
	memcpy(out, regions_pub.v, (n < max ? n : max) * sizeof(*out));
	pthread_mutex_unlock(&regions_pub.mu);
	return (int)n;
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
	rte_tel_data_add_dict_u64(d, "epoch", dft_nic_epoch);
	rte_tel_data_add_dict_string(d, "collector_health", __atomic_load_n(&dft_nic_collector_busy, __ATOMIC_RELAXED)
								   ? "degraded: collector storage" : "ok");
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

#define TENANT_FIELDS(X)                                                                                       \
	X(produced) X(reported) X(filtered) X(lost_ring_full) X(lost_no_ring) X(lost_invalid) X(lost_hold_overflow) \
	X(lost_backlog_full) X(lost_transport) X(batched) X(held) X(consumed) X(deferred)

static int telemetry_tenants(const char *cmd, const char *params, struct rte_tel_data *d)
{
	const struct dft_tenants_cfg *c = dft_tenants_published();

	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (unsigned i = 0; c && i < c->n; i++) {
		struct rte_tel_data *r = rte_tel_data_alloc();
		struct dft_tenant_ctr t;
		uint64_t in_flight = dft_tenant_snapshot(i, &t);

		if (!r)
			return -ENOMEM;
		rte_tel_data_start_dict(r);
#define ADD(fl) rte_tel_data_add_dict_u64(r, #fl, t.fl);
		TENANT_FIELDS(ADD)
#undef ADD
		rte_tel_data_add_dict_u64(r, "in_flight", in_flight);
		if (rte_tel_data_add_dict_container(d, c->t[i].name, r, 0)) {
			rte_tel_data_free(r);
			break;
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
	rc = rte_telemetry_register_cmd("/difftrace/tenants", telemetry_tenants,
					"Returns each tenant's span accounting (tenant.h). Takes no parameters");
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
	fprintf(f, "{\"epoch\":\"%016" PRIx64 "\",\"collector_health\":\"%s\",", dft_nic_epoch,
		__atomic_load_n(&dft_nic_collector_busy, __ATOMIC_RELAXED) ? "degraded: collector storage" : "ok");
#define PUT(fl) fprintf(f, "\"%s\":%" PRIu64 ",", #fl, s.c.fl);
	CTR_FIELDS(PUT)
#undef PUT
	for (unsigned i = 1; i < DFT_INVALID_COUNT; i++)
		fprintf(f, "\"invalid_%s\":%" PRIu64 ",", dft_invalid_reason_name(i), s.c.invalid[i]);
	for (unsigned i = 0; i < DFT_KEEP_RULES; i++)
		fprintf(f, "\"kept_%s\":%" PRIu64 ",", dft_keep_reason_name(i), s.c.kept[i]);
	{
		const struct dft_tenants_cfg *c = dft_tenants_published();

		/* tenant names are configuration (1..62 bytes, no quotes checked): written as they are */
		fputs("\"tenants\":{", f);
		for (unsigned i = 0; c && i < c->n; i++) {
			struct dft_tenant_ctr t;
			uint64_t in_flight = dft_tenant_snapshot(i, &t);

			fprintf(f, "%s\"%s\":{", i ? "," : "", c->t[i].name);
#define PUT(fl) fprintf(f, "\"%s\":%" PRIu64 ",", #fl, t.fl);
			TENANT_FIELDS(PUT)
#undef PUT
			fprintf(f, "\"in_flight\":%" PRIu64 "}", in_flight);
		}
		fputs("},", f);
	}
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
