/* SPDX-License-Identifier: MIT */
/*
 * Reader of the Alibaba 2021 microservices CallGraph CSV:
 *     ,traceid,timestamp,rpcid,um,rpctype,dm,interface,rt
 * first column a row index, rt in ms (negative on the callee's row of a stateless RPC). Rows that
 * do not parse are counted by reason and skipped, each reported with its line number; strict mode
 * makes the first one an error. No quoting: the dataset has none, and a quote is a malformed row.
 */
#ifndef DFT_GEN_CSV_H
#define DFT_GEN_CSV_H

#include <stdint.h>
#include <stdio.h>

#define DFT_GEN_CSV_FIELD 64 /* longest field + NUL */
#define DFT_GEN_CSV_LINE  1024
#define DFT_GEN_CSV_DEPTH 32 /* rpcid components */

enum dft_gen_csv_bad {
	DFT_CSV_FIELD_COUNT = 0, /* not 9 fields */
	DFT_CSV_EMPTY_FIELD,     /* traceid, rpcid, um, rpctype or dm empty */
	DFT_CSV_BAD_NUMBER,      /* index, timestamp or rt not a number */
	DFT_CSV_BAD_RPCID,       /* not digits separated by single dots */
	DFT_CSV_TOO_LONG,        /* a field or the line over its bound */
	DFT_CSV_BAD_CHAR,        /* quote, backslash or control character */
	DFT_CSV_BAD_KINDS,
};

struct dft_gen_csv_row {
	uint64_t line;
	uint64_t index;
	char traceid[DFT_GEN_CSV_FIELD];
	uint64_t timestamp;
	char rpcid[DFT_GEN_CSV_FIELD];
	char um[DFT_GEN_CSV_FIELD];
	char rpctype[DFT_GEN_CSV_FIELD];
	char dm[DFT_GEN_CSV_FIELD];
	char interface[DFT_GEN_CSV_FIELD];
	double rt; /* ms */
};

typedef void (*dft_gen_csv_report_fn)(void *arg, uint64_t line, enum dft_gen_csv_bad why, const char *msg);

struct dft_gen_csv {
	FILE *f;
	const char *name;
	int strict;
	uint64_t line;
	uint64_t rows, malformed;
	uint64_t bad[DFT_CSV_BAD_KINDS];
	dft_gen_csv_report_fn report; /* NULL: messages go to stderr (first 20) */
	void *report_arg;
	char err[256]; /* the last message */
};

const char *dft_gen_csv_bad_name(enum dft_gen_csv_bad why);

/*
 * Parse one line (no newline; a trailing CR is ignored). Returns 0 or -(1 + enum dft_gen_csv_bad)
 * with a message naming the field in err.
 */
int dft_gen_csv_parse_line(const char *s, struct dft_gen_csv_row *row, char *err, size_t errlen);

/* Reads and checks the header line. Returns 0, -EINVAL (bad or missing header, message in err). */
int dft_gen_csv_open(struct dft_gen_csv *c, FILE *f, const char *name, int strict);
/* 1: a row; 0: end of file; -EINVAL: malformed row in strict mode; -EIO: read error. */
int dft_gen_csv_next(struct dft_gen_csv *c, struct dft_gen_csv_row *row);

#endif /* DFT_GEN_CSV_H */
