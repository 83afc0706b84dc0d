/* SPDX-License-Identifier: MIT */
/* Per-sender dedup: window semantics, rollback, and persistence through the SQLite store. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "collector.h"
#include "dedup.h"
#include "dft/frame.h"
#include "store_sqlite.h"

static void test_in_order(void **state)
{
	struct dft_dedup d;
	struct dft_sender *s;
	uint64_t seq;

	(void)state;
	assert_int_equal(dft_dedup_init(&d, 4), 0);
	s = dft_dedup_get(&d, 42, true);
	assert_non_null(s);
	assert_false(dft_dedup_accept(s, 0)); /* sequences start at 1 */
	for (seq = 1; seq <= 200; seq++) {
		assert_true(dft_dedup_accept(s, seq));
		assert_false(dft_dedup_accept(s, seq));
	}
	assert_int_equal(s->max_seq, 200);
	assert_ptr_equal(dft_dedup_get(&d, 42, false), s);
	assert_null(dft_dedup_get(&d, 43, false));
	dft_dedup_destroy(&d);
}

static void test_resend_after_reconnect(void **state)
{
	struct dft_dedup d;
	struct dft_sender *s;
	uint64_t seq;

	(void)state;
	assert_int_equal(dft_dedup_init(&d, 4), 0);
	s = dft_dedup_get(&d, 7, true);
	for (seq = 1; seq <= 10; seq++)
		assert_true(dft_dedup_accept(s, seq));
	dft_dedup_commit(&d);
	assert_int_equal(s->durable_seq, 10);
	/* the sender missed ACKs 6..10 and resends them, then continues */
	for (seq = 6; seq <= 10; seq++)
		assert_false(dft_dedup_accept(s, seq));
	for (seq = 11; seq <= 12; seq++)
		assert_true(dft_dedup_accept(s, seq));
	/* a second connection of the same sender resends inside the open round */
	assert_false(dft_dedup_accept(s, 11));
	dft_dedup_destroy(&d);
}

static void test_window(void **state)
{
	struct dft_dedup d;
	struct dft_sender *s;

	(void)state;
	assert_int_equal(dft_dedup_init(&d, 4), 0);
	s = dft_dedup_get(&d, 1, true);
	assert_true(dft_dedup_accept(s, 100)); /* a gap below 100 */
	assert_true(dft_dedup_accept(s, 99));  /* in the window, not seen: accepted */
	assert_false(dft_dedup_accept(s, 99));
	assert_true(dft_dedup_accept(s, 36));  /* max - 1 - 63: the window's last bit */
	assert_false(dft_dedup_accept(s, 35)); /* older than the window */
	assert_true(dft_dedup_accept(s, 164)); /* shift by 64: 100 moves to the top bit */
	assert_false(dft_dedup_accept(s, 100));
	assert_false(dft_dedup_accept(s, 99)); /* fell out of the window */
	assert_true(dft_dedup_accept(s, 163));
	assert_true(dft_dedup_accept(s, 1000)); /* jump past the window entirely */
	assert_false(dft_dedup_accept(s, 164));
	assert_true(dft_dedup_accept(s, 999));
	dft_dedup_destroy(&d);
}

static void test_rollback_and_limit(void **state)
{
	struct dft_dedup d;
	struct dft_sender *s;

	(void)state;
	assert_int_equal(dft_dedup_init(&d, 2), 0);
	s = dft_dedup_get(&d, 5, true);
	assert_true(dft_dedup_accept(s, 1));
	s->pending_spans = 3;
	dft_dedup_commit(&d);
	assert_int_equal(s->spans_stored, 3);
	assert_true(dft_dedup_accept(s, 2));
	s->pending_spans = 9;
	dft_dedup_rollback(&d);
	/* the failed round is forgotten: 2 is new again, 1 stays seen */
	assert_int_equal(s->spans_stored, 3);
	assert_int_equal(s->pending_spans, 0);
	assert_true(dft_dedup_accept(s, 2));
	assert_false(dft_dedup_accept(s, 1));
	s = dft_dedup_get(&d, 6, true);
	assert_non_null(s);
	assert_true(dft_dedup_accept(s, 1));
	assert_null(dft_dedup_get(&d, 7, true)); /* table full, every entry uncommitted */
	assert_int_equal(d.refused, 1);
	/* committed: the least recently used sender without connections makes room */
	dft_dedup_commit(&d);
	dft_dedup_get(&d, 5, false)->last_ms = 10;
	dft_dedup_get(&d, 6, false)->last_ms = 20;
	dft_dedup_get(&d, 6, false)->conns = 1;
	s = dft_dedup_get(&d, 7, true);
	assert_non_null(s);
	assert_int_equal(d.evicted, 1);
	assert_null(dft_dedup_get(&d, 5, false));
	assert_non_null(dft_dedup_get(&d, 6, false));
	assert_non_null(dft_dedup_get(&d, 7, false));
	dft_dedup_destroy(&d);
}

static void test_persistence(void **state)
{
	char path[] = "/tmp/dft-test-dedup-XXXXXX";
	char wal[64], shm[64];
	struct dft_store *st;
	struct dft_dedup d;
	struct dft_sender *s;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(dft_store_open(path, &st), 0);
	assert_int_equal(dft_dedup_init(&d, 8), 0);
	s = dft_dedup_get(&d, 0xfedcba9876543210ULL, true); /* top bit set: stored as a negative INTEGER */
	assert_true(dft_dedup_accept(s, 1));
	assert_true(dft_dedup_accept(s, 2));
	s->pending_spans = 17;
	s->counters.produced = 40;
	s->counters.lost_no_ring = 3;
	assert_int_equal(dft_store_put_sender(st, s), 0);
	assert_int_equal(dft_store_commit(st), 0);
	dft_dedup_commit(&d);
	dft_dedup_destroy(&d);
	dft_store_close(st);

	/* a restarted collector */
	assert_int_equal(dft_store_open(path, &st), 0);
	assert_int_equal(dft_dedup_init(&d, 8), 0);
	assert_int_equal(dft_store_load_senders(st, &d), 0);
	s = dft_dedup_get(&d, 0xfedcba9876543210ULL, false);
	assert_non_null(s);
	assert_int_equal(s->durable_seq, 2);
	assert_int_equal(s->spans_stored, 17);
	assert_int_equal(s->counters.produced, 40);
	assert_int_equal(s->counters.lost_no_ring, 3);
	assert_false(dft_dedup_accept(s, 1));
	assert_false(dft_dedup_accept(s, 2));
	assert_true(dft_dedup_accept(s, 3));
	dft_dedup_destroy(&d);
	dft_store_close(st);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	snprintf(shm, sizeof(shm), "%s-shm", path);
	unlink(wal);
	unlink(shm);
	unlink(path);
}

/* ---- the same semantics through the real collector loop, across a reconnect and a restart */

struct running {
	struct dft_collector *c;
	pthread_t thread;
	int stop[2];
	int rc;
};

static void *run_thread(void *arg)
{
	struct running *r = arg;

	r->rc = dft_collector_run(r->c, r->stop[0]);
	return NULL;
}

static void start(struct running *r, const char *db)
{
	struct dft_collector_cfg cfg = {.listen_host = "127.0.0.1", .listen_port = 0, .db_path = db, .insecure = true};

	assert_int_equal(dft_collector_create(&cfg, &r->c), 0);
	assert_int_equal(pipe(r->stop), 0);
	assert_int_equal(pthread_create(&r->thread, NULL, run_thread, r), 0);
}

static void stop(struct running *r)
{
	assert_int_equal(write(r->stop[1], "x", 1), 1);
	pthread_join(r->thread, NULL);
	assert_int_equal(r->rc, 0);
	dft_collector_destroy(r->c);
	close(r->stop[0]);
	close(r->stop[1]);
}

static void xwrite(int fd, const void *p, size_t n)
{
	assert_int_equal(write(fd, p, n), (ssize_t)n);
}

static void xread(int fd, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);

		assert_true(r > 0);
		p += r;
		n -= (size_t)r;
	}
}

static int dial(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

/* Waits for one ACK frame and returns its sequence. */
static uint64_t read_ack(int fd, uint64_t sender)
{
	uint8_t b[DFT_FRAME_HDR_LEN + DFT_FRAME_ACK_LEN];
	struct dft_frame_hdr h;
	uint64_t s, seq;

	xread(fd, b, sizeof(b));
	assert_int_equal(dft_frame_hdr_decode(b, DFT_FRAME_ACK_LEN, &h), 0);
	assert_int_equal(h.type, DFT_FRAME_ACK);
	assert_int_equal(dft_frame_ack_decode(b + DFT_FRAME_HDR_LEN, h.len, &s, &seq), 0);
	assert_true(s == sender);
	return seq;
}

static uint64_t hello(int fd, uint64_t sender)
{
	uint8_t b[DFT_FRAME_HDR_LEN + DFT_FRAME_ACK_LEN];

	dft_frame_hdr_encode(b, DFT_FRAME_HELLO, DFT_FRAME_ACK_LEN);
	dft_frame_ack_encode(b + DFT_FRAME_HDR_LEN, sender, 0);
	xwrite(fd, b, sizeof(b));
	return read_ack(fd, sender);
}

/* One span per batch; span id = sequence so the store shows which batches landed. */
static void send_batch(int fd, uint64_t sender, uint64_t seq)
{
	static char comp[] = "fn", op[] = "op";
	char *strings[2] = {comp, op};
	Difftrace__SpanBatch b = DIFFTRACE__SPAN_BATCH__INIT;
	Difftrace__BatchHeader h = DIFFTRACE__BATCH_HEADER__INIT;
	Difftrace__Counters c = DIFFTRACE__COUNTERS__INIT;
	Difftrace__Span s = DIFFTRACE__SPAN__INIT, *sp = &s;
	uint8_t tid[16] = {1, 2, 3}, buf[512];
	size_t len;

	h.sender_id = sender;
	h.sequence = seq;
	c.batches = seq;
	h.counters = &c;
	s.trace_id.data = tid;
	s.trace_id.len = 16;
	s.span_id = seq;
	s.start_ns = 10;
	s.end_ns = 20;
	s.operation = 1;
	b.header = &h;
	b.n_strings = 2;
	b.strings = strings;
	b.n_spans = 1;
	b.spans = &sp;
	len = difftrace__span_batch__get_packed_size(&b);
	assert_true(len + DFT_FRAME_HDR_LEN <= sizeof(buf));
	dft_frame_hdr_encode(buf, DFT_FRAME_BATCH, (uint32_t)len);
	difftrace__span_batch__pack(&b, buf + DFT_FRAME_HDR_LEN);
	xwrite(fd, buf, DFT_FRAME_HDR_LEN + len);
}

static int64_t spans_in(const char *db)
{
	struct dft_store *st;
	struct dft_dedup d;
	struct dft_sender *s;
	int64_t n;

	assert_int_equal(dft_store_open(db, &st), 0);
	assert_int_equal(dft_dedup_init(&d, 8), 0);
	assert_int_equal(dft_store_load_senders(st, &d), 0);
	s = dft_dedup_get(&d, 0x8000000000000099ULL, false);
	n = s ? (int64_t)s->spans_stored : -1;
	dft_dedup_destroy(&d);
	dft_store_close(st);
	return n;
}

static void test_collector_resend(void **state)
{
	const uint64_t sender = 0x8000000000000099ULL;
	char path[] = "/tmp/dft-test-coll-XXXXXX";
	char side[80];
	struct running r;
	uint64_t seq;
	int fd, tmp;

	(void)state;
	tmp = mkstemp(path);
	assert_true(tmp >= 0);
	close(tmp);
	start(&r, path);
	fd = dial(dft_collector_port(r.c));
	assert_int_equal(hello(fd, sender), 0);
	for (seq = 1; seq <= 5; seq++)
		send_batch(fd, sender, seq);
	for (seq = 1; seq <= 5; seq++)
		assert_int_equal(read_ack(fd, sender), seq);
	close(fd);

	/* reconnect: the HELLO answer is the durable maximum; resent batches are ACKed, not stored */
	fd = dial(dft_collector_port(r.c));
	assert_int_equal(hello(fd, sender), 5);
	send_batch(fd, sender, 4);
	send_batch(fd, sender, 5);
	send_batch(fd, sender, 6);
	assert_int_equal(read_ack(fd, sender), 4);
	assert_int_equal(read_ack(fd, sender), 5);
	assert_int_equal(read_ack(fd, sender), 6);
	close(fd);
	stop(&r);
	assert_int_equal(spans_in(path), 6);

	/* restart on the same database: the senders table still drops what was stored */
	start(&r, path);
	fd = dial(dft_collector_port(r.c));
	assert_int_equal(hello(fd, sender), 6);
	send_batch(fd, sender, 6);
	send_batch(fd, sender, 7);
	assert_int_equal(read_ack(fd, sender), 6);
	assert_int_equal(read_ack(fd, sender), 7);
	/* a batch claiming another sender drops the connection: EOF, no ACK */
	send_batch(fd, sender + 1, 8);
	{
		uint8_t byte;

		assert_int_equal(read(fd, &byte, 1), 0);
	}
	close(fd);
	stop(&r);
	assert_int_equal(spans_in(path), 7);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_in_order),    cmocka_unit_test(test_resend_after_reconnect),
	    cmocka_unit_test(test_window),      cmocka_unit_test(test_rollback_and_limit),
	    cmocka_unit_test(test_persistence), cmocka_unit_test(test_collector_resend),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
