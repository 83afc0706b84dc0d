/* SPDX-License-Identifier: MIT */
/* Fuzz the hop header and tracestate parsers: untrusted request-header bytes. */
#include <stdlib.h>
#include <string.h>

#include "dft/hops.h"

#define FUZZ_CHECK(c) do { if (!(c)) abort(); } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dft_hop_rec h[DFT_HOPS_MAX], h2[DFT_HOPS_MAX];
	char val[DFT_HOPS_VALUE_MAX + 1], out[DFT_TRACESTATE_MAX + 1];
	const char *v;
	size_t vlen;
	unsigned cut, left;
	int n;

	if (dft_tracestate_get((const char *)data, size, DFT_HOPS_KEY, &v, &vlen) == 0) {
		FUZZ_CHECK(v >= (const char *)data && v + vlen <= (const char *)data + size);
		(void)dft_hops_decode(v, vlen, h, DFT_HOPS_MAX, &cut);
	}
	(void)dft_tracestate_put((const char *)data, size, DFT_HOPS_KEY, "AQ", 2, out, sizeof(out));
	n = dft_hops_decode((const char *)data, size, h, DFT_HOPS_MAX, &cut);
	if (n > 0) {
		/* whatever decodes must re-encode and decode to the same hops */
		int m = dft_hops_encode(h, (unsigned)n, val, sizeof(val), &left);

		FUZZ_CHECK(m > 0);
		m = dft_hops_decode(val, (size_t)m, h2, DFT_HOPS_MAX, &cut);
		FUZZ_CHECK(m == n - (int)left);
		for (int i = 0; i < m; i++)
			FUZZ_CHECK(h2[i].span_id == h[left + (unsigned)i].span_id &&
				   h2[i].start_ns == h[left + (unsigned)i].start_ns);
	}
	return 0;
}
