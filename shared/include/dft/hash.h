/* SPDX-License-Identifier: MIT */
/*
 * FNV-1a, the one string hash of difftrace: name tables (host, NIC, batch string tables, replay),
 * and the hop name hash on the wire (dft_hops_name_hash, which folds the 64-bit form). Names are
 * short and an index only needs a fair spread; where a peer picks the strings, the tables that use
 * it bound their probes or their size, not the hash. Integer keys (ids) go through dft_mix64.
 */
#ifndef DFT_HASH_H
#define DFT_HASH_H

#include <stddef.h>
#include <stdint.h>

#define DFT_FNV32_INIT 2166136261u
#define DFT_FNV64_INIT 0xcbf29ce484222325ull

/* Continue a 32-bit FNV-1a over n bytes from h (DFT_FNV32_INIT to start). */
static inline uint32_t dft_fnv32(const void *p, size_t n, uint32_t h)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

/* 32-bit FNV-1a of a NUL-terminated string. */
static inline uint32_t dft_fnv32_str(const char *s)
{
	uint32_t h = DFT_FNV32_INIT;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

/* Continue a 64-bit FNV-1a over n bytes from h (DFT_FNV64_INIT to start). */
static inline uint64_t dft_fnv64(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

/*
 * An integer key's table index: MurmurHash3's 64-bit finalizer, folded to 32 bits. Keys that
 * differ in a few low bits (sequential span and sender ids) land far apart.
 */
static inline uint32_t dft_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	x ^= x >> 33;
	return (uint32_t)x;
}

/* Slots of an open-addressing table for up to n entries: the power of two >= 2n, at least min
 * (a power of two), so a probe always meets a free slot and stays short. */
static inline uint32_t dft_hash_slots(uint32_t n, uint32_t min)
{
	uint32_t cap = min;

	while (cap < 2 * n)
		cap *= 2;
	return cap;
}

#endif /* DFT_HASH_H */
