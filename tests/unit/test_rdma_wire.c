/* SPDX-License-Identifier: MIT */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dft/rdma.h"

static void test_hello_round_trip_and_rejects(void **state)
{
	struct dft_rdma_hello h = {.sender_id = 0x0123456789abcdefull, .credit_addr = 0x7f0000001000ull,
				   .credit_rkey = 0xdeadbeef}, out;
	uint8_t b[sizeof(h)], padded[56];

	(void)state;
	dft_rdma_hello_encode(&h, b);
	assert_int_equal(b[0], 0x44); /* little-endian magic on the wire */
	assert_int_equal(dft_rdma_hello_decode(b, sizeof(b), &out), 0);
	assert_int_equal(out.sender_id, h.sender_id);
	assert_int_equal(out.credit_addr, h.credit_addr);
	assert_int_equal(out.credit_rkey, h.credit_rkey);
	memset(padded, 0, sizeof(padded));
	memcpy(padded, b, sizeof(b));
	assert_int_equal(dft_rdma_hello_decode(padded, sizeof(padded), &out), 0); /* transport padding */
	assert_int_equal(dft_rdma_hello_decode(b, sizeof(b) - 1, &out), -EBADMSG);
	assert_int_equal(dft_rdma_hello_decode(NULL, 0, &out), -EBADMSG);
	b[0] ^= 1;
	assert_int_equal(dft_rdma_hello_decode(b, sizeof(b), &out), -EPROTO);
	b[0] ^= 1;
	b[6] = 0x80; /* an unknown flag */
	assert_int_equal(dft_rdma_hello_decode(b, sizeof(b), &out), -EBADMSG);
}

static void test_welcome_limits(void **state)
{
	struct dft_rdma_welcome w = {.ring_addr = 1, .ring_rkey = 2, .slots = 16, .slot_size = 65536, .resume_seq = 99},
				out;
	uint8_t b[sizeof(w)];

	(void)state;
	dft_rdma_welcome_encode(&w, b);
	assert_int_equal(dft_rdma_welcome_decode(b, sizeof(b), &out), 0);
	assert_int_equal(out.slots, 16);
	assert_int_equal(out.slot_size, 65536);
	assert_int_equal(out.resume_seq, 99);
	w.slots = 0;
	dft_rdma_welcome_encode(&w, b);
	assert_int_equal(dft_rdma_welcome_decode(b, sizeof(b), &out), -EBADMSG);
	w.slots = DFT_RDMA_SLOTS_MAX + 1;
	dft_rdma_welcome_encode(&w, b);
	assert_int_equal(dft_rdma_welcome_decode(b, sizeof(b), &out), -EBADMSG);
	w.slots = 16;
	w.slot_size = 100; /* below the minimum */
	dft_rdma_welcome_encode(&w, b);
	assert_int_equal(dft_rdma_welcome_decode(b, sizeof(b), &out), -EBADMSG);
	w.slot_size = 65537; /* not 8-byte aligned */
	dft_rdma_welcome_encode(&w, b);
	assert_int_equal(dft_rdma_welcome_decode(b, sizeof(b), &out), -EBADMSG);
}

static void put_slot(uint8_t *ring, uint32_t slot_size, uint32_t slot, uint64_t seq, uint32_t len)
{
	struct dft_rdma_slot_hdr h = {.magic = htole32(DFT_RDMA_MAGIC), .len = htole32(len), .seq = htole64(seq)};

	memcpy(ring + (size_t)slot * slot_size, &h, sizeof(h));
}

static void test_slot_check(void **state)
{
	enum { SLOTS = 4, SZ = 256 };
	static uint8_t ring[SLOTS * SZ];
	const uint8_t *p;
	uint32_t idx, len;
	uint64_t seq;

	(void)state;
	put_slot(ring, SZ, 2, 0x10007, 40);
	assert_int_equal(dft_rdma_slot_check(dft_rdma_imm(2, 0x10007), 56, ring, SLOTS, SZ, &idx, &seq, &p, &len), 0);
	assert_int_equal(idx, 2);
	assert_int_equal(seq, 0x10007);
	assert_int_equal(len, 40);
	assert_ptr_equal(p, ring + 2 * SZ + 16);
	/* immediate names another slot / another sequence */
	assert_int_equal(dft_rdma_slot_check(dft_rdma_imm(1, 0x10007), 56, ring, SLOTS, SZ, &idx, &seq, &p, &len), -EPROTO);
	assert_int_equal(dft_rdma_slot_check(dft_rdma_imm(2, 0x10008), 56, ring, SLOTS, SZ, &idx, &seq, &p, &len), -EPROTO);
	/* slot index beyond the ring, completion length disagreeing with the header, or beyond the slot */
	assert_int_equal(dft_rdma_slot_check(dft_rdma_imm(SLOTS, 7), 56, ring, SLOTS, SZ, &idx, &seq, &p, &len), -EPROTO);
	assert_int_equal(dft_rdma_slot_check(dft_rdma_imm(2, 0x10007), 57, ring, SLOTS, SZ, &idx, &seq, &p, &len), -EPROTO);
	put_slot(ring, SZ, 3, 5, SZ);
	assert_int_equal(dft_rdma_slot_check(dft_rdma_imm(3, 5), SZ + 16, ring, SLOTS, SZ, &idx, &seq, &p, &len), -EPROTO);
	/* sequence 0 is never a batch */
	put_slot(ring, SZ, 0, 0, 1);
	assert_int_equal(dft_rdma_slot_check(dft_rdma_imm(0, 0), 17, ring, SLOTS, SZ, &idx, &seq, &p, &len), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hello_round_trip_and_rejects),
		cmocka_unit_test(test_welcome_limits),
		cmocka_unit_test(test_slot_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
