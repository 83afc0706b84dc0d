/* SPDX-License-Identifier: MIT */
/*
 * Validation of what a (hostile) producer put into a shared region: the region header once, at
 * registration, and every slot the consumer copies out. Both work on values read once: the header
 * validator loads each field a single time into a local, the slot validator works on the caller's
 * private 128-byte copy, so the producer cannot change a field between check and use.
 */
#ifndef DFT_VALIDATE_H
#define DFT_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "dft/abi.h"

/* Continuation slots one span may announce: DFT_HOP_LIST_MAX (16) hops at DFT_HOPS_PER_SLOT (3) per
 * slot need 6, a status message one more; leave room to grow. */
#define DFT_SLOT_CONT_MAX 8u

/* Region mappings larger than this are refused (a header cannot make the daemon map terabytes). */
#define DFT_REGION_MAP_MAX ((uint64_t)1 << 32)

/*
 * The geometry of a validated region. The consumer uses these copies from then on and never
 * re-reads the corresponding header fields (the producer may rewrite them at any time).
 */
struct dft_region_geom {
	uint64_t map_len;     /* what the consumer mapped (fstat), >= region_size */
	uint64_t region_size;
	uint64_t metrics_off;
	uint64_t names_off;
	uint64_t rings_off;
	uint64_t ring_stride;
	uint64_t instance_id;
	uint32_t ring_slots;
	uint32_t ring_count;
	uint32_t name_capacity;
	uint32_t pid;
	uint16_t component_id;
	uint8_t component_kind;
};

/* Why a slot was rejected; DFT_INVALID_NONE is 0 so "why" can be tested as a bool. */
enum dft_invalid_reason {
	DFT_INVALID_NONE = 0,
	DFT_INVALID_BAD_TYPE,
	DFT_INVALID_BAD_FLAGS,
	DFT_INVALID_BAD_STATUS,
	DFT_INVALID_BAD_KIND,
	DFT_INVALID_BAD_ATTRS,
	DFT_INVALID_BAD_NAME,
	DFT_INVALID_ZERO_ID,
	DFT_INVALID_BAD_TIME,
	DFT_INVALID_BAD_RESERVED,
	DFT_INVALID_BAD_CONT,
	DFT_INVALID_RING_CORRUPT,
	DFT_INVALID_NOT_ALLOWED, /* the registering peer may not trace as the span's component */
	DFT_INVALID_COUNT
};

/* Counter name of a reason ("bad_type", ...); "none" for 0, "unknown" out of range. */
const char *dft_invalid_reason_name(enum dft_invalid_reason why);

/*
 * Validate a mapped region header. mapped_len is what the caller really mapped (from fstat, never
 * from the header). Returns 0 and fills *out, or -EBADF (magic), -EPROTONOSUPPORT (abi_version,
 * hdr_size, slot_size), -EINVAL (a limit, an offset that differs from the abi.h formula, a bad
 * component kind) or -ERANGE (region_size larger than the mapping).
 */
int dft_region_validate(const struct dft_region_hdr *h, size_t mapped_len, struct dft_region_geom *out);

/*
 * Validate the caller's private copy of a span slot (type DFT_SLOT_SPAN). names_published is the
 * caller's snapshot, already clamped to g->name_capacity. Continuation slots are checked separately
 * with dft_cont_validate. Returns 0, or -EINVAL with *why set.
 */
int dft_slot_validate(const struct dft_slot *s_copy, const struct dft_region_geom *g, uint32_t names_published,
		      enum dft_invalid_reason *why);

/*
 * Validate the private copy of one continuation slot of a span: a hops slot, or the frame of a
 * status message slot (type and reserved bytes; its text is judged by dft_status_msg_read).
 * Returns 0 or -EINVAL (*why = BAD_CONT).
 */
int dft_cont_validate(const struct dft_slot *c_copy, enum dft_invalid_reason *why);

/*
 * Validate the n continuation slots of one span (private copies): each as dft_cont_validate, and a
 * status message slot only as the last one. Returns 0 or -EINVAL (*why = BAD_CONT).
 */
int dft_conts_validate(const struct dft_slot *cont_copy, unsigned n, enum dft_invalid_reason *why);

/*
 * The text of a status message slot (a private copy that passed dft_cont_validate) into out[cap],
 * NUL-terminated. The length is read once; the text must be 1..DFT_STATUS_MSG_MAX bytes of
 * dft_text_valid UTF-8 with zero bytes after it. Returns the length, or -EINVAL (out is then "")
 * for a text that is not, or when cap <= the length.
 */
int dft_status_msg_read(const struct dft_slot *c_copy, char *out, size_t cap);

/*
 * Copy name `id` (1..names_published) out of the region at base (mapped per g) into out[cap] as a
 * NUL-terminated printable string: the length is read once and clamped to DFT_NAME_MAX, bytes
 * outside 0x20..0x7e become '?'. Returns the length written, or -ENOENT for id 0 or an id that is
 * not published (out is then "").
 */
int dft_name_read(const void *base, const struct dft_region_geom *g, uint32_t names_published, uint16_t id,
		  char *out, size_t cap);
/* The same over a name table of capacity entries held elsewhere (a copy brought by DMA or RDMA). */
int dft_name_table_read(const struct dft_name *table, uint32_t capacity, uint32_t names_published, uint16_t id,
			char *out, size_t cap);

#endif /* DFT_VALIDATE_H */
