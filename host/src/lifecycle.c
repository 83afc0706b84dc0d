/* SPDX-License-Identifier: MIT */
/*
 * dft_init / dft_fini / dft_stats: creating the shared region, publishing its header, and tearing
 * it down again so a process (or a test) may initialise the library more than once.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "dft/reg.h"
#include "host_internal.h"
#include "region_internal.h"

struct dft_host dft_host = {.memfd = -1,
                            .wake_fd = -1,
                            .name_lock = PTHREAD_MUTEX_INITIALIZER,
                            .metrics_lock = PTHREAD_MUTEX_INITIALIZER};

/* Serialises dft_init, dft_fini and ring release at thread exit; the span path never takes it. */
pthread_mutex_t dft_lifecycle_lock = PTHREAD_MUTEX_INITIALIZER;

static bool dft_is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* Fills *o with the effective options (defaults applied), or returns -EINVAL. */
static int dft_options_check(const struct dft_options *in, struct dft_options *o)
{
	memset(o, 0, sizeof(*o));
	if (in) {
		if (in->size != sizeof(*in) || in->reserved != 0)
			return -EINVAL;
		if (in->flags & ~DFT_OPT_NO_DAEMON)
			return -EINVAL;
		*o = *in;
	}
	if (!o->ring_count)
		o->ring_count = DFT_DEFAULT_RING_COUNT;
	if (!o->ring_slots)
		o->ring_slots = DFT_DEFAULT_RING_SLOTS;
	if (!o->name_capacity)
		o->name_capacity = DFT_DEFAULT_NAME_CAPACITY;
	if (o->ring_count > DFT_RING_COUNT_MAX)
		return -EINVAL;
	if (!dft_is_pow2(o->ring_slots) || o->ring_slots < DFT_RING_SLOTS_MIN || o->ring_slots > DFT_RING_SLOTS_MAX)
		return -EINVAL;
	if (o->name_capacity > DFT_NAME_CAPACITY_MAX)
		return -EINVAL;
	return 0;
}

static int dft_socket_path_pick(const char *opt_path)
{
	const char *p = opt_path;

	if (!p)
		p = getenv("DFT_SOCKET");
	if (!p || !*p)
		p = DFT_DEFAULT_SOCKET;
	if (strlen(p) >= sizeof(dft_host.socket_path))
		return -EINVAL;
	strcpy(dft_host.socket_path, p);
	return 0;
}

/*
 * DFT_NIC=ADDR:PORT (numeric): register with a daemon on another machine over the network
 * (dft/reg.h N1-N5) instead of the Unix socket; DFT_NIC_BIND=ADDR (numeric, optional) is the local
 * address that picks the RDMA device, as the daemon's --rdma-bind does. -EINVAL for a malformed value, -EOPNOTSUPP in a
 * build without verbs: refusing beats tracing into rings nobody can ever read.
 */
static int dft_nic_pick(void)
{
	const char *v = getenv("DFT_NIC");

	dft_host.net = false;
	if (!v || !*v)
		return 0;
#ifndef DFT_HAVE_RDMA
	return -EOPNOTSUPP;
#else
	_Static_assert(sizeof(dft_host.nic_addr) == DFT_REG_ADDR_MAX, "DFT_NIC address buffer");
	if (dft_reg_net_parse(v, dft_host.nic_addr, &dft_host.nic_port))
		return -EINVAL;
	/* DFT_NIC_BIND: the local address whose RDMA device to use (a host with several) */
	v = getenv("DFT_NIC_BIND");
	dft_host.nic_bind[0] = 0;
	if (v && *v) {
		unsigned char bin[16];

		if (strlen(v) >= sizeof(dft_host.nic_bind) ||
		    (inet_pton(AF_INET, v, bin) != 1 && inet_pton(AF_INET6, v, bin) != 1))
			return -EINVAL;
		strcpy(dft_host.nic_bind, v);
	}
	dft_host.net = true;
	return 0;
#endif
}

static uint64_t dft_instance_id_new(void)
{
	uint64_t id = 0;

	/* a region of a restarted process must not look like the old one: random, never 0 */
	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != (ssize_t)sizeof(id))
		id = dft_ticks() * 0x9e3779b97f4a7c15ull ^ ((uint64_t)getpid() << 32) ^ dft_clock_ns(CLOCK_REALTIME);
	return id ? id : 1;
}

static int dft_region_create(const struct dft_options *o, enum dft_component_kind kind)
{
	uint64_t size = dft_region_size(o->name_capacity, o->ring_count, o->ring_slots);
	struct dft_region_hdr *h;
	int err;

	dft_host.memfd = memfd_create("difftrace", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (dft_host.memfd < 0)
		return -errno;
	if (ftruncate(dft_host.memfd, (off_t)size) < 0) {
		err = -errno;
		goto close_memfd;
	}
	/* the daemon maps this fd; it must not be able to shrink it under us (SIGBUS) */
	(void)fcntl(dft_host.memfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
	/* populate now: a first touch of a ring page later would be a page fault (and a page
	 * allocation) inside a span function */
	dft_host.base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, dft_host.memfd, 0);
	if (dft_host.base == MAP_FAILED) {
		err = -errno;
		dft_host.base = NULL;
		goto close_memfd;
	}
	dft_host.size = size;
	dft_host.hdr = h = dft_host.base;
	dft_host.names = dft_region_name(dft_host.base, 1);
	dft_host.ring_count = o->ring_count;
	dft_host.ring_slots = o->ring_slots;
	dft_host.name_capacity = o->name_capacity;
	dft_host.opt_flags = o->flags;

	/* a fresh memfd reads as zeroes: rings FREE, indices 0, names empty */
	dft_region_hdr_init(h, o->name_capacity, o->ring_count, o->ring_slots);
	h->instance_id = dft_instance_id_new();
	h->pid = (uint32_t)getpid();
	h->component_kind = kind == DFT_COMPONENT_FUNCTION ? DFT_KIND_FUNCTION : DFT_KIND_PLATFORM;
	return 0;

close_memfd:
	close(dft_host.memfd);
	dft_host.memfd = -1;
	return err;
}

static void dft_region_destroy(void)
{
	if (dft_host.base)
		munmap(dft_host.base, dft_host.size);
	if (dft_host.memfd >= 0)
		close(dft_host.memfd);
	dft_host.base = NULL;
	dft_host.hdr = NULL;
	dft_host.names = NULL;
	dft_host.size = 0;
	dft_host.memfd = -1;
}

/*
 * fork(): the child shares the region mapping with the parent, so its threads writing into the
 * parent's rings would make two producers of one SPSC ring. The child starts uninitialised instead
 * (its copy of the mapping is dropped; the registration thread does not exist there) and may call
 * dft_init for a region of its own. The locks are held across fork so the child never inherits
 * one that another thread held.
 */
static void dft_fork_prepare(void)
{
	pthread_mutex_lock(&dft_lifecycle_lock);
	pthread_mutex_lock(&dft_host.name_lock);
	pthread_mutex_lock(&dft_host.metrics_lock);
}

static void dft_fork_parent(void)
{
	pthread_mutex_unlock(&dft_host.metrics_lock);
	pthread_mutex_unlock(&dft_host.name_lock);
	pthread_mutex_unlock(&dft_lifecycle_lock);
}

static void dft_fork_child(void)
{
	dft_span_thread_forget();
	if (dft_load_relaxed(&dft_host.live)) {
		dft_store_relaxed(&dft_host.live, 0);
		dft_region_destroy();
		if (dft_host.wake_fd >= 0)
			close(dft_host.wake_fd);
		dft_host.wake_fd = -1;
		dft_host.thread_running = false;
		dft_store_relaxed(&dft_host.registered, 0);
	}
	pthread_mutex_unlock(&dft_host.metrics_lock);
	pthread_mutex_unlock(&dft_host.name_lock);
	pthread_mutex_unlock(&dft_lifecycle_lock);
}

static pthread_once_t dft_atfork_once = PTHREAD_ONCE_INIT;

static void dft_atfork_register(void)
{
	(void)pthread_atfork(dft_fork_prepare, dft_fork_parent, dft_fork_child);
}

int dft_init(const char *component, enum dft_component_kind kind, const struct dft_options *opts)
{
	struct dft_options o;
	uint16_t comp;
	int err;

	if (!component || (kind != DFT_COMPONENT_PLATFORM && kind != DFT_COMPONENT_FUNCTION))
		return -EINVAL;
	err = dft_options_check(opts, &o);
	if (err)
		return err;

	pthread_once(&dft_atfork_once, dft_atfork_register);
	pthread_mutex_lock(&dft_lifecycle_lock);
	if (dft_load_acquire(&dft_host.live)) {
		err = -EALREADY;
		goto unlock;
	}
	err = dft_socket_path_pick(o.socket_path);
	if (!err)
		err = dft_nic_pick();
	if (err)
		goto unlock;
	err = dft_region_create(&o, kind);
	if (err)
		goto unlock;
	dft_names_reset();
	comp = dft_name_intern(component);
	if (!comp) {
		err = -EINVAL;
		goto destroy_region;
	}
	dft_host.hdr->component_id = comp;
	dft_clock_calibrate_init();
	dft_store_relaxed(&dft_host.registered, 0);
	dft_store_relaxed(&dft_host.registrations, 0);
	dft_store_relaxed(&dft_host.hops_malformed, 0);
	dft_store_relaxed(&dft_host.hops_cut, 0);
	dft_host.generation++;
	/* [L1] everything above is visible to a span function that sees live == 1 */
	dft_store_release(&dft_host.live, 1);
	if (!(o.flags & DFT_OPT_NO_DAEMON)) {
		err = dft_reg_thread_start();
		if (err)
			goto clear_live;
	}
	pthread_mutex_unlock(&dft_lifecycle_lock);
	return 0;

clear_live:
	dft_store_release(&dft_host.live, 0);
destroy_region:
	dft_region_destroy();
unlock:
	pthread_mutex_unlock(&dft_lifecycle_lock);
	return err;
}

static uint64_t dft_pending(void)
{
	uint64_t pending = 0;

	for (uint32_t i = 0; i < dft_host.ring_count; i++) {
		struct dft_ring_hdr *r = dft_host_ring(i);

		pending += dft_load_acquire(&r->head) - dft_load_acquire(&r->tail);
	}
	return pending;
}

/* Sleeps in 1 ms steps until the daemon consumed every slot; false on timeout. */
static bool dft_wait_drained(unsigned timeout_ms)
{
	const struct timespec step = {0, 1000000};
	uint64_t deadline = dft_clock_ns(CLOCK_MONOTONIC) + (uint64_t)timeout_ms * 1000000u;

	for (;;) {
		if (dft_pending() == 0)
			return true;
		if (dft_clock_ns(CLOCK_MONOTONIC) >= deadline)
			return false;
		nanosleep(&step, NULL);
	}
}

int dft_fini(unsigned timeout_ms)
{
	int rc = 0;

	pthread_mutex_lock(&dft_lifecycle_lock);
	if (!dft_load_acquire(&dft_host.live))
		goto unlock;
	/*
	 * Without a daemon nobody will ever drain: do not make the app wait. With one, wait even while
	 * it is not (yet) registered: a daemon that starts late still gets the rings.
	 */
	if (!(dft_host.opt_flags & DFT_OPT_NO_DAEMON) && !dft_wait_drained(timeout_ms))
		rc = -ETIMEDOUT;
	dft_store_release(&dft_host.live, 0);
	if (dft_host.thread_running)
		dft_reg_thread_stop();
	dft_span_thread_forget();
	dft_region_destroy();
	dft_store_relaxed(&dft_host.registered, 0);
unlock:
	pthread_mutex_unlock(&dft_lifecycle_lock);
	return rc;
}

int dft_stats(struct dft_host_stats *out)
{
	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!dft_load_acquire(&dft_host.live))
		return -EINVAL;
	for (uint32_t i = 0; i < dft_host.ring_count; i++) {
		struct dft_ring_hdr *r = dft_host_ring(i);

		out->produced += dft_load_relaxed(&r->produced);
		out->dropped_full += dft_load_relaxed(&r->dropped_full);
		out->hops_dropped += dft_load_relaxed(&r->dropped_hops);
	}
	out->dropped_no_ring = dft_load_relaxed(&dft_host.hdr->dropped_no_ring);
	/* spans lost for want of a ring were produced too (the NIC counts them the same way) */
	out->produced += out->dropped_no_ring;
	out->pending = dft_pending();
	out->registered = dft_load_relaxed(&dft_host.registered);
	out->registrations = dft_load_relaxed(&dft_host.registrations);
	out->hops_malformed = dft_load_relaxed(&dft_host.hops_malformed);
	out->hops_cut = dft_load_relaxed(&dft_host.hops_cut);
	return 0;
}

const void *dft__region(size_t *len)
{
	if (!dft_load_acquire(&dft_host.live))
		return NULL;
	if (len)
		*len = dft_host.size;
	return dft_host.base;
}
