/* SPDX-License-Identifier: MIT */
/*
 * Registration server (protocol in dft/reg.h). Non-blocking, polled from the main lcore:
 *   accept -> wait for one dft_reg_msg with an SCM_RIGHTS fd -> seal the memfd against shrinking
 *   (a host that truncates the file under our mapping would SIGBUS the daemon; a host that does
 *   not allow sealing is refused with -EPERM) -> fstat for the size -> mmap -> validate -> reply.
 * The connection then stays open; EOF means the host is gone and the region is detached.
 * With rdma-read ingest the host must offer DFT_REG_F_RDMA_READ and is sent, right after its reply,
 * the address of the daemon's rdma_cm listener (struct dft_reg_rdma_at).
 * Trust (docs/security.md): the socket is made 0660 (group from --socket-group); the kernel's
 * SO_PEERCRED, never the message, says who registers: a peer no allow rule names is refused at
 * accept, a region whose component the peer may not use at registration, and the peer's pid/uid
 * are recorded with the region. A connection silent for await_ms is closed, and when every slot is
 * held the oldest one still waiting for its message makes room, so idle peers cannot starve hosts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "dft/clock.h"
#include "dft/reg.h"
#include "reg_server.h"
#include "stats.h"
#ifdef DFT_HAVE_RDMA
#include "reg_net.h"
#include "log.h"
#endif

#define MAX_CONNS DFT_NIC_MAX_REGIONS

enum conn_state { CONN_FREE = 0, CONN_AWAIT_MSG, CONN_ATTACHED };

struct conn {
	enum conn_state state;
	int fd;
	struct dft_nic_region *region;
	uint64_t since_ns; /* accepted (monotonic) */
	struct ucred cred; /* SO_PEERCRED at accept */
};

struct dft_reg_server {
	int lfd;
	uint64_t daemon_id;
	uint32_t next_region_id;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct conn conns[MAX_CONNS];
	bool rdma_read; /* hosts must export their region by RDMA; rdma_at tells them where */
	bool told_no_rdma;
	struct dft_reg_rdma_at rdma_at;
	const struct dft_reg_policy *policy; /* NULL: anyone who can open the socket */
	uint64_t await_ns;
	uint64_t refused_log_ns; /* refusals are logged at most once per 10 s */
};

int dft_reg_server_secure(struct dft_reg_server *s, const struct dft_reg_policy *policy, int64_t gid,
			  uint32_t await_ms)
{
	s->policy = policy;
	s->await_ns = (uint64_t)(await_ms ? await_ms : 2000) * 1000000u;
	if (gid >= 0 && chown(s->path, (uid_t)-1, (gid_t)gid))
		return -errno;
	return 0;
}

static void log_refusal(struct dft_reg_server *s, const struct ucred *cr, const char *what, const char *comp)
{
	uint64_t now = dft_clock_ns(CLOCK_MONOTONIC);

	if (s->refused_log_ns && now - s->refused_log_ns < 10000000000ull)
		return;
	s->refused_log_ns = now;
	DFT_LOG(WARNING, reg, "registration refused: pid %d uid %u gid %u %s%s%s (more refusals in 10 s are "
		"only counted: regions_refused)", (int)cr->pid, (unsigned)cr->uid, (unsigned)cr->gid, what,
		comp ? " " : "", comp ? comp : "");
}

int dft_reg_server_rdma_at(struct dft_reg_server *s, const char *addr, uint16_t port)
{
	int rc = dft_reg_rdma_at_make(&s->rdma_at, addr, port);

	s->rdma_read = rc == 0;
	return rc;
}

int dft_reg_server_create(const char *path, uint64_t daemon_id, struct dft_reg_server **out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct dft_reg_server *s;
	int rc;

	*out = NULL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->daemon_id = daemon_id;
	s->await_ns = 2000000000ull; /* until dft_reg_server_secure says otherwise */
	strcpy(s->path, path);
	strcpy(sa.sun_path, path);
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->lfd < 0) {
		rc = -errno;
		goto free_server;
	}
	/* a stale socket file from a previous run would make bind fail */
	unlink(path);
	{
		/* born 0660, not from whatever umask the daemon got: others may not even connect */
		mode_t old = umask(0117);

		rc = bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
		umask(old);
	}
	if (rc || chmod(path, 0660) || listen(s->lfd, 64)) {
		rc = rc ? rc : -errno;
		goto close_listener;
	}
	*out = s;
	return 0;

close_listener:
	close(s->lfd);
free_server:
	free(s);
	return rc;
}

void dft_region_free(struct dft_nic_region *r)
{
	if (!r)
		return;
	if (r->map)
		munmap(r->map, r->g.map_len);
	if (r->fd >= 0)
		close(r->fd);
#ifdef DFT_HAVE_RDMA
	dft_net_conn_free(r->net); /* registered over the network: its connection goes with it */
#endif
	free(r->comp_ok);
	free(r);
}

void dft_reg_server_destroy(struct dft_reg_server *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < MAX_CONNS; i++)
		if (s->conns[i].state != CONN_FREE)
			close(s->conns[i].fd);
	close(s->lfd);
	unlink(s->path);
	free(s);
}

static void reply(int fd, uint64_t daemon_id, int status)
{
	struct dft_reg_reply r = {.magic = DFT_REG_MAGIC, .status = status, .daemon_id = daemon_id};

	(void)send(fd, &r, sizeof(r), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Seal, size, map and validate a received memfd. Takes ownership of mfd. */
static int region_open(struct dft_reg_server *s, int mfd, struct dft_nic_region **out)
{
	struct dft_nic_region *r;
	struct stat st;
	int seals, rc;

	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK) != 0) {
		/* already sealed (F_SEAL_SEAL) is fine as long as shrinking is among the seals */
		seals = fcntl(mfd, F_GET_SEALS);
		if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
			rc = -EPERM;
			goto close_fd;
		}
	}
	if (fstat(mfd, &st)) {
		rc = -errno;
		goto close_fd;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(struct dft_region_hdr) ||
	    (uint64_t)st.st_size > DFT_REGION_MAP_MAX) {
		rc = -EINVAL;
		goto close_fd;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		rc = -ENOMEM;
		goto close_fd;
	}
	r->fd = mfd;
	r->conn = -1;
	r->g.map_len = (uint64_t)st.st_size;
	r->comp_ok = NULL;
	r->map = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (r->map == MAP_FAILED) {
		rc = -errno;
		r->map = NULL;
		goto free_region;
	}
	rc = dft_region_validate(r->map, (size_t)st.st_size, &r->g);
	if (rc)
		goto free_region;
	r->id = ++s->next_region_id;
	*out = r;
	return 0;

free_region:
	r->g.map_len = (uint64_t)st.st_size;
	dft_region_free(r); /* unmaps and closes mfd */
	return rc;
close_fd:
	close(mfd);
	return rc;
}

/*
 * Bind the region to the kernel's view of its peer: the process's component (from the validated
 * header and name table) must be one the peer may trace as, and the real pid/uid go with it.
 */
static int region_peer(struct dft_reg_server *s, const struct conn *c, struct dft_nic_region *r)
{
	const struct dft_region_hdr *h = r->map;
	uint32_t published = dft_load_relaxed(&h->names_published);
	char comp[DFT_NAME_MAX + 1];

	r->peer_pid = (uint32_t)c->cred.pid;
	r->peer_uid = c->cred.uid;
	r->peer_gid = c->cred.gid;
	r->has_peer = true; /* a region's tenant is decided by its uid (tenant.h) */
	if (!s->policy || dft_reg_policy_any(s->policy, c->cred.uid, c->cred.gid))
		return 0;
	if (published > r->g.name_capacity)
		published = r->g.name_capacity;
	if (dft_name_read(r->map, &r->g, published, r->g.component_id, comp, sizeof(comp)) < 0 ||
	    dft_reg_policy_check(s->policy, c->cred.uid, c->cred.gid, comp)) {
		log_refusal(s, &c->cred, "may not trace as", comp);
		return -EACCES;
	}
	/* the process's own component is allowed; its spans' components are checked one by one */
	r->policy = s->policy;
	r->comp_ok = calloc((size_t)r->g.name_capacity + 1, 1);
	return r->comp_ok ? 0 : -ENOMEM;
}

/* Read the registration message; returns 1 when handled (conn attached or closed), 0 for "later". */
static int conn_register(struct dft_reg_server *s, struct conn *c, int (*attach)(void *, struct dft_nic_region *),
			 void *arg)
{
	struct dft_reg_msg m;
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf)};
	struct dft_nic_region *r = NULL;
	int mfd = -1, rc;
	ssize_t n;

	n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); n >= 0 && cm; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			int fds[4];

			if (nfd > 4)
				nfd = 4;

			memcpy(fds, CMSG_DATA(cm), nfd * sizeof(int));
			/* keep the first fd, close any extra a confused host sent */
			for (size_t i = 0; i < nfd; i++) {
				if (mfd < 0)
					mfd = fds[i];
				else
					close(fds[i]);
			}
		}
	}
	if (n != (ssize_t)sizeof(m) || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || m.magic != DFT_REG_MAGIC ||
	    m.version != DFT_REG_VERSION || m.type != DFT_REG_REGISTER || m.size != sizeof(m)) {
		rc = n == 0 ? 0 : -EPROTO;
		goto refuse;
	}
	if (mfd < 0) {
		rc = -EBADF;
		goto refuse;
	}
	if (s->rdma_read && !(m.flags & DFT_REG_F_RDMA_READ)) {
		if (!s->told_no_rdma)
			DFT_LOG(WARNING, reg, "refusing pid %u: --ingest rdma-read needs a host library built "
				"with verbs and an RDMA device on the host", m.pid);
		s->told_no_rdma = true;
		rc = -EOPNOTSUPP;
		goto refuse;
	}
	rc = region_open(s, mfd, &r);
	mfd = -1;
	if (rc)
		goto refuse;
	rc = region_peer(s, c, r);
	if (rc) {
		dft_region_free(r);
		goto refuse;
	}
	r->conn = c->fd;
	rc = attach(arg, r);
	if (rc) {
		dft_region_free(r);
		goto refuse;
	}
	reply(c->fd, s->daemon_id, 0);
	if (s->rdma_read)
		(void)send(c->fd, &s->rdma_at, sizeof(s->rdma_at), MSG_NOSIGNAL | MSG_DONTWAIT);
	c->region = r;
	c->state = CONN_ATTACHED;
	dft_ctr_add(&dft_nic_ctr.regions_attached, 1);
	return 1;

refuse:
	if (mfd >= 0)
		close(mfd);
	if (rc) {
		reply(c->fd, s->daemon_id, rc);
		dft_ctr_add(&dft_nic_ctr.regions_refused, 1);
	}
	close(c->fd);
	c->state = CONN_FREE;
	return 1;
}

/* An attached host's connection: anything readable is either EOF (gone) or noise we discard. */
static int conn_watch(struct conn *c, void (*detach)(void *, struct dft_nic_region *), void *arg)
{
	char buf[256];
	ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)))
		return n > 0;
	close(c->fd);
	c->region->conn = -1;
	detach(arg, c->region);
	c->region = NULL;
	c->state = CONN_FREE;
	return 1;
}

int dft_reg_server_poll(struct dft_reg_server *s, int (*attach)(void *, struct dft_nic_region *),
			void (*detach)(void *, struct dft_nic_region *), void *arg)
{
	int work = 0;

	uint64_t now = dft_clock_ns(CLOCK_MONOTONIC);

	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cred = {0};
		socklen_t cl = sizeof(cred);
		unsigned i, oldest = MAX_CONNS;

		if (fd < 0)
			break;
		/* who is there, as the kernel says: a peer no allow rule names is not even heard */
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) ||
		    (s->policy && dft_reg_policy_check(s->policy, cred.uid, cred.gid, NULL))) {
			log_refusal(s, &cred, "not in the allow-list", NULL);
			reply(fd, s->daemon_id, -EACCES);
			dft_ctr_add(&dft_nic_ctr.regions_refused, 1);
			close(fd);
			continue;
		}
		for (i = 0; i < MAX_CONNS && s->conns[i].state != CONN_FREE; i++)
			if (s->conns[i].state == CONN_AWAIT_MSG &&
			    (oldest == MAX_CONNS || s->conns[i].since_ns < s->conns[oldest].since_ns))
				oldest = i;
		if (i == MAX_CONNS && oldest < MAX_CONNS) {
			/* every slot held: the one that has waited longest without a message makes room */
			close(s->conns[oldest].fd);
			s->conns[oldest].state = CONN_FREE;
			dft_ctr_add(&dft_nic_ctr.reg_conns_evicted, 1);
			i = oldest;
		}
		if (i == MAX_CONNS) {
			reply(fd, s->daemon_id, -ENOSPC);
			dft_ctr_add(&dft_nic_ctr.regions_refused, 1);
			close(fd);
			continue;
		}
		s->conns[i] = (struct conn){.state = CONN_AWAIT_MSG, .fd = fd, .since_ns = now, .cred = cred};
		work++;
	}
	for (unsigned i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &s->conns[i];

		if (c->state == CONN_AWAIT_MSG && now - c->since_ns > s->await_ns) {
			/* a host sends its message right after connecting: this one holds a slot for nothing */
			close(c->fd);
			c->state = CONN_FREE;
			dft_ctr_add(&dft_nic_ctr.reg_conns_timed_out, 1);
			work++;
			continue;
		}

		if (c->state == CONN_AWAIT_MSG)
			work += conn_register(s, c, attach, arg);
		else if (c->state == CONN_ATTACHED)
			work += conn_watch(c, detach, arg);
	}
	return work;
}
