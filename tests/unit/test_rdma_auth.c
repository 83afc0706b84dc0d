/* SPDX-License-Identifier: MIT */
/* The RDMA handshake without verbs: proofs, the auth message, key files and the keyring. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "dft/rdma_auth.h"

static const char KEY_HEX[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

static void fixture(struct dft_rdma_key *k, struct dft_rdma_hello *h, struct dft_rdma_welcome *w)
{
	assert_int_equal(dft_rdma_key_parse(KEY_HEX, strlen(KEY_HEX), k), 0);
	memset(h, 0, sizeof(*h));
	memset(w, 0, sizeof(*w));
	h->flags = DFT_RDMA_F_AUTH;
	h->sender_id = 0x5ec0000000000001ull;
	h->credit_addr = 0x7f0000001000ull;
	h->credit_rkey = 0x1234;
	memset(h->nonce, 0xa5, sizeof(h->nonce));
	w->flags = DFT_RDMA_F_AUTH;
	w->ring_addr = 0x7f0000200000ull;
	w->ring_rkey = 0x5678;
	w->slots = 16;
	w->slot_size = 65536;
	w->resume_seq = 41;
	memset(w->nonce, 0x3c, sizeof(w->nonce));
}

static void test_proofs(void **state)
{
	struct dft_rdma_key k, other;
	struct dft_rdma_hello h, h2;
	struct dft_rdma_welcome w, w2;
	uint8_t pn[DFT_RDMA_PROOF_LEN], pc[DFT_RDMA_PROOF_LEN];

	(void)state;
	fixture(&k, &h, &w);
	assert_int_equal(dft_rdma_auth_proof(&k, DFT_RDMA_AUTH_NIC, &h, &w, pn), 0);
	assert_int_equal(dft_rdma_auth_proof(&k, DFT_RDMA_AUTH_COLLECTOR, &h, &w, pc), 0);
	assert_int_equal(dft_rdma_auth_verify(&k, DFT_RDMA_AUTH_NIC, &h, &w, pn), 0);
	assert_int_equal(dft_rdma_auth_verify(&k, DFT_RDMA_AUTH_COLLECTOR, &h, &w, pc), 0);
	/* the directions differ: neither proof can be reflected as the other */
	assert_memory_not_equal(pn, pc, sizeof(pn));
	assert_int_equal(dft_rdma_auth_verify(&k, DFT_RDMA_AUTH_NIC, &h, &w, pc), -EACCES);
	assert_int_equal(dft_rdma_auth_verify(&k, DFT_RDMA_AUTH_COLLECTOR, &h, &w, pn), -EACCES);
	/* another key */
	other = k;
	other.bytes[31] ^= 1;
	assert_int_equal(dft_rdma_auth_verify(&other, DFT_RDMA_AUTH_NIC, &h, &w, pn), -EACCES);
	/* a proof recorded on one connection: the next one has a fresh collector nonce (replay) */
	w2 = w;
	w2.nonce[15] ^= 0x80;
	assert_int_equal(dft_rdma_auth_verify(&k, DFT_RDMA_AUTH_NIC, &h, &w2, pn), -EACCES);
	/* every field is bound: sender id, NIC nonce, ring key, resume_seq (a forged welcome) */
	h2 = h;
	h2.sender_id++;
	assert_int_equal(dft_rdma_auth_verify(&k, DFT_RDMA_AUTH_NIC, &h2, &w, pn), -EACCES);
	h2 = h;
	h2.nonce[0] ^= 1;
	assert_int_equal(dft_rdma_auth_verify(&k, DFT_RDMA_AUTH_COLLECTOR, &h2, &w, pc), -EACCES);
	w2 = w;
	w2.ring_rkey++;
	assert_int_equal(dft_rdma_auth_verify(&k, DFT_RDMA_AUTH_NIC, &h, &w2, pn), -EACCES);
	w2 = w;
	w2.resume_seq = UINT64_MAX;
	assert_int_equal(dft_rdma_auth_verify(&k, DFT_RDMA_AUTH_COLLECTOR, &h, &w2, pc), -EACCES);
	/* the proof in the welcome itself is not part of the transcript */
	w2 = w;
	memcpy(w2.proof, pc, sizeof(pc));
	assert_int_equal(dft_rdma_auth_verify(&k, DFT_RDMA_AUTH_COLLECTOR, &h, &w2, w2.proof), 0);
	/* a key shorter than the minimum is refused, not used */
	other.len = DFT_RDMA_KEY_MIN - 1;
	assert_int_equal(dft_rdma_auth_proof(&other, DFT_RDMA_AUTH_NIC, &h, &w, pn), -EINVAL);
}

static void test_wire(void **state)
{
	struct dft_rdma_key k;
	struct dft_rdma_hello h, hd;
	struct dft_rdma_welcome w, wd;
	uint8_t hb[sizeof(h)], wb[sizeof(w)];

	(void)state;
	fixture(&k, &h, &w);
	assert_int_equal(dft_rdma_auth_proof(&k, DFT_RDMA_AUTH_COLLECTOR, &h, &w, w.proof), 0);
	dft_rdma_hello_encode(&h, hb);
	dft_rdma_welcome_encode(&w, wb);
	assert_int_equal(dft_rdma_hello_decode(hb, sizeof(hb), &hd), 0);
	assert_int_equal(dft_rdma_welcome_decode(wb, sizeof(wb), &wd), 0);
	assert_int_equal(hd.flags, DFT_RDMA_F_AUTH);
	assert_memory_equal(hd.nonce, h.nonce, sizeof(h.nonce));
	assert_memory_equal(wd.nonce, w.nonce, sizeof(w.nonce));
	/* what crossed the wire verifies on the other side */
	assert_int_equal(dft_rdma_auth_verify(&k, DFT_RDMA_AUTH_COLLECTOR, &hd, &wd, wd.proof), 0);
	/* an unknown flag is refused, not ignored */
	hb[6] = 0x02;
	assert_int_equal(dft_rdma_hello_decode(hb, sizeof(hb), &hd), -EBADMSG);
	wb[6] = 0x02;
	assert_int_equal(dft_rdma_welcome_decode(wb, sizeof(wb), &wd), -EBADMSG);
}

static void put_auth(uint8_t *ring, uint32_t magic, uint32_t len, uint64_t seq, const struct dft_rdma_auth *a)
{
	struct dft_rdma_slot_hdr sh = {.magic = htole32(magic), .len = htole32(len), .seq = htole64(seq)};

	memcpy(ring, &sh, sizeof(sh));
	dft_rdma_auth_encode(a, ring + sizeof(sh));
}

static void test_auth_slot(void **state)
{
	static uint8_t ring[4 * 256];
	struct dft_rdma_auth a = {.sender_id = 0x5ec0000000000001ull}, out;
	const uint32_t n = sizeof(struct dft_rdma_slot_hdr) + sizeof(struct dft_rdma_auth);

	(void)state;
	memset(a.proof, 0x77, sizeof(a.proof));
	put_auth(ring, DFT_RDMA_AUTH_MAGIC, sizeof(a), 0, &a);
	assert_int_equal(dft_rdma_auth_slot_parse(0, n, ring, 256, &out), 0);
	assert_int_equal(out.sender_id, a.sender_id);
	assert_memory_equal(out.proof, a.proof, sizeof(a.proof));
	/* the immediate names another slot or sequence; the completion's length disagrees */
	assert_int_equal(dft_rdma_auth_slot_parse(dft_rdma_imm(1, 0), n, ring, 256, &out), -EPROTO);
	assert_int_equal(dft_rdma_auth_slot_parse(dft_rdma_imm(0, 1), n, ring, 256, &out), -EPROTO);
	assert_int_equal(dft_rdma_auth_slot_parse(0, n + 1, ring, 256, &out), -EPROTO);
	assert_int_equal(dft_rdma_auth_slot_parse(0, n, ring, 32, &out), -EPROTO); /* beyond the slot */
	/* a batch where the proof belongs, a sequence, a header length disagreeing */
	put_auth(ring, DFT_RDMA_MAGIC, sizeof(a), 0, &a);
	assert_int_equal(dft_rdma_auth_slot_parse(0, n, ring, 256, &out), -EPROTO);
	put_auth(ring, DFT_RDMA_AUTH_MAGIC, sizeof(a), 1, &a);
	assert_int_equal(dft_rdma_auth_slot_parse(0, n, ring, 256, &out), -EPROTO);
	put_auth(ring, DFT_RDMA_AUTH_MAGIC, sizeof(a) - 1, 0, &a);
	assert_int_equal(dft_rdma_auth_slot_parse(0, n, ring, 256, &out), -EPROTO);
	/* the message itself: magic, reserved bytes */
	put_auth(ring, DFT_RDMA_AUTH_MAGIC, sizeof(a), 0, &a);
	ring[16] ^= 1;
	assert_int_equal(dft_rdma_auth_decode(ring + 16, sizeof(a), &out), -EPROTO);
	assert_int_equal(dft_rdma_auth_slot_parse(0, n, ring, 256, &out), -EPROTO);
	ring[16] ^= 1;
	ring[16 + 6] = 1;
	assert_int_equal(dft_rdma_auth_decode(ring + 16, sizeof(a), &out), -EBADMSG);
	assert_int_equal(dft_rdma_auth_decode(ring + 16, sizeof(a) + 1, &out), -EBADMSG);
}

static void test_key_parse(void **state)
{
	struct dft_rdma_key k;
	char buf[256];

	(void)state;
	snprintf(buf, sizeof(buf), "  %s\n", KEY_HEX);
	assert_int_equal(dft_rdma_key_parse(buf, strlen(buf), &k), 0);
	assert_int_equal(k.len, 32);
	assert_int_equal(k.bytes[0], 0x00);
	assert_int_equal(k.bytes[15], 0xff);
	assert_int_equal(dft_rdma_key_parse(KEY_HEX, 62, &k), -EINVAL); /* 31 bytes: too short */
	assert_int_equal(dft_rdma_key_parse(KEY_HEX, 63, &k), -EINVAL); /* odd */
	snprintf(buf, sizeof(buf), "%.62sZZ", KEY_HEX);
	assert_int_equal(dft_rdma_key_parse(buf, strlen(buf), &k), -EINVAL);
	memset(buf, 'a', 130);
	assert_int_equal(dft_rdma_key_parse(buf, 130, &k), -EINVAL); /* 65 bytes: too long */
	assert_int_equal(dft_rdma_key_parse(buf, 128, &k), 0);
	assert_int_equal(k.len, 64);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void test_key_files(void **state)
{
	char dir[] = "/tmp/dft-rdma-keys-XXXXXX", p[256], q[256], err[512], text[256];
	struct dft_rdma_keyring *kr = NULL;
	struct dft_rdma_key k;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/5ec0000000000001", dir);
	snprintf(text, sizeof(text), "%s\n", KEY_HEX);
	write_file(p, text, 0600);
	assert_int_equal(dft_rdma_key_load(p, &k, err, sizeof(err)), 0);
	assert_int_equal(k.len, 32);
	/* as ssh: readable by group or others is refused, and the message says why */
	assert_int_equal(chmod(p, 0644), 0);
	assert_int_equal(dft_rdma_key_load(p, &k, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "0644 are too open"));
	assert_int_equal(dft_rdma_keyring_load(dir, &kr, err, sizeof(err)), -EPERM);
	assert_int_equal(chmod(p, 0600), 0);
	/* the directory form */
	assert_int_equal(dft_rdma_keyring_load(dir, &kr, err, sizeof(err)), 0);
	assert_int_equal(dft_rdma_keyring_count(kr), 1);
	assert_int_equal(dft_rdma_keyring_get(kr, 0x5ec0000000000001ull, &k), 0);
	assert_int_equal(k.bytes[1], 0x11);
	assert_int_equal(dft_rdma_keyring_get(kr, 0x5ec0000000000002ull, &k), -ENOENT);
	dft_rdma_keyring_free(kr);
	/* a file not named by a sender id is an error, not silently skipped */
	snprintf(q, sizeof(q), "%s/nic1.key", dir);
	write_file(q, text, 0600);
	assert_int_equal(dft_rdma_keyring_load(dir, &kr, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "nic1.key"));
	unlink(q);
	unlink(p);
	/* no keys at all */
	assert_int_equal(dft_rdma_keyring_load(dir, &kr, err, sizeof(err)), -ENOENT);
	/* the mapping-file form, with comments; a sender named twice is refused */
	snprintf(p, sizeof(p), "%s/keys", dir);
	snprintf(text, sizeof(text), "# nic keys\n5ec0000000000002 %s\n\n5EC0000000000003 %s\n", KEY_HEX, KEY_HEX);
	write_file(p, text, 0600);
	assert_int_equal(dft_rdma_keyring_load(p, &kr, err, sizeof(err)), 0);
	assert_int_equal(dft_rdma_keyring_count(kr), 2);
	assert_int_equal(dft_rdma_keyring_get(kr, 0x5ec0000000000003ull, &k), 0);
	dft_rdma_keyring_free(kr);
	snprintf(text, sizeof(text), "5ec0000000000002 %s\n5ec0000000000002 %s\n", KEY_HEX, KEY_HEX);
	write_file(p, text, 0600);
	assert_int_equal(dft_rdma_keyring_load(p, &kr, err, sizeof(err)), -EINVAL);
	snprintf(text, sizeof(text), "0000000000000000 %s\n", KEY_HEX);
	write_file(p, text, 0600);
	assert_int_equal(dft_rdma_keyring_load(p, &kr, err, sizeof(err)), -EINVAL); /* id 0 */
	write_file(p, "5ec0000000000002 abcd\n", 0600);
	assert_int_equal(dft_rdma_keyring_load(p, &kr, err, sizeof(err)), -EINVAL); /* short key */
	write_file(p, text, 0640);
	assert_int_equal(dft_rdma_keyring_load(p, &kr, err, sizeof(err)), -EPERM);
	unlink(p);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_proofs),
		cmocka_unit_test(test_wire),
		cmocka_unit_test(test_auth_slot),
		cmocka_unit_test(test_key_parse),
		cmocka_unit_test(test_key_files),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
