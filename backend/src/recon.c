/* SPDX-License-Identifier: MIT */
/*
 * Reconstruction of platform spans the NIC filtered out. A function span carries the hops its
 * request passed through (span id, parent, start, component, operation); a hop whose span is not
 * stored was filtered, and the collector rebuilds it so the trace stays connected.
 *
 * A hop is not rebuilt at once: the NIC holds platform spans for a while before deciding, so the
 * real span may still come. Each function span's hops wait as one chain for delay_ms; when due,
 * every candidate whose span is still not stored (checked in the store, which also catches a hop
 * named by several function spans and one already rebuilt) is synthesized. Chains are queued in
 * arrival order, which is due order since the delay is constant.
 *
 * Ends are estimated innermost first: a hop ends after its child (the next hop, or the function
 * span for the last hop) by the difference of their median durations from the latest profiles,
 * never earlier than the child; without both profiles, with the child.
 *
 * Everything follows the store's transaction: chains added and spans synthesized in a round that
 * rolls back are undone with it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"

#define DEFAULT_MAX_PENDING 65536u

struct rhop {
	uint64_t span_id;
	uint64_t parent_span_id; /* resolved with the chain rule */
	uint64_t start_ns;
	char *component;
	char *operation;
	bool candidate;
};

struct chain {
	struct chain *next;
	uint64_t due_ms;
	uint64_t round; /* the round that added it */
	uint8_t trace_id[16];
	uint64_t sender_id;
	uint64_t batch_seq;
	uint64_t fn_end_ns;
	char *fn_component;
	char *fn_operation;
	uint32_t n_hops;
	uint32_t n_candidates;
	struct rhop hops[]; /* then the strings */
};

struct dft_recon {
	struct dft_recon_cfg cfg;
	struct chain *head, *tail; /* waiting, oldest first */
	struct chain *taken;       /* synthesized in the open round, newest first */
	uint64_t round;
	uint64_t round_synth;
	struct dft_recon_stats st;
};

int dft_recon_create(const struct dft_recon_cfg *cfg, struct dft_recon **out)
{
	struct dft_recon *r;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
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
	free(r);
}

static char *put_str(char **arena, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = *arena;

	memcpy(p, s, n);
	*arena += n;
	return p;
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
	bool cand[DFT_RECON_HOPS_MAX];
	uint32_t n = (uint32_t)fn->n_hops, ncand = 0, k;
	size_t strbytes;
	struct chain *c;
	char *arena;
	int rc;

	if (fn->kind != DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_FUNCTION || n == 0)
		return 0;
	if (fn->n_hops > DFT_RECON_HOPS_MAX) {
		/* a bounded chain keeps synthesis off the heap; real hop lists are a handful long */
		r->st.cut += fn->n_hops;
		return 0;
	}
	strbytes = strlen(b->strings[fn->component]) + strlen(b->strings[fn->operation]) + 2;
	for (k = 0; k < n; k++) {
		const Difftrace__Hop *h = fn->hops[k];

		cand[k] = false;
		strbytes += strlen(b->strings[h->component]) + strlen(b->strings[h->operation]) + 2;
		if (h->span_id == 0 || seen_before(fn, k))
			continue;
		rc = dft_store_span_exists(st, fn->trace_id.data, h->span_id);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			cand[k] = true;
			ncand++;
		}
	}
	if (ncand == 0)
		return 0;
	if (r->st.pending + ncand > r->cfg.max_pending) {
		r->st.cut += ncand;
		return 0;
	}
	c = malloc(sizeof(*c) + n * sizeof(c->hops[0]) + strbytes);
	if (!c)
		return -ENOMEM;
	arena = (char *)&c->hops[n];
	c->next = NULL;
	c->due_ms = now_ms + r->cfg.delay_ms;
	c->round = r->round;
	memcpy(c->trace_id, fn->trace_id.data, 16);
	c->sender_id = b->header->sender_id;
	c->batch_seq = b->header->sequence;
	c->fn_end_ns = fn->end_ns;
	c->fn_component = put_str(&arena, b->strings[fn->component]);
	c->fn_operation = put_str(&arena, b->strings[fn->operation]);
	c->n_hops = n;
	c->n_candidates = ncand;
	for (k = 0; k < n; k++) {
		const Difftrace__Hop *h = fn->hops[k];
		struct rhop *rh = &c->hops[k];

		rh->span_id = h->span_id;
		rh->parent_span_id = k ? fn->hops[k - 1]->span_id : h->parent_span_id;
		rh->start_ns = h->start_ns;
		rh->component = put_str(&arena, b->strings[h->component]);
		rh->operation = put_str(&arena, b->strings[h->operation]);
		rh->candidate = cand[k];
	}
	if (r->tail)
		r->tail->next = c;
	else
		r->head = c;
	r->tail = c;
	r->st.pending += ncand;
	return 0;
}

static uint64_t p50_of(const struct dft_profiles *prof, const char *component, const char *operation, bool *found)
{
	const struct dft_profile *p = dft_profiles_get(prof, component, operation);

	*found = p != NULL;
	return p ? p->duration_p50_ns : 0;
}

static void estimate_ends(const struct chain *c, const struct dft_profiles *prof, uint64_t *ends)
{
	for (uint32_t k = c->n_hops; k-- > 0;) {
		const struct rhop *h = &c->hops[k];
		bool last = k + 1 == c->n_hops, have, have_child;
		uint64_t child_end = last ? c->fn_end_ns : ends[k + 1];
		uint64_t p50 = p50_of(prof, h->component, h->operation, &have);
		uint64_t child_p50 =
		    last ? p50_of(prof, c->fn_component, c->fn_operation, &have_child)
		         : p50_of(prof, c->hops[k + 1].component, c->hops[k + 1].operation, &have_child);
		uint64_t end = child_end;

		if (have && have_child && p50 > child_p50)
			end = p50 - child_p50 > UINT64_MAX - child_end ? UINT64_MAX : child_end + (p50 - child_p50);
		/* a hop starting after its estimated end can only be clock skew between hosts */
		ends[k] = end < h->start_ns ? h->start_ns : end;
	}
}

static int synthesize(struct dft_recon *r, struct dft_store *st, const struct dft_profiles *prof, const struct chain *c,
                      dft_recon_emit_fn emit, void *arg)
{
	uint64_t ends[DFT_RECON_HOPS_MAX];
	char *strings[2 * DFT_RECON_HOPS_MAX];
	Difftrace__Span spans[DFT_RECON_HOPS_MAX], *sp[DFT_RECON_HOPS_MAX];
	Difftrace__SpanBatch b = DIFFTRACE__SPAN_BATCH__INIT;
	Difftrace__BatchHeader hdr = DIFFTRACE__BATCH_HEADER__INIT;
	size_t n = 0;
	int rc;

	estimate_ends(c, prof, ends);
	for (uint32_t k = 0; k < c->n_hops; k++) {
		const struct rhop *h = &c->hops[k];
		Difftrace__Span *s = &spans[n];

		if (!h->candidate)
			continue;
		rc = dft_store_span_exists(st, c->trace_id, h->span_id);
		if (rc < 0)
			return rc;
		if (rc) {
			r->st.skipped++; /* the real span came in time, or another chain rebuilt it */
			continue;
		}
		difftrace__span__init(s);
		s->trace_id.data = (uint8_t *)c->trace_id;
		s->trace_id.len = 16;
		s->span_id = h->span_id;
		s->parent_span_id = h->parent_span_id;
		s->start_ns = h->start_ns;
		s->end_ns = ends[k];
		strings[2 * n] = h->component;
		strings[2 * n + 1] = h->operation;
		s->component = (uint32_t)(2 * n);
		s->operation = (uint32_t)(2 * n + 1);
		s->kind = DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_PLATFORM;
		s->status = DIFFTRACE__STATUS__STATUS_UNSET;
		sp[n] = s;
		n++;
	}
	if (n == 0)
		return 0;
	/* rows carry the sender and batch of the function span they were rebuilt from */
	hdr.sender_id = c->sender_id;
	hdr.sequence = c->batch_seq;
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
	while (r->head && r->head->due_ms <= now_ms) {
		struct chain *c = r->head;
		int rc;

		r->head = c->next;
		if (!r->head)
			r->tail = NULL;
		r->st.pending -= c->n_candidates;
		/* taken before it is tried: a failure rolls the round back, which puts it back */
		c->next = r->taken;
		r->taken = c;
		rc = synthesize(r, st, prof, c, emit, arg);
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
