/* SPDX-License-Identifier: MIT */
/*
 * difftrace-collector's ClickHouse store (--clickhouse URL[,URL...]): a sink that inserts what was
 * reported (spans with hop lists, profiles, span-kind votes) into the Distributed tables of the
 * first server, after creating the schema on every server listed (ch_http.h). Returns 0 or -errno.
 */
#ifndef DFT_SINK_CLICKHOUSE_H
#define DFT_SINK_CLICKHOUSE_H

#include "sink.h"

int dft_ch_sink_open(const char *urls, struct dft_sink *out);

#endif /* DFT_SINK_CLICKHOUSE_H */
