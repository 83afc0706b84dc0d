/* SPDX-License-Identifier: MIT */
/*
 * Configuration: defaults, then one INI file (--config, read with libinih), then the command line,
 * which wins (config_args.c). Every file key is also settable as --set section.key=value, so the
 * two cannot drift apart: both go through dft_nic_config_set, over the one key table here. Every
 * error names the option, or file:line and the key; main exits 2 on -EINVAL.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dft/parse.h"
#include "config.h"

enum key_type { K_BOOL, K_U32, K_US, K_MS, K_MULT, K_SPECIAL };

struct key {
	const char *section, *name;
	enum key_type type;
	uint64_t lo, hi; /* K_U32, K_US, K_MS: the range in the key's own unit */
	const char *def, *help;
};

/* The one list of keys: --help, docs/filter.md and the parser all follow it. */
static const struct key keys[] = {
	{"filter", "keep_function", K_BOOL, 0, 0, "true", "keep every span of a function component"},
	{"filter", "keep_error", K_BOOL, 0, 0, "true", "keep status ERROR / exception spans"},
	{"filter", "keep_explicit", K_BOOL, 0, 0, "true", "keep spans flagged DFT_SF_KEEP"},
	{"filter", "keep_cold_start", K_BOOL, 0, 0, "true", "keep spans flagged DFT_SF_COLD_START"},
	{"filter", "queueing", K_BOOL, 0, 0, "true", "queueing rule on/off"},
	{"filter", "queue_floor_us", K_US, 0, 3600000000ull, "5000", "keep when queue_ns > this (0 = no floor)"},
	{"filter", "queue_p99_multiple", K_MULT, 0, 0, "4", "keep when queue_ns > this x component queue p99"},
	{"filter", "queue_min_samples", K_U32, 1, UINT32_MAX, "200", "component samples before the multiple applies"},
	{"filter", "outlier", K_BOOL, 0, 0, "true", "latency outlier rule on/off"},
	{"filter", "outlier_multiple", K_MULT, 0, 0, "10", "an outlier's self time is >= this x its (component, op) median"},
	{"filter", "outlier_warmup", K_U32, 1, UINT32_MAX, "8", "samples before the key's median judges"},
	{"filter", "outlier_ceiling_ms", K_MS, 0, 3600000, "1000", "warm-up: keep when duration > this (0 = off)"},
	{"filter", "contention", K_BOOL, 0, 0, "true", "resource contention rule on/off"},
	{"filter", "cpu_throttle_ppm", K_U32, 0, 1000000, "200000", "contended at cpu_throttle_ppm >= this (0 = off)"},
	{"filter", "mem_pressure_ppm", K_U32, 0, 1000000, "800000", "contended at mem_pressure_ppm >= this (0 = off)"},
	{"filter", "concurrency_at_limit", K_BOOL, 0, 0, "true", "contended at concurrency >= limit (limit > 0)"},
	{"filter", "metrics_refresh_us", K_US, 1, 10000000, "1000", "re-read a region's metrics page at most this often"},
	{"filter", "platform_components", K_SPECIAL, 0, 0, "", "names always treated as platform (a,b,c)"},
	{"profiler", "interval_ms", K_MS, 1, 3600000, "1000", "refresh thresholds (span time), ship a Profile (NIC time)"},
	{"profiler", "rotate_intervals", K_U32, 1, 1000000, "10", "windows drop their older half every N intervals of span time"},
	{"profiler", "min_window", K_U32, 1, 1u << 30, "64", "... once their newer half holds this many samples"},
	{"profiler", "clock_jump_ms", K_MS, 1, 86400000, "60000", "a span this far behind its key's span time restarts the key's clock"},
	{"profiler", "max_children", K_U32, 4, 1u << 24, "65536", "spans whose children's time is remembered for self time"},
	{"profiler", "max_keys", K_U32, 2, 1u << 20, "1024", "(component, operation) keys + one per component"},
	{"profiler", "max_names", K_U32, 1, 65535, "4096", "NIC-global name table"},
	{"profiler", "ship_profiles", K_BOOL, 0, 0, "true", "send a Profile in the batch stream each interval"},
	{"hold", "enabled", K_BOOL, 0, 0, "true", "hold would-be-filtered platform spans (retroactive keep)"},
	{"hold", "max_spans", K_U32, 1, 1u << 24, "65536", "spans the window holds at most"},
	{"hold", "hold_ms", K_MS, 1, 3600000, "500", "hold time of a trace from its first held span (span time)"},
	{"hold", "remember_traces", K_U32, 0, 1u << 24, "16384", "anomalous trace ids remembered"},
	{"hold", "remember_ms", K_MS, 1, 3600000, "2000", "how long an anomalous trace id is remembered"},
	{"hold", "retro", K_SPECIAL, 0, 0, "path", "what an anomaly keeps of its trace: path (its ancestors) or trace"},
	{"batch", "spans", K_U32, 1, 65536, "256", "spans per batch"},
	{"batch", "flush_us", K_U32, 1, 60000000, "1000", "close a non-empty batch after this"},
	{"batch", "backlog", K_U32, 1, 1u << 20, "1024", "unacknowledged batches kept for resend"},
	{"transport", "type", K_SPECIAL, 0, 0, "tcp", "transport to the collector"},
	{"transport", "collector", K_SPECIAL, 0, 0, "", "HOST:PORT of difftrace-collector"},
	{"transport", "sender_id", K_SPECIAL, 0, 0, "random", "64-bit sender id (hex, non-zero)"},
	{"transport", "rdma_bind", K_SPECIAL, 0, 0, "", "rdma: local address picking the RDMA device"},
	{"transport", "tls_cert", K_SPECIAL, 0, 0, "", "tcp: this NIC's certificate (names its sender id)"},
	{"transport", "tls_key", K_SPECIAL, 0, 0, "", "tcp: its private key (0600)"},
	{"transport", "tls_ca", K_SPECIAL, 0, 0, "", "tcp: CA the collector's certificate must chain to"},
	{"transport", "rdma_key", K_SPECIAL, 0, 0, "", "rdma: this sender's key file (hex, 0600)"},
	{"ingest", "socket", K_SPECIAL, 0, 0, "", "Unix socket hosts register their regions on"},
	{"ingest", "backend", K_SPECIAL, 0, 0, "mmap", "how slots are read out of a region"},
	{"ingest", "rdma_bind", K_SPECIAL, 0, 0, "", "rdma-read: ADDR:PORT hosts connect their MR to"},
	{"ingest", "listen", K_SPECIAL, 0, 0, "", "rdma-read: ADDR:PORT hosts on other machines register on (rdma_cm)"},
	{"ingest", "busy_poll", K_BOOL, 0, 0, "false", "never sleep when idle"},
	{"ingest", "evict", K_BOOL, 0, 0, "true", "mmap: evict a slot's lines from this core's cache once read"},
	{"registration", "socket_group", K_SPECIAL, 0, 0, "", "group of the registration socket (mode 0660)"},
	{"registration", "allow", K_SPECIAL, 0, 0, "", "uid=ID:a,b or gid=ID:* (adds a rule; none: own uid, root)"},
	{"registration", "await_ms", K_MS, 1, 60000, "2000", "close a registration connection silent this long"},
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

#ifdef DFT_HAVE_RDMA
static const char *const transports[] = {"tcp", "rdma"};
#else
static const char *const transports[] = {"tcp"};
#endif
#ifdef DFT_HAVE_RDMA
static const char *const ingests[] = {"mmap", "dmadev", "rdma-read"};
#else
static const char *const ingests[] = {"mmap", "dmadev"};
#endif

void dft_nic_usage(const char *prog)
{
	printf("usage: %s [EAL args] -- --socket PATH --collector HOST:PORT [options]\n"
	       "  --config FILE              INI file (sections below); command-line options override it\n"
	       "  --set SECTION.KEY=VALUE    set one file key from the command line\n"
	       "  --socket PATH              Unix socket hosts register their regions on   [ingest] socket\n"
	       "  --collector HOST:PORT      difftrace-collector TCP address            [transport] collector\n"
	       "  --transport NAME           transport: tcp, rdma (when built with verbs)    [transport] type\n"
	       "  --rdma-bind ADDR           rdma: local address picking the device     [transport] rdma_bind\n"
	       "  --ingest NAME              mmap, dmadev (EAL --vdev=dma_skeleton), rdma-read [ingest] backend\n"
	       "  --rdma-ingest-bind A:P     rdma-read: where hosts connect their MR       [ingest] rdma_bind\n"
	       "  --net-listen A:P           rdma-read: network registration (rdma_cm)       [ingest] listen\n"
	       "  --sender-id HEX            64-bit sender id (default: random)         [transport] sender_id\n"
	       "  --batch-spans N            spans per batch (default 256)                    [batch] spans\n"
	       "  --flush-us N               close a non-empty batch after N us (default 1000) [batch] flush_us\n"
	       "  --backlog N                unacknowledged batches kept for resend (1024)   [batch] backlog\n"
	       "  --stats-json FILE          counters, rewritten every second and at exit\n"
	       "  --ready-file FILE          written once the socket listens\n"
	       "  --platform-components a,b  names always platform       [filter] platform_components\n"
	       "  --hold / --no-hold         hold window on / off                           [hold] enabled\n"
	       "  --busy-poll                never sleep when idle                      [ingest] busy_poll\n"
	       "  --socket-group GROUP       group of the 0660 socket         [registration] socket_group\n"
	       "  --tls-cert/--tls-key/--tls-ca FILE  tcp over mutual TLS 1.3; the sender id is the\n"
	       "                             certificate's               [transport] tls_cert/tls_key/tls_ca\n"
	       "  --reg-allow uid=ID:a,b|gid=ID:*  who may register what (repeat)  [registration] allow\n"
	       "  --rdma-key FILE            rdma: the key this sender proves (0600)     [transport] rdma_key\n"
	       "  --help\n"
	       "config keys (default):\n",
	       prog);
	for (size_t i = 0; i < N_KEYS; i++) {
		char name[64];

		snprintf(name, sizeof(name), "[%s] %s", keys[i].section, keys[i].name);
		printf("  %-34s %-8s %s\n", name, keys[i].def[0] ? keys[i].def : "-", keys[i].help);
	}
}

static int why_set(char *why, size_t len, const char *fmt, const char *a)
{
	snprintf(why, len, fmt, a);
	return -EINVAL;
}

/* v into a fixed-size field, or the too_long message (one %s: v). */
static int set_str(char *dst, size_t size, const char *v, const char *too_long, char *why, size_t wl)
{
	if (strlen(v) >= size)
		return why_set(why, wl, too_long, v);
	snprintf(dst, size, "%s", v);
	return 0;
}

static int parse_bool(const char *s, bool *out)
{
	if (!strcasecmp(s, "true") || !strcasecmp(s, "yes") || !strcasecmp(s, "on") || !strcmp(s, "1"))
		*out = true;
	else if (!strcasecmp(s, "false") || !strcasecmp(s, "no") || !strcasecmp(s, "off") || !strcmp(s, "0"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int parse_collector(struct dft_nic_config *cfg, const char *s, char *why, size_t wl)
{
	char buf[sizeof(cfg->collector_host) + 8];
	const char *host;
	uint16_t port;

	if (strlen(s) >= sizeof(buf))
		return why_set(why, wl, "host name too long%s", "");
	memcpy(buf, s, strlen(s) + 1);
	if (dft_parse_hostport(buf, 1, &host, &port))
		return why_set(why, wl, "expected HOST:PORT with a port in 1..65535%s", "");
	if (strlen(host) >= sizeof(cfg->collector_host))
		return why_set(why, wl, "host name too long%s", "");
	snprintf(cfg->collector_host, sizeof(cfg->collector_host), "%s", host);
	snprintf(cfg->collector_port, sizeof(cfg->collector_port), "%u", port);
	return 0;
}

static int parse_platform(struct dft_nic_config *cfg, const char *s, char *why, size_t wl)
{
	const char *p = s;
	unsigned n_platform = 0;

	while (*p) {
		size_t n = strcspn(p, ",");

		if (n == 0 || n > DFT_NAME_MAX)
			return why_set(why, wl, "empty or over-long component name%s", "");
		if (n_platform >= DFT_NIC_MAX_PLATFORM)
			return why_set(why, wl, "too many names (max 32)%s", "");
		memcpy(cfg->platform[n_platform], p, n);
		cfg->platform[n_platform++][n] = 0;
		p += n;
		if (*p == ',')
			p++;
	}
	cfg->n_platform = n_platform;
	return 0;
}

static int pick(const char *const *names, size_t n, const char *v, char *out, char *why, size_t wl)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(names[i], v)) {
			snprintf(out, DFT_NIC_TRANSPORT_MAX, "%s", v);
			return 0;
		}
	return why_set(why, wl, "unknown name '%s'", v);
}

static int set_special(struct dft_nic_config *cfg, const struct key *k, const char *v, char *why, size_t wl)
{
	if (!strcmp(k->name, "platform_components"))
		return parse_platform(cfg, v, why, wl);
	if (!strncmp(k->name, "tls_", 4)) {
		char *dst = !strcmp(k->name, "tls_cert") ? cfg->tls_cert : !strcmp(k->name, "tls_key") ? cfg->tls_key
												     : cfg->tls_ca;

		return set_str(dst, sizeof(cfg->tls_cert), v, "path too long: %s", why, wl);
	}
	if (!strcmp(k->name, "allow"))
		return dft_reg_policy_add(&cfg->reg_allow, v, why, wl);
	if (!strcmp(k->name, "rdma_key"))
		return set_str(cfg->rdma_key, sizeof(cfg->rdma_key), v, "path too long: %s", why, wl);
	if (!strcmp(k->name, "socket_group")) {
		struct dft_reg_policy tmp = {0};
		char spec[80];

		/* the same name-or-number lookup as an allow rule's */
		if (snprintf(spec, sizeof(spec), "gid=%s:*", v) >= (int)sizeof(spec) ||
		    dft_reg_policy_add(&tmp, spec, why, wl))
			return why_set(why, wl, "unknown group '%s'", v);
		cfg->reg_socket_gid = tmp.rule[0].id;
		return 0;
	}
	if (!strcmp(k->name, "retro")) {
		if (strcmp(v, "path") && strcmp(v, "trace"))
			return why_set(why, wl, "'%s': expected path or trace", v);
		cfg->hold.retro_path = !strcmp(v, "path");
		return 0;
	}
	if (!strcmp(k->name, "type"))
		return pick(transports, sizeof(transports) / sizeof(transports[0]), v, cfg->transport, why, wl);
	if (!strcmp(k->name, "backend")) {
#ifndef DFT_HAVE_RDMA
		if (!strcmp(v, "rdma-read"))
			return why_set(why, wl, "'%s' needs a build with libibverbs and librdmacm", v);
#endif
		return pick(ingests, sizeof(ingests) / sizeof(ingests[0]), v, cfg->ingest, why, wl);
	}
	if (!strcmp(k->name, "rdma_bind") && !strcmp(k->section, "ingest")) {
		char buf[sizeof(cfg->rdma_ingest_bind)];
		const char *host;
		uint16_t port;

		if (snprintf(buf, sizeof(buf), "%s", v) >= (int)sizeof(buf) || dft_parse_hostport(buf, 0, &host, &port))
			return why_set(why, wl, "expected ADDR:PORT (port 0: any free one), got '%s'", v);
		snprintf(cfg->rdma_ingest_bind, sizeof(cfg->rdma_ingest_bind), "%s", v);
		return 0;
	}
	if (!strcmp(k->name, "listen")) {
		char buf[sizeof(cfg->net_listen)];
		const char *host;
		uint16_t port;

#ifndef DFT_HAVE_RDMA
		return why_set(why, wl, "network registration needs a build with libibverbs and librdmacm%s", "");
#endif
		if (snprintf(buf, sizeof(buf), "%s", v) >= (int)sizeof(buf) || dft_parse_hostport(buf, 1, &host, &port))
			return why_set(why, wl, "expected ADDR:PORT (a fixed port: hosts are configured with it), got '%s'", v);
		snprintf(cfg->net_listen, sizeof(cfg->net_listen), "%s", v);
		return 0;
	}
	if (!strcmp(k->name, "collector"))
		return parse_collector(cfg, v, why, wl);
	if (!strcmp(k->name, "rdma_bind"))
		return set_str(cfg->rdma_bind, sizeof(cfg->rdma_bind), v, "address too long: %s", why, wl);
	if (!strcmp(k->name, "sender_id")) {
		char *end;

		errno = 0;
		cfg->sender_id = strtoull(v, &end, 16);
		if (errno || end == v || *end || v[0] == '-' || v[0] == '+' || cfg->sender_id == 0)
			return why_set(why, wl, "expected a non-zero 64-bit hex number%s", "");
		return 0;
	}
	if (!strcmp(k->name, "socket")) {
		if (!v[0] || strlen(v) >= sizeof(cfg->socket_path))
			return why_set(why, wl, "empty or longer than a Unix socket path%s", "");
		snprintf(cfg->socket_path, sizeof(cfg->socket_path), "%s", v);
		return 0;
	}
	return why_set(why, wl, "unhandled key%s", "");
}

/* Where each numeric or boolean key lands. */
static void store(struct dft_nic_config *cfg, const struct key *k, uint64_t u, double d, bool b)
{
	struct dft_filter_cfg *f = &cfg->filter;
	const char *s = k->section, *n = k->name;

#define IS(sec, name) (!strcmp(s, sec) && !strcmp(n, name))
	if (IS("filter", "keep_function")) f->keep_function = b;
	else if (IS("filter", "keep_error")) f->keep_error = b;
	else if (IS("filter", "keep_explicit")) f->keep_explicit = b;
	else if (IS("filter", "keep_cold_start")) f->keep_cold_start = b;
	else if (IS("filter", "queueing")) f->queueing = b;
	else if (IS("filter", "queue_floor_us")) f->queue_floor_ns = u;
	else if (IS("filter", "queue_p99_multiple")) f->queue_p99_multiple = cfg->prof.queue_p99_multiple = d;
	else if (IS("filter", "queue_min_samples")) f->queue_min_samples = cfg->prof.queue_min_samples = (uint32_t)u;
	else if (IS("filter", "outlier")) f->outlier = b;
	else if (IS("filter", "outlier_multiple")) f->outlier_multiple = cfg->prof.outlier_multiple = d;
	else if (IS("filter", "outlier_warmup")) f->outlier_warmup = cfg->prof.outlier_warmup = (uint32_t)u;
	else if (IS("filter", "outlier_ceiling_ms")) f->outlier_ceiling_ns = u;
	else if (IS("filter", "contention")) f->contention = b;
	else if (IS("filter", "cpu_throttle_ppm")) f->cpu_throttle_ppm = (uint32_t)u;
	else if (IS("filter", "mem_pressure_ppm")) f->mem_pressure_ppm = (uint32_t)u;
	else if (IS("filter", "concurrency_at_limit")) f->concurrency_at_limit = b;
	else if (IS("filter", "metrics_refresh_us")) f->metrics_refresh_ns = u;
	else if (IS("profiler", "interval_ms")) cfg->prof.interval_ns = u;
	else if (IS("profiler", "rotate_intervals")) cfg->prof.rotate_intervals = (uint32_t)u;
	else if (IS("profiler", "min_window")) cfg->prof.min_window = (uint32_t)u;
	else if (IS("profiler", "clock_jump_ms")) cfg->prof.clock_jump_ns = u;
	else if (IS("profiler", "max_children")) cfg->max_children = (uint32_t)u;
	else if (IS("profiler", "max_keys")) cfg->prof.max_keys = (uint32_t)u;
	else if (IS("profiler", "max_names")) cfg->max_names = (uint32_t)u;
	else if (IS("profiler", "ship_profiles")) cfg->ship_profiles = b;
	else if (IS("hold", "enabled")) cfg->hold.enabled = b;
	else if (IS("hold", "max_spans")) cfg->hold.max_spans = (uint32_t)u;
	else if (IS("hold", "hold_ms")) cfg->hold.hold_ns = u;
	else if (IS("hold", "remember_traces")) cfg->hold.remember_traces = (uint32_t)u;
	else if (IS("hold", "remember_ms")) cfg->hold.remember_ns = u;
	else if (IS("batch", "spans")) cfg->batch_spans = (uint32_t)u;
	else if (IS("batch", "flush_us")) cfg->flush_us = (uint32_t)u;
	else if (IS("batch", "backlog")) cfg->backlog = (uint32_t)u;
	else if (IS("ingest", "busy_poll")) cfg->busy_poll = b;
	else if (IS("ingest", "evict")) cfg->evict_slots = b;
	else if (IS("registration", "await_ms")) cfg->reg_await_ms = (uint32_t)(u / 1000000u);
#undef IS
}

int dft_nic_config_set(struct dft_nic_config *cfg, const char *section, const char *key, const char *value,
		       char *why, size_t why_len)
{
	/* [tenant.NAME] sections (and --set tenant.NAME.key=value) name a tenant each: tenant.c */
	if (!strncmp(section, "tenant.", 7))
		return dft_tenants_cfg_set(&cfg->tenants, section + 7, key, value, why, why_len);
	if (!strcmp(section, "tenant")) {
		const char *dot = strrchr(key, '.');
		char name[DFT_NAME_MAX + 1];

		if (!dot || dot == key || (size_t)(dot - key) > DFT_NAME_MAX)
			return why_set(why, why_len, "expected tenant.NAME.KEY%s", "");
		memcpy(name, key, (size_t)(dot - key));
		name[dot - key] = 0;
		return dft_tenants_cfg_set(&cfg->tenants, name, dot + 1, value, why, why_len);
	}
	const struct key *k = NULL;
	uint64_t u = 0;
	double d = 0;
	bool b = false;
	char *end;

	for (size_t i = 0; i < N_KEYS && !k; i++)
		if (!strcmp(keys[i].section, section) && !strcmp(keys[i].name, key))
			k = &keys[i];
	if (!k)
		return why_set(why, why_len, "unknown key%s", "");
	switch (k->type) {
	case K_BOOL:
		if (parse_bool(value, &b))
			return why_set(why, why_len, "expected true or false, got '%s'", value);
		break;
	case K_U32:
	case K_US:
	case K_MS:
		if (dft_parse_u64(value, k->lo, k->hi, &u)) {
			char range[96];

			snprintf(range, sizeof(range), "expected an integer in %" PRIu64 "..%" PRIu64 ", got '%%s'", k->lo,
				 k->hi);
			return why_set(why, why_len, range, value);
		}
		u = k->type == K_US ? u * 1000u : k->type == K_MS ? u * 1000000u : u;
		break;
	case K_MULT:
		errno = 0;
		d = strtod(value, &end);
		if (errno || end == value || *end || !isfinite(d) || d < 1.0 || d > 1000.0)
			return why_set(why, why_len, "expected a number in 1..1000, got '%s'", value);
		break;
	case K_SPECIAL:
		return set_special(cfg, k, value, why, why_len);
	}
	store(cfg, k, u, d, b);
	return 0;
}

/*
 * Every default comes from keys[]: each key's default string goes through the same parser as a
 * value from a file, so --help, the parser and the daemon cannot disagree (and the docs table is
 * checked against keys[] by test_nic_config). "random" and empty defaults mean "set later" or "none".
 */
void dft_nic_config_defaults(struct dft_nic_config *cfg)
{
	char why[160];

	memset(cfg, 0, sizeof(*cfg));
	dft_tenants_cfg_defaults(&cfg->tenants);
	cfg->reg_socket_gid = -1;
	for (size_t i = 0; i < N_KEYS; i++) {
		if (!keys[i].def[0] || !strcmp(keys[i].def, "random"))
			continue;
		/* cannot fail: a default the parser refuses is caught by test_nic_config */
		if (dft_nic_config_set(cfg, keys[i].section, keys[i].name, keys[i].def, why, sizeof(why)))
			abort();
	}
}

void dft_filter_cfg_defaults(struct dft_filter_cfg *c)
{
	struct dft_nic_config cfg;

	dft_nic_config_defaults(&cfg);
	*c = cfg.filter;
}

void dft_prof_cfg_defaults(struct dft_prof_cfg *c)
{
	struct dft_nic_config cfg;

	dft_nic_config_defaults(&cfg);
	*c = cfg.prof;
}

int dft_nic_config_key(unsigned i, const char **section, const char **name, const char **def)
{
	if (i >= N_KEYS)
		return -ENOENT;
	*section = keys[i].section;
	*name = keys[i].name;
	*def = keys[i].def;
	return 0;
}
