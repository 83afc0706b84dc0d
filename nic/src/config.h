/* SPDX-License-Identifier: MIT */
/* difftrace-nic's options: one key table (config.c). */
#ifndef DFT_NIC_CONFIG_H
#define DFT_NIC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filter.h"
#include "hold.h"
#include "profiler.h"
#include "reg_policy.h"
#include "tenant.h"

#define DFT_NIC_TRANSPORT_MAX 16u
struct dft_nic_config {
	char socket_path[108];
	char collector_host[256];
	char collector_port[16];
	char rdma_bind[256]; /* rdma: local address that picks the RDMA device (empty: by route) */
	char transport[DFT_NIC_TRANSPORT_MAX]; /* name of the dft_tx_ops to use ("tcp") */
	char ingest[DFT_NIC_TRANSPORT_MAX];    /* name of the dft_ingest_ops ("mmap") */
	char rdma_ingest_bind[256]; /* rdma-read: ADDR:PORT the daemon listens on for hosts' connections */
	char net_listen[256]; /* rdma-read: ADDR:PORT hosts on other machines register on (reg_net.c) */
	char tls_cert[256];         /* tcp: mutual TLS 1.3 (all three, or none: plain TCP) */
	char tls_key[256];
	char tls_ca[256];
	char rdma_key[256]; /* rdma: this sender's key file (dft/rdma_auth.h; empty: no handshake) */
	uint64_t sender_id;
	uint32_t batch_spans;
	uint32_t flush_us;
	uint32_t backlog;
	const char *stats_json;
	const char *ready_file;
	const char *config_file;
	bool busy_poll;
	bool evict_slots; /* mmap ingest: clflushopt each slot after copying it (see ingest_mmap.c) */
	bool ship_profiles;
	struct dft_reg_policy reg_allow; /* empty after parsing: the daemon's own uid and root, any component */
	int64_t reg_socket_gid;          /* -1: the daemon's group */
	uint32_t reg_await_ms;           /* a registration connection must send its message within */
	unsigned n_platform;
	char platform[DFT_NIC_MAX_PLATFORM][DFT_NAME_MAX + 1];
	uint32_t max_names;
	uint32_t max_children;   /* children table of the self-time rule */
	struct dft_tenants_cfg tenants;
	struct dft_filter_cfg filter;
	struct dft_prof_cfg prof;
	struct dft_hold_cfg hold;
};

/* Defaults of every option (what the parser starts from). */
void dft_nic_config_defaults(struct dft_nic_config *cfg);
/* Key i of the one key table (section, name, default as written in --help): 0, or -ENOENT past
 * the last. */
int dft_nic_config_key(unsigned i, const char **section, const char **name, const char **def);
/*
 * Parse the options after EAL's `--` (argv[0] is the program name): defaults, then the --config file,
 * then the other options (the command line wins). Returns 0, 1 (--help printed) or -EINVAL after
 * printing a message that names the bad option, or file:line and the key.
 */
int dft_nic_config_parse(struct dft_nic_config *cfg, int argc, char **argv);
/* Apply one `section.key=value` setting (what --set and each file line do). 0 or -EINVAL with why. */
int dft_nic_config_set(struct dft_nic_config *cfg, const char *section, const char *key, const char *value,
		       char *why, size_t why_len);
/* Load an INI file over cfg. 0, -ENOENT (cannot open) or -EINVAL; the message names file:line. */
int dft_nic_config_load(struct dft_nic_config *cfg, const char *path);
void dft_nic_usage(const char *prog);

#endif /* DFT_NIC_CONFIG_H */
