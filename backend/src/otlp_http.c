/* SPDX-License-Identifier: MIT */
/*
 * OTLP/HTTP exporter: a bounded queue between the collector's ingest thread and one sender thread.
 *
 *   ingest thread                              sender thread
 *   put:   spans -> open request (copies)      pop a request (waits on cond)
 *          full (req_spans) -> enqueue         pack (protobuf-c), gzip
 *   flush: open request -> enqueue             POST; 2xx: sent
 *   enqueue: queued + n > queue_spans ->       429/502/503/504, transport error: wait
 *            drop the request, counted            Retry-After, else backoff (doubling,
 *                                                 capped), until max_elapsed: then failed
 *                                              other status: failed
 * The lock guards only the queue and the spare request list; counters are atomics so the stats file
 * reads them from the ingest thread without it. Requests are recycled through a spare list (at most
 * SPARE_MAX) so a steady stream allocates nothing per request.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "dft/clock.h"
#include "otlp_http.h"
#include "sink.h"
#include "otlp_trace.pb-c.h"

#define SPARE_MAX 4u
#define RESP_MAX  (64u << 10) /* response bytes kept (partial_success); the rest is discarded */

struct dft_otlp_http {
	struct dft_otlp_http_cfg cfg;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;          /* queue non-empty, or stop */
	struct dft_otlp_req *head;    /* oldest queued */
	struct dft_otlp_req *tail;
	struct dft_otlp_req *spare;   /* recycled requests */
	unsigned nspare;
	bool stop;                    /* guarded by lock */
	bool joined;                  /* the sender thread has ended */
	uint64_t stop_deadline_ms;    /* set with stop: give up delivering after this */
	struct dft_otlp_req *open;    /* ingest thread only */
	struct curl_slist *headers;
	CURL *curl;                   /* sender thread only */
	struct dft_otlp_packer *packer; /* sender thread only */
	char *resp;                   /* sender thread only */
	size_t resp_len;
	long retry_after_ms;          /* of the last answer; -1: none */
	struct dft_otlp_http_stats st; /* atomics */
};

static uint64_t now_ms(void)
{
	return dft_clock_ns(CLOCK_MONOTONIC) / 1000000u;
}

static void stat_add(uint64_t *p, uint64_t v)
{
	__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

void dft_otlp_http_get_stats(struct dft_otlp_http *h, struct dft_otlp_http_stats *out)
{
	const uint64_t *src = (const uint64_t *)&h->st;
	uint64_t *dst = (uint64_t *)out;

	for (size_t i = 0; i < sizeof(*out) / sizeof(uint64_t); i++)
		dst[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

/* ---- requests: the spare list and the queue */

static struct dft_otlp_req *req_get(struct dft_otlp_http *h)
{
	struct dft_otlp_req *r;

	pthread_mutex_lock(&h->lock);
	r = h->spare;
	if (r) {
		h->spare = r->next;
		h->nspare--;
	}
	pthread_mutex_unlock(&h->lock);
	if (r) {
		dft_otlp_req_reset(r);
		return r;
	}
	r = malloc(sizeof(*r));
	if (r && dft_otlp_req_init(r)) {
		free(r);
		r = NULL;
	}
	return r;
}

static void req_put(struct dft_otlp_http *h, struct dft_otlp_req *r)
{
	pthread_mutex_lock(&h->lock);
	if (h->nspare < SPARE_MAX) {
		r->next = h->spare;
		h->spare = r;
		h->nspare++;
		r = NULL;
	}
	pthread_mutex_unlock(&h->lock);
	if (r) {
		dft_otlp_req_free(r);
		free(r);
	}
}

/* Hands the open request to the sender, or drops it (counted) when the queue is full. */
static void enqueue_open(struct dft_otlp_http *h)
{
	struct dft_otlp_req *r = h->open;
	bool queued = false;

	if (!r || !r->n)
		return;
	h->open = NULL;
	pthread_mutex_lock(&h->lock);
	if (__atomic_load_n(&h->st.spans_queued, __ATOMIC_RELAXED) + r->n <= h->cfg.queue_spans) {
		r->next = NULL;
		if (h->tail)
			h->tail->next = r;
		else
			h->head = r;
		h->tail = r;
		stat_add(&h->st.spans_queued, r->n);
		queued = true;
		pthread_cond_signal(&h->cond);
	}
	pthread_mutex_unlock(&h->lock);
	if (!queued) {
		stat_add(&h->st.dropped_queue_full, r->n);
		req_put(h, r);
	}
}

/* ---- the sink side (ingest thread) */

static int http_put(void *ctx, const Difftrace__SpanBatch *b, bool reconstructed, uint64_t *spans)
{
	struct dft_otlp_http *h = ctx;
	size_t i = 0;

	(void)spans; /* spans_exported counts the file's lines; this exporter keeps its own account */
	while (i < b->n_spans) {
		size_t room, to;

		if (!h->open) {
			h->open = req_get(h);
			if (!h->open) {
				/* no memory for a copy: these spans cannot be exported, the store still has them */
				stat_add(&h->st.spans_in, b->n_spans - i);
				stat_add(&h->st.dropped_queue_full, b->n_spans - i);
				return 0;
			}
		}
		room = h->cfg.req_spans - h->open->n;
		to = b->n_spans - i < room ? b->n_spans : i + room;
		if (dft_otlp_req_add(h->open, b, i, to, reconstructed)) {
			stat_add(&h->st.spans_in, to - i);
			stat_add(&h->st.dropped_queue_full, to - i);
		} else {
			stat_add(&h->st.spans_in, to - i);
		}
		i = to;
		if (h->open->n >= h->cfg.req_spans)
			enqueue_open(h);
	}
	return 0;
}

static int http_flush(void *ctx)
{
	enqueue_open(ctx);
	return 0;
}

static void http_destroy(void *ctx)
{
	dft_otlp_http_destroy(ctx);
}

static const struct dft_sink_ops otlp_http_ops = {
    .name = "otlp-http",
    .put = http_put,
    .flush = http_flush,
    .destroy = http_destroy,
};

void dft_otlp_http_sink(struct dft_otlp_http *h, struct dft_sink *out)
{
	out->ops = &otlp_http_ops;
	out->ctx = h;
}

/* ---- the sender thread */

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct dft_otlp_http *h = arg;
	size_t len = size * n, keep = RESP_MAX - h->resp_len;

	if (keep > len)
		keep = len;
	memcpy(h->resp + h->resp_len, p, keep);
	h->resp_len += keep;
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct dft_otlp_http *h = arg;
	size_t len = size * n;
	char line[256];

	if (len < 12 || len >= sizeof(line) || strncasecmp(p, "retry-after:", 12))
		return len;
	memcpy(line, p + 12, len - 12);
	line[len - 12] = 0;
	{
		char *s = line, *end;
		unsigned long secs;

		while (*s == ' ' || *s == '\t')
			s++;
		secs = strtoul(s, &end, 10);
		if (end != s && (*end == 0 || *end == '\r' || *end == '\n')) {
			h->retry_after_ms = (long)(secs > 3600 ? 3600 : secs) * 1000;
		} else {
			/* an HTTP-date */
			time_t t = curl_getdate(s, NULL);
			time_t now = time(NULL);

			if (t > 0)
				h->retry_after_ms = t > now ? (long)(t - now > 3600 ? 3600 : t - now) * 1000 : 0;
		}
	}
	return len;
}

static bool retryable(long status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}

/* One attempt. Returns the HTTP status, or 0 for a transport error. */
static long post(struct dft_otlp_http *h, const uint8_t *body, size_t len)
{
	long status = 0;

	h->resp_len = 0;
	h->retry_after_ms = -1;
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, (const char *)body);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	if (curl_easy_perform(h->curl) != CURLE_OK)
		return 0;
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &status);
	return status;
}

/* Sleeps up to ms, or less when stop is set and its deadline comes first. false: give up now. */
static bool wait_retry(struct dft_otlp_http *h, uint64_t ms)
{
	struct timespec ts;
	uint64_t until = now_ms() + ms;
	bool go_on = true;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&h->lock);
	while (now_ms() < until) {
		if (h->stop && until > h->stop_deadline_ms) {
			go_on = false;
			break;
		}
		if (pthread_cond_timedwait(&h->cond, &h->lock, &ts) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&h->lock);
	return go_on;
}

static void count_partial(struct dft_otlp_http *h)
{
	Dftotlp__ExportTraceServiceResponse *resp;

	if (!h->resp_len)
		return;
	resp = dftotlp__export_trace_service_response__unpack(NULL, h->resp_len, (const uint8_t *)h->resp);
	if (!resp)
		return; /* a JSON or empty answer: nothing to count */
	if (resp->partial_success && resp->partial_success->rejected_spans > 0)
		stat_add(&h->st.rejected_spans, (uint64_t)resp->partial_success->rejected_spans);
	dftotlp__export_trace_service_response__free_unpacked(resp, NULL);
}

static void deliver(struct dft_otlp_http *h, struct dft_otlp_req *r)
{
	const uint8_t *raw, *gz, *body;
	size_t raw_len = 0, gz_len = 0, len;
	uint64_t first = now_ms(), backoff = h->cfg.backoff_ms;
	bool sent = false;

	if (dft_otlp_req_pack(h->packer, r, &raw, &raw_len))
		goto done;
	body = raw;
	len = raw_len;
	if (h->cfg.gzip) {
		if (dft_otlp_gzip(h->packer, raw, raw_len, &gz, &gz_len))
			goto done;
		body = gz;
		len = gz_len;
	}
	for (;;) {
		long status = post(h, body, len);
		uint64_t wait;

		if (status >= 200 && status < 300) {
			count_partial(h);
			stat_add(&h->st.requests_sent, 1);
			stat_add(&h->st.bytes_sent, len);
			sent = true;
			break;
		}
		if (status && !retryable(status)) {
			fprintf(stderr, "difftrace-collector: otlp-http %s: HTTP %ld, %zu spans dropped\n", h->cfg.url,
			        status, r->n);
			break;
		}
		wait = h->retry_after_ms >= 0 ? (uint64_t)h->retry_after_ms : backoff;
		if (now_ms() + wait - first > h->cfg.max_elapsed_ms) {
			fprintf(stderr, "difftrace-collector: otlp-http %s: %s after %llu ms of retries, %zu spans dropped\n",
			        h->cfg.url, status ? "still refused" : "unreachable",
			        (unsigned long long)(now_ms() - first), r->n);
			break;
		}
		if (!wait_retry(h, wait))
			break; /* shutting down and the drain deadline comes first */
		stat_add(&h->st.retries, 1);
		backoff = backoff * 2 > h->cfg.max_backoff_ms ? h->cfg.max_backoff_ms : backoff * 2;
	}
done:
	if (sent) {
		stat_add(&h->st.spans_sent, r->n);
	} else {
		stat_add(&h->st.requests_failed, 1);
		stat_add(&h->st.dropped_failed, r->n);
	}
}

static void *sender_main(void *arg)
{
	struct dft_otlp_http *h = arg;

	for (;;) {
		struct dft_otlp_req *r;
		bool late;

		pthread_mutex_lock(&h->lock);
		while (!h->head && !h->stop)
			pthread_cond_wait(&h->cond, &h->lock);
		r = h->head;
		if (r) {
			h->head = r->next;
			if (!h->head)
				h->tail = NULL;
		}
		late = h->stop && now_ms() >= h->stop_deadline_ms;
		pthread_mutex_unlock(&h->lock);
		if (!r)
			break; /* stopped and drained */
		if (late) {
			stat_add(&h->st.requests_failed, 1);
			stat_add(&h->st.dropped_failed, r->n);
		} else {
			deliver(h, r);
		}
		__atomic_fetch_sub(&h->st.spans_queued, r->n, __ATOMIC_RELAXED);
		req_put(h, r);
	}
	return NULL;
}

/* ---- lifetime */

static bool add_header(struct dft_otlp_http *h, const char *line)
{
	struct curl_slist *nh = curl_slist_append(h->headers, line);

	if (nh)
		h->headers = nh;
	return nh != NULL;
}

int dft_otlp_http_create(const struct dft_otlp_http_cfg *cfg, struct dft_otlp_http **out)
{
	struct dft_otlp_http *h;
	int rc;

	*out = NULL;
	if (!cfg->url || (strncmp(cfg->url, "http://", 7) && strncmp(cfg->url, "https://", 8)))
		return -EINVAL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -ENOMEM;
	h = calloc(1, sizeof(*h));
	if (!h) {
		rc = -ENOMEM;
		goto cleanup_global;
	}
	h->cfg = *cfg;
	if (!h->cfg.queue_spans)
		h->cfg.queue_spans = DFT_OTLP_HTTP_QUEUE_SPANS;
	if (!h->cfg.req_spans)
		h->cfg.req_spans = DFT_OTLP_HTTP_REQ_SPANS;
	if (h->cfg.req_spans > h->cfg.queue_spans)
		h->cfg.req_spans = h->cfg.queue_spans; /* a full request must fit the queue */
	if (!h->cfg.timeout_ms)
		h->cfg.timeout_ms = 10000;
	if (!h->cfg.backoff_ms)
		h->cfg.backoff_ms = 200;
	if (!h->cfg.max_backoff_ms)
		h->cfg.max_backoff_ms = 10000;
	if (!h->cfg.max_elapsed_ms)
		h->cfg.max_elapsed_ms = 60000;
	if (!h->cfg.drain_ms)
		h->cfg.drain_ms = 5000;
	h->resp = malloc(RESP_MAX);
	h->curl = curl_easy_init();
	if (!h->resp || !h->curl || dft_otlp_packer_create(&h->packer)) {
		rc = -ENOMEM;
		goto free_h;
	}
	/* no "Expect: 100-continue" round trip before large bodies */
	if (!add_header(h, "Content-Type: application/x-protobuf") || !add_header(h, "Expect:") ||
	    (h->cfg.gzip && !add_header(h, "Content-Encoding: gzip"))) {
		rc = -ENOMEM;
		goto free_h;
	}
	curl_easy_setopt(h->curl, CURLOPT_URL, h->cfg.url);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->headers);
	curl_easy_setopt(h->curl, CURLOPT_POST, 1L);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT_MS, (long)h->cfg.timeout_ms);
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(h->cfg.timeout_ms < 2000 ? h->cfg.timeout_ms : 2000));
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, h);
	curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	rc = -pthread_create(&h->thread, NULL, sender_main, h);
	if (rc)
		goto destroy_sync;
	*out = h;
	return 0;

destroy_sync:
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
free_h:
	dft_otlp_packer_destroy(h->packer);
	curl_slist_free_all(h->headers);
	curl_easy_cleanup(h->curl);
	free(h->resp);
	free(h);
cleanup_global:
	curl_global_cleanup();
	return rc;
}

void dft_otlp_http_drain(struct dft_otlp_http *h)
{
	if (h->joined)
		return;
	enqueue_open(h);
	pthread_mutex_lock(&h->lock);
	h->stop = true;
	h->stop_deadline_ms = now_ms() + h->cfg.drain_ms;
	pthread_cond_broadcast(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	h->joined = true;
}

void dft_otlp_http_destroy(struct dft_otlp_http *h)
{
	struct dft_otlp_req *r;

	if (!h)
		return;
	dft_otlp_http_drain(h);
	while ((r = h->spare)) {
		h->spare = r->next;
		dft_otlp_req_free(r);
		free(r);
	}
	if (h->open) {
		dft_otlp_req_free(h->open);
		free(h->open);
	}
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	dft_otlp_packer_destroy(h->packer);
	curl_slist_free_all(h->headers);
	curl_easy_cleanup(h->curl);
	free(h->resp);
	free(h);
	curl_global_cleanup();
}
