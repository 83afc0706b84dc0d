/* SPDX-License-Identifier: MIT */
/*
 * RDMA transport, server (difftrace-collector) side. The protocol is written out in dft/rdma.h.
 * One receive ring per connection, registered for remote write only; completions are polled from
 * the collector's loop, credits go back by RDMA WRITE once the collector says the batches it was
 * handed are durable.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <rdma/rdma_cma.h>

#include "dft/clock.h"
#include "dft/rdma.h"
#include "dft/rdma_auth.h"

enum sconn_state {
	SC_FREE,
	SC_ACCEPTING,
	SC_ESTABLISHED,
};

struct sconn {
	enum sconn_state state;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	uint8_t *ring;
	size_t ring_len;
	struct ibv_mr *ring_mr;
	uint64_t *credit_src;
	struct ibv_mr *credit_mr;
	uint64_t sender_id;
	uint64_t peer_credit_addr;
	uint32_t peer_credit_rkey;
	uint64_t delivered; /* batches handed to the collector */
	uint64_t credited;  /* consumed count last written to the peer */
	uint32_t credit_writes_in_flight;
	int failed;
	/* authentication (dft/rdma_auth.h): nothing is read as a batch and no credit leaves before */
	bool authed;
	uint64_t opened_ns; /* the proof is due auth_timeout_ms after this */
	struct dft_rdma_hello hello;
	struct dft_rdma_welcome welcome;
	struct dft_rdma_key key;
};

struct dft_rdma_server {
	struct dft_rdma_server_cfg cfg;
	struct rdma_event_channel *ec;
	struct rdma_cm_id *listen_id;
	struct sconn *conns;
	struct dft_rdma_server_stats st;
};

#define CREDIT_WR_MAX 16u

static void sconn_teardown(struct sconn *sc)
{
	if (sc->id && sc->id->qp)
		rdma_destroy_qp(sc->id);
	if (sc->credit_mr)
		ibv_dereg_mr(sc->credit_mr);
	if (sc->ring_mr)
		ibv_dereg_mr(sc->ring_mr);
	if (sc->cq)
		ibv_destroy_cq(sc->cq);
	if (sc->pd)
		ibv_dealloc_pd(sc->pd);
	if (sc->id)
		rdma_destroy_id(sc->id);
	free(sc->credit_src);
	free(sc->ring);
	OPENSSL_cleanse(sc, sizeof(*sc)); /* the key too */
}

static struct sconn *sconn_of(struct dft_rdma_server *s, struct rdma_cm_id *id)
{
	for (uint32_t i = 0; i < s->cfg.max_conns; i++)
		if (s->conns[i].state != SC_FREE && s->conns[i].id == id)
			return &s->conns[i];
	return NULL;
}

static int post_recvs(struct sconn *sc, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		struct ibv_recv_wr wr = {.wr_id = 0}, *bad;

		/* zero-SGE receive: a WRITE_WITH_IMM consumes it and only reports the immediate */
		if (ibv_post_recv(sc->id->qp, &wr, &bad))
			return -errno;
	}
	return 0;
}

static void sconn_fail(struct dft_rdma_server *s, struct sconn *sc);

static void refuse(struct dft_rdma_server *s, uint64_t sender_id, const char *why)
{
	if (s->cfg.refused)
		s->cfg.refused(s->cfg.auth_arg, sender_id, why);
}

/*
 * A free connection slot; with authentication, when none is free, the oldest connection that has
 * not proven its key yet is dropped for the newcomer, so unproven peers cannot hold every slot.
 */
static struct sconn *free_slot(struct dft_rdma_server *s)
{
	struct sconn *victim = NULL;

	for (uint32_t i = 0; i < s->cfg.max_conns; i++) {
		struct sconn *sc = &s->conns[i];

		if (sc->state == SC_FREE)
			return sc;
		if (s->cfg.key && !sc->authed && (!victim || sc->opened_ns < victim->opened_ns))
			victim = sc;
	}
	if (!victim)
		return NULL;
	s->st.auth_evicted++;
	refuse(s, victim->sender_id, "no proof yet, dropped to make room");
	sconn_fail(s, victim);
	return victim;
}

/* The first completion of an authenticating connection must be its proof (dft/rdma_auth.h). */
static int check_proof(struct dft_rdma_server *s, struct sconn *sc, const struct ibv_wc *wc)
{
	struct dft_rdma_auth a;

	if (wc->opcode != IBV_WC_RECV_RDMA_WITH_IMM || !(wc->wc_flags & IBV_WC_WITH_IMM) ||
	    dft_rdma_auth_slot_parse(ntohl(wc->imm_data), wc->byte_len, sc->ring, s->cfg.slot_size, &a) ||
	    a.sender_id != sc->sender_id) {
		s->st.auth_bad_proof++;
		refuse(s, sc->sender_id, "no proof where the proof belongs");
		return -EACCES;
	}
	if (dft_rdma_auth_verify(&sc->key, DFT_RDMA_AUTH_NIC, &sc->hello, &sc->welcome, a.proof)) {
		s->st.auth_bad_proof++;
		refuse(s, sc->sender_id, "wrong proof (another key, or replayed)");
		return -EACCES;
	}
	OPENSSL_cleanse(&sc->key, sizeof(sc->key)); /* proven: the key is not needed any more */
	sc->authed = true;
	sc->delivered = 1; /* slot 0 held the proof: the first credit says "authenticated" */
	s->st.auth_ok++;
	return 0;
}

static void on_connect_request(struct dft_rdma_server *s, struct rdma_cm_id *id, const void *pd, uint8_t pd_len)
{
	struct dft_rdma_hello h;
	struct dft_rdma_welcome w;
	struct ibv_qp_init_attr qa;
	struct rdma_conn_param cp;
	uint8_t wb[sizeof(struct dft_rdma_welcome)];
	struct sconn *sc = NULL;

	struct dft_rdma_key key;

	if (dft_rdma_hello_decode(pd, pd_len, &h))
		goto reject;
	/* an unproven sender id touches nothing: no key, no slot, no sender-table lookup */
	if (s->cfg.key && (!(h.flags & DFT_RDMA_F_AUTH) || s->cfg.key(s->cfg.auth_arg, h.sender_id, &key))) {
		s->st.auth_no_key++;
		refuse(s, h.sender_id, h.flags & DFT_RDMA_F_AUTH ? "no key for this sender id" : "hello without a proof");
		goto reject;
	}
	sc = free_slot(s);
	if (!sc)
		goto reject;
	sc->id = id;
	sc->state = SC_ACCEPTING;
	sc->opened_ns = dft_clock_ns(CLOCK_MONOTONIC);
	sc->sender_id = h.sender_id;
	sc->peer_credit_addr = h.credit_addr;
	sc->peer_credit_rkey = h.credit_rkey;
	sc->pd = ibv_alloc_pd(id->verbs);
	if (!sc->pd)
		goto fail;
	sc->cq = ibv_create_cq(id->verbs, (int)(s->cfg.slots + CREDIT_WR_MAX + 4), NULL, NULL, 0);
	if (!sc->cq)
		goto fail;
	memset(&qa, 0, sizeof(qa));
	qa.send_cq = qa.recv_cq = sc->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = CREDIT_WR_MAX;
	qa.cap.max_recv_wr = s->cfg.slots;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	qa.sq_sig_all = 1;
	if (rdma_create_qp(id, sc->pd, &qa))
		goto fail;
	sc->ring_len = (size_t)s->cfg.slots * s->cfg.slot_size;
	sc->ring = aligned_alloc(4096, (sc->ring_len + 4095) & ~(size_t)4095);
	sc->credit_src = aligned_alloc(64, 64);
	if (!sc->ring || !sc->credit_src)
		goto fail;
	memset(sc->ring, 0, sc->ring_len);
	/* remote write only: the client can neither read nor atomically touch the collector's memory */
	sc->ring_mr = ibv_reg_mr(sc->pd, sc->ring, sc->ring_len, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	sc->credit_mr = ibv_reg_mr(sc->pd, sc->credit_src, 64, IBV_ACCESS_LOCAL_WRITE);
	if (!sc->ring_mr || !sc->credit_mr)
		goto fail;
	if (post_recvs(sc, s->cfg.slots))
		goto fail;
	memset(&w, 0, sizeof(w));
	w.ring_addr = (uint64_t)(uintptr_t)sc->ring;
	w.ring_rkey = sc->ring_mr->rkey;
	w.slots = s->cfg.slots;
	w.slot_size = s->cfg.slot_size;
	w.resume_seq = s->cfg.resume ? s->cfg.resume(s->cfg.resume_arg, h.sender_id) : 0;
	if (s->cfg.key) {
		w.flags = DFT_RDMA_F_AUTH;
		if (RAND_bytes(w.nonce, sizeof(w.nonce)) != 1 ||
		    dft_rdma_auth_proof(&key, DFT_RDMA_AUTH_COLLECTOR, &h, &w, w.proof))
			goto fail;
		sc->key = key;
	}
	sc->hello = h;
	sc->welcome = w;
	dft_rdma_welcome_encode(&w, wb);
	memset(&cp, 0, sizeof(cp));
	cp.private_data = wb;
	cp.private_data_len = sizeof(wb);
	cp.responder_resources = 1;
	cp.initiator_depth = 1;
	cp.rnr_retry_count = 7;
	if (rdma_accept(id, &cp))
		goto fail;
	s->st.accepted++;
	OPENSSL_cleanse(&key, sizeof(key));
	return;
fail:
	sc->id = NULL; /* rejected below; the id is destroyed by rdma_reject's caller path */
	if (id->qp)
		rdma_destroy_qp(id);
	sconn_teardown(sc);
reject:
	OPENSSL_cleanse(&key, sizeof(key));
	s->st.rejected++;
	rdma_reject(id, NULL, 0);
	rdma_destroy_id(id);
}

static void handle_cm_events(struct dft_rdma_server *s)
{
	struct rdma_cm_event *ev;

	while (rdma_get_cm_event(s->ec, &ev) == 0) {
		enum rdma_cm_event_type type = ev->event;
		struct rdma_cm_id *id = ev->id;
		uint8_t pd[64];
		uint8_t pd_len = 0;
		struct sconn *sc;

		if (type == RDMA_CM_EVENT_CONNECT_REQUEST && ev->param.conn.private_data) {
			pd_len = ev->param.conn.private_data_len < sizeof(pd) ? ev->param.conn.private_data_len : sizeof(pd);
			memcpy(pd, ev->param.conn.private_data, pd_len);
		}
		rdma_ack_cm_event(ev);
		switch (type) {
		case RDMA_CM_EVENT_CONNECT_REQUEST:
			on_connect_request(s, id, pd, pd_len);
			break;
		case RDMA_CM_EVENT_ESTABLISHED:
			sc = sconn_of(s, id);
			if (sc) {
				sc->state = SC_ESTABLISHED;
				sc->authed = !s->cfg.key; /* --insecure: the hello is taken at its word */
			}
			break;
		default:
			sc = dft_rdma_cm_gone(type) ? sconn_of(s, id) : NULL;
			if (sc) {
				s->st.disconnects++;
				sconn_teardown(sc);
			}
			break;
		}
	}
}

int dft_rdma_server_create(const struct dft_rdma_server_cfg *cfg, struct dft_rdma_server **out)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *ai = NULL;
	struct dft_rdma_server *s;
	int rc = -ENOMEM;

	if (!cfg || !out || !cfg->port)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	if (!s->cfg.slots)
		s->cfg.slots = 256;
	if (!s->cfg.slot_size)
		s->cfg.slot_size = 64 * 1024;
	if (!s->cfg.max_conns)
		s->cfg.max_conns = 16;
	if (!s->cfg.auth_timeout_ms)
		s->cfg.auth_timeout_ms = 10000;
	if (s->cfg.slots > DFT_RDMA_SLOTS_MAX || s->cfg.slot_size < DFT_RDMA_SLOT_SIZE_MIN ||
	    s->cfg.slot_size > DFT_RDMA_SLOT_SIZE_MAX || s->cfg.slot_size % 8 || s->cfg.max_conns > 1024) {
		rc = -EINVAL;
		goto err_free;
	}
	s->conns = calloc(s->cfg.max_conns, sizeof(*s->conns));
	if (!s->conns)
		goto err_free;
	if (getaddrinfo(cfg->bind, cfg->port, &hints, &ai)) {
		rc = -EADDRNOTAVAIL;
		goto err_conns;
	}
	rc = dft_rdma_cm_listen(ai->ai_addr, 16, s, &s->ec, &s->listen_id);
	freeaddrinfo(ai);
	if (rc)
		goto err_conns;
	*out = s;
	return 0;
err_conns:
	free(s->conns);
err_free:
	free(s);
	return rc;
}

void dft_rdma_server_destroy(struct dft_rdma_server *s)
{
	if (!s)
		return;
	for (uint32_t i = 0; i < s->cfg.max_conns; i++) {
		if (s->conns[i].state == SC_FREE)
			continue;
		rdma_disconnect(s->conns[i].id);
		sconn_teardown(&s->conns[i]);
	}
	rdma_destroy_id(s->listen_id);
	rdma_destroy_event_channel(s->ec);
	free(s->conns);
	free(s);
}

uint16_t dft_rdma_server_port(const struct dft_rdma_server *s)
{
	return ntohs(rdma_get_src_port(s->listen_id));
}

int dft_rdma_server_fd(const struct dft_rdma_server *s)
{
	return s->ec->fd;
}

static void sconn_fail(struct dft_rdma_server *s, struct sconn *sc)
{
	s->st.disconnects++;
	rdma_disconnect(sc->id);
	sconn_teardown(sc);
}

static void poll_conn(struct dft_rdma_server *s, struct sconn *sc, dft_rdma_batch_fn fn, void *arg)
{
	struct ibv_wc wc[32];
	int n;

	while ((n = ibv_poll_cq(sc->cq, 32, wc)) > 0) {
		for (int i = 0; i < n; i++) {
			const uint8_t *payload;
			uint32_t slot, len;
			uint64_t seq;

			if (wc[i].status != IBV_WC_SUCCESS) {
				sconn_fail(s, sc);
				return;
			}
			if (wc[i].opcode == IBV_WC_RDMA_WRITE) {
				sc->credit_writes_in_flight--;
				continue;
			}
			if (!sc->authed) {
				if (check_proof(s, sc, &wc[i]) || post_recvs(sc, 1)) {
					sconn_fail(s, sc);
					return;
				}
				continue;
			}
			if (wc[i].opcode != IBV_WC_RECV_RDMA_WITH_IMM || !(wc[i].wc_flags & IBV_WC_WITH_IMM) ||
			    dft_rdma_slot_check(ntohl(wc[i].imm_data), wc[i].byte_len, sc->ring, s->cfg.slots,
						s->cfg.slot_size, &slot, &seq, &payload, &len) ||
			    slot != sc->delivered % s->cfg.slots) {
				s->st.bad_slots++;
				sconn_fail(s, sc);
				return;
			}
			if (fn(arg, sc->sender_id, seq, payload, len) < 0) {
				s->st.bad_slots++;
				sconn_fail(s, sc);
				return;
			}
			sc->delivered++;
			s->st.batches++;
			if (post_recvs(sc, 1)) {
				sconn_fail(s, sc);
				return;
			}
		}
	}
	if (n < 0)
		sconn_fail(s, sc);
}

int dft_rdma_server_poll(struct dft_rdma_server *s, dft_rdma_batch_fn fn, void *arg)
{
	uint64_t now;

	handle_cm_events(s);
	now = dft_clock_ns(CLOCK_MONOTONIC); /* after the events: a connection opened there is not overdue */
	for (uint32_t i = 0; i < s->cfg.max_conns; i++) {
		struct sconn *sc = &s->conns[i];

		if (sc->state == SC_ESTABLISHED)
			poll_conn(s, sc, fn, arg);
		/* a slot held without a proof is a slot a real sender cannot have: bounded in time */
		if (sc->state != SC_FREE && !sc->authed && now > sc->opened_ns + s->cfg.auth_timeout_ms * 1000000ull) {
			s->st.auth_timed_out++;
			refuse(s, sc->sender_id, "no proof within the deadline");
			sconn_fail(s, sc);
		}
	}
	return 0;
}

int dft_rdma_server_commit(struct dft_rdma_server *s)
{
	for (uint32_t i = 0; i < s->cfg.max_conns; i++) {
		struct sconn *sc = &s->conns[i];
		struct ibv_send_wr wr, *bad;
		struct ibv_sge sge;

		if (sc->state != SC_ESTABLISHED || !sc->authed || sc->delivered == sc->credited ||
		    sc->credit_writes_in_flight >= CREDIT_WR_MAX)
			continue;
		/* one buffer is enough: counts only grow, so a write that picks up a newer value is fine */
		*sc->credit_src = htole64(sc->delivered);
		sge.addr = (uint64_t)(uintptr_t)sc->credit_src;
		sge.length = sizeof(uint64_t);
		sge.lkey = sc->credit_mr->lkey;
		memset(&wr, 0, sizeof(wr));
		wr.sg_list = &sge;
		wr.num_sge = 1;
		wr.opcode = IBV_WR_RDMA_WRITE;
		wr.send_flags = IBV_SEND_SIGNALED;
		wr.wr.rdma.remote_addr = sc->peer_credit_addr;
		wr.wr.rdma.rkey = sc->peer_credit_rkey;
		if (ibv_post_send(sc->id->qp, &wr, &bad)) {
			sconn_fail(s, sc);
			continue;
		}
		sc->credit_writes_in_flight++;
		sc->credited = sc->delivered;
	}
	return 0;
}

void dft_rdma_server_get_stats(const struct dft_rdma_server *s, struct dft_rdma_server_stats *out)
{
	*out = s->st;
}
