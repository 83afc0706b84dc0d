/* SPDX-License-Identifier: MIT */
/*
 * The collector's RDMA transport (rdma_hookup.c): the RDMA server (dft/rdma.h) on the listen port,
 * its completions handed to the ingest core, its credits returned when a round commits, and a
 * restart that drops every connection when one rolls back. Without the verbs libraries
 * (no DFT_HAVE_RDMA) every call is a stub: the collector refuses --transport rdma before any.
 */
#ifndef DFT_RDMA_HOOKUP_H
#define DFT_RDMA_HOOKUP_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "dft/rdma.h"

struct dft_collector;
struct dft_rdma_trust;

struct dft_rdma_hookup {
	struct dft_rdma_server *server;    /* NULL: TCP, closed for holdoff_ms, or a reopen failed */
	struct dft_rdma_server_stats base; /* what servers before a restart counted */
	struct dft_rdma_trust *trust;      /* NULL: --insecure, no keys */
	uint64_t round_batches;            /* RDMA batches handed over in this round */
	/* after a rolled-back round the port stays closed this long (doubling while rounds keep
	 * failing, 0 once one commits), so senders back off instead of resending at once */
	uint32_t holdoff_ms;
	uint64_t reopen_at_ms;             /* 0: open, or a reopen failed */
};

#ifdef DFT_HAVE_RDMA
/* For --transport rdma: the sender keys (rdma_trust.c). 0 or -errno (the reason printed). */
int dft_rdma_hookup_init(struct dft_collector *c);
/* Starts the server on cfg.listen_port and sets the collector's port. 0 or -errno (printed). */
int dft_rdma_hookup_listen(struct dft_collector *c);
void dft_rdma_hookup_destroy(struct dft_collector *c);
/* The connection manager's fd for poll(), or -1. */
int dft_rdma_hookup_fd(const struct dft_collector *c);
/* Hands every RDMA completion of this round to the ingest path, or reopens the port once its
 * holdoff is over. 0, or -EIO once the port cannot be reopened. */
int dft_rdma_hookup_poll(struct dft_collector *c);
/* The round committed: return the credits; or it rolled back with RDMA batches in it: close the
 * port (every connection drops) and reopen it after the holdoff. */
void dft_rdma_hookup_round_end(struct dft_collector *c, bool committed);
/* The server's figures into the collector's stats, over every incarnation. */
void dft_rdma_hookup_stats(struct dft_collector *c);
#else
static inline int dft_rdma_hookup_init(struct dft_collector *c)
{
	(void)c;
	return 0;
}
static inline int dft_rdma_hookup_listen(struct dft_collector *c)
{
	(void)c;
	return -EPROTONOSUPPORT;
}
static inline void dft_rdma_hookup_destroy(struct dft_collector *c)
{
	(void)c;
}
static inline int dft_rdma_hookup_fd(const struct dft_collector *c)
{
	(void)c;
	return -1;
}
static inline int dft_rdma_hookup_poll(struct dft_collector *c)
{
	(void)c;
	return 0;
}
static inline void dft_rdma_hookup_round_end(struct dft_collector *c, bool committed)
{
	(void)c;
	(void)committed;
}
static inline void dft_rdma_hookup_stats(struct dft_collector *c)
{
	(void)c;
}
#endif

#endif /* DFT_RDMA_HOOKUP_H */
