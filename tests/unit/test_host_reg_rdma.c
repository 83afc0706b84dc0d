/* SPDX-License-Identifier: MIT */
/*
 * libdifftrace against a fake daemon that ingests by rdma-read (dft/reg.h step 5): the registration
 * offers only known flags; the daemon's "connect here" message after the reply (pointing at an address
 * where nothing listens) never disturbs the registration or the app, whether or not this machine has
 * an RDMA device; junk after it is ignored as before; and dft_fini does not linger for a connection
 * that never came up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <difftrace/difftrace.h>

#include "dft/clock.h"
#include "dft/reg.h"

static uint64_t mono_ms(void)
{
	return dft_clock_ns(CLOCK_MONOTONIC) / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static int accept_registration(int lfd, struct dft_reg_msg *msg)
{
	struct pollfd p = {.fd = lfd, .events = POLLIN};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = msg, .iov_len = sizeof(*msg)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *cm;
	int fd, mfd;

	assert_int_equal(poll(&p, 1, 5000), 1);
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(recvmsg(fd, &mh, MSG_CMSG_CLOEXEC), sizeof(*msg));
	cm = CMSG_FIRSTHDR(&mh);
	assert_non_null(cm);
	memcpy(&mfd, CMSG_DATA(cm), sizeof(int));
	close(mfd);
	return fd;
}

static void wait_registrations(uint32_t n)
{
	struct dft_host_stats st;
	uint64_t deadline = mono_ms() + 5000;

	for (;;) {
		assert_int_equal(dft_stats(&st), 0);
		if (st.registered == 1 && st.registrations == n)
			return;
		if (mono_ms() > deadline)
			fail_msg("registered=%u registrations=%u, want 1 %u", st.registered, st.registrations, n);
		sleep_ms(5);
	}
}

static void test_rdma_at_never_disturbs_registration(void **state)
{
	struct dft_options o = {.size = sizeof(o), .ring_count = 2, .ring_slots = 64, .name_capacity = 16};
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct dft_reg_reply rep = {.magic = DFT_REG_MAGIC, .status = 0, .daemon_id = 9};
	struct dft_reg_rdma_at at;
	struct dft_reg_msg msg;
	struct dft_host_stats st;
	char junk[100];
	int lfd, conn;
	uint64_t t0;

	(void)state;
	snprintf(a.sun_path, sizeof(a.sun_path), "/tmp/dft-test-hrr-%d.sock", (int)getpid());
	unlink(a.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	o.socket_path = a.sun_path;
	assert_int_equal(dft_init("rr", DFT_COMPONENT_FUNCTION, &o), 0);

	conn = accept_registration(lfd, &msg);
	assert_int_equal(msg.flags & ~DFT_REG_F_RDMA_READ, 0); /* only flags a daemon knows */
	assert_int_equal(msg.mr_addr, 0);
	/* reply and "connect here" in one write: a loopback port where no rdma_cm listener is */
	assert_int_equal(dft_reg_rdma_at_make(&at, "127.0.0.1", 9), 0);
	{
		char both[sizeof(rep) + sizeof(at)];

		memcpy(both, &rep, sizeof(rep));
		memcpy(both + sizeof(rep), &at, sizeof(at));
		assert_int_equal(send(conn, both, sizeof(both), MSG_NOSIGNAL), (ssize_t)sizeof(both));
	}
	wait_registrations(1);
	memset(junk, 0x5a, sizeof(junk));
	assert_int_equal(send(conn, junk, sizeof(junk), MSG_NOSIGNAL), (ssize_t)sizeof(junk));
	/* whatever the RDMA attempt does (no device here, or a failed connect), the region stays
	 * registered and spans keep flowing into the ring */
	sleep_ms(300);
	for (int i = 0; i < 10; i++) {
		struct dft_span sp;

		dft_span_begin(&sp, 1, NULL);
		dft_span_end(&sp);
	}
	assert_int_equal(dft_stats(&st), 0);
	assert_int_equal(st.registered, 1);
	assert_int_equal(st.registrations, 1);
	assert_int_equal(st.produced, 10);

	/* the daemon goes away: the library registers again, with the same flags */
	close(conn);
	{
		struct dft_reg_msg again;

		conn = accept_registration(lfd, &again);
		assert_int_equal(again.flags, msg.flags);
		assert_int_equal(again.instance_id, msg.instance_id);
	}
	assert_int_equal(send(conn, &rep, sizeof(rep), MSG_NOSIGNAL), (ssize_t)sizeof(rep));
	wait_registrations(2);

	t0 = mono_ms();
	assert_int_equal(dft_fini(0), -ETIMEDOUT); /* 10 spans nobody drained */
	assert_true(mono_ms() - t0 < 900);         /* and no lingering for an RDMA peer that never was */
	close(conn);
	close(lfd);
	unlink(a.sun_path);
}

/*
 * DFT_NIC (registration over the network): a malformed value is refused at dft_init; a well-formed
 * one where no daemon listens never touches the Unix socket, never blocks a span, never registers,
 * and dft_fini does not linger.
 */
static void test_dft_nic(void **state)
{
	struct dft_options o = {.size = sizeof(o), .ring_count = 2, .ring_slots = 64, .name_capacity = 16};
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	struct pollfd p;
	struct dft_host_stats st;
	int lfd;
	uint64_t t0;

	(void)state;
	snprintf(a.sun_path, sizeof(a.sun_path), "/tmp/dft-test-hrn-%d.sock", (int)getpid());
	unlink(a.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	o.socket_path = a.sun_path;

	setenv("DFT_NIC", "nic.example:7475", 1); /* numeric only */
	assert_int_equal(dft_init("rn", DFT_COMPONENT_FUNCTION, &o), -EINVAL);
	setenv("DFT_NIC", "127.0.0.1:0", 1);
	assert_int_equal(dft_init("rn", DFT_COMPONENT_FUNCTION, &o), -EINVAL);

	setenv("DFT_NIC", "127.0.0.1:9", 1); /* nothing listens there (and maybe no RDMA device) */
	assert_int_equal(dft_init("rn", DFT_COMPONENT_FUNCTION, &o), 0);
	t0 = mono_ms();
	for (int i = 0; i < 1000; i++) { /* more than the rings hold: full rings drop, never wait */
		struct dft_span sp;

		dft_span_begin(&sp, 1, NULL);
		dft_span_end(&sp);
	}
	assert_true(mono_ms() - t0 < 500);
	sleep_ms(300); /* the registration thread tries a few times meanwhile */
	assert_int_equal(dft_stats(&st), 0);
	assert_int_equal(st.registered, 0);
	assert_int_equal(st.registrations, 0);
	assert_int_equal(st.produced, 1000);
	assert_int_equal(st.dropped_full, 1000 - 64); /* one thread, one ring of 64 */
	/* the socket was never used: no connection is waiting */
	p = (struct pollfd){.fd = lfd, .events = POLLIN};
	assert_int_equal(poll(&p, 1, 0), 0);
	t0 = mono_ms();
	assert_int_equal(dft_fini(0), -ETIMEDOUT);
	assert_true(mono_ms() - t0 < 900); /* no bye to send, nothing to linger for */
	unsetenv("DFT_NIC");
	close(lfd);
	unlink(a.sun_path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rdma_at_never_disturbs_registration),
		cmocka_unit_test(test_dft_nic),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
