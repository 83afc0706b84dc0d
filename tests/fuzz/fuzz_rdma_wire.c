/* SPDX-License-Identifier: MIT */
/* Fuzz the RDMA connection private data and receive-slot checks: bytes a remote peer controls. */
#include <stdlib.h>
#include <string.h>

#include "dft/rdma.h"

#define FUZZ_CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dft_rdma_hello h;
	struct dft_rdma_welcome w;
	const uint8_t *p;
	uint32_t idx, len, imm, byte_len, slots = 4, slot_size = 256;
	uint64_t seq;
	static uint8_t ring[4 * 256];

	if (dft_rdma_welcome_decode(data, size, &w) == 0)
		FUZZ_CHECK(w.slots >= 1 && w.slots <= DFT_RDMA_SLOTS_MAX && w.slot_size >= DFT_RDMA_SLOT_SIZE_MIN);
	(void)dft_rdma_hello_decode(data, size, &h);
	if (size < 8)
		return 0;
	memcpy(&imm, data, 4);
	memcpy(&byte_len, data + 4, 4);
	memset(ring, 0, sizeof(ring));
	memcpy(ring, data + 8, size - 8 < sizeof(ring) ? size - 8 : sizeof(ring));
	if (dft_rdma_slot_check(imm, byte_len, ring, slots, slot_size, &idx, &seq, &p, &len) == 0) {
		FUZZ_CHECK(idx < slots);
		FUZZ_CHECK(p >= ring + (size_t)idx * slot_size && p + len <= ring + (size_t)(idx + 1) * slot_size);
	}
	return 0;
}
