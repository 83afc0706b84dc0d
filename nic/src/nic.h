/* SPDX-License-Identifier: MIT */
/*
 * Internal interfaces of difftrace-nic. Ownership between lcores:
 *   main lcore:   configuration, registration server, transport, stats, telemetry answers
 *   worker lcore: ingest -> validate -> filter -> batch (the only code that touches a ring)
 * They talk only through rte_rings (control messages one way, replies and closed batches the other);
 * each counter has exactly one writing lcore and is read elsewhere with relaxed atomic loads.
 * With one lcore the main loop runs both halves in turn over the same rings.
 */
#ifndef DFT_NIC_H
#define DFT_NIC_H

/* Umbrella: every module's header. New code includes the headers it uses. */
#include "batch.h"
#include "config.h"
#include "contention.h"
#include "epoch.h"
#include "filter.h"
#include "hold.h"
#include "idle.h"
#include "names.h"
#include "profiler.h"
#include "reg_policy.h"
#include "reg_server.h"
#include "region.h"
#include "span.h"
#include "stats.h"
#include "tenant.h"
#include "tx.h"
#include "worker.h"

#endif /* DFT_NIC_H */
