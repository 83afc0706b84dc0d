/* SPDX-License-Identifier: MIT */
/*
 * RDMA transport, client (difftrace-nic) side. The protocol is written out in dft/rdma.h.
 * Connection state is an explicit enum; every transition out of CONNECTED tears down in the exact
 * reverse order of setup and arms the reconnect backoff.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <infiniband/verbs.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <rdma/rdma_cma.h>

#include "dft/clock.h"
#include "dft/rdma.h"
#include "dft/rdma_auth.h"

enum conn_state {
	CS_IDLE,      /* waiting for the backoff to expire */
	CS_RESOLVING, /* address, then route */
	CS_CONNECTING,
	CS_CONNECTED,
};

struct dft_rdma_client {
	struct dft_rdma_client_cfg cfg;
	char *host, *port, *bind;
	struct rdma_event_channel *ec;
	enum conn_state state;
	uint64_t retry_at_ns;
	uint64_t backoff_ns;
	/* per connection */
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	volatile uint64_t *credit; /* written remotely by the server */
	struct ibv_mr *credit_mr;
	uint8_t *staging;
	size_t staging_len;
	struct ibv_mr *staging_mr;
	uint64_t *slot_seq; /* sequence written to each slot, to map credits to acknowledgements */
	struct dft_rdma_welcome ring;
	uint64_t written;   /* slots written on this connection */
	uint64_t acked_cr;  /* credit count acked_seq was computed from */
	uint64_t acked_seq; /* sequence of the batch in slot acked_cr - 1 */
	uint64_t completed; /* write completions polled */
	uint64_t epoch;
	struct dft_rdma_client_stats st;
	bool auth;               /* cfg.key was given: prove it, and require the collector's proof */
	struct dft_rdma_key key; /* a copy: the caller's may go away */
	struct dft_rdma_hello hello; /* what this connection said, for the proofs' transcript */
};

static void conn_teardown(struct dft_rdma_client *c)
{
	if (c->id && c->id->qp)
		rdma_destroy_qp(c->id);
	if (c->staging_mr)
		ibv_dereg_mr(c->staging_mr);
	if (c->credit_mr)
		ibv_dereg_mr(c->credit_mr);
	if (c->cq)
		ibv_destroy_cq(c->cq);
	if (c->pd)
		ibv_dealloc_pd(c->pd);
	if (c->id)
		rdma_destroy_id(c->id);
	free(c->staging);
	free((void *)c->credit);
	free(c->slot_seq);
	c->id = NULL;
	c->pd = NULL;
	c->cq = NULL;
	c->credit = NULL;
	c->credit_mr = NULL;
	c->staging = NULL;
	c->staging_mr = NULL;
	c->slot_seq = NULL;
	c->written = c->completed = 0;
	c->acked_cr = c->acked_seq = 0;
	memset(&c->ring, 0, sizeof(c->ring));
}

static void conn_fail(struct dft_rdma_client *c)
{
	if (c->state == CS_CONNECTED)
		c->st.disconnects++;
	if (c->id && c->state == CS_CONNECTED)
		rdma_disconnect(c->id);
	conn_teardown(c);
	c->state = CS_IDLE;
	c->retry_at_ns = dft_clock_ns(CLOCK_MONOTONIC) + c->backoff_ns;
	c->backoff_ns = c->backoff_ns * 2 > 1000000000ull ? 1000000000ull : c->backoff_ns * 2;
}

static int start_connect(struct dft_rdma_client *c)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *dst = NULL, *src = NULL;
	int rc;

	if (getaddrinfo(c->host, c->port, &hints, &dst))
		return -EHOSTUNREACH;
	if (c->bind && getaddrinfo(c->bind, NULL, &hints, &src)) {
		freeaddrinfo(dst);
		return -EADDRNOTAVAIL;
	}
	rc = rdma_create_id(c->ec, &c->id, c, RDMA_PS_TCP);
	if (rc) {
		rc = -errno;
		goto out;
	}
	if (rdma_resolve_addr(c->id, src ? src->ai_addr : NULL, dst->ai_addr, 2000)) {
		rc = -errno;
		goto out;
	}
	c->state = CS_RESOLVING;
out:
	if (src)
		freeaddrinfo(src);
	freeaddrinfo(dst);
	return rc;
}

/* After the route is known: the verbs objects of one connection, then rdma_connect. */
static int setup_connection(struct dft_rdma_client *c)
{
	struct ibv_qp_init_attr qa;
	struct rdma_conn_param cp;
	struct dft_rdma_hello h;
	uint8_t pd_bytes[sizeof(struct dft_rdma_hello)];
	uint32_t slots = DFT_RDMA_SLOTS_MAX;

	/* the ring size is only known after accept: size the send queue for the most we allow */
	c->pd = ibv_alloc_pd(c->id->verbs);
	if (!c->pd)
		goto fail;
	c->cq = ibv_create_cq(c->id->verbs, (int)slots + 16, NULL, NULL, 0);
	if (!c->cq)
		goto fail;
	memset(&qa, 0, sizeof(qa));
	qa.send_cq = qa.recv_cq = c->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = slots;
	qa.cap.max_recv_wr = 1;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	qa.sq_sig_all = 1;
	if (rdma_create_qp(c->id, c->pd, &qa))
		goto fail;
	c->credit = aligned_alloc(64, 64);
	if (!c->credit)
		goto fail;
	*c->credit = 0;
	c->credit_mr = ibv_reg_mr(c->pd, (void *)c->credit, 64, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!c->credit_mr)
		goto fail;
	memset(&h, 0, sizeof(h));
	h.sender_id = c->cfg.sender_id;
	h.credit_addr = (uint64_t)(uintptr_t)c->credit;
	h.credit_rkey = c->credit_mr->rkey;
	if (c->auth) {
		h.flags = DFT_RDMA_F_AUTH;
		if (RAND_bytes(h.nonce, sizeof(h.nonce)) != 1) {
			errno = EIO;
			goto fail;
		}
	}
	c->hello = h;
	dft_rdma_hello_encode(&h, pd_bytes);
	memset(&cp, 0, sizeof(cp));
	cp.private_data = pd_bytes;
	cp.private_data_len = sizeof(pd_bytes);
	cp.responder_resources = 1;
	cp.initiator_depth = 1;
	cp.retry_count = 7;
	cp.rnr_retry_count = 7;
	if (rdma_connect(c->id, &cp))
		goto fail;
	c->state = CS_CONNECTING;
	return 0;
fail:
	return -errno ? -errno : -ENOMEM;
}

/*
 * The proof of our key, written into slot 0 with sequence 0 before any batch (dft/rdma_auth.h). The
 * collector reads nothing else and credits nothing before it verified it; the credit it then
 * returns (1) stands for sequence 0, which no batch has.
 */
static int write_proof(struct dft_rdma_client *c)
{
	struct dft_rdma_slot_hdr sh = {
		.magic = htole32(DFT_RDMA_AUTH_MAGIC),
		.len = htole32(sizeof(struct dft_rdma_auth)),
		.seq = 0,
	};
	struct dft_rdma_auth a = {.sender_id = c->cfg.sender_id};
	struct ibv_send_wr wr, *bad;
	struct ibv_sge sge;
	int rc;

	if (sizeof(sh) + sizeof(a) > c->ring.slot_size)
		return -EMSGSIZE;
	rc = dft_rdma_auth_proof(&c->key, DFT_RDMA_AUTH_NIC, &c->hello, &c->ring, a.proof);
	if (rc)
		return rc;
	memcpy(c->staging, &sh, sizeof(sh));
	dft_rdma_auth_encode(&a, c->staging + sizeof(sh));
	sge.addr = (uint64_t)(uintptr_t)c->staging;
	sge.length = (uint32_t)(sizeof(sh) + sizeof(a));
	sge.lkey = c->staging_mr->lkey;
	memset(&wr, 0, sizeof(wr));
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.imm_data = htonl(dft_rdma_imm(0, 0));
	wr.wr.rdma.remote_addr = c->ring.ring_addr;
	wr.wr.rdma.rkey = c->ring.ring_rkey;
	if (ibv_post_send(c->id->qp, &wr, &bad))
		return -EIO;
	c->slot_seq[0] = 0;
	c->written = 1;
	return 0;
}

/* The server's welcome: its proof first, then the staging area sized to its ring. */
static int on_established(struct dft_rdma_client *c, const void *pd, uint8_t pd_len)
{
	int rc;

	if (dft_rdma_welcome_decode(pd, pd_len, &c->ring))
		return -EPROTO;
	/* a collector that cannot prove our key gets nothing: no batch, no trust in its resume_seq */
	if (c->auth && (!(c->ring.flags & DFT_RDMA_F_AUTH) ||
			dft_rdma_auth_verify(&c->key, DFT_RDMA_AUTH_COLLECTOR, &c->hello, &c->ring, c->ring.proof))) {
		c->st.auth_refused++;
		return -EACCES;
	}
	c->staging_len = (size_t)c->ring.slots * c->ring.slot_size;
	c->staging = aligned_alloc(4096, (c->staging_len + 4095) & ~(size_t)4095);
	c->slot_seq = calloc(c->ring.slots, sizeof(*c->slot_seq));
	if (!c->staging || !c->slot_seq)
		return -ENOMEM;
	c->staging_mr = ibv_reg_mr(c->pd, c->staging, c->staging_len, IBV_ACCESS_LOCAL_WRITE);
	if (!c->staging_mr)
		return -errno;
	if (c->auth) {
		rc = write_proof(c);
		if (rc)
			return rc;
	}
	c->state = CS_CONNECTED;
	c->backoff_ns = 10000000ull;
	c->epoch++;
	c->st.connects++;
	return 0;
}

static void handle_cm_events(struct dft_rdma_client *c)
{
	struct rdma_cm_event *ev;

	while (rdma_get_cm_event(c->ec, &ev) == 0) {
		enum rdma_cm_event_type type = ev->event;
		uint8_t pd[196]; /* the most rdma_cm carries in an accept: the welcome must fit whole */
		uint8_t pd_len = 0;
		int stale = ev->id != c->id;

		if (type == RDMA_CM_EVENT_ESTABLISHED) {
			pd_len = ev->param.conn.private_data_len < sizeof(pd) ? ev->param.conn.private_data_len : sizeof(pd);
			if (ev->param.conn.private_data)
				memcpy(pd, ev->param.conn.private_data, pd_len);
		}
		rdma_ack_cm_event(ev);
		if (stale)
			continue;
		switch (type) {
		case RDMA_CM_EVENT_ADDR_RESOLVED:
			if (rdma_resolve_route(c->id, 2000))
				conn_fail(c);
			break;
		case RDMA_CM_EVENT_ROUTE_RESOLVED:
			if (setup_connection(c))
				conn_fail(c);
			break;
		case RDMA_CM_EVENT_ESTABLISHED:
			if (on_established(c, pd, pd_len))
				conn_fail(c);
			break;
		case RDMA_CM_EVENT_DISCONNECTED:
		case RDMA_CM_EVENT_REJECTED:
		case RDMA_CM_EVENT_UNREACHABLE:
		case RDMA_CM_EVENT_CONNECT_ERROR:
		case RDMA_CM_EVENT_ADDR_ERROR:
		case RDMA_CM_EVENT_ROUTE_ERROR:
		case RDMA_CM_EVENT_DEVICE_REMOVAL:
			conn_fail(c);
			break;
		default:
			break;
		}
	}
}

int dft_rdma_client_create(const struct dft_rdma_client_cfg *cfg, struct dft_rdma_client **out)
{
	struct dft_rdma_client *c;
	int flags;

	if (!cfg || !cfg->host || !cfg->port || !out)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	c->cfg.key = NULL;
	if (cfg->key) {
		if (cfg->key->len < DFT_RDMA_KEY_MIN || cfg->key->len > DFT_RDMA_KEY_MAX) {
			free(c);
			return -EINVAL;
		}
		c->key = *cfg->key;
		c->auth = true;
	}
	c->host = strdup(cfg->host);
	c->port = strdup(cfg->port);
	c->bind = cfg->bind ? strdup(cfg->bind) : NULL;
	if (!c->host || !c->port || (cfg->bind && !c->bind))
		goto err_free;
	c->ec = rdma_create_event_channel();
	if (!c->ec)
		goto err_free;
	/* connection management is polled from the daemon's loop: the channel must never block */
	flags = fcntl(c->ec->fd, F_GETFL);
	if (flags < 0 || fcntl(c->ec->fd, F_SETFL, flags | O_NONBLOCK) < 0)
		goto err_channel;
	c->backoff_ns = 10000000ull;
	c->state = CS_IDLE;
	*out = c;
	return 0;
err_channel:
	rdma_destroy_event_channel(c->ec);
err_free:
	free(c->bind);
	free(c->port);
	free(c->host);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
	return -ENOMEM;
}

void dft_rdma_client_destroy(struct dft_rdma_client *c)
{
	if (!c)
		return;
	if (c->state == CS_CONNECTED)
		rdma_disconnect(c->id);
	conn_teardown(c);
	rdma_destroy_event_channel(c->ec);
	free(c->bind);
	free(c->port);
	free(c->host);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

static void poll_completions(struct dft_rdma_client *c)
{
	struct ibv_wc wc[32];
	int n = 0;

	while (c->cq && (n = ibv_poll_cq(c->cq, 32, wc)) > 0) {
		for (int i = 0; i < n; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				c->st.write_errors++;
				conn_fail(c);
				return;
			}
			c->completed++;
		}
	}
	if (n < 0)
		conn_fail(c);
}

int dft_rdma_client_poll(struct dft_rdma_client *c)
{
	handle_cm_events(c);
	if (c->state == CS_IDLE && dft_clock_ns(CLOCK_MONOTONIC) >= c->retry_at_ns) {
		int rc = start_connect(c);

		if (rc)
			conn_fail(c);
	}
	if (c->state == CS_CONNECTED) {
		uint64_t credits = le64toh(__atomic_load_n(c->credit, __ATOMIC_ACQUIRE));

		poll_completions(c);
		/* a server crediting more than was written is broken or hostile */
		if (c->state == CS_CONNECTED && credits > c->written)
			conn_fail(c);
	}
	return 0;
}

bool dft_rdma_client_connected(const struct dft_rdma_client *c)
{
	return c->state == CS_CONNECTED;
}

uint64_t dft_rdma_client_epoch(const struct dft_rdma_client *c)
{
	return c->epoch;
}

uint64_t dft_rdma_client_resume_seq(const struct dft_rdma_client *c)
{
	return c->ring.resume_seq;
}

static uint64_t credits_of(const struct dft_rdma_client *c)
{
	uint64_t v = le64toh(__atomic_load_n(c->credit, __ATOMIC_ACQUIRE));

	return v > c->written ? c->written : v;
}

/*
 * Map the credit count to the sequence of the last credited batch. It must be read before the
 * slot that batch used can be written again: a write may reuse slot (credits - 1) mod N as soon as
 * it is credited, so every send refreshes this first, and a credit count seen before is served from
 * the cache instead of the (possibly reused) slot.
 */
static void refresh_acked(struct dft_rdma_client *c)
{
	uint64_t cr = credits_of(c);

	if (cr > c->acked_cr) {
		c->acked_seq = c->slot_seq[(cr - 1) % c->ring.slots];
		c->acked_cr = cr;
	}
}

int dft_rdma_client_send(struct dft_rdma_client *c, uint64_t seq, const void *buf, size_t len)
{
	struct dft_rdma_slot_hdr h;
	struct ibv_send_wr wr, *bad;
	struct ibv_sge sge;
	uint32_t slot;
	uint8_t *dst;

	if (c->state != CS_CONNECTED)
		return -EAGAIN;
	if (len + sizeof(h) > c->ring.slot_size) {
		c->st.oversize++;
		return -EMSGSIZE;
	}
	/* free slot at the server (credits) and room in our send queue and CQ (completions) */
	if (c->written - c->completed >= c->ring.slots)
		poll_completions(c);
	if (c->state != CS_CONNECTED)
		return -EAGAIN;
	refresh_acked(c);
	if (c->written - credits_of(c) >= c->ring.slots || c->written - c->completed >= c->ring.slots) {
		c->st.credit_stalls++;
		return -EAGAIN;
	}
	slot = (uint32_t)(c->written % c->ring.slots);
	dst = c->staging + (size_t)slot * c->ring.slot_size;
	h.magic = htole32(DFT_RDMA_MAGIC);
	h.len = htole32((uint32_t)len);
	h.seq = htole64(seq);
	memcpy(dst, &h, sizeof(h));
	memcpy(dst + sizeof(h), buf, len);
	sge.addr = (uint64_t)(uintptr_t)dst;
	sge.length = (uint32_t)(len + sizeof(h));
	sge.lkey = c->staging_mr->lkey;
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = c->written;
	wr.sg_list = &sge;
	wr.num_sge = 1;
	wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.imm_data = htonl(dft_rdma_imm(slot, seq));
	wr.wr.rdma.remote_addr = c->ring.ring_addr + (uint64_t)slot * c->ring.slot_size;
	wr.wr.rdma.rkey = c->ring.ring_rkey;
	if (ibv_post_send(c->id->qp, &wr, &bad)) {
		c->st.write_errors++;
		conn_fail(c);
		return -EAGAIN;
	}
	c->slot_seq[slot] = seq;
	c->written++;
	c->st.writes++;
	return 0;
}

uint64_t dft_rdma_client_acked(struct dft_rdma_client *c)
{
	if (c->state != CS_CONNECTED)
		return 0;
	refresh_acked(c);
	return c->acked_seq;
}

uint32_t dft_rdma_client_outstanding(const struct dft_rdma_client *c)
{
	return c->state == CS_CONNECTED ? (uint32_t)(c->written - credits_of(c)) : 0;
}

void dft_rdma_client_get_stats(const struct dft_rdma_client *c, struct dft_rdma_client_stats *out)
{
	*out = c->st;
}
