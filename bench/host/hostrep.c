/* SPDX-License-Identifier: MIT */
/*
 * The host-reporting baseline's background thread (see hostrep.h). It runs the NIC daemon's
 * modules without DPDK's EAL: registration server, mmap ingest, slot validation, filter rules with
 * the profiler's thresholds, protobuf batching and the TCP transport with its backlog and ACKs.
 * Left out on purpose: the hold window (the bench runs the daemon with --no-hold too) and the
 * metrics page (no contention readings are published). When the transport's backlog is full the
 * thread stops taking spans out of the rings (blocking mode: a full ring then drops, counted by the
 * library), the way an SDK exporter applies back-pressure.
 */
#define _GNU_SOURCE
#include "hostrep.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"
#include "dft/clock.h"
#include "ingest.h"
#include "nic.h"

#define BURST 64u

struct dft_hostrep {
	struct dft_hostrep_opts o;
	pthread_t thread;
	bool running;
	bool stop;  /* written by the stopping thread */
	bool idle;  /* written by the reporting thread */
	struct dft_nic_config cfg;
	struct dft_reg_server *reg;
	struct dft_ingest *in;         /* an mmap ingest instance */
	struct dft_nic_region *region; /* one application process */
	bool detached;
	struct dft_names *names;
	struct dft_profiler *prof;
	struct dft_filter filter;
	struct dft_batch *open;
	uint64_t open_ns;
	struct dft_tx *tx;
	uint64_t seq;
	uint64_t empty_gname;
	struct dft_slot burst[BURST];
	/* counters: written by the thread, read with relaxed loads */
	uint64_t consumed, filtered, batched, invalid, lost_backlog_full, batches;
};

static int on_attach(void *arg, struct dft_nic_region *r)
{
	struct dft_hostrep *h = arg;

	if (h->region)
		return -EBUSY; /* one application process per baseline */
	r->gname = calloc((size_t)r->g.name_capacity + 1, sizeof(*r->gname));
	if (!r->gname)
		return -ENOMEM;
	if (dft_ingest_attach(h->in, r)) {
		free(r->gname);
		r->gname = NULL;
		return -ENOMEM;
	}
	if (dft_view_clock(h->in, r, &r->cal) == 0)
		r->cal_tsc = 1;
	h->region = r;
	h->detached = false;
	return 0;
}

static void on_detach(void *arg, struct dft_nic_region *r)
{
	struct dft_hostrep *h = arg;

	if (r == h->region)
		h->detached = true;
}

struct gname_src {
	struct dft_hostrep *h;
	struct dft_nic_region *r;
};

static uint32_t gname(void *arg, uint16_t id)
{
	struct dft_hostrep *h = ((struct gname_src *)arg)->h;
	struct dft_nic_region *r = ((struct gname_src *)arg)->r;
	char name[DFT_NAME_MAX + 1];
	uint32_t g;

	if (id == 0 || id > r->g.name_capacity)
		return (uint32_t)h->empty_gname;
	g = r->gname[id];
	if (g == UINT32_MAX)
		return 0;
	if (g)
		return g;
	if (dft_view_name(h->in, r, r->names_published, id, name, sizeof(name)) < 0)
		return (uint32_t)h->empty_gname;
	g = dft_names_intern(h->names, name);
	r->gname[id] = g ? g : UINT32_MAX;
	return g;
}

static void counters_msg(struct dft_hostrep *h, Difftrace__Counters *c)
{
	difftrace__counters__init(c);
	c->produced = h->consumed;
	c->reported = dft_ctr_get(&dft_nic_ctr.reported);
	c->filtered = h->filtered;
	c->lost_invalid = h->invalid;
	c->lost_backlog_full = h->lost_backlog_full;
	c->batches = h->seq + 1;
}

/* Pack the open batch and hand it to the transport. false: the backlog is full, try later. */
static bool close_batch(struct dft_hostrep *h)
{
	const struct dft_tx_ops *txo = &dft_tx_tcp_ops;
	Difftrace__Counters c;
	uint32_t n;
	uint8_t *buf;
	size_t len;

	if (!h->open)
		return true;
	if (!dft_backlog_has_room(txo->backlog(h->tx)))
		return false;
	n = dft_batch_spans(h->open);
	counters_msg(h, &c);
	if (dft_batch_pack(h->open, h->cfg.sender_id, h->seq + 1, dft_clock_ns(CLOCK_REALTIME), &c, txo->hdr_room,
			   &buf, &len) ||
	    txo->admit(h->tx, h->seq + 1, n, buf, len)) {
		dft_ctr_add(&h->lost_backlog_full, n);
	} else {
		h->seq++;
		dft_ctr_add(&h->batches, 1);
	}
	dft_batch_destroy(h->open);
	h->open = NULL;
	return true;
}

/* Validate, judge and batch one span. Returns false when it could not be taken now (backlog full). */
static bool take(struct dft_hostrep *h, struct dft_nic_region *r, const struct dft_slot *s)
{
	struct gname_src gs = {.h = h, .r = r};
	struct dft_span_facts x = {0};
	enum dft_invalid_reason why;
	struct dft_span_rec rec;
	uint32_t keep;
	int key = -1;

	if (h->open && dft_batch_full(h->open) && !close_batch(h))
		return false;
	if (dft_slot_validate(s, &r->g, r->names_published, &why) || s->n_cont || !r->cal_tsc) {
		dft_ctr_add(&h->invalid, 1); /* the bench's spans carry no hops */
		return true;
	}
	/* decoded once, as the daemon's worker does (span.h) */
	dft_span_decode(s, NULL, &r->g, &r->cal, gname, &gs, &rec);
	x.kind = dft_filter_kind(&h->filter, &rec, r->g.component_kind, NULL);
	rec.kind = (uint8_t)x.kind;
	x.duration_ns = rec.end_ns - rec.start_ns;
	if (rec.comp && rec.op)
		key = dft_profiler_key(h->prof, rec.comp, rec.op);
	dft_profiler_limits(h->prof, key, &x.lim);
	keep = dft_filter_decide(&h->filter, &rec, &x);
	rec.keep_reasons = keep;
	dft_profiler_observe(h->prof, key,
			     &(struct dft_prof_obs){.end_ns = rec.end_ns, .duration_ns = x.duration_ns,
						    .self_ns = x.duration_ns, .queue_ns = rec.queue_ns});
	dft_profiler_count(h->prof, key, keep != 0);
	if (!keep) {
		dft_ctr_add(&h->filtered, 1);
		return true;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		if (!h->open) {
			if (dft_batch_create(h->cfg.batch_spans, &h->open)) {
				dft_ctr_add(&h->lost_backlog_full, 1);
				return true;
			}
			h->open_ns = dft_bench_now_ns();
		}
		if (dft_batch_add(h->open, h->names, &rec) == 0) {
			dft_ctr_add(&h->batched, 1);
			return true;
		}
		if (!close_batch(h))
			return false;
	}
	dft_ctr_add(&h->invalid, 1);
	return true;
}

static int poll_rings(struct dft_hostrep *h)
{
	struct dft_nic_region *r = h->region;
	int work = 0;

	if (!r)
		return 0;
	r->names_published = dft_view_names_published(h->in, r);
	for (uint32_t k = 0; k < r->g.ring_count; k++) {
		int n = dft_ingest_poll(h->in, r, k, h->burst, BURST), used = 0;

		if (n <= 0)
			continue;
		while (used < n && take(h, r, &h->burst[used]))
			used++;
		dft_ingest_release(h->in, r, k, (uint32_t)used);
		dft_ctr_add(&h->consumed, (uint64_t)used);
		work += used;
		if (used < n)
			break; /* back-pressure: the transport must drain first */
	}
	if (!work && h->detached) {
		dft_ingest_detach(h->in, r);
		free(r->gname);
		r->gname = NULL;
		dft_region_free(r);
		h->region = NULL;
	}
	return work;
}

static void *reporter(void *arg)
{
	struct dft_hostrep *h = arg;
	uint64_t next_reg = 0, next_tick = 0, next_tx = 0, seq0;
	unsigned idle_us = 0;

	dft_bench_pin(h->o.cpu);
	while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
		uint64_t now = dft_bench_now_ns();
		int work = 0;

		if (now >= next_reg) {
			work += dft_reg_server_poll(h->reg, on_attach, on_detach, h);
			next_reg = now + 1000000;
		}
		if (now >= next_tick) {
			dft_profiler_tick(h->prof, now);
			next_tick = now + 1000000;
		}
		seq0 = h->seq;
		work += poll_rings(h);
		if (h->open && dft_batch_spans(h->open) && now - h->open_ns >= (uint64_t)h->cfg.flush_us * 1000)
			close_batch(h);
		/* the transport costs syscalls (send, recv of ACKs): run it when a batch was admitted, or
		 * every 200 us for ACKs and reconnects, not on every turn of the loop */
		if (h->seq != seq0 || now >= next_tx || dft_backlog_unacked(dft_tx_tcp_ops.backlog(h->tx)) >= h->cfg.backlog) {
			work += dft_tx_tcp_ops.poll(h->tx, dft_ticks());
			next_tx = now + 200000;
		}
		__atomic_store_n(&h->idle,
				 work == 0 && !h->open && dft_backlog_unacked(dft_tx_tcp_ops.backlog(h->tx)) == 0, __ATOMIC_RELEASE);
		if (work) {
			idle_us = 0;
			continue;
		}
		/* an SDK's export worker waits on a timer when there is nothing to do: back off to 1 ms */
		idle_us = idle_us ? (idle_us * 2 > 1000 ? 1000 : idle_us * 2) : 50;
		dft_bench_sleep_us(idle_us);
	}
	/* last spans, last batch, then up to 5 s for the ACKs */
	while (poll_rings(h) > 0)
		;
	close_batch(h);
	for (int i = 0; i < 5000 && dft_backlog_unacked(dft_tx_tcp_ops.backlog(h->tx)); i++) {
		dft_tx_tcp_ops.poll(h->tx, dft_ticks());
		dft_bench_sleep_us(1000);
	}
	return NULL;
}

int dft_hostrep_start(const struct dft_hostrep_opts *o, struct dft_hostrep **out)
{
	struct dft_hostrep *h;
	struct dft_prof_cfg pc;
	int rc;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->o = *o;
	dft_nic_config_defaults(&h->cfg);
	snprintf(h->cfg.collector_host, sizeof(h->cfg.collector_host), "127.0.0.1");
	snprintf(h->cfg.collector_port, sizeof(h->cfg.collector_port), "%d", o->collector_port);
	h->cfg.sender_id = (dft_ticks() * 0x9e3779b97f4a7c15ull) | 1;
	if (o->batch_spans)
		h->cfg.batch_spans = o->batch_spans;
	if (o->flush_us)
		h->cfg.flush_us = o->flush_us;
	dft_filter_cfg_defaults(&h->filter.cfg);
	h->filter.cfg.contention = false;
	dft_prof_cfg_defaults(&pc);
	/* eviction as the daemon's default ([ingest] evict) */
	rc = dft_ingest_create(&(struct dft_ingest_cfg){.name = "mmap", .evict_slots = true}, &h->in);
	if (rc)
		goto fail;
	rc = dft_names_create(h->cfg.max_names ? h->cfg.max_names : 4096, &h->names);
	if (rc)
		goto fail;
	h->empty_gname = dft_names_intern(h->names, "");
	rc = dft_profiler_create(&pc, &h->prof);
	if (rc)
		goto fail;
	rc = dft_tx_tcp_ops.create(&h->cfg, &h->tx);
	if (rc)
		goto fail;
	rc = dft_reg_server_create(o->socket_path, h->cfg.sender_id, &h->reg);
	if (rc)
		goto fail;
	rc = -pthread_create(&h->thread, NULL, reporter, h);
	if (rc)
		goto fail;
	h->running = true;
	*out = h;
	return 0;
fail:
	dft_hostrep_stop(h);
	return rc;
}

bool dft_hostrep_idle(struct dft_hostrep *h)
{
	return __atomic_load_n(&h->idle, __ATOMIC_ACQUIRE);
}

void dft_hostrep_stats(struct dft_hostrep *h, struct dft_hostrep_stats *out)
{
	out->consumed = dft_ctr_get(&h->consumed);
	out->filtered = dft_ctr_get(&h->filtered);
	out->batched = dft_ctr_get(&h->batched);
	out->invalid = dft_ctr_get(&h->invalid);
	out->lost_backlog_full = dft_ctr_get(&h->lost_backlog_full);
	out->batches = dft_ctr_get(&h->batches);
	out->reported = dft_ctr_get(&dft_nic_ctr.reported);
	/* read from outside: a getrusage in the loop would itself be a syscall per turn */
	{
		clockid_t cid;

		out->thread_cpu_ns = h->running && !pthread_getcpuclockid(h->thread, &cid) ? dft_clock_ns(cid) : 0;
	}
}

void dft_hostrep_stop(struct dft_hostrep *h)
{
	if (!h)
		return;
	if (h->running) {
		__atomic_store_n(&h->stop, true, __ATOMIC_RELEASE);
		pthread_join(h->thread, NULL);
	}
	if (h->region) {
		dft_ingest_detach(h->in, h->region);
		free(h->region->gname);
		h->region->gname = NULL;
		dft_region_free(h->region);
	}
	if (h->reg)
		dft_reg_server_destroy(h->reg);
	if (h->tx)
		dft_tx_tcp_ops.destroy(h->tx);
	dft_batch_destroy(h->open);
	if (h->prof)
		dft_profiler_destroy(h->prof);
	if (h->names)
		dft_names_destroy(h->names);
	dft_ingest_destroy(h->in);
	free(h);
}
