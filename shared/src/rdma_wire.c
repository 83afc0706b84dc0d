/* SPDX-License-Identifier: MIT */
/* Wire codecs of the RDMA transport: no verbs here, so they are unit-tested and fuzzed anywhere. */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "dft/rdma.h"

void dft_rdma_hello_encode(const struct dft_rdma_hello *h, uint8_t out[sizeof(struct dft_rdma_hello)])
{
	struct dft_rdma_hello w = {
		.magic = htole32(DFT_RDMA_MAGIC),
		.version = htole16(DFT_RDMA_VERSION),
		.flags = htole16(h->flags),
		.sender_id = htole64(h->sender_id),
		.credit_addr = htole64(h->credit_addr),
		.credit_rkey = htole32(h->credit_rkey),
	};

	memcpy(w.nonce, h->nonce, sizeof(w.nonce));
	memcpy(out, &w, sizeof(w));
}

int dft_rdma_hello_decode(const void *p, size_t len, struct dft_rdma_hello *out)
{
	struct dft_rdma_hello w;

	/* rdma_cm may pad private data up to its transport's size: accept longer, never shorter */
	if (!p || len < sizeof(w))
		return -EBADMSG;
	memcpy(&w, p, sizeof(w));
	if (le32toh(w.magic) != DFT_RDMA_MAGIC || le16toh(w.version) != DFT_RDMA_VERSION)
		return -EPROTO;
	if ((le16toh(w.flags) & ~DFT_RDMA_F_AUTH) || w.reserved2)
		return -EBADMSG;
	out->magic = DFT_RDMA_MAGIC;
	out->version = DFT_RDMA_VERSION;
	out->flags = le16toh(w.flags);
	out->reserved2 = 0;
	memcpy(out->nonce, w.nonce, sizeof(out->nonce));
	out->sender_id = le64toh(w.sender_id);
	out->credit_addr = le64toh(w.credit_addr);
	out->credit_rkey = le32toh(w.credit_rkey);
	return 0;
}

void dft_rdma_welcome_encode(const struct dft_rdma_welcome *w, uint8_t out[sizeof(struct dft_rdma_welcome)])
{
	struct dft_rdma_welcome x = {
		.magic = htole32(DFT_RDMA_MAGIC),
		.version = htole16(DFT_RDMA_VERSION),
		.ring_addr = htole64(w->ring_addr),
		.ring_rkey = htole32(w->ring_rkey),
		.slots = htole32(w->slots),
		.slot_size = htole32(w->slot_size),
		.resume_seq = htole64(w->resume_seq),
		.flags = htole16(w->flags),
	};

	memcpy(x.nonce, w->nonce, sizeof(x.nonce));
	memcpy(x.proof, w->proof, sizeof(x.proof));
	memcpy(out, &x, sizeof(x));
}

int dft_rdma_welcome_decode(const void *p, size_t len, struct dft_rdma_welcome *out)
{
	struct dft_rdma_welcome x;
	uint32_t slots, size;

	if (!p || len < sizeof(x))
		return -EBADMSG;
	memcpy(&x, p, sizeof(x));
	if (le32toh(x.magic) != DFT_RDMA_MAGIC || le16toh(x.version) != DFT_RDMA_VERSION)
		return -EPROTO;
	slots = le32toh(x.slots);
	size = le32toh(x.slot_size);
	if ((le16toh(x.flags) & ~DFT_RDMA_F_AUTH) || x.reserved2 || slots == 0 || slots > DFT_RDMA_SLOTS_MAX ||
	    size < DFT_RDMA_SLOT_SIZE_MIN || size > DFT_RDMA_SLOT_SIZE_MAX || size % 8)
		return -EBADMSG;
	memset(out, 0, sizeof(*out));
	out->magic = DFT_RDMA_MAGIC;
	out->version = DFT_RDMA_VERSION;
	out->ring_addr = le64toh(x.ring_addr);
	out->ring_rkey = le32toh(x.ring_rkey);
	out->slots = slots;
	out->slot_size = size;
	out->resume_seq = le64toh(x.resume_seq);
	out->flags = le16toh(x.flags);
	memcpy(out->nonce, x.nonce, sizeof(out->nonce));
	memcpy(out->proof, x.proof, sizeof(out->proof));
	return 0;
}

uint32_t dft_rdma_imm(uint32_t slot, uint64_t seq)
{
	return (slot & 0xffffu) | (uint32_t)(seq & 0xffffu) << 16;
}

int dft_rdma_slot_check(uint32_t imm, uint32_t byte_len, const uint8_t *ring, uint32_t slots, uint32_t slot_size,
			uint32_t *slot_idx, uint64_t *seq, const uint8_t **payload, uint32_t *len)
{
	struct dft_rdma_slot_hdr h;
	uint32_t idx = imm & 0xffffu;

	if (idx >= slots || byte_len < sizeof(h) || byte_len > slot_size)
		return -EPROTO;
	const uint8_t *slot = ring + (size_t)idx * slot_size;

	memcpy(&h, slot, sizeof(h));
	h.magic = le32toh(h.magic);
	h.len = le32toh(h.len);
	h.seq = le64toh(h.seq);
	if (h.magic != DFT_RDMA_MAGIC || h.len != byte_len - sizeof(h) || (h.seq & 0xffffu) != imm >> 16 || h.seq == 0)
		return -EPROTO;
	*slot_idx = idx;
	*seq = h.seq;
	*payload = slot + sizeof(h);
	*len = h.len;
	return 0;
}
