/* SPDX-License-Identifier: MIT */
/* The LTTng-UST tracepoint of the reference measurement: one event per span, the payload of a
 * difftrace slot's core (ids, start and end ticks, operation, two numeric attributes). */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER dft_bench

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./lttng_tp.h"

#if !defined(DFT_BENCH_LTTNG_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define DFT_BENCH_LTTNG_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT(
	dft_bench, span,
	LTTNG_UST_TP_ARGS(const uint8_t *, trace_id, uint64_t, span_id, uint64_t, parent_span_id, uint64_t, start,
			  uint64_t, end, uint16_t, op, uint16_t, k1, int64_t, v1, uint16_t, k2, int64_t, v2),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_array(uint8_t, trace_id, trace_id, 16)
		lttng_ust_field_integer(uint64_t, span_id, span_id)
		lttng_ust_field_integer(uint64_t, parent_span_id, parent_span_id)
		lttng_ust_field_integer(uint64_t, start, start)
		lttng_ust_field_integer(uint64_t, end, end)
		lttng_ust_field_integer(uint16_t, op, op)
		lttng_ust_field_integer(uint16_t, k1, k1)
		lttng_ust_field_integer(int64_t, v1, v1)
		lttng_ust_field_integer(uint16_t, k2, k2)
		lttng_ust_field_integer(int64_t, v2, v2)
	)
)

#endif /* DFT_BENCH_LTTNG_TP_H */

#include <lttng/tracepoint-event.h>
