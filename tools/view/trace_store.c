/* SPDX-License-Identifier: MIT */
/* Read-only access to the collector's SQLite store for the views (see trace_store.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trace_read.h"
#include "trace_store.h"

static const char *const keep_names[] = {"function", "error",   "keep",       "cold_start",
                                         "queueing", "outlier", "contention", "retro"};

const char *dft_keep_reason_name(unsigned bit)
{
	return bit < sizeof(keep_names) / sizeof(keep_names[0]) ? keep_names[bit] : NULL;
}

uint32_t dft_keep_reason_bit(const char *name)
{
	for (unsigned i = 0; i < sizeof(keep_names) / sizeof(keep_names[0]); i++)
		if (!strcmp(name, keep_names[i]))
			return 1u << i;
	return 0;
}

static int fail(struct dft_verr *err, int rc, sqlite3 *db, const char *what)
{
	snprintf(err->msg, sizeof(err->msg), "%s: %s", what, db ? sqlite3_errmsg(db) : strerror(-rc));
	return rc;
}

int dft_vstore_open(const char *path, sqlite3 **db, struct dft_verr *err)
{
	char why[160];
	sqlite3_stmt *q = NULL;
	struct stat st;
	int rc;

	*db = NULL;
	if (stat(path, &st)) {
		snprintf(err->msg, sizeof(err->msg), "--db %s: %s", path, strerror(errno));
		return -ENOENT;
	}
	if (sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(err->msg, sizeof(err->msg), "--db %s: %s", path, *db ? sqlite3_errmsg(*db) : "out of memory");
		rc = -EIO;
		goto close_db;
	}
	sqlite3_busy_timeout(*db, 2000);
	if (sqlite3_prepare_v2(*db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'spans'", -1, &q,
	                       NULL) != SQLITE_OK) {
		snprintf(err->msg, sizeof(err->msg), "--db %s: %s", path, sqlite3_errmsg(*db));
		rc = -EIO;
		goto close_db;
	}
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW) {
		snprintf(err->msg, sizeof(err->msg), "--db %s: not a difftrace store (no spans table)", path);
		rc = -EINVAL;
		goto close_db;
	}
	if ((rc = dft_store_check_schema(*db, why, sizeof(why)))) {
		snprintf(err->msg, sizeof(err->msg), "--db %s: %s", path, why);
		goto close_db;
	}
	return 0;

close_db:
	sqlite3_close(*db);
	*db = NULL;
	return rc;
}

int dft_trace_id_parse(const char *hex, uint8_t out[16])
{
	static const char digits[] = "0123456789abcdef";

	if (strlen(hex) != 32)
		return -EINVAL;
	for (int i = 0; i < 32; i++) {
		const char *d = strchr(digits, hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] - 'A' + 'a' : hex[i]);

		if (!hex[i] || !d)
			return -EINVAL;
		if (i % 2 == 0)
			out[i / 2] = (uint8_t)((d - digits) << 4);
		else
			out[i / 2] |= (uint8_t)(d - digits);
	}
	return 0;
}

void dft_trace_id_hex(const uint8_t id[16], char out[33])
{
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", id[i]);
}

void dft_span_id_hex(uint64_t id, char out[17])
{
	snprintf(out, 17, "%016" PRIx64, id);
}

void dft_vtrace_free(struct dft_vtrace *t)
{
	if (!t)
		return;
	for (uint32_t i = 0; i < t->n; i++) {
		free(t->sp[i].component);
		free(t->sp[i].operation);
	}
	free(t->sp);
	free(t);
}

static char *dup_col(sqlite3_stmt *q, int col)
{
	const char *s = (const char *)sqlite3_column_text(q, col);

	return strdup(s ? s : "");
}

static int cmp_vspan(const void *a, const void *b)
{
	const struct dft_vspan *x = a, *y = b;

	if (x->start_ns != y->start_ns)
		return x->start_ns < y->start_ns ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

int dft_vtrace_load(sqlite3 *db, const uint8_t id[16], struct dft_vtrace **out, struct dft_verr *err)
{
	struct dft_treader *r;
	struct dft_ttrace tt;
	struct dft_vtrace *t;
	int rc;

	*out = NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return fail(err, -ENOMEM, NULL, "load trace");
	memcpy(t->id, id, 16);
	if (dft_treader_create(db, &r)) {
		rc = fail(err, -EIO, db, "query spans");
		goto free_trace;
	}
	/* the stored rows and the platform spans rebuilt from their hop lists, as every reader sees them */
	rc = dft_treader_trace(r, id, &tt);
	if (rc == -ENOENT) {
		char hex[33];

		dft_trace_id_hex(id, hex);
		snprintf(err->msg, sizeof(err->msg), "trace %s: not found in the store", hex);
		goto destroy_reader;
	}
	if (rc) {
		snprintf(err->msg, sizeof(err->msg), "load trace: %s", dft_treader_errmsg(r));
		goto destroy_reader;
	}
	t->truncated = tt.truncated;
	t->sp = calloc(tt.n, sizeof(*t->sp));
	if (!t->sp) {
		rc = fail(err, -ENOMEM, NULL, "load trace");
		goto clear;
	}
	for (uint32_t i = 0; i < tt.n && i < DFT_VIEW_MAX_SPANS; i++) {
		struct dft_tspan *s = &tt.sp[i];

		/* the strings move over: clear() below frees what is left */
		t->sp[t->n++] = (struct dft_vspan){.id = s->span_id,
		                                   .parent = s->parent_span_id,
		                                   .start_ns = s->start_ns,
		                                   .end_ns = s->end_ns,
		                                   .queue_ns = s->queue_ns,
		                                   .component = s->component,
		                                   .operation = s->operation,
		                                   .kind = s->kind,
		                                   .status = s->status,
		                                   .flags = s->flags,
		                                   .keep_reasons = s->keep_reasons,
		                                   .reconstructed = s->reconstructed};
		s->component = s->operation = NULL;
	}
	t->truncated |= tt.n > DFT_VIEW_MAX_SPANS;
	qsort(t->sp, t->n, sizeof(*t->sp), cmp_vspan);
	*out = t;
clear:
	dft_ttrace_clear(&tt);
destroy_reader:
	dft_treader_destroy(r);
free_trace:
	if (rc)
		dft_vtrace_free(t);
	return rc;
}

static int cmp_prof(const void *a, const void *b)
{
	const struct dft_vprof *x = a, *y = b;
	int c = strcmp(x->component, y->component);

	return c ? c : strcmp(x->operation, y->operation);
}

void dft_vprofs_free(struct dft_vprofs *p)
{
	for (uint32_t i = 0; i < p->n; i++) {
		free(p->p[i].component);
		free(p->p[i].operation);
	}
	free(p->p);
	p->p = NULL;
	p->n = 0;
}

int dft_vprofs_load(sqlite3 *db, struct dft_vprofs *out, struct dft_verr *err)
{
	/* the newest row per key: SQLite takes the bare columns from the max() row */
	static const char sql[] = "SELECT component, operation, max(created_ns), count, duration_p50_ns,"
	                          " duration_p99_ns FROM profiles GROUP BY component, operation LIMIT 100000";
	uint32_t cap = 0;
	sqlite3_stmt *q;
	int step, rc = 0;

	memset(out, 0, sizeof(*out));
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK)
		return 0; /* a store without a profiles table has no profiles */
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		struct dft_vprof *p;

		if (out->n == cap) {
			struct dft_vprof *np;

			cap = cap ? 2 * cap : 64;
			np = realloc(out->p, cap * sizeof(*np));
			if (!np) {
				rc = fail(err, -ENOMEM, NULL, "load profiles");
				goto finalize;
			}
			out->p = np;
		}
		p = &out->p[out->n];
		p->component = dup_col(q, 0);
		p->operation = dup_col(q, 1);
		p->created_ns = (uint64_t)sqlite3_column_int64(q, 2);
		p->count = (uint64_t)sqlite3_column_int64(q, 3);
		p->duration_p50_ns = (uint64_t)sqlite3_column_int64(q, 4);
		p->duration_p99_ns = (uint64_t)sqlite3_column_int64(q, 5);
		if (!p->component || !p->operation) {
			free(p->component);
			free(p->operation);
			rc = fail(err, -ENOMEM, NULL, "load profiles");
			goto finalize;
		}
		out->n++;
	}
	if (step != SQLITE_DONE && step != SQLITE_ROW)
		rc = fail(err, -EIO, db, "read profiles");
	qsort(out->p, out->n, sizeof(*out->p), cmp_prof);
finalize:
	sqlite3_finalize(q);
	if (rc)
		dft_vprofs_free(out);
	return rc;
}

const struct dft_vprof *dft_vprofs_find(const struct dft_vprofs *p, const char *component, const char *operation)
{
	struct dft_vprof key = {.component = (char *)component, .operation = (char *)operation};

	if (!p->n)
		return NULL;
	return bsearch(&key, p->p, p->n, sizeof(*p->p), cmp_prof);
}
