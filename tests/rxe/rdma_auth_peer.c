/* SPDX-License-Identifier: MIT */
/*
 * A hostile RDMA sender, run inside the Soft-RoCE VM by tests/security/test_rdma_auth.py against a
 * difftrace-collector --transport rdma --rdma-keys (protocol: dft/rdma_auth.h). Each case speaks the
 * handshake by hand and checks what the collector did:
 *
 *   rdma_auth_peer --collector ADDR:PORT --sender HEX [--key FILE] --case CASE
 *     noauth       hello without F_AUTH                                -> rejected at connect
 *     unknown      F_AUTH, a sender id the collector has no key for    -> rejected at connect
 *     wrong-key    proof made with another key                          -> disconnected, no credit
 *     batch-first  a batch (sequence 1) where the proof belongs         -> disconnected, no credit
 *     replay       (needs --key) one honest handshake, credit 1 seen; then its proof replayed on a
 *                  new connection                                      -> the second disconnected,
 *                                                                         no credit
 *     silent       connects and proves nothing                         -> disconnected by the deadline
 *     flood        16 silent connections (every slot), then an honest one -> the honest one is
 *                  credited; every silent one is dropped (evicted or past the deadline)
 * Without --key the proofs are made with a random key. Exit 0 when the collector behaved as expected,
 * 1 otherwise (with a line saying what happened).
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <infiniband/verbs.h>
#include <rdma/rdma_cma.h>

#include "dft/clock.h"
#include "dft/rdma.h"
#include "dft/rdma_auth.h"

#define FLOOD 16
#define WAIT_MS 60000 /* longer than any deadline the test gives the collector */

enum outcome { O_NONE, O_ESTABLISHED, O_REJECTED, O_DISCONNECTED, O_FAILED };
static const char *const outcome_name[] = {"nothing", "established", "rejected", "disconnected", "failed"};

struct conn {
	struct rdma_event_channel *ec;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *credit_mr, *stage_mr;
	volatile uint64_t *credit;
	uint8_t *stage;
	struct dft_rdma_hello hello;
	struct dft_rdma_welcome welcome;
	enum outcome state;
};

static struct addrinfo *dst;
static uint64_t sender;
static struct dft_rdma_key key;

static int next_event(struct conn *c, int ms, struct dft_rdma_welcome *w)
{
	struct pollfd pf = {.fd = c->ec->fd, .events = POLLIN};
	struct rdma_cm_event *ev;
	int type;

	if (poll(&pf, 1, ms) <= 0 || rdma_get_cm_event(c->ec, &ev))
		return -1;
	type = ev->event;
	if (type == RDMA_CM_EVENT_ESTABLISHED && w &&
	    dft_rdma_welcome_decode(ev->param.conn.private_data, ev->param.conn.private_data_len, w))
		type = -2;
	rdma_ack_cm_event(ev);
	return type;
}

/* Connect and wait for the collector's answer: O_ESTABLISHED (welcome kept), O_REJECTED or O_FAILED. */
static enum outcome conn_open(struct conn *c, bool auth)
{
	struct ibv_qp_init_attr qa = {.qp_type = IBV_QPT_RC, .sq_sig_all = 1};
	struct rdma_conn_param cp = {.responder_resources = 1, .initiator_depth = 1, .retry_count = 7,
				     .rnr_retry_count = 7};
	uint8_t pd[sizeof(struct dft_rdma_hello)];
	int ev;

	c->ec = rdma_create_event_channel();
	if (!c->ec || rdma_create_id(c->ec, &c->id, NULL, RDMA_PS_TCP) ||
	    rdma_resolve_addr(c->id, NULL, dst->ai_addr, 2000) ||
	    next_event(c, 10000, NULL) != RDMA_CM_EVENT_ADDR_RESOLVED || rdma_resolve_route(c->id, 2000) ||
	    next_event(c, 10000, NULL) != RDMA_CM_EVENT_ROUTE_RESOLVED)
		return O_FAILED;
	c->pd = ibv_alloc_pd(c->id->verbs);
	c->cq = c->pd ? ibv_create_cq(c->id->verbs, 8, NULL, NULL, 0) : NULL;
	c->credit = aligned_alloc(64, 64);
	c->stage = aligned_alloc(4096, 4096);
	if (!c->cq || !c->credit || !c->stage)
		return O_FAILED;
	*c->credit = 0;
	qa.send_cq = qa.recv_cq = c->cq;
	qa.cap.max_send_wr = qa.cap.max_recv_wr = 4;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	c->credit_mr = ibv_reg_mr(c->pd, (void *)c->credit, 64, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	c->stage_mr = ibv_reg_mr(c->pd, c->stage, 4096, IBV_ACCESS_LOCAL_WRITE);
	if (!c->credit_mr || !c->stage_mr || rdma_create_qp(c->id, c->pd, &qa))
		return O_FAILED;
	c->hello.sender_id = sender;
	c->hello.credit_addr = (uintptr_t)c->credit;
	c->hello.credit_rkey = c->credit_mr->rkey;
	c->hello.flags = auth ? DFT_RDMA_F_AUTH : 0;
	if (getrandom(c->hello.nonce, sizeof(c->hello.nonce), 0) != (ssize_t)sizeof(c->hello.nonce))
		return O_FAILED;
	dft_rdma_hello_encode(&c->hello, pd);
	cp.private_data = pd;
	cp.private_data_len = sizeof(pd);
	if (rdma_connect(c->id, &cp))
		return O_FAILED;
	ev = next_event(c, 10000, &c->welcome);
	c->state = ev == RDMA_CM_EVENT_ESTABLISHED ? O_ESTABLISHED : ev == RDMA_CM_EVENT_REJECTED ? O_REJECTED
												      : O_FAILED;
	return c->state;
}

static void conn_close(struct conn *c)
{
	if (c->id && c->id->qp)
		rdma_destroy_qp(c->id);
	if (c->stage_mr)
		ibv_dereg_mr(c->stage_mr);
	if (c->credit_mr)
		ibv_dereg_mr(c->credit_mr);
	if (c->cq)
		ibv_destroy_cq(c->cq);
	if (c->pd)
		ibv_dealloc_pd(c->pd);
	if (c->id)
		rdma_destroy_id(c->id);
	if (c->ec)
		rdma_destroy_event_channel(c->ec);
	free((void *)c->credit);
	free(c->stage);
	memset(c, 0, sizeof(*c));
}

/* Write len bytes of the staging page into ring slot 0 with the given immediate; wait for the write. */
static int write_slot0(struct conn *c, uint32_t len, uint32_t imm)
{
	struct ibv_sge sge = {.addr = (uintptr_t)c->stage, .length = len, .lkey = c->stage_mr->lkey};
	struct ibv_send_wr wr = {.sg_list = &sge, .num_sge = 1, .opcode = IBV_WR_RDMA_WRITE_WITH_IMM,
				 .send_flags = IBV_SEND_SIGNALED}, *bad;
	struct ibv_wc wc;
	uint64_t until = dft_clock_ns(CLOCK_MONOTONIC) + 10000000000ull;
	int n;

	wr.imm_data = htonl(imm);
	wr.wr.rdma.remote_addr = c->welcome.ring_addr;
	wr.wr.rdma.rkey = c->welcome.ring_rkey;
	if (ibv_post_send(c->id->qp, &wr, &bad))
		return -EIO;
	while ((n = ibv_poll_cq(c->cq, 1, &wc)) == 0 && dft_clock_ns(CLOCK_MONOTONIC) < until)
		;
	return n == 1 && wc.status == IBV_WC_SUCCESS ? 0 : -EIO;
}

/* Stage the proof message for this connection, made with k. Returns its length. */
static uint32_t stage_proof(struct conn *c, const struct dft_rdma_key *k)
{
	struct dft_rdma_slot_hdr sh = {.magic = htole32(DFT_RDMA_AUTH_MAGIC), .len = htole32(sizeof(struct dft_rdma_auth))};
	struct dft_rdma_auth a = {.sender_id = sender};

	if (dft_rdma_auth_proof(k, DFT_RDMA_AUTH_NIC, &c->hello, &c->welcome, a.proof))
		return 0;
	memcpy(c->stage, &sh, sizeof(sh));
	dft_rdma_auth_encode(&a, c->stage + sizeof(sh));
	return sizeof(sh) + sizeof(a);
}

/* After the write: credit 1 (the collector took the proof) or a disconnect, whichever comes first. */
static enum outcome await_verdict(struct conn *c, int ms)
{
	uint64_t until = dft_clock_ns(CLOCK_MONOTONIC) + (uint64_t)ms * 1000000ull;

	while (dft_clock_ns(CLOCK_MONOTONIC) < until) {
		if (le64toh(__atomic_load_n(c->credit, __ATOMIC_ACQUIRE)) >= 1)
			return O_ESTABLISHED;
		if (next_event(c, 10, NULL) == RDMA_CM_EVENT_DISCONNECTED)
			return le64toh(*c->credit) ? O_FAILED : O_DISCONNECTED; /* a credit before the drop: wrong */
	}
	return O_NONE;
}

static bool expect(const char *what, enum outcome got, enum outcome want)
{
	printf("rdma_auth_peer %s: %s (%s)\n", what, outcome_name[got], got == want ? "as expected" : "UNEXPECTED");
	return got == want;
}

static bool run_case(const char *what)
{
	struct conn c = {0}, c2 = {0};
	struct dft_rdma_key wrong;
	bool ok = false;

	if (!strcmp(what, "noauth") || !strcmp(what, "unknown")) {
		if (!strcmp(what, "unknown"))
			sender ^= 0x00ff00ff00ff00ffull; /* an id with no key on the collector */
		ok = expect(what, conn_open(&c, !strcmp(what, "unknown")), O_REJECTED);
	} else if (!strcmp(what, "wrong-key") || !strcmp(what, "batch-first")) {
		uint32_t len = 0;

		if (!expect("connect", conn_open(&c, true), O_ESTABLISHED))
			goto out;
		if (!strcmp(what, "wrong-key")) {
			wrong.len = 32;
			if (getrandom(wrong.bytes, 32, 0) == 32)
				len = stage_proof(&c, &wrong);
			/* and the collector's proof of the real key does not verify under ours either */
			if (!dft_rdma_auth_verify(&wrong, DFT_RDMA_AUTH_COLLECTOR, &c.hello, &c.welcome, c.welcome.proof))
				goto out;
		} else {
			struct dft_rdma_slot_hdr sh = {.magic = htole32(DFT_RDMA_MAGIC), .len = htole32(48), .seq = htole64(1)};

			memset(c.stage, 0, 64);
			memcpy(c.stage, &sh, sizeof(sh));
			len = 64;
		}
		if (!len || write_slot0(&c, len, dft_rdma_imm(0, !strcmp(what, "wrong-key") ? 0 : 1)))
			goto out;
		ok = expect(what, await_verdict(&c, WAIT_MS), O_DISCONNECTED);
	} else if (!strcmp(what, "replay")) {
		uint8_t recorded[64];
		uint32_t len;

		if (!expect("connect", conn_open(&c, true), O_ESTABLISHED) ||
		    dft_rdma_auth_verify(&key, DFT_RDMA_AUTH_COLLECTOR, &c.hello, &c.welcome, c.welcome.proof))
			goto out;
		len = stage_proof(&c, &key);
		if (!len || write_slot0(&c, len, 0) || !expect("honest handshake", await_verdict(&c, WAIT_MS), O_ESTABLISHED))
			goto out;
		memcpy(recorded, c.stage, len);
		conn_close(&c);
		if (!expect("connect again", conn_open(&c2, true), O_ESTABLISHED))
			goto out;
		memcpy(c2.stage, recorded, len);
		if (write_slot0(&c2, len, 0))
			goto out;
		ok = expect(what, await_verdict(&c2, WAIT_MS), O_DISCONNECTED);
	} else if (!strcmp(what, "silent")) {
		if (!expect("connect", conn_open(&c, true), O_ESTABLISHED))
			goto out;
		ok = expect(what, await_verdict(&c, WAIT_MS), O_DISCONNECTED);
	} else if (!strcmp(what, "flood")) {
		static struct conn silent[FLOOD];
		int dropped = 0;
		uint32_t len;

		for (int i = 0; i < FLOOD; i++)
			if (conn_open(&silent[i], true) != O_ESTABLISHED) {
				printf("rdma_auth_peer flood: silent connection %d not established (UNEXPECTED)\n", i);
				goto flood_out;
			}
		/* every slot is held by a connection that proves nothing: an honest sender still gets in */
		if (!expect("honest connect", conn_open(&c, true), O_ESTABLISHED))
			goto flood_out;
		len = stage_proof(&c, &key);
		if (!len || write_slot0(&c, len, 0) || !expect("honest handshake", await_verdict(&c, WAIT_MS), O_ESTABLISHED))
			goto flood_out;
		for (int i = 0; i < FLOOD; i++)
			dropped += await_verdict(&silent[i], WAIT_MS) == O_DISCONNECTED;
		printf("rdma_auth_peer flood: %d of %d silent connections dropped by the collector\n", dropped, FLOOD);
		ok = dropped == FLOOD;
flood_out:
		for (int i = 0; i < FLOOD; i++)
			conn_close(&silent[i]);
	} else {
		fprintf(stderr, "rdma_auth_peer: unknown case %s\n", what);
	}
out:
	conn_close(&c);
	conn_close(&c2);
	return ok;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"collector", 1, 0, 'c'}, {"sender", 1, 0, 's'}, {"key", 1, 0, 'k'},
					     {"case", 1, 0, 'w'}, {0, 0, 0, 0}};
	struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV, .ai_socktype = SOCK_STREAM};
	const char *col = NULL, *keyf = NULL, *what = NULL;
	char host[128], err[512], *colon;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c': col = optarg; break;
		case 's': sender = strtoull(optarg, NULL, 16); break;
		case 'k': keyf = optarg; break;
		case 'w': what = optarg; break;
		default: return 2;
		}
	}
	if (!col || !what || !sender || strlen(col) >= sizeof(host) || !(colon = strrchr(strcpy(host, col), ':'))) {
		fprintf(stderr, "usage: rdma_auth_peer --collector ADDR:PORT --sender HEX [--key FILE] --case CASE\n");
		return 2;
	}
	*colon = 0;
	if (getaddrinfo(host, colon + 1, &hints, &dst))
		return 2;
	if (keyf && dft_rdma_key_load(keyf, &key, err, sizeof(err))) {
		fprintf(stderr, "rdma_auth_peer: %s\n", err);
		return 2;
	}
	if (!keyf) {
		key.len = 32;
		if (getrandom(key.bytes, 32, 0) != 32)
			return 2;
	}
	o = run_case(what) ? 0 : 1;
	freeaddrinfo(dst);
	return o;
}
