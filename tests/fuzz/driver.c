/* SPDX-License-Identifier: MIT */
/*
 * Stand-in for libFuzzer's main when the build is not clang -fsanitize=fuzzer: feeds the target
 * deterministic pseudo-random inputs (and mutations of the previous input, so structured prefixes
 * survive) for a fixed number of iterations. The real coverage-guided run is the fuzz CI leg.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* optional seed inputs a target can provide (valid messages the mutations start from) */
size_t dft_fuzz_seed(unsigned i, uint8_t *buf, size_t cap) __attribute__((weak));

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	unsigned long iters = argc > 1 ? strtoul(argv[1], NULL, 0) : 200000;
	static uint8_t buf[1 << 16];
	size_t len = 0;

	for (unsigned i = 0; dft_fuzz_seed && i < 64; i++) {
		size_t n = dft_fuzz_seed(i, buf, sizeof(buf));

		if (!n)
			break;
		LLVMFuzzerTestOneInput(buf, n);
		len = n;
	}
	for (unsigned long it = 0; it < iters; it++) {
		switch (next() % 4) {
		case 0: /* fresh random input */
			len = next() % 4096;
			for (size_t j = 0; j < len; j++)
				buf[j] = (uint8_t)next();
			break;
		case 1: /* a seed, then flip a few bytes */
			if (dft_fuzz_seed) {
				size_t n = dft_fuzz_seed((unsigned)(next() % 8), buf, sizeof(buf));

				if (n)
					len = n;
			}
			/* fallthrough */
		default: /* mutate the last input */
			for (int k = 0; len && k < 1 + (int)(next() % 4); k++)
				buf[next() % len] = (uint8_t)next();
			if (next() % 8 == 0 && len)
				len = next() % (len + 1);
			break;
		}
		LLVMFuzzerTestOneInput(buf, len);
	}
	printf("%lu inputs, no crash\n", iters);
	return 0;
}
