/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dft/parse.h"

int dft_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	char *end;
	unsigned long long v;

	/* strtoull accepts a sign and leading spaces: a value here is digits only */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -EINVAL;
	*out = v;
	return 0;
}

int dft_parse_hostport(char *buf, uint16_t min_port, const char **host, uint16_t *port)
{
	char *colon = strrchr(buf, ':');
	uint64_t v;

	if (!colon || colon == buf || dft_parse_u64(colon + 1, min_port, 65535, &v))
		return -EINVAL;
	*colon = '\0';
	if (buf[0] == '[') {
		size_t n = strlen(buf);

		if (n < 3 || buf[n - 1] != ']')
			return -EINVAL;
		buf[n - 1] = '\0';
		buf++;
	}
	*host = buf;
	*port = (uint16_t)v;
	return 0;
}
