/* SPDX-License-Identifier: MIT */
/*
 * The ClickHouse store as a collector sink (sink_clickhouse.h): every reported span with its hop
 * list, every profile entry and the round's span-kind votes go into the Distributed tables of the
 * server given (ch_http.c has the schema), one RowBinary INSERT per table per group commit, before
 * the SQLite commit that acknowledges the batches. Rebuilt spans are not stored here either: readers
 * rebuild them from these rows as from SQLite's. A round that rolls back after its INSERTs leaves
 * rows its senders will resend (at least once, like the OTLP file).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ch_http.h"
#include "dft/hops.h"
#include "rebuild.h"
#include "sink_clickhouse.h"

#define BUF_MAX     (256u << 20) /* bytes of RowBinary held at once */
#define FLUSH_AT    (32u << 20)  /* a round larger than this inserts early */
#define KINDS_ROUND 4096u        /* (name, kind) votes per round; more are not counted */

static const char ins_spans[] =
    "INSERT INTO otel_traces (Timestamp, StartNs, TraceId, SpanId, ParentSpanId, SpanName, SpanKind,"
    " ServiceName, ComponentKind, Duration, StatusCode, StatusMessage, QueueNs, Flags, KeepReasons,"
    " SpanAttributes.Key, SpanAttributes.Value, Hops, SenderId, BatchSeq) FORMAT RowBinary";
static const char ins_profiles[] =
    "INSERT INTO dft_profiles (Created, CreatedNs, SenderId, Component, Operation, NameHash, Count, Kept,"
    " Filtered, P50Ns, P99Ns, QueueP99Ns, SelfTimeNs) FORMAT RowBinary";
static const char ins_kinds[] = "INSERT INTO dft_span_kinds (NameHash, SpanKind, Votes) FORMAT RowBinary";

struct vote {
	uint32_t hash;
	uint8_t kind;
	uint64_t votes;
};

struct ch_sink {
	struct dft_ch *ch;
	struct dft_rb_buf spans, profiles;
	struct vote kinds[KINDS_ROUND];
	uint32_t n_kinds;
};

static uint32_t name_hash(const Difftrace__SpanBatch *b, uint32_t comp, uint32_t op)
{
	return dft_hops_name_hash(b->strings[comp], strlen(b->strings[comp]), b->strings[op], strlen(b->strings[op]));
}

static void vote(struct ch_sink *s, uint32_t hash, uint32_t kind)
{
	uint32_t i;

	if (kind == 0 || kind > 5)
		return;
	for (i = 0; i < s->n_kinds && !(s->kinds[i].hash == hash && s->kinds[i].kind == kind); i++)
		;
	if (i == s->n_kinds) {
		if (s->n_kinds == KINDS_ROUND)
			return;
		s->kinds[s->n_kinds++] = (struct vote){hash, (uint8_t)kind, 0};
	}
	s->kinds[i].votes++;
}

static void span_row(struct ch_sink *s, const Difftrace__SpanBatch *b, const Difftrace__Span *sp)
{
	struct dft_rb_buf *o = &s->spans;
	uint8_t hops[DFT_RB_HOPS_MAX * DFT_RB_HOP_BYTES];
	struct dft_rb_hop h[DFT_RB_HOPS_MAX];
	const char *msg = sp->status_message ? sp->status_message : "";
	size_t nh = sp->n_hops <= DFT_RB_HOPS_MAX ? sp->n_hops : 0;

	dft_rbb_u32(o, (uint32_t)(sp->start_ns / 1000000000u));
	dft_rbb_u64(o, sp->start_ns);
	dft_rbb_bytes(o, sp->trace_id.data, 16); /* validated: 16 bytes */
	dft_rbb_u64(o, sp->span_id);
	dft_rbb_u64(o, sp->parent_span_id);
	dft_rbb_str(o, b->strings[sp->operation], strlen(b->strings[sp->operation]));
	dft_rbb_u8(o, (uint8_t)sp->span_kind);
	dft_rbb_str(o, b->strings[sp->component], strlen(b->strings[sp->component]));
	dft_rbb_u8(o, (uint8_t)sp->kind);
	dft_rbb_u64(o, sp->end_ns - sp->start_ns);
	dft_rbb_u8(o, (uint8_t)sp->status);
	dft_rbb_str(o, msg, strlen(msg));
	dft_rbb_u64(o, sp->queue_ns);
	dft_rbb_u32(o, sp->flags);
	dft_rbb_u32(o, sp->keep_reasons);
	dft_rbb_varint(o, sp->n_attrs);
	for (size_t i = 0; i < sp->n_attrs; i++)
		dft_rbb_str(o, b->strings[sp->attrs[i]->key], strlen(b->strings[sp->attrs[i]->key]));
	dft_rbb_varint(o, sp->n_attrs);
	for (size_t i = 0; i < sp->n_attrs; i++)
		dft_rbb_u64(o, (uint64_t)sp->attrs[i]->value);
	for (size_t i = 0; i < nh; i++)
		h[i] = (struct dft_rb_hop){.span_id = sp->hops[i]->span_id,
		                           .parent_span_id = sp->hops[i]->parent_span_id,
		                           .start_ns = sp->hops[i]->start_ns,
		                           .name_hash = sp->hops[i]->name_hash};
	dft_rb_hops_encode(h, (uint32_t)nh, hops);
	dft_rbb_str(o, hops, nh * DFT_RB_HOP_BYTES);
	dft_rbb_u64(o, b->header->sender_id);
	dft_rbb_u64(o, b->header->sequence);
	vote(s, name_hash(b, sp->component, sp->operation), sp->span_kind);
}

static void profile_row(struct ch_sink *s, const Difftrace__SpanBatch *b, const Difftrace__Profile *p,
                        const Difftrace__ProfileEntry *e)
{
	struct dft_rb_buf *o = &s->profiles;

	dft_rbb_u32(o, (uint32_t)(p->created_ns / 1000000000u));
	dft_rbb_u64(o, p->created_ns);
	dft_rbb_u64(o, b->header->sender_id);
	dft_rbb_str(o, b->strings[e->component], strlen(b->strings[e->component]));
	dft_rbb_str(o, b->strings[e->operation], strlen(b->strings[e->operation]));
	dft_rbb_u32(o, name_hash(b, e->component, e->operation));
	dft_rbb_u64(o, e->count);
	dft_rbb_u64(o, e->kept);
	dft_rbb_u64(o, e->filtered);
	dft_rbb_u64(o, e->duration_p50_ns);
	dft_rbb_u64(o, e->duration_p99_ns);
	dft_rbb_u64(o, e->queue_p99_ns);
	dft_rbb_u64(o, e->self_time_ns);
}

static int ch_flush(void *ctx)
{
	struct ch_sink *s = ctx;
	struct dft_rb_buf k = {.max = BUF_MAX};
	int rc = 0;

	if (s->spans.overflow || s->profiles.overflow)
		rc = -E2BIG;
	if (!rc && s->spans.len)
		rc = dft_ch_insert(s->ch, ins_spans, s->spans.p, s->spans.len);
	if (!rc && s->profiles.len)
		rc = dft_ch_insert(s->ch, ins_profiles, s->profiles.p, s->profiles.len);
	if (!rc && s->n_kinds) {
		for (uint32_t i = 0; i < s->n_kinds; i++) {
			dft_rbb_u32(&k, s->kinds[i].hash);
			dft_rbb_u8(&k, s->kinds[i].kind);
			dft_rbb_u64(&k, s->kinds[i].votes);
		}
		rc = k.overflow ? -ENOMEM : dft_ch_insert(s->ch, ins_kinds, k.p, k.len);
	}
	dft_rbb_free(&k);
	if (rc)
		fprintf(stderr, "difftrace-collector: clickhouse: %s\n",
		        rc == -E2BIG ? "round too large" : dft_ch_errmsg(s->ch));
	/* what failed rolls the round back; its senders resend it */
	s->spans.len = s->profiles.len = 0;
	s->spans.overflow = s->profiles.overflow = 0;
	s->n_kinds = 0;
	return rc;
}

static int ch_put(void *ctx, const Difftrace__SpanBatch *b, bool reconstructed, uint64_t *spans)
{
	struct ch_sink *s = ctx;

	(void)spans; /* spans_exported counts the OTLP outputs; this is a store */
	if (reconstructed)
		return 0; /* rebuilt on read (invariant 6) */
	for (size_t i = 0; i < b->n_spans; i++)
		span_row(s, b, b->spans[i]);
	for (size_t i = 0; i < b->n_profiles; i++)
		for (size_t j = 0; j < b->profiles[i]->n_entries; j++)
			profile_row(s, b, b->profiles[i], b->profiles[i]->entries[j]);
	if (s->spans.overflow || s->profiles.overflow)
		return -E2BIG;
	if (s->spans.len + s->profiles.len > FLUSH_AT)
		return ch_flush(s);
	return 0;
}

static void ch_destroy(void *ctx)
{
	struct ch_sink *s = ctx;

	dft_rbb_free(&s->spans);
	dft_rbb_free(&s->profiles);
	dft_ch_close(s->ch);
	free(s);
}

static const struct dft_sink_ops ch_ops = {
    .name = "clickhouse",
    .put = ch_put,
    .flush = ch_flush,
    .destroy = ch_destroy,
};

/* Creates the schema on every node of urls (comma-separated); 0 or -errno. */
static int schema_everywhere(const char *urls)
{
	char *list = strdup(urls), *save = NULL;
	int rc = list ? 0 : -ENOMEM;

	for (char *u = list ? strtok_r(list, ",", &save) : NULL; u && !rc; u = strtok_r(NULL, ",", &save)) {
		struct dft_ch *ch;

		rc = dft_ch_open(u, &ch);
		if (rc)
			break;
		rc = dft_ch_schema(ch);
		if (rc)
			fprintf(stderr, "difftrace-collector: clickhouse schema: %s\n", dft_ch_errmsg(ch));
		dft_ch_close(ch);
	}
	free(list);
	return rc;
}

int dft_ch_sink_open(const char *urls, struct dft_sink *out)
{
	struct ch_sink *s = calloc(1, sizeof(*s));
	char first[512];
	int rc;

	if (!s)
		return -ENOMEM;
	s->spans.max = s->profiles.max = BUF_MAX;
	snprintf(first, sizeof(first), "%.*s", (int)strcspn(urls, ","), urls);
	/* every shard needs its local tables before a Distributed insert can reach it */
	rc = schema_everywhere(urls);
	if (rc)
		goto free_sink;
	rc = dft_ch_open(first, &s->ch);
	if (rc)
		goto free_sink;
	out->ops = &ch_ops;
	out->ctx = s;
	return 0;

free_sink:
	free(s);
	return rc;
}
