/* SPDX-License-Identifier: MIT */
/* Tenants (tenant.h): configuration, membership, and the worker's fair-share scheduling. */
#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "dft/parse.h"
#include "ctr.h"
#include "tenant.h"

struct dft_tenant_ctr dft_tenant_ctr[DFT_NIC_MAX_TENANTS];

void dft_tenants_cfg_defaults(struct dft_tenants_cfg *c)
{
	memset(c, 0, sizeof(*c));
	c->n = 1;
	snprintf(c->t[0].name, sizeof(c->t[0].name), "default");
	c->t[0].weight = 1;
	c->t[0].backlog_share_pct = 100;
}

static int fail(char *why, size_t len, const char *msg, const char *arg)
{
	snprintf(why, len, msg, arg);
	return -EINVAL;
}

static int find_or_add(struct dft_tenants_cfg *c, const char *name, char *why, size_t wl)
{
	size_t len = strlen(name);

	if (len == 0 || len > DFT_NAME_MAX)
		return fail(why, wl, "tenant name '%s': 1..62 bytes", name);
	/* names go into JSON and telemetry keys as they are */
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '_' || *p == '.'))
			return fail(why, wl, "tenant name '%s': letters, digits, '-', '_' and '.' only", name);
	for (unsigned i = 0; i < c->n; i++)
		if (!strcmp(c->t[i].name, name))
			return (int)i;
	if (c->n >= DFT_NIC_MAX_TENANTS)
		return fail(why, wl, "tenant '%s': at most 16 tenants, \"default\" included", name);
	memset(&c->t[c->n], 0, sizeof(c->t[0]));
	memcpy(c->t[c->n].name, name, len + 1);
	c->t[c->n].weight = 1;
	c->t[c->n].backlog_share_pct = 100;
	return (int)c->n++;
}

/* Split a,b,c into members; each item goes to add(). */
static int each_item(const char *v, char *why, size_t wl, int (*add)(void *, const char *, char *, size_t), void *arg)
{
	char buf[1024];
	char *save = NULL;

	if (snprintf(buf, sizeof(buf), "%s", v) >= (int)sizeof(buf))
		return fail(why, wl, "list too long%s", "");
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		int rc;

		while (*tok == ' ')
			tok++;
		for (char *e = tok + strlen(tok); e > tok && e[-1] == ' ';)
			*--e = 0;
		if (!*tok)
			return fail(why, wl, "empty item in '%s'", v);
		rc = add(arg, tok, why, wl);
		if (rc)
			return rc;
	}
	return 0;
}

static int add_component(void *arg, const char *s, char *why, size_t wl)
{
	struct dft_tenant_cfg *t = arg;

	if (strlen(s) > DFT_NAME_MAX)
		return fail(why, wl, "component '%s': at most 62 bytes", s);
	if (t->n_components >= DFT_TENANT_MAX_MEMBERS)
		return fail(why, wl, "more than 16 components (at '%s')", s);
	snprintf(t->components[t->n_components++], sizeof(t->components[0]), "%s", s);
	return 0;
}

static int add_uid(void *arg, const char *s, char *why, size_t wl)
{
	struct dft_tenant_cfg *t = arg;
	uint64_t u;

	if (dft_parse_u64(s, 0, UINT32_MAX - 1, &u))
		return fail(why, wl, "uid '%s': expected a number", s);
	if (t->n_uids >= DFT_TENANT_MAX_MEMBERS)
		return fail(why, wl, "more than 16 uids (at '%s')", s);
	t->uids[t->n_uids++] = (uint32_t)u;
	return 0;
}

int dft_tenants_cfg_set(struct dft_tenants_cfg *c, const char *name, const char *key, const char *value, char *why,
			size_t why_len)
{
	struct dft_tenant_cfg *t;
	uint64_t u;
	int i = find_or_add(c, name, why, why_len);

	if (i < 0)
		return i;
	t = &c->t[i];
	if (!strcmp(key, "components")) {
		t->n_components = 0;
		return each_item(value, why, why_len, add_component, t);
	}
	if (!strcmp(key, "uids")) {
		t->n_uids = 0;
		return each_item(value, why, why_len, add_uid, t);
	}
	if (!strcmp(key, "weight")) {
		if (dft_parse_u64(value, 1, 1000, &u))
			return fail(why, why_len, "expected an integer in 1..1000, got '%s'", value);
		t->weight = (uint32_t)u;
		return 0;
	}
	if (!strcmp(key, "max_spans_per_s")) {
		if (dft_parse_u64(value, 0, 1000000000ull, &u))
			return fail(why, why_len, "expected an integer in 0..1000000000, got '%s'", value);
		t->max_spans_per_s = u;
		return 0;
	}
	if (!strcmp(key, "backlog_share_pct")) {
		if (dft_parse_u64(value, 1, 100, &u))
			return fail(why, why_len, "expected an integer in 1..100, got '%s'", value);
		t->backlog_share_pct = (uint32_t)u;
		return 0;
	}
	return fail(why, why_len, "unknown key%s (components, uids, weight, max_spans_per_s, backlog_share_pct)", "");
}

unsigned dft_tenant_of(const struct dft_tenants_cfg *c, bool has_uid, uint32_t uid, const char *component)
{
	/* the uid is proven (peer credentials); the component is what the region's header says, so it
	 * comes second: a process cannot join a tenant by naming its component when uids decide */
	for (unsigned i = 0; has_uid && i < c->n; i++)
		for (unsigned k = 0; k < c->t[i].n_uids; k++)
			if (c->t[i].uids[k] == uid)
				return i;
	for (unsigned i = 0; component && i < c->n; i++)
		for (unsigned k = 0; k < c->t[i].n_components; k++)
			if (!strcmp(c->t[i].components[k], component))
				return i;
	return 0;
}

void dft_tenant_sched_step(struct dft_tenant_sched *s, const struct dft_tenants_cfg *c, uint64_t tsc,
			   uint64_t tsc_hz)
{
	double dt = s->last_tsc && tsc > s->last_tsc && tsc_hz ? (double)(tsc - s->last_tsc) / (double)tsc_hz : 0;

	s->last_tsc = tsc;
	for (unsigned i = 0; i < c->n; i++) {
		int64_t q = (int64_t)c->t[i].weight * DFT_TENANT_QUANTUM;

		/* credit does not pile up while a tenant is idle: at most two quanta */
		s->deficit[i] = s->deficit[i] + q > 2 * q ? 2 * q : s->deficit[i] + q;
		if (c->t[i].max_spans_per_s) {
			double cap = (double)c->t[i].max_spans_per_s / 10.0 + DFT_TENANT_QUANTUM; /* 100 ms burst */

			s->tokens[i] += dt * (double)c->t[i].max_spans_per_s;
			if (s->tokens[i] > cap)
				s->tokens[i] = cap;
		}
	}
}

bool dft_tenant_may_poll(struct dft_tenant_sched *s, const struct dft_tenants_cfg *c, unsigned i,
			 uint64_t backlog_spans, bool fair)
{
	const struct dft_tenant_ctr *t = &dft_tenant_ctr[i];
	bool ok = !fair || s->deficit[i] > 0;

	if (ok && c->t[i].max_spans_per_s && s->tokens[i] < 1.0)
		ok = false;
	if (ok && c->t[i].backlog_share_pct < 100) {
		/* batched and not yet settled by main: the tenant's share of the backlog in use */
		uint64_t settled = dft_ctr_get(&t->reported) + dft_ctr_get(&t->lost_backlog_full) +
				   dft_ctr_get(&t->lost_transport);
		uint64_t batched = t->batched, in_flight = batched > settled ? batched - settled : 0;

		if (in_flight * 100 >= backlog_spans * c->t[i].backlog_share_pct)
			ok = false;
	}
	if (!ok && fair)
		dft_ctr_add(&dft_tenant_ctr[i].deferred, 1);
	return ok;
}

void dft_tenant_spend(struct dft_tenant_sched *s, const struct dft_tenants_cfg *c, unsigned i, uint32_t n)
{
	s->deficit[i] -= n;
	if (c->t[i].max_spans_per_s) /* a tenant without a quota has no bucket to drain */
		s->tokens[i] -= n;
	dft_ctr_add(&dft_tenant_ctr[i].consumed, n);
}

int dft_tenant_ledger_init(struct dft_tenant_ledger *l, uint32_t cap)
{
	memset(l, 0, sizeof(*l));
	l->e = calloc(cap, sizeof(*l->e));
	if (!l->e)
		return -ENOMEM;
	l->cap = cap;
	return 0;
}

void dft_tenant_ledger_fini(struct dft_tenant_ledger *l)
{
	free(l->e);
	memset(l, 0, sizeof(*l));
}

static void ledger_pop(struct dft_tenant_ledger *l, bool reported)
{
	const struct dft_ledger_entry *e = &l->e[l->first];

	for (unsigned t = 0; t < DFT_NIC_MAX_TENANTS; t++) {
		if (!e->n[t])
			continue;
		if (reported)
			dft_ctr_add(&dft_tenant_ctr[t].reported, e->n[t]);
		else
			dft_ctr_add(&dft_tenant_ctr[t].lost_transport, e->n[t]);
	}
	l->first = (l->first + 1) % l->cap;
	l->count--;
}

void dft_tenant_ledger_push(struct dft_tenant_ledger *l, uint64_t seq, const uint32_t *n)
{
	struct dft_ledger_entry *e;

	if (!l->cap)
		return;
	/* cannot happen (sized for the backlog and the final batch); if it did, the oldest batch
	 * must have left the transport already: it was lost, not reported */
	if (l->count == l->cap)
		ledger_pop(l, false);
	e = &l->e[(l->first + l->count) % l->cap];
	e->seq = seq;
	memcpy(e->n, n, sizeof(e->n));
	l->count++;
}

void dft_tenant_ledger_settle(struct dft_tenant_ledger *l, uint64_t acked_seq, uint32_t unacked)
{
	while (l->count && l->e[l->first].seq <= acked_seq)
		ledger_pop(l, true);
	/* the transport dropped its oldest batches unacknowledged (lost_transport): the same ones */
	while (l->count > unacked)
		ledger_pop(l, false);
}

void dft_tenant_lost_backlog(const uint32_t *n)
{
	for (unsigned t = 0; t < DFT_NIC_MAX_TENANTS; t++)
		if (n[t])
			dft_ctr_add(&dft_tenant_ctr[t].lost_backlog_full, n[t]);
}

static const struct dft_tenants_cfg *published;

void dft_tenants_publish(const struct dft_tenants_cfg *c)
{
	__atomic_store_n(&published, c, __ATOMIC_RELEASE);
}

const struct dft_tenants_cfg *dft_tenants_published(void)
{
	return __atomic_load_n(&published, __ATOMIC_ACQUIRE);
}

uint64_t dft_tenant_snapshot(unsigned i, struct dft_tenant_ctr *o)
{
	const struct dft_tenant_ctr *t = &dft_tenant_ctr[i];
	uint64_t out;

	/* main's settlements first: a span is batched (worker) before it is settled (main) */
	o->reported = dft_ctr_get(&t->reported);
	o->lost_backlog_full = dft_ctr_get(&t->lost_backlog_full);
	o->lost_transport = dft_ctr_get(&t->lost_transport);
	o->filtered = dft_ctr_get(&t->filtered);
	o->lost_invalid = dft_ctr_get(&t->lost_invalid);
	o->lost_hold_overflow = dft_ctr_get(&t->lost_hold_overflow);
	o->batched = dft_ctr_get(&t->batched);
	o->held = dft_ctr_get(&t->held);
	o->deferred = dft_ctr_get(&t->deferred);
	o->consumed = dft_ctr_get(&t->consumed);
	o->lost_ring_full = dft_ctr_get(&t->lost_ring_full);
	o->lost_no_ring = dft_ctr_get(&t->lost_no_ring);
	o->produced = dft_ctr_get(&t->produced);
	out = o->reported + o->filtered + o->lost_ring_full + o->lost_no_ring + o->lost_invalid + o->lost_hold_overflow +
	      o->lost_backlog_full + o->lost_transport;
	return o->produced > out ? o->produced - out : 0;
}
