/* SPDX-License-Identifier: MIT */
/* The Unix-socket registration server (reg_server.c). */
#ifndef DFT_NIC_REG_SERVER_H
#define DFT_NIC_REG_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reg_policy.h"
#include "region.h"

struct dft_reg_server;
int dft_reg_server_create(const char *path, uint64_t daemon_id, struct dft_reg_server **out);
void dft_reg_server_destroy(struct dft_reg_server *s);
/* Accept, read registrations, notice EOFs. attach(region) is called for a validated region before
 * the host is answered (non-zero: refuse with that status), detach(region) when its host hung up.
 * Returns work done. */
int dft_reg_server_poll(struct dft_reg_server *s, int (*attach)(void *, struct dft_nic_region *),
			void (*detach)(void *, struct dft_nic_region *), void *arg);
/* rdma-read ingest: refuse hosts that cannot export their region by RDMA, tell the others where to
 * connect (dft/reg.h step 5). 0 or -EINVAL. */
int dft_reg_server_rdma_at(struct dft_reg_server *s, const char *addr, uint16_t port);
/* Who may register what (policy: read at every accept and registration, must outlive the server),
 * the socket's group (gid < 0: leave it) and how long a connection may stay silent. 0 or -errno. */
int dft_reg_server_secure(struct dft_reg_server *s, const struct dft_reg_policy *policy, int64_t gid,
			  uint32_t await_ms);
/* The worker retired the region: unmap and free it. */
void dft_region_free(struct dft_nic_region *r);

#endif /* DFT_NIC_REG_SERVER_H */
