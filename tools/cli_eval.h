/* SPDX-License-Identifier: MIT */
/*
 * `difftrace eval`: the generator's ground truth against what the collector stored. It measures; it
 * does not judge (docs/evaluation.md defines every number).
 */
#ifndef DFT_CLI_EVAL_H
#define DFT_CLI_EVAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DFT_EVAL_LOST_REASONS 6

extern const char *const dft_eval_lost_names[DFT_EVAL_LOST_REASONS];

struct dft_eval {
	/* truth against store */
	uint64_t truth_spans;
	uint64_t anomalous_total, anomalous_reported;
	uint64_t platform_normal_total, platform_normal_reported;
	uint64_t function_total, function_reported;
	uint64_t traces_total, traces_complete;
	uint64_t recon_spans;                           /* truth spans the store holds only as reconstructed */
	uint64_t recon_zero_duration;                   /* ... of which the true duration is 0 (no relative error) */
	double recon_rel_err_median, recon_rel_err_p90; /* valid when recon_spans > recon_zero_duration */
	/* the store */
	uint64_t store_spans, store_reported, store_reconstructed, store_duplicates, store_not_in_truth;
	/* accounting */
	const char *accounting_source; /* "nic-stats", "collector-stats" or "db" */
	bool have_counters;
	uint64_t produced, reported, filtered, lost;
	uint64_t lost_by_reason[DFT_EVAL_LOST_REASONS];
	bool accounting_ok;
};

/*
 * Computes every metric. nic_stats and collector_stats may be NULL (accounting then comes from the
 * senders table). Returns 0, or -errno with a message naming the file (and line) in err.
 */
int dft_eval_compute(const char *truth, const char *db, const char *nic_stats, const char *collector_stats,
                     struct dft_eval *out, char *err, size_t errlen);

/* `difftrace eval ARGS`: argv[0] is "eval". Exit code: 0, 1 runtime error, 2 usage error. */
int dft_cli_eval(int argc, char **argv);

#endif /* DFT_CLI_EVAL_H */
