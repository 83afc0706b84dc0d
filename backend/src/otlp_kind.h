/* SPDX-License-Identifier: MIT */
/* What both OTLP encoders (otlp_json.c, otlp_pb.c) write as difftrace.component.kind. */
#ifndef DFT_OTLP_KIND_H
#define DFT_OTLP_KIND_H

#include "difftrace.pb-c.h"

static inline const char *dft_component_kind_name(int kind)
{
	switch (kind) {
	case DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_PLATFORM:
		return "platform";
	case DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_FUNCTION:
		return "function";
	default:
		return "unknown";
	}
}

#endif /* DFT_OTLP_KIND_H */
