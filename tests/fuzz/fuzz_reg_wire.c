/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the registration messages a remote peer controls (dft/reg.h): the rdma_cm connect private
 * data a host sends (also the network registration's), the bye SEND, the daemon's "connect here"
 * message and DFT_NIC's value.
 */
#include <stdlib.h>
#include <string.h>

#include "dft/reg.h"

#define FUZZ_CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dft_reg_rdma_hello h;
	struct dft_reg_rdma_at at;
	char addr[DFT_REG_ADDR_MAX], s[96];
	uint16_t port;

	if (dft_reg_rdma_hello_decode(data, size, &h) == 0) {
		uint8_t again[sizeof(h)];
		struct dft_reg_rdma_hello h2;

		FUZZ_CHECK(h.instance_id != 0 && h.len != 0 && !(h.flags & ~DFT_REG_RDMA_F_KNOWN));
		dft_reg_rdma_hello_encode(&h, again); /* what decodes re-encodes to the same fields */
		FUZZ_CHECK(dft_reg_rdma_hello_decode(again, sizeof(again), &h2) == 0 && !memcmp(&h, &h2, sizeof(h)));
	}
	if (dft_reg_rdma_at_check(data, size, &at) == 0)
		FUZZ_CHECK(at.port != 0 && strnlen(at.addr, sizeof(at.addr)) < sizeof(at.addr));
	if (dft_reg_rdma_bye_check(data, size) == 0)
		FUZZ_CHECK(size == sizeof(struct dft_reg_rdma_bye));
	if (size < sizeof(s)) {
		memcpy(s, data, size);
		s[size] = 0;
		if (dft_reg_net_parse(s, addr, &port) == 0)
			FUZZ_CHECK(port != 0 && strlen(addr) > 0 && strlen(addr) < sizeof(addr));
	}
	return 0;
}
