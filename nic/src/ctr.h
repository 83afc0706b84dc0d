/* SPDX-License-Identifier: MIT */
/*
 * Counters with exactly one writing lcore: the writer adds with a relaxed load and store (no
 * atomic read-modify-write needed), readers elsewhere use relaxed loads. NIC-wide and per-tenant
 * counters alike (stats.h, tenant.h).
 */
#ifndef DFT_NIC_CTR_H
#define DFT_NIC_CTR_H

#define dft_ctr_add(p, v) __atomic_store_n((p), __atomic_load_n((p), __ATOMIC_RELAXED) + (v), __ATOMIC_RELAXED)
#define dft_ctr_set(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define dft_ctr_get(p) __atomic_load_n((p), __ATOMIC_RELAXED)

#endif /* DFT_NIC_CTR_H */
