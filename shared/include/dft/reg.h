/* SPDX-License-Identifier: MIT */
/*
 * Registration of a host region with difftrace-nic over a Unix stream socket.
 *
 *   1. host connects to the daemon's socket (default DFT_DEFAULT_SOCKET, or $DFT_SOCKET).
 *   2. host sends one struct dft_reg_msg (type DFT_REG_REGISTER) with the region's memfd attached
 *      as SCM_RIGHTS ancillary data. flags has DFT_REG_F_RDMA_READ when the host can also export
 *      the region to the daemon's rdma-read ingest (built with verbs and an RDMA device present).
 *      mr_addr/mr_rkey are unused (0): the MR travels in the rdma_cm private data (step 5).
 *   3. daemon maps the fd read-write, validates the header against the size it learns from fstat()
 *      (never from the message) and answers one struct dft_reg_reply (status 0 or -errno).
 *   4. the connection stays open: it is the liveness signal. EOF from the host = the process is gone
 *      or called dft_fini(); the daemon drains what is left in the rings and unmaps. EOF from the
 *      daemon = it exited; the host reconnects in the background and registers again, and the new
 *      daemon continues from the tail indices stored in the region.
 *   5. rdma-read ingest only (docs/rdma.md): right after a status-0 reply to a host that set
 *      DFT_REG_F_RDMA_READ, the daemon sends one struct dft_reg_rdma_at: the address and port its
 *      rdma_cm listener has. The host's registration thread registers the whole region as an MR
 *      (LOCAL_WRITE | REMOTE_READ | REMOTE_WRITE), connects an RC QP there with struct
 *      dft_reg_rdma_hello as the connect private data (instance id, MR address, rkey, length), and
 *      from then on does nothing for the data path: the daemon RDMA READs ring heads and slots and
 *      RDMA WRITEs the consumer tails. A daemon using another backend sends nothing more; one using
 *      rdma-read refuses (-EOPNOTSUPP) a host that did not set the flag. Older hosts (flags = 0,
 *      the former reserved field) and older daemons (which never send the extra message) still work.
 * All fields are host byte order (both ends are on one machine, or on the DPU of that machine with
 * the same endianness; the daemon rejects a magic it does not recognise), except the rdma_cm
 * private data, which crosses to the NIC's cores and is little-endian.
 *
 * Registration over the network (no Unix socket, no fd; docs/rdma.md, nic/src/reg_net.c):
 *   N1. the host (DFT_NIC=ADDR:PORT) registers the whole region as an MR and connects an RC QP with
 *       rdma_cm to the daemon's --net-listen address; the private data is struct dft_reg_rdma_hello
 *       with DFT_REG_RDMA_F_REGISTER in flags: this connection is the registration itself.
 *   N2. the daemon bounds the hello, accepts (one receive posted for step N5) and, once
 *       ESTABLISHED, RDMA READs the region header out of the MR and validates it exactly like a
 *       mapped one, against the MR length; a bad header is a refusal (disconnect, counted).
 *   N3. the region is attached; the QP is the one the rdma-read backend reads rings through.
 *   N4. the connection is the liveness signal: a disconnect detaches the region (nothing more can
 *       be read), and the host reconnects in the background (daemon restart, refusal).
 *   N5. dft_fini: once its rings are drained, the host SENDs one struct dft_reg_rdma_bye and waits
 *       (bounded) for the daemon to disconnect: the daemon reads what is left and the last counters
 *       over the still-open QP, as it does after a Unix-socket EOF, then lets go.
 */
#ifndef DFT_REG_H
#define DFT_REG_H

#include <stddef.h>
#include <stdint.h>

#define DFT_DEFAULT_SOCKET "/run/difftrace/nic.sock"
#define DFT_REG_MAGIC 0x52544644u /* "DFTR" */
#define DFT_REG_VERSION 1u

enum dft_reg_type {
	DFT_REG_REGISTER = 1,
	DFT_REG_RDMA_AT = 2, /* daemon -> host: where to connect for rdma-read */
};

/* dft_reg_msg.flags */
#define DFT_REG_F_RDMA_READ 1u /* the host can export its region by RDMA (rdma-read ingest) */

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
	uint32_t flags; /* DFT_REG_F_*; was reserved (0) in older hosts */
};

struct dft_reg_reply {
	uint32_t magic;
	int32_t status; /* 0 or -errno */
	uint64_t daemon_id;
};

/* Daemon -> host after the reply (step 5): the rdma-read listener's numeric address and port. */
#define DFT_REG_ADDR_MAX 48u
struct dft_reg_rdma_at {
	uint32_t magic; /* DFT_REG_MAGIC */
	uint16_t type;  /* DFT_REG_RDMA_AT */
	uint16_t port;  /* rdma_cm port (TCP port space), non-zero */
	uint32_t size;  /* sizeof(struct dft_reg_rdma_at) */
	uint32_t reserved;
	char addr[DFT_REG_ADDR_MAX]; /* IPv4/IPv6 literal, NUL-terminated */
};

/* Host -> daemon: rdma_cm connect private data of the rdma-read connection (little-endian). */
#define DFT_REG_RDMA_MAGIC 0x58544644u /* "DFTX" */
#define DFT_REG_RDMA_VERSION 1u
/* dft_reg_rdma_hello.flags (0 in older hosts, where the field was reserved) */
#define DFT_REG_RDMA_F_REGISTER 1u /* N1: registration over the network, no Unix-socket registration */
#define DFT_REG_RDMA_F_KNOWN DFT_REG_RDMA_F_REGISTER
struct dft_reg_rdma_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t flags; /* DFT_REG_RDMA_F_*; any other bit: refused */
	uint64_t instance_id; /* the region header's: matches the connection to a registered region */
	uint64_t addr;        /* the region's start in the host's address space (the MR's start) */
	uint64_t len;         /* bytes registered from addr */
	uint32_t rkey;
	uint32_t reserved2;
};

/* Host -> daemon SEND on the network registration's QP (step N5), little-endian. */
#define DFT_REG_BYE_MAGIC 0x42544644u /* "DFTB" */
struct dft_reg_rdma_bye {
	uint32_t magic;
	uint32_t reserved; /* 0 */
};

_Static_assert(sizeof(struct dft_reg_msg) == 48, "reg msg size");
_Static_assert(sizeof(struct dft_reg_rdma_bye) == 8, "bye size");
_Static_assert(sizeof(struct dft_reg_reply) == 16, "reg reply size");
_Static_assert(sizeof(struct dft_reg_rdma_at) == 64, "rdma-at message size");
_Static_assert(sizeof(struct dft_reg_rdma_hello) == 40, "hello fits rdma_cm's 56-byte connect private data");

/* Codecs of the rdma-read additions (shared/src/reg.c; pure, unit-tested without RDMA). */
/* Fill m for addr (a numeric address) and port. 0, or -EINVAL (empty, too long, port 0). */
int dft_reg_rdma_at_make(struct dft_reg_rdma_at *m, const char *addr, uint16_t port);
/* Check n received bytes as a dft_reg_rdma_at. 0 and *out, or -EBADMSG (short) / -EPROTO. */
int dft_reg_rdma_at_check(const void *p, size_t n, struct dft_reg_rdma_at *out);
void dft_reg_rdma_hello_encode(const struct dft_reg_rdma_hello *h, uint8_t out[sizeof(struct dft_reg_rdma_hello)]);
/* Private data may be padded by the transport: longer is fine. 0, -EBADMSG or -EPROTO. */
int dft_reg_rdma_hello_decode(const void *p, size_t len, struct dft_reg_rdma_hello *out);
void dft_reg_rdma_bye_encode(uint8_t out[sizeof(struct dft_reg_rdma_bye)]);
/* Exactly len == 8 bytes, magic, reserved 0. 0, -EBADMSG (length) or -EPROTO. */
int dft_reg_rdma_bye_check(const void *p, size_t len);
/*
 * DFT_NIC's value: "IPv4:PORT" or "[IPv6]:PORT", numeric only (no name lookup on the registration
 * thread), port 1..65535. Fills addr (NUL-terminated, < DFT_REG_ADDR_MAX) and *port. 0 or -EINVAL.
 */
int dft_reg_net_parse(const char *s, char addr[DFT_REG_ADDR_MAX], uint16_t *port);

#endif /* DFT_REG_H */
