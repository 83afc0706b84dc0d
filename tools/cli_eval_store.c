/* SPDX-License-Identifier: MIT */
/* difftrace eval: the store's spans as readers see them, in a set keyed by (trace id, span id). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_eval.h"
#include "dft/hash.h"
#include "cli_eval_store.h"
#include "trace_read.h"

int dft_eval_fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

uint64_t dft_eval_key_hash(const uint8_t tid[16], uint64_t sid)
{
	uint64_t h = dft_fnv64(tid, 16, DFT_FNV64_INIT);

	h ^= sid * 0x9e3779b97f4a7c15ull;
	return h ^ (h >> 29);
}

/* The slot holding the key, or the empty slot where it belongs. The set is never more than half full. */
struct dft_eval_stored *dft_eval_set_slot(struct dft_eval_set *s, const uint8_t tid[16], uint64_t sid)
{
	size_t i = (size_t)dft_eval_key_hash(tid, sid) & (s->cap - 1);

	while (s->e[i].used && !(s->e[i].span_id == sid && !memcmp(s->e[i].trace_id, tid, 16)))
		i = (i + 1) & (s->cap - 1);
	return &s->e[i];
}

/* ---- loading the store */

struct load_ctx {
	struct dft_eval_set *set;
	struct dft_eval *ev;
	uint64_t room; /* spans the set was sized for */
};

/* One trace as a reader sees it: stored rows and the spans rebuilt from them (trace_read.h). */
static int load_trace(void *arg, const struct dft_ttrace *t)
{
	struct load_ctx *lc = arg;

	for (uint32_t i = 0; i < t->n; i++) {
		const struct dft_tspan *s = &t->sp[i];
		struct dft_eval_stored *e;

		if (!lc->room)
			return -ENOSPC; /* rows added after the count would overfill the set */
		lc->room--;
		lc->ev->store_spans++;
		if (s->reconstructed)
			lc->ev->store_reconstructed++;
		else
			lc->ev->store_reported++;
		e = dft_eval_set_slot(lc->set, t->id, s->span_id);
		if (e->used) {
			lc->ev->store_duplicates++;
			/* a reported copy is what the recall asks about */
			if (s->reconstructed || !e->reconstructed)
				continue;
		}
		e->used = 1;
		memcpy(e->trace_id, t->id, 16);
		e->span_id = s->span_id;
		e->parent = s->parent_span_id;
		e->start = s->start_ns;
		e->end = s->end_ns;
		e->reconstructed = (uint8_t)s->reconstructed;
	}
	return 0;
}

int dft_eval_load_store(sqlite3 *db, struct dft_eval_set *set, struct dft_eval *ev, char *err, size_t errlen)
{
	/* stored rows plus at most one rebuilt span per stored hop */
	static const char count_sql[] =
	    "SELECT count(*), total(CASE WHEN typeof(hops) = 'blob' THEN length(hops) / 28 ELSE 0 END) FROM spans";
	struct dft_treader *r;
	struct load_ctx lc = {.set = set, .ev = ev};
	sqlite3_stmt *q;
	sqlite3_int64 n = 0;
	int rc;

	if (sqlite3_prepare_v2(db, count_sql, -1, &q, NULL) != SQLITE_OK)
		return dft_eval_fail(err, errlen, -EIO, "count spans: %s", sqlite3_errmsg(db));
	if (sqlite3_step(q) == SQLITE_ROW)
		n = sqlite3_column_int64(q, 0) + (sqlite3_int64)sqlite3_column_double(q, 1);
	sqlite3_finalize(q);
	for (set->cap = 1024; set->cap < 2 * (size_t)n + 2; set->cap *= 2)
		;
	set->e = calloc(set->cap, sizeof(*set->e));
	if (!set->e)
		return dft_eval_fail(err, errlen, -ENOMEM, "out of memory for %lld stored spans", (long long)n);
	lc.room = (uint64_t)n;
	if (dft_treader_create(db, &r))
		return dft_eval_fail(err, errlen, -EIO, "read spans: %s", sqlite3_errmsg(db));
	rc = dft_treader_foreach(r, load_trace, &lc);
	if (rc == -ENOSPC)
		rc = 0; /* the set holds what was there when it was sized */
	else if (rc)
		rc = dft_eval_fail(err, errlen, rc, "read spans: %s", dft_treader_errmsg(r));
	dft_treader_destroy(r);
	return rc;
}
