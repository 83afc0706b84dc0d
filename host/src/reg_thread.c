/* SPDX-License-Identifier: MIT */
/*
 * Background registration with difftrace-nic (protocol in shared/include/dft/reg.h).
 *
 * One thread per dft_init, never on the app's critical path:
 *
 *   DISCONNECTED --connect+send REGISTER with the memfd--> AWAIT_REPLY --status 0--> REGISTERED
 *        ^  (retry after 100 ms, doubling to 500 ms)           |  bad/no reply          | EOF/error
 *        +-----------------------------------------------------+------------------------+
 *
 * While registered the thread just polls the connection: EOF means the daemon went away, and the
 * rings keep filling (and dropping, counted) until a daemon is back. The same thread refines the
 * clock calibration. dft_fini wakes it through an eventfd. When the daemon ingests by rdma-read it
 * also exports the region by RDMA (reg_rdma.c), from this thread too.
 *
 * With DFT_NIC=ADDR:PORT the socket is never used: the registration is the RDMA connection itself
 * (reg_rdma.c, dft/reg.h N1-N5), registered while it is up, retried in the background otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dft/reg.h"
#include "host_internal.h"

#define DFT_RETRY_MIN_MS     100
#define DFT_RETRY_MAX_MS     500
#define DFT_REPLY_TIMEOUT_MS 2000
#define DFT_RECAL_FIRST_MS   1000
#define DFT_RECAL_EVERY_MS   60000
#define DFT_RDMA_LINGER_MS   1000 /* dft_fini: how long the daemon may take to let go of the region */
#define DFT_NET_LINGER_MS    2000 /* the same after a network registration's bye (it also drains) */

enum dft_reg_state {
	DFT_REG_DISCONNECTED,
	DFT_REG_REGISTERED,
};

static uint64_t dft_now_ms(void)
{
	return dft_clock_ns(CLOCK_MONOTONIC) / 1000000u;
}

/* Waits for events on fd (or only for the timeout with fd < 0). Returns the revents of fd, 0 on
 * timeout, -1 when dft_fini asked the thread to stop. */
static int dft_wait(int fd, short events, int timeout_ms)
{
	/* a negative fd is skipped by poll(); the rdma_cm channel only wakes us, reg_rdma.c reads it */
	struct pollfd p[3] = {{.fd = dft_host.wake_fd, .events = POLLIN}, {.fd = fd, .events = events},
			      {.fd = dft_reg_rdma_fd(), .events = POLLIN}};
	int n;

	do
		n = poll(p, 3, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return 0;
	if (p[0].revents)
		return -1;
	return fd >= 0 ? p[1].revents : 0;
}

/* Connects and sends the region. Returns the socket, or -errno. */
static int dft_reg_send(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct dft_reg_msg msg = {
	    .magic = DFT_REG_MAGIC,
	    .version = DFT_REG_VERSION,
	    .type = DFT_REG_REGISTER,
	    .size = sizeof(msg),
	    .pid = dft_host.hdr->pid,
	    .instance_id = dft_host.hdr->instance_id,
	    .region_size = dft_host.size,
	    .flags = dft_reg_rdma_flags(),
	};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = &msg, .iov_len = sizeof(msg)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *cm;
	int fd, err;

	/* non-blocking: a daemon with a full accept backlog must not hold us in connect() */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	memcpy(addr.sun_path, dft_host.socket_path, strlen(dft_host.socket_path));
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		err = -errno;
		goto close_fd;
	}
	memset(&ctl, 0, sizeof(ctl));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &dft_host.memfd, sizeof(int));
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(msg)) {
		err = errno ? -errno : -EIO;
		goto close_fd;
	}
	return fd;

close_fd:
	close(fd);
	return err;
}

#define DFT_REG_STOP 1 /* dft_fini asked the thread to stop */

/* Reads the reply. Returns 0 (registered), -errno from the daemon or the socket, or DFT_REG_STOP. */
static int dft_reg_await_reply(int fd)
{
	struct dft_reg_reply rep;
	uint64_t deadline = dft_now_ms() + DFT_REPLY_TIMEOUT_MS;
	size_t got = 0;

	while (got < sizeof(rep)) {
		uint64_t now = dft_now_ms();
		ssize_t n;
		int ev;

		if (now >= deadline)
			return -ETIMEDOUT;
		ev = dft_wait(fd, POLLIN, (int)(deadline - now));
		if (ev < 0)
			return DFT_REG_STOP;
		if (!ev)
			continue;
		n = recv(fd, (char *)&rep + got, sizeof(rep) - got, MSG_DONTWAIT);
		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)n;
	}
	if (rep.magic != DFT_REG_MAGIC)
		return -EPROTO;
	if (rep.status > 0)
		return -EPROTO;
	return rep.status;
}

/* Registered: true while the connection is alive. Anything the daemon sends is read and ignored. */
static bool dft_reg_alive(int fd)
{
	char buf[64];

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n > 0) {
			dft_reg_rdma_feed(buf, (size_t)n, dft_now_ms());
			continue;
		}
		if (n == 0)
			return false;
		return errno == EAGAIN || errno == EINTR;
	}
}

static void *dft_reg_main(void *arg)
{
	enum dft_reg_state state = DFT_REG_DISCONNECTED;
	uint64_t next_recal = dft_now_ms() + DFT_RECAL_FIRST_MS;
	uint64_t next_try = 0;
	int retry_ms = DFT_RETRY_MIN_MS;
	int fd = -1;

	(void)arg;
	if (dft_host.net)
		dft_reg_rdma_net_start(dft_host.nic_addr, dft_host.nic_port, dft_now_ms());
	for (;;) {
		uint64_t now = dft_now_ms();
		uint64_t wake = next_recal;
		int ev;

		if (now >= next_recal) {
			dft_clock_recalibrate();
			next_recal = now + DFT_RECAL_EVERY_MS;
			continue;
		}
		if (!dft_host.net && state == DFT_REG_DISCONNECTED && now >= next_try) {
			int rc;

			fd = dft_reg_send();
			rc = fd < 0 ? fd : dft_reg_await_reply(fd);
			if (rc == DFT_REG_STOP)
				break;
			if (rc == 0) {
				state = DFT_REG_REGISTERED;
				retry_ms = DFT_RETRY_MIN_MS;
				dft_store_release(&dft_host.registered, 1);
				__atomic_fetch_add(&dft_host.registrations, 1, __ATOMIC_RELAXED);
			} else {
				if (fd >= 0)
					close(fd);
				fd = -1;
				next_try = dft_now_ms() + (uint64_t)retry_ms;
				retry_ms = retry_ms * 2 > DFT_RETRY_MAX_MS ? DFT_RETRY_MAX_MS : retry_ms * 2;
			}
			continue;
		}
		if (!dft_host.net && state == DFT_REG_DISCONNECTED && next_try < wake)
			wake = next_try;
		if (dft_reg_rdma_wake_ms() < wake)
			wake = dft_reg_rdma_wake_ms();
		ev = dft_wait(state == DFT_REG_REGISTERED ? fd : -1, POLLIN, wake > now ? (int)(wake - now) : 0);
		if (ev < 0)
			break;
		dft_reg_rdma_poll(dft_now_ms());
		if (dft_host.net && dft_reg_rdma_connected() != (state == DFT_REG_REGISTERED)) {
			/* network registration: the connection is the registration */
			state = dft_reg_rdma_connected() ? DFT_REG_REGISTERED : DFT_REG_DISCONNECTED;
			dft_store_release(&dft_host.registered, state == DFT_REG_REGISTERED);
			if (state == DFT_REG_REGISTERED)
				__atomic_fetch_add(&dft_host.registrations, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (state == DFT_REG_REGISTERED && ev && !dft_reg_alive(fd)) {
			/* the daemon went away: the next one continues from the tails stored in the region */
			dft_store_release(&dft_host.registered, 0);
			dft_reg_rdma_stop(0);
			close(fd);
			fd = -1;
			state = DFT_REG_DISCONNECTED;
			next_try = dft_now_ms() + DFT_RETRY_MIN_MS;
		}
	}
	/* our EOF first: the daemon detaches the region and drops the RDMA connection itself */
	if (fd >= 0)
		close(fd);
	dft_reg_rdma_stop(dft_host.net ? DFT_NET_LINGER_MS : DFT_RDMA_LINGER_MS);
	dft_store_release(&dft_host.registered, 0);
	return NULL;
}

int dft_reg_thread_start(void)
{
	sigset_t all, old;
	int err;

	dft_reg_rdma_reset();
	dft_host.wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (dft_host.wake_fd < 0)
		return -errno;
	/* the app's signal handlers must never run on our thread */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&dft_host.thread, NULL, dft_reg_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		goto close_wake;
	dft_host.thread_running = true;
	return 0;

close_wake:
	close(dft_host.wake_fd);
	dft_host.wake_fd = -1;
	return err;
}

void dft_reg_thread_stop(void)
{
	uint64_t one = 1;

	if (write(dft_host.wake_fd, &one, sizeof(one)) < 0) {
		/* the counter cannot overflow from one write; nothing else can fail here */
	}
	pthread_join(dft_host.thread, NULL);
	dft_host.thread_running = false;
	close(dft_host.wake_fd);
	dft_host.wake_fd = -1;
}
