/* SPDX-License-Identifier: MIT */
/*
 * The shared-memory ABI between libdifftrace (host, producer) and difftrace-nic (consumer).
 *
 * This header is the only definition of the region layout. Everything in the region is an offset
 * or a fixed-size array, never a pointer, so the NIC side can map it at any address (or read it with
 * RDMA READ) and bounds-check every offset against the size it actually mapped.
 *
 * Region layout (all offsets from the region start, every part 64-byte aligned):
 *
 *   [0, 4096)                        struct dft_region_hdr
 *   [metrics_off, +4096)             struct dft_metrics_page
 *   [names_off, +name_capacity*64)   struct dft_name[name_capacity]     (id N lives at index N-1)
 *   [rings_off, +ring_count*stride)  per ring: struct dft_ring_hdr, then ring_slots * struct dft_slot
 *
 * Structs that cross the process boundary only grow at the end; abi_version changes when a field
 * moves. The consumer rejects a region whose magic, version or sizes differ from its own.
 */
#ifndef DFT_ABI_H
#define DFT_ABI_H

#include <stddef.h>
#include <stdint.h>

#define DFT_REGION_MAGIC 0x314e474552544644ULL /* "DFTREGN1" little-endian */
#define DFT_ABI_VERSION 2u /* 2: hops name (component, operation) by hash and carry their parent */

#define DFT_CACHELINE 64u
#define DFT_PAGE 4096u
#define DFT_SLOT_SIZE 128u
#define DFT_SLOT_ATTRS 4u
#define DFT_NAME_MAX 62u /* bytes of a name, not NUL-terminated in the table */
#define DFT_TRACE_ID_LEN 16u

/* limits the consumer enforces on what a producer may declare */
#define DFT_RING_SLOTS_MIN 64u
#define DFT_RING_SLOTS_MAX (1u << 20)
#define DFT_RING_COUNT_MAX 256u
#define DFT_NAME_CAPACITY_MAX 4096u
#define DFT_METRICS_MAX 64u

/* component kinds: the differential filter keeps every FUNCTION span */
enum dft_kind {
	DFT_KIND_UNKNOWN = 0,
	DFT_KIND_PLATFORM = 1,
	DFT_KIND_FUNCTION = 2,
};

enum dft_status {
	DFT_STATUS_UNSET = 0,
	DFT_STATUS_OK = 1,
	DFT_STATUS_ERROR = 2,
};

enum dft_slot_type {
	DFT_SLOT_EMPTY = 0, /* never valid in the readable part of a ring */
	DFT_SLOT_SPAN = 1,
	DFT_SLOT_HOPS = 2, /* continuation of the preceding span slot (hop list) */
	DFT_SLOT_STATUS_MSG = 3, /* continuation: the span's status message; the last one, at most one */
};

/* span slot flags */
#define DFT_SF_TS_NS (1u << 0)        /* start/end are unix ns, not ticks (explicit-timestamp API) */
#define DFT_SF_HAS_PARENT (1u << 1)   /* parent_span_id is meaningful */
#define DFT_SF_REMOTE_PARENT (1u << 2) /* parent came from an extracted header */
#define DFT_SF_ROOT (1u << 3)         /* first span of the trace (no parent anywhere) */
#define DFT_SF_COLD_START (1u << 4)
#define DFT_SF_KEEP (1u << 5)         /* explicit keep requested through the API */
#define DFT_SF_EXCEPTION (1u << 6)
#define DFT_SF_KIND_PLATFORM (1u << 7) /* per-span override of the region's component kind */
#define DFT_SF_KIND_FUNCTION (1u << 8)
#define DFT_SF_KNOWN_MASK 0x01ffu     /* any other bit set: slot is invalid */

/* ring states */
#define DFT_RING_FREE 0u
#define DFT_RING_ACTIVE 1u

/*
 * Region header, written by the host before it registers the region; afterwards only the
 * clock fields (under clock_seq), names_published and dropped_no_ring change.
 */
struct dft_region_hdr {
	uint64_t magic;
	uint32_t abi_version;
	uint32_t hdr_size; /* sizeof(struct dft_region_hdr) */
	uint64_t region_size;
	uint32_t slot_size;  /* DFT_SLOT_SIZE */
	uint32_t ring_slots; /* power of two */
	uint32_t ring_count;
	uint32_t name_capacity;
	uint64_t metrics_off;
	uint64_t names_off;
	uint64_t rings_off;
	uint64_t ring_stride; /* sizeof(struct dft_ring_hdr) + ring_slots * DFT_SLOT_SIZE */
	/* 72: identity */
	uint64_t instance_id; /* random per dft_init: tells regions of restarted processes apart */
	uint32_t pid;
	uint16_t component_id; /* name id of the process's component */
	uint8_t component_kind; /* enum dft_kind */
	uint8_t reserved0;
	/* 88: tick -> unix ns: ns = ns_base + (((ticks - tick_base) * tick_mult) >> tick_shift).
	 * The host rewrites these under clock_seq (seqlock: odd while writing). */
	uint32_t clock_seq;
	uint32_t tick_shift;
	uint64_t tick_mult;
	uint64_t tick_base;
	uint64_t ns_base;
	uint64_t tick_hz;
	/* 128: counters the host publishes */
	uint32_t names_published; /* ids 1..names_published are complete (store-release) */
	uint32_t reserved1;
	uint64_t dropped_no_ring; /* spans lost because every ring was claimed */
	uint8_t reserved[DFT_PAGE - 144];
};

/* Component metrics the host publishes for the resource-contention rule (seqlock per entry). */
struct dft_metric_entry {
	uint32_t seq;           /* odd while the host writes the entry */
	uint16_t component_id;  /* 0 = entry unused */
	uint16_t reserved;
	uint32_t cpu_throttle_ppm; /* share of the last period the component was CPU-throttled */
	uint32_t concurrency;      /* requests in flight */
	uint32_t concurrency_limit;
	uint32_t mem_pressure_ppm;
	uint64_t updated_ns; /* unix ns of the reading */
};

struct dft_metrics_page {
	uint32_t count; /* entries [0, count) may be in use (store-release) */
	uint32_t reserved0;
	/* Written by the daemon, read by the host: the region clock (unix ns) taken just before the
	 * daemon's newest reading of this page (store-release after it), 0 before the first. A state
	 * written before it was seen; a publisher that must not hide a state behind the next one
	 * waits for it (dft_metrics_read_ns) instead of guessing how often the daemon reads. */
	uint64_t read_ns;
	uint32_t reserved[12];
	struct dft_metric_entry entry[DFT_METRICS_MAX];
	uint8_t pad[DFT_PAGE - 64 - DFT_METRICS_MAX * 32];
};

/* One interned name. Written once, before names_published covers it. */
struct dft_name {
	uint16_t len; /* <= DFT_NAME_MAX */
	char str[DFT_NAME_MAX];
};

/*
 * SPSC ring header: the producer's line and the consumer's line never share a cache line, so
 * each side writes only its own line and reads the other's.
 */
struct dft_ring_hdr {
	/* line 0: written only by the producer thread */
	uint64_t head;         /* slots written, free-running; store-release after the slots */
	uint64_t produced;     /* spans the host tried to report into this ring */
	uint64_t dropped_full; /* spans lost because the ring was full */
	uint64_t dropped_hops; /* hop entries cut because a span had more than fit */
	uint8_t pad0[DFT_CACHELINE - 32];
	/* line 1: written only by the consumer (the NIC side) */
	uint64_t tail; /* slots consumed, free-running; store-release after reading the slots */
	uint8_t pad1[DFT_CACHELINE - 8];
	/* line 2: ownership, written when a thread claims or releases the ring */
	uint32_t state; /* DFT_RING_FREE / DFT_RING_ACTIVE */
	uint32_t tid;
	uint8_t pad2[DFT_CACHELINE - 8];
	uint8_t pad3[DFT_CACHELINE];
};

/*
 * One span in one 128-byte slot. 128 rather than 64: a span with ids, two timestamps, queue time
 * and four numeric attributes needs 104 bytes, so at 64 nearly every span would take two slots and
 * two index checks; at 128 the common span is one slot, i.e. two cache lines the NIC reads by
 * one DMA or RDMA READ. Hop lists that do not fit follow as DFT_SLOT_HOPS continuation slots.
 */
struct dft_slot {
	uint8_t type;   /* enum dft_slot_type */
	uint8_t n_cont; /* continuation slots that follow this one */
	uint16_t flags; /* DFT_SF_* */
	uint16_t component_id; /* name id; 0 = the region's component */
	uint16_t op_id;        /* name id of the operation (span name) */
	uint8_t trace_id[DFT_TRACE_ID_LEN];
	uint64_t span_id;
	uint64_t parent_span_id;
	uint64_t start; /* ticks, or unix ns with DFT_SF_TS_NS */
	uint64_t end;
	uint32_t queue_ns; /* time the request waited before this component served it */
	uint8_t status;    /* enum dft_status */
	uint8_t span_kind; /* OTLP SpanKind 0..5 */
	uint8_t n_attrs;   /* <= DFT_SLOT_ATTRS */
	uint8_t reserved0;
	uint16_t attr_key[DFT_SLOT_ATTRS]; /* name ids */
	int64_t attr_val[DFT_SLOT_ATTRS];
	uint64_t reserved1[3];
};

/*
 * A hop that a platform component appended to the request header (continuation slots). Names do
 * not travel with hops (see dft/hops.h): name_hash identifies (component, operation) and the
 * collector resolves it. Each hop carries its parent: a component's step spans are children of its
 * own span, not a chain.
 */
struct dft_hop {
	uint32_t name_hash;
	uint32_t reserved;
	uint64_t span_id;
	uint64_t start_ns;
	uint64_t parent_span_id;
};
#define DFT_HOPS_PER_SLOT 3u

struct dft_hops_slot {
	uint8_t type;   /* DFT_SLOT_HOPS */
	uint8_t n_hops; /* 1..DFT_HOPS_PER_SLOT */
	uint8_t reserved[6];
	struct dft_hop hop[DFT_HOPS_PER_SLOT];
	uint8_t pad[DFT_SLOT_SIZE - 8 - DFT_HOPS_PER_SLOT * 32];
};

/*
 * The status message of an error span, in one continuation slot after any hop slots. 120 bytes:
 * what one slot holds beside its header, enough for an OTLP status description ("upstream connect
 * timeout after 3 attempts"), and one slot keeps a span's reservation bounded. The text is UTF-8
 * without control characters; bytes from len on are zero.
 */
#define DFT_STATUS_MSG_MAX 120u

struct dft_msg_slot {
	uint8_t type; /* DFT_SLOT_STATUS_MSG */
	uint8_t len;  /* 1..DFT_STATUS_MSG_MAX */
	uint8_t reserved[6];
	char text[DFT_STATUS_MSG_MAX];
};

_Static_assert(sizeof(struct dft_region_hdr) == DFT_PAGE, "region header is one page");
_Static_assert(offsetof(struct dft_region_hdr, instance_id) == 72, "identity at 72");
_Static_assert(offsetof(struct dft_region_hdr, clock_seq) == 88, "clock at 88");
_Static_assert(offsetof(struct dft_region_hdr, names_published) == 128, "counters at 128");
_Static_assert(offsetof(struct dft_region_hdr, dropped_no_ring) == 136, "dropped_no_ring at 136");
_Static_assert(sizeof(struct dft_metric_entry) == 32, "metric entry is 32 bytes");
_Static_assert(sizeof(struct dft_metrics_page) == DFT_PAGE, "metrics page is one page");
_Static_assert(offsetof(struct dft_metrics_page, read_ns) == 8, "read_ns at 8");
_Static_assert(offsetof(struct dft_metrics_page, entry) == 64, "entries from 64");
_Static_assert(sizeof(struct dft_name) == 64, "name entry is one cache line");
_Static_assert(sizeof(struct dft_ring_hdr) == 4 * DFT_CACHELINE, "ring header is four lines");
_Static_assert(offsetof(struct dft_ring_hdr, tail) == DFT_CACHELINE, "tail on its own line");
_Static_assert(offsetof(struct dft_ring_hdr, state) == 2 * DFT_CACHELINE, "state on line 2");
_Static_assert(sizeof(struct dft_slot) == DFT_SLOT_SIZE, "slot size");
_Static_assert(offsetof(struct dft_slot, trace_id) == 8, "trace_id at 8");
_Static_assert(offsetof(struct dft_slot, span_id) == 24, "span_id at 24");
_Static_assert(offsetof(struct dft_slot, start) == 40, "start at 40");
_Static_assert(offsetof(struct dft_slot, queue_ns) == 56, "queue_ns at 56");
_Static_assert(offsetof(struct dft_slot, attr_key) == 64, "attr keys at 64");
_Static_assert(offsetof(struct dft_slot, attr_val) == 72, "attr values at 72");
_Static_assert(sizeof(struct dft_hop) == 32, "hop is 32 bytes");
_Static_assert(sizeof(struct dft_hops_slot) == DFT_SLOT_SIZE, "hops slot size");
_Static_assert(sizeof(struct dft_msg_slot) == DFT_SLOT_SIZE, "message slot size");
_Static_assert(offsetof(struct dft_msg_slot, text) == 8, "message text at 8");

/* Layout arithmetic shared by producer and consumer: one formula, so they cannot disagree. */
#define DFT_METRICS_OFF ((uint64_t)DFT_PAGE)
#define DFT_NAMES_OFF ((uint64_t)2 * DFT_PAGE)

static inline uint64_t dft_ring_stride(uint32_t ring_slots)
{
	return sizeof(struct dft_ring_hdr) + (uint64_t)ring_slots * DFT_SLOT_SIZE;
}

static inline uint64_t dft_rings_off(uint32_t name_capacity)
{
	uint64_t end = DFT_NAMES_OFF + (uint64_t)name_capacity * sizeof(struct dft_name);
	return (end + DFT_PAGE - 1) & ~((uint64_t)DFT_PAGE - 1);
}

static inline uint64_t dft_region_size(uint32_t name_capacity, uint32_t ring_count, uint32_t ring_slots)
{
	return dft_rings_off(name_capacity) + (uint64_t)ring_count * dft_ring_stride(ring_slots);
}

/*
 * Fill the layout part of a zeroed header (magic through ring_stride) from the three sizes, with the
 * formulas above: the producer and every test region use this, so none can drift from the consumer's
 * checks. Identity, clock and counters are the caller's.
 */
static inline void dft_region_hdr_init(struct dft_region_hdr *h, uint32_t name_capacity, uint32_t ring_count,
				       uint32_t ring_slots)
{
	h->magic = DFT_REGION_MAGIC;
	h->abi_version = DFT_ABI_VERSION;
	h->hdr_size = sizeof(*h);
	h->region_size = dft_region_size(name_capacity, ring_count, ring_slots);
	h->slot_size = DFT_SLOT_SIZE;
	h->ring_slots = ring_slots;
	h->ring_count = ring_count;
	h->name_capacity = name_capacity;
	h->metrics_off = DFT_METRICS_OFF;
	h->names_off = DFT_NAMES_OFF;
	h->rings_off = dft_rings_off(name_capacity);
	h->ring_stride = dft_ring_stride(ring_slots);
}

/* Ring i of a region, from offsets the caller trusts (its own, or validated ones). */
static inline struct dft_ring_hdr *dft_region_ring(void *base, uint64_t rings_off, uint64_t ring_stride, uint32_t i)
{
	return (struct dft_ring_hdr *)(void *)((uint8_t *)base + rings_off + (uint64_t)i * ring_stride);
}

/* Name table entry of id (1-based), id <= name_capacity checked by the caller. */
static inline struct dft_name *dft_region_name(void *base, uint16_t id)
{
	return (struct dft_name *)(void *)((uint8_t *)base + DFT_NAMES_OFF) + (id - 1);
}

#endif /* DFT_ABI_H */
