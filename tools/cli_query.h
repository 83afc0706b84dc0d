/* SPDX-License-Identifier: MIT */
/*
 * difftrace traces / show / stats / dump over a SQLite store: every span as readers see it, the
 * reported rows plus the platform spans rebuilt from the stored hop lists (trace_read.h).
 * Commands return the process exit code (DFT_EXIT_*).
 */
#ifndef DFT_CLI_QUERY_H
#define DFT_CLI_QUERY_H

#include <stdbool.h>
#include <stdint.h>

enum {
	DFT_EXIT_OK = 0,
	DFT_EXIT_RUNTIME = 1,   /* the store cannot be opened or read, out of memory */
	DFT_EXIT_USAGE = 2,     /* bad command line */
	DFT_EXIT_NOT_FOUND = 3, /* show: no such trace in the store */
};

struct dft_query_opts {
	const char *db;
	bool json;
	long limit;          /* traces: at most this many (default 20) */
	const char *service; /* traces: a span of this component (reported or rebuilt) */
	uint64_t min_duration_ns;
	bool errors;       /* traces: with an error span */
	uint64_t since_ns; /* traces: ending at or after this time (unix ns); 0: any */
};

int dft_cli_traces(const struct dft_query_opts *o);
int dft_cli_show(const struct dft_query_opts *o, const char *trace_hex);
int dft_cli_stats(const struct dft_query_opts *o);
/* Every span of the store, one JSON object a line (for scripts and tests). */
int dft_cli_dump(const struct dft_query_opts *o);
struct sqlite3;
/* stats: the accounts per (sender, NIC epoch) (cli_epochs.c); text rows or, with json, the
 * elements of a JSON array. */
int dft_cli_print_epochs(bool json, struct sqlite3 *db);

#endif /* DFT_CLI_QUERY_H */
