/* SPDX-License-Identifier: MIT */
/* TLS helpers for the TCP transport (dft/tls.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "dft/tls.h"

const char *dft_tls_error(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (!e) {
		snprintf(buf, len, "unknown");
		return buf;
	}
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

int dft_tls_check_key_file(const char *path, char *err, size_t err_len)
{
	struct stat st;

	if (stat(path, &st)) {
		int e = errno;

		snprintf(err, err_len, "%s: %s", path, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_len, "%s: not a regular file", path);
		return -EPERM;
	}
	/* as ssh: a key others can read is a key others may hold; refuse rather than warn */
	if (st.st_mode & 077) {
		snprintf(err, err_len, "%s: permissions %04o are too open: a private key must be readable by its owner "
			 "only (chmod 600)", path, (unsigned)(st.st_mode & 07777));
		return -EPERM;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(err, err_len, "%s: owned by uid %u, neither this user (%u) nor root", path, (unsigned)st.st_uid,
			 (unsigned)geteuid());
		return -EPERM;
	}
	return 0;
}

int dft_tls_cert_sender_id(X509 *cert, uint64_t *id)
{
	const size_t plen = strlen(DFT_TLS_SENDER_URI);
	GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	int found = 0;

	if (!names)
		return -ENOENT;
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const unsigned char *u;
		char hex[17];
		char *end;
		int n;

		if (gn->type != GEN_URI)
			continue;
		u = ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		n = ASN1_STRING_length(gn->d.uniformResourceIdentifier);
		if (n != (int)(plen + 16) || memcmp(u, DFT_TLS_SENDER_URI, plen))
			continue;
		memcpy(hex, u + plen, 16);
		hex[16] = 0;
		*id = strtoull(hex, &end, 16);
		if (*end || *id == 0 || strspn(hex, "0123456789abcdefABCDEF") != 16) {
			found = -1;
			break;
		}
		found++;
	}
	GENERAL_NAMES_free(names);
	/* exactly one: a certificate naming two senders names none */
	return found == 1 ? 0 : -ENOENT;
}

int dft_tls_cert_file_sender_id(const char *path, uint64_t *id, char *err, size_t err_len)
{
	FILE *f = fopen(path, "r");
	X509 *cert;
	int rc;

	if (!f) {
		rc = -errno;
		snprintf(err, err_len, "%s: %s", path, strerror(-rc));
		return rc;
	}
	cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!cert) {
		snprintf(err, err_len, "%s: not a PEM certificate", path);
		return -EINVAL;
	}
	rc = dft_tls_cert_sender_id(cert, id);
	if (rc)
		snprintf(err, err_len, "%s: no single subjectAltName URI " DFT_TLS_SENDER_URI "<16 hex digits>", path);
	X509_free(cert);
	return rc;
}

int dft_tls_peer_sender_id(SSL *ssl, uint64_t *id)
{
	X509 *cert = SSL_get1_peer_certificate(ssl);
	int rc;

	if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) {
		X509_free(cert);
		return -ENOENT;
	}
	rc = dft_tls_cert_sender_id(cert, id);
	X509_free(cert);
	return rc;
}

int dft_tls_ctx_create(bool server, const struct dft_tls_files *f, SSL_CTX **out, char *err, size_t err_len)
{
	char e[256];
	SSL_CTX *ctx;
	int rc;

	*out = NULL;
	if (!f->cert || !f->key || !f->ca) {
		snprintf(err, err_len, "TLS needs a certificate, its private key and a CA file");
		return -EINVAL;
	}
	rc = dft_tls_check_key_file(f->key, err, err_len);
	if (rc)
		return rc;
	ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (!ctx) {
		snprintf(err, err_len, "SSL_CTX_new: %s", dft_tls_error(e, sizeof(e)));
		return -ENOMEM;
	}
	rc = -EINVAL;
	if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) || !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)) {
		snprintf(err, err_len, "TLS 1.3: %s", dft_tls_error(e, sizeof(e)));
		goto free_ctx;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1) {
		snprintf(err, err_len, "%s: %s", f->cert, dft_tls_error(e, sizeof(e)));
		goto free_ctx;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, f->key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
		snprintf(err, err_len, "%s: %s", f->key, dft_tls_error(e, sizeof(e)));
		goto free_ctx;
	}
	if (SSL_CTX_load_verify_locations(ctx, f->ca, NULL) != 1) {
		snprintf(err, err_len, "%s: %s", f->ca, dft_tls_error(e, sizeof(e)));
		goto free_ctx;
	}
	/* mutual: a peer without a certificate the CA signed gets nothing past the handshake */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	/* non-blocking sockets: SSL_write may take part of a buffer and be called again with the rest */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* one connection per NIC for hours: tickets buy nothing and would be state to bound */
	SSL_CTX_set_num_tickets(ctx, 0);
	*out = ctx;
	return 0;

free_ctx:
	SSL_CTX_free(ctx);
	return rc;
}

void dft_tls_ctx_destroy(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}
