/* SPDX-License-Identifier: MIT */
/*
 * Reconstruction of platform spans the NIC filtered out. A function span carries the hops its
 * request passed through (span id, parent, start, and a hash of component and operation); a hop
 * whose span is not stored was filtered, and the collector rebuilds it so the trace stays whole.
 *
 * A hop is not rebuilt at once: the NIC holds platform spans for a while before deciding, so the
 * real span may still come. Each function span's hops wait as one chain for delay_ms; when due,
 * every candidate whose span is still not stored (checked in the store, which also catches a hop
 * named by several function spans and one already rebuilt) is synthesized. Chains are queued in
 * arrival order, which is due order since the delay is constant.
 *
 * Names: a hop's hash is resolved from the latest profiles (every NIC's profiler sees every span,
 * filtered or not, and ships (component, operation) with its figures). A chain with a candidate
 * whose name is not known yet goes to the back of the queue for another delay, up to
 * NAME_RETRIES times; after that it is rebuilt under component "unresolved" (counted).
 *
 * Ends, innermost first. The hops on the path to the function: the part of the hop's median that
 * its child on the path does not account for, less what the hop spent before that child started
 * (known exactly), comes after the child's end. Hops off the path (a component's step spans):
 * start plus their median, or, when the next sibling started within [median / 2, 2 x median] of
 * this one, that start (a proxy runs its steps one after the other: the next began when this one
 * ended). Never earlier than a child's end (a stored child's real end: a rebuilt span wraps the
 * reported spans under it) or the hop's own start.
 *
 * Then each rebuilt span is fitted into its parent, outermost first: the parent's interval is the
 * one just fitted when the parent is rebuilt in the same chain, else the stored span's (real, or
 * rebuilt earlier); start and end are clamped into it, so a rebuilt span never lies outside its
 * parent and a chain of rebuilt spans stays nested. A parent not stored anywhere leaves it as is.
 *
 * Span kind: the kind the real spans of the same (component, operation) were reported with (the
 * most frequent non-zero one, learned from every stored span, bounded table keyed by the hop name
 * hash); a name never seen with a kind takes the hop's role: SERVER for a hop that forwards the
 * request (it has a child hop or the function as its child), INTERNAL for a step.
 *
 * Everything follows the store's transaction: chains added and spans synthesized in a round that
 * rolls back are undone with it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector.h"
#include "dft/hops.h"

#define DEFAULT_MAX_PENDING 65536u
#define NAME_RETRIES        3u
#define KINDS_MAX           4096u /* (component, operation) names whose span kind is learned */
#define KINDS_CAP           8192u /* open addressing, power of two, >= 2 * KINDS_MAX */
#define SPAN_KIND_INTERNAL  1u
#define SPAN_KIND_SERVER    2u
#define SPAN_KIND_MAX       5u

/* votes per OTLP span kind 1..5 of the real spans of one name hash */
struct kind_ent {
	uint32_t hash;
	bool used;
	uint32_t votes[SPAN_KIND_MAX];
};

struct rhop {
	uint64_t span_id;
	uint64_t parent_span_id;
	uint64_t start_ns;
	uint32_t name_hash;
	bool candidate;
};

struct chain {
	struct chain *next;
	uint64_t due_ms;
	uint64_t round; /* the round that added it */
	uint32_t retries;
	uint8_t trace_id[16];
	uint64_t sender_id;
	uint64_t batch_seq;
	uint64_t fn_parent_span_id;
	uint64_t fn_start_ns, fn_end_ns;
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
	struct kind_ent *kinds; /* KINDS_CAP entries */
	uint32_t n_kinds;
};

int dft_recon_create(const struct dft_recon_cfg *cfg, struct dft_recon **out)
{
	struct dft_recon *r;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->kinds = calloc(KINDS_CAP, sizeof(*r->kinds));
	if (!r->kinds) {
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
		r->n_kinds++;
	}
	if (e->votes[span_kind - 1] < UINT32_MAX)
		e->votes[span_kind - 1]++;
}

/* The most frequent kind real spans of this name had (ties: the lower kind), or 0: never seen. */
static uint32_t kind_learned(const struct dft_recon *r, uint32_t hash)
{
	const struct kind_ent *e = kind_slot(r, hash);
	uint32_t best = 0, votes = 0;

	if (!e->used)
		return 0;
	for (uint32_t k = 0; k < SPAN_KIND_MAX; k++)
		if (e->votes[k] > votes) {
			votes = e->votes[k];
			best = k + 1;
		}
	return best;
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

	/* every stored span teaches the kind of its name; the hop hash is the key rebuilt spans look up */
	if (fn->span_kind)
		kind_learn(r,
		           dft_hops_name_hash(b->strings[fn->component], strlen(b->strings[fn->component]),
		                              b->strings[fn->operation], strlen(b->strings[fn->operation])),
		           fn->span_kind);
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
	c->retries = 0;
	memcpy(c->trace_id, fn->trace_id.data, 16);
	c->sender_id = b->header->sender_id;
	c->batch_seq = b->header->sequence;
	c->fn_parent_span_id = fn->parent_span_id;
	c->fn_start_ns = fn->start_ns;
	c->fn_end_ns = fn->end_ns;
	c->fn_component = put_str(&arena, b->strings[fn->component]);
	c->fn_operation = put_str(&arena, b->strings[fn->operation]);
	c->n_hops = n;
	c->n_candidates = ncand;
	for (k = 0; k < n; k++) {
		const Difftrace__Hop *h = fn->hops[k];
		struct rhop *rh = &c->hops[k];

		rh->span_id = h->span_id;
		rh->parent_span_id = h->parent_span_id;
		rh->start_ns = h->start_ns;
		rh->name_hash = h->name_hash;
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

static uint64_t p50_of(const struct dft_profile *p)
{
	return p ? p->duration_p50_ns : 0;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

/*
 * The earliest start after hop k's own among its siblings (hops, or the function, with the same
 * parent); 0 when there is none.
 */
static uint64_t next_sibling_start(const struct chain *c, uint32_t k)
{
	const struct rhop *h = &c->hops[k];
	uint64_t best = 0;

	for (uint32_t j = 0; j < c->n_hops; j++) {
		const struct rhop *o = &c->hops[j];

		if (j != k && o->parent_span_id == h->parent_span_id && o->start_ns > h->start_ns &&
		    (!best || o->start_ns < best))
			best = o->start_ns;
	}
	if (c->fn_parent_span_id == h->parent_span_id && c->fn_start_ns > h->start_ns &&
	    (!best || c->fn_start_ns < best))
		best = c->fn_start_ns;
	return best;
}

/*
 * prof[k]: hop k's profile (NULL: not known). stored[k]: hop k's span is stored (reported, or
 * rebuilt before) and ends[k] holds its end on entry: taken as it is, so a rebuilt parent is
 * measured against its real children, not against estimates of them.
 */
static void estimate_ends(const struct chain *c, const struct dft_profile *const *prof,
                          const struct dft_profile *fn_prof, const bool *stored, uint64_t *ends)
{
	bool on_path[DFT_RECON_HOPS_MAX] = {false};
	uint64_t want = c->fn_parent_span_id;

	/* the path: the function's parent, its parent, ... among the hops (newest first) */
	for (uint32_t k = c->n_hops; k-- > 0;) {
		if (want && c->hops[k].span_id == want) {
			on_path[k] = true;
			want = c->hops[k].parent_span_id;
		}
	}
	for (uint32_t k = c->n_hops; k-- > 0;) {
		const struct rhop *h = &c->hops[k];
		uint64_t end = h->start_ns;

		if (stored[k])
			continue;
		if (on_path[k]) {
			/* the child on the path: the function, or the one on-path hop whose parent this is */
			uint64_t child_start = c->fn_start_ns, child_end = c->fn_end_ns;
			const struct dft_profile *child_prof = fn_prof;

			if (c->fn_parent_span_id != h->span_id) {
				for (uint32_t j = k + 1; j < c->n_hops; j++) {
					if (on_path[j] && c->hops[j].parent_span_id == h->span_id) {
						child_start = c->hops[j].start_ns;
						child_end = ends[j];
						child_prof = prof[j];
						break;
					}
				}
			}
			end = child_end;
			if (prof[k] && child_prof && p50_of(prof[k]) > p50_of(child_prof)) {
				uint64_t self = p50_of(prof[k]) - p50_of(child_prof);
				uint64_t before = child_start > h->start_ns ? child_start - h->start_ns : 0;

				if (self > before)
					end = add_sat(child_end, self - before);
			}
		} else if (prof[k]) {
			uint64_t p50 = p50_of(prof[k]), next = next_sibling_start(c, k);

			end = add_sat(h->start_ns, p50);
			/* steps run one after another: the next one began when this one ended, when that
			 * is a plausible duration for it (parallel steps start together and fail the test) */
			if (next && next - h->start_ns >= p50 / 2 && (next - h->start_ns) / 2 <= p50)
				end = next; /* halved, not p50 doubled: a sender's figure cannot overflow it */
		}
		for (uint32_t j = k + 1; j < c->n_hops; j++)
			if (c->hops[j].parent_span_id == h->span_id && ends[j] > end)
				end = ends[j];
		/* a hop starting after its estimated end can only be clock skew between hosts */
		ends[k] = end < h->start_ns ? h->start_ns : end;
	}
}

/* True when every candidate's name is known (or the chain has waited long enough for it). */
static bool names_ready(const struct chain *c, const struct dft_profile *const *prof)
{
	if (c->retries >= NAME_RETRIES)
		return true;
	for (uint32_t k = 0; k < c->n_hops; k++)
		if (c->hops[k].candidate && !prof[k])
			return false;
	return true;
}

/* True when hop k forwarded the request: some hop, or the function, is its child. */
static bool forwards(const struct chain *c, uint32_t k)
{
	if (c->fn_parent_span_id == c->hops[k].span_id)
		return true;
	for (uint32_t j = 0; j < c->n_hops; j++)
		if (j != k && c->hops[j].parent_span_id == c->hops[k].span_id)
			return true;
	return false;
}

/*
 * Clamp the rebuilt hops' intervals into their parents', outermost first (a parent's hop comes
 * before its children's in the list; one that does not is taken as estimated). build[k]: hop k is
 * rebuilt in this round. Returns 0 or -EIO (store).
 */
static int fit_into_parents(struct dft_store *st, const struct chain *c, const bool *build, uint64_t *starts,
                            uint64_t *ends)
{
	for (uint32_t k = 0; k < c->n_hops; k++) {
		const struct rhop *h = &c->hops[k];
		uint64_t ps = 0, pe = 0;
		int found = 0;

		if (!build[k] || h->parent_span_id == 0)
			continue;
		for (uint32_t j = 0; j < c->n_hops && !found; j++) {
			if (j != k && build[j] && c->hops[j].span_id == h->parent_span_id) {
				ps = starts[j];
				pe = ends[j];
				found = 1;
			}
		}
		if (!found) {
			found = dft_store_span_get(st, c->trace_id, h->parent_span_id, &ps, &pe);
			if (found < 0)
				return found;
		}
		if (!found || pe < ps)
			continue; /* the parent is nowhere (yet): nothing to fit into */
		if (starts[k] < ps)
			starts[k] = ps;
		if (starts[k] > pe)
			starts[k] = pe;
		if (ends[k] > pe)
			ends[k] = pe;
		if (ends[k] < starts[k])
			ends[k] = starts[k];
	}
	return 0;
}

static int synthesize(struct dft_recon *r, struct dft_store *st, const struct dft_profile *const *prof,
                      const struct dft_profile *fn_prof, const struct chain *c, dft_recon_emit_fn emit, void *arg)
{
	uint64_t starts[DFT_RECON_HOPS_MAX], ends[DFT_RECON_HOPS_MAX];
	bool build[DFT_RECON_HOPS_MAX], stored[DFT_RECON_HOPS_MAX];
	char *strings[2 * DFT_RECON_HOPS_MAX];
	char hexname[DFT_RECON_HOPS_MAX][9];
	static char unresolved[] = "unresolved";
	Difftrace__Span spans[DFT_RECON_HOPS_MAX], *sp[DFT_RECON_HOPS_MAX];
	Difftrace__SpanBatch b = DIFFTRACE__SPAN_BATCH__INIT;
	Difftrace__BatchHeader hdr = DIFFTRACE__BATCH_HEADER__INIT;
	size_t n = 0;
	int rc;

	for (uint32_t k = 0; k < c->n_hops; k++) {
		uint64_t ss = 0, se = 0;

		starts[k] = c->hops[k].start_ns;
		ends[k] = 0;
		rc = dft_store_span_get(st, c->trace_id, c->hops[k].span_id, &ss, &se);
		if (rc < 0)
			return rc;
		stored[k] = rc;
		build[k] = !rc && c->hops[k].candidate;
		if (rc) {
			/* the real span came in time, another chain rebuilt it, or it was never filtered */
			if (c->hops[k].candidate)
				r->st.skipped++;
			ends[k] = se > ss ? se : ss;
		}
	}
	estimate_ends(c, prof, fn_prof, stored, ends);
	rc = fit_into_parents(st, c, build, starts, ends);
	if (rc)
		return rc;
	for (uint32_t k = 0; k < c->n_hops; k++) {
		const struct rhop *h = &c->hops[k];
		Difftrace__Span *s = &spans[n];
		uint32_t kind;

		if (!build[k])
			continue;
		difftrace__span__init(s);
		s->trace_id.data = (uint8_t *)c->trace_id;
		s->trace_id.len = 16;
		s->span_id = h->span_id;
		s->parent_span_id = h->parent_span_id;
		s->start_ns = starts[k];
		s->end_ns = ends[k];
		if (prof[k]) {
			strings[2 * n] = prof[k]->component;
			strings[2 * n + 1] = prof[k]->operation;
		} else {
			/* no NIC has profiled this name: the hash is all there is to show */
			snprintf(hexname[n], sizeof(hexname[n]), "%08x", (unsigned)h->name_hash);
			strings[2 * n] = unresolved;
			strings[2 * n + 1] = hexname[n];
			r->st.unresolved++;
		}
		s->component = (uint32_t)(2 * n);
		s->operation = (uint32_t)(2 * n + 1);
		s->kind = DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_PLATFORM;
		s->status = DIFFTRACE__STATUS__STATUS_UNSET;
		kind = kind_learned(r, h->name_hash);
		s->span_kind = kind ? kind : forwards(c, k) ? SPAN_KIND_SERVER : SPAN_KIND_INTERNAL;
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
		const struct dft_profile *hp[DFT_RECON_HOPS_MAX], *fn_prof;
		struct chain *c = r->head;
		int rc;

		r->head = c->next;
		if (!r->head)
			r->tail = NULL;
		for (uint32_t k = 0; k < c->n_hops; k++)
			hp[k] = dft_profiles_get_hash(prof, c->hops[k].name_hash);
		fn_prof = dft_profiles_get(prof, c->fn_component, c->fn_operation);
		if (!names_ready(c, hp)) {
			/* the profile naming it is likely a snapshot interval away: wait once more */
			c->retries++;
			c->due_ms = add_sat(now_ms, r->cfg.delay_ms);
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
		rc = synthesize(r, st, hp, fn_prof, c, emit, arg);
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
