/* SPDX-License-Identifier: MIT */
/* Key files and the collector's keyring for the RDMA handshake (dft/rdma_auth.h). */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "dft/rdma_auth.h"

#define KEY_FILE_MAX (1u << 20) /* a mapping file of DFT_RDMA_KEYS_MAX lines fits; a key file is tiny */

struct keyent {
	uint64_t sender_id;
	struct dft_rdma_key key;
};

struct dft_rdma_keyring {
	struct keyent *e; /* sorted by sender id */
	uint32_t n, cap;
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int dft_rdma_key_parse(const char *text, size_t len, struct dft_rdma_key *out)
{
	size_t b = 0, e = len;

	while (b < e && isspace((unsigned char)text[b]))
		b++;
	while (e > b && isspace((unsigned char)text[e - 1]))
		e--;
	if ((e - b) % 2 || (e - b) / 2 < DFT_RDMA_KEY_MIN || (e - b) / 2 > DFT_RDMA_KEY_MAX)
		return -EINVAL;
	for (size_t i = 0; i < (e - b) / 2; i++) {
		int hi = hexval((unsigned char)text[b + 2 * i]), lo = hexval((unsigned char)text[b + 2 * i + 1]);

		if (hi < 0 || lo < 0) {
			OPENSSL_cleanse(out, sizeof(*out));
			return -EINVAL;
		}
		out->bytes[i] = (uint8_t)(hi << 4 | lo);
	}
	out->len = (uint32_t)((e - b) / 2);
	return 0;
}

/*
 * The whole file, after the mode and owner checks on the open descriptor (so the file checked is
 * the file read). NUL-terminated; the caller cleanses and frees it.
 */
static int read_secret_file(const char *path, char **buf, size_t *len, char *err, size_t err_len)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, err_len, "%s: %s", path, strerror(-rc));
		return rc;
	}
	if (fstat(fd, &st)) {
		rc = -errno;
		snprintf(err, err_len, "%s: %s", path, strerror(-rc));
		goto out_close;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > KEY_FILE_MAX) {
		rc = -EPERM;
		snprintf(err, err_len, "%s: not a regular file of at most %u bytes", path, KEY_FILE_MAX);
		goto out_close;
	}
	/* as ssh: a key others can read is a key others may hold; refuse rather than warn */
	if (st.st_mode & 077) {
		rc = -EPERM;
		snprintf(err, err_len, "%s: permissions %04o are too open: a key must be readable by its owner only "
			 "(chmod 600)", path, (unsigned)(st.st_mode & 07777));
		goto out_close;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		rc = -EPERM;
		snprintf(err, err_len, "%s: owned by uid %u, neither this user (%u) nor root", path, (unsigned)st.st_uid,
			 (unsigned)geteuid());
		goto out_close;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		rc = -ENOMEM;
		snprintf(err, err_len, "%s: out of memory", path);
		goto out_close;
	}
	while (got < (size_t)st.st_size && (n = read(fd, *buf + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	(*buf)[got] = 0;
	*len = got;
	rc = 0;
out_close:
	close(fd);
	return rc;
}

int dft_rdma_key_load(const char *path, struct dft_rdma_key *out, char *err, size_t err_len)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = read_secret_file(path, &buf, &len, err, err_len);

	if (rc)
		return rc;
	rc = dft_rdma_key_parse(buf, len, out);
	if (rc)
		snprintf(err, err_len, "%s: not a key: want %u to %u bytes as hex digits (openssl rand -hex 32)", path,
			 DFT_RDMA_KEY_MIN, DFT_RDMA_KEY_MAX);
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

/* 16 hex digits, non-zero: the form every tool prints a sender id in. */
static int parse_sender(const char *s, size_t len, uint64_t *id)
{
	uint64_t v = 0;

	if (len != 16)
		return -EINVAL;
	for (size_t i = 0; i < 16; i++) {
		int d = hexval((unsigned char)s[i]);

		if (d < 0)
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	if (!v)
		return -EINVAL;
	*id = v;
	return 0;
}

static int keyring_add(struct dft_rdma_keyring *kr, uint64_t id, const struct dft_rdma_key *k)
{
	if (kr->n == kr->cap) {
		uint32_t cap = kr->cap ? kr->cap * 2 : 16;
		struct keyent *e;

		if (kr->n >= DFT_RDMA_KEYS_MAX)
			return -E2BIG;
		e = realloc(kr->e, (size_t)cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		kr->e = e;
		kr->cap = cap;
	}
	kr->e[kr->n].sender_id = id;
	kr->e[kr->n].key = *k;
	kr->n++;
	return 0;
}

static int cmp_ent(const void *a, const void *b)
{
	uint64_t x = ((const struct keyent *)a)->sender_id, y = ((const struct keyent *)b)->sender_id;

	return x < y ? -1 : x > y;
}

static int load_dir(struct dft_rdma_keyring *kr, const char *path, DIR *d, char *err, size_t err_len)
{
	struct dirent *de;
	char fp[4096];
	int rc = 0;

	while ((de = readdir(d))) {
		struct dft_rdma_key k;
		uint64_t id;

		if (de->d_name[0] == '.')
			continue;
		if (parse_sender(de->d_name, strlen(de->d_name), &id)) {
			snprintf(err, err_len, "%s/%s: a key file is named by its sender id, 16 hex digits", path,
				 de->d_name);
			return -EINVAL;
		}
		if ((size_t)snprintf(fp, sizeof(fp), "%s/%s", path, de->d_name) >= sizeof(fp)) {
			snprintf(err, err_len, "%s: path too long", path);
			return -ENAMETOOLONG;
		}
		rc = dft_rdma_key_load(fp, &k, err, err_len);
		if (!rc)
			rc = keyring_add(kr, id, &k);
		OPENSSL_cleanse(&k, sizeof(k));
		if (rc) {
			if (rc == -E2BIG || rc == -ENOMEM)
				snprintf(err, err_len, "%s: more than %u keys, or out of memory", path, DFT_RDMA_KEYS_MAX);
			return rc;
		}
	}
	return 0;
}

/* Lines "<sender id hex> <key hex>"; '#' comments and blank lines skipped. */
static int load_map(struct dft_rdma_keyring *kr, const char *path, char *err, size_t err_len)
{
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	unsigned lineno = 0;
	int rc = read_secret_file(path, &buf, &len, err, err_len);

	if (rc)
		return rc;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct dft_rdma_key k;
		char *p = line, *sp;
		uint64_t id;

		lineno++;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			continue;
		sp = p;
		while (*sp && !isspace((unsigned char)*sp))
			sp++;
		if (parse_sender(p, (size_t)(sp - p), &id) || dft_rdma_key_parse(sp, strlen(sp), &k)) {
			snprintf(err, err_len, "%s: line %u: want \"<sender id, 16 hex digits> <key, %u to %u bytes in hex>\"",
				 path, lineno, DFT_RDMA_KEY_MIN, DFT_RDMA_KEY_MAX);
			rc = -EINVAL;
			break;
		}
		rc = keyring_add(kr, id, &k);
		OPENSSL_cleanse(&k, sizeof(k));
		if (rc) {
			snprintf(err, err_len, "%s: more than %u keys, or out of memory", path, DFT_RDMA_KEYS_MAX);
			break;
		}
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	return rc;
}

int dft_rdma_keyring_load(const char *path, struct dft_rdma_keyring **out, char *err, size_t err_len)
{
	struct dft_rdma_keyring *kr = calloc(1, sizeof(*kr));
	DIR *d;
	int rc;

	if (!kr)
		return -ENOMEM;
	d = opendir(path);
	if (d) {
		rc = load_dir(kr, path, d, err, err_len);
		closedir(d);
	} else if (errno == ENOTDIR) {
		rc = load_map(kr, path, err, err_len);
	} else {
		rc = -errno;
		snprintf(err, err_len, "%s: %s", path, strerror(-rc));
	}
	if (!rc && !kr->n) {
		snprintf(err, err_len, "%s: no keys", path);
		rc = -ENOENT;
	}
	if (!rc) {
		qsort(kr->e, kr->n, sizeof(*kr->e), cmp_ent);
		for (uint32_t i = 1; i < kr->n; i++) {
			if (kr->e[i].sender_id == kr->e[i - 1].sender_id) {
				snprintf(err, err_len, "%s: sender %016llx has two keys", path,
					 (unsigned long long)kr->e[i].sender_id);
				rc = -EINVAL;
				break;
			}
		}
	}
	if (rc) {
		dft_rdma_keyring_free(kr);
		return rc;
	}
	*out = kr;
	return 0;
}

void dft_rdma_keyring_free(struct dft_rdma_keyring *kr)
{
	if (!kr)
		return;
	if (kr->e)
		OPENSSL_cleanse(kr->e, (size_t)kr->cap * sizeof(*kr->e));
	free(kr->e);
	free(kr);
}

uint32_t dft_rdma_keyring_count(const struct dft_rdma_keyring *kr)
{
	return kr ? kr->n : 0;
}

int dft_rdma_keyring_get(const struct dft_rdma_keyring *kr, uint64_t sender_id, struct dft_rdma_key *out)
{
	struct keyent want = {.sender_id = sender_id};
	const struct keyent *e;

	if (!kr || !kr->n)
		return -ENOENT;
	e = bsearch(&want, kr->e, kr->n, sizeof(*kr->e), cmp_ent);
	if (!e)
		return -ENOENT;
	*out = e->key;
	return 0;
}
