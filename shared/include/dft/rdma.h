/* SPDX-License-Identifier: MIT */
/*
 * RDMA transport between difftrace-nic (client, active side) and difftrace-collector (server,
 * passive side): one-sided RDMA WRITE_WITH_IMM of encoded batches into a receive ring, with credits
 * written back into a word the client exposes.
 *
 * Protocol, step by step:
 *   1. Client resolves the collector's address and route with rdma_cm (the address picks the device,
 *      port and GID, as with rping), creates an RC QP, registers
 *        - a credit word (8 bytes, REMOTE_WRITE) the server will write its consumed count into,
 *        - a staging area of N x B bytes (local) it writes batches from,
 *      and connects with struct dft_rdma_hello as private data (sender id, credit word addr/rkey).
 *   2. Server, on the connect request, registers a receive ring of N slots x B bytes with
 *      LOCAL_WRITE | REMOTE_WRITE only, posts N zero-length receives (WRITE_WITH_IMM consumes one
 *      each) and accepts with struct dft_rdma_welcome: ring addr/rkey, N, B, and resume_seq, the
 *      highest batch sequence it already holds durably for that sender.
 *   2a. With keys (dft/rdma_auth.h): the hello carries F_AUTH and the NIC's nonce, the welcome the
 *      collector's nonce and its proof of the sender's key; the client checks that proof, then
 *      writes its own into slot 0 (sequence 0) before any batch, so batches start at k = 1. The
 *      server reads no batch and writes no credit before it verified it.
 *   3. Client drops every backlog entry <= resume_seq; then, for the k-th batch written on this
 *      connection (k from 0): copy it into staging slot k mod N behind a struct dft_rdma_slot_hdr,
 *      RDMA_WRITE_WITH_IMM it to ring slot k mod N, imm = htonl(slot | (seq & 0xffff) << 16).
 *      It writes only while k - credits < N, so it never overwrites an unconsumed slot.
 *   4. Server, on each RECV_RDMA_WITH_IMM completion: checks the immediate against the slot header
 *      (slot index in range, sequence bits equal, length within the slot and equal to the completion's
 *      byte count), hands the payload to the collector, reposts the receive. A slot that fails the
 *      checks is a protocol error: the connection is dropped (nothing accepted earlier is lost).
 *   5. Server, once the collector has committed what it was handed: RDMA WRITEs its free-running
 *      consumed count (u64 little-endian) into the client's credit word. Credits are also the
 *      acknowledgements: the batch in slot credits-1 and every one before it are durable.
 *   6. Any disconnect, rejected connect, QP error or completion error: both sides tear the
 *      connection down; the client reconnects with exponential backoff (10 ms .. 1 s) and resends
 *      every unacknowledged batch from step 3; the server drops (sender, sequence) pairs it already
 *      stored (its dedup window survives restarts in SQLite).
 * Byte order: private data and slot headers are little-endian; the immediate is big-endian as verbs
 * defines it. A batch larger than B - sizeof(struct dft_rdma_slot_hdr) is refused (-EMSGSIZE) and
 * the caller counts it.
 */
#ifndef DFT_RDMA_H
#define DFT_RDMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DFT_RDMA_MAGIC 0x41445244u /* "DRDA" */
#define DFT_RDMA_VERSION 2u /* 2: the authenticated handshake */
#define DFT_RDMA_SLOTS_MAX 4096u
#define DFT_RDMA_SLOT_SIZE_MAX (4u << 20)
#define DFT_RDMA_SLOT_SIZE_MIN 256u

#define DFT_RDMA_NONCE_LEN 16u
#define DFT_RDMA_PROOF_LEN 32u /* HMAC-SHA256 */
#define DFT_RDMA_F_AUTH 0x1u   /* hello: the NIC proves its key; welcome: the collector did (dft/rdma_auth.h) */

struct dft_rdma_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t flags;
	uint64_t sender_id;
	uint64_t credit_addr;
	uint32_t credit_rkey;
	uint32_t reserved2;
	uint8_t nonce[DFT_RDMA_NONCE_LEN]; /* F_AUTH: the NIC's challenge to the collector */
};

struct dft_rdma_welcome {
	uint32_t magic;
	uint16_t version;
	uint16_t flags;
	uint64_t ring_addr;
	uint32_t ring_rkey;
	uint32_t slots;
	uint32_t slot_size;
	uint32_t reserved2;
	uint64_t resume_seq;
	uint8_t nonce[DFT_RDMA_NONCE_LEN]; /* F_AUTH: the collector's challenge to the NIC */
	uint8_t proof[DFT_RDMA_PROOF_LEN]; /* F_AUTH: the collector's answer to the NIC's */
};

struct dft_rdma_slot_hdr {
	uint32_t magic;
	uint32_t len; /* payload bytes after this header */
	uint64_t seq;
};

_Static_assert(sizeof(struct dft_rdma_hello) == 48, "hello fits rdma_cm's 56-byte connect private data");
_Static_assert(sizeof(struct dft_rdma_welcome) == 88, "welcome fits the 196-byte accept private data");
_Static_assert(sizeof(struct dft_rdma_slot_hdr) == 16, "slot header");

/* Wire codecs (pure functions, fuzzed): 0 or -EBADMSG / -EPROTO. */
void dft_rdma_hello_encode(const struct dft_rdma_hello *h, uint8_t out[sizeof(struct dft_rdma_hello)]);
int dft_rdma_hello_decode(const void *p, size_t len, struct dft_rdma_hello *out);
void dft_rdma_welcome_encode(const struct dft_rdma_welcome *w, uint8_t out[sizeof(struct dft_rdma_welcome)]);
int dft_rdma_welcome_decode(const void *p, size_t len, struct dft_rdma_welcome *out);
uint32_t dft_rdma_imm(uint32_t slot, uint64_t seq);
/*
 * Check one received slot: imm (host order), the completion's byte count and the ring's bytes.
 * Returns 0 and the payload bounds, or -EPROTO.
 */
int dft_rdma_slot_check(uint32_t imm, uint32_t byte_len, const uint8_t *ring, uint32_t slots, uint32_t slot_size,
			uint32_t *slot_idx, uint64_t *seq, const uint8_t **payload, uint32_t *len);

/* ---------------------------------------------------------------- client (NIC side) */
struct dft_rdma_client;

struct dft_rdma_client_cfg {
	const char *host;    /* collector address (IPv4/IPv6 literal or name) */
	const char *port;    /* rdma_cm port space TCP */
	const char *bind;    /* optional local address: picks the device/port/GID to use */
	uint64_t sender_id;
	/* NULL: no handshake (the collector must run --insecure); else dft/rdma_auth.h, copied */
	const struct dft_rdma_key *key;
};

struct dft_rdma_client_stats {
	uint64_t connects;
	uint64_t disconnects;
	uint64_t writes;
	uint64_t write_errors;
	uint64_t oversize;
	uint64_t credit_stalls; /* send attempts that found no free slot */
	uint64_t auth_refused;  /* welcomes without a valid proof of our key: not a collector of ours */
};

int dft_rdma_client_create(const struct dft_rdma_client_cfg *cfg, struct dft_rdma_client **out);
void dft_rdma_client_destroy(struct dft_rdma_client *c);
/* Drive connection management and completions; never blocks. 0 or -errno for a fatal setup error. */
int dft_rdma_client_poll(struct dft_rdma_client *c);
bool dft_rdma_client_connected(const struct dft_rdma_client *c);
/* Bumped on every new connection: the caller rewinds its send cursor to the first unacked batch. */
uint64_t dft_rdma_client_epoch(const struct dft_rdma_client *c);
/* The server's resume_seq of the current connection. */
uint64_t dft_rdma_client_resume_seq(const struct dft_rdma_client *c);
/* Write one batch: 0, -EAGAIN (not connected or no credit), -EMSGSIZE (never fits a slot). */
int dft_rdma_client_send(struct dft_rdma_client *c, uint64_t seq, const void *buf, size_t len);
/* Highest sequence acknowledged through credits on this connection (0 if none). */
uint64_t dft_rdma_client_acked(struct dft_rdma_client *c);
/* Batches written and not yet credited. */
uint32_t dft_rdma_client_outstanding(const struct dft_rdma_client *c);
void dft_rdma_client_get_stats(const struct dft_rdma_client *c, struct dft_rdma_client_stats *out);

/* ---------------------------------------------------------------- server (collector side) */
struct dft_rdma_server;

/* Return 0 to accept the batch, negative to drop the connection (bad batch). */
typedef int (*dft_rdma_batch_fn)(void *arg, uint64_t sender_id, uint64_t seq, const uint8_t *payload, uint32_t len);
typedef uint64_t (*dft_rdma_resume_fn)(void *arg, uint64_t sender_id);
struct dft_rdma_key;
/* The key of sender_id: 0, or -ENOENT (no such sender: rejected before anything is allocated). */
typedef int (*dft_rdma_key_fn)(void *arg, uint64_t sender_id, struct dft_rdma_key *out);
/* Told of every refused handshake (why: a short phrase); the caller rate-limits its logging. */
typedef void (*dft_rdma_refuse_fn)(void *arg, uint64_t sender_id, const char *why);

struct dft_rdma_server_cfg {
	const char *bind; /* address to listen on (picks the device) */
	const char *port; /* "0": ephemeral, see dft_rdma_server_port() */
	uint32_t slots;   /* receive ring slots per connection (0: 256) */
	uint32_t slot_size; /* bytes per slot (0: 64 KiB) */
	uint32_t max_conns; /* 0: 16 */
	dft_rdma_resume_fn resume;
	void *resume_arg;
	/*
	 * Authentication (dft/rdma_auth.h). key NULL: none, every hello is taken at its word
	 * (--insecure). Otherwise a connection gets no credit before its proof is verified; one that
	 * has not proven itself within auth_timeout_ms (0: 10000) is dropped, and when every slot is
	 * taken the oldest unproven connection makes room for a newcomer.
	 */
	dft_rdma_key_fn key;
	dft_rdma_refuse_fn refused;
	void *auth_arg;
	uint32_t auth_timeout_ms;
};

struct dft_rdma_server_stats {
	uint64_t accepted;
	uint64_t rejected;
	uint64_t disconnects;
	uint64_t batches;
	uint64_t bad_slots;
	uint64_t auth_ok;        /* handshakes verified */
	uint64_t auth_no_key;    /* hello without F_AUTH, or a sender id with no key (also in rejected) */
	uint64_t auth_bad_proof; /* a wrong proof, or anything else where the proof belongs */
	uint64_t auth_timed_out; /* no proof within auth_timeout_ms */
	uint64_t auth_evicted;   /* unproven, dropped to make room for a newcomer */
};

int dft_rdma_server_create(const struct dft_rdma_server_cfg *cfg, struct dft_rdma_server **out);
void dft_rdma_server_destroy(struct dft_rdma_server *s);
uint16_t dft_rdma_server_port(const struct dft_rdma_server *s);
/* Connection events and completions; each received batch goes to fn. Never blocks. */
int dft_rdma_server_poll(struct dft_rdma_server *s, dft_rdma_batch_fn fn, void *arg);
/* Everything handed to fn so far is durable: return credits (= acknowledgements). */
int dft_rdma_server_commit(struct dft_rdma_server *s);
/* The fd to poll() for connection events (completions are polled, not waited for). */
int dft_rdma_server_fd(const struct dft_rdma_server *s);
void dft_rdma_server_get_stats(const struct dft_rdma_server *s, struct dft_rdma_server_stats *out);

struct sockaddr;
struct rdma_event_channel;
struct rdma_cm_id;
/*
 * Listen with rdma_cm on sa: a non-blocking event channel (*ec) and its listening id (*id, with
 * ctx as its context). 0, or -errno with neither left behind.
 */
int dft_rdma_cm_listen(const struct sockaddr *sa, int backlog, void *ctx, struct rdma_event_channel **ec,
		       struct rdma_cm_id **id);
/* The rdma_cm events (enum rdma_cm_event_type) that end an accepted connection: disconnected,
 * connect error, unreachable, rejected, device removal. */
bool dft_rdma_cm_gone(int type);

#endif /* DFT_RDMA_H */
