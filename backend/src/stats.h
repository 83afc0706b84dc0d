/* SPDX-License-Identifier: MIT */
/* The collector's stats file (stats.c): struct dft_collector_stats (collector.h) as JSON. */
#ifndef DFT_STATS_H
#define DFT_STATS_H

struct dft_buf;
struct dft_collector_stats;
struct dft_dedup;

/* Writes the stats JSON to path atomically (tmp + rename). */
int dft_stats_write(const char *path, const struct dft_collector_stats *st, struct dft_dedup *d);
void dft_stats_json(struct dft_buf *b, const struct dft_collector_stats *st, struct dft_dedup *d);

#endif /* DFT_STATS_H */
