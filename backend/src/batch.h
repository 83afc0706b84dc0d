/* SPDX-License-Identifier: MIT */
/* Batch decoding and validation (batch.c): what a BATCH payload must be before the collector uses it. */
#ifndef DFT_BATCH_H
#define DFT_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "difftrace.pb-c.h"

/* What an honest NIC never exceeds (DFT_SLOT_ATTRS attributes, DFT_NAME_MAX names): past these a
 * batch is refused as bad before the store sees it. */
#define DFT_BATCH_ATTRS_MAX  64u
#define DFT_BATCH_STRING_MAX 1024u

/* Decode budget: protobuf-c expands small wire fields into larger structs; this bounds the total. */
#define DFT_DECODE_MAX_BYTES (256u << 20)

struct dft_decoded {
	Difftrace__SpanBatch *batch;
};

/* Returns 0 with *out set (free with dft_batch_free), or -EBADMSG/-ENOMEM with *reason set. */
int dft_batch_decode(const uint8_t *p, size_t len, struct dft_decoded **out, const char **reason);
void dft_batch_free(struct dft_decoded *d);
/*
 * Semantic checks a batch must pass before anything of it is stored: header present, sequence >= 1,
 * sender equal to the HELLO's, every string index in range, 16-byte trace ids, non-zero span ids,
 * end >= start, enum fields in range. Returns 0 or -EBADMSG with *reason set.
 */
int dft_batch_validate(const Difftrace__SpanBatch *b, uint64_t hello_sender, const char **reason);
size_t dft_batch_hops(const Difftrace__SpanBatch *b);
/*
 * What every transport does with a BATCH payload before anything of it is used: decode, validate
 * against the sender the transport authenticated (TCP HELLO, RDMA connect), and, when the transport
 * framed the payload with a sequence of its own (expect_seq != 0), check the header agrees.
 * Returns 0 with *out set, or -EBADMSG/-ENOMEM with *reason set.
 */
int dft_batch_check(const uint8_t *p, size_t len, uint64_t sender_id, uint64_t expect_seq, struct dft_decoded **out,
                    const char **reason);

#endif /* DFT_BATCH_H */
