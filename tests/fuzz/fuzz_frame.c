/* SPDX-License-Identifier: MIT */
/* Fuzz the collector-facing stream framing: arbitrary bytes, fed in arbitrary chunk sizes. */
#include <stdlib.h>
#include <string.h>

#include "dft/frame.h"

/* not FUZZ_CHECK(): release builds define NDEBUG and the fuzzer must still see the failure */
#define FUZZ_CHECK(c) do { if (!(c)) abort(); } while (0)

static int on_frame(void *arg, uint16_t type, const uint8_t *p, uint32_t len)
{
	uint64_t s, q;

	(void)arg;
	FUZZ_CHECK(type >= DFT_FRAME_BATCH && type <= DFT_FRAME_BUSY);
	FUZZ_CHECK(len <= 1u << 20);
	if (type != DFT_FRAME_BATCH)
		FUZZ_CHECK(dft_frame_ack_decode(p, len, &s, &q) == 0);
	/* touch every byte: ASan catches a payload pointer past the buffer */
	for (uint32_t i = 0; i < len; i++)
		s += p[i];
	return 0;
}

size_t dft_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
	if (i > 0 || cap < 2 * DFT_FRAME_HDR_LEN + 3 + DFT_FRAME_ACK_LEN)
		return 0;
	dft_frame_hdr_encode(buf, DFT_FRAME_BATCH, 3);
	memcpy(buf + DFT_FRAME_HDR_LEN, "abc", 3);
	dft_frame_hdr_encode(buf + DFT_FRAME_HDR_LEN + 3, DFT_FRAME_ACK, DFT_FRAME_ACK_LEN);
	dft_frame_ack_encode(buf + 2 * DFT_FRAME_HDR_LEN + 3, 7, 9);
	return 2 * DFT_FRAME_HDR_LEN + 3 + DFT_FRAME_ACK_LEN;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dft_frame_rx rx;
	size_t off = 0;
	unsigned chunk = size ? 1u + data[0] % 17u : 1u;

	if (dft_frame_rx_init(&rx, 1u << 20))
		return 0;
	while (off < size) {
		size_t n = size - off < chunk ? size - off : chunk;

		if (dft_frame_rx_feed(&rx, data + off, n, on_frame, NULL))
			break;
		off += n;
	}
	dft_frame_rx_destroy(&rx);
	return 0;
}
