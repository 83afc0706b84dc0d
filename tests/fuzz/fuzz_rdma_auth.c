/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the RDMA handshake's messages: the auth slot an unproven peer writes into the collector's
 * ring, and a welcome whose proof the NIC checks. Bytes a remote peer controls, before any trust.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dft/rdma_auth.h"

#define FUZZ_CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct dft_rdma_key key = {.len = 32, .bytes = {1, 2, 3, 4, 5, 6, 7, 8}};
	static uint8_t ring[256];
	struct dft_rdma_hello h = {.flags = DFT_RDMA_F_AUTH, .sender_id = 1};
	struct dft_rdma_welcome w = {.slots = 1};
	struct dft_rdma_auth a;
	uint32_t imm, byte_len;

	if (dft_rdma_auth_decode(data, size, &a) == 0)
		FUZZ_CHECK(size == sizeof(struct dft_rdma_auth) && a.magic == DFT_RDMA_AUTH_MAGIC);
	/* a forged welcome must not verify (the fuzzer cannot guess an HMAC) */
	if (dft_rdma_welcome_decode(data, size, &w) == 0)
		FUZZ_CHECK(dft_rdma_auth_verify(&key, DFT_RDMA_AUTH_COLLECTOR, &h, &w, w.proof) == -EACCES);
	if (size < 8)
		return 0;
	memcpy(&imm, data, 4);
	memcpy(&byte_len, data + 4, 4);
	memset(ring, 0, sizeof(ring));
	memcpy(ring, data + 8, size - 8 < sizeof(ring) ? size - 8 : sizeof(ring));
	if (dft_rdma_auth_slot_parse(imm, byte_len, ring, sizeof(ring), &a) == 0) {
		FUZZ_CHECK(imm == 0 && byte_len == 16 + sizeof(struct dft_rdma_auth));
		FUZZ_CHECK(dft_rdma_auth_verify(&key, DFT_RDMA_AUTH_NIC, &h, &w, a.proof) == -EACCES);
	}
	return 0;
}
