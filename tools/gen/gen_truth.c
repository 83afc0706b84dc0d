/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen_truth.h"

#define TRUTH_BUF      (256 * 1024)
#define TRUTH_LINE_MAX 512 /* a record is at most ~330 bytes: names are bounded by the model */

int dft_gen_truth_open(struct dft_gen_truth *t, const char *path)
{
	memset(t, 0, sizeof(*t));
	t->fd = -1;
	if (!path)
		return 0;
	t->buf = malloc(TRUTH_BUF);
	if (!t->buf)
		return -ENOMEM;
	t->cap = TRUTH_BUF;
	t->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (t->fd < 0) {
		int rc = -errno;

		free(t->buf);
		t->buf = NULL;
		return rc;
	}
	return 0;
}

static void dft_gen_truth_flush(struct dft_gen_truth *t)
{
	size_t off = 0;

	while (off < t->len && !t->err) {
		ssize_t n = write(t->fd, t->buf + off, t->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			t->err = n < 0 ? -errno : -EIO;
		else
			off += (size_t)n;
	}
	t->len = 0;
}

static char *dft_gen_hex(char *o, const uint8_t *p, size_t n)
{
	static const char d[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		*o++ = d[p[i] >> 4];
		*o++ = d[p[i] & 15];
	}
	*o = 0;
	return o;
}

void dft_gen_truth_put(struct dft_gen_truth *t, const struct dft_gen_truth_rec *r)
{
	const char *an = dft_gen_anomaly_name(r->anomaly);
	char tid[33], anomaly[32];
	int n;

	t->records++;
	if (t->fd < 0)
		return;
	if (t->cap - t->len < TRUTH_LINE_MAX)
		dft_gen_truth_flush(t);
	dft_gen_hex(tid, r->trace_id, 16);
	if (an)
		snprintf(anomaly, sizeof(anomaly), "\"%s\"", an);
	else
		snprintf(anomaly, sizeof(anomaly), "null");
	/* names come from the model: no quotes or control characters (the CSV parser rejects them) */
	n = snprintf(t->buf + t->len, t->cap - t->len,
	             "{\"trace_id\":\"%s\",\"span_id\":\"%016" PRIx64 "\",\"parent_span_id\":\"%016" PRIx64 "\","
	             "\"component\":\"%s\",\"operation\":\"%s\",\"kind\":\"%s\",\"start_ns\":%" PRIu64
	             ",\"end_ns\":%" PRIu64 ",\"anomalous\":%s,\"anomaly\":%s}\n",
	             tid, r->span_id, r->parent_span_id, r->component, r->operation,
	             r->function ? "function" : "platform", r->start_ns, r->end_ns, an ? "true" : "false", anomaly);
	if (n > 0 && (size_t)n < t->cap - t->len)
		t->len += (size_t)n;
	else if (!t->err)
		t->err = -ENOSPC;
}

int dft_gen_truth_close(struct dft_gen_truth *t)
{
	int rc;

	if (t->fd >= 0) {
		dft_gen_truth_flush(t);
		if (close(t->fd) && !t->err)
			t->err = -errno;
	}
	free(t->buf);
	rc = t->err;
	memset(t, 0, sizeof(*t));
	t->fd = -1;
	return rc;
}

int dft_gen_truth_merge(const char *out, char *const *parts, unsigned n)
{
	FILE *o = fopen(out, "w");
	char buf[65536];
	int rc = 0;

	if (!o)
		return -errno;
	for (unsigned i = 0; i < n; i++) {
		FILE *in = fopen(parts[i], "r");
		size_t k;

		if (!in) {
			rc = rc ? rc : -errno;
			continue;
		}
		while ((k = fread(buf, 1, sizeof(buf), in)) > 0)
			if (fwrite(buf, 1, k, o) != k && !rc)
				rc = -EIO;
		fclose(in);
		remove(parts[i]);
	}
	if (fclose(o) && !rc)
		rc = -EIO;
	return rc;
}
