/* SPDX-License-Identifier: MIT */
/*
 * OTLP/HTTP export (otlp_http.c, otlp_pb.c): every span the collector accepts or rebuilds is POSTed
 * as a protobuf ExportTraceServiceRequest to an OpenTelemetry-compatible endpoint (`POST /v1/traces`,
 * application/x-protobuf, optionally gzip), grouped under one resource per service.
 *
 * Threads: the collector's ingest thread copies spans into the open request (put) and hands it to a
 * bounded queue once per group commit (flush) or when it is full; it never waits for the network.
 * One sender thread encodes (protobuf-c), compresses and POSTs (libcurl), retrying 429/502/503/504
 * and transport errors with exponential backoff, honouring Retry-After. What cannot be queued or
 * delivered is dropped and counted, never blocked on. Functions that can fail return 0 or -errno.
 */
#ifndef DFT_OTLP_HTTP_H
#define DFT_OTLP_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "difftrace.pb-c.h"

struct dft_sink;

#define DFT_OTLP_HTTP_QUEUE_SPANS 262144u /* default bound of spans waiting for the sender */
#define DFT_OTLP_HTTP_REQ_SPANS   8192u   /* spans per request at most */

struct dft_otlp_http_cfg {
	const char *url;      /* e.g. http://127.0.0.1:4318/v1/traces */
	bool gzip;            /* Content-Encoding: gzip */
	uint32_t queue_spans; /* 0: DFT_OTLP_HTTP_QUEUE_SPANS */
	uint32_t req_spans;   /* 0: DFT_OTLP_HTTP_REQ_SPANS */
	uint32_t timeout_ms;  /* per attempt; 0: 10000 */
	uint32_t backoff_ms;  /* first retry delay; 0: 200 (doubles up to max_backoff_ms) */
	uint32_t max_backoff_ms;  /* 0: 10000 */
	uint32_t max_elapsed_ms;  /* give a request up after retrying this long; 0: 60000 */
	uint32_t drain_ms;        /* at shutdown, deliver for at most this long; 0: 5000 */
};

/*
 * Every span handed to the exporter ends in exactly one of sent, dropped_queue_full, dropped_failed
 * (a non-retryable answer, or retries exhausted or cut by shutdown), or is still queued.
 */
struct dft_otlp_http_stats {
	uint64_t spans_in;           /* spans handed to the exporter */
	uint64_t spans_sent;         /* acknowledged by a 2xx */
	uint64_t spans_queued;       /* waiting or in flight (gauge) */
	uint64_t dropped_queue_full; /* the queue held queue_spans already */
	uint64_t dropped_failed;     /* given up: non-retryable status, retries exhausted, shutdown */
	uint64_t requests_sent;      /* 2xx answers */
	uint64_t retries;            /* attempts repeated after 429/502/503/504 or a transport error */
	uint64_t requests_failed;    /* requests given up */
	uint64_t rejected_spans;     /* partial_success.rejected_spans the endpoint reported */
	uint64_t bytes_sent;         /* request bodies of 2xx answers, as sent (compressed or not) */
};

struct dft_otlp_http;

/* Starts the sender thread. -EINVAL: bad URL; -ENOMEM; -errno of the thread. */
int dft_otlp_http_create(const struct dft_otlp_http_cfg *cfg, struct dft_otlp_http **out);
/* Delivers what is queued (for at most drain_ms, then drops it, counted) and ends the sender. */
void dft_otlp_http_drain(struct dft_otlp_http *h);
/* Drains (unless done), frees everything. */
void dft_otlp_http_destroy(struct dft_otlp_http *h);
/* The exporter as a collector sink; destroy of the sink destroys h. */
void dft_otlp_http_sink(struct dft_otlp_http *h, struct dft_sink *out);
void dft_otlp_http_get_stats(struct dft_otlp_http *h, struct dft_otlp_http_stats *out);

/* ---- a request's spans in a compact, self-contained form (otlp_pb.c) */

struct dft_otlp_attr {
	uint32_t key; /* offset into str */
	int64_t value;
};

struct dft_otlp_rec {
	uint8_t trace_id[16];
	uint64_t span_id, parent_span_id, start_ns, end_ns, queue_ns;
	uint32_t name, service, status_message; /* offsets into str; status_message 0: none */
	uint32_t attr0, n_attrs;                  /* attrs[attr0 .. attr0 + n_attrs) */
	uint8_t component_kind;                   /* Difftrace__ComponentKind */
	uint8_t span_kind;                        /* OTLP SpanKind as reported (0: unspecified) */
	uint8_t status;                           /* OTLP StatusCode */
	uint8_t cold_start, reconstructed;
};

struct dft_otlp_req {
	struct dft_otlp_rec *recs;
	size_t n, cap;
	struct dft_otlp_attr *attrs;
	size_t nattrs, attrs_cap;
	char *str; /* NUL-terminated strings; offset 0 is the empty string */
	size_t str_len, str_cap;
	uint32_t *map; /* per batch: string index -> offset + 1 (0: not copied yet) */
	size_t map_cap;
	struct dft_otlp_req *next; /* queue link */
};

int dft_otlp_req_init(struct dft_otlp_req *r);
void dft_otlp_req_reset(struct dft_otlp_req *r);
void dft_otlp_req_free(struct dft_otlp_req *r);
/* Appends spans [from, to) of a validated batch. 0 or -ENOMEM/-E2BIG (r unchanged on failure). */
int dft_otlp_req_add(struct dft_otlp_req *r, const Difftrace__SpanBatch *b, size_t from, size_t to,
                     bool reconstructed);
/* Packing memory reused from request to request (one per sender thread). */
struct dft_otlp_packer;
int dft_otlp_packer_create(struct dft_otlp_packer **out);
void dft_otlp_packer_destroy(struct dft_otlp_packer *p);
/*
 * Packs r as an ExportTraceServiceRequest: one ResourceSpans per (service, component kind), sorted
 * by service, each with one ScopeSpans ("difftrace") holding its spans in arrival order. *out points
 * into p (valid until its next use). 0 or -ENOMEM.
 */
int dft_otlp_req_pack(struct dft_otlp_packer *p, const struct dft_otlp_req *r, const uint8_t **out, size_t *len);
/* gzip (RFC 1952) of in; *out points into p (valid until its next use). 0 or -ENOMEM/-EIO. */
int dft_otlp_gzip(struct dft_otlp_packer *p, const uint8_t *in, size_t len, const uint8_t **out, size_t *out_len);

#endif /* DFT_OTLP_HTTP_H */
