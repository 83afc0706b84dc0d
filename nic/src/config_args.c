/* SPDX-License-Identifier: MIT */
/*
 * Where settings come from (config.h): the --config INI file (libinih) and the command line,
 * which wins; every file key is also --set section.key=value and each named option is a file key
 * under another name, so all of them go through dft_nic_config_set (config.c, the key table).
 * Then what no single key can check: required options, combinations, TLS identity, defaults that
 * depend on the process (registration allow-list, random sender id).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <ini.h>
#include <openssl/crypto.h>

#include "config.h"
#include "dft/rdma_auth.h"
#include "dft/tls.h"

static int bad(const char *opt, const char *val, const char *why)
{
	fprintf(stderr, "difftrace-nic: bad value for %s: '%s' (%s)\n", opt, val ? val : "", why);
	return -EINVAL;
}

struct load_ctx {
	struct dft_nic_config *cfg;
	char why[160], section[64], key[64];
	bool failed;
};

static int on_ini_key(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *lc = user;
	char why[160];

	if (dft_nic_config_set(lc->cfg, section, name, value, why, sizeof(why)) == 0)
		return 1;
	if (!lc->failed) {
		/* ini_parse reports the first failing line; keep the message of that same line */
		lc->failed = true;
		snprintf(lc->why, sizeof(lc->why), "%s", why);
		snprintf(lc->section, sizeof(lc->section), "%s", section);
		snprintf(lc->key, sizeof(lc->key), "%s", name);
	}
	return 0;
}

int dft_nic_config_load(struct dft_nic_config *cfg, const char *path)
{
	struct load_ctx lc = {.cfg = cfg};
	int line = ini_parse(path, on_ini_key, &lc);

	if (line == -1) {
		fprintf(stderr, "difftrace-nic: --config %s: cannot open\n", path);
		return -ENOENT;
	}
	if (line == -2) {
		fprintf(stderr, "difftrace-nic: --config %s: out of memory\n", path);
		return -ENOMEM;
	}
	if (line > 0) {
		if (lc.failed)
			fprintf(stderr, "difftrace-nic: %s:%d: [%s] %s: %s\n", path, line, lc.section, lc.key, lc.why);
		else
			fprintf(stderr, "difftrace-nic: %s:%d: syntax error (expected [section] or key = value)\n", path,
				line);
		return -EINVAL;
	}
	return 0;
}

/* --set section.key=value */
static int set_arg(struct dft_nic_config *cfg, const char *arg)
{
	const char *dot = strchr(arg, '.'), *eq = strchr(arg, '=');
	char section[64], key[64], why[160];

	if (!dot || !eq || dot > eq || dot == arg || eq == dot + 1 || (size_t)(dot - arg) >= sizeof(section) ||
	    (size_t)(eq - dot - 1) >= sizeof(key))
		return bad("--set", arg, "expected SECTION.KEY=VALUE");
	memcpy(section, arg, (size_t)(dot - arg));
	section[dot - arg] = 0;
	memcpy(key, dot + 1, (size_t)(eq - dot - 1));
	key[eq - dot - 1] = 0;
	if (dft_nic_config_set(cfg, section, key, eq + 1, why, sizeof(why)))
		return bad("--set", arg, why);
	return 0;
}

/* An option that maps onto a file key: same parser, the option's name in the message. */
static int set_opt(struct dft_nic_config *cfg, const char *opt, const char *section, const char *key, const char *v)
{
	char why[160];

	if (dft_nic_config_set(cfg, section, key, v, why, sizeof(why)))
		return bad(opt, v, why);
	return 0;
}

/* Command-line options that are a file key under another name; a flag sets a fixed value. */
static const struct opt_alias {
	const char *opt, *section, *key;
	const char *fixed; /* the flag's value; NULL: the option takes the value as its argument */
} aliases[] = {
	{"socket", "ingest", "socket", NULL},
	{"collector", "transport", "collector", NULL},
	{"sender-id", "transport", "sender_id", NULL},
	{"transport", "transport", "type", NULL},
	{"rdma-bind", "transport", "rdma_bind", NULL},
	{"ingest", "ingest", "backend", NULL},
	{"rdma-ingest-bind", "ingest", "rdma_bind", NULL},
	{"net-listen", "ingest", "listen", NULL},
	{"batch-spans", "batch", "spans", NULL},
	{"flush-us", "batch", "flush_us", NULL},
	{"backlog", "batch", "backlog", NULL},
	{"platform-components", "filter", "platform_components", NULL},
	{"busy-poll", "ingest", "busy_poll", "true"},
	{"socket-group", "registration", "socket_group", NULL},
	{"tls-cert", "transport", "tls_cert", NULL},
	{"tls-key", "transport", "tls_key", NULL},
	{"tls-ca", "transport", "tls_ca", NULL},
	{"rdma-key", "transport", "rdma_key", NULL},
	{"reg-allow", "registration", "allow", NULL},
	{"hold", "hold", "enabled", "true"},
	{"no-hold", "hold", "enabled", "false"},
};

#define N_ALIASES (sizeof(aliases) / sizeof(aliases[0]))

enum { OPT_ALIAS = 256, OPT_STATS = OPT_ALIAS + (int)N_ALIASES, OPT_READY, OPT_HELP, OPT_CONFIG, OPT_SET };

int dft_nic_config_parse(struct dft_nic_config *cfg, int argc, char **argv)
{
	struct option opts[N_ALIASES + 6] = {
		{"stats-json", required_argument, NULL, OPT_STATS},
		{"ready-file", required_argument, NULL, OPT_READY},
		{"help", no_argument, NULL, OPT_HELP},
		{"config", required_argument, NULL, OPT_CONFIG},
		{"set", required_argument, NULL, OPT_SET},
	};
	int c, rc;

	for (size_t k = 0; k < N_ALIASES; k++)
		opts[5 + k] = (struct option){aliases[k].opt, aliases[k].fixed ? no_argument : required_argument, NULL,
					      OPT_ALIAS + (int)k};
	dft_nic_config_defaults(cfg);
	/* the file first, wherever --config sits, so every other option overrides it */
	for (int i = 1; i < argc; i++) {
		const char *path = NULL;

		if (!strcmp(argv[i], "--"))
			break;
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			path = argv[i + 1];
		else if (!strncmp(argv[i], "--config=", 9))
			path = argv[i] + 9;
		if (path) {
			cfg->config_file = path;
			rc = dft_nic_config_load(cfg, path);
			if (rc)
				return -EINVAL;
		}
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		rc = 0;
		if (c >= OPT_ALIAS && c < OPT_STATS) {
			const struct opt_alias *a = &aliases[c - OPT_ALIAS];
			char name[40];

			snprintf(name, sizeof(name), "--%s", a->opt);
			if (set_opt(cfg, name, a->section, a->key, a->fixed ? a->fixed : optarg))
				return -EINVAL;
			continue;
		}
		switch (c) {
		case OPT_STATS:
			cfg->stats_json = optarg;
			break;
		case OPT_READY:
			cfg->ready_file = optarg;
			break;
		case OPT_CONFIG:
			break; /* loaded above */
		case OPT_SET:
			rc = set_arg(cfg, optarg);
			break;
		case OPT_HELP:
			dft_nic_usage(argv[0]);
			return 1;
		default:
			fprintf(stderr, "difftrace-nic: unknown or incomplete option '%s' (see --help)\n",
				argv[optind - 1]);
			return -EINVAL;
		}
		if (rc)
			return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "difftrace-nic: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (!cfg->socket_path[0]) {
		fprintf(stderr, "difftrace-nic: missing required option --socket (or [ingest] socket)\n");
		return -EINVAL;
	}
	if (!cfg->collector_host[0]) {
		fprintf(stderr, "difftrace-nic: missing required option --collector (or [transport] collector)\n");
		return -EINVAL;
	}
	if (!strcmp(cfg->ingest, "rdma-read") && !cfg->rdma_ingest_bind[0]) {
		fprintf(stderr, "difftrace-nic: --ingest rdma-read needs --rdma-ingest-bind ADDR:PORT (or [ingest] rdma_bind)\n");
		return -EINVAL;
	}
	if (cfg->net_listen[0] && strcmp(cfg->ingest, "rdma-read")) {
		fprintf(stderr, "difftrace-nic: --net-listen (network registration) needs --ingest rdma-read: a region "
			"registered over the network is reached by RDMA READ only\n");
		return -EINVAL;
	}
	if (cfg->tls_cert[0] || cfg->tls_key[0] || cfg->tls_ca[0]) {
		uint64_t id;
		char why[320];

		if (!cfg->tls_cert[0] || !cfg->tls_key[0] || !cfg->tls_ca[0]) {
			fprintf(stderr, "difftrace-nic: TLS needs --tls-cert, --tls-key and --tls-ca together\n");
			return -EINVAL;
		}
		if (strcmp(cfg->transport, "tcp")) {
			fprintf(stderr, "difftrace-nic: --tls-* apply to the tcp transport only\n");
			return -EINVAL;
		}
		/* the collector takes the sender id from the certificate: batches must carry the same */
		if (dft_tls_cert_file_sender_id(cfg->tls_cert, &id, why, sizeof(why)))
			return bad("--tls-cert", cfg->tls_cert, why);
		if (cfg->sender_id && cfg->sender_id != id) {
			fprintf(stderr, "difftrace-nic: --sender-id %016" PRIx64 " differs from the id %016" PRIx64
				" its certificate %s names\n", cfg->sender_id, id, cfg->tls_cert);
			return -EINVAL;
		}
		cfg->sender_id = id;
	}
	if (cfg->rdma_key[0]) {
		struct dft_rdma_key key;
		char why[512];
		int krc;

		if (strcmp(cfg->transport, "rdma")) {
			fprintf(stderr, "difftrace-nic: --rdma-key applies to the rdma transport only\n");
			return -EINVAL;
		}
		/* the key is the collector's for one sender id: a random id would never match it */
		if (!cfg->sender_id) {
			fprintf(stderr, "difftrace-nic: --rdma-key needs --sender-id (the id the collector's key is filed "
				"under)\n");
			return -EINVAL;
		}
		/* checked here, before EAL, so a key others can read stops the start (tx_rdma.c loads it) */
		krc = dft_rdma_key_load(cfg->rdma_key, &key, why, sizeof(why));
		OPENSSL_cleanse(&key, sizeof(key));
		if (krc)
			return bad("--rdma-key", cfg->rdma_key, why);
	}
	if (cfg->reg_allow.n == 0) {
		/* no rule given: the daemon's own uid and root, as the 0660 socket alone would allow */
		char spec[32], why[160];

		snprintf(spec, sizeof(spec), "uid=%u:*", (unsigned)geteuid());
		if (dft_reg_policy_add(&cfg->reg_allow, spec, why, sizeof(why)) ||
		    (geteuid() != 0 && dft_reg_policy_add(&cfg->reg_allow, "uid=0:*", why, sizeof(why))))
			return bad("[registration] allow", spec, why);
	}
	while (cfg->sender_id == 0)
		if (getrandom(&cfg->sender_id, sizeof(cfg->sender_id), 0) != sizeof(cfg->sender_id))
			return bad("--sender-id", "", "no default: getrandom failed");
	return 0;
}
