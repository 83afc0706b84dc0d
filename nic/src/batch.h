/* SPDX-License-Identifier: MIT */
/* SpanBatch builder (batch.c). */
#ifndef DFT_NIC_BATCH_H
#define DFT_NIC_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "difftrace.pb-c.h"
#include "names.h"
#include "profiler.h"
#include "span.h"

struct dft_batch;

/* A batch with room for cap spans. Returns 0 or -ENOMEM. */
int dft_batch_create(uint32_t cap, struct dft_batch **out);
void dft_batch_destroy(struct dft_batch *b);
uint32_t dft_batch_spans(const struct dft_batch *b);
/* The span just added belongs to tenant (tenant.h); per-tenant span counts of the batch. */
void dft_batch_note_tenant(struct dft_batch *b, unsigned tenant);
const uint32_t *dft_batch_tenants(const struct dft_batch *b);
uint64_t dft_batch_open_tsc(const struct dft_batch *b);
void dft_batch_set_open_tsc(struct dft_batch *b, uint64_t tsc);
bool dft_batch_full(const struct dft_batch *b);

/*
 * Add a decoded span (span.h: names from the NIC-global table names, hops and a status message from
 * its continuation slots) with rec->kind and rec->keep_reasons. A status message slot's text is
 * validated here: a bad one is left out and counted in status_msg_invalid, the span is added without
 * it. Returns 0, or -ENOSPC when the batch (spans, hops or strings) cannot take it: close the batch
 * and add the span to a fresh one.
 */
int dft_batch_add(struct dft_batch *b, const struct dft_names *names, const struct dft_span_rec *rec);
/* A batch of no spans carrying one Profile of n rows. 0, -EINVAL (n == 0) or -ENOMEM. */
int dft_batch_profile(uint64_t created_ns, const struct dft_prof_row *rows, unsigned n, struct dft_batch **out);
/* No spans and no profile: nothing worth sending. */
bool dft_batch_empty(const struct dft_batch *b);

/*
 * Fill the header and pack: out receives a malloc'd buffer with room for a frame header in front
 * (hdr_room bytes) followed by the packed SpanBatch. Returns 0 or -ENOMEM.
 */
int dft_batch_pack(struct dft_batch *b, uint64_t sender_id, uint64_t seq, uint64_t created_ns,
		   const Difftrace__Counters *ctr, size_t hdr_room, uint8_t **out, size_t *out_len);

#endif /* DFT_NIC_BATCH_H */
