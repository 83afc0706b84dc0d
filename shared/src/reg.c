/* SPDX-License-Identifier: MIT */
/*
 * Codecs of the registration protocol's rdma-read additions (dft/reg.h): the daemon's "connect here"
 * message and the rdma_cm private data of the host's connection. No verbs here, so both ends and the
 * unit tests use them anywhere; libdifftrace compiles this file in (hidden).
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "dft/reg.h"

int dft_reg_rdma_at_make(struct dft_reg_rdma_at *m, const char *addr, uint16_t port)
{
	size_t n = addr ? strlen(addr) : 0;

	if (n == 0 || n >= sizeof(m->addr) || port == 0)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	m->magic = DFT_REG_MAGIC;
	m->type = DFT_REG_RDMA_AT;
	m->port = port;
	m->size = sizeof(*m);
	memcpy(m->addr, addr, n);
	return 0;
}

int dft_reg_rdma_at_check(const void *p, size_t n, struct dft_reg_rdma_at *out)
{
	struct dft_reg_rdma_at m;
	size_t len;

	if (!p || n < sizeof(m))
		return -EBADMSG;
	memcpy(&m, p, sizeof(m));
	if (m.magic != DFT_REG_MAGIC || m.type != DFT_REG_RDMA_AT || m.size != sizeof(m) || m.reserved)
		return -EPROTO;
	len = strnlen(m.addr, sizeof(m.addr));
	if (len == 0 || len == sizeof(m.addr) || m.port == 0)
		return -EPROTO;
	/* the rest of the field is zero: a stray byte after the NUL is a sender bug, not an address */
	for (size_t i = len; i < sizeof(m.addr); i++)
		if (m.addr[i])
			return -EPROTO;
	*out = m;
	return 0;
}

void dft_reg_rdma_hello_encode(const struct dft_reg_rdma_hello *h, uint8_t out[sizeof(struct dft_reg_rdma_hello)])
{
	struct dft_reg_rdma_hello w = {
		.magic = htole32(DFT_REG_RDMA_MAGIC),
		.version = htole16(DFT_REG_RDMA_VERSION),
		.flags = htole16(h->flags),
		.instance_id = htole64(h->instance_id),
		.addr = htole64(h->addr),
		.len = htole64(h->len),
		.rkey = htole32(h->rkey),
	};

	memcpy(out, &w, sizeof(w));
}

int dft_reg_rdma_hello_decode(const void *p, size_t len, struct dft_reg_rdma_hello *out)
{
	struct dft_reg_rdma_hello w;

	if (!p || len < sizeof(w))
		return -EBADMSG;
	memcpy(&w, p, sizeof(w));
	if (le32toh(w.magic) != DFT_REG_RDMA_MAGIC || le16toh(w.version) != DFT_REG_RDMA_VERSION)
		return -EPROTO;
	if ((le16toh(w.flags) & ~DFT_REG_RDMA_F_KNOWN) || w.reserved2 || w.instance_id == 0 || w.len == 0)
		return -EPROTO;
	memset(out, 0, sizeof(*out));
	out->magic = DFT_REG_RDMA_MAGIC;
	out->version = DFT_REG_RDMA_VERSION;
	out->flags = le16toh(w.flags);
	out->instance_id = le64toh(w.instance_id);
	out->addr = le64toh(w.addr);
	out->len = le64toh(w.len);
	out->rkey = le32toh(w.rkey);
	return 0;
}

void dft_reg_rdma_bye_encode(uint8_t out[sizeof(struct dft_reg_rdma_bye)])
{
	struct dft_reg_rdma_bye b = {.magic = htole32(DFT_REG_BYE_MAGIC)};

	memcpy(out, &b, sizeof(b));
}

int dft_reg_rdma_bye_check(const void *p, size_t len)
{
	struct dft_reg_rdma_bye b;

	if (!p || len != sizeof(b))
		return -EBADMSG;
	memcpy(&b, p, sizeof(b));
	if (le32toh(b.magic) != DFT_REG_BYE_MAGIC || b.reserved)
		return -EPROTO;
	return 0;
}

int dft_reg_net_parse(const char *s, char addr[DFT_REG_ADDR_MAX], uint16_t *port)
{
	const char *colon, *host = s, *end;
	unsigned char bin[sizeof(struct in6_addr)];
	char tmp[DFT_REG_ADDR_MAX];
	unsigned long p = 0;
	size_t n;
	int af = AF_INET;

	if (!s || !*s)
		return -EINVAL;
	if (*s == '[') {
		end = strchr(s, ']');
		if (!end || end[1] != ':')
			return -EINVAL;
		host = s + 1;
		n = (size_t)(end - host);
		colon = end + 1;
		af = AF_INET6;
	} else {
		colon = strrchr(s, ':');
		if (!colon || strchr(s, ':') != colon)
			return -EINVAL; /* an IPv6 literal needs brackets */
		n = (size_t)(colon - s);
	}
	if (n == 0 || n >= sizeof(tmp))
		return -EINVAL;
	/* the port: decimal digits only, 1..65535 */
	if (!colon[1] || strlen(colon + 1) > 5)
		return -EINVAL;
	for (const char *c = colon + 1; *c; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		p = p * 10 + (unsigned long)(*c - '0');
	}
	if (p == 0 || p > 65535)
		return -EINVAL;
	memcpy(tmp, host, n);
	tmp[n] = 0;
	if (inet_pton(af, tmp, bin) != 1)
		return -EINVAL;
	memcpy(addr, tmp, n + 1);
	*port = (uint16_t)p;
	return 0;
}
