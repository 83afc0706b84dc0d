/* SPDX-License-Identifier: MIT */
/*
 * Internal interfaces of difftrace-nic. Ownership between lcores:
 *   main lcore:   configuration, registration server, transport, stats, telemetry answers
 *   worker lcore: ingest -> validate -> filter -> batch (the only code that touches a ring)
 * They talk only through rte_rings (control messages one way, replies and closed batches the other);
 * each counter has exactly one writing lcore and is read elsewhere with relaxed atomic loads.
 * With one lcore the main loop runs both halves in turn over the same rings.
 */
#ifndef DFT_NIC_H
#define DFT_NIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "difftrace.pb-c.h"
#include "dft/abi.h"
#include "dft/clock.h"
#include "dft/ring.h"
#include "dft/validate.h"

#define DFT_NIC_MAX_REGIONS 256u
#define DFT_NIC_MAX_PLATFORM 32u

/* ---- config.c */
struct dft_nic_config {
	const char *socket_path;
	char collector_host[256];
	char collector_port[16];
	uint64_t sender_id;
	uint32_t batch_spans;
	uint32_t flush_us;
	uint32_t backlog;
	const char *stats_json;
	const char *ready_file;
	bool busy_poll;
	unsigned n_platform;
	char platform[DFT_NIC_MAX_PLATFORM][DFT_NAME_MAX + 1];
};

/* Parse the options after EAL's `--` (argv[0] is the program name). Returns 0, 1 (--help printed) or
 * -EINVAL after printing a message that names the bad option. */
int dft_nic_config_parse(struct dft_nic_config *cfg, int argc, char **argv);
void dft_nic_usage(const char *prog);

/* ---- stats.c: counters, one writer each */
struct dft_nic_counters {
	/* written by the worker */
	uint64_t produced;
	uint64_t lost_ring_full;
	uint64_t lost_no_ring;
	uint64_t filtered;
	uint64_t lost_invalid;
	uint64_t batched; /* spans put into a batch (open, handed over, or in the backlog) */
	uint64_t batches_built;
	uint64_t ring_corrupt;
	uint64_t regions_retired;
	uint64_t invalid[DFT_INVALID_COUNT];
	/* written by the main lcore */
	uint64_t reported;
	uint64_t lost_backlog_full;
	uint64_t lost_transport;
	uint64_t lost_hold_overflow;
	uint64_t batches_sent;
	uint64_t batches_acked;
	uint64_t batches_admitted;
	uint64_t connects;
	uint64_t disconnects;
	uint64_t regions_attached;
	uint64_t regions_refused;
	uint64_t backlog_batches;
};

#define dft_ctr_add(p, v) __atomic_store_n((p), __atomic_load_n((p), __ATOMIC_RELAXED) + (v), __ATOMIC_RELAXED)
#define dft_ctr_set(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define dft_ctr_get(p) __atomic_load_n((p), __ATOMIC_RELAXED)

extern struct dft_nic_counters dft_nic_ctr;
/* Written by the main lcore: the transport is up with room to spare. While it is not, the worker
 * closes batches only when full (not on --flush-us), so an outage fills the backlog with full
 * batches instead of thousands of near-empty ones. */
extern bool dft_nic_tx_ready;

/* A consistent-enough snapshot with the derived in_flight. */
struct dft_nic_snapshot {
	struct dft_nic_counters c;
	uint64_t in_flight;
};
void dft_nic_snapshot(struct dft_nic_snapshot *s);
int dft_nic_telemetry_register(void);
/* Write the counters as JSON to path via path.tmp + rename. Returns 0 or -errno. */
int dft_nic_stats_write(const char *path);

/* ---- region.h-ish: one registered region (created by main, polled by the worker) */
struct dft_nic_ring_state {
	struct dft_ring_cons cons;
	uint64_t produced;     /* monotonic clamps of the host's counters */
	uint64_t dropped_full;
	uint64_t skip_until;   /* tsc: a corrupt ring is left alone until then */
};

struct dft_nic_region {
	uint32_t id;
	int fd;                /* the memfd (main owns it) */
	int conn;              /* the host's registration connection (main owns it) */
	void *base;
	struct dft_region_geom g;
	/* worker-owned from ATTACH to DETACHED */
	struct dft_nic_ring_state *rings;
	struct dft_clock_cal cal;
	uint64_t cal_tsc;
	uint64_t dropped_no_ring;
	uint32_t names_published;
	void *ingest_priv;
};

/* ---- filter.c */
/* keep_reasons bits (Span.keep_reasons) */
#define DFT_KEEP_FUNCTION 1u /* the span's component is a user function */
#define DFT_KEEP_ERROR 2u    /* status ERROR or DFT_SF_EXCEPTION */
#define DFT_KEEP_EXPLICIT 4u /* DFT_SF_KEEP */

struct dft_filter {
	unsigned n_platform;
	const char (*platform)[DFT_NAME_MAX + 1];
};

/* Effective component kind of a validated slot whose component name is comp. */
enum dft_kind dft_filter_kind(const struct dft_filter *f, const struct dft_slot *s, uint8_t region_kind,
			      const char *comp);
/* keep_reasons for the slot (0 = filtered). */
uint32_t dft_filter_decide(const struct dft_slot *s, enum dft_kind kind);

/* ---- batch.c */
/* What the batcher needs from a region: its names, identity and calibration. */
struct dft_batch_src {
	const void *base;
	const struct dft_region_geom *g;
	uint32_t names_published;
	const struct dft_clock_cal *cal;
};

struct dft_batch;

/* A batch with room for cap spans. Returns 0 or -ENOMEM. */
int dft_batch_create(uint32_t cap, struct dft_batch **out);
void dft_batch_destroy(struct dft_batch *b);
uint32_t dft_batch_spans(const struct dft_batch *b);
uint64_t dft_batch_open_tsc(const struct dft_batch *b);
void dft_batch_set_open_tsc(struct dft_batch *b, uint64_t tsc);
bool dft_batch_full(const struct dft_batch *b);

/*
 * Add a validated span slot (and its n_cont validated continuation slots in cont[]) with the
 * filter's verdict. Returns 0, or -ENOSPC when the batch (spans, hops or strings) cannot take it:
 * close the batch and add the span to a fresh one.
 */
int dft_batch_add(struct dft_batch *b, const struct dft_batch_src *src, const struct dft_slot *s,
		  const struct dft_slot *cont, enum dft_kind kind, uint32_t keep_reasons);

/*
 * Fill the header and pack: out receives a malloc'd buffer with room for a frame header in front
 * (hdr_room bytes) followed by the packed SpanBatch. Returns 0 or -ENOMEM.
 */
int dft_batch_pack(struct dft_batch *b, uint64_t sender_id, uint64_t seq, uint64_t created_ns,
		   const Difftrace__Counters *ctr, size_t hdr_room, uint8_t **out, size_t *out_len);

/* ---- tx_tcp.c: transports behind one interface */
struct dft_tx;
struct dft_tx_ops {
	const char *name;
	int (*create)(const struct dft_nic_config *cfg, struct dft_tx **out);
	void (*destroy)(struct dft_tx *t);
	/* connect/reconnect, send, read ACKs; now = rte_rdtsc(). Returns work done (>0) or 0. */
	int (*poll)(struct dft_tx *t, uint64_t now);
	/* Admit a packed frame (hdr_room bytes reserved in front) of n_spans spans; takes buf.
	 * Returns 0 or -ENOBUFS (backlog full: buf freed, nothing admitted). */
	int (*admit)(struct dft_tx *t, uint64_t seq, uint32_t n_spans, uint8_t *buf, size_t len);
	bool (*has_room)(const struct dft_tx *t);
	/* Connected and the backlog at most half full: worth closing batches early for latency. */
	bool (*ready)(const struct dft_tx *t);
	uint32_t (*unacked)(const struct dft_tx *t);
	uint64_t (*acked_seq)(const struct dft_tx *t);
	/* Drop every unacked batch; returns the spans they held. */
	uint64_t (*discard)(struct dft_tx *t);
	size_t hdr_room;
};
extern const struct dft_tx_ops dft_tx_tcp_ops;

/* ---- worker.c (pipeline) and control.c (main side) */
enum dft_ctl_type {
	DFT_CTL_ATTACH = 1,  /* main -> worker: region ready */
	DFT_CTL_DETACH,      /* main -> worker: host gone, drain and retire */
	DFT_CTL_STOP,        /* main -> worker: drain everything, close the batch, stop */
	DFT_CTL_DETACHED,    /* worker -> main: region retired, unmap it */
	DFT_CTL_STOPPED,     /* worker -> main: drained, last batch handed over */
};

struct dft_ctl_msg {
	enum dft_ctl_type type;
	struct dft_nic_region *region;
};

struct dft_nic_ctx;
/* One pass of the pipeline; returns work done (slots, messages). */
int dft_worker_step(struct dft_nic_ctx *ctx);
bool dft_worker_stopped(const struct dft_nic_ctx *ctx);

/* ---- reg_server.c */
struct dft_reg_server;
int dft_reg_server_create(const char *path, uint64_t daemon_id, struct dft_reg_server **out);
void dft_reg_server_destroy(struct dft_reg_server *s);
/* Accept, read registrations, notice EOFs. attach(region) is called for a validated region before
 * the host is answered (non-zero: refuse with that status), detach(region) when its host hung up.
 * Returns work done. */
int dft_reg_server_poll(struct dft_reg_server *s, int (*attach)(void *, struct dft_nic_region *),
			void (*detach)(void *, struct dft_nic_region *), void *arg);
/* The worker retired the region: unmap and free it. */
void dft_region_free(struct dft_nic_region *r);

/* ---- idle back-off (main.c) */
struct dft_idle {
	unsigned empty_rounds;
	unsigned max_us; /* longest sleep; 0 = 100 us */
	bool busy_poll;
};
void dft_idle_wait(struct dft_idle *i, int work);

#endif /* DFT_NIC_H */
