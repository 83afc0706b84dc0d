/* SPDX-License-Identifier: MIT */
/*
 * TLS 1.3 with mutual certificates for the TCP transport (OpenSSL), shared by difftrace-nic (client)
 * and difftrace-collector (server). docs/security.md says how to make the certificates.
 *
 * A sender's identity is its certificate: the one subjectAltName URI of the form
 *   urn:difftrace:sender:<16 hex digits>
 * names its 64-bit sender id. The collector takes the id from the verified certificate, never from
 * the HELLO (which must agree, or the connection is refused). Both ends verify the peer's chain
 * against one CA file; the NIC also checks the collector's name (DNS or IP in its subjectAltName).
 *
 * Credential files are refused, as ssh refuses them, when the private key is readable or writable
 * by anyone but its owner, or owned by someone other than this user or root.
 */
#ifndef DFT_TLS_H
#define DFT_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ssl_ctx_st;
struct ssl_st;
struct x509_st;

#define DFT_TLS_SENDER_URI "urn:difftrace:sender:"

struct dft_tls_files {
	const char *cert; /* PEM certificate (chain) */
	const char *key;  /* PEM private key: 0600 or 0400, owned by this user or root */
	const char *ca;   /* PEM CA certificate(s) the peer's chain must end in */
};

/*
 * An SSL_CTX for one side: TLS 1.3 only, peer certificate required and verified against f->ca.
 * Returns 0 or -errno with a message naming the file and what is wrong in err.
 */
int dft_tls_ctx_create(bool server, const struct dft_tls_files *f, struct ssl_ctx_st **out, char *err, size_t err_len);
void dft_tls_ctx_destroy(struct ssl_ctx_st *ctx);
/* 0, or -EPERM / -errno with the reason in err: the private key file's mode and owner (see above). */
int dft_tls_check_key_file(const char *path, char *err, size_t err_len);
/* The sender id a certificate names (see above). 0, or -ENOENT (none, or more than one, or malformed). */
int dft_tls_cert_sender_id(struct x509_st *cert, uint64_t *id);
/* Same, from a PEM file. 0 or -errno with err set. */
int dft_tls_cert_file_sender_id(const char *path, uint64_t *id, char *err, size_t err_len);
/* The verified peer certificate's sender id of an established connection. 0 or -ENOENT. */
int dft_tls_peer_sender_id(struct ssl_st *ssl, uint64_t *id);
/* The oldest OpenSSL error queued on this thread as text (the queue is cleared), or "unknown". */
const char *dft_tls_error(char *buf, size_t len);

#endif /* DFT_TLS_H */
