/* SPDX-License-Identifier: MIT */
/*
 * State of libdifftrace shared by its source files. Not installed.
 *
 * The library is built with -fvisibility=hidden; every source file includes the public header
 * between the visibility pragmas below, so exactly the functions declared there are exported and
 * everything else that is not static stays inside the library.
 */
#ifndef DFT_HOST_INTERNAL_H
#define DFT_HOST_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(default)
#include "difftrace/difftrace.h"
#pragma GCC visibility pop

#include "dft/abi.h"
#include "dft/clock.h"
#include "dft/ring.h"

#define DFT_DEFAULT_RING_COUNT    16u
#define DFT_DEFAULT_RING_SLOTS    4096u
#define DFT_DEFAULT_NAME_CAPACITY 1024u
#define DFT_SOCKET_PATH_MAX       108u /* sun_path */

struct dft_host {
	/* Set (store-release) once everything below is ready; cleared before teardown. Span functions
	 * load it with acquire and do nothing while it is 0. */
	uint32_t live;
	/* Bumped at every dft_init: thread-local ring claims of an earlier init are stale. */
	uint64_t generation;

	/* the region */
	int memfd;
	void *base;
	size_t size;
	struct dft_region_hdr *hdr;
	struct dft_name *names;
	uint32_t ring_count;
	uint32_t ring_slots;
	uint32_t name_capacity;
	uint32_t opt_flags;
	/* Bumped (relaxed) whenever a ring is released, so a thread that found no free ring rescans
	 * only when one may have become free. */
	uint64_t ring_releases;

	pthread_mutex_t name_lock;
	uint32_t names_count; /* under name_lock */

	/* allocates metrics page entries; updates of an existing entry do not take it */
	pthread_mutex_t metrics_lock;

	/* hop header counters (atomic, relaxed), zeroed at dft_init */
	uint64_t hops_malformed;
	uint64_t hops_cut;

	/* registration thread */
	char socket_path[DFT_SOCKET_PATH_MAX];
	/* DFT_NIC=ADDR:PORT: register over the network (rdma_cm, reg_rdma.c) instead of the socket */
	bool net;
	char nic_addr[48]; /* DFT_REG_ADDR_MAX */
	char nic_bind[48];  /* DFT_NIC_BIND: local address picking the RDMA device, or "" (by route) */
	uint16_t nic_port;
	bool thread_running;
	pthread_t thread;
	int wake_fd;            /* eventfd: dft_fini wakes the thread's poll */
	uint32_t registered;    /* atomic: 1 while the daemon holds the region */
	uint32_t registrations; /* atomic */

	/* calibration baseline from dft_init: the thread refines the rate over a longer interval */
	uint64_t cal_tick0;
	uint64_t cal_mono0;
};

extern struct dft_host dft_host;
extern pthread_mutex_t dft_lifecycle_lock;

static inline struct dft_ring_hdr *dft_host_ring(uint32_t i)
{
	return dft_region_ring(dft_host.base, dft_host.hdr->rings_off, dft_host.hdr->ring_stride, i);
}

/* clock_cal.c: measure ticks against the system clocks and publish under clock_seq. */
void dft_clock_calibrate_init(void);
void dft_clock_recalibrate(void);
/* Current calibration of our own region (used by the _at variants to mix tick and ns spans). */
void dft_clock_current(struct dft_clock_cal *out);

/* names.c */
void dft_names_reset(void);
uint16_t dft_name_intern(const char *name); /* 0 or an id; see names.c */
uint16_t dft_name_intern_n(const char *s, size_t len); /* lock-free when the name exists already */
/* The string of an id published in this region: false for 0 or an id not (yet) published. */
bool dft_name_str(uint16_t id, const char **s, size_t *len);

/*
 * reg_rdma.c (only with verbs): the region exported to the daemon's rdma-read ingest, driven by the
 * registration thread alone. Without verbs these are no-ops and the flag is never offered.
 */
#ifdef DFT_HAVE_RDMA
uint32_t dft_reg_rdma_flags(void);       /* DFT_REG_F_RDMA_READ when an RDMA device exists, else 0 */
void dft_reg_rdma_reset(void);           /* forget state of an earlier thread (new thread, forked child) */
void dft_reg_rdma_feed(const void *p, size_t n, uint64_t now_ms); /* bytes from the registration socket */
int dft_reg_rdma_fd(void);               /* the rdma_cm channel to poll, or -1 */
uint64_t dft_reg_rdma_wake_ms(void);     /* when dft_reg_rdma_poll has a retry due (UINT64_MAX: none) */
void dft_reg_rdma_poll(uint64_t now_ms); /* connection events and retries; never blocks */
/* Disconnect and deregister; with linger_ms, first wait that long at most for the daemon to disconnect
 * (a network registration first SENDs its bye, dft/reg.h N5). */
void dft_reg_rdma_stop(unsigned linger_ms);
/* Registration over the network: connect to addr:port from now on, retrying while the thread lives. */
void dft_reg_rdma_net_start(const char *addr, uint16_t port, uint64_t now_ms);
bool dft_reg_rdma_connected(void); /* the QP is up (for a network registration: registered) */
#else
static inline uint32_t dft_reg_rdma_flags(void) { return 0; }
static inline void dft_reg_rdma_reset(void) {}
static inline void dft_reg_rdma_feed(const void *p, size_t n, uint64_t now_ms) { (void)p; (void)n; (void)now_ms; }
static inline int dft_reg_rdma_fd(void) { return -1; }
static inline uint64_t dft_reg_rdma_wake_ms(void) { return UINT64_MAX; }
static inline void dft_reg_rdma_poll(uint64_t now_ms) { (void)now_ms; }
static inline void dft_reg_rdma_stop(unsigned linger_ms) { (void)linger_ms; }
static inline void dft_reg_rdma_net_start(const char *addr, uint16_t port, uint64_t now_ms)
{
	(void)addr;
	(void)port;
	(void)now_ms;
}
static inline bool dft_reg_rdma_connected(void) { return false; }
#endif

/* reg_thread.c: 0 or -errno. */
int dft_reg_thread_start(void);
void dft_reg_thread_stop(void);

/* span.c: the calling thread drops its ring claim (dft_fini, before the region goes away). */
void dft_span_thread_forget(void);
/* span.c: remember a context that came from another process, so a child of it gets REMOTE_PARENT. */
void dft_span_note_remote(const struct dft_ctx *ctx);

#endif /* DFT_HOST_INTERNAL_H */
