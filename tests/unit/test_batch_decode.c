/* SPDX-License-Identifier: MIT */
/* Batch decoding and semantic validation: every malformed batch is refused with a reason. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "batch.h"
#include "collector.h"
#include "dft/frame.h"
#include "json.h"
#include "otlp_json.h"
#include "stats.h"

#define SENDER 0x8877665544332211ULL
#define NSPANS 3

/* A valid batch in plain structs that each case then breaks in one place. */
struct fixture {
	Difftrace__SpanBatch b;
	Difftrace__BatchHeader h;
	Difftrace__Counters c;
	Difftrace__Span s[NSPANS];
	Difftrace__Span *sp[NSPANS];
	Difftrace__Attr a;
	Difftrace__Attr *ap;
	Difftrace__Hop hop;
	Difftrace__Hop *hp;
	uint8_t tid[16];
	char *strings[4];
};

static void fixture_init(struct fixture *f)
{
	static char s0[] = "ingress", s1[] = "fn", s2[] = "op", s3[] = "k";
	int i;

	memset(f, 0, sizeof(*f));
	difftrace__span_batch__init(&f->b);
	difftrace__batch_header__init(&f->h);
	difftrace__counters__init(&f->c);
	difftrace__attr__init(&f->a);
	difftrace__hop__init(&f->hop);
	f->strings[0] = s0;
	f->strings[1] = s1;
	f->strings[2] = s2;
	f->strings[3] = s3;
	for (i = 0; i < 16; i++)
		f->tid[i] = (uint8_t)(i + 1);
	f->h.sender_id = SENDER;
	f->h.sequence = 5;
	f->h.counters = &f->c;
	f->a.key = 3;
	f->a.value = -9;
	f->ap = &f->a;
	f->hop.name_hash = 0x1234;
	f->hop.span_id = 77;
	f->hp = &f->hop;
	for (i = 0; i < NSPANS; i++) {
		Difftrace__Span *s = &f->s[i];

		difftrace__span__init(s);
		s->trace_id.data = f->tid;
		s->trace_id.len = 16;
		s->span_id = (uint64_t)i + 1;
		s->parent_span_id = i ? 1 : 0;
		s->start_ns = 1000;
		s->end_ns = 2000 + (uint64_t)i;
		s->component = i ? 1 : 0;
		s->operation = 2;
		s->kind = i ? DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_FUNCTION
		            : DIFFTRACE__COMPONENT_KIND__COMPONENT_KIND_PLATFORM;
		s->n_attrs = 1;
		s->attrs = &f->ap;
		s->n_hops = 1;
		s->hops = &f->hp;
		f->sp[i] = s;
	}
	f->b.header = &f->h;
	f->b.n_strings = 4;
	f->b.strings = f->strings;
	f->b.n_spans = NSPANS;
	f->b.spans = f->sp;
}

/* Pack, decode, validate: returns the validation result (decode must succeed) and the reason. */
static int roundtrip(struct fixture *f, uint64_t hello, const char **reason)
{
	size_t len = difftrace__span_batch__get_packed_size(&f->b);
	uint8_t *buf = malloc(len ? len : 1);
	struct dft_decoded *dec;
	int rc;

	assert_non_null(buf);
	difftrace__span_batch__pack(&f->b, buf);
	*reason = NULL;
	assert_int_equal(dft_batch_decode(buf, len, &dec, reason), 0);
	rc = dft_batch_validate(dec->batch, hello, reason);
	dft_batch_free(dec);
	free(buf);
	return rc;
}

static void expect_bad(struct fixture *f, const char *why)
{
	const char *reason;

	assert_int_equal(roundtrip(f, SENDER, &reason), -EBADMSG);
	assert_non_null(reason);
	assert_non_null(strstr(reason, why));
}

static void test_valid(void **state)
{
	struct fixture f;
	const char *reason;

	(void)state;
	fixture_init(&f);
	assert_int_equal(roundtrip(&f, SENDER, &reason), 0);
	/* a batch without spans (the final counters) is valid too */
	f.b.n_spans = 0;
	assert_int_equal(roundtrip(&f, SENDER, &reason), 0);
}

static void test_malformed(void **state)
{
	struct fixture f;
	const char *reason;

	(void)state;
	fixture_init(&f);
	f.b.header = NULL;
	expect_bad(&f, "missing header");

	fixture_init(&f);
	f.h.sequence = 0;
	expect_bad(&f, "sequence 0");

	fixture_init(&f);
	assert_int_equal(roundtrip(&f, SENDER + 1, &reason), -EBADMSG);
	assert_non_null(strstr(reason, "HELLO"));

	fixture_init(&f);
	f.s[1].component = 4;
	expect_bad(&f, "component string index");

	fixture_init(&f);
	f.s[2].operation = 1000;
	expect_bad(&f, "operation string index");

	fixture_init(&f);
	f.a.key = 4;
	expect_bad(&f, "attribute key");

	fixture_init(&f);
	f.hop.span_id = 0;
	expect_bad(&f, "hop without a span id");

	fixture_init(&f);
	f.s[0].trace_id.len = 15;
	expect_bad(&f, "trace_id is not 16 bytes");

	fixture_init(&f);
	f.s[0].trace_id.len = 0;
	expect_bad(&f, "trace_id is not 16 bytes");

	fixture_init(&f);
	memset(f.tid, 0, sizeof(f.tid));
	expect_bad(&f, "all zero");

	fixture_init(&f);
	f.s[2].span_id = 0;
	expect_bad(&f, "span_id is 0");

	fixture_init(&f);
	f.s[1].end_ns = f.s[1].start_ns - 1;
	expect_bad(&f, "end_ns before start_ns");

	fixture_init(&f);
	f.s[1].status = (Difftrace__Status)3;
	expect_bad(&f, "status");

	fixture_init(&f);
	f.s[1].kind = (Difftrace__ComponentKind)7;
	expect_bad(&f, "kind");

	fixture_init(&f);
	f.s[1].span_kind = 6;
	expect_bad(&f, "span_kind");
}

/* A status message is what the NIC validated, or the batch is refused. */
static void test_status_message(void **state)
{
	static char ok[] = "upstream reset: caf\xc3\xa9", ctrl[] = "a\tb", bad_utf8[] = "\xc3(", long_msg[122];
	struct fixture f;
	const char *reason;

	(void)state;
	fixture_init(&f);
	f.s[1].status = DIFFTRACE__STATUS__STATUS_ERROR;
	f.s[1].status_message = ok;
	assert_int_equal(roundtrip(&f, SENDER, &reason), 0);
	memset(long_msg, 'x', 120);
	long_msg[120] = 0;
	f.s[1].status_message = long_msg;
	assert_int_equal(roundtrip(&f, SENDER, &reason), 0);
	long_msg[120] = 'x';
	long_msg[121] = 0;
	expect_bad(&f, "status_message longer");
	f.s[1].status_message = ctrl;
	expect_bad(&f, "printable UTF-8");
	f.s[1].status_message = bad_utf8;
	expect_bad(&f, "printable UTF-8");
	f.s[1].status_message = ok;
	f.s[1].status = DIFFTRACE__STATUS__STATUS_OK;
	expect_bad(&f, "without status ERROR");
}

static void test_garbage_never_crashes(void **state)
{
	struct fixture f;
	uint8_t good[4096], buf[4096];
	size_t glen;
	unsigned seed = 12345, accepted = 0;
	int iter;

	(void)state;
	fixture_init(&f);
	glen = difftrace__span_batch__get_packed_size(&f.b);
	assert_true(glen <= sizeof(good));
	difftrace__span_batch__pack(&f.b, good);
	for (iter = 0; iter < 20000; iter++) {
		struct dft_decoded *dec = NULL;
		const char *reason = NULL;
		size_t len, i;
		int rc;

		if (iter % 2) {
			/* random bytes */
			len = (size_t)(rand_r(&seed) % 512);
			for (i = 0; i < len; i++)
				buf[i] = (uint8_t)rand_r(&seed);
		} else {
			/* a valid batch with a few bytes flipped or cut */
			memcpy(buf, good, glen);
			len = glen - (size_t)(rand_r(&seed) % 4);
			for (i = 0; i < 3; i++)
				buf[rand_r(&seed) % len] ^= (uint8_t)(1u << (rand_r(&seed) % 8));
		}
		rc = dft_batch_decode(buf, len, &dec, &reason);
		if (rc) {
			assert_non_null(reason);
			assert_null(dec);
			continue;
		}
		rc = dft_batch_validate(dec->batch, SENDER, &reason);
		if (rc == 0) {
			/* whatever passed must be safe to export and store */
			struct dft_buf out;
			uint64_t n = 0;

			accepted++;
			dft_buf_init(&out, 1u << 20);
			assert_int_equal(dft_otlp_json_encode(dec->batch, false, &out, &n), 0);
			assert_int_equal(n, dec->batch->n_spans);
			dft_buf_free(&out);
		} else {
			assert_non_null(reason);
		}
		dft_batch_free(dec);
	}
	/* flips in padding-free places still leave some batches valid: the loop exercised both paths */
	assert_true(accepted > 0);
}

/*
 * The SpanBatch decoder (batch_wire.c) against protobuf-c's generic unpack on the fixture and on
 * 20000 damaged copies of it: whatever both accept packs to the same bytes; what protobuf-c refuses
 * the decoder refuses; it refuses more only for a singular sub-message sent twice (protobuf-c merges).
 */
/* protobuf-c keeps unknown fields and packs them again; the decoder skips them: compare without.
 * The counts are put back before free_unpacked, which frees the unknown fields by them. */
struct unknown_saved {
	ProtobufCMessage *m[4096];
	unsigned n[4096];
	size_t count;
};

static void hide_unknown(struct unknown_saved *u, ProtobufCMessage *m)
{
	if (!m->n_unknown_fields)
		return;
	assert_true(u->count < 4096);
	u->m[u->count] = m;
	u->n[u->count++] = m->n_unknown_fields;
	m->n_unknown_fields = 0;
}

static void drop_unknown(Difftrace__SpanBatch *b, struct unknown_saved *u)
{
	u->count = 0;
	hide_unknown(u, &b->base);
	if (b->header) {
		hide_unknown(u, &b->header->base);
		if (b->header->counters)
			hide_unknown(u, &b->header->counters->base);
	}
	for (size_t i = 0; i < b->n_spans; i++) {
		hide_unknown(u, &b->spans[i]->base);
		for (size_t j = 0; j < b->spans[i]->n_attrs; j++)
			hide_unknown(u, &b->spans[i]->attrs[j]->base);
		for (size_t j = 0; j < b->spans[i]->n_hops; j++)
			hide_unknown(u, &b->spans[i]->hops[j]->base);
	}
	for (size_t i = 0; i < b->n_profiles; i++) {
		hide_unknown(u, &b->profiles[i]->base);
		for (size_t j = 0; j < b->profiles[i]->n_entries; j++)
			hide_unknown(u, &b->profiles[i]->entries[j]->base);
	}
}

static void restore_unknown(struct unknown_saved *u)
{
	for (size_t i = 0; i < u->count; i++)
		u->m[i]->n_unknown_fields = u->n[i];
}

static void test_decoder_matches_protobuf_c(void **state)
{
	struct fixture f;
	uint8_t good[4096], buf[4096], a[8192], b[8192];
	Difftrace__ProfileEntry pe[2], *pep[2] = {&pe[0], &pe[1]};
	Difftrace__Profile prof, *profp = &prof;
	size_t glen;
	unsigned seed = 777, both = 0, stricter = 0;
	static struct unknown_saved unk;

	(void)state;
	fixture_init(&f);
	/* every message of the schema: a profile with two entries and an error's message as well */
	difftrace__profile__init(&prof);
	for (int k = 0; k < 2; k++) {
		difftrace__profile_entry__init(&pe[k]);
		pe[k].component = 0;
		pe[k].operation = 1;
		pe[k].count = 1000u + (unsigned)k;
		pe[k].duration_p50_ns = 123456789;
		pe[k].self_time_ns = 42;
	}
	prof.created_ns = 1700000000000000000ull;
	prof.n_entries = 2;
	prof.entries = pep;
	f.b.n_profiles = 1;
	f.b.profiles = &profp;
	f.b.spans[0]->status_message = (char *)"upstream refused";
	glen = difftrace__span_batch__get_packed_size(&f.b);
	assert_true(glen <= sizeof(good));
	difftrace__span_batch__pack(&f.b, good);
	for (int iter = 0; iter < 20000; iter++) {
		Difftrace__SpanBatch *ref;
		struct dft_decoded *dec = NULL;
		const char *reason = NULL;
		size_t len = glen, i;

		memcpy(buf, good, glen);
		if (iter) {
			len = glen - (size_t)(rand_r(&seed) % 3);
			for (i = 0; i < 2; i++)
				buf[rand_r(&seed) % len] ^= (uint8_t)(1u << (rand_r(&seed) % 8));
		}
		ref = difftrace__span_batch__unpack(NULL, len, buf);
		if (dft_batch_decode(buf, len, &dec, &reason)) {
			stricter += ref != NULL;
			if (ref)
				difftrace__span_batch__free_unpacked(ref, NULL);
			continue;
		}
		assert_non_null(ref);
		drop_unknown(ref, &unk);
		assert_true(difftrace__span_batch__get_packed_size(ref) <= sizeof(a));
		assert_int_equal(difftrace__span_batch__get_packed_size(dec->batch),
		                 difftrace__span_batch__get_packed_size(ref));
		difftrace__span_batch__pack(ref, a);
		difftrace__span_batch__pack(dec->batch, b);
		assert_memory_equal(a, b, difftrace__span_batch__get_packed_size(ref));
		both++;
		restore_unknown(&unk);
		difftrace__span_batch__free_unpacked(ref, NULL);
		dft_batch_free(dec);
	}
	assert_true(both > 1000);
	assert_true(stricter < both / 10);
}

static void test_decode_budget(void **state)
{
	/* a maximal frame of empty spans: 2 bytes each on the wire, a ~160-byte struct each decoded */
	size_t len = DFT_FRAME_MAX_PAYLOAD, i;
	uint8_t *buf = malloc(len);
	struct dft_decoded *dec = NULL;
	const char *reason = NULL;

	(void)state;
	assert_non_null(buf);
	for (i = 0; i + 1 < len; i += 2) {
		buf[i] = (3 << 3) | 2; /* field 3 (spans), length-delimited */
		buf[i + 1] = 0;
	}
	assert_true(len / 2 * sizeof(Difftrace__Span) > DFT_DECODE_MAX_BYTES);
	assert_int_equal(dft_batch_decode(buf, len, &dec, &reason), -EBADMSG);
	assert_null(dec);
	assert_non_null(reason);
	free(buf);
}

static size_t pack(struct fixture *f, uint8_t **out)
{
	size_t len = difftrace__span_batch__get_packed_size(&f->b);

	*out = malloc(len ? len : 1);
	assert_non_null(*out);
	difftrace__span_batch__pack(&f->b, *out);
	return len;
}

static int64_t count_spans(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	int64_t n;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM spans WHERE reconstructed = 0", -1, &q, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	n = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
	return n;
}

/*
 * dft_collector_ingest is the one path TCP BATCH frames and RDMA slots both take (RDMA passes the
 * slot header's sequence as expect_seq and the connect's sender): checked against the sender and
 * the transport's sequence, deduplicated, durable after the round's commit.
 */
static void test_ingest_path(void **state)
{
	char path[] = "/tmp/dft-test-ingest-XXXXXX", side[80];
	struct dft_collector_cfg cfg = {.listen_host = "127.0.0.1", .db_path = path, .insecure = true};
	struct dft_collector_stats st;
	struct dft_collector *c;
	struct fixture f;
	uint8_t *buf;
	uint64_t seq = 0;
	bool dup = true;
	size_t len;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(dft_collector_create(&cfg, &c), 0);
	fixture_init(&f);
	len = pack(&f, &buf);

	/* RDMA style: the slot said sequence 5, the header agrees */
	assert_int_equal(dft_collector_ingest(c, SENDER, 5, buf, len, &seq, &dup), 0);
	assert_int_equal(seq, 5);
	assert_false(dup);
	/* not durable before the round commits */
	assert_int_equal(count_spans(path), 0);
	/* the same batch again in the same round: a duplicate, acknowledged but not stored twice */
	assert_int_equal(dft_collector_ingest(c, SENDER, 0, buf, len, &seq, &dup), 0);
	assert_true(dup);
	assert_int_equal(dft_collector_end_round(c), 0);
	assert_int_equal(count_spans(path), NSPANS);

	/* the slot header and the batch header disagree: a bad batch, nothing stored */
	f.h.sequence = 6;
	free(buf);
	len = pack(&f, &buf);
	assert_int_equal(dft_collector_ingest(c, SENDER, 7, buf, len, &seq, &dup), -EBADMSG);
	/* another sender than the transport authenticated */
	assert_int_equal(dft_collector_ingest(c, SENDER + 1, 6, buf, len, &seq, &dup), -EBADMSG);
	/* garbage */
	assert_int_equal(dft_collector_ingest(c, SENDER, 0, (const uint8_t *)"\xff\xff\xff", 3, &seq, &dup), -EBADMSG);
	assert_int_equal(dft_collector_end_round(c), 0);
	dft_collector_get_stats(c, &st);
	assert_int_equal(st.frames_bad, 3);
	assert_int_equal(st.batches_accepted, 1);
	assert_int_equal(st.batches_duplicate, 1);
	assert_int_equal(count_spans(path), NSPANS);
	/* and the good one with the right sequence goes through */
	assert_int_equal(dft_collector_ingest(c, SENDER, 6, buf, len, &seq, &dup), 0);
	assert_false(dup);
	assert_int_equal(dft_collector_end_round(c), 0);
	assert_int_equal(count_spans(path), 2 * NSPANS);
	free(buf);
	dft_collector_destroy(c);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	unlink(path);
}

/* One batch of f under (epoch, seq) with the given claims; returns what ingest returned. */
static int ingest_as(struct dft_collector *c, struct fixture *f, uint64_t epoch, uint64_t seq, uint64_t produced,
                     uint64_t filtered, bool *dup)
{
	uint8_t *buf;
	uint64_t got = 0;
	size_t len;
	int rc;

	f->h.epoch = epoch;
	f->h.sequence = seq;
	f->c.produced = produced;
	f->c.filtered = filtered;
	len = pack(f, &buf);
	rc = dft_collector_ingest(c, SENDER, 0, buf, len, &got, dup);
	free(buf);
	return rc;
}

/* (closed, lost_unacked, produced, spans_stored, max_seq) of one epochs row; closed -1: no row */
static void epoch_row(const char *path, uint64_t epoch, int64_t out[5])
{
	sqlite3 *db;
	sqlite3_stmt *q;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT closed, lost_unacked, produced, spans_stored, max_seq FROM epochs"
	                                        " WHERE sender_id = ?1 AND epoch = ?2", -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_int64(q, 1, (sqlite3_int64)SENDER);
	sqlite3_bind_int64(q, 2, (sqlite3_int64)epoch);
	out[0] = -1;
	if (sqlite3_step(q) == SQLITE_ROW)
		for (int i = 0; i < 5; i++)
			out[i] = sqlite3_column_int64(q, i);
	sqlite3_finalize(q);
	sqlite3_close(db);
}

/*
 * Accounts per (sender, NIC epoch): a restarted NIC numbers from 1 again under a new epoch and is
 * not taken for resends; the old epoch's account closes with what its last claims call produced
 * and the collector never stored as lost_unacked; a closed epoch's late batch is refused; the
 * epoch survives a collector restart; a round that fails (injected full disk) undoes a new epoch
 * whole, and its BUSY/health state shows in the stats.
 */
static void test_epochs(void **state)
{
	const uint64_t E1 = 0x1111111111111111ULL, E2 = 0x2222222222222222ULL, E3 = 0x3333333333333333ULL;
	char path[] = "/tmp/dft-test-epochs-XXXXXX", flag[96], side[96];
	struct dft_collector_cfg cfg = {.listen_host = "127.0.0.1", .db_path = path, .insecure = true};
	struct dft_collector_stats st;
	struct dft_collector *c;
	struct fixture f;
	int64_t row[5];
	bool dup = true;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	snprintf(flag, sizeof(flag), "%s-full", path);
	assert_int_equal(dft_collector_create(&cfg, &c), 0);
	fixture_init(&f);
	/* epoch 1: two batches, the newest claims 100 produced, 10 filtered */
	assert_int_equal(ingest_as(c, &f, E1, 1, 50, 0, &dup), 0);
	assert_int_equal(ingest_as(c, &f, E1, 2, 100, 10, &dup), 0);
	assert_int_equal(dft_collector_end_round(c), 0);
	/* the NIC restarts: sequence 1 again, a new batch, not a resend */
	assert_int_equal(ingest_as(c, &f, E2, 1, 40, 0, &dup), 0);
	assert_false(dup);
	assert_int_equal(dft_collector_end_round(c), 0);
	epoch_row(path, E1, row);
	assert_int_equal(row[0], 1);
	assert_int_equal(row[3], 2 * NSPANS);
	assert_int_equal(row[1], 100 - 2 * NSPANS - 10);
	assert_int_equal(row[2], 100);
	epoch_row(path, E2, row);
	assert_int_equal(row[0], 0);
	assert_int_equal(row[3], NSPANS);
	/* a late batch of the dead instance: refused, nothing reopened */
	assert_int_equal(ingest_as(c, &f, E1, 3, 120, 10, &dup), -EBADMSG);
	assert_int_equal(dft_collector_end_round(c), 0);
	dft_collector_get_stats(c, &st);
	assert_int_equal(st.epochs_closed, 1);
	assert_int_equal(st.batches_stale_epoch, 1);
	assert_string_equal(st.degraded ? "degraded" : "ok", "ok");
	dft_collector_destroy(c);

	/* the collector restarts: epoch 2 is current, its sequence 1 a resend */
	assert_int_equal(dft_collector_create(&cfg, &c), 0);
	assert_int_equal(ingest_as(c, &f, E2, 1, 40, 0, &dup), 0);
	assert_true(dup);
	assert_int_equal(ingest_as(c, &f, E2, 2, 80, 0, &dup), 0);
	assert_false(dup);
	assert_int_equal(dft_collector_end_round(c), 0);

	/* a full disk while epoch 3 begins: the round fails whole, epoch 2 stays open */
	assert_int_equal(setenv("DFT_FAULT_STORE_FULL", flag, 1), 0);
	fd = open(flag, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(ingest_as(c, &f, E3, 1, 10, 0, &dup), 0);
	assert_int_equal(dft_collector_end_round(c), -EIO);
	dft_collector_get_stats(c, &st);
	assert_true(st.degraded);
	assert_int_equal(st.storage_failures, 1);
	epoch_row(path, E2, row);
	assert_int_equal(row[0], 0);
	epoch_row(path, E3, row);
	assert_int_equal(row[0], -1);
	/* space returns: the resend goes through as new, epoch 2 closes exactly once */
	unlink(flag);
	assert_int_equal(ingest_as(c, &f, E3, 1, 10, 0, &dup), 0);
	assert_false(dup);
	assert_int_equal(dft_collector_end_round(c), 0);
	dft_collector_get_stats(c, &st);
	assert_false(st.degraded);
	assert_int_equal(st.epochs_closed, 1);
	epoch_row(path, E2, row);
	assert_int_equal(row[0], 1);
	assert_int_equal(row[3], 2 * NSPANS);
	assert_int_equal(row[1], 80 - 2 * NSPANS);
	epoch_row(path, E3, row);
	assert_int_equal(row[0], 0);
	unsetenv("DFT_FAULT_STORE_FULL");
	dft_collector_destroy(c);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_epochs),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_status_message),
	    cmocka_unit_test(test_garbage_never_crashes),
	    cmocka_unit_test(test_decoder_matches_protobuf_c),
	    cmocka_unit_test(test_decode_budget),
	    cmocka_unit_test(test_ingest_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
