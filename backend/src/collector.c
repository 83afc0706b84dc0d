/* SPDX-License-Identifier: MIT */
/*
 * The collector's event loop: one thread, poll() over the stop fd and the transport: with TCP the
 * listener and every connection (tcp_server.c); with RDMA the connection-manager fd, while
 * completions are polled every round (busy while batches come, 1 ms naps when idle; rdma_hookup.c).
 *
 * One poll round:
 *   1. TCP: accept new connections (past max_conns or the peer's quota: evict the oldest connection
 *      that has not said HELLO, else accept and close at once, counted), read each
 *      readable connection up to a per-round budget and handle every complete frame (tcp_frames.c):
 *        HELLO(sender, 0)  -> ACK(sender, durable max sequence of that sender), sent at once;
 *        BATCH             -> the shared ingest path (ingest.c); its ACK waits for the commit;
 *      RDMA: poll the server; each received slot goes through the same ingest path, the sender
 *      being the one of the RDMA connect;
 *   2. export the reconstruction candidates that are due, and group commit (ingest.c), then queue
 *      the ACKs and return the RDMA credits, or, when the round rolled back, drop the connections
 *      that fed it;
 *   3. close connections past their timeouts, write queued ACKs; rewrite the stats file once a
 *      second.
 * The read budget bounds both the transaction and the ACKs a round can queue on one connection;
 * the RDMA ring bounds what a connection can hand over before its credits come back.
 *
 * Limits no peer can exhaust are listed in tcp_server.c and ingest.c (docs/security.md).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "collector_impl.h"
#include "dft/clock.h"
#include "epochs.h"
#include "sink_clickhouse.h"
#include "stats.h"
#include "store_sqlite.h"

void dft_collector_get_stats(struct dft_collector *c, struct dft_collector_stats *out)
{
	c->stats.connections_open = dft_tcp_open_count(c);
	dft_recon_get_stats(c->recon, &c->stats.recon);
	c->stats.recon.superseded = c->store ? dft_store_superseded(c->store) : 0;
	c->stats.profiles_cut = c->profiles.cut;
	c->stats.otlp_json = c->cfg.otlp_json_path && c->nsinks;
	if (c->stats.otlp_json)
		dft_otlp_json_get_stats(&c->sinks[0], &c->stats.otlp_json_st); /* opened first */
	c->stats.otlp_http = c->http != NULL;
	if (c->http)
		dft_otlp_http_get_stats(c->http, &c->stats.otlp_http_st);
	c->stats.rx_budget_refused = c->tcp.budget.refused;
	c->stats.senders_evicted = c->dedup.evicted;
	dft_rdma_hookup_stats(c);
	*out = c->stats;
}

static void write_stats(struct dft_collector *c)
{
	struct dft_collector_stats st;
	int rc;

	if (!c->cfg.stats_path)
		return;
	dft_collector_get_stats(c, &st);
	rc = dft_stats_write(c->cfg.stats_path, &st, &c->dedup);
	if (rc)
		fprintf(stderr, "difftrace-collector: stats %s: %s\n", c->cfg.stats_path, strerror(-rc));
}

int dft_collector_reopen(struct dft_collector *c)
{
	int rc = 0;

	for (unsigned i = 0; i < c->nsinks; i++) {
		int r = c->sinks[i].ops->reopen ? c->sinks[i].ops->reopen(c->sinks[i].ctx) : 0;

		if (r) {
			fprintf(stderr, "difftrace-collector: sink %s reopen: %s\n", c->sinks[i].ops->name, strerror(-r));
			rc = rc ? rc : r;
		}
	}
	return rc;
}

/* The stop fd is readable: true when what it held was a SIGHUP from a signalfd (reopen, go on). */
static bool stop_is_hup(int stop_fd)
{
	struct signalfd_siginfo si;

	return read(stop_fd, &si, sizeof(si)) == (ssize_t)sizeof(si) && si.ssi_signo == SIGHUP;
}

int dft_collector_run(struct dft_collector *c, int stop_fd)
{
	const bool rdma = c->cfg.transport == DFT_TRANSPORT_RDMA;
	uint64_t next_stats = dft_clock_ns(CLOCK_MONOTONIC) / 1000000u + 1000;
	bool busy = false, tls_pending = false;
	int rc;

	for (;;) {
		uint64_t now, deadline;
		nfds_t n = 0;
		int timeout, pr;

		c->pfds[n++] = (struct pollfd){.fd = stop_fd, .events = POLLIN};
		c->pfds[n++] = (struct pollfd){.fd = dft_rdma_hookup_fd(c), .events = POLLIN};
		dft_tcp_poll_fill(c, &c->pfds[n]);
		n += dft_tcp_nfds(c);
		now = dft_clock_ns(CLOCK_MONOTONIC) / 1000000u;
		deadline = dft_recon_next_due(c->recon);
		if (deadline > next_stats)
			deadline = next_stats;
		timeout = deadline <= now ? 0 : deadline - now > 1000 ? 1000 : (int)(deadline - now);
		/* RDMA completions do not wake poll(): spin while they come, nap briefly when idle */
		if (rdma)
			timeout = busy ? 0 : timeout < 1 ? timeout : 1;
		/* bytes TLS already decrypted do not wake poll() */
		if (tls_pending)
			timeout = 0;
		pr = poll(c->pfds, n, timeout);
		if (pr < 0 && errno != EINTR)
			return -errno;
		if (pr > 0 && c->pfds[0].revents) {
			if (!stop_is_hup(stop_fd))
				break;
			dft_collector_reopen(c);
			continue;
		}
		c->now_ms = dft_clock_ns(CLOCK_MONOTONIC) / 1000000u;
		tls_pending = dft_tcp_serve(c, &c->pfds[2], pr > 0, tls_pending);
		rc = dft_rdma_hookup_poll(c);
		if (rc)
			return rc;
		busy = c->rdma.round_batches > 0;
		dft_ingest_end_round(c, c->now_ms);
		dft_tcp_sweep(c);
		now = dft_clock_ns(CLOCK_MONOTONIC) / 1000000u;
		if (now >= next_stats) {
			write_stats(c);
			next_stats = now + 1000;
		}
	}
	return 0;
}

int dft_collector_create(const struct dft_collector_cfg *cfg, struct dft_collector **out)
{
	struct dft_recon_cfg rcfg;
	struct dft_collector *c;
	int rc;

	*out = NULL;
#ifndef DFT_HAVE_RDMA
	if (cfg->transport == DFT_TRANSPORT_RDMA)
		return -EPROTONOSUPPORT;
#endif
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	if (!c->cfg.max_conns)
		c->cfg.max_conns = DFT_MAX_CONNS;
	if (!c->cfg.max_senders)
		c->cfg.max_senders = DFT_MAX_SENDERS;
	if (!c->cfg.max_conns_per_peer)
		c->cfg.max_conns_per_peer = DFT_MAX_CONNS_PER_PEER;
	if (!c->cfg.read_timeout_ms)
		c->cfg.read_timeout_ms = DFT_READ_TIMEOUT_MS;
	if (!c->cfg.idle_timeout_ms)
		c->cfg.idle_timeout_ms = DFT_IDLE_TIMEOUT_MS;
	if (!c->cfg.rx_budget)
		c->cfg.rx_budget = DFT_RX_BUDGET;
	if (!c->cfg.seq_window)
		c->cfg.seq_window = DFT_SEQ_WINDOW;
	c->tcp.budget.max = (size_t)c->cfg.rx_budget;
	if (c->cfg.tls.cert || c->cfg.tls.key || c->cfg.tls.ca) {
		char err[512];

		rc = dft_tls_ctx_create(true, &c->cfg.tls, &c->tcp.tls, err, sizeof(err));
		if (rc) {
			fprintf(stderr, "difftrace-collector: TLS: %s\n", err);
			free(c);
			return rc;
		}
	} else if (!c->cfg.insecure && c->cfg.transport == DFT_TRANSPORT_TCP) {
		fprintf(stderr, "difftrace-collector: no sender authentication: give --tls-cert, --tls-key and --tls-ca "
		                "(TCP), or --insecure to accept senders that prove nothing\n");
		free(c);
		return -EACCES;
	}
	rc = dft_rdma_hookup_init(c);
	if (rc) {
		dft_tls_ctx_destroy(c->tcp.tls);
		free(c);
		return rc;
	}
	if (c->cfg.insecure && c->cfg.transport == DFT_TRANSPORT_TCP)
		fprintf(stderr, "difftrace-collector: WARNING: --insecure: %s senders are not authenticated; any peer "
		                "that reaches the port can claim any sender id (docs/security.md)\n",
		        c->tcp.tls ? "no" : "TCP");
	if (!c->cfg.recon_delay_set)
		c->cfg.recon_delay_ms = DFT_RECON_DELAY_MS;
	if (!c->cfg.recon_profile_wait_set)
		c->cfg.recon_profile_wait_ms = DFT_RECON_PROFILE_WAIT_MS;
	c->now_ms = dft_clock_ns(CLOCK_MONOTONIC) / 1000000u;
	rc = dft_tcp_init(c);
	c->pfds = calloc(2 + dft_tcp_nfds(c), sizeof(*c->pfds));
	if (rc || !c->pfds) {
		rc = -ENOMEM;
		goto free_arrays;
	}
	rc = dft_dedup_init(&c->dedup, c->cfg.max_senders);
	if (rc)
		goto free_arrays;
	rc = dft_profiles_init(&c->profiles, DFT_PROFILES_MAX);
	if (rc)
		goto destroy_dedup;
	rcfg = (struct dft_recon_cfg){.delay_ms = c->cfg.recon_delay_ms,
				      .max_pending = c->cfg.recon_max_pending,
				      .profile_wait_ms = c->cfg.recon_profile_wait_ms};
	rc = dft_recon_create(&rcfg, &c->recon);
	if (rc)
		goto destroy_profiles;
	rc = dft_store_open(c->cfg.db_path, &c->store);
	if (rc)
		goto destroy_recon;
	rc = dft_epochs_init(c->store);
	if (!rc)
		rc = dft_store_load_senders(c->store, &c->dedup);
	if (!rc)
		rc = dft_epochs_load(c->store, &c->dedup);
	if (!rc)
		rc = dft_store_load_profiles(c->store, &c->profiles);
	if (rc) {
		fprintf(stderr, "difftrace-collector: %s: %s\n", c->cfg.db_path, dft_store_errmsg(c->store));
		goto close_store;
	}
	if (c->cfg.otlp_json_path) {
		rc = dft_otlp_json_open(c->cfg.otlp_json_path, c->cfg.otlp_json_max_bytes,
		                        c->cfg.otlp_json_keep_set ? c->cfg.otlp_json_keep : 5, &c->sinks[c->nsinks]);
		if (rc) {
			fprintf(stderr, "difftrace-collector: --otlp-json %s: %s\n", c->cfg.otlp_json_path,
			        strerror(-rc));
			goto close_store;
		}
		c->nsinks++;
	}
	if (c->cfg.otlp_http) {
		rc = dft_otlp_http_create(c->cfg.otlp_http, &c->http);
		if (rc) {
			fprintf(stderr, "difftrace-collector: --otlp-http %s: %s\n", c->cfg.otlp_http->url,
			        strerror(-rc));
			goto destroy_sinks;
		}
		dft_otlp_http_sink(c->http, &c->sinks[c->nsinks++]);
	}
	if (c->cfg.clickhouse_url) {
		rc = dft_ch_sink_open(c->cfg.clickhouse_url, &c->sinks[c->nsinks]);
		if (rc) {
			fprintf(stderr, "difftrace-collector: --clickhouse %s: %s\n", c->cfg.clickhouse_url, strerror(-rc));
			goto destroy_sinks;
		}
		c->nsinks++;
	}
	if (c->cfg.transport == DFT_TRANSPORT_RDMA)
		rc = dft_rdma_hookup_listen(c);
	else
		rc = dft_tcp_listen(c);
	if (rc)
		goto destroy_sinks;
	*out = c;
	return 0;

destroy_sinks:
	while (c->nsinks) {
		c->nsinks--;
		c->sinks[c->nsinks].ops->destroy(c->sinks[c->nsinks].ctx);
	}
close_store:
	dft_store_close(c->store);
destroy_recon:
	dft_recon_destroy(c->recon);
destroy_profiles:
	dft_profiles_destroy(&c->profiles);
destroy_dedup:
	dft_dedup_destroy(&c->dedup);
free_arrays:
	free(c->pfds);
	dft_tcp_free(c);
	dft_rdma_hookup_destroy(c);
	free(c);
	return rc;
}

uint16_t dft_collector_port(const struct dft_collector *c)
{
	return c->port;
}

void dft_collector_destroy(struct dft_collector *c)
{
	if (!c)
		return;
	/*
	 * Nothing accepted is pending (every round ends with a commit), but reconstruction candidates
	 * may be: whoever stops the collector expects complete traces, so rebuild them all now. A
	 * failed round puts them back; one more attempt, then they are given up.
	 */
	if (dft_ingest_end_round(c, UINT64_MAX))
		dft_ingest_end_round(c, UINT64_MAX);
	dft_tcp_close(c);
	/* the OTLP/HTTP sender drains (bounded) first, so the final stats hold its last figures */
	if (c->http)
		dft_otlp_http_drain(c->http);
	write_stats(c);
	dft_rdma_hookup_destroy(c);
	while (c->nsinks) {
		c->nsinks--;
		c->sinks[c->nsinks].ops->destroy(c->sinks[c->nsinks].ctx);
	}
	dft_store_close(c->store);
	dft_recon_destroy(c->recon);
	dft_profiles_destroy(&c->profiles);
	dft_dedup_destroy(&c->dedup);
	free(c->pfds);
	dft_tcp_free(c);
	free(c);
}
