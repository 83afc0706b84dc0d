/* SPDX-License-Identifier: MIT */
/* Framing: header and ACK codecs, the incremental reader fed at every split point, bad headers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dft/frame.h"

static void test_hdr_roundtrip(void **state)
{
	uint8_t b[DFT_FRAME_HDR_LEN];
	struct dft_frame_hdr h;

	(void)state;
	dft_frame_hdr_encode(b, DFT_FRAME_BATCH, 123456);
	/* network byte order on the wire */
	assert_int_equal(b[0], 0x44);
	assert_int_equal(b[3], 0x46);
	assert_int_equal(b[7], DFT_FRAME_BATCH);
	assert_int_equal(b[9], 0x01);
	assert_int_equal(b[10], 0xe2);
	assert_int_equal(b[11], 0x40);
	assert_int_equal(dft_frame_hdr_decode(b, DFT_FRAME_MAX_PAYLOAD, &h), 0);
	assert_int_equal(h.type, DFT_FRAME_BATCH);
	assert_int_equal(h.len, 123456);
	dft_frame_hdr_encode(b, DFT_FRAME_HELLO, DFT_FRAME_ACK_LEN);
	assert_int_equal(dft_frame_hdr_decode(b, 64, &h), 0);
	assert_int_equal(h.type, DFT_FRAME_HELLO);
}

static void test_hdr_bad(void **state)
{
	uint8_t good[DFT_FRAME_HDR_LEN], b[DFT_FRAME_HDR_LEN];
	struct dft_frame_hdr h;

	(void)state;
	dft_frame_hdr_encode(good, DFT_FRAME_BATCH, 100);
	memcpy(b, good, sizeof(b));
	b[0] ^= 1; /* magic */
	assert_int_equal(dft_frame_hdr_decode(b, 1000, &h), -EBADMSG);
	memcpy(b, good, sizeof(b));
	b[5] = 2; /* version */
	assert_int_equal(dft_frame_hdr_decode(b, 1000, &h), -EBADMSG);
	memcpy(b, good, sizeof(b));
	b[7] = 0; /* type 0 */
	assert_int_equal(dft_frame_hdr_decode(b, 1000, &h), -EBADMSG);
	b[7] = 5; /* type past BUSY */
	assert_int_equal(dft_frame_hdr_decode(b, 1000, &h), -EBADMSG);
	memcpy(b, good, sizeof(b));
	b[15] = 1; /* reserved */
	assert_int_equal(dft_frame_hdr_decode(b, 1000, &h), -EBADMSG);
	/* ACK with a wrong length */
	dft_frame_hdr_encode(b, DFT_FRAME_ACK, 15);
	assert_int_equal(dft_frame_hdr_decode(b, 1000, &h), -EBADMSG);
	/* oversize */
	assert_int_equal(dft_frame_hdr_decode(good, 99, &h), -EMSGSIZE);
	assert_int_equal(dft_frame_hdr_decode(good, 100, &h), 0);
}

static void test_ack_codec(void **state)
{
	uint8_t p[DFT_FRAME_ACK_LEN];
	uint64_t sender, seq;

	(void)state;
	dft_frame_ack_encode(p, 0x0102030405060708ull, 0xfffffffffffffffeull);
	assert_int_equal(p[0], 1);
	assert_int_equal(p[7], 8);
	assert_int_equal(p[15], 0xfe);
	assert_int_equal(dft_frame_ack_decode(p, sizeof(p), &sender, &seq), 0);
	assert_int_equal(sender, 0x0102030405060708ull);
	assert_int_equal(seq, 0xfffffffffffffffeull);
	assert_int_equal(dft_frame_ack_decode(p, sizeof(p) - 1, &sender, &seq), -EBADMSG);
}

struct seen {
	unsigned n;
	uint16_t type[8];
	uint32_t len[8];
	uint8_t first[8];
	uint64_t sum[8];
};

static int collect(void *arg, uint16_t type, const uint8_t *p, uint32_t len)
{
	struct seen *s = arg;
	uint64_t sum = 0;

	assert_true(s->n < 8);
	for (uint32_t i = 0; i < len; i++)
		sum = sum * 31 + p[i];
	s->type[s->n] = type;
	s->len[s->n] = len;
	s->first[s->n] = len ? p[0] : 0;
	s->sum[s->n] = sum;
	s->n++;
	return 0;
}

/* HELLO, a 100 000-byte BATCH (bigger than the reader's initial buffer), an empty BATCH, an ACK. */
static size_t build_stream(uint8_t **out, uint64_t *batch_sum)
{
	size_t big = 100000, n = 0, cap = 4 * DFT_FRAME_HDR_LEN + 2 * DFT_FRAME_ACK_LEN + big;
	uint8_t *b = malloc(cap);
	uint64_t sum = 0;

	dft_frame_hdr_encode(b + n, DFT_FRAME_HELLO, DFT_FRAME_ACK_LEN);
	n += DFT_FRAME_HDR_LEN;
	dft_frame_ack_encode(b + n, 42, 0);
	n += DFT_FRAME_ACK_LEN;
	dft_frame_hdr_encode(b + n, DFT_FRAME_BATCH, (uint32_t)big);
	n += DFT_FRAME_HDR_LEN;
	for (size_t i = 0; i < big; i++) {
		b[n + i] = (uint8_t)(i * 7 + 3);
		sum = sum * 31 + b[n + i];
	}
	n += big;
	dft_frame_hdr_encode(b + n, DFT_FRAME_BATCH, 0);
	n += DFT_FRAME_HDR_LEN;
	dft_frame_hdr_encode(b + n, DFT_FRAME_ACK, DFT_FRAME_ACK_LEN);
	n += DFT_FRAME_HDR_LEN;
	dft_frame_ack_encode(b + n, 42, 9);
	n += DFT_FRAME_ACK_LEN;
	*out = b;
	*batch_sum = sum;
	return n;
}

static void check_seen(const struct seen *s, uint64_t batch_sum)
{
	assert_int_equal(s->n, 4);
	assert_int_equal(s->type[0], DFT_FRAME_HELLO);
	assert_int_equal(s->len[0], DFT_FRAME_ACK_LEN);
	assert_int_equal(s->type[1], DFT_FRAME_BATCH);
	assert_int_equal(s->len[1], 100000);
	assert_int_equal(s->first[1], 3);
	assert_int_equal(s->sum[1], batch_sum);
	assert_int_equal(s->type[2], DFT_FRAME_BATCH);
	assert_int_equal(s->len[2], 0);
	assert_int_equal(s->type[3], DFT_FRAME_ACK);
}

static void test_rx_every_split(void **state)
{
	uint8_t *stream;
	uint64_t sum;
	size_t n = build_stream(&stream, &sum);

	(void)state;
	/* every split point inside the small frames and around the big frame's edges, plus a stride */
	for (size_t cut = 0; cut <= n; cut += (cut < 200 || cut > n - 200) ? 1 : 997) {
		struct dft_frame_rx rx;
		struct seen s = {0};

		assert_int_equal(dft_frame_rx_init(&rx, 1u << 20), 0);
		assert_int_equal(dft_frame_rx_feed(&rx, stream, cut, collect, &s), 0);
		assert_int_equal(dft_frame_rx_feed(&rx, stream + cut, n - cut, collect, &s), 0);
		check_seen(&s, sum);
		assert_int_equal(rx.have, 0);
		dft_frame_rx_destroy(&rx);
	}
	/* one byte at a time */
	{
		struct dft_frame_rx rx;
		struct seen s = {0};

		assert_int_equal(dft_frame_rx_init(&rx, 1u << 20), 0);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(dft_frame_rx_feed(&rx, stream + i, 1, collect, &s), 0);
		check_seen(&s, sum);
		dft_frame_rx_destroy(&rx);
	}
	free(stream);
}

static void test_rx_bad(void **state)
{
	struct dft_frame_rx rx;
	struct seen s = {0};
	uint8_t b[DFT_FRAME_HDR_LEN + 8];

	(void)state;
	assert_int_equal(dft_frame_rx_init(&rx, 0), -EINVAL);
	assert_int_equal(dft_frame_rx_init(&rx, 1000), 0);
	dft_frame_hdr_encode(b, DFT_FRAME_BATCH, 1001);
	assert_int_equal(dft_frame_rx_feed(&rx, b, DFT_FRAME_HDR_LEN, collect, &s), -EMSGSIZE);
	dft_frame_rx_reset(&rx);
	dft_frame_hdr_encode(b, DFT_FRAME_BATCH, 8);
	b[2] ^= 0xff;
	/* the bad header is noticed once complete, even split */
	assert_int_equal(dft_frame_rx_feed(&rx, b, 5, collect, &s), 0);
	assert_int_equal(dft_frame_rx_feed(&rx, b + 5, sizeof(b) - 5, collect, &s), -EBADMSG);
	assert_int_equal(s.n, 0);
	dft_frame_rx_destroy(&rx);
}

static int stop_cb(void *arg, uint16_t type, const uint8_t *p, uint32_t len)
{
	(void)type;
	(void)p;
	(void)len;
	++*(unsigned *)arg;
	return -EPIPE;
}

static void test_rx_callback_stops(void **state)
{
	struct dft_frame_rx rx;
	uint8_t b[2 * DFT_FRAME_HDR_LEN];
	unsigned calls = 0;

	(void)state;
	assert_int_equal(dft_frame_rx_init(&rx, 1000), 0);
	dft_frame_hdr_encode(b, DFT_FRAME_BATCH, 0);
	dft_frame_hdr_encode(b + DFT_FRAME_HDR_LEN, DFT_FRAME_BATCH, 0);
	assert_int_equal(dft_frame_rx_feed(&rx, b, sizeof(b), stop_cb, &calls), -EPIPE);
	assert_int_equal(calls, 1);
	dft_frame_rx_destroy(&rx);
}

static int count_cb(void *arg, uint16_t type, const uint8_t *p, uint32_t len)
{
	(void)type;
	(void)p;
	(void)len;
	(*(unsigned *)arg)++;
	return 0;
}

/* Two readers share one budget: the second large frame in progress is refused while the first
 * holds the budget, and the first gives it back once its frame is delivered. */
static void test_rx_budget(void **state)
{
	struct dft_frame_budget budget = {.max = 200000}; /* one 200 000-byte frame, not two */
	struct dft_frame_rx a, b;
	const uint32_t big = 200000;
	uint8_t hdr[DFT_FRAME_HDR_LEN];
	uint8_t *body = calloc(1, big);
	unsigned calls = 0;

	(void)state;
	assert_non_null(body);
	assert_int_equal(dft_frame_rx_init_budget(&a, DFT_FRAME_MAX_PAYLOAD, &budget), 0);
	assert_int_equal(dft_frame_rx_init_budget(&b, DFT_FRAME_MAX_PAYLOAD, &budget), 0);
	dft_frame_hdr_encode(hdr, DFT_FRAME_BATCH, big);
	/* a: header and half the body: its buffer grows to the frame, charged */
	assert_int_equal(dft_frame_rx_feed(&a, hdr, sizeof(hdr), count_cb, &calls), 0);
	assert_int_equal(dft_frame_rx_feed(&a, body, big / 2, count_cb, &calls), 0);
	assert_true(budget.used > 0 && budget.used <= budget.max);
	/* b: the same announcement no longer fits */
	assert_int_equal(dft_frame_rx_feed(&b, hdr, sizeof(hdr), count_cb, &calls), -ENOBUFS);
	assert_int_equal(budget.refused, 1);
	/* a completes: delivered once, budget back to 0 */
	assert_int_equal(dft_frame_rx_feed(&a, body + big / 2, big - big / 2, count_cb, &calls), 0);
	assert_int_equal(calls, 1);
	assert_int_equal(budget.used, 0);
	/* now b fits; destroying it mid-frame returns its share */
	dft_frame_rx_reset(&b);
	assert_int_equal(dft_frame_rx_feed(&b, hdr, sizeof(hdr), count_cb, &calls), 0);
	assert_int_equal(dft_frame_rx_feed(&b, body, 10, count_cb, &calls), 0);
	assert_true(budget.used > 0);
	dft_frame_rx_destroy(&b);
	assert_int_equal(budget.used, 0);
	dft_frame_rx_destroy(&a);
	free(body);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rx_budget),
		cmocka_unit_test(test_hdr_roundtrip),  cmocka_unit_test(test_hdr_bad),
		cmocka_unit_test(test_ack_codec),      cmocka_unit_test(test_rx_every_split),
		cmocka_unit_test(test_rx_bad),         cmocka_unit_test(test_rx_callback_stops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
