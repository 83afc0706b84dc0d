/* SPDX-License-Identifier: MIT */
/* An append-only file of whole lines (line_file.c). */
#ifndef DFT_LINE_FILE_H
#define DFT_LINE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dft_line_file {
	int fd;                /* -1: not open */
	uint64_t bytes;        /* size of the open file: it ends in a whole line there */
	bool cut_pending;      /* a short write could not be cut back: retried before the next write */
	uint64_t torn_cut;     /* partial last lines cut off at open (a crash or write error before) */
	uint64_t torn_bytes;   /* their bytes */
	uint64_t write_errors; /* lines not written: a failed or short write, cut back to the line start */
};

/* Opens (creates) path for appending and cuts a partial last line off (counted, logged). */
int dft_line_file_open(struct dft_line_file *lf, const char *path);
/* Appends the n bytes (whole lines) in one write(); on failure nothing of them stays. 0 or -errno. */
int dft_line_file_write(struct dft_line_file *lf, const void *p, size_t n);
void dft_line_file_close(struct dft_line_file *lf);

#endif /* DFT_LINE_FILE_H */
