/* SPDX-License-Identifier: MIT */
/* The SpanBatch wire decoder (batch_wire.c) behind dft_batch_decode. */
#ifndef DFT_BATCH_WIRE_H
#define DFT_BATCH_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "difftrace.pb-c.h"

/*
 * SpanBatch wire bytes into the structs protobuf-c's unpack fills (batch_wire.c), every piece from
 * alloc(arg, size) (NULL: out of budget). NULL when the bytes are not a SpanBatch.
 */
Difftrace__SpanBatch *dft_batch_unpack(const uint8_t *p, size_t len, void *(*alloc)(void *arg, size_t size),
                                       void *arg);

#endif /* DFT_BATCH_WIRE_H */
