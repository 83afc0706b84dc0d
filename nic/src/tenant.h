/* SPDX-License-Identifier: MIT */
/*
 * Tenants: a DPU serves every process on its host, so one tenant must not be able to cost another
 * its spans or its accounting. A tenant is a configured set of components and/or uids
 * ([tenant.NAME] sections); a region belongs to the first tenant that names its registering
 * process's uid (SO_PEERCRED, not a claim), else the first that names its component, else the
 * tenant "default".
 *
 *   accounting  every span is counted against its region's tenant, from what the NIC itself saw
 *               (ring positions consumed, slots validated, decisions) and from the host's counters
 *               clamped per ring; a lying region spoils its own tenant's account only.
 *   polling     deficit round robin: each worker step a tenant earns weight x DFT_TENANT_QUANTUM
 *               slots of reading and spends what it reads; a tenant without credit is not polled
 *               this step (its spans wait in its own rings, and a full ring drops on its own host).
 *   quotas      max_spans_per_s (token bucket on slots read) and backlog_share (spans batched and
 *               not yet acknowledged, as a share of the backlog): over either, its regions wait.
 *
 * Counters have one writer each: the worker's fields and the main lcore's fields are separate.
 */
#ifndef DFT_NIC_TENANT_H
#define DFT_NIC_TENANT_H

#include <stdbool.h>
#include <stdint.h>

#include "dft/abi.h"

#define DFT_NIC_MAX_TENANTS 16u       /* including "default" (index 0) */
#define DFT_TENANT_MAX_MEMBERS 16u    /* components and uids per tenant, each */
#define DFT_TENANT_QUANTUM 64u        /* slots per weight unit per worker step */

struct dft_tenant_cfg {
	char name[DFT_NAME_MAX + 1];
	unsigned n_components, n_uids;
	char components[DFT_TENANT_MAX_MEMBERS][DFT_NAME_MAX + 1];
	uint32_t uids[DFT_TENANT_MAX_MEMBERS];
	uint32_t weight;            /* 1..1000 */
	uint64_t max_spans_per_s;   /* 0 = no quota */
	uint32_t backlog_share_pct; /* 1..100: of backlog x batch spans in flight at most */
};

struct dft_tenants_cfg {
	unsigned n; /* tenants[0] is "default" */
	struct dft_tenant_cfg t[DFT_NIC_MAX_TENANTS];
};

/* Defaults: the one tenant "default", weight 1, no quota, the whole backlog. */
void dft_tenants_cfg_defaults(struct dft_tenants_cfg *c);
/* [tenant.NAME] key = value (keys: components, uids, weight, max_spans_per_s, backlog_share_pct).
 * 0, or -EINVAL with why filled (a bad value, an unknown key, too many tenants or members). */
int dft_tenants_cfg_set(struct dft_tenants_cfg *c, const char *name, const char *key, const char *value, char *why,
			size_t why_len);
/* The tenant of a region: by uid first (has_uid: the registration's peer credentials were read),
 * then by component name, else 0 ("default"). */
unsigned dft_tenant_of(const struct dft_tenants_cfg *c, bool has_uid, uint32_t uid, const char *component);

/* Per tenant counters. Worker-written: */
struct dft_tenant_ctr {
	uint64_t produced, lost_ring_full, lost_no_ring; /* host claims, clamped per ring, summed */
	uint64_t consumed;                               /* slots the NIC read (its own count) */
	uint64_t filtered, lost_invalid, lost_hold_overflow, batched;
	uint64_t held;      /* gauge */
	uint64_t deferred;  /* worker steps its regions waited: no credit, over quota or backlog share */
	/* main-written: */
	uint64_t reported, lost_backlog_full, lost_transport;
};

extern struct dft_tenant_ctr dft_tenant_ctr[DFT_NIC_MAX_TENANTS];

/* A consistent-enough copy of tenant i's counters (main's first, as for the NIC-wide snapshot, so
 * in_flight never goes negative) and its in_flight: produced - reported - filtered - lost_*. */
uint64_t dft_tenant_snapshot(unsigned i, struct dft_tenant_ctr *out);
/* The tenants the stats JSON and /difftrace/tenants report (set once at start by main). */
void dft_tenants_publish(const struct dft_tenants_cfg *c);
const struct dft_tenants_cfg *dft_tenants_published(void);

/* Worker-side scheduling state. */
struct dft_tenant_sched {
	int64_t deficit[DFT_NIC_MAX_TENANTS];
	double tokens[DFT_NIC_MAX_TENANTS];
	uint64_t last_tsc;
};

/* Start of a worker step: earn credit and quota tokens. */
void dft_tenant_sched_step(struct dft_tenant_sched *s, const struct dft_tenants_cfg *c, uint64_t tsc,
			   uint64_t tsc_hz);
/* May tenant i's regions be read now? fair: its fair share (credit) counts too, else only its quotas
 * (the second, work-conserving pass of a step). Counts a deferral when not. */
bool dft_tenant_may_poll(struct dft_tenant_sched *s, const struct dft_tenants_cfg *c, unsigned i,
			 uint64_t backlog_spans, bool fair);
/* Tenant i read n slots. */
void dft_tenant_spend(struct dft_tenant_sched *s, const struct dft_tenants_cfg *c, unsigned i, uint32_t n);

/*
 * Main lcore: which tenants' spans each admitted batch holds, until the transport settles it. A
 * batch acknowledged (sequence <= the transport's acknowledged one) is reported for its tenants;
 * one the transport gave up (fewer unacknowledged batches than the ledger holds, or discarded at
 * shutdown) is lost_transport for them. Bounded by the backlog.
 */
struct dft_tenant_ledger {
	uint32_t cap, first, count;
	struct dft_ledger_entry {
		uint64_t seq;
		uint32_t n[DFT_NIC_MAX_TENANTS];
	} *e;
};

int dft_tenant_ledger_init(struct dft_tenant_ledger *l, uint32_t cap);
void dft_tenant_ledger_fini(struct dft_tenant_ledger *l);
/* Batch seq holding n[t] spans of tenant t was admitted. */
void dft_tenant_ledger_push(struct dft_tenant_ledger *l, uint64_t seq, const uint32_t *n);
/* Settle against the transport: acked_seq acknowledged, unacked batches still held by it. */
void dft_tenant_ledger_settle(struct dft_tenant_ledger *l, uint64_t acked_seq, uint32_t unacked);
/* Count spans lost before admission (backlog full) for their tenants. */
void dft_tenant_lost_backlog(const uint32_t *n);

#endif /* DFT_NIC_TENANT_H */
