/* SPDX-License-Identifier: MIT */
/* Strict parsing of command-line and config values, shared by every difftrace binary. */
#ifndef DFT_PARSE_H
#define DFT_PARSE_H

#include <stdint.h>

/* A plain decimal in [lo, hi]: no sign, no spaces, no trailing text. 0 or -EINVAL. */
int dft_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/*
 * HOST:PORT or [V6]:PORT, split in place: *host points into buf (the brackets and the colon are
 * overwritten). The port must lie in [min_port, 65535]. 0 or -EINVAL.
 */
int dft_parse_hostport(char *buf, uint16_t min_port, const char **host, uint16_t *port);

#endif /* DFT_PARSE_H */
