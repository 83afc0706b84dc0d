/* SPDX-License-Identifier: MIT */
/* difftrace-collector: receives span batches from difftrace-nic, stores and exports them. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dft/parse.h"
#include "collector.h"

static void usage(FILE *f)
{
	fprintf(f,
	        "usage: difftrace-collector --listen HOST:PORT --db FILE [--transport tcp|rdma] [--otlp-json FILE]\n"
	        "                           [--stats-json FILE] [--ready-file FILE] [--max-conns N] [--max-senders N]\n"
	        "                           [--rdma-slots N] [--rdma-slot-size B] [--recon-delay-ms MS]\n"
	        "                           [--recon-max-pending N] [--recon-profile-wait-ms MS] [--clickhouse URL[,URL...]] [--max-conns-per-peer N] [--read-timeout-ms MS]\n"
	        "                           [--idle-timeout-ms MS] [--rx-budget-mb N] [--seq-window N]\n"
	        "                           (--tls-cert FILE --tls-key FILE --tls-ca FILE | --rdma-keys DIR|FILE | --insecure)\n"
	        "  --tls-cert/--tls-key/--tls-ca  TLS 1.3 with mutual certificates: this collector's certificate\n"
	        "                       and key (0600), and the CA senders' certificates must chain to; a\n"
	        "                       sender's id is the one its certificate names (docs/security.md)\n"
	        "  --rdma-keys DIR|FILE rdma: the senders' keys, one file per sender named by its 16 hex digit\n"
	        "                       id, or one file of \"<id> <key>\" lines (hex; 0600); a sender proves\n"
	        "                       its key (HMAC-SHA256 challenge-response) before its first credit\n"
	        "  --insecure           accept senders that prove nothing (TCP without TLS; RDMA without keys): logged\n"
	        "  --listen HOST:PORT   address for difftrace-nic senders (port 0: ephemeral; [v6]:port); with\n"
	        "                       rdma, the address of the RDMA device's interface\n"
	        "  --transport T        tcp (default) or rdma (%s)\n"
	        "  --db FILE            SQLite database (created if missing)\n"
	        "  --otlp-json FILE     append one OTLP ExportTraceServiceRequest JSON line per batch\n"
	        "  --otlp-json-max-mb MB  rotate the OTLP JSON file once it reaches MB MiB: FILE -> FILE.1 -> ...\n"
	        "                       (default: never)\n"
	        "  --otlp-json-keep N   rotated files kept, FILE.1 (newest) .. FILE.N (default 5; 0: none)\n"
	        "  --clickhouse URL[,URL...]  also store what was reported in ClickHouse (http://HOST:PORT):\n"
	        "                       inserted through the first node's Distributed tables; the schema is\n"
	        "                       created on every node listed (docs/clickhouse.md)\n"
	        "  --stats-json FILE    stats, rewritten atomically every second and at exit\n"
	        "  --ready-file FILE    written with the bound port and a newline once listening\n"
	        "  --max-conns N        concurrent TCP sender connections (default %u)\n"
	        "  --max-senders N      distinct senders tracked; idle ones are evicted (default %u)\n"
	        "  --max-conns-per-peer N  connections per source address, and per sender (default %u)\n"
	        "  --read-timeout-ms MS HELLO, and each frame once begun, must arrive within (default %u)\n"
	        "  --idle-timeout-ms MS a connection that sends nothing this long is closed (default %u)\n"
	        "  --rx-budget-mb N     memory for frames in progress, all connections together (default %u)\n"
	        "  --seq-window N       how far ahead of its acknowledged maximum a sender's sequence may\n"
	        "                       go (default %u)\n"
	        "  --rdma-slots N       receive ring slots per RDMA connection (default 256, max %u)\n"
	        "  --rdma-slot-size B   bytes per slot, a multiple of 8 (default 65536, %u..%u)\n"
	        "  --recon-delay-ms MS  how long a filtered hop waits for its real span before it is\n"
	        "                       reconstructed (default %u)\n"
	        "  --recon-max-pending N  reconstruction candidates held at once (default 65536)\n"
	        "  --recon-profile-wait-ms MS  past the delay, how long a rebuilt span's export waits for its\n"
	        "                       sender's next profile snapshot, so it is what readers rebuild (default\n"
	        "                       %u; 0: export at the delay)\n"
	        "  --otlp-http URL      also POST every span as OTLP/HTTP protobuf to URL (the full URL, e.g.\n"
	        "                       http://127.0.0.1:4318/v1/traces), from a sender thread\n"
	        "  --otlp-http-gzip     gzip the request bodies (Content-Encoding: gzip)\n"
	        "  --otlp-http-queue SPANS  spans waiting for the sender at most; more are dropped and counted\n"
	        "                       (default %u)\n"
	        "SIGINT/SIGTERM: export the reconstructions pending, commit, flush, write stats, exit 0.\n"
	        "SIGHUP: close and reopen the OTLP JSON file (after logrotate moved it).\n",
#ifdef DFT_HAVE_RDMA
	        "built in",
#else
	        "not in this build",
#endif
	        DFT_MAX_CONNS, DFT_MAX_SENDERS, DFT_MAX_CONNS_PER_PEER, DFT_READ_TIMEOUT_MS, DFT_IDLE_TIMEOUT_MS,
	        DFT_RX_BUDGET >> 20, DFT_SEQ_WINDOW, 4096u, 256u, 4u << 20, DFT_RECON_DELAY_MS, DFT_RECON_PROFILE_WAIT_MS,
	        DFT_OTLP_HTTP_QUEUE_SPANS);
}

static int bad_arg(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "difftrace-collector: bad %s '%s': %s (see --help)\n", opt, val, why);
	return 2;
}

/* u32 options: the shared strict decimal parser, narrowed */
static int parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v;

	if (dft_parse_u64(s, lo, hi, &v))
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int write_ready(const char *path, uint16_t port)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%u\n", port);
	if (fclose(f))
		return -errno;
	/* a watcher sees either no file or the whole line */
	if (rename(tmp, path))
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"db", required_argument, NULL, 'd'},
	    {"otlp-json", required_argument, NULL, 'o'},
	    {"clickhouse", required_argument, NULL, 'C'},
	    {"stats-json", required_argument, NULL, 's'},
	    {"ready-file", required_argument, NULL, 'r'},
	    {"max-conns", required_argument, NULL, 'c'},
	    {"max-senders", required_argument, NULL, 'S'},
	    {"transport", required_argument, NULL, 't'},
	    {"rdma-slots", required_argument, NULL, 'n'},
	    {"rdma-slot-size", required_argument, NULL, 'z'},
	    {"recon-delay-ms", required_argument, NULL, 'D'},
	    {"recon-max-pending", required_argument, NULL, 'P'},
	    {"recon-profile-wait-ms", required_argument, NULL, 0x102},
	    {"max-conns-per-peer", required_argument, NULL, 'p'},
	    {"read-timeout-ms", required_argument, NULL, 'T'},
	    {"idle-timeout-ms", required_argument, NULL, 'I'},
	    {"rx-budget-mb", required_argument, NULL, 'B'},
	    {"seq-window", required_argument, NULL, 'W'},
	    {"tls-cert", required_argument, NULL, 0x101},
	    {"tls-key", required_argument, NULL, 'K'},
	    {"tls-ca", required_argument, NULL, 'A'},
	    {"insecure", no_argument, NULL, 'X'},
	    {"otlp-http", required_argument, NULL, 0x110},
	    {"otlp-http-gzip", no_argument, NULL, 0x111},
	    {"otlp-http-queue", required_argument, NULL, 0x112},
	    {"otlp-json-max-mb", required_argument, NULL, 0x113},
	    {"otlp-json-keep", required_argument, NULL, 0x114},
	    {"rdma-keys", required_argument, NULL, 0x120},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct dft_collector_cfg cfg = {0};
	struct dft_otlp_http_cfg http = {0};
	struct dft_collector *c;
	char *listen_arg = NULL;
	sigset_t mask;
	int opt, sfd, rc;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			free(listen_arg);
			listen_arg = strdup(optarg);
			if (!listen_arg || dft_parse_hostport(listen_arg, 0, &cfg.listen_host, &cfg.listen_port))
				return bad_arg("--listen", optarg, "expected HOST:PORT");
			break;
		case 'd':
			cfg.db_path = optarg;
			break;
		case 'o':
			cfg.otlp_json_path = optarg;
			break;
		case 'C':
			cfg.clickhouse_url = optarg;
			break;
		case 's':
			cfg.stats_path = optarg;
			break;
		case 'r':
			cfg.ready_path = optarg;
			break;
		case 'c':
			if (parse_u32(optarg, 1, 4096, &cfg.max_conns))
				return bad_arg("--max-conns", optarg, "expected 1..4096");
			break;
		case 'S':
			if (parse_u32(optarg, 1, 1u << 20, &cfg.max_senders))
				return bad_arg("--max-senders", optarg, "expected 1..1048576");
			break;
		case 't':
			if (!strcmp(optarg, "tcp"))
				cfg.transport = DFT_TRANSPORT_TCP;
			else if (!strcmp(optarg, "rdma"))
				cfg.transport = DFT_TRANSPORT_RDMA;
			else
				return bad_arg("--transport", optarg, "expected tcp or rdma");
			break;
		case 'n':
			if (parse_u32(optarg, 1, 4096, &cfg.rdma_slots))
				return bad_arg("--rdma-slots", optarg, "expected 1..4096");
			break;
		case 'z':
			if (parse_u32(optarg, 256, 4u << 20, &cfg.rdma_slot_size) || cfg.rdma_slot_size % 8)
				return bad_arg("--rdma-slot-size", optarg, "expected a multiple of 8 in 256..4194304");
			break;
		case 'D':
			if (parse_u32(optarg, 0, 3600000, &cfg.recon_delay_ms))
				return bad_arg("--recon-delay-ms", optarg, "expected 0..3600000");
			cfg.recon_delay_set = true;
			break;
		case 0x102:
			if (parse_u32(optarg, 0, 3600000, &cfg.recon_profile_wait_ms))
				return bad_arg("--recon-profile-wait-ms", optarg, "expected 0..3600000");
			cfg.recon_profile_wait_set = true;
			break;
		case 'P':
			if (parse_u32(optarg, 1, 1u << 24, &cfg.recon_max_pending))
				return bad_arg("--recon-max-pending", optarg, "expected 1..16777216");
			break;
		case 0x110:
			if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8))
				return bad_arg("--otlp-http", optarg, "expected an http:// or https:// URL");
			http.url = optarg;
			cfg.otlp_http = &http;
			break;
		case 0x111:
			http.gzip = true;
			break;
		case 0x112:
			if (parse_u32(optarg, 1, 1u << 26, &http.queue_spans))
				return bad_arg("--otlp-http-queue", optarg, "expected 1..67108864");
			break;
		case 0x113: {
			uint32_t mb;

			if (parse_u32(optarg, 1, 1u << 20, &mb))
				return bad_arg("--otlp-json-max-mb", optarg, "expected 1..1048576");
			cfg.otlp_json_max_bytes = (uint64_t)mb << 20;
			break;
		}
		case 0x114:
			if (parse_u32(optarg, 0, 1000, &cfg.otlp_json_keep))
				return bad_arg("--otlp-json-keep", optarg, "expected 0..1000");
			cfg.otlp_json_keep_set = true;
			break;
		case 'p':
			if (parse_u32(optarg, 1, 4096, &cfg.max_conns_per_peer))
				return bad_arg("--max-conns-per-peer", optarg, "expected 1..4096");
			break;
		case 'T':
			if (parse_u32(optarg, 100, 3600000, &cfg.read_timeout_ms))
				return bad_arg("--read-timeout-ms", optarg, "expected 100..3600000");
			break;
		case 'I':
			if (parse_u32(optarg, 100, 86400000, &cfg.idle_timeout_ms))
				return bad_arg("--idle-timeout-ms", optarg, "expected 100..86400000");
			break;
		case 'B': {
			uint32_t mb;

			/* at least one largest frame must fit, or no large batch could ever be received */
			if (parse_u32(optarg, 16, 65536, &mb))
				return bad_arg("--rx-budget-mb", optarg, "expected 16..65536");
			cfg.rx_budget = (uint64_t)mb << 20;
			break;
		}
		case 'W': {
			uint64_t w;

			if (dft_parse_u64(optarg, 1024, 1ull << 40, &w))
				return bad_arg("--seq-window", optarg, "expected 1024..2^40");
			cfg.seq_window = w;
			break;
		}
		case 0x101:
			cfg.tls.cert = optarg;
			break;
		case 'K':
			cfg.tls.key = optarg;
			break;
		case 'A':
			cfg.tls.ca = optarg;
			break;
		case 'X':
			cfg.insecure = true;
			break;
		case 0x120:
			cfg.rdma_keys = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			fprintf(stderr, "difftrace-collector: unknown or incomplete option '%s' (see --help)\n",
			        argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "difftrace-collector: unexpected argument '%s' (see --help)\n", argv[optind]);
		return 2;
	}
	if (!cfg.listen_host) {
		fprintf(stderr, "difftrace-collector: missing --listen HOST:PORT (see --help)\n");
		return 2;
	}
	if (!cfg.db_path) {
		fprintf(stderr, "difftrace-collector: missing --db FILE (see --help)\n");
		return 2;
	}
#ifndef DFT_HAVE_RDMA
	if (cfg.transport == DFT_TRANSPORT_RDMA) {
		fprintf(stderr, "difftrace-collector: --transport rdma: this build has no RDMA support"
		                " (configured without libibverbs/librdmacm)\n");
		return 2;
	}
#endif
	if (!cfg.otlp_json_path && (cfg.otlp_json_max_bytes || cfg.otlp_json_keep_set)) {
		fprintf(stderr, "difftrace-collector: --otlp-json-max-mb/--otlp-json-keep need --otlp-json FILE\n");
		return 2;
	}
	if (!http.url && (http.gzip || http.queue_spans)) {
		fprintf(stderr, "difftrace-collector: --otlp-http-gzip/--otlp-http-queue need --otlp-http URL\n");
		return 2;
	}
	if (cfg.transport != DFT_TRANSPORT_RDMA && (cfg.rdma_slots || cfg.rdma_slot_size || cfg.rdma_keys)) {
		fprintf(stderr, "difftrace-collector: --rdma-slots/--rdma-slot-size/--rdma-keys need --transport rdma\n");
		return 2;
	}

	/* the store, the OTLP file and the stats hold every tenant's spans: never readable by others */
	umask(umask(0) | 027);
	/* signals become a readable fd the poll loop watches, so shutdown happens between rounds */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP); /* reopen the OTLP JSON file, read by the poll loop like the others */
	if (sigprocmask(SIG_BLOCK, &mask, NULL)) {
		perror("difftrace-collector: sigprocmask");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		perror("difftrace-collector: signalfd");
		return 1;
	}
	rc = dft_collector_create(&cfg, &c);
	if (rc) {
		fprintf(stderr, "difftrace-collector: start: %s\n", strerror(-rc));
		return 1;
	}
	if (cfg.ready_path) {
		rc = write_ready(cfg.ready_path, dft_collector_port(c));
		if (rc) {
			fprintf(stderr, "difftrace-collector: --ready-file %s: %s\n", cfg.ready_path, strerror(-rc));
			dft_collector_destroy(c);
			return 1;
		}
	}
	rc = dft_collector_run(c, sfd);
	if (rc)
		fprintf(stderr, "difftrace-collector: poll: %s\n", strerror(-rc));
	dft_collector_destroy(c);
	close(sfd);
	free(listen_arg);
	return rc ? 1 : 0;
}
