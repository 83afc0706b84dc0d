/* SPDX-License-Identifier: MIT */
/* The registration protocol's rdma-read messages (dft/reg.h): round trips and every reject. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dft/reg.h"

static void test_rdma_at_round_trip(void **state)
{
	struct dft_reg_rdma_at m, out;

	(void)state;
	assert_int_equal(dft_reg_rdma_at_make(&m, "192.0.2.1", 7471), 0);
	assert_int_equal(dft_reg_rdma_at_check(&m, sizeof(m), &out), 0);
	assert_string_equal(out.addr, "192.0.2.1");
	assert_int_equal(out.port, 7471);
	assert_int_equal(dft_reg_rdma_at_make(&m, "fe80::1234:5678:9abc:def0", 1), 0);
	assert_int_equal(dft_reg_rdma_at_check(&m, sizeof(m), &out), 0);
	assert_string_equal(out.addr, "fe80::1234:5678:9abc:def0");
}

static void test_rdma_at_make_rejects(void **state)
{
	struct dft_reg_rdma_at m;
	char longest[DFT_REG_ADDR_MAX + 1];

	(void)state;
	assert_int_equal(dft_reg_rdma_at_make(&m, "", 1), -EINVAL);
	assert_int_equal(dft_reg_rdma_at_make(&m, NULL, 1), -EINVAL);
	assert_int_equal(dft_reg_rdma_at_make(&m, "10.0.0.1", 0), -EINVAL);
	memset(longest, 'a', sizeof(longest));
	longest[DFT_REG_ADDR_MAX] = 0;
	assert_int_equal(dft_reg_rdma_at_make(&m, longest, 1), -EINVAL); /* no room for the NUL */
	longest[DFT_REG_ADDR_MAX - 1] = 0;
	assert_int_equal(dft_reg_rdma_at_make(&m, longest, 1), 0);
}

static void test_rdma_at_check_rejects(void **state)
{
	struct dft_reg_rdma_at good, m, out;

	(void)state;
	assert_int_equal(dft_reg_rdma_at_make(&good, "10.1.2.3", 9000), 0);
	assert_int_equal(dft_reg_rdma_at_check(&good, sizeof(good) - 1, &out), -EBADMSG);
	assert_int_equal(dft_reg_rdma_at_check(NULL, sizeof(good), &out), -EBADMSG);
#define BAD(mut)                                                                   \
	do {                                                                       \
		m = good;                                                          \
		mut;                                                               \
		assert_int_equal(dft_reg_rdma_at_check(&m, sizeof(m), &out), -EPROTO); \
	} while (0)
	BAD(m.magic ^= 1);
	BAD(m.type = DFT_REG_REGISTER);
	BAD(m.size = 48);
	BAD(m.reserved = 1);
	BAD(m.port = 0);
	BAD(m.addr[0] = 0);
	BAD(memset(m.addr, 'x', sizeof(m.addr)));  /* no NUL */
	BAD(m.addr[sizeof(m.addr) - 1] = 'x');      /* garbage after the NUL */
#undef BAD
	/* a longer read (the reply and this message arrive in one recv) is fine */
	{
		uint8_t buf[sizeof(good) + 16];

		memset(buf, 0xee, sizeof(buf));
		memcpy(buf, &good, sizeof(good));
		assert_int_equal(dft_reg_rdma_at_check(buf, sizeof(buf), &out), 0);
	}
}

static void test_hello_round_trip_and_rejects(void **state)
{
	struct dft_reg_rdma_hello h = {.instance_id = 0x1122334455667788ull, .addr = 0x7f1234560000ull,
				       .len = 8u << 20, .rkey = 0xabcdef01}, out;
	uint8_t b[sizeof(h)], padded[56];

	(void)state;
	dft_reg_rdma_hello_encode(&h, b);
	assert_int_equal(b[0], 0x44); /* little-endian "DFTX" */
	assert_int_equal(dft_reg_rdma_hello_decode(b, sizeof(b), &out), 0);
	assert_int_equal(out.instance_id, h.instance_id);
	assert_int_equal(out.addr, h.addr);
	assert_int_equal(out.len, h.len);
	assert_int_equal(out.rkey, h.rkey);
	memset(padded, 0, sizeof(padded));
	memcpy(padded, b, sizeof(b));
	assert_int_equal(dft_reg_rdma_hello_decode(padded, sizeof(padded), &out), 0); /* rdma_cm pads */
	assert_int_equal(dft_reg_rdma_hello_decode(b, sizeof(b) - 1, &out), -EBADMSG);
	assert_int_equal(dft_reg_rdma_hello_decode(NULL, 56, &out), -EBADMSG);
	b[0] ^= 1;
	assert_int_equal(dft_reg_rdma_hello_decode(b, sizeof(b), &out), -EPROTO);
	b[0] ^= 1;
	b[4] = 2; /* version */
	assert_int_equal(dft_reg_rdma_hello_decode(b, sizeof(b), &out), -EPROTO);
	b[4] = 1;
	b[6] = 2; /* flags: an unknown bit */
	assert_int_equal(dft_reg_rdma_hello_decode(b, sizeof(b), &out), -EPROTO);
	b[6] = 0;
	b[7] = 0x80;
	assert_int_equal(dft_reg_rdma_hello_decode(b, sizeof(b), &out), -EPROTO);
	b[7] = 0;
	b[36] = 1; /* reserved2 */
	assert_int_equal(dft_reg_rdma_hello_decode(b, sizeof(b), &out), -EPROTO);
	b[36] = 0;
	assert_int_equal(dft_reg_rdma_hello_decode(b, sizeof(b), &out), 0);
	assert_int_equal(out.flags, 0); /* an older host: Unix-socket registration */
	h.flags = DFT_REG_RDMA_F_REGISTER;
	dft_reg_rdma_hello_encode(&h, b);
	assert_int_equal(b[6], 1);
	assert_int_equal(dft_reg_rdma_hello_decode(b, sizeof(b), &out), 0);
	assert_int_equal(out.flags, DFT_REG_RDMA_F_REGISTER);
	h.instance_id = 0; /* no region has instance id 0 */
	dft_reg_rdma_hello_encode(&h, b);
	assert_int_equal(dft_reg_rdma_hello_decode(b, sizeof(b), &out), -EPROTO);
	h.instance_id = 5;
	h.len = 0;
	dft_reg_rdma_hello_encode(&h, b);
	assert_int_equal(dft_reg_rdma_hello_decode(b, sizeof(b), &out), -EPROTO);
}

static void test_bye(void **state)
{
	uint8_t b[sizeof(struct dft_reg_rdma_bye) + 1];

	(void)state;
	memset(b, 0, sizeof(b));
	dft_reg_rdma_bye_encode(b);
	assert_int_equal(b[0], 0x44); /* little-endian "DFTB" */
	assert_int_equal(b[3], 0x42);
	assert_int_equal(dft_reg_rdma_bye_check(b, 8), 0);
	assert_int_equal(dft_reg_rdma_bye_check(b, 7), -EBADMSG);
	assert_int_equal(dft_reg_rdma_bye_check(b, 9), -EBADMSG); /* a SEND of another length is no bye */
	assert_int_equal(dft_reg_rdma_bye_check(NULL, 8), -EBADMSG);
	b[4] = 1;
	assert_int_equal(dft_reg_rdma_bye_check(b, 8), -EPROTO);
	b[4] = 0;
	b[1] ^= 1;
	assert_int_equal(dft_reg_rdma_bye_check(b, 8), -EPROTO);
}

static void test_net_parse(void **state)
{
	char addr[DFT_REG_ADDR_MAX];
	uint16_t port = 0;

	(void)state;
	assert_int_equal(dft_reg_net_parse("10.77.0.1:7475", addr, &port), 0);
	assert_string_equal(addr, "10.77.0.1");
	assert_int_equal(port, 7475);
	assert_int_equal(dft_reg_net_parse("[fe80::1]:65535", addr, &port), 0);
	assert_string_equal(addr, "fe80::1");
	assert_int_equal(port, 65535);
	assert_int_equal(dft_reg_net_parse("10.77.0.1:0", addr, &port), -EINVAL);
	assert_int_equal(dft_reg_net_parse("10.77.0.1:65536", addr, &port), -EINVAL);
	assert_int_equal(dft_reg_net_parse("10.77.0.1:123456", addr, &port), -EINVAL);
	assert_int_equal(dft_reg_net_parse("10.77.0.1:", addr, &port), -EINVAL);
	assert_int_equal(dft_reg_net_parse("10.77.0.1:7a", addr, &port), -EINVAL);
	assert_int_equal(dft_reg_net_parse("10.77.0.1:-1", addr, &port), -EINVAL);
	assert_int_equal(dft_reg_net_parse("10.77.0.1", addr, &port), -EINVAL);
	assert_int_equal(dft_reg_net_parse(":7475", addr, &port), -EINVAL);
	assert_int_equal(dft_reg_net_parse("nic.example:7475", addr, &port), -EINVAL); /* numeric only */
	assert_int_equal(dft_reg_net_parse("fe80::1:7475", addr, &port), -EINVAL);     /* brackets needed */
	assert_int_equal(dft_reg_net_parse("[fe80::1]7475", addr, &port), -EINVAL);
	assert_int_equal(dft_reg_net_parse("[10.0.0.1]:7475", addr, &port), -EINVAL);
	assert_int_equal(dft_reg_net_parse("", addr, &port), -EINVAL);
	assert_int_equal(dft_reg_net_parse(NULL, addr, &port), -EINVAL);
	assert_int_equal(dft_reg_net_parse("[1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa:bbbb]:1", addr, &port),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rdma_at_round_trip),
		cmocka_unit_test(test_rdma_at_make_rejects),
		cmocka_unit_test(test_rdma_at_check_rejects),
		cmocka_unit_test(test_hello_round_trip_and_rejects),
		cmocka_unit_test(test_bye),
		cmocka_unit_test(test_net_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
