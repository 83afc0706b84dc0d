/* SPDX-License-Identifier: MIT */
/* dft-bench-collector's HTTP endpoint (http_sink.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http_sink.h"

#define HDR_MAX (16u << 10)

struct dft_http_sink {
	int lfd;
	int stop[2]; /* pipe: readable = stop */
	pthread_t thread;
	uint64_t requests, bytes;
	char buf[64u << 10];
};

static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\n\r\n";

/* Reads into buf[*len..cap) waiting on fd or the stop pipe. >0 bytes, 0 EOF or stop, -1 error. */
static ssize_t rd(struct dft_http_sink *s, int fd, char *p, size_t n)
{
	struct pollfd pf[2] = {{.fd = fd, .events = POLLIN}, {.fd = s->stop[0], .events = POLLIN}};

	if (poll(pf, 2, -1) < 0 || pf[1].revents)
		return 0;
	return recv(fd, p, n, 0);
}

/* Serves one keep-alive connection until EOF or stop. */
static void serve(struct dft_http_sink *s, int fd)
{
	size_t have = 0;

	for (;;) {
		char *end;
		size_t hlen, body, left;
		char *cl;
		ssize_t r;

		while (!(end = memmem(s->buf, have, "\r\n\r\n", 4))) {
			if (have == HDR_MAX)
				return;
			r = rd(s, fd, s->buf + have, HDR_MAX - have);
			if (r <= 0)
				return;
			have += (size_t)r;
		}
		hlen = (size_t)(end - s->buf) + 4;
		s->buf[hlen - 1] = 0;
		cl = strcasestr(s->buf, "\r\nContent-Length:");
		body = cl ? strtoul(cl + 17, NULL, 10) : 0;
		/* the body: what is buffered already, then the rest straight from the socket */
		left = body;
		if (have - hlen >= left) {
			memmove(s->buf, s->buf + hlen + left, have - hlen - left);
			have -= hlen + left;
			left = 0;
		} else {
			left -= have - hlen;
			have = 0;
		}
		while (left) {
			r = rd(s, fd, s->buf, left < sizeof(s->buf) ? left : sizeof(s->buf));
			if (r <= 0)
				return;
			left -= (size_t)r;
		}
		if (send(fd, ok, sizeof(ok) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(ok) - 1))
			return;
		__atomic_fetch_add(&s->requests, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&s->bytes, body, __ATOMIC_RELAXED);
	}
}

static void *sink_main(void *arg)
{
	struct dft_http_sink *s = arg;

	for (;;) {
		struct pollfd pf[2] = {{.fd = s->lfd, .events = POLLIN}, {.fd = s->stop[0], .events = POLLIN}};
		int fd;

		if (poll(pf, 2, -1) < 0 || pf[1].revents)
			break;
		fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		serve(s, fd);
		close(fd);
	}
	return NULL;
}

int dft_http_sink_start(struct dft_http_sink **out, uint16_t *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	struct dft_http_sink *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return -ENOMEM;
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->lfd < 0) {
		rc = -errno;
		goto free_s;
	}
	if (bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(s->lfd, 8) ||
	    getsockname(s->lfd, (struct sockaddr *)&sa, &sl)) {
		rc = -errno;
		goto close_lfd;
	}
	if (pipe2(s->stop, O_CLOEXEC)) {
		rc = -errno;
		goto close_lfd;
	}
	rc = -pthread_create(&s->thread, NULL, sink_main, s);
	if (rc)
		goto close_pipe;
	*port = ntohs(sa.sin_port);
	*out = s;
	return 0;

close_pipe:
	close(s->stop[0]);
	close(s->stop[1]);
close_lfd:
	close(s->lfd);
free_s:
	free(s);
	return rc;
}

void dft_http_sink_stop(struct dft_http_sink *s, uint64_t *requests, uint64_t *bytes)
{
	if (write(s->stop[1], "x", 1) != 1)
		abort(); /* a pipe with room: cannot fail */
	pthread_join(s->thread, NULL);
	*requests = s->requests;
	*bytes = s->bytes;
	close(s->stop[0]);
	close(s->stop[1]);
	close(s->lfd);
	free(s);
}
