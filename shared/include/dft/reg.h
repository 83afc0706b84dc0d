/* SPDX-License-Identifier: MIT */
/*
 * Registration of a host region with difftrace-nic over a Unix stream socket.
 *
 *   1. host connects to the daemon's socket (default DFT_DEFAULT_SOCKET, or $DFT_SOCKET).
 *   2. host sends one struct dft_reg_msg (type DFT_REG_REGISTER) with the region's memfd attached
 *      as SCM_RIGHTS ancillary data. mr_addr/mr_rkey are set when the host also registered the
 *      region as an RDMA MR (0 otherwise).
 *   3. daemon maps the fd read-write, validates the header against the size it learns from fstat()
 *      (never from the message) and answers one struct dft_reg_reply (status 0 or -errno).
 *   4. the connection stays open: it is the liveness signal. EOF from the host = the process is gone
 *      or called dft_fini(); the daemon drains what is left in the rings and unmaps. EOF from the
 *      daemon = it exited; the host reconnects in the background and registers again, and the new
 *      daemon continues from the tail indices stored in the region.
 * All fields are host byte order (both ends are on one machine, or on the DPU of that machine with
 * the same endianness; the daemon rejects a magic it does not recognise).
 */
#ifndef DFT_REG_H
#define DFT_REG_H

#include <stdint.h>

#define DFT_DEFAULT_SOCKET "/run/difftrace/nic.sock"
#define DFT_REG_MAGIC 0x52544644u /* "DFTR" */
#define DFT_REG_VERSION 1u

enum dft_reg_type {
	DFT_REG_REGISTER = 1,
};

struct dft_reg_msg {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t size; /* sizeof(struct dft_reg_msg) */
	uint32_t pid;
	uint64_t instance_id;
	uint64_t region_size;
	uint64_t mr_addr; /* RDMA MR of the region in the host's address space, or 0 */
	uint32_t mr_rkey;
	uint32_t reserved;
};

struct dft_reg_reply {
	uint32_t magic;
	int32_t status; /* 0 or -errno */
	uint64_t daemon_id;
};

_Static_assert(sizeof(struct dft_reg_msg) == 48, "reg msg size");
_Static_assert(sizeof(struct dft_reg_reply) == 16, "reg reply size");

#endif /* DFT_REG_H */
