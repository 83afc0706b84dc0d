/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "dft/ring.h"
#include "dft/text.h"
#include "dft/validate.h"

static const char *const reason_names[DFT_INVALID_COUNT] = {
	[DFT_INVALID_NONE] = "none",
	[DFT_INVALID_BAD_TYPE] = "bad_type",
	[DFT_INVALID_BAD_FLAGS] = "bad_flags",
	[DFT_INVALID_BAD_STATUS] = "bad_status",
	[DFT_INVALID_BAD_KIND] = "bad_kind",
	[DFT_INVALID_BAD_ATTRS] = "bad_attrs",
	[DFT_INVALID_BAD_NAME] = "bad_name",
	[DFT_INVALID_ZERO_ID] = "zero_id",
	[DFT_INVALID_BAD_TIME] = "bad_time",
	[DFT_INVALID_BAD_RESERVED] = "bad_reserved",
	[DFT_INVALID_BAD_CONT] = "bad_cont",
	[DFT_INVALID_RING_CORRUPT] = "ring_corrupt",
	[DFT_INVALID_NOT_ALLOWED] = "not_allowed",
};

const char *dft_invalid_reason_name(enum dft_invalid_reason why)
{
	if ((unsigned)why >= DFT_INVALID_COUNT)
		return "unknown";
	return reason_names[why];
}

int dft_region_validate(const struct dft_region_hdr *h, size_t mapped_len, struct dft_region_geom *out)
{
	/* each field is loaded exactly once: the checks and the geometry see the same value even if
	 * the producer rewrites the header while we look at it */
	uint64_t magic = dft_load_relaxed(&h->magic);
	uint32_t abi = dft_load_relaxed(&h->abi_version);
	uint32_t hdr_size = dft_load_relaxed(&h->hdr_size);
	uint64_t region_size = dft_load_relaxed(&h->region_size);
	uint32_t slot_size = dft_load_relaxed(&h->slot_size);
	uint32_t ring_slots = dft_load_relaxed(&h->ring_slots);
	uint32_t ring_count = dft_load_relaxed(&h->ring_count);
	uint32_t name_capacity = dft_load_relaxed(&h->name_capacity);
	uint64_t metrics_off = dft_load_relaxed(&h->metrics_off);
	uint64_t names_off = dft_load_relaxed(&h->names_off);
	uint64_t rings_off = dft_load_relaxed(&h->rings_off);
	uint64_t ring_stride = dft_load_relaxed(&h->ring_stride);
	uint64_t instance_id = dft_load_relaxed(&h->instance_id);
	uint32_t pid = dft_load_relaxed(&h->pid);
	uint16_t component_id = dft_load_relaxed(&h->component_id);
	uint8_t component_kind = dft_load_relaxed(&h->component_kind);

	if (mapped_len < sizeof(*h))
		return -ERANGE;
	if (magic != DFT_REGION_MAGIC)
		return -EBADF;
	if (abi != DFT_ABI_VERSION || hdr_size != sizeof(struct dft_region_hdr) || slot_size != DFT_SLOT_SIZE)
		return -EPROTONOSUPPORT;
	if (ring_slots < DFT_RING_SLOTS_MIN || ring_slots > DFT_RING_SLOTS_MAX || (ring_slots & (ring_slots - 1)))
		return -EINVAL;
	if (ring_count == 0 || ring_count > DFT_RING_COUNT_MAX)
		return -EINVAL;
	if (name_capacity == 0 || name_capacity > DFT_NAME_CAPACITY_MAX)
		return -EINVAL;
	if (metrics_off != DFT_METRICS_OFF || names_off != DFT_NAMES_OFF || rings_off != dft_rings_off(name_capacity) ||
	    ring_stride != dft_ring_stride(ring_slots))
		return -EINVAL;
	/* the limits above keep this product far from overflow */
	if (region_size != dft_region_size(name_capacity, ring_count, ring_slots))
		return -EINVAL;
	if (region_size > mapped_len || region_size > DFT_REGION_MAP_MAX)
		return -ERANGE;
	if (component_kind > DFT_KIND_FUNCTION || component_id > name_capacity)
		return -EINVAL;

	out->map_len = mapped_len;
	out->region_size = region_size;
	out->metrics_off = metrics_off;
	out->names_off = names_off;
	out->rings_off = rings_off;
	out->ring_stride = ring_stride;
	out->instance_id = instance_id;
	out->ring_slots = ring_slots;
	out->ring_count = ring_count;
	out->name_capacity = name_capacity;
	out->pid = pid;
	out->component_id = component_id;
	out->component_kind = component_kind;
	return 0;
}

static int reject(enum dft_invalid_reason *why, enum dft_invalid_reason r)
{
	*why = r;
	return -EINVAL;
}

static int name_ok(uint16_t id, uint32_t names_published)
{
	return id != 0 && id <= names_published;
}

int dft_slot_validate(const struct dft_slot *s, const struct dft_region_geom *g, uint32_t names_published,
		      enum dft_invalid_reason *why)
{
	static const uint8_t zero_tid[DFT_TRACE_ID_LEN];
	uint32_t kinds = s->flags & (DFT_SF_KIND_PLATFORM | DFT_SF_KIND_FUNCTION);

	*why = DFT_INVALID_NONE;
	if (names_published > g->name_capacity)
		names_published = g->name_capacity;
	if (s->type != DFT_SLOT_SPAN)
		return reject(why, DFT_INVALID_BAD_TYPE);
	/* both kind overrides at once say nothing: refuse rather than guess */
	if ((s->flags & ~DFT_SF_KNOWN_MASK) || kinds == (DFT_SF_KIND_PLATFORM | DFT_SF_KIND_FUNCTION))
		return reject(why, DFT_INVALID_BAD_FLAGS);
	if (s->status > DFT_STATUS_ERROR)
		return reject(why, DFT_INVALID_BAD_STATUS);
	if (s->span_kind > 5)
		return reject(why, DFT_INVALID_BAD_KIND);
	if (s->n_attrs > DFT_SLOT_ATTRS)
		return reject(why, DFT_INVALID_BAD_ATTRS);
	if ((s->component_id && !name_ok(s->component_id, names_published)) || !name_ok(s->op_id, names_published))
		return reject(why, DFT_INVALID_BAD_NAME);
	for (unsigned i = 0; i < s->n_attrs; i++)
		if (!name_ok(s->attr_key[i], names_published))
			return reject(why, DFT_INVALID_BAD_NAME);
	if (!memcmp(s->trace_id, zero_tid, sizeof(zero_tid)) || s->span_id == 0)
		return reject(why, DFT_INVALID_ZERO_ID);
	if (s->end < s->start)
		return reject(why, DFT_INVALID_BAD_TIME);
	if (s->reserved0 || s->reserved1[0] || s->reserved1[1] || s->reserved1[2])
		return reject(why, DFT_INVALID_BAD_RESERVED);
	if (s->n_cont > DFT_SLOT_CONT_MAX)
		return reject(why, DFT_INVALID_BAD_CONT);
	return 0;
}

int dft_cont_validate(const struct dft_slot *c, enum dft_invalid_reason *why)
{
	const struct dft_hops_slot *hs = (const struct dft_hops_slot *)(const void *)c;

	*why = DFT_INVALID_NONE;
	if (hs->type == DFT_SLOT_STATUS_MSG) {
		const struct dft_msg_slot *ms = (const struct dft_msg_slot *)(const void *)c;

		/* only the frame here: a bad text costs the message, not the (error) span */
		for (unsigned i = 0; i < sizeof(ms->reserved); i++)
			if (ms->reserved[i])
				return reject(why, DFT_INVALID_BAD_CONT);
		return 0;
	}
	if (hs->type != DFT_SLOT_HOPS || hs->n_hops == 0 || hs->n_hops > DFT_HOPS_PER_SLOT)
		return reject(why, DFT_INVALID_BAD_CONT);
	for (unsigned i = 0; i < sizeof(hs->reserved); i++)
		if (hs->reserved[i])
			return reject(why, DFT_INVALID_BAD_CONT);
	for (unsigned i = 0; i < hs->n_hops; i++) {
		const struct dft_hop *hp = &hs->hop[i];

		if (hp->reserved || hp->span_id == 0)
			return reject(why, DFT_INVALID_BAD_CONT);
	}
	return 0;
}

int dft_conts_validate(const struct dft_slot *cont, unsigned n, enum dft_invalid_reason *why)
{
	*why = DFT_INVALID_NONE;
	for (unsigned c = 0; c < n; c++) {
		if (dft_cont_validate(&cont[c], why))
			return -EINVAL;
		/* one message, after the hops: the consumer finds it without a search */
		if (cont[c].type == DFT_SLOT_STATUS_MSG && c + 1 != n)
			return reject(why, DFT_INVALID_BAD_CONT);
	}
	return 0;
}

int dft_status_msg_read(const struct dft_slot *c, char *out, size_t cap)
{
	const struct dft_msg_slot *ms = (const struct dft_msg_slot *)(const void *)c;
	size_t len = ms->len;

	if (cap == 0)
		return -EINVAL;
	out[0] = 0;
	if (ms->type != DFT_SLOT_STATUS_MSG || len == 0 || len > DFT_STATUS_MSG_MAX || len >= cap)
		return -EINVAL;
	for (size_t i = len; i < DFT_STATUS_MSG_MAX; i++)
		if (ms->text[i])
			return -EINVAL;
	if (!dft_text_valid(ms->text, len))
		return -EINVAL;
	memcpy(out, ms->text, len);
	out[len] = 0;
	return (int)len;
}

int dft_name_read(const void *base, const struct dft_region_geom *g, uint32_t names_published, uint16_t id,
		  char *out, size_t cap)
{
	/* in bounds: names_off + name_capacity * 64 <= rings_off <= region_size <= map_len (validated) */
	return dft_name_table_read((const struct dft_name *)(const void *)((const uint8_t *)base + g->names_off),
				   g->name_capacity, names_published, id, out, cap);
}

int dft_name_table_read(const struct dft_name *table, uint32_t capacity, uint32_t names_published, uint16_t id,
			char *out, size_t cap)
{
	struct dft_name copy;
	size_t len;

	if (cap == 0)
		return -EINVAL;
	out[0] = 0;
	if (names_published > capacity)
		names_published = capacity;
	if (id == 0 || id > names_published)
		return -ENOENT;
	memcpy(&copy, &table[id - 1], sizeof(copy));
	len = copy.len > DFT_NAME_MAX ? DFT_NAME_MAX : copy.len;
	if (len > cap - 1)
		len = cap - 1;
	for (size_t i = 0; i < len; i++) {
		char ch = copy.str[i];

		out[i] = (ch >= 0x20 && ch <= 0x7e) ? ch : '?';
	}
	out[len] = 0;
	return (int)len;
}
