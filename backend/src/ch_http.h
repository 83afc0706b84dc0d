/* SPDX-License-Identifier: MIT */
/*
 * ClickHouse over its HTTP interface (libcurl): one statement per request (the only form the HTTP
 * interface takes), inserts with a RowBinary body, queries answered in RowBinary, and the schema
 * difftrace keeps there (docs/clickhouse.md). Functions return 0 or -errno and leave a message in
 * dft_ch_errmsg.
 */
#ifndef DFT_CH_HTTP_H
#define DFT_CH_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define DFT_CH_CLUSTER "difftrace" /* the remote_servers entry the Distributed tables name */

struct dft_ch;

/* url: http://HOST:PORT (no path). */
int dft_ch_open(const char *url, struct dft_ch **out);
void dft_ch_close(struct dft_ch *ch);
const char *dft_ch_errmsg(const struct dft_ch *ch);
/* A statement without a result (DDL). */
int dft_ch_exec(struct dft_ch *ch, const char *sql);
/* INSERT ... FORMAT RowBinary with body as the rows; waits for the shards (insert_distributed_sync). */
int dft_ch_insert(struct dft_ch *ch, const char *insert_sql, const void *body, size_t len);
/* A query's result bytes (the SQL names the format), in *out (malloc'd, free it); at most max bytes. */
int dft_ch_query(struct dft_ch *ch, const char *sql, size_t max, uint8_t **out, size_t *len);
/* Creates the local tables and the Distributed tables over DFT_CH_CLUSTER on this server. */
int dft_ch_schema(struct dft_ch *ch);

/* RowBinary writing into a growing buffer (bounded by max; overflow makes it unusable). */
struct dft_rb_buf {
	uint8_t *p;
	size_t len, cap, max;
	int overflow;
};

void dft_rbb_u8(struct dft_rb_buf *b, uint8_t v);
void dft_rbb_u32(struct dft_rb_buf *b, uint32_t v);
void dft_rbb_u64(struct dft_rb_buf *b, uint64_t v);
void dft_rbb_varint(struct dft_rb_buf *b, uint64_t v);
void dft_rbb_bytes(struct dft_rb_buf *b, const void *p, size_t n); /* no length */
void dft_rbb_str(struct dft_rb_buf *b, const void *p, size_t n);   /* varint length + bytes */
void dft_rbb_free(struct dft_rb_buf *b);

#endif /* DFT_CH_HTTP_H */
