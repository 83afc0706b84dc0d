/* SPDX-License-Identifier: MIT */
/*
 * Transport-alone check of the RDMA path, run inside the Soft-RoCE VM by tests/rxe/transport.sh.
 *
 *   rdma_selftest server --bind IP --port P --state FILE [--slots N] [--slot-size B]
 *       accepts batches; keeps, in FILE, the highest sequence it holds durably per the protocol
 *       (rewritten before every credit return), so a killed and restarted server resumes; prints
 *       "server: accepted A duplicates D" on SIGTERM. A sequence gap is a failure (exit 1).
 *   rdma_selftest client --host IP --port P --count N [--backlog B]
 *       sends batches 1..N (payload = seq-derived bytes, sizes from 1 byte to the slot's limit),
 *       keeping a bounded backlog of unacknowledged batches that it resends after every reconnect;
 *       exits 0 once batch N is acknowledged.
 * The server checks every payload's content against its sequence, so a torn or misplaced write fails.
 * --key FILE (both sides): the handshake of dft/rdma_auth.h on every connection, the client's sender
 * id being the only one the server has the key for.
 */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dft/clock.h"
#include "dft/rdma.h"
#include "dft/rdma_auth.h"

#define SELFTEST_SENDER 0x5e1f7e57ull

static struct dft_rdma_key key;
static bool have_key;

static int srv_key(void *arg, uint64_t sender, struct dft_rdma_key *out)
{
	(void)arg;
	if (sender != SELFTEST_SENDER)
		return -ENOENT;
	*out = key;
	return 0;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static uint32_t payload_len(uint64_t seq, uint32_t max)
{
	/* cover tiny, mid-size and exactly-full slots */
	switch (seq % 5) {
	case 0: return 1;
	case 1: return max;
	default: return (uint32_t)((seq * 2654435761u) % max) + 1;
	}
}

static uint8_t payload_byte(uint64_t seq, uint32_t i)
{
	return (uint8_t)((seq * 31 + i * 7) ^ (i >> 8));
}

struct srv {
	const char *state;
	uint64_t max_seq;
	uint64_t accepted, dups;
	uint32_t max_payload;
	int gap;
};

static uint64_t srv_resume(void *arg, uint64_t sender)
{
	(void)sender;
	return ((struct srv *)arg)->max_seq;
}

static int srv_batch(void *arg, uint64_t sender, uint64_t seq, const uint8_t *p, uint32_t len)
{
	struct srv *s = arg;

	(void)sender;
	if (seq <= s->max_seq) {
		s->dups++;
		return 0;
	}
	if (seq != s->max_seq + 1) {
		fprintf(stderr, "server: gap: got %" PRIu64 " after %" PRIu64 "\n", seq, s->max_seq);
		s->gap = 1;
		return -1;
	}
	if (len != payload_len(seq, s->max_payload)) {
		fprintf(stderr, "server: batch %" PRIu64 " has %u bytes, want %u\n", seq, len, payload_len(seq, s->max_payload));
		s->gap = 1;
		return -1;
	}
	for (uint32_t i = 0; i < len; i++)
		if (p[i] != payload_byte(seq, i)) {
			fprintf(stderr, "server: batch %" PRIu64 " byte %u corrupt\n", seq, i);
			s->gap = 1;
			return -1;
		}
	s->max_seq = seq;
	s->accepted++;
	return 0;
}

static int save_state(const struct srv *s)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", s->state);
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%" PRIu64 "\n", s->max_seq);
	if (fclose(f))
		return -errno;
	return rename(tmp, s->state) ? -errno : 0;
}

static int run_server(const char *bind, const char *port, const char *state, uint32_t slots, uint32_t slot_size)
{
	struct srv s = {.state = state, .max_payload = slot_size - (uint32_t)sizeof(struct dft_rdma_slot_hdr)};
	struct dft_rdma_server_cfg cfg = {.bind = bind, .port = port, .slots = slots, .slot_size = slot_size,
					  .resume = srv_resume, .resume_arg = &s, .key = have_key ? srv_key : NULL};
	struct dft_rdma_server *srv;
	struct dft_rdma_server_stats st;
	FILE *f = fopen(state, "r");
	int rc;

	if (f) {
		if (fscanf(f, "%" SCNu64, &s.max_seq) != 1)
			s.max_seq = 0;
		fclose(f);
	}
	rc = dft_rdma_server_create(&cfg, &srv);
	if (rc) {
		fprintf(stderr, "server: create: %s\n", strerror(-rc));
		return 1;
	}
	printf("server: listening, resume at %" PRIu64 "\n", s.max_seq);
	fflush(stdout);
	while (!stop && !s.gap) {
		uint64_t before = s.max_seq;

		dft_rdma_server_poll(srv, srv_batch, &s);
		if (s.max_seq != before && save_state(&s)) /* durable first, then credit */
			break;
		dft_rdma_server_commit(srv);
	}
	dft_rdma_server_get_stats(srv, &st);
	printf("server: accepted %" PRIu64 " duplicates %" PRIu64 " max_seq %" PRIu64 " connections %" PRIu64
	       " bad_slots %" PRIu64 " auth_ok %" PRIu64 " auth_refused %" PRIu64 "\n", s.accepted, s.dups, s.max_seq,
	       st.accepted, st.bad_slots, st.auth_ok, st.auth_no_key + st.auth_bad_proof + st.auth_timed_out);
	dft_rdma_server_destroy(srv);
	return s.gap ? 1 : 0;
}

static int run_client(const char *host, const char *port, uint64_t count, uint32_t backlog, unsigned timeout_s)
{
	struct dft_rdma_client_cfg cfg = {.host = host, .port = port, .sender_id = SELFTEST_SENDER,
					  .key = have_key ? &key : NULL};
	struct dft_rdma_client *c;
	struct dft_rdma_client_stats st;
	uint64_t acked = 0, next = 1, epoch = 0, oversize = 0;
	uint64_t deadline = dft_clock_ns(CLOCK_MONOTONIC) / 1000000u + timeout_s * 1000ull;
	static uint8_t buf[DFT_RDMA_SLOT_SIZE_MAX];
	int rc;

	rc = dft_rdma_client_create(&cfg, &c);
	if (rc) {
		fprintf(stderr, "client: create: %s\n", strerror(-rc));
		return 1;
	}
	while (acked < count && dft_clock_ns(CLOCK_MONOTONIC) / 1000000u < deadline && !stop) {
		dft_rdma_client_poll(c);
		if (!dft_rdma_client_connected(c))
			continue;
		if (dft_rdma_client_epoch(c) != epoch) {
			/* new connection: the server told us what it holds; resend everything after it */
			epoch = dft_rdma_client_epoch(c);
			if (dft_rdma_client_resume_seq(c) > acked)
				acked = dft_rdma_client_resume_seq(c);
			next = acked + 1;
			/* an over-long batch is refused, not sent: check that once per connection */
			if (dft_rdma_client_send(c, next, buf, DFT_RDMA_SLOT_SIZE_MAX) == -EMSGSIZE)
				oversize++;
		}
		if (dft_rdma_client_acked(c) > acked)
			acked = dft_rdma_client_acked(c);
		while (next <= count && next - acked <= backlog) {
			uint32_t max = 64 * 1024 - (uint32_t)sizeof(struct dft_rdma_slot_hdr), len = payload_len(next, max);

			for (uint32_t i = 0; i < len; i++)
				buf[i] = payload_byte(next, i);
			if (dft_rdma_client_send(c, next, buf, len))
				break;
			next++;
		}
	}
	dft_rdma_client_get_stats(c, &st);
	printf("client: acked %" PRIu64 "/%" PRIu64 " connects %" PRIu64 " disconnects %" PRIu64 " writes %" PRIu64
	       " oversize_refused %" PRIu64 " credit_stalls %" PRIu64 "\n",
	       acked, count, st.connects, st.disconnects, st.writes, oversize, st.credit_stalls);
	dft_rdma_client_destroy(c);
	return acked == count && oversize == st.connects ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"bind", 1, 0, 'b'}, {"host", 1, 0, 'H'}, {"port", 1, 0, 'p'}, {"state", 1, 0, 's'},
		{"slots", 1, 0, 'n'}, {"slot-size", 1, 0, 'z'}, {"count", 1, 0, 'c'}, {"backlog", 1, 0, 'k'},
		{"timeout", 1, 0, 't'}, {"key", 1, 0, 'K'}, {0, 0, 0, 0},
	};
	const char *bind = NULL, *host = NULL, *port = "7471", *state = NULL;
	unsigned long slots = 16, slot_size = 64 * 1024, count = 1000, backlog = 64, timeout = 300;
	char err[512];
	int o;

	if (argc < 2) {
		fprintf(stderr, "usage: rdma_selftest server|client [options]\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	while ((o = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
		switch (o) {
		case 'b': bind = optarg; break;
		case 'H': host = optarg; break;
		case 'p': port = optarg; break;
		case 's': state = optarg; break;
		case 'n': slots = strtoul(optarg, NULL, 0); break;
		case 'z': slot_size = strtoul(optarg, NULL, 0); break;
		case 'c': count = strtoul(optarg, NULL, 0); break;
		case 'k': backlog = strtoul(optarg, NULL, 0); break;
		case 't': timeout = strtoul(optarg, NULL, 0); break;
		case 'K':
			if (dft_rdma_key_load(optarg, &key, err, sizeof(err))) {
				fprintf(stderr, "rdma_selftest: %s\n", err);
				return 2;
			}
			have_key = true;
			break;
		default: return 2;
		}
	}
	if (strcmp(argv[1], "server") == 0 && state)
		return run_server(bind, port, state, (uint32_t)slots, (uint32_t)slot_size);
	if (strcmp(argv[1], "client") == 0 && host)
		return run_client(host, port, count, (uint32_t)backlog, (unsigned)timeout);
	fprintf(stderr, "rdma_selftest: server needs --state, client needs --host\n");
	return 2;
}
