/* SPDX-License-Identifier: MIT */
/*
 * The ClickHouse HTTP client and schema (ch_http.h).
 *
 * Schema, shaped like the OpenTelemetry ClickHouse exporter's otel_traces and reduced to what
 * ClickHouse 18.16 (Debian 12) has: no DateTime64 (a DateTime for partitions and the order key
 * beside StartNs, a UInt64), no Map (SpanAttributes is Nested(Key, Value)), no codecs, TTL or skip
 * indexes. Each table is a *_local MergeTree on every shard plus a Distributed table of the plain
 * name over the cluster DFT_CH_CLUSTER: collectors insert into the Distributed table (sharded by
 * trace id, so a trace lives on one shard) and readers query it (the fan-out is its job). The trace
 * id lookup table is filled on each shard by a materialized view over its local span table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ch_http.h"

#define ERR_BODY_MAX 600u

struct dft_ch {
	CURL *curl;
	char *url;
	char err[768];
};

struct resp {
	uint8_t *p;
	size_t len, cap, max;
	int overflow;
};

static const char *const schema[] = {
    "CREATE TABLE IF NOT EXISTS otel_traces_local ("
    " Timestamp DateTime, StartNs UInt64, TraceId FixedString(16), SpanId UInt64, ParentSpanId UInt64,"
    " SpanName LowCardinality(String), SpanKind UInt8, ServiceName LowCardinality(String),"
    " ComponentKind UInt8, Duration UInt64, StatusCode UInt8, StatusMessage String, QueueNs UInt64,"
    " Flags UInt32, KeepReasons UInt32, SpanAttributes Nested(Key String, Value Int64), Hops String,"
    " SenderId UInt64, BatchSeq UInt64)"
    " ENGINE = MergeTree PARTITION BY toDate(Timestamp)"
    " ORDER BY (ServiceName, SpanName, toUnixTimestamp(Timestamp), TraceId)",
    "CREATE TABLE IF NOT EXISTS otel_traces_trace_id_ts_local (TraceId FixedString(16), Start DateTime,"
    " End DateTime) ENGINE = MergeTree PARTITION BY toDate(Start) ORDER BY (TraceId, toUnixTimestamp(Start))",
    "CREATE MATERIALIZED VIEW IF NOT EXISTS otel_traces_trace_id_ts_mv TO otel_traces_trace_id_ts_local AS"
    " SELECT TraceId, min(Timestamp) AS Start, max(Timestamp) AS End FROM otel_traces_local GROUP BY TraceId",
    "CREATE TABLE IF NOT EXISTS dft_profiles_local (Created DateTime, CreatedNs UInt64, SenderId UInt64,"
    " Component LowCardinality(String), Operation LowCardinality(String), NameHash UInt32, Count UInt64,"
    " Kept UInt64, Filtered UInt64, P50Ns UInt64, P99Ns UInt64, QueueP99Ns UInt64, SelfTimeNs UInt64)"
    " ENGINE = MergeTree PARTITION BY toDate(Created) ORDER BY (NameHash, CreatedNs)",
    "CREATE TABLE IF NOT EXISTS dft_span_kinds_local (NameHash UInt32, SpanKind UInt8, Votes UInt64)"
    " ENGINE = SummingMergeTree ORDER BY (NameHash, SpanKind)",
    "CREATE TABLE IF NOT EXISTS otel_traces AS otel_traces_local"
    " ENGINE = Distributed(" DFT_CH_CLUSTER ", currentDatabase(), otel_traces_local, cityHash64(TraceId))",
    "CREATE TABLE IF NOT EXISTS otel_traces_trace_id_ts AS otel_traces_trace_id_ts_local"
    " ENGINE = Distributed(" DFT_CH_CLUSTER ", currentDatabase(), otel_traces_trace_id_ts_local, rand())",
    "CREATE TABLE IF NOT EXISTS dft_profiles AS dft_profiles_local"
    " ENGINE = Distributed(" DFT_CH_CLUSTER ", currentDatabase(), dft_profiles_local, rand())",
    "CREATE TABLE IF NOT EXISTS dft_span_kinds AS dft_span_kinds_local"
    " ENGINE = Distributed(" DFT_CH_CLUSTER ", currentDatabase(), dft_span_kinds_local, NameHash)",
};

const char *dft_ch_errmsg(const struct dft_ch *ch)
{
	return ch->err;
}

int dft_ch_open(const char *url, struct dft_ch **out)
{
	static int global_done;
	struct dft_ch *ch;

	*out = NULL;
	if (strncmp(url, "http://", 7))
		return -EINVAL;
	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT))
			return -ENOMEM;
		global_done = 1;
	}
	ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->url = strdup(url);
	ch->curl = curl_easy_init();
	if (!ch->url || !ch->curl) {
		dft_ch_close(ch);
		return -ENOMEM;
	}
	*out = ch;
	return 0;
}

void dft_ch_close(struct dft_ch *ch)
{
	if (!ch)
		return;
	if (ch->curl)
		curl_easy_cleanup(ch->curl);
	free(ch->url);
	free(ch);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct resp *r = arg;
	size_t len = size * n;

	if (r->overflow || r->len + len > r->max) {
		r->overflow = 1;
		return len; /* read on, so the status still arrives; the body is unusable */
	}
	if (r->len + len > r->cap) {
		size_t ncap = r->cap ? r->cap : 4096;
		uint8_t *np;

		while (ncap < r->len + len)
			ncap *= 2;
		np = realloc(r->p, ncap);
		if (!np) {
			r->overflow = 1;
			return len;
		}
		r->p = np;
		r->cap = ncap;
	}
	memcpy(r->p + r->len, data, len);
	r->len += len;
	return len;
}

/* POSTs body (or sql when query is NULL) to the server; the response body in *r. */
static int request(struct dft_ch *ch, const char *query, const void *body, size_t len, struct resp *r)
{
	char *esc = NULL, *url;
	long status = 0;
	CURLcode cc;
	int rc = 0;

	if (query) {
		esc = curl_easy_escape(ch->curl, query, 0);
		if (!esc)
			return -ENOMEM;
	}
	url = malloc(strlen(ch->url) + (esc ? strlen(esc) : 0) + 64);
	if (!url) {
		curl_free(esc);
		return -ENOMEM;
	}
	sprintf(url, "%s/?insert_distributed_sync=1%s%s", ch->url, esc ? "&query=" : "", esc ? esc : "");
	curl_free(esc);
	curl_easy_reset(ch->curl);
	curl_easy_setopt(ch->curl, CURLOPT_URL, url);
	curl_easy_setopt(ch->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(ch->curl, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(ch->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(ch->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(ch->curl, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(ch->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(ch->curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(ch->curl, CURLOPT_TIMEOUT_MS, 300000L);
	cc = curl_easy_perform(ch->curl);
	free(url);
	if (cc != CURLE_OK) {
		snprintf(ch->err, sizeof(ch->err), "%s: %s", ch->url, curl_easy_strerror(cc));
		return -EIO;
	}
	curl_easy_getinfo(ch->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		snprintf(ch->err, sizeof(ch->err), "%s: HTTP %ld: %.*s", ch->url, status,
		         (int)(r->len < ERR_BODY_MAX ? r->len : ERR_BODY_MAX), r->p ? (const char *)r->p : "");
		rc = -EIO;
	} else if (r->overflow) {
		snprintf(ch->err, sizeof(ch->err), "%s: answer larger than %zu bytes", ch->url, r->max);
		rc = -E2BIG;
	}
	return rc;
}

int dft_ch_exec(struct dft_ch *ch, const char *sql)
{
	struct resp r = {.max = 1u << 20};
	int rc = request(ch, NULL, sql, strlen(sql), &r);

	free(r.p);
	return rc;
}

int dft_ch_insert(struct dft_ch *ch, const char *insert_sql, const void *body, size_t len)
{
	struct resp r = {.max = 1u << 20};
	int rc = request(ch, insert_sql, body, len, &r);

	free(r.p);
	return rc;
}

int dft_ch_query(struct dft_ch *ch, const char *sql, size_t max, uint8_t **out, size_t *len)
{
	struct resp r = {.max = max};
	int rc = request(ch, NULL, sql, strlen(sql), &r);

	*out = NULL;
	*len = 0;
	if (rc) {
		free(r.p);
		return rc;
	}
	*out = r.p;
	*len = r.len;
	return 0;
}

int dft_ch_schema(struct dft_ch *ch)
{
	for (size_t i = 0; i < sizeof(schema) / sizeof(schema[0]); i++) {
		int rc = dft_ch_exec(ch, schema[i]);

		if (rc)
			return rc;
	}
	return 0;
}

/* ---- RowBinary */

static uint8_t *rbb_room(struct dft_rb_buf *b, size_t n)
{
	if (b->overflow || b->len + n > b->max) {
		b->overflow = 1;
		return NULL;
	}
	if (b->len + n > b->cap) {
		size_t ncap = b->cap ? b->cap : 65536;
		uint8_t *np;

		while (ncap < b->len + n)
			ncap *= 2;
		np = realloc(b->p, ncap);
		if (!np) {
			b->overflow = 1;
			return NULL;
		}
		b->p = np;
		b->cap = ncap;
	}
	b->len += n;
	return b->p + b->len - n;
}

void dft_rbb_bytes(struct dft_rb_buf *b, const void *p, size_t n)
{
	uint8_t *d = rbb_room(b, n);

	if (d && n)
		memcpy(d, p, n);
}

void dft_rbb_u8(struct dft_rb_buf *b, uint8_t v)
{
	dft_rbb_bytes(b, &v, 1);
}

/* RowBinary integers are little-endian */
void dft_rbb_u32(struct dft_rb_buf *b, uint32_t v)
{
	uint8_t t[4];

	for (int i = 0; i < 4; i++)
		t[i] = (uint8_t)(v >> (8 * i));
	dft_rbb_bytes(b, t, 4);
}

void dft_rbb_u64(struct dft_rb_buf *b, uint64_t v)
{
	uint8_t t[8];

	for (int i = 0; i < 8; i++)
		t[i] = (uint8_t)(v >> (8 * i));
	dft_rbb_bytes(b, t, 8);
}

void dft_rbb_varint(struct dft_rb_buf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;

	do {
		t[n++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		v >>= 7;
	} while (v);
	dft_rbb_bytes(b, t, n);
}

void dft_rbb_str(struct dft_rb_buf *b, const void *p, size_t n)
{
	dft_rbb_varint(b, n);
	dft_rbb_bytes(b, p, n);
}

void dft_rbb_free(struct dft_rb_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->overflow = 0;
}
