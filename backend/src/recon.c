/* SPDX-License-Identifier: MIT */
/*
 * Export of the platform spans the NIC filtered out. A function span carries the hops its request
 * passed through (span id, parent, start, and a hash of component and operation); a hop whose span
 * is not stored was filtered. Nothing rebuilt is stored (the store keeps the hop lists and the
 * profiles, and every reader rebuilds from them, rebuild.h): this module only decides when the
 * collector exports the rebuilt spans, and exports what a reader of the store would see then.
 *
 * A hop is not exported at once: the NIC holds platform spans for a while before deciding, so the
 * real span may still come. Each function span's hops wait as one chain for delay_ms; when due,
 * the trace is read back from the store in the open transaction and rebuilt (trace_read.h), and the
 * rebuilt spans this function span's list owns (the first function span, in start order, naming a
 * hop owns it) go to the sinks. Chains are queued in arrival order, which is due order since the
 * delay is constant.
 *
 * Profiles: a reader asks for the profile of the function span's end plus DFT_RB_LAG_NS. A chain
 * is exported once its sender has shipped a snapshot newer than that (its batches arrive in order,
 * so no older one is still on its way and the export is what every later read rebuilds), or after
 * profile_wait_ms more (a sender without profiles, or one that stopped; 0: export at the delay
 * with what is known then).
 *
 * Names: a chain with a candidate whose name no profile knows yet goes to the back of the queue for
 * another delay, up to NAME_RETRIES times; after that it is exported under component "unresolved"
 * (counted). A reader later resolves it from profiles stored since.
 *
 * Span kinds: every stored span votes for its name's kind; the votes of a round go to the store's
 * span_kinds table before that round's rebuilds, so export and readers see the same majority.
 *
 * Everything follows the store's transaction: chains added and spans exported in a round that
 * rolls back are undone with it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dft/hops.h"
#include "profiles.h"
#include "rebuild.h"
#include "recon.h"
#include "store_sqlite.h"
#include "trace_read.h"

#define DEFAULT_MAX_PENDING 65536u
#define NAME_RETRIES        3u
#define KINDS_MAX           4096u /* (component, operation) names whose span kind is learned */
#define KINDS_CAP           8192u /* open addressing, power of two, >= 2 * KINDS_MAX */
#define SPAN_KIND_MAX       5u

/* votes per OTLP span kind 1..5 of the real spans of one name hash, in the open round */
struct kind_ent {
	uint32_t hash;
	bool used;
	uint32_t votes[SPAN_KIND_MAX];
};

struct chain {
	struct chain *next;
	uint64_t due_ms;
	uint64_t give_up_ms; /* exported then even without a snapshot past at_ns */
	uint64_t at_ns;      /* the profile time a reader asks for (rebuild.h) */
	uint64_t sender_id;
	uint64_t round; /* the round that added it */
	uint32_t retries;
	uint8_t trace_id[16];
	uint64_t fn_span_id;
	uint32_t n_hops;
	uint32_t n_candidates;
	uint32_t hashes[]; /* the candidates' name hashes */
};

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

struct dft_recon {
	struct dft_recon_cfg cfg;
	struct chain *head, *tail; /* waiting, oldest first */
	struct chain *taken;       /* exported in the open round, newest first */
	uint64_t round;
	uint64_t round_synth;
	struct dft_recon_stats st;
	struct kind_ent *kinds; /* KINDS_CAP entries */
	uint16_t *kinds_used;   /* the slots in use, KINDS_MAX */
	uint32_t n_kinds;
	struct dft_treader *reader; /* on the store's connection, made at the first export */
	struct dft_store *reader_store;
	struct dft_rb_out out;
};

int dft_recon_create(const struct dft_recon_cfg *cfg, struct dft_recon **out)
{
	struct dft_recon *r;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->kinds = calloc(KINDS_CAP, sizeof(*r->kinds));
	r->kinds_used = calloc(KINDS_MAX, sizeof(*r->kinds_used));
	if (!r->kinds || !r->kinds_used) {
		free(r->kinds_used);
		free(r->kinds);
		free(r);
		return -ENOMEM;
	}
	r->cfg = *cfg;
	if (!r->cfg.max_pending)
		r->cfg.max_pending = DEFAULT_MAX_PENDING;
	*out = r;
	return 0;
}

static void free_list(struct chain *c)
{
	while (c) {
		struct chain *next = c->next;

		free(c);
		c = next;
	}
}

void dft_recon_destroy(struct dft_recon *r)
{
	if (!r)
		return;
	free_list(r->head);
	free_list(r->taken);
	dft_treader_destroy(r->reader);
	dft_rb_out_free(&r->out);
	free(r->kinds_used);
	free(r->kinds);
	free(r);
}

static struct kind_ent *kind_slot(const struct dft_recon *r, uint32_t hash)
{
	for (uint32_t i = hash & (KINDS_CAP - 1);; i = (i + 1) & (KINDS_CAP - 1))
		if (!r->kinds[i].used || r->kinds[i].hash == hash)
			return &r->kinds[i];
}

/* A real span of this name was stored with this kind. Saturating votes; a full table is counted. */
static void kind_learn(struct dft_recon *r, uint32_t hash, uint32_t span_kind)
{
	struct kind_ent *e;

	if (span_kind == 0 || span_kind > SPAN_KIND_MAX)
		return;
	e = kind_slot(r, hash);
	if (!e->used) {
		if (r->n_kinds >= KINDS_MAX) {
			r->st.kinds_cut++;
			return;
		}
		e->used = true;
		e->hash = hash;
		r->kinds_used[r->n_kinds++] = (uint16_t)(e - r->kinds);
	}
	if (e->votes[span_kind - 1] < UINT32_MAX)
		e->votes[span_kind - 1]++;
}

/* The round's votes go to the store (or are forgotten with a round that rolls back). */
static int kinds_flush(struct dft_recon *r, struct dft_store *st)
{
	for (uint32_t i = 0; i < r->n_kinds; i++) {
		struct kind_ent *e = &r->kinds[r->kinds_used[i]];

		for (uint32_t k = 0; k < SPAN_KIND_MAX; k++) {
			int rc = e->votes[k] ? dft_store_put_kind(st, e->hash, k + 1, e->votes[k]) : 0;

			if (rc)
				return rc;
		}
	}
	return 0;
}

static void kinds_clear(struct dft_recon *r)
{
	for (uint32_t i = 0; i < r->n_kinds; i++)
		memset(&r->kinds[r->kinds_used[i]], 0, sizeof(r->kinds[0]));
	r->n_kinds = 0;
}

static bool seen_before(const Difftrace__Span *fn, size_t k)
{
	for (size_t j = 0; j < k; j++)
		if (fn->hops[j]->span_id == fn->hops[k]->span_id)
			return true;
	return false;
}

int dft_recon_add(struct dft_recon *r, struct dft_store *st, const Difftrace__SpanBatch *b, const Difftrace__Span *fn,
                  uint64_t now_ms)
{
	uint32_t hashes[DFT_RECON_HOPS_MAX];
	uint32_t n = (uint32_t)fn->n_hops, ncand = 0, k;
	struct chain *c;
	int rc;

	/* every stored span teaches the kind of its name; the hop hash is the key rebuilt spans look up */
	if (fn->span_kind)
		kind_learn(r,
		           dft_hops_name_hash(b->strings[fn->component], strlen(b->strings[fn->component]),
		                              b->strings[fn->operation], strlen(b->strings[fn->operation])),
		           fn->span_kind);
	if (fn->kind != DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_FUNCTION || n == 0)
		return 0;
	if (fn->n_hops > DFT_RECON_HOPS_MAX) {
		/* a bounded chain keeps the rebuild off the heap; real hop lists are a handful long */
		r->st.cut += fn->n_hops;
		return 0;
	}
	for (k = 0; k < n; k++) {
		const Difftrace__Hop *h = fn->hops[k];

		if (h->span_id == 0 || seen_before(fn, k))
			continue;
		rc = dft_store_span_exists(st, fn->trace_id.data, h->span_id);
		if (rc < 0)
			return rc;
		if (rc == 0)
			hashes[ncand++] = h->name_hash;
	}
	if (ncand == 0)
		return 0;
	if (r->st.pending + ncand > r->cfg.max_pending) {
		r->st.cut += ncand;
		return 0;
	}
	c = malloc(sizeof(*c) + ncand * sizeof(c->hashes[0]));
	if (!c)
		return -ENOMEM;
	c->next = NULL;
	c->due_ms = now_ms + r->cfg.delay_ms;
	c->give_up_ms = add_sat(c->due_ms, r->cfg.profile_wait_ms);
	c->at_ns = add_sat(fn->end_ns, DFT_RB_LAG_NS);
	c->sender_id = b->header->sender_id;
	c->round = r->round;
	c->retries = 0;
	memcpy(c->trace_id, fn->trace_id.data, 16);
	c->fn_span_id = fn->span_id;
	c->n_hops = n;
	c->n_candidates = ncand;
	memcpy(c->hashes, hashes, ncand * sizeof(hashes[0]));
	if (r->tail)
		r->tail->next = c;
	else
		r->head = c;
	r->tail = c;
	r->st.pending += ncand;
	return 0;
}

/*
 * True when the sender's profiles are stored past the time a reader asks them for, so no snapshot
 * still on its way can change what a reader rebuilds (a sender's batches arrive in order), or the
 * chain has waited long enough (a sender that ships no profiles, or stopped).
 */
static bool profiles_ready(const struct chain *c, const struct dft_profiles *prof, uint64_t now_ms)
{
	return now_ms >= c->give_up_ms || dft_profiles_through(prof, c->sender_id) > c->at_ns;
}

/* True when every candidate's name is known (or the chain has waited long enough for it). */
static bool names_ready(const struct chain *c, const struct dft_profiles *prof)
{
	if (c->retries >= NAME_RETRIES)
		return true;
	for (uint32_t k = 0; k < c->n_candidates; k++)
		if (!dft_profiles_get_hash(prof, c->hashes[k]))
			return false;
	return true;
}

/* Rebuilds the chain's trace as a reader would now and exports the spans its list owns. */
static int synthesize(struct dft_recon *r, struct dft_store *st, const struct chain *c, dft_recon_emit_fn emit,
                      void *arg)
{
	char *strings[2 * DFT_RECON_HOPS_MAX];
	Difftrace__Span spans[DFT_RECON_HOPS_MAX], *sp[DFT_RECON_HOPS_MAX];
	Difftrace__SpanBatch b = DIFFTRACE__SPAN_BATCH__INIT;
	Difftrace__BatchHeader hdr = DIFFTRACE__BATCH_HEADER__INIT;
	size_t n = 0;
	int rc;

	if (r->reader && r->reader_store != st) {
		dft_treader_destroy(r->reader);
		r->reader = NULL;
	}
	if (!r->reader) {
		rc = dft_treader_create(dft_store_sqlite(st), &r->reader);
		if (rc)
			return rc;
		r->reader_store = st;
	}
	rc = dft_treader_rebuild(r->reader, c->trace_id, &r->out);
	if (rc) {
		fprintf(stderr, "difftrace-collector: rebuild: %s\n", dft_treader_errmsg(r->reader));
		return rc;
	}
	for (uint32_t i = 0; i < r->out.n && n < DFT_RECON_HOPS_MAX; i++) {
		struct dft_rb_out_span *o = &r->out.sp[i];
		Difftrace__Span *s = &spans[n];

		if (o->owner_span_id != c->fn_span_id)
			continue;
		difftrace__span__init(s);
		s->trace_id.data = (uint8_t *)c->trace_id;
		s->trace_id.len = 16;
		s->span_id = o->span_id;
		s->parent_span_id = o->parent_span_id;
		s->start_ns = o->start_ns;
		s->end_ns = o->end_ns;
		strings[2 * n] = o->component;
		strings[2 * n + 1] = o->operation;
		s->component = (uint32_t)(2 * n);
		s->operation = (uint32_t)(2 * n + 1);
		s->kind = DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_PLATFORM;
		s->status = DIFFTRACE__STATUS__STATUS_UNSET;
		s->span_kind = o->span_kind;
		r->st.unresolved += !o->resolved;
		sp[n++] = s;
	}
	/* the real span came in time, or an earlier function span's list rebuilt it */
	r->st.skipped += c->n_candidates > n ? c->n_candidates - n : 0;
	if (n == 0)
		return 0;
	/* the round's commit flushes the sinks only with a transaction open: nothing else may be */
	rc = dft_store_begin(st);
	if (rc)
		return rc;
	hdr.sender_id = 0; /* no sender made these: the collector did */
	b.header = &hdr;
	b.n_strings = 2 * n;
	b.strings = strings;
	b.n_spans = n;
	b.spans = sp;
	rc = emit(arg, &b);
	if (rc)
		return rc;
	r->round_synth += n;
	return 0;
}

int dft_recon_run(struct dft_recon *r, struct dft_store *st, const struct dft_profiles *prof, uint64_t now_ms,
                  dft_recon_emit_fn emit, void *arg)
{
	int rc = kinds_flush(r, st);

	if (rc)
		return rc;
	kinds_clear(r);
	/* profiles stored in this round may answer differently than what the reader remembers */
	if (r->reader)
		dft_treader_forget(r->reader);
	while (r->head && r->head->due_ms <= now_ms) {
		struct chain *c = r->head;
		bool named = names_ready(c, prof);

		r->head = c->next;
		if (!r->head)
			r->tail = NULL;
		if (!named || !profiles_ready(c, prof, now_ms)) {
			/* the profile naming it, or the one a reader would take, is likely a snapshot
			 * interval away: wait once more (no longer than the profile wait allows) */
			c->due_ms = add_sat(now_ms, r->cfg.delay_ms);
			if (!named)
				c->retries++;
			else if (c->give_up_ms > now_ms && c->give_up_ms < c->due_ms)
				c->due_ms = c->give_up_ms;
			c->next = NULL;
			if (r->tail)
				r->tail->next = c;
			else
				r->head = c;
			r->tail = c;
			continue;
		}
		r->st.pending -= c->n_candidates;
		/* taken before it is tried: a failure rolls the round back, which puts it back */
		c->next = r->taken;
		r->taken = c;
		rc = synthesize(r, st, c, emit, arg);
		if (rc)
			return rc;
	}
	return 0;
}

void dft_recon_commit(struct dft_recon *r)
{
	free_list(r->taken);
	r->taken = NULL;
	r->st.reconstructed += r->round_synth;
	r->round_synth = 0;
	r->round++;
}

void dft_recon_rollback(struct dft_recon *r)
{
	struct chain **pp = &r->head, *c;

	/* chains of this round came from function spans that are not stored any more: their senders
	 * resend them, and they come back with them */
	r->tail = NULL;
	while ((c = *pp)) {
		if (c->round == r->round) {
			*pp = c->next;
			r->st.pending -= c->n_candidates;
			free(c);
		} else {
			r->tail = c;
			pp = &c->next;
		}
	}
	/* taken is newest first: pushing each to the front restores the original order */
	while ((c = r->taken)) {
		r->taken = c->next;
		if (c->round == r->round) {
			free(c);
			continue;
		}
		c->next = r->head;
		r->head = c;
		if (!r->tail)
			r->tail = c;
		r->st.pending += c->n_candidates;
	}
	r->round_synth = 0;
	kinds_clear(r); /* the round's spans come back with their resent batches, and vote again */
	r->round++;
}

uint64_t dft_recon_next_due(const struct dft_recon *r)
{
	return r->head ? r->head->due_ms : UINT64_MAX;
}

void dft_recon_get_stats(const struct dft_recon *r, struct dft_recon_stats *out)
{
	*out = r->st;
}
