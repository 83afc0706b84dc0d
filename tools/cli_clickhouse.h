/* SPDX-License-Identifier: MIT */
/*
 * difftrace --clickhouse URL: every command against the ClickHouse store. The rows a command needs
 * (one trace for show and critical-path, else all of them) are read through the Distributed tables
 * (the fan-out over shards is theirs) into a private SQLite file in the collector's layout, and the
 * command runs on it unchanged: the same reader, the same rebuild, the same output as with --db.
 */
#ifndef DFT_CLI_CLICKHOUSE_H
#define DFT_CLI_CLICKHOUSE_H

#include <stddef.h>

/* trace_hex: 32 hex digits, or NULL for everything. path (>= 64 bytes) receives the file, which the
 * caller unlinks. Returns 0 or -errno (message on stderr). */
int dft_ch_snapshot(const char *url, const char *trace_hex, char *path, size_t path_len);

#endif /* DFT_CLI_CLICKHOUSE_H */
