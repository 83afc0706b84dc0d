/* SPDX-License-Identifier: MIT */
/*
 * The span hot path. A thread claims a ring on the first span it ends (one CAS on the ring's
 * state) and keeps it in thread-local storage until it exits; ending a span then costs one
 * reserve, one 128-byte copy and one store-release of head: no lock, no syscall, no allocation.
 * A span that carries hops (the user function's span) or a status message (an error span) leaves
 * that path on one branch.
 *
 * Acquire/release pairs:
 *   [L1] lifecycle.c stores live with release after building the region; span functions load it
 *        with acquire, so they see the region, generation and calibration it published.
 *   [T1] a thread releases its ring with store-release of state after its last head store; the next
 *        claimer's CAS (acquire) then attaches to the indices and counters the previous owner left.
 */
#define _GNU_SOURCE
#include <string.h>

#include "host_internal.h"
#include "dft/text.h"
#include "dft/validate.h"

struct dft_thread {
	struct dft_ring_prod prod;
	uint64_t generation;      /* dft_host.generation of the claim; 0 = no ring */
	uint64_t miss_generation; /* generation and release count of the last scan that found no ring */
	uint64_t miss_releases;
	uint64_t rng;
	uint32_t ring_idx;
	bool seeded;
	bool key_set;
	/* the last context extracted from a header on this thread (REMOTE_PARENT detection) */
	uint64_t remote_span;
	uint8_t remote_trace[DFT_TRACE_ID_LEN];
};

/* initial-exec: one %fs-relative access instead of a __tls_get_addr call on every span */
static __thread struct dft_thread dft_self __attribute__((tls_model("initial-exec")));

static pthread_key_t dft_exit_key;
static pthread_once_t dft_exit_once = PTHREAD_ONCE_INIT;
static uint64_t dft_thread_serial;

/*
 * Thread exit: hand the ring to whichever thread asks next; its indices and counters persist.
 * Under the lifecycle lock, so a thread exiting while another calls dft_fini either releases its
 * ring before the region is unmapped or sees the library gone.
 */
static void dft_thread_exit(void *arg)
{
	struct dft_thread *t = arg;

	pthread_mutex_lock(&dft_lifecycle_lock);
	if (t->generation && dft_load_acquire(&dft_host.live) && t->generation == dft_host.generation) {
		dft_store_relaxed(&t->prod.hdr->tid, 0);
		dft_store_release(&t->prod.hdr->state, DFT_RING_FREE); /* [T1] */
		__atomic_fetch_add(&dft_host.ring_releases, 1, __ATOMIC_RELAXED);
	}
	t->generation = 0;
	pthread_mutex_unlock(&dft_lifecycle_lock);
}

static void dft_exit_key_create(void)
{
	/* if this fails rings are not released at thread exit: they stay with the dead thread */
	(void)pthread_key_create(&dft_exit_key, dft_thread_exit);
}

void dft_span_thread_forget(void)
{
	dft_self.generation = 0;
	dft_self.miss_generation = 0;
	/* after fork the child would otherwise repeat the parent's id sequence */
	dft_self.seeded = false;
}

/* Cold path of the first span a thread ends in this generation. */
static __attribute__((noinline)) bool dft_ring_claim(struct dft_thread *t)
{
	uint64_t releases = dft_load_relaxed(&dft_host.ring_releases);

	/* no free ring last time and none released since: do not rescan every ring for every span */
	if (t->miss_generation == dft_host.generation && t->miss_releases == releases)
		goto no_ring;
	for (uint32_t i = 0; i < dft_host.ring_count; i++) {
		struct dft_ring_hdr *r = dft_host_ring(i);
		uint32_t expect = DFT_RING_FREE;

		if (dft_load_relaxed(&r->state) != DFT_RING_FREE)
			continue;
		if (!__atomic_compare_exchange_n(&r->state, &expect, DFT_RING_ACTIVE, false, __ATOMIC_ACQUIRE,
		                                 __ATOMIC_RELAXED)) /* [T1] */
			continue;
		/* the kernel tid would cost a syscall: 0 means "owned, tid not recorded" */
		dft_store_relaxed(&r->tid, 0);
		dft_ring_prod_attach(&t->prod, r, dft_host.ring_slots);
		t->ring_idx = i;
		t->generation = dft_host.generation;
		if (!t->key_set) {
			pthread_once(&dft_exit_once, dft_exit_key_create);
			t->key_set = pthread_setspecific(dft_exit_key, t) == 0;
		}
		return true;
	}
	t->miss_generation = dft_host.generation;
	t->miss_releases = releases;
no_ring:
	__atomic_fetch_add(&dft_host.hdr->dropped_no_ring, 1, __ATOMIC_RELAXED);
	return false;
}

static inline uint64_t dft_rand(struct dft_thread *t)
{
	uint64_t z;

	if (unlikely(!t->seeded)) {
		uint64_t serial = __atomic_add_fetch(&dft_thread_serial, 1, __ATOMIC_RELAXED);
		uint64_t inst = dft_load_acquire(&dft_host.live) ? dft_host.hdr->instance_id : 0;

		/* distinct per process instance, per thread, and per moment; the TLS address adds ASLR */
		t->rng = inst ^ (serial * 0xd1b54a32d192ed03ull) ^ (dft_ticks() << 17) ^ (uint64_t)(uintptr_t)t;
		t->seeded = true;
	}
	/* splitmix64 */
	z = (t->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t dft_rand_nonzero(struct dft_thread *t)
{
	uint64_t v;

	do
		v = dft_rand(t);
	while (unlikely(v == 0));
	return v;
}

static inline bool dft_trace_id_zero(const uint8_t id[DFT_TRACE_ID_LEN])
{
	uint64_t a, b;

	memcpy(&a, id, 8);
	memcpy(&b, id + 8, 8);
	return (a | b) == 0;
}

void dft_span_note_remote(const struct dft_ctx *ctx)
{
	dft_self.remote_span = ctx->span_id;
	memcpy(dft_self.remote_trace, ctx->trace_id, DFT_TRACE_ID_LEN);
}

_Static_assert(offsetof(struct dft_span, queue_ns) == 40 && offsetof(struct dft_span, op_id) == 44 &&
                   offsetof(struct dft_span, component_id) == 46 && offsetof(struct dft_span, flags) == 48 &&
                   offsetof(struct dft_span, status) == 50 && offsetof(struct dft_span, span_kind) == 51 &&
                   offsetof(struct dft_span, n_attrs) == 52 && offsetof(struct dft_span, reserved) == 53 &&
                   offsetof(struct dft_span, status_msg_len) == 55 && offsetof(struct dft_span, attr_key) == 56,
               "dft_span_open sets bytes [40, 56) of a span as two 8-byte words");

/*
 * Everything of begin except the start time. Every field is set exactly once, none cleared first
 * (a memset of the 112-byte span was a `rep stos`, slower than the stores it saves); the unused
 * attributes are zero because dft_slot_store copies all four into the slot.
 */
static inline void dft_span_open(struct dft_span *sp, uint16_t op, const struct dft_ctx *parent)
{
	struct dft_thread *t = &dft_self;
	uint64_t w, tflags;
	uint16_t flags;

	sp->span_id = dft_rand_nonzero(t);
	if (parent) {
		memcpy(sp->trace_id, parent->trace_id, DFT_TRACE_ID_LEN);
		sp->parent_span_id = parent->span_id;
		flags = DFT_SF_HAS_PARENT;
		if (parent->span_id == t->remote_span &&
		    memcmp(parent->trace_id, t->remote_trace, DFT_TRACE_ID_LEN) == 0)
			flags |= DFT_SF_REMOTE_PARENT;
		tflags = parent->trace_flags;
	} else {
		uint64_t a = dft_rand(t), b = dft_rand_nonzero(t);

		memcpy(sp->trace_id, &a, 8);
		memcpy(sp->trace_id + 8, &b, 8);
		sp->parent_span_id = 0;
		flags = DFT_SF_ROOT;
		tflags = 0x01; /* sampled: every span reaches the filter */
	}
	/* queue_ns, op_id, component_id | flags, status, span_kind, n_attrs, reserved[2], status_msg_len:
	 * two 8-byte words instead of nine narrow stores */
	w = (uint64_t)op << 32;
	memcpy(&sp->queue_ns, &w, 8);
	w = (uint64_t)flags | (uint64_t)tflags << 40;
	memcpy(&sp->flags, &w, 8);
	memset(sp->attr_key, 0, sizeof(sp->attr_key));
	memset(sp->attr_val, 0, sizeof(sp->attr_val));
	sp->hops = NULL;
	sp->status_msg = NULL;
}

void dft_span_begin(struct dft_span *sp, uint16_t op, const struct dft_ctx *parent)
{
	dft_span_open(sp, op, parent);
	sp->start = dft_ticks();
}

uint64_t dft_tick(void)
{
	return dft_ticks();
}

void dft_span_begin_tick(struct dft_span *sp, uint16_t op, const struct dft_ctx *parent, uint64_t tick)
{
	dft_span_open(sp, op, parent);
	sp->start = tick;
}

void dft_span_begin_at(struct dft_span *sp, uint16_t op, const struct dft_ctx *parent, uint64_t start_ns)
{
	dft_span_open(sp, op, parent);
	sp->start = start_ns;
	sp->flags |= DFT_SF_TS_NS;
}

void dft_span_set_ids(struct dft_span *sp, const uint8_t trace_id[16], uint64_t span_id, uint64_t parent_span_id)
{
	/* zero ids are invalid on the wire: keep the generated ones rather than emit a bad slot */
	if (trace_id && !dft_trace_id_zero(trace_id))
		memcpy(sp->trace_id, trace_id, DFT_TRACE_ID_LEN);
	if (span_id)
		sp->span_id = span_id;
	sp->parent_span_id = parent_span_id;
	sp->flags &= (uint16_t) ~(DFT_SF_HAS_PARENT | DFT_SF_REMOTE_PARENT | DFT_SF_ROOT);
	sp->flags |= parent_span_id ? DFT_SF_HAS_PARENT : DFT_SF_ROOT;
}

void dft_span_set_component(struct dft_span *sp, uint16_t component_id, enum dft_component_kind kind)
{
	sp->component_id = component_id;
	sp->flags &= (uint16_t) ~(DFT_SF_KIND_PLATFORM | DFT_SF_KIND_FUNCTION);
	if (kind == DFT_COMPONENT_PLATFORM)
		sp->flags |= DFT_SF_KIND_PLATFORM;
	else if (kind == DFT_COMPONENT_FUNCTION)
		sp->flags |= DFT_SF_KIND_FUNCTION;
}

void dft_span_set_status(struct dft_span *sp, enum dft_span_status status)
{
	if ((unsigned)status <= DFT_SPAN_ERROR)
		sp->status = (uint8_t)status;
}

void dft_span_set_exception(struct dft_span *sp)
{
	sp->flags |= DFT_SF_EXCEPTION;
	sp->status = DFT_STATUS_ERROR;
}

_Static_assert(DFT_STATUS_MESSAGE_MAX == DFT_STATUS_MSG_MAX, "the public bound is the slot's");
_Static_assert((DFT_HOP_LIST_MAX + DFT_HOPS_PER_SLOT - 1) / DFT_HOPS_PER_SLOT + 1 <= DFT_SLOT_CONT_MAX,
               "the most hops and a message are continuation slots the daemon accepts");

int dft_span_set_status_message(struct dft_span *sp, const char *msg, size_t len)
{
	sp->status_msg = NULL;
	sp->status_msg_len = 0;
	if (!msg || len == 0)
		return 0;
	len = dft_text_cut(msg, len, DFT_STATUS_MSG_MAX);
	/* checked here, once, by the one who can fix it; the daemon checks again (hostile memory) */
	if (len == 0 || !dft_text_valid(msg, len))
		return -EINVAL;
	sp->status_msg = msg;
	sp->status_msg_len = (uint8_t)len;
	return 0;
}

void dft_span_set_attr(struct dft_span *sp, uint16_t key_id, int64_t value)
{
	/* key 0 is what dft_name returns on failure: an attribute without a name is dropped */
	if (sp->n_attrs >= DFT_SPAN_ATTRS || key_id == 0)
		return;
	sp->attr_key[sp->n_attrs] = key_id;
	sp->attr_val[sp->n_attrs] = value;
	sp->n_attrs++;
}

void dft_span_set_queue_ns(struct dft_span *sp, uint32_t queue_ns)
{
	sp->queue_ns = queue_ns;
}

void dft_span_set_cold_start(struct dft_span *sp)
{
	sp->flags |= DFT_SF_COLD_START;
}

void dft_span_set_kind(struct dft_span *sp, uint8_t otlp_span_kind)
{
	if (otlp_span_kind <= 5)
		sp->span_kind = otlp_span_kind;
}

void dft_span_keep(struct dft_span *sp)
{
	sp->flags |= DFT_SF_KEEP;
}

void dft_span_context(const struct dft_span *sp, struct dft_ctx *out)
{
	memcpy(out->trace_id, sp->trace_id, DFT_TRACE_ID_LEN);
	out->span_id = sp->span_id;
	out->trace_flags = sp->reserved[0];
}

void dft_span_set_hops(struct dft_span *sp, const struct dft_hop_list *hops)
{
	sp->hops = hops && hops->n ? hops : NULL;
}

/* Built whole on the stack so every reserved byte is zero, then copied into the ring in one go
 * (the hop path; plain spans go through dft_slot_store). */
static inline void dft_slot_build(struct dft_slot *s, const struct dft_span *sp, uint64_t end)
{
	memset(s, 0, sizeof(*s));
	s->type = DFT_SLOT_SPAN;
	s->flags = sp->flags;
	s->component_id = sp->component_id;
	s->op_id = sp->op_id;
	memcpy(s->trace_id, sp->trace_id, DFT_TRACE_ID_LEN);
	s->span_id = sp->span_id;
	s->parent_span_id = sp->parent_span_id;
	s->start = sp->start;
	s->end = end;
	s->queue_ns = sp->queue_ns;
	s->status = sp->status;
	s->span_kind = sp->span_kind;
	s->n_attrs = sp->n_attrs;
	for (unsigned i = 0; i < DFT_SLOT_ATTRS; i++) {
		s->attr_key[i] = i < sp->n_attrs ? sp->attr_key[i] : 0;
		s->attr_val[i] = i < sp->n_attrs ? sp->attr_val[i] : 0;
	}
}

/*
 * A span with continuation slots: its slot, then ceil(n / DFT_HOPS_PER_SLOT) DFT_SLOT_HOPS slots
 * for its hops, then one DFT_SLOT_STATUS_MSG slot when it ends in error with a message, reserved
 * and published together so the daemon never sees a span without the continuation its n_cont
 * announces. Hops name themselves by hash, so nothing here touches the name table.
 */
static __attribute__((noinline)) void dft_span_write_cont(struct dft_thread *t, const struct dft_span *sp, uint64_t end)
{
	const struct dft_hop_list *l = sp->hops;
	struct dft_hop hops[DFT_HOP_LIST_MAX];
	unsigned n = 0, cut = 0, given = l ? l->n : 0, nslots, nhop_slots;
	bool msg = sp->status_msg_len && sp->status == DFT_STATUS_ERROR;
	struct dft_slot s, *first;

	if (given > DFT_HOP_LIST_MAX) {
		cut = given - DFT_HOP_LIST_MAX; /* a hand-made list claiming more than it can hold */
		given = DFT_HOP_LIST_MAX;
	}
	for (unsigned i = 0; i < given; i++) {
		const struct dft_hop_entry *e = &l->hop[i];

		if (!e->span_id) {
			cut++;
			continue;
		}
		hops[n++] = (struct dft_hop){.name_hash = e->name_hash,
		                             .span_id = e->span_id,
		                             .start_ns = e->start_ns,
		                             .parent_span_id = e->parent_span_id};
	}
	nhop_slots = (n + DFT_HOPS_PER_SLOT - 1) / DFT_HOPS_PER_SLOT;
	nslots = 1 + nhop_slots + (msg ? 1 : 0);
	first = dft_ring_prod_reserve(&t->prod, nslots);
	if (unlikely(!first))
		return; /* the whole span is lost, counted once in dropped_full */
	dft_slot_build(&s, sp, end);
	s.n_cont = (uint8_t)(nslots - 1);
	*first = s;
	for (unsigned c = 1; c <= nhop_slots; c++) {
		unsigned from = (c - 1) * DFT_HOPS_PER_SLOT, k = n - from;
		struct dft_hops_slot hs;

		if (k > DFT_HOPS_PER_SLOT)
			k = DFT_HOPS_PER_SLOT;
		memset(&hs, 0, sizeof(hs));
		hs.type = DFT_SLOT_HOPS;
		hs.n_hops = (uint8_t)k;
		memcpy(hs.hop, hops + from, k * sizeof(hops[0]));
		/* continuation slots may wrap to the start of the ring */
		memcpy(dft_ring_prod_slot(&t->prod, c), &hs, sizeof(hs));
	}
	if (msg) {
		struct dft_msg_slot ms;
		size_t len = sp->status_msg_len > DFT_STATUS_MSG_MAX ? DFT_STATUS_MSG_MAX : sp->status_msg_len;

		/* zeroed whole: the bytes after the text are zero, as the daemon requires */
		memset(&ms, 0, sizeof(ms));
		ms.type = DFT_SLOT_STATUS_MSG;
		ms.len = (uint8_t)len;
		memcpy(ms.text, sp->status_msg, len);
		memcpy(dft_ring_prod_slot(&t->prod, nslots - 1), &ms, sizeof(ms));
	}
	if (cut) {
		struct dft_ring_hdr *r = t->prod.hdr;

		/* line 0 is ours alone: a plain add published with a relaxed store */
		dft_store_relaxed(&r->dropped_hops, dft_load_relaxed(&r->dropped_hops) + cut);
	}
	dft_ring_prod_commit(&t->prod, nslots);
}

_Static_assert(offsetof(struct dft_slot, flags) == 2 && offsetof(struct dft_slot, component_id) == 4 &&
                   offsetof(struct dft_slot, op_id) == 6 && offsetof(struct dft_slot, status) == 60 &&
                   offsetof(struct dft_slot, span_kind) == 61 && offsetof(struct dft_slot, n_attrs) == 62 &&
                   offsetof(struct dft_slot, reserved1) == 104,
               "dft_slot_store packs these fields into 8-byte words");
_Static_assert(offsetof(struct dft_slot, trace_id) == 8 && offsetof(struct dft_slot, parent_span_id) == 32 &&
                   offsetof(struct dft_span, trace_id) == 0 && offsetof(struct dft_span, span_id) == 16 &&
                   offsetof(struct dft_span, parent_span_id) == 24,
               "slot bytes [8, 40) are the span's [0, 32): trace id, span id, parent");
_Static_assert(offsetof(struct dft_slot, attr_key) == 64 && offsetof(struct dft_slot, attr_val) == 72 &&
                   offsetof(struct dft_span, attr_val) == offsetof(struct dft_span, attr_key) + 8,
               "slot bytes [64, 104) are the span's attr_key and attr_val, in one run");
_Static_assert(DFT_SPAN_ATTRS == DFT_SLOT_ATTRS, "a span's attributes fill the slot's");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "slot words are composed little-endian");

/*
 * The plain span's slot, written in place. Building it on the stack and copying it costs a
 * store-forwarding stall (narrow field stores, then 16-byte loads of the same bytes) and a second
 * pass over 128 bytes; here every byte is stored exactly once, reserved ones as zero: the runs the
 * span holds in slot order (ids, attributes) as 16-byte copies, the two packed words composed, the
 * second line in four 16-byte stores. Unused attributes are zero because dft_span_open set them so.
 */
static inline void dft_slot_store(struct dft_slot *slot, const struct dft_span *sp, uint64_t end)
{
	unsigned char *b = (unsigned char *)(void *)slot;
	uint64_t w0, w7, tail[2] = {(uint64_t)sp->attr_val[3], 0};
	static const uint64_t zero[2];

	w0 = (uint64_t)DFT_SLOT_SPAN | (uint64_t)sp->flags << 16 | (uint64_t)sp->component_id << 32 |
	     (uint64_t)sp->op_id << 48;
	w7 = (uint64_t)sp->queue_ns | (uint64_t)sp->status << 32 | (uint64_t)sp->span_kind << 40 |
	     (uint64_t)sp->n_attrs << 48;
	/* line 0 */
	memcpy(b, &w0, 8);
	memcpy(b + 8, sp, 32);
	memcpy(b + 40, &sp->start, 8);
	memcpy(b + 48, &end, 8);
	memcpy(b + 56, &w7, 8);
	/* line 1: attr_key[4] and attr_val[0..2], then attr_val[3] and the reserved zeros */
	memcpy(b + 64, sp->attr_key, 32);
	memcpy(b + 96, tail, 16);
	memcpy(b + 112, zero, 16);
}

static inline void dft_span_write(const struct dft_span *sp, uint64_t end)
{
	struct dft_thread *t = &dft_self;
	struct dft_slot *slot;

	if (unlikely(t->generation != dft_host.generation) && !dft_ring_claim(t))
		return;
	/* one test for both rare cases: hops (function spans) and a message (error spans) */
	if (unlikely((uintptr_t)sp->hops | sp->status_msg_len)) {
		dft_span_write_cont(t, sp, end);
		return;
	}
	slot = dft_ring_prod_reserve(&t->prod, 1);
	if (unlikely(!slot))
		return;
	dft_slot_store(slot, sp, end);
	dft_ring_prod_commit(&t->prod, 1);
}

/* End at tick `end` (the tick counter): in the span's own unit. */
static inline void dft_span_end_ticks(struct dft_span *sp, uint64_t end)
{
	if (unlikely(sp->flags & DFT_SF_TS_NS)) {
		/* began at an explicit ns time: end in the same unit, through our own calibration */
		struct dft_clock_cal cal;

		dft_clock_current(&cal);
		end = dft_ticks_to_ns(&cal, end);
	}
	dft_span_write(sp, end);
}

void dft_span_end(struct dft_span *sp)
{
	if (unlikely(!dft_load_acquire(&dft_host.live))) /* [L1] */
		return;
	dft_span_end_ticks(sp, dft_ticks());
}

void dft_span_end_tick(struct dft_span *sp, uint64_t tick)
{
	if (unlikely(!dft_load_acquire(&dft_host.live))) /* [L1] */
		return;
	dft_span_end_ticks(sp, tick);
}

void dft_span_end_at(struct dft_span *sp, uint64_t end_ns)
{
	if (unlikely(!dft_load_acquire(&dft_host.live))) /* [L1] */
		return;
	if (unlikely(!(sp->flags & DFT_SF_TS_NS))) {
		/* began on ticks: a slot holds one unit, so the start moves to ns as well */
		struct dft_clock_cal cal;

		dft_clock_current(&cal);
		sp->start = dft_ticks_to_ns(&cal, sp->start);
		sp->flags |= DFT_SF_TS_NS;
	}
	dft_span_write(sp, end_ns);
}
