/* SPDX-License-Identifier: MIT */
/*
 * difftrace-nic's registration server in rdma-read mode (dft/reg.h step 5): a host that does not offer
 * DFT_REG_F_RDMA_READ is refused with -EOPNOTSUPP, one that does is accepted and told where to connect
 * right after its reply; in the default mode the flag changes nothing and no extra bytes follow.
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "dft/reg.h"
#include "nic.h"

struct fixture {
	char path[108];
	struct dft_reg_server *srv;
	struct dft_nic_region *attached;
};

static int on_attach(void *arg, struct dft_nic_region *r)
{
	((struct fixture *)arg)->attached = r;
	return 0;
}

static void on_detach(void *arg, struct dft_nic_region *r)
{
	(void)arg;
	(void)r;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "/tmp/dft-test-reg-%d.sock", (int)getpid());
	assert_int_equal(dft_reg_server_create(f->path, 42, &f->srv), 0);
	memset(&dft_nic_ctr, 0, sizeof(dft_nic_ctr));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dft_reg_server_destroy(f->srv);
	dft_region_free(f->attached);
	free(f);
	return 0;
}

/* A valid region in a fresh memfd. */
static int make_region(void)
{
	struct dft_region_hdr h = {0};
	int fd = memfd_create("dft-test", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	assert_true(fd >= 0);
	dft_region_hdr_init(&h, 32, 4, 64);
	h.instance_id = 0x1234;
	h.pid = (uint32_t)getpid();
	assert_int_equal(ftruncate(fd, (off_t)h.region_size), 0);
	assert_int_equal(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	return fd;
}

/* Connect and send one registration with flags; returns the connection. */
static int host_register(struct fixture *f, uint32_t flags)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct dft_reg_msg m = {.magic = DFT_REG_MAGIC, .version = DFT_REG_VERSION, .type = DFT_REG_REGISTER,
				.size = sizeof(m), .pid = (uint32_t)getpid(), .instance_id = 0x1234, .flags = flags};
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
	struct cmsghdr *cm;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), mfd = make_region();

	assert_true(fd >= 0);
	strcpy(sa.sun_path, f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	memset(&ctl, 0, sizeof(ctl));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &mfd, sizeof(int));
	assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)sizeof(m));
	close(mfd);
	/* the server is polled, never blocks: drive it until it answered */
	for (int i = 0; i < 200; i++) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		dft_reg_server_poll(f->srv, on_attach, on_detach, f);
		if (poll(&p, 1, 5) == 1)
			break;
	}
	return fd;
}

static void read_exact(int fd, void *buf, size_t n)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	size_t got = 0;

	while (got < n) {
		ssize_t k;

		assert_int_equal(poll(&p, 1, 2000), 1);
		k = recv(fd, (char *)buf + got, n - got, 0);
		assert_true(k > 0);
		got += (size_t)k;
	}
}

static void test_rdma_read_refuses_host_without_flag(void **state)
{
	struct fixture *f = *state;
	struct dft_reg_reply rep;
	char extra;
	int fd;

	assert_int_equal(dft_reg_server_rdma_at(f->srv, "192.0.2.7", 7472), 0);
	fd = host_register(f, 0);
	read_exact(fd, &rep, sizeof(rep));
	assert_int_equal(rep.magic, DFT_REG_MAGIC);
	assert_int_equal(rep.status, -EOPNOTSUPP);
	assert_int_equal(recv(fd, &extra, 1, 0), 0); /* closed, nothing after the refusal */
	assert_null(f->attached);
	assert_int_equal(dft_nic_ctr.regions_refused, 1);
	assert_int_equal(dft_nic_ctr.regions_attached, 0);
	close(fd);
}

static void test_rdma_read_tells_host_where(void **state)
{
	struct fixture *f = *state;
	struct dft_reg_rdma_at at, got;
	struct dft_reg_reply rep;
	int fd;

	assert_int_equal(dft_reg_server_rdma_at(f->srv, "192.0.2.7", 7472), 0);
	fd = host_register(f, DFT_REG_F_RDMA_READ);
	read_exact(fd, &rep, sizeof(rep));
	assert_int_equal(rep.status, 0);
	assert_int_equal(rep.daemon_id, 42);
	read_exact(fd, &at, sizeof(at));
	assert_int_equal(dft_reg_rdma_at_check(&at, sizeof(at), &got), 0);
	assert_string_equal(got.addr, "192.0.2.7");
	assert_int_equal(got.port, 7472);
	assert_non_null(f->attached);
	assert_int_equal(f->attached->g.instance_id, 0x1234);
	assert_int_equal(dft_nic_ctr.regions_attached, 1);
	close(fd);
}

static void test_default_mode_ignores_flag(void **state)
{
	struct fixture *f = *state;
	struct dft_reg_reply rep;
	char extra;
	int fd = host_register(f, DFT_REG_F_RDMA_READ);

	read_exact(fd, &rep, sizeof(rep));
	assert_int_equal(rep.status, 0);
	assert_non_null(f->attached);
	/* no rdma-at message: an older-style reply only */
	assert_int_equal(recv(fd, &extra, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	close(fd);
}

static void test_rdma_at_rejects_bad_address(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(dft_reg_server_rdma_at(f->srv, "", 7472), -EINVAL);
	assert_int_equal(dft_reg_server_rdma_at(f->srv, "192.0.2.7", 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rdma_read_refuses_host_without_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rdma_read_tells_host_where, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_mode_ignores_flag, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rdma_at_rejects_bad_address, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
