/* SPDX-License-Identifier: MIT */
/* The log types (log.h). Registered by constructors, before EAL parses --log-level. */
#include "log.h"

RTE_LOG_REGISTER(dft_logtype_main, difftrace.main, NOTICE);
RTE_LOG_REGISTER(dft_logtype_ingest, difftrace.ingest, NOTICE);
RTE_LOG_REGISTER(dft_logtype_reg, difftrace.reg, NOTICE);
RTE_LOG_REGISTER(dft_logtype_filter, difftrace.filter, NOTICE);
RTE_LOG_REGISTER(dft_logtype_tx, difftrace.tx, NOTICE);
