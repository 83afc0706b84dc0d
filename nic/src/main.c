/* SPDX-License-Identifier: MIT */
/*
 * difftrace-nic: EAL setup, lcore launch, the main lcore's control loop, shutdown.
 *
 * Shutdown (SIGINT/SIGTERM): the worker drains every registered ring and hands over its last batch;
 * the main lcore admits what is left, waits up to 5 s for the collector's ACKs, counts whatever is
 * still unacknowledged as lost_transport, sends a zero-span batch carrying the final counters,
 * waits for its ACK (bounded), writes the stats file and exits 0.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_pause.h>

#include "epoch.h"
#include "ctx.h"
#include "idle.h"
#include "reg_server.h"
#include "tx.h"
#include "log.h"
#include "dft/reg.h"
#ifdef DFT_HAVE_RDMA
#include "reg_net.h"
#endif

#define CTL_RING_SIZE 1024u
#define BATCH_RING_SIZE 64u
#define DRAIN_ACK_S 5u
#define FINAL_ACK_S 2u

static volatile bool force_quit;

struct main_state {
	struct dft_nic_ctx ctx;
	struct dft_nic_config cfg;
	struct dft_reg_server *reg;
#ifdef DFT_HAVE_RDMA
	struct dft_reg_net *net; /* --net-listen: registration over the network, or NULL */
#endif
	const struct dft_tx_ops *txo;
	struct dft_tx *tx;
	uint64_t seq;
	struct dft_tenant_ledger ledger; /* which tenants each unacknowledged batch holds */
	struct dft_nic_region *live[DFT_NIC_MAX_REGIONS];
	unsigned n_live;
	bool worker_stopped;
	bool two_lcores;
	uint64_t next_reg_poll; /* tsc: registrations are rare, their accept/recv syscalls need not run every loop */
};

/* Transports by their --transport / [transport] type name; each one is behind struct dft_tx_ops. */
static const struct dft_tx_ops *const tx_ops[] = {
	&dft_tx_tcp_ops,
#ifdef DFT_HAVE_RDMA
	&dft_tx_rdma_ops,
#endif
};

static const struct dft_tx_ops *tx_ops_by_name(const char *name)
{
	for (size_t i = 0; i < sizeof(tx_ops) / sizeof(tx_ops[0]); i++)
		if (!strcmp(tx_ops[i]->name, name))
			return tx_ops[i];
	return NULL;
}

static void on_signal(int sig)
{
	(void)sig;
	force_quit = true;
}

void dft_idle_wait(struct dft_idle *i, int work)
{
	if (work) {
		i->empty_rounds = 0;
		return;
	}
	if (i->busy_poll || ++i->empty_rounds < 32) {
		rte_pause();
		return;
	}
	/* the cores are shared with the traced apps: sleep, growing to max_us (100 us by default) */
	{
		unsigned us = (i->empty_rounds - 31) * 10, max = i->max_us ? i->max_us : 100;
		struct timespec ts = {.tv_nsec = (long)(us > max ? max : us) * 1000};

		nanosleep(&ts, NULL);
	}
}

static void ctl_send(struct dft_nic_ctx *ctx, enum dft_ctl_type type, struct dft_nic_region *r)
{
	struct dft_ctl_msg *m = malloc(sizeof(*m));

	if (!m) {
		DFT_LOG(ERR, main, "out of memory for a control message");
		abort();
	}
	m->type = type;
	m->region = r;
	while (rte_ring_sp_enqueue(ctx->ctl_to_worker, m))
		rte_pause(); /* sized for every region twice over: only a stalled worker fills it */
}

static int on_attach(void *arg, struct dft_nic_region *r)
{
	struct main_state *ms = arg;

	/* regions still draining after their host left count too: the worker holds at most this many */
	if (ms->n_live >= DFT_NIC_MAX_REGIONS)
		return -ENOSPC;
	ms->live[ms->n_live++] = r;
	ctl_send(&ms->ctx, DFT_CTL_ATTACH, r);
	return 0;
}

static void on_detach(void *arg, struct dft_nic_region *r)
{
	struct main_state *ms = arg;

	ctl_send(&ms->ctx, DFT_CTL_DETACH, r);
}

static void forget_region(struct main_state *ms, struct dft_nic_region *r)
{
	for (unsigned i = 0; i < ms->n_live; i++)
		if (ms->live[i] == r) {
			ms->live[i] = ms->live[--ms->n_live];
			break;
		}
	dft_region_free(r);
}

static void counters_msg(Difftrace__Counters *c, uint64_t batches)
{
	struct dft_nic_snapshot s;

	dft_nic_snapshot(&s);
	difftrace__counters__init(c);
	c->produced = s.c.produced;
	c->reported = s.c.reported;
	c->filtered = s.c.filtered;
	c->lost_ring_full = s.c.lost_ring_full;
	c->lost_invalid = s.c.lost_invalid;
	c->lost_backlog_full = s.c.lost_backlog_full;
	c->lost_transport = s.c.lost_transport;
	c->lost_hold_overflow = s.c.lost_hold_overflow;
	c->lost_no_ring = s.c.lost_no_ring;
	c->batches = batches;
	c->adopted = s.c.adopted;
}

/* Give a closed batch a sequence and a place in the backlog, or count it lost. */
static int admit(struct main_state *ms, struct dft_batch *b, bool final)
{
	Difftrace__Counters c;
	uint32_t n = b ? dft_batch_spans(b) : 0, tenants[DFT_NIC_MAX_TENANTS] = {0};
	uint8_t *buf;
	size_t len;
	int rc;

	if (b)
		memcpy(tenants, dft_batch_tenants(b), sizeof(tenants));
	if (!final && !dft_backlog_has_room(ms->txo->backlog(ms->tx))) {
		dft_ctr_add(&dft_nic_ctr.lost_backlog_full, n);
		dft_tenant_lost_backlog(tenants);
		dft_batch_destroy(b);
		return -ENOBUFS;
	}
	counters_msg(&c, ms->seq + 1);
	rc = dft_batch_pack(b, ms->cfg.sender_id, ms->seq + 1, dft_clock_ns(CLOCK_REALTIME), &c, ms->txo->hdr_room,
			    &buf, &len);
	dft_batch_destroy(b);
	if (rc == 0)
		rc = ms->txo->admit(ms->tx, ms->seq + 1, n, buf, len);
	if (rc) {
		dft_ctr_add(&dft_nic_ctr.lost_backlog_full, n);
		dft_tenant_lost_backlog(tenants);
		return rc;
	}
	ms->seq++;
	dft_tenant_ledger_push(&ms->ledger, ms->seq, tenants);
	dft_ctr_add(&dft_nic_ctr.batches_admitted, 1);
	return 0;
}

static int main_step(struct main_state *ms, bool accept_regions)
{
	struct dft_nic_ctx *ctx = &ms->ctx;
	const struct dft_backlog *bl;
	void *objs[16];
	unsigned n;
	int work = 0;

	if (accept_regions && rte_rdtsc() >= ms->next_reg_poll) {
		work += dft_reg_server_poll(ms->reg, on_attach, on_detach, ms);
#ifdef DFT_HAVE_RDMA
		if (ms->net)
			work += dft_reg_net_poll(ms->net, on_attach, on_detach, ms);
#endif
		ms->next_reg_poll = rte_rdtsc() + rte_get_tsc_hz() / 1000;
	}
	n = rte_ring_sc_dequeue_burst(ctx->ctl_to_main, objs, 16, NULL);
	for (unsigned i = 0; i < n; i++) {
		struct dft_ctl_msg *m = objs[i];

		if (m->type == DFT_CTL_DETACHED)
			forget_region(ms, m->region);
		else if (m->type == DFT_CTL_STOPPED)
			ms->worker_stopped = true;
		free(m);
	}
	work += (int)n;
	n = rte_ring_sc_dequeue_burst(ctx->batches, objs, 16, NULL);
	for (unsigned i = 0; i < n; i++)
		admit(ms, objs[i], false);
	work += (int)n;
	work += ms->txo->poll(ms->tx, rte_rdtsc());
	bl = ms->txo->backlog(ms->tx);
	dft_tenant_ledger_settle(&ms->ledger, dft_backlog_acked(bl), dft_backlog_unacked(bl));
	__atomic_store_n(&dft_nic_tx_ready, ms->txo->ready(ms->tx), __ATOMIC_RELAXED);
	return work;
}

static int worker_main(void *arg)
{
	struct dft_nic_ctx *ctx = arg;
	struct dft_idle idle = {.busy_poll = ctx->cfg->busy_poll};

	while (!dft_worker_stopped(ctx))
		dft_idle_wait(&idle, dft_worker_step(ctx));
	return 0;
}

/* Run the main side (and the worker, with one lcore) until done() or the deadline (tsc, 0 = none). */
static void run_until(struct main_state *ms, bool (*done)(struct main_state *), uint64_t deadline, bool regs)
{
	/* with a worker lcore this loop is only the control plane: it may doze longer than the worker */
	struct dft_idle idle = {.busy_poll = ms->cfg.busy_poll, .max_us = ms->two_lcores ? 1000 : 100};
	uint64_t hz = rte_get_tsc_hz(), next_stats = rte_rdtsc() + hz;

	while (!done(ms) && (!deadline || rte_rdtsc() < deadline)) {
		int work = main_step(ms, regs);

		if (!ms->two_lcores)
			work += dft_worker_step(&ms->ctx);
		if (ms->cfg.stats_json && rte_rdtsc() >= next_stats) {
			dft_nic_stats_write(ms->cfg.stats_json);
			next_stats = rte_rdtsc() + hz;
		}
		dft_idle_wait(&idle, work);
	}
}

static bool quit_requested(struct main_state *ms)
{
	(void)ms;
	return force_quit;
}

static bool worker_done(struct main_state *ms)
{
	return ms->worker_stopped;
}

static bool all_acked(struct main_state *ms)
{
	return dft_backlog_unacked(ms->txo->backlog(ms->tx)) == 0;
}

static int write_ready(const char *path, const char *what)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%s\n", what);
	if (fclose(f))
		return -EIO;
	return rename(tmp, path) ? -errno : 0;
}

static int make_rings(struct dft_nic_ctx *ctx)
{
	ctx->ctl_to_worker = rte_ring_create("dft_ctl_w", CTL_RING_SIZE, (int)rte_socket_id(),
					     RING_F_SP_ENQ | RING_F_SC_DEQ);
	ctx->ctl_to_main = rte_ring_create("dft_ctl_m", CTL_RING_SIZE, (int)rte_socket_id(),
					   RING_F_SP_ENQ | RING_F_SC_DEQ);
	ctx->batches = rte_ring_create("dft_batches", BATCH_RING_SIZE, (int)rte_socket_id(),
				       RING_F_SP_ENQ | RING_F_SC_DEQ);
	return ctx->ctl_to_worker && ctx->ctl_to_main && ctx->batches ? 0 : -ENOMEM;
}

int main(int argc, char **argv)
{
	static struct main_state ms;
	struct dft_nic_ctx *ctx = &ms.ctx;
	unsigned worker = RTE_MAX_LCORE;
	int app_at = argc, rc;
	uint64_t hz;
	void *obj = NULL;

	/* stats files and the socket are made by this process: never readable by others (the socket
	 * is set to 0660 where it is made, the group chosen with --socket-group) */
	umask(umask(0) | 027);
	/* our options come after `--`; parse them before EAL so a typo costs no EAL start */
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--")) {
			app_at = i;
			break;
		}
	{
		char *app_argv[argc - app_at + 2];
		int app_argc = 0;

		app_argv[app_argc++] = argv[0];
		for (int i = app_at + 1; i < argc; i++)
			app_argv[app_argc++] = argv[i];
		app_argv[app_argc] = NULL;
		for (int i = 1; i < app_at; i++)
			if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
				dft_nic_usage(argv[0]);
				return 0;
			}
		rc = dft_nic_config_parse(&ms.cfg, app_argc, app_argv);
		if (rc == 1)
			return 0;
		if (rc)
			return 2;
	}
	rc = rte_eal_init(app_at, argv);
	if (rc < 0) {
		fprintf(stderr, "difftrace-nic: EAL init failed: %s\n", rte_strerror(rte_errno));
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);

	hz = rte_get_tsc_hz();
	ctx->cfg = &ms.cfg;
	{
		struct dft_ingest_cfg ic = {.name = ms.cfg.ingest, .evict_slots = ms.cfg.evict_slots};

		rc = dft_ingest_create(&ic, &ctx->ingest);
	}
	if (rc) {
		if (rc == -ENOENT)
			DFT_LOG(ERR, main, "ingest backend '%s' is not built in", ms.cfg.ingest);
		else
			DFT_LOG(ERR, main, "ingest backend '%s': %s", ms.cfg.ingest, strerror(-rc));
		rc = 2;
		goto cleanup_eal;
	}
	ctx->tsc_hz = hz;
	ctx->flush_tsc = hz / 1000000 * ms.cfg.flush_us;
	rc = dft_worker_init(ctx);
	if (rc) {
		DFT_LOG(ERR, main, "filter state: %s", strerror(-rc));
		rc = 1;
		goto destroy_ingest;
	}
	if (make_rings(ctx)) {
		DFT_LOG(ERR, main, "cannot create rings: %s", rte_strerror(rte_errno));
		rc = 1;
		goto fini_worker;
	}
	rc = dft_nic_epoch_init();
	if (rc) {
		DFT_LOG(ERR, main, "epoch: %s", strerror(-rc));
		rc = 1;
		goto free_rings;
	}
	DFT_LOG(INFO, main, "sender %016" PRIx64 " epoch %016" PRIx64, ms.cfg.sender_id, dft_nic_epoch);
	ms.txo = tx_ops_by_name(ms.cfg.transport);
	if (!ms.txo) {
		DFT_LOG(ERR, main, "transport '%s' is not built in", ms.cfg.transport);
		rc = 2;
		goto free_rings;
	}
	rc = ms.txo->create(&ms.cfg, &ms.tx);
	if (rc) {
		DFT_LOG(ERR, main, "transport: %s", strerror(-rc));
		rc = 1;
		goto free_rings;
	}
	/* every batch the backlog can hold, and the final one */
	rc = dft_tenant_ledger_init(&ms.ledger, ms.cfg.backlog + 2);
	if (rc) {
		DFT_LOG(ERR, main, "tenant ledger: %s", strerror(-rc));
		rc = 1;
		goto destroy_tx;
	}
	rc = dft_reg_server_create(ms.cfg.socket_path, ms.cfg.sender_id, &ms.reg);
	if (rc) {
		DFT_LOG(ERR, main, "--socket %s: %s", ms.cfg.socket_path, strerror(-rc));
		rc = 1;
		goto destroy_tx;
	}
	rc = dft_reg_server_secure(ms.reg, &ms.cfg.reg_allow, ms.cfg.reg_socket_gid, ms.cfg.reg_await_ms);
	if (rc) {
		DFT_LOG(ERR, main, "--socket %s: group %lld: %s", ms.cfg.socket_path, (long long)ms.cfg.reg_socket_gid,
			strerror(-rc));
		rc = 1;
		goto destroy_reg;
	}
#ifdef DFT_HAVE_RDMA
	if (ctx->ingest->ops == &dft_ingest_rdma_read_ops) {
		char addr[DFT_REG_ADDR_MAX];
		uint16_t port;

		/* before any host registers: the registration reply names this listener */
		rc = dft_ingest_rdma_read_listen(ctx->ingest, ms.cfg.rdma_ingest_bind, addr, sizeof(addr), &port);
		if (!rc)
			rc = dft_reg_server_rdma_at(ms.reg, addr, port);
		if (rc) {
			DFT_LOG(ERR, main, "--rdma-ingest-bind %s: %s%s", ms.cfg.rdma_ingest_bind, strerror(-rc),
				rc == -EDESTADDRREQ ? " (give the address hosts should connect to, not a wildcard)" : "");
			rc = 1;
			goto destroy_reg;
		}
	}
	if (ms.cfg.net_listen[0]) {
		rc = dft_reg_net_create(ms.cfg.net_listen, &ms.net);
		if (rc) {
			DFT_LOG(ERR, main, "--net-listen %s: %s%s", ms.cfg.net_listen, strerror(-rc),
				rc == -ENODEV ? " (no RDMA device has that address)" : "");
			rc = 1;
			goto destroy_reg;
		}
	}
#endif
	dft_tenants_publish(&ms.cfg.tenants);
	rc = dft_nic_telemetry_register();
	if (rc)
		DFT_LOG(ERR, main, "telemetry command not registered: %s", strerror(-rc));
	worker = rte_get_next_lcore(-1, 1, 0);
	ms.two_lcores = worker < RTE_MAX_LCORE;
	if (ms.two_lcores && rte_eal_remote_launch(worker_main, ctx, worker)) {
		DFT_LOG(ERR, main, "cannot launch the worker lcore");
		rc = 1;
		goto destroy_reg;
	}
	if (ms.cfg.ready_file && write_ready(ms.cfg.ready_file, ms.cfg.socket_path))
		DFT_LOG(ERR, main, "cannot write --ready-file %s", ms.cfg.ready_file);

	run_until(&ms, quit_requested, 0, true);

	/* drain: the worker empties the rings it has and hands over its last batch */
	ctl_send(ctx, DFT_CTL_STOP, NULL);
	run_until(&ms, worker_done, 0, false);
	while (rte_ring_sc_dequeue(ctx->batches, &obj) == 0)
		admit(&ms, obj, false);
	run_until(&ms, all_acked, rte_rdtsc() + DRAIN_ACK_S * hz, false);
	dft_ctr_add(&dft_nic_ctr.lost_transport, ms.txo->discard(ms.tx));
	dft_tenant_ledger_settle(&ms.ledger, dft_backlog_acked(ms.txo->backlog(ms.tx)), 0);
	if (admit(&ms, NULL, true) == 0)
		run_until(&ms, all_acked, rte_rdtsc() + FINAL_ACK_S * hz, false);
	ms.txo->discard(ms.tx); /* an unacknowledged final batch holds no spans */
	if (ms.cfg.stats_json && (rc = dft_nic_stats_write(ms.cfg.stats_json)))
		DFT_LOG(ERR, main, "--stats-json %s: %s", ms.cfg.stats_json, strerror(-rc));
	rc = 0;
	if (ms.two_lcores)
		rte_eal_wait_lcore(worker);

destroy_reg:
	dft_reg_server_destroy(ms.reg);
	while (ms.n_live)
		forget_region(&ms, ms.live[0]);
#ifdef DFT_HAVE_RDMA
	dft_reg_net_destroy(ms.net); /* after the regions: each frees its own connection */
#endif
destroy_tx:
	dft_tenant_ledger_fini(&ms.ledger);
	ms.txo->destroy(ms.tx);
free_rings:
	while (ctx->ctl_to_main && rte_ring_dequeue(ctx->ctl_to_main, &obj) == 0)
		free(obj);
	while (ctx->ctl_to_worker && rte_ring_dequeue(ctx->ctl_to_worker, &obj) == 0)
		free(obj);
	rte_ring_free(ctx->ctl_to_worker);
	rte_ring_free(ctx->ctl_to_main);
	while (ctx->batches && rte_ring_dequeue(ctx->batches, &obj) == 0)
		dft_batch_destroy(obj);
	rte_ring_free(ctx->batches);
fini_worker:
	dft_worker_fini(ctx);
destroy_ingest:
	/* before EAL cleanup: a DMA device's worker must stop before EAL closes it */
	dft_ingest_destroy(ctx->ingest);
cleanup_eal:
	rte_eal_cleanup();
	return rc;
}
