/* SPDX-License-Identifier: MIT */
/* Options after EAL's `--`. Every error names the option it is about; main exits 2 on -EINVAL. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "nic.h"

void dft_nic_usage(const char *prog)
{
	printf("usage: %s [EAL args] -- --socket PATH --collector HOST:PORT [options]\n"
	       "  --socket PATH              Unix socket hosts register their regions on\n"
	       "  --collector HOST:PORT      difftrace-collector TCP address\n"
	       "  --sender-id HEX            64-bit sender id (default: random)\n"
	       "  --batch-spans N            spans per batch (default 256)\n"
	       "  --flush-us N               close a non-empty batch after N us (default 1000)\n"
	       "  --backlog N                unacknowledged batches kept for resend (default 1024)\n"
	       "  --stats-json FILE          counters, rewritten every second and at exit\n"
	       "  --ready-file FILE          written once the socket listens\n"
	       "  --platform-components a,b  component names always treated as platform\n"
	       "  --busy-poll                never sleep when idle\n"
	       "  --help\n",
	       prog);
}

static int bad(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "difftrace-nic: bad value for %s: '%s' (%s)\n", opt, val ? val : "", why);
	return -EINVAL;
}

static int parse_u32(const char *opt, const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) {
		char why[64];

		snprintf(why, sizeof(why), "expected an integer in %" PRIu32 "..%" PRIu32, lo, hi);
		return bad(opt, s, why);
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_collector(struct dft_nic_config *cfg, const char *s)
{
	const char *colon = strrchr(s, ':');
	size_t hl;
	uint32_t port;

	if (!colon || colon == s)
		return bad("--collector", s, "expected HOST:PORT");
	hl = (size_t)(colon - s);
	if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (hl >= sizeof(cfg->collector_host))
		return bad("--collector", s, "host name too long");
	if (parse_u32("--collector", colon + 1, 1, 65535, &port))
		return -EINVAL;
	memcpy(cfg->collector_host, s, hl);
	cfg->collector_host[hl] = 0;
	snprintf(cfg->collector_port, sizeof(cfg->collector_port), "%" PRIu32, port);
	return 0;
}

static int parse_platform(struct dft_nic_config *cfg, const char *s)
{
	const char *p = s;

	cfg->n_platform = 0;
	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == 0 || n > DFT_NAME_MAX)
			return bad("--platform-components", s, "empty or over-long component name");
		if (cfg->n_platform >= DFT_NIC_MAX_PLATFORM)
			return bad("--platform-components", s, "too many names (max 32)");
		memcpy(cfg->platform[cfg->n_platform], p, n);
		cfg->platform[cfg->n_platform++][n] = 0;
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

enum { OPT_SOCKET = 256, OPT_COLLECTOR, OPT_SENDER, OPT_BATCH, OPT_FLUSH, OPT_BACKLOG, OPT_STATS, OPT_READY,
       OPT_PLATFORM, OPT_BUSY, OPT_HELP };

int dft_nic_config_parse(struct dft_nic_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, OPT_SOCKET},
		{"collector", required_argument, NULL, OPT_COLLECTOR},
		{"sender-id", required_argument, NULL, OPT_SENDER},
		{"batch-spans", required_argument, NULL, OPT_BATCH},
		{"flush-us", required_argument, NULL, OPT_FLUSH},
		{"backlog", required_argument, NULL, OPT_BACKLOG},
		{"stats-json", required_argument, NULL, OPT_STATS},
		{"ready-file", required_argument, NULL, OPT_READY},
		{"platform-components", required_argument, NULL, OPT_PLATFORM},
		{"busy-poll", no_argument, NULL, OPT_BUSY},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	bool have_collector = false;
	int c;

	memset(cfg, 0, sizeof(*cfg));
	cfg->batch_spans = 256;
	cfg->flush_us = 1000;
	cfg->backlog = 1024;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_SOCKET:
			if (!optarg[0] || strlen(optarg) >= 108)
				return bad("--socket", optarg, "empty or longer than a Unix socket path");
			cfg->socket_path = optarg;
			break;
		case OPT_COLLECTOR:
			if (parse_collector(cfg, optarg))
				return -EINVAL;
			have_collector = true;
			break;
		case OPT_SENDER: {
			char *end;

			errno = 0;
			cfg->sender_id = strtoull(optarg, &end, 16);
			if (errno || end == optarg || *end || optarg[0] == '-' || cfg->sender_id == 0)
				return bad("--sender-id", optarg, "expected a non-zero 64-bit hex number");
			break;
		}
		case OPT_BATCH:
			if (parse_u32("--batch-spans", optarg, 1, 65536, &cfg->batch_spans))
				return -EINVAL;
			break;
		case OPT_FLUSH:
			if (parse_u32("--flush-us", optarg, 1, 60000000, &cfg->flush_us))
				return -EINVAL;
			break;
		case OPT_BACKLOG:
			if (parse_u32("--backlog", optarg, 1, 1u << 20, &cfg->backlog))
				return -EINVAL;
			break;
		case OPT_STATS:
			cfg->stats_json = optarg;
			break;
		case OPT_READY:
			cfg->ready_file = optarg;
			break;
		case OPT_PLATFORM:
			if (parse_platform(cfg, optarg))
				return -EINVAL;
			break;
		case OPT_BUSY:
			cfg->busy_poll = true;
			break;
		case OPT_HELP:
			dft_nic_usage(argv[0]);
			return 1;
		default:
			fprintf(stderr, "difftrace-nic: unknown or incomplete option '%s' (see --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "difftrace-nic: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!cfg->socket_path) {
		fprintf(stderr, "difftrace-nic: missing required option --socket\n");
		return -EINVAL;
	}
	if (!have_collector) {
		fprintf(stderr, "difftrace-nic: missing required option --collector\n");
		return -EINVAL;
	}
	while (cfg->sender_id == 0)
		if (getrandom(&cfg->sender_id, sizeof(cfg->sender_id), 0) != sizeof(cfg->sender_id))
			return bad("--sender-id", "", "no default: getrandom failed");
	return 0;
}
