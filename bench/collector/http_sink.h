/* SPDX-License-Identifier: MIT */
/*
 * A minimal HTTP/1.1 endpoint for dft-bench-collector's OTLP/HTTP configuration: one thread accepts
 * on 127.0.0.1, reads each request (headers, Content-Length body), answers 200 with an empty body and
 * counts requests and body bytes. It does not decode: the integration tests check what is sent.
 */
#ifndef DFT_BENCH_HTTP_SINK_H
#define DFT_BENCH_HTTP_SINK_H

#include <stdint.h>

struct dft_http_sink;

/* Listens on an ephemeral loopback port (*port) and starts the thread. 0 or -errno. */
int dft_http_sink_start(struct dft_http_sink **out, uint16_t *port);
/* Stops the thread; requests answered and body bytes read so far. */
void dft_http_sink_stop(struct dft_http_sink *s, uint64_t *requests, uint64_t *bytes);

#endif /* DFT_BENCH_HTTP_SINK_H */
