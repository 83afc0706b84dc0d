/* SPDX-License-Identifier: MIT */
/* The NIC-global name table (names.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dft/abi.h"
#include "dft/hash.h"
#include "names.h"

#define STR_LEN (DFT_NAME_MAX + 1)

struct dft_names {
	uint32_t cap, n, hash_size;
	uint64_t full;
	char *arena;     /* cap * STR_LEN, id N at N-1 */
	uint32_t *hash;  /* id, 0 = empty */
};

int dft_names_create(uint32_t cap, struct dft_names **out)
{
	struct dft_names *n;

	*out = NULL;
	if (cap == 0 || cap > (1u << 24))
		return -EINVAL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->cap = cap;
	for (n->hash_size = 16; n->hash_size < 2 * cap; n->hash_size <<= 1)
		;
	n->arena = calloc(cap, STR_LEN);
	n->hash = calloc(n->hash_size, sizeof(*n->hash));
	if (!n->arena || !n->hash) {
		dft_names_destroy(n);
		return -ENOMEM;
	}
	*out = n;
	return 0;
}

void dft_names_destroy(struct dft_names *n)
{
	if (!n)
		return;
	free(n->arena);
	free(n->hash);
	free(n);
}

uint32_t dft_names_intern(struct dft_names *n, const char *s)
{
	size_t len = strnlen(s, DFT_NAME_MAX);
	uint32_t mask = n->hash_size - 1;

	for (uint32_t h = dft_fnv32(s, len, DFT_FNV32_INIT) & mask;; h = (h + 1) & mask) {
		uint32_t id = n->hash[h];
		char *dst;

		if (id) {
			const char *e = n->arena + (size_t)(id - 1) * STR_LEN;

			if (!strncmp(e, s, len) && e[len] == 0)
				return id;
			continue;
		}
		if (n->n >= n->cap) {
			n->full++;
			return 0;
		}
		dst = n->arena + (size_t)n->n * STR_LEN;
		memcpy(dst, s, len);
		dst[len] = 0;
		n->hash[h] = ++n->n;
		return n->n;
	}
}

const char *dft_names_str(const struct dft_names *n, uint32_t id)
{
	if (!n || id == 0 || id > n->n)
		return "";
	return n->arena + (size_t)(id - 1) * STR_LEN;
}

uint32_t dft_names_count(const struct dft_names *n)
{
	return n->n;
}

uint64_t dft_names_full(const struct dft_names *n)
{
	return n->full;
}
