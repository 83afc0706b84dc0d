/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* pthread_setaffinity_np, accept4 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dft/frame.h"
#include "sink.h"

struct sink_conn {
	int fd;
	uint64_t sender, seq, acked;
	uint64_t frames, bytes;
	bool broken;
};

static int on_frame(void *arg, uint16_t type, const uint8_t *p, uint32_t len)
{
	struct sink_conn *c = arg;
	uint64_t zero;

	c->frames++;
	c->bytes += len + DFT_FRAME_HDR_LEN;
	if (type == DFT_FRAME_HELLO)
		return dft_frame_ack_decode(p, len, &c->sender, &zero) ? -EBADMSG : 1; /* answer at once */
	if (type == DFT_FRAME_BATCH)
		c->seq++; /* the sender numbers its batches 1, 2, ... on a fresh connection */
	return 0;
}

static int send_ack(struct sink_conn *c, uint64_t seq)
{
	uint8_t f[DFT_FRAME_HDR_LEN + DFT_FRAME_ACK_LEN];
	size_t off = 0;

	dft_frame_hdr_encode(f, DFT_FRAME_ACK, DFT_FRAME_ACK_LEN);
	dft_frame_ack_encode(f + DFT_FRAME_HDR_LEN, c->sender, seq);
	while (off < sizeof(f)) {
		ssize_t w = dft_write_some(c->fd, f + off, sizeof(f) - off);

		if (w < 0)
			return (int)w;
		if (w == 0) {
			struct pollfd pfd = {.fd = c->fd, .events = POLLOUT};

			poll(&pfd, 1, 10);
		}
		off += (size_t)w;
	}
	c->acked = seq;
	return 0;
}

static void serve(struct dft_sink_srv *s, int fd)
{
	struct sink_conn c = {.fd = fd};
	struct dft_frame_rx rx;

	if (dft_frame_rx_init(&rx, DFT_FRAME_MAX_PAYLOAD))
		return;
	while (!s->stop && !c.broken) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int rc;

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		do {
			rc = dft_frame_rx_read(&rx, fd, on_frame, &c);
			if (rc == 1 && send_ack(&c, 0))
				c.broken = true;
		} while (rc == 1 && !c.broken);
		if (rc < 0)
			c.broken = true;
		if (!c.broken && c.seq > c.acked && send_ack(&c, c.seq))
			c.broken = true;
	}
	s->frames += c.frames;
	s->bytes += c.bytes;
	dft_frame_rx_destroy(&rx);
}

static void *sink_main(void *arg)
{
	struct dft_sink_srv *s = arg;

	if (s->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(s->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	}
	while (!s->stop) {
		struct pollfd pfd = {.fd = s->lfd, .events = POLLIN};
		int fd;

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve(s, fd);
		close(fd);
	}
	return NULL;
}

int dft_sink_start(struct dft_sink_srv *s, int cpu)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int rc;

	memset(s, 0, sizeof(*s));
	s->cpu = cpu;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0)
		return -errno;
	if (bind(s->lfd, (struct sockaddr *)&a, sizeof(a)) || listen(s->lfd, 4) ||
	    getsockname(s->lfd, (struct sockaddr *)&a, &al)) {
		rc = -errno;
		goto close_fd;
	}
	s->port = ntohs(a.sin_port);
	rc = -pthread_create(&s->thread, NULL, sink_main, s);
	if (rc)
		goto close_fd;
	s->running = true;
	return 0;
close_fd:
	close(s->lfd);
	return rc;
}

void dft_sink_stop(struct dft_sink_srv *s)
{
	if (!s->running)
		return;
	s->stop = true;
	pthread_join(s->thread, NULL);
	close(s->lfd);
	s->running = false;
}
