/* SPDX-License-Identifier: MIT */
/*
 * Authentication of the RDMA transport (dft/rdma.h): an HMAC-SHA256 challenge-response with a
 * per-sender key, done before the collector grants the first credit. Nothing here touches verbs,
 * so it is unit-tested and fuzzed anywhere; rdma_client.c and rdma_server.c drive it.
 *
 *   1. hello (connect private data): F_AUTH, the NIC's 16-byte random nonce.
 *   2. The collector looks the hello's sender id up in its keys: no key (or no F_AUTH) is a reject
 *      before anything is allocated. Otherwise it draws its own 16-byte nonce and accepts with a
 *      welcome carrying F_AUTH, its nonce and
 *          proof_c = HMAC(key, "difftrace rdma collector->nic" || transcript)
 *   3. The NIC verifies proof_c (constant time) before it writes anything: a collector that does
 *      not hold its key cannot fake the resume_seq (which retires backlog) nor swallow batches.
 *   4. The NIC's first write on the connection, into slot 0 with sequence 0, is
 *          struct dft_rdma_auth { magic, version, sender id,
 *              proof_n = HMAC(key, "difftrace rdma nic->collector" || transcript) }
 *   5. The collector verifies proof_n (constant time). Until then no slot is read as a batch and no
 *      credit is written; a wrong proof, a batch in its place or no proof within the deadline drops
 *      the connection (counted). The auth slot consumes slot 0, so the first credit (1) is the
 *      collector's "authenticated": it acknowledges sequence 0, which no batch has.
 * transcript: sender id, both nonces, every field of hello and welcome (credit and ring addresses
 * and rkeys, geometry, resume_seq), little-endian in a fixed order. Both nonces are fresh per
 * connection, so a proof recorded on one connection is worthless on the next (replay); the two
 * direction labels differ, so neither side's proof can be reflected back as the other's.
 */
#ifndef DFT_RDMA_AUTH_H
#define DFT_RDMA_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "dft/rdma.h"

#define DFT_RDMA_AUTH_MAGIC 0x41544644u /* "DFTA" */
#define DFT_RDMA_AUTH_VERSION 1u
#define DFT_RDMA_KEY_MIN 32u /* bytes: HMAC-SHA256 with at least a 256-bit key */
#define DFT_RDMA_KEY_MAX 64u /* the SHA-256 block: longer keys would be hashed down anyway */

struct dft_rdma_key {
	uint8_t bytes[DFT_RDMA_KEY_MAX];
	uint32_t len;
};

/*
 * The NIC's proof, the payload of slot 0, behind a slot header with magic DFT_RDMA_AUTH_MAGIC (not
 * DFT_RDMA_MAGIC: a batch slot is never read as a proof, nor a proof as a batch) and sequence 0.
 */
struct dft_rdma_auth {
	uint32_t magic;
	uint16_t version;
	uint16_t reserved;
	uint64_t sender_id;
	uint8_t proof[DFT_RDMA_PROOF_LEN];
};

_Static_assert(sizeof(struct dft_rdma_auth) == 48, "auth message");

enum dft_rdma_auth_dir {
	DFT_RDMA_AUTH_NIC,       /* proof_n: the NIC holds the key */
	DFT_RDMA_AUTH_COLLECTOR, /* proof_c: the collector holds the key */
};

/* HMAC-SHA256 over the direction's label and the transcript of h and w. 0 or -EIO (libcrypto). */
int dft_rdma_auth_proof(const struct dft_rdma_key *key, enum dft_rdma_auth_dir dir, const struct dft_rdma_hello *h,
			const struct dft_rdma_welcome *w, uint8_t out[DFT_RDMA_PROOF_LEN]);
/* Recompute and compare in constant time: 0, -EACCES (wrong proof) or -EIO. */
int dft_rdma_auth_verify(const struct dft_rdma_key *key, enum dft_rdma_auth_dir dir, const struct dft_rdma_hello *h,
			 const struct dft_rdma_welcome *w, const uint8_t proof[DFT_RDMA_PROOF_LEN]);

void dft_rdma_auth_encode(const struct dft_rdma_auth *a, uint8_t out[sizeof(struct dft_rdma_auth)]);
/* 0, -EBADMSG (length, reserved bytes) or -EPROTO (magic, version). */
int dft_rdma_auth_decode(const void *p, size_t len, struct dft_rdma_auth *out);
/*
 * The first completion of an authenticating connection: it must be slot 0, sequence 0, with exactly
 * one struct dft_rdma_auth behind the slot header (imm in host order, byte_len from the completion).
 * 0 with *out decoded, or -EPROTO.
 */
int dft_rdma_auth_slot_parse(uint32_t imm, uint32_t byte_len, const uint8_t *ring, uint32_t slot_size,
			     struct dft_rdma_auth *out);

/*
 * Key files: the key as hex digits (DFT_RDMA_KEY_MIN..MAX bytes, e.g. `openssl rand -hex 32`),
 * surrounding white space ignored. Refused, as ssh refuses a private key, when group or others may
 * read or write it or it is owned by someone other than this user or root. 0 or -errno, with a
 * message naming the file in err.
 */
int dft_rdma_key_load(const char *path, struct dft_rdma_key *out, char *err, size_t err_len);
/* Parse hex text (no file): 0 or -EINVAL. */
int dft_rdma_key_parse(const char *text, size_t len, struct dft_rdma_key *out);

/*
 * The collector's keys: a directory with one key file per sender, named by its 16 hex digit id
 * (other names are refused, so a typo does not silently lock a NIC out), or one file of lines
 * "<sender id hex> <key hex>" ('#' starts a comment). Every file checked as above; at most
 * DFT_RDMA_KEYS_MAX senders.
 */
#define DFT_RDMA_KEYS_MAX 65536u
struct dft_rdma_keyring;
int dft_rdma_keyring_load(const char *path, struct dft_rdma_keyring **out, char *err, size_t err_len);
void dft_rdma_keyring_free(struct dft_rdma_keyring *kr);
uint32_t dft_rdma_keyring_count(const struct dft_rdma_keyring *kr);
/* 0 with the sender's key, or -ENOENT. */
int dft_rdma_keyring_get(const struct dft_rdma_keyring *kr, uint64_t sender_id, struct dft_rdma_key *out);

#endif /* DFT_RDMA_AUTH_H */
