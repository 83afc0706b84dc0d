/* SPDX-License-Identifier: MIT */
/* The tracepoint provider (probes) of lttng_tp.h, built into dft-bench-host-lttng. */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "lttng_tp.h"
