/* SPDX-License-Identifier: MIT */
/* The RDMA transport's challenge-response (dft/rdma_auth.h): proofs and the auth message codec. */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "dft/rdma_auth.h"

/*
 * Fixed-width labels: the MAC input has one layout whatever the direction, and no label is a prefix
 * of the other, so a proof for one direction is never a proof for the other.
 */
static const char label_nic[32] = "difftrace rdma nic->collector";
static const char label_col[32] = "difftrace rdma collector->nic";

struct transcript {
	char label[32];
	uint64_t sender_id;
	uint8_t nonce_nic[DFT_RDMA_NONCE_LEN];
	uint8_t nonce_col[DFT_RDMA_NONCE_LEN];
	uint64_t credit_addr;
	uint32_t credit_rkey;
	uint32_t ring_rkey;
	uint64_t ring_addr;
	uint32_t slots;
	uint32_t slot_size;
	uint64_t resume_seq;
	uint16_t hello_flags;
	uint16_t welcome_flags;
	uint32_t version;
};

_Static_assert(sizeof(struct transcript) == 120, "no padding: every byte of the MAC input is defined");

int dft_rdma_auth_proof(const struct dft_rdma_key *key, enum dft_rdma_auth_dir dir, const struct dft_rdma_hello *h,
			const struct dft_rdma_welcome *w, uint8_t out[DFT_RDMA_PROOF_LEN])
{
	struct transcript t;
	unsigned int len = 0;

	if (!key || key->len < DFT_RDMA_KEY_MIN || key->len > DFT_RDMA_KEY_MAX)
		return -EINVAL;
	memset(&t, 0, sizeof(t));
	memcpy(t.label, dir == DFT_RDMA_AUTH_NIC ? label_nic : label_col, sizeof(t.label));
	t.sender_id = htole64(h->sender_id);
	memcpy(t.nonce_nic, h->nonce, sizeof(t.nonce_nic));
	memcpy(t.nonce_col, w->nonce, sizeof(t.nonce_col));
	t.credit_addr = htole64(h->credit_addr);
	t.credit_rkey = htole32(h->credit_rkey);
	t.ring_rkey = htole32(w->ring_rkey);
	t.ring_addr = htole64(w->ring_addr);
	t.slots = htole32(w->slots);
	t.slot_size = htole32(w->slot_size);
	t.resume_seq = htole64(w->resume_seq);
	t.hello_flags = htole16(h->flags);
	t.welcome_flags = htole16(w->flags);
	t.version = htole32(DFT_RDMA_VERSION);
	if (!HMAC(EVP_sha256(), key->bytes, (int)key->len, (const unsigned char *)&t, sizeof(t), out, &len) ||
	    len != DFT_RDMA_PROOF_LEN)
		return -EIO;
	return 0;
}

int dft_rdma_auth_verify(const struct dft_rdma_key *key, enum dft_rdma_auth_dir dir, const struct dft_rdma_hello *h,
			 const struct dft_rdma_welcome *w, const uint8_t proof[DFT_RDMA_PROOF_LEN])
{
	uint8_t want[DFT_RDMA_PROOF_LEN];
	int rc = dft_rdma_auth_proof(key, dir, h, w, want);

	if (rc)
		return rc;
	/* constant time: how many leading bytes matched must not show in the timing */
	rc = CRYPTO_memcmp(want, proof, sizeof(want)) ? -EACCES : 0;
	OPENSSL_cleanse(want, sizeof(want));
	return rc;
}

void dft_rdma_auth_encode(const struct dft_rdma_auth *a, uint8_t out[sizeof(struct dft_rdma_auth)])
{
	struct dft_rdma_auth x = {
		.magic = htole32(DFT_RDMA_AUTH_MAGIC),
		.version = htole16(DFT_RDMA_AUTH_VERSION),
		.sender_id = htole64(a->sender_id),
	};

	memcpy(x.proof, a->proof, sizeof(x.proof));
	memcpy(out, &x, sizeof(x));
}

int dft_rdma_auth_decode(const void *p, size_t len, struct dft_rdma_auth *out)
{
	struct dft_rdma_auth x;

	if (!p || len != sizeof(x))
		return -EBADMSG;
	memcpy(&x, p, sizeof(x));
	if (le32toh(x.magic) != DFT_RDMA_AUTH_MAGIC || le16toh(x.version) != DFT_RDMA_AUTH_VERSION)
		return -EPROTO;
	if (x.reserved)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->magic = DFT_RDMA_AUTH_MAGIC;
	out->version = DFT_RDMA_AUTH_VERSION;
	out->sender_id = le64toh(x.sender_id);
	memcpy(out->proof, x.proof, sizeof(out->proof));
	return 0;
}

int dft_rdma_auth_slot_parse(uint32_t imm, uint32_t byte_len, const uint8_t *ring, uint32_t slot_size,
			     struct dft_rdma_auth *out)
{
	struct dft_rdma_slot_hdr h;

	/* slot 0, sequence 0, exactly one message: anything else in its place is not a proof */
	if (imm != 0 || byte_len != sizeof(h) + sizeof(struct dft_rdma_auth) || byte_len > slot_size)
		return -EPROTO;
	memcpy(&h, ring, sizeof(h));
	if (le32toh(h.magic) != DFT_RDMA_AUTH_MAGIC || le32toh(h.len) != sizeof(struct dft_rdma_auth) || h.seq != 0)
		return -EPROTO;
	return dft_rdma_auth_decode(ring + sizeof(h), sizeof(struct dft_rdma_auth), out) ? -EPROTO : 0;
}
