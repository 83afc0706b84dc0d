/* SPDX-License-Identifier: MIT */
/*
 * Fuzz what difftrace-nic reads out of a hostile region: arbitrary bytes laid out as a region (a
 * fixed, valid header geometry; names, metrics page and ring slots from the input), then every
 * slot through the span / continuation validators the way the worker walks a burst, names read
 * for every id a valid slot names, and the metrics page through the contention reader. Whatever
 * validates must also be safe to batch.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dft/text.h"
#include "nic.h"

#define FUZZ_CHECK(c) do { if (!(c)) abort(); } while (0)

#define NAME_CAP 32u
#define RING_SLOTS 64u

static uint8_t *region;
static size_t region_len;
static struct dft_region_geom geom;

static void setup(void)
{
	struct dft_region_hdr *h;

	region_len = dft_region_size(NAME_CAP, 1, RING_SLOTS);
	region = aligned_alloc(DFT_PAGE, (region_len + DFT_PAGE - 1) / DFT_PAGE * DFT_PAGE);
	if (!region)
		abort();
	memset(region, 0, region_len);
	h = (struct dft_region_hdr *)(void *)region;
	dft_region_hdr_init(h, NAME_CAP, 1, RING_SLOTS);
	h->component_id = 1;
	h->component_kind = DFT_KIND_PLATFORM;
	if (dft_region_validate(h, region_len, &geom))
		abort();
}

static void check_name(uint32_t np, uint16_t id)
{
	char out[DFT_NAME_MAX + 1];
	int n = dft_name_read(region, &geom, np, id, out, sizeof(out));

	FUZZ_CHECK(n < 0 ? out[0] == 0 : (size_t)n == strlen(out) && n <= (int)DFT_NAME_MAX);
	for (int i = 0; i < n; i++)
		FUZZ_CHECK(out[i] >= 0x20 && out[i] <= 0x7e);
	/* a tiny buffer is never overrun */
	n = dft_name_read(region, &geom, np, id, out, 4);
	FUZZ_CHECK(n < 4 && strlen(out) < 4);
}

/* Valid inputs the mutations start from: named components, metrics entries, spans with hops, an
 * error span with a status message. */
size_t dft_fuzz_seed(unsigned i, uint8_t *buf, size_t cap);
size_t dft_fuzz_seed(unsigned i, uint8_t *buf, size_t cap)
{
	const size_t names_len = (size_t)NAME_CAP * sizeof(struct dft_name);
	const size_t metrics_len = 64 + 8 * sizeof(struct dft_metric_entry);
	size_t len = 1 + metrics_len + names_len + 4 * DFT_SLOT_SIZE;
	struct dft_metrics_page pg;
	struct dft_name nm;
	struct dft_slot s[4];
	struct dft_hops_slot *hs = (struct dft_hops_slot *)(void *)&s[1];
	size_t off = 1;

	if (i >= 4 || cap < len)
		return 0;
	memset(buf, 0, len);
	buf[0] = (uint8_t)(NAME_CAP - i);
	memset(&pg, 0, sizeof(pg));
	pg.count = 2 + i;
	for (unsigned k = 0; k < pg.count && k < 8; k++) {
		pg.entry[k].seq = 2 * k;
		pg.entry[k].component_id = (uint16_t)(1 + k);
		pg.entry[k].cpu_throttle_ppm = 100000u * k;
		pg.entry[k].concurrency = k;
		pg.entry[k].concurrency_limit = 2;
	}
	memcpy(buf + off, &pg, metrics_len);
	off += metrics_len;
	for (unsigned k = 0; k < NAME_CAP; k++) {
		memset(&nm, 0, sizeof(nm));
		nm.len = (uint16_t)(1 + (k * 7 + i) % DFT_NAME_MAX);
		memset(nm.str, 'a' + (int)(k % 26), nm.len);
		memcpy(buf + off + k * sizeof(nm), &nm, sizeof(nm));
	}
	off += names_len;
	memset(s, 0, sizeof(s));
	s[0].type = DFT_SLOT_SPAN;
	s[0].n_cont = 1;
	s[0].flags = DFT_SF_TS_NS | DFT_SF_HAS_PARENT;
	s[0].component_id = 2;
	s[0].op_id = 3;
	memset(s[0].trace_id, 0x11 * (int)(i + 1), DFT_TRACE_ID_LEN);
	s[0].span_id = 77;
	s[0].start = 10;
	s[0].end = 20 + i;
	s[0].n_attrs = 1;
	s[0].attr_key[0] = 4;
	hs->type = DFT_SLOT_HOPS;
	hs->n_hops = 2;
	hs->hop[0] = (struct dft_hop){.name_hash = 5, .span_id = 8, .start_ns = 1, .parent_span_id = 5};
	hs->hop[1] = (struct dft_hop){.name_hash = 7, .span_id = 9, .start_ns = 2, .parent_span_id = 8};
	s[2] = s[0];
	s[2].n_cont = 0;
	s[2].span_id = 78;
	s[2].status = DFT_STATUS_ERROR;
	s[3] = s[2];
	s[3].component_id = 0;
	if (i >= 2) {
		/* the error span carries its status message in a continuation slot instead */
		struct dft_msg_slot *ms = (struct dft_msg_slot *)(void *)&s[3];

		s[2].n_cont = 1;
		memset(ms, 0, sizeof(*ms));
		ms->type = DFT_SLOT_STATUS_MSG;
		ms->len = (uint8_t)(i == 2 ? 7 : DFT_STATUS_MSG_MAX);
		memset(ms->text, i == 2 ? 'e' : 'x', ms->len);
	}
	memcpy(buf + off, s, sizeof(s));
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* input: [names_published:1][metrics page part][names part][slots] */
	const size_t names_len = (size_t)NAME_CAP * sizeof(struct dft_name);
	const size_t metrics_len = 64 + 8 * sizeof(struct dft_metric_entry);
	struct dft_slot *slots;
	struct dft_filter_cfg fc;
	struct dft_contention cont;
	struct dft_batch *b;
	static struct dft_names *names; /* the NIC-global table, made once (a full one gives "") */
	struct dft_span_rec rec;
	uint32_t np_ok;
	struct dft_clock_cal cal = {.tick_mult = 1, .tick_shift = 0};
	size_t n_slots, off = 1;
	uint32_t np;

	if (!region)
		setup();
	if (size < 1)
		return 0;
	np = data[0] % (NAME_CAP + 8); /* also beyond the capacity: the readers must clamp */
	memset(region + DFT_METRICS_OFF, 0, DFT_PAGE);
	memset(region + DFT_NAMES_OFF, 0, names_len);
	memset(region + geom.rings_off + sizeof(struct dft_ring_hdr), 0, (size_t)RING_SLOTS * DFT_SLOT_SIZE);
	if (size - off > 0) {
		size_t n = size - off < metrics_len ? size - off : metrics_len;

		memcpy(region + DFT_METRICS_OFF, data + off, n);
		off += n;
	}
	if (size - off > 0) {
		size_t n = size - off < names_len ? size - off : names_len;

		memcpy(region + DFT_NAMES_OFF, data + off, n);
		off += n;
	}
	slots = (struct dft_slot *)(void *)(region + geom.rings_off + sizeof(struct dft_ring_hdr));
	n_slots = (size - off) / DFT_SLOT_SIZE;
	if (n_slots > RING_SLOTS)
		n_slots = RING_SLOTS;
	memcpy(slots, data + off, n_slots * DFT_SLOT_SIZE);

	/* the metrics page, hostile count and ids included */
	dft_filter_cfg_defaults(&fc);
	memset(&cont, 0, sizeof(cont));
	dft_contention_refresh(&cont, &fc, (const struct dft_metrics_page *)(const void *)((const uint8_t *)region + geom.metrics_off), &geom, np, 0, 1, true);
	for (uint32_t id = 0; id <= DFT_NAME_CAPACITY_MAX; id += 97) {
		(void)dft_contention_on(&cont, (uint16_t)id);
		(void)dft_contention_match(&cont, (uint16_t)id, 0, UINT64_MAX);
	}
	for (uint32_t id = NAME_CAP + 1; id < NAME_CAP + 8; id++)
		FUZZ_CHECK(!dft_contention_on(&cont, (uint16_t)id) || id <= np);

	for (uint16_t id = 0; id < NAME_CAP + 4; id++)
		check_name(np, id);

	if (dft_batch_create(8, &b))
		abort();
	if (!names && dft_names_create(DFT_NAME_CAPACITY_MAX, &names))
		abort();
	np_ok = np > NAME_CAP ? NAME_CAP : np;
	/* walk the slots like the worker: a span, then its continuation slots */
	for (size_t i = 0; i < n_slots;) {
		struct dft_slot s = slots[i], cont_copy[DFT_SLOT_CONT_MAX];
		enum dft_invalid_reason why;
		size_t need;
		int ok = 1;

		if (dft_slot_validate(&s, &geom, np_ok, &why)) {
			FUZZ_CHECK(why != DFT_INVALID_NONE && why < DFT_INVALID_COUNT);
			i++;
			continue;
		}
		FUZZ_CHECK(why == DFT_INVALID_NONE && s.n_cont <= DFT_SLOT_CONT_MAX);
		need = 1 + (size_t)s.n_cont;
		if (i + need > n_slots)
			break;
		for (size_t c = 1; c < need; c++)
			cont_copy[c - 1] = slots[i + c];
		if (dft_conts_validate(cont_copy, (unsigned)(need - 1), &why)) {
			FUZZ_CHECK(why == DFT_INVALID_BAD_CONT);
			ok = 0;
		}
		if (ok && need > 1 && cont_copy[need - 2].type == DFT_SLOT_STATUS_MSG) {
			char text[DFT_STATUS_MSG_MAX + 1];
			int len = dft_status_msg_read(&cont_copy[need - 2], text, sizeof(text));

			/* hostile text in, bounded printable UTF-8 (or nothing) out */
			FUZZ_CHECK(len == -EINVAL || (len > 0 && (size_t)len <= DFT_STATUS_MSG_MAX &&
						       strlen(text) == (size_t)len && dft_text_valid(text, (size_t)len)));
		}
		if (ok) {
			check_name(np, s.component_id);
			check_name(np, s.op_id);
			/* validated input must batch (or report that the batch is full), never crash */
			dft_span_decode_mapped(&s, cont_copy, region, &geom, np_ok, &cal, names, &rec);
			rec.kind = DFT_KIND_PLATFORM;
			rec.keep_reasons = DFT_KEEP_ERROR;
			if (dft_batch_add(b, names, &rec) == -ENOSPC) {
				dft_batch_destroy(b);
				if (dft_batch_create(8, &b))
					abort();
			}
		}
		i += need;
	}
	dft_batch_destroy(b);
	return 0;
}
