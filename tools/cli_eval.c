/* SPDX-License-Identifier: MIT */
/*
 * difftrace eval: streams the ground truth (one JSON line per span, difftrace-gen --truth) against a
 * hash set of the store's span keys, so memory grows with the stored spans and the traces, never with
 * the truth file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "cli_eval.h"
#include "cli_eval_store.h"

const char *const dft_eval_lost_names[DFT_EVAL_LOST_REASONS] = {
    "lost_ring_full", "lost_no_ring", "lost_invalid", "lost_backlog_full", "lost_transport", "lost_hold_overflow",
};

static const char eval_usage[] =
    "usage: difftrace eval --truth FILE --db FILE [--nic-stats FILE] [--collector-stats FILE] [--json]\n"
    "  compares difftrace-gen's ground truth with the collector's store: anomalous-span recall, platform\n"
    "  span reduction, trace completeness, reconstruction error, accounting (docs/evaluation.md)\n";

/* ---- traces of the truth: trace id -> complete so far */

struct trace_ent {
	uint8_t trace_id[16];
	uint8_t used, incomplete;
};

struct trace_set {
	struct trace_ent *e;
	size_t cap, n;
};

static struct trace_ent *trace_get(struct trace_set *t, const uint8_t tid[16])
{
	size_t i;

	if (2 * (t->n + 1) > t->cap) {
		size_t ncap = t->cap ? 2 * t->cap : 4096;
		struct trace_ent *ne = calloc(ncap, sizeof(*ne));

		if (!ne)
			return NULL;
		for (size_t k = 0; k < t->cap; k++) {
			if (!t->e[k].used)
				continue;
			for (i = (size_t)dft_eval_key_hash(t->e[k].trace_id, 0) & (ncap - 1); ne[i].used;
			     i = (i + 1) & (ncap - 1))
				;
			ne[i] = t->e[k];
		}
		free(t->e);
		t->e = ne;
		t->cap = ncap;
	}
	for (i = (size_t)dft_eval_key_hash(tid, 0) & (t->cap - 1); t->e[i].used; i = (i + 1) & (t->cap - 1))
		if (!memcmp(t->e[i].trace_id, tid, 16))
			return &t->e[i];
	t->e[i].used = 1;
	memcpy(t->e[i].trace_id, tid, 16);
	t->n++;
	return &t->e[i];
}

/* ---- helpers */

static int hex_bytes(const char *s, uint8_t *out, size_t n)
{
	if (!s || strlen(s) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < 2 * n; i++) {
		char c = s[i];
		int v = c >= '0' && c <= '9'   ? c - '0'
		        : c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                               : -1;

		if (v < 0)
			return -EINVAL;
		if (i % 2)
			out[i / 2] |= (uint8_t)v;
		else
			out[i / 2] = (uint8_t)(v << 4);
	}
	return 0;
}

static int hex_u64(const char *s, uint64_t *out)
{
	uint8_t b[8];

	if (hex_bytes(s, b, 8))
		return -EINVAL;
	*out = 0;
	for (int i = 0; i < 8; i++)
		*out = *out << 8 | b[i];
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* linear interpolation between the closest ranks: q-quantile of sorted v[0, n), n > 0 */
static double quantile(const double *v, size_t n, double q)
{
	double pos = q * (double)(n - 1);
	size_t lo = (size_t)pos;

	if (lo + 1 >= n)
		return v[n - 1];
	return v[lo] + (v[lo + 1] - v[lo]) * (pos - (double)lo);
}

/* ---- counters */

static int counters_from_obj(json_t *o, struct dft_eval *ev)
{
	uint64_t v[3 + DFT_EVAL_LOST_REASONS];
	static const char *const base[3] = {"produced", "reported", "filtered"};

	for (int i = 0; i < 3 + DFT_EVAL_LOST_REASONS; i++) {
		json_t *x = json_object_get(o, i < 3 ? base[i] : dft_eval_lost_names[i - 3]);

		if (!json_is_integer(x) || json_integer_value(x) < 0) {
			/* a counter older senders did not know is zero; the three base ones are required */
			if (i < 3 || x)
				return -EINVAL;
			v[i] = 0;
			continue;
		}
		v[i] = (uint64_t)json_integer_value(x);
	}
	ev->produced += v[0];
	ev->reported += v[1];
	ev->filtered += v[2];
	for (int i = 0; i < DFT_EVAL_LOST_REASONS; i++) {
		ev->lost_by_reason[i] += v[3 + i];
		ev->lost += v[3 + i];
	}
	ev->have_counters = true;
	return 0;
}

static int counters_from_file(const char *path, bool collector, struct dft_eval *ev, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root = json_load_file(path, 0, &je), *s;
	size_t i;
	int rc = 0;

	if (!root)
		return dft_eval_fail(err, errlen, -EINVAL, "%s: line %d: %s", path, je.line, je.text);
	if (!collector) {
		if (counters_from_obj(root, ev))
			rc = dft_eval_fail(err, errlen, -EINVAL,
			          "%s: missing or bad counters (produced, reported, filtered, lost_*)", path);
	} else if (!json_is_array(json_object_get(root, "senders"))) {
		rc = dft_eval_fail(err, errlen, -EINVAL, "%s: no senders array", path);
	} else {
		json_array_foreach(json_object_get(root, "senders"), i, s)
		{
			if (counters_from_obj(json_object_get(s, "counters"), ev)) {
				rc = dft_eval_fail(err, errlen, -EINVAL, "%s: senders[%zu].counters: missing or bad counters",
				          path, i);
				break;
			}
		}
	}
	json_decref(root);
	return rc;
}

static int counters_from_db(sqlite3 *db, struct dft_eval *ev, char *err, size_t errlen)
{
	sqlite3_stmt *q;
	int step, rc = 0;

	if (sqlite3_prepare_v2(db, "SELECT sender_id, counters FROM senders", -1, &q, NULL) != SQLITE_OK)
		return dft_eval_fail(err, errlen, -EIO, "read senders: %s", sqlite3_errmsg(db));
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		const char *c = (const char *)sqlite3_column_text(q, 1);
		json_t *o = c ? json_loads(c, 0, NULL) : NULL;

		if (!c)
			continue; /* no counters arrived from this sender yet */
		if (!o || counters_from_obj(o, ev)) {
			rc = dft_eval_fail(err, errlen, -EINVAL, "senders: sender %016" PRIx64 ": bad counters JSON",
			          (uint64_t)sqlite3_column_int64(q, 0));
			json_decref(o);
			break;
		}
		json_decref(o);
	}
	if (!rc && step != SQLITE_DONE)
		rc = dft_eval_fail(err, errlen, -EIO, "read senders: %s", sqlite3_errmsg(db));
	sqlite3_finalize(q);
	return rc;
}

/* ---- the truth */

struct truth_rec {
	uint8_t trace_id[16];
	uint64_t span_id, parent, start, end;
	bool function, anomalous;
};

static int truth_parse(const char *line, size_t len, struct truth_rec *r)
{
	json_t *o = json_loadb(line, len, 0, NULL), *v;
	const char *kind;
	int rc = -EINVAL;

	if (!o)
		return -EINVAL;
	if (hex_bytes(json_string_value(json_object_get(o, "trace_id")), r->trace_id, 16) ||
	    hex_u64(json_string_value(json_object_get(o, "span_id")), &r->span_id) ||
	    hex_u64(json_string_value(json_object_get(o, "parent_span_id")), &r->parent))
		goto out;
	kind = json_string_value(json_object_get(o, "kind"));
	if (!kind || (strcmp(kind, "function") && strcmp(kind, "platform")))
		goto out;
	r->function = !strcmp(kind, "function");
	v = json_object_get(o, "start_ns");
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		goto out;
	r->start = (uint64_t)json_integer_value(v);
	v = json_object_get(o, "end_ns");
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		goto out;
	r->end = (uint64_t)json_integer_value(v);
	v = json_object_get(o, "anomalous");
	if (!json_is_boolean(v))
		goto out;
	r->anomalous = json_is_true(v);
	rc = 0;
out:
	json_decref(o);
	return rc;
}

struct errs {
	double *v;
	size_t n, cap;
};

static int errs_push(struct errs *e, double x)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 1024;
		double *nv = realloc(e->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		e->v = nv;
		e->cap = cap;
	}
	e->v[e->n++] = x;
	return 0;
}

static int walk_truth(const char *path, struct dft_eval_set *set, struct trace_set *traces, struct errs *re,
                      struct dft_eval *ev, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	unsigned long lineno = 0;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int rc = 0;

	if (!f)
		return dft_eval_fail(err, errlen, -errno, "--truth %s: %s", path, strerror(errno));
	while ((len = getline(&line, &cap, f)) >= 0) {
		struct truth_rec r;
		struct dft_eval_stored *s;
		struct trace_ent *t;
		bool reported;

		lineno++;
		if (len == 0 || (len == 1 && line[0] == '\n'))
			continue;
		if (truth_parse(line, (size_t)len, &r)) {
			rc =
			    dft_eval_fail(err, errlen, -EINVAL, "--truth %s: line %lu: not a ground-truth record", path, lineno);
			break;
		}
		ev->truth_spans++;
		s = dft_eval_set_slot(set, r.trace_id, r.span_id);
		if (!s->used)
			s = NULL;
		else
			s->matched = 1;
		reported = s && !s->reconstructed;
		t = trace_get(traces, r.trace_id);
		if (!t) {
			rc = dft_eval_fail(err, errlen, -ENOMEM, "out of memory for the traces");
			break;
		}
		if (!s)
			t->incomplete = 1;
		if (r.anomalous) {
			ev->anomalous_total++;
			ev->anomalous_reported +=
			    reported && s->parent == r.parent && s->start == r.start && s->end == r.end;
		} else if (!r.function) {
			ev->platform_normal_total++;
			ev->platform_normal_reported += reported;
		}
		if (r.function) {
			ev->function_total++;
			ev->function_reported += reported;
		}
		if (s && s->reconstructed) {
			uint64_t td = r.end >= r.start ? r.end - r.start : 0;
			uint64_t sd = s->end >= s->start ? s->end - s->start : 0;

			ev->recon_spans++;
			if (!td) {
				ev->recon_zero_duration++;
			} else if (errs_push(re, (double)(sd > td ? sd - td : td - sd) / (double)td)) {
				rc = dft_eval_fail(err, errlen, -ENOMEM, "out of memory for the reconstruction errors");
				break;
			}
		}
	}
	if (!rc && ferror(f))
		rc = dft_eval_fail(err, errlen, -EIO, "--truth %s: read error", path);
	free(line);
	fclose(f);
	return rc;
}

int dft_eval_compute(const char *truth, const char *dbpath, const char *nic_stats, const char *collector_stats,
                     struct dft_eval *ev, char *err, size_t errlen)
{
	struct dft_eval_set set = {0};
	struct trace_set traces = {0};
	struct errs re = {0};
	sqlite3 *db = NULL;
	int rc;

	memset(ev, 0, sizeof(*ev));
	if (sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		rc = dft_eval_fail(err, errlen, -EIO, "--db %s: %s", dbpath, db ? sqlite3_errmsg(db) : "out of memory");
		goto close_db;
	}
	sqlite3_busy_timeout(db, 2000);
	rc = dft_eval_load_store(db, &set, ev, err, errlen);
	if (rc)
		goto free_set;
	rc = walk_truth(truth, &set, &traces, &re, ev, err, errlen);
	if (rc)
		goto free_traces;
	ev->traces_total = traces.n;
	for (size_t i = 0; i < traces.cap; i++)
		ev->traces_complete += traces.e[i].used && !traces.e[i].incomplete;
	for (size_t i = 0; i < set.cap; i++)
		ev->store_not_in_truth += set.e[i].used && !set.e[i].matched;
	if (re.n) {
		qsort(re.v, re.n, sizeof(*re.v), cmp_double);
		ev->recon_rel_err_median = quantile(re.v, re.n, 0.5);
		ev->recon_rel_err_p90 = quantile(re.v, re.n, 0.9);
	}
	if (nic_stats) {
		ev->accounting_source = "nic-stats";
		rc = counters_from_file(nic_stats, false, ev, err, errlen);
	} else if (collector_stats) {
		ev->accounting_source = "collector-stats";
		rc = counters_from_file(collector_stats, true, ev, err, errlen);
	} else {
		ev->accounting_source = "db";
		rc = counters_from_db(db, ev, err, errlen);
	}
	if (rc)
		goto free_traces;
	ev->accounting_ok = ev->have_counters && ev->produced == ev->reported + ev->filtered + ev->lost &&
	                    ev->store_reported == ev->reported;
free_traces:
	free(re.v);
	free(traces.e);
free_set:
	free(set.e);
close_db:
	sqlite3_close(db);
	return rc;
}

/* ---- output */

static void put_ratio(FILE *o, const char *key, uint64_t num, uint64_t den, bool complement)
{
	if (!den)
		fprintf(o, ",\"%s\":null", key);
	else
		fprintf(o, ",\"%s\":%.6f", key,
		        complement ? 1.0 - (double)num / (double)den : (double)num / (double)den);
}

static void print_json(FILE *o, const struct dft_eval *e)
{
	bool have_err = e->recon_spans > e->recon_zero_duration;

	fprintf(o, "{\"truth_spans\":%" PRIu64, e->truth_spans);
	fprintf(o, ",\"anomalous_total\":%" PRIu64 ",\"anomalous_reported\":%" PRIu64, e->anomalous_total,
	        e->anomalous_reported);
	put_ratio(o, "anomalous_recall", e->anomalous_reported, e->anomalous_total, false);
	fprintf(o, ",\"platform_normal_total\":%" PRIu64 ",\"platform_normal_reported\":%" PRIu64,
	        e->platform_normal_total, e->platform_normal_reported);
	put_ratio(o, "platform_reduction", e->platform_normal_reported, e->platform_normal_total, true);
	fprintf(o, ",\"function_total\":%" PRIu64 ",\"function_reported\":%" PRIu64, e->function_total,
	        e->function_reported);
	fprintf(o, ",\"traces_total\":%" PRIu64 ",\"traces_complete\":%" PRIu64, e->traces_total, e->traces_complete);
	put_ratio(o, "trace_completeness", e->traces_complete, e->traces_total, false);
	fprintf(o, ",\"recon_spans\":%" PRIu64 ",\"recon_zero_duration\":%" PRIu64, e->recon_spans,
	        e->recon_zero_duration);
	if (have_err)
		fprintf(o, ",\"recon_rel_err_median\":%.6f,\"recon_rel_err_p90\":%.6f", e->recon_rel_err_median,
		        e->recon_rel_err_p90);
	else
		fprintf(o, ",\"recon_rel_err_median\":null,\"recon_rel_err_p90\":null");
	fprintf(o,
	        ",\"store_spans\":%" PRIu64 ",\"store_reported\":%" PRIu64 ",\"store_reconstructed\":%" PRIu64
	        ",\"store_duplicates\":%" PRIu64 ",\"store_not_in_truth\":%" PRIu64,
	        e->store_spans, e->store_reported, e->store_reconstructed, e->store_duplicates, e->store_not_in_truth);
	fprintf(o,
	        ",\"accounting_source\":\"%s\",\"produced\":%" PRIu64 ",\"reported\":%" PRIu64 ",\"filtered\":%" PRIu64
	        ",\"lost\":%" PRIu64 ",\"lost_by_reason\":{",
	        e->accounting_source, e->produced, e->reported, e->filtered, e->lost);
	for (int i = 0; i < DFT_EVAL_LOST_REASONS; i++)
		fprintf(o, "%s\"%s\":%" PRIu64, i ? "," : "", dft_eval_lost_names[i], e->lost_by_reason[i]);
	fprintf(o, "},\"accounting_ok\":%s}\n", e->accounting_ok ? "true" : "false");
}

static void print_pct(const char *label, uint64_t num, uint64_t den, bool complement)
{
	if (den)
		printf("  %-28s %7.2f%%\n", label,
		       100.0 * (complement ? 1.0 - (double)num / (double)den : (double)num / (double)den));
	else
		printf("  %-28s %8s\n", label, "-");
}

static void print_table(const struct dft_eval *e)
{
	printf("anomalous spans (reported verbatim)\n");
	printf("  %-28s %8" PRIu64 "\n  %-28s %8" PRIu64 "\n", "total", e->anomalous_total, "reported",
	       e->anomalous_reported);
	print_pct("recall", e->anomalous_reported, e->anomalous_total, false);
	printf("normal platform spans\n");
	printf("  %-28s %8" PRIu64 "\n  %-28s %8" PRIu64 "\n", "total", e->platform_normal_total, "reported",
	       e->platform_normal_reported);
	print_pct("reduction", e->platform_normal_reported, e->platform_normal_total, true);
	printf("function spans\n  %-28s %8" PRIu64 "\n  %-28s %8" PRIu64 "\n", "total", e->function_total, "reported",
	       e->function_reported);
	printf("traces\n  %-28s %8" PRIu64 "\n  %-28s %8" PRIu64 "\n", "total", e->traces_total,
	       "complete after reconstruction", e->traces_complete);
	print_pct("completeness", e->traces_complete, e->traces_total, false);
	printf("reconstructed spans\n  %-28s %8" PRIu64 "\n", "matched to truth", e->recon_spans);
	if (e->recon_spans > e->recon_zero_duration)
		printf("  %-28s %7.2f%%\n  %-28s %7.2f%%\n", "duration error, median", 100.0 * e->recon_rel_err_median,
		       "duration error, p90", 100.0 * e->recon_rel_err_p90);
	printf("store\n  %-28s %8" PRIu64 "\n  %-28s %8" PRIu64 "\n  %-28s %8" PRIu64 "\n  %-28s %8" PRIu64
	       "\n  %-28s %8" PRIu64 "\n",
	       "spans", e->store_spans, "reported", e->store_reported, "reconstructed", e->store_reconstructed,
	       "duplicates", e->store_duplicates, "not in the truth", e->store_not_in_truth);
	printf("accounting (from %s)\n", e->accounting_source);
	printf("  %-28s %8" PRIu64 "\n  %-28s %8" PRIu64 "\n  %-28s %8" PRIu64 "\n  %-28s %8" PRIu64 "\n", "produced",
	       e->produced, "reported", e->reported, "filtered", e->filtered, "lost", e->lost);
	for (int i = 0; i < DFT_EVAL_LOST_REASONS; i++)
		if (e->lost_by_reason[i])
			printf("    %-26s %8" PRIu64 "\n", dft_eval_lost_names[i], e->lost_by_reason[i]);
	printf("  %-28s %8s\n", "identity and store agree", e->accounting_ok ? "yes" : "NO");
}

static int usage_err(const char *fmt, const char *arg)
{
	fprintf(stderr, "difftrace eval: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see difftrace eval --help)\n");
	return 2;
}

int dft_cli_eval(int argc, char **argv)
{
	const char *truth = NULL, *db = NULL, *nic = NULL, *col = NULL;
	struct dft_eval ev;
	char err[512];
	bool json = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = !strcmp(a, "--truth")             ? &truth
		                   : !strcmp(a, "--db")              ? &db
		                   : !strcmp(a, "--nic-stats")       ? &nic
		                   : !strcmp(a, "--collector-stats") ? &col
		                                                     : NULL;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(eval_usage, stdout);
			return 0;
		} else if (!strcmp(a, "--json")) {
			json = true;
		} else if (dst) {
			if (++i == argc)
				return usage_err("%s needs a FILE", a);
			*dst = argv[i];
		} else if (a[0] == '-') {
			return usage_err("unknown option '%s'", a);
		} else {
			return usage_err("unexpected argument '%s'", a);
		}
	}
	if (!truth)
		return usage_err("%s", "--truth FILE is required");
	if (!db)
		return usage_err("%s", "--db FILE is required");
	if (dft_eval_compute(truth, db, nic, col, &ev, err, sizeof(err))) {
		fprintf(stderr, "difftrace eval: %s\n", err);
		return 1;
	}
	if (json)
		print_json(stdout, &ev);
	else
		print_table(&ev);
	return 0;
}
