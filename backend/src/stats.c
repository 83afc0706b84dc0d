/* SPDX-License-Identifier: MIT */
/*
 * The collector's stats file. Counters count since this process started, except spans_stored
 * (global and per sender), which counts what the database holds: it survives restarts through the
 * senders table, so the sum over senders always equals the global figure. Reconstructed spans are
 * not in spans_stored (no sender reported them) but in spans_reconstructed; recon_pending is a
 * gauge.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector.h"
#include "dedup.h"
#include "json.h"
#include "stats.h"

#define STATS_MAX (8u << 20)

void dft_stats_json(struct dft_buf *b, const struct dft_collector_stats *st, struct dft_dedup *d)
{
	struct dft_sender *s;
	uint64_t stored = 0;
	uint32_t i = 0;
	bool first = true;

	while ((s = dft_dedup_next(d, &i)))
		stored += s->spans_stored;
	dft_buf_printf(b, "{\"health\":\"%s\"", st->degraded ? "degraded: storage" : "ok");
	dft_buf_printf(b, ",\"storage_failures\":%" PRIu64 ",\"busy_sent\":%" PRIu64 ",\"log_suppressed\":%" PRIu64,
	               st->storage_failures, st->busy_sent, st->log_suppressed);
	dft_buf_printf(b, ",\"epochs_begun\":%" PRIu64 ",\"epochs_closed\":%" PRIu64 ",\"batches_stale_epoch\":%" PRIu64,
	               st->epochs_begun, st->epochs_closed, st->batches_stale_epoch);
	dft_buf_printf(b, ",\"connections\":%" PRIu64 ",\"connections_open\":%" PRIu64, st->connections,
	               st->connections_open);
	dft_buf_printf(b, ",\"connections_refused\":%" PRIu64, st->connections_refused);
	dft_buf_printf(b, ",\"connections_refused_peer\":%" PRIu64 ",\"connections_evicted\":%" PRIu64,
	               st->connections_refused_peer, st->connections_evicted);
	dft_buf_printf(b, ",\"connections_timed_out\":%" PRIu64 ",\"connections_idle_closed\":%" PRIu64,
	               st->connections_timed_out, st->connections_idle_closed);
	dft_buf_printf(b, ",\"sender_conns_evicted\":%" PRIu64 ",\"rx_budget_refused\":%" PRIu64,
	               st->sender_conns_evicted, st->rx_budget_refused);
	dft_buf_printf(b, ",\"batches_seq_refused\":%" PRIu64 ",\"batches_refused\":%" PRIu64,
	               st->batches_seq_refused, st->batches_refused);
	dft_buf_printf(b, ",\"senders_evicted\":%" PRIu64, d->evicted);
	dft_buf_printf(b, ",\"tls_refused\":%" PRIu64 ",\"hello_refused\":%" PRIu64, st->tls_refused,
	               st->hello_refused);
	dft_buf_printf(b, ",\"frames\":%" PRIu64 ",\"frames_bad\":%" PRIu64, st->frames, st->frames_bad);
	dft_buf_printf(b, ",\"batches_accepted\":%" PRIu64 ",\"batches_duplicate\":%" PRIu64, st->batches_accepted,
	               st->batches_duplicate);
	dft_buf_printf(b, ",\"spans_stored\":%" PRIu64 ",\"spans_exported\":%" PRIu64, stored, st->spans_exported);
	dft_buf_printf(b, ",\"commits\":%" PRIu64 ",\"commit_failures\":%" PRIu64, st->commits, st->commit_failures);
	dft_buf_printf(b, ",\"acks_cut\":%" PRIu64 ",\"senders_refused\":%" PRIu64, st->acks_cut, d->refused);
	dft_buf_printf(b, ",\"profiles_stored\":%" PRIu64 ",\"profiles_cut\":%" PRIu64, st->profiles_stored,
	               st->profiles_cut);
	dft_buf_printf(b, ",\"spans_reconstructed\":%" PRIu64 ",\"recon_pending\":%" PRIu64 ",\"recon_cut\":%" PRIu64,
	               st->recon.reconstructed, st->recon.pending, st->recon.cut);
	dft_buf_printf(b, ",\"recon_skipped\":%" PRIu64 ",\"recon_unresolved\":%" PRIu64 ",\"recon_superseded\":%" PRIu64,
	               st->recon.skipped, st->recon.unresolved, st->recon.superseded);
	dft_buf_printf(b, ",\"recon_kinds_cut\":%" PRIu64, st->recon.kinds_cut);
	dft_buf_printf(b, ",\"transport\":\"%s\"", st->rdma ? "rdma" : "tcp");
	if (st->rdma) {
		const struct dft_rdma_server_stats *r = &st->rdma_st;

		dft_buf_printf(b, ",\"rdma_accepted\":%" PRIu64 ",\"rdma_rejected\":%" PRIu64, r->accepted, r->rejected);
		dft_buf_printf(b, ",\"rdma_disconnects\":%" PRIu64 ",\"rdma_batches\":%" PRIu64, r->disconnects, r->batches);
		dft_buf_printf(b, ",\"rdma_bad_slots\":%" PRIu64 ",\"rdma_restarts\":%" PRIu64, r->bad_slots,
		               st->rdma_restarts);
		dft_buf_printf(b, ",\"rdma_auth_ok\":%" PRIu64 ",\"rdma_auth_no_key\":%" PRIu64 ",\"rdma_auth_bad_proof\":%" PRIu64,
		               r->auth_ok, r->auth_no_key, r->auth_bad_proof);
		dft_buf_printf(b, ",\"rdma_auth_timed_out\":%" PRIu64 ",\"rdma_auth_evicted\":%" PRIu64, r->auth_timed_out,
		               r->auth_evicted);
	}
	if (st->otlp_json) {
		const struct dft_otlp_json_stats *j = &st->otlp_json_st;

		dft_buf_printf(b, ",\"otlp_json_torn_cut\":%" PRIu64 ",\"otlp_json_torn_bytes\":%" PRIu64, j->torn_cut,
		               j->torn_bytes);
		dft_buf_printf(b, ",\"otlp_json_write_errors\":%" PRIu64 ",\"otlp_json_rotations\":%" PRIu64,
		               j->write_errors, j->rotations);
	}
	if (st->otlp_http) {
		const struct dft_otlp_http_stats *h = &st->otlp_http_st;

		dft_buf_printf(b, ",\"otlp_http_spans_in\":%" PRIu64 ",\"otlp_http_spans_sent\":%" PRIu64, h->spans_in,
		               h->spans_sent);
		dft_buf_printf(b, ",\"otlp_http_spans_queued\":%" PRIu64 ",\"otlp_http_dropped_queue_full\":%" PRIu64,
		               h->spans_queued, h->dropped_queue_full);
		dft_buf_printf(b, ",\"otlp_http_dropped_failed\":%" PRIu64 ",\"otlp_http_requests_sent\":%" PRIu64,
		               h->dropped_failed, h->requests_sent);
		dft_buf_printf(b, ",\"otlp_http_retries\":%" PRIu64 ",\"otlp_http_requests_failed\":%" PRIu64,
		               h->retries, h->requests_failed);
		dft_buf_printf(b, ",\"otlp_http_rejected_spans\":%" PRIu64 ",\"otlp_http_bytes_sent\":%" PRIu64,
		               h->rejected_spans, h->bytes_sent);
	}
	dft_buf_puts(b, ",\"senders\":[");
	i = 0;
	while ((s = dft_dedup_next(d, &i))) {
		dft_buf_puts(b, first ? "{\"sender_id\":\"" : ",{\"sender_id\":\"");
		first = false;
		dft_buf_hex64(b, s->sender_id);
		/* durable figures only: what an ACK has promised */
		dft_buf_printf(b,
		               "\",\"max_seq\":%" PRIu64 ",\"spans_stored\":%" PRIu64 ",\"epoch\":\"%016" PRIx64
		               "\",\"epoch_spans_stored\":%" PRIu64 ",\"counters\":",
		               s->durable_seq, s->spans_stored, s->epoch, s->epoch_spans);
		dft_counters_json(b, &s->counters);
		dft_buf_puts(b, "}");
	}
	dft_buf_puts(b, "]}\n");
}

int dft_stats_write(const char *path, const struct dft_collector_stats *st, struct dft_dedup *d)
{
	struct dft_buf b;
	char *tmp;
	FILE *f;
	int rc = 0;

	dft_buf_init(&b, STATS_MAX);
	dft_stats_json(&b, st, d);
	if (b.overflow) {
		rc = -E2BIG;
		goto free_buf;
	}
	tmp = malloc(strlen(path) + 8);
	if (!tmp) {
		rc = -ENOMEM;
		goto free_buf;
	}
	sprintf(tmp, "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f) {
		rc = -errno;
		goto free_tmp;
	}
	if (fwrite(b.p, 1, b.len, f) != b.len)
		rc = -EIO;
	if (fclose(f) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
free_tmp:
	free(tmp);
free_buf:
	dft_buf_free(&b);
	return rc;
}
