/* SPDX-License-Identifier: MIT */
/*
 * An append-only file that holds whole lines only, for the OTLP JSON sink. A reader (an
 * OpenTelemetry Collector tailing the file, jq, a test) must never meet a torn line: each line goes
 * out in one write(); a short write (disk full, EIO, a file size limit) is cut back to the line's
 * start at once; and a file that already ends in a partial line (the collector was killed mid-write,
 * or the cut itself failed) is cut back to its last newline when it is opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "line_file.h"

#define SCAN_CHUNK (64u << 10)

/* The size of the file once a partial last line is cut off (size itself when it ends in '\n'). */
static int whole_lines_size(int fd, uint64_t size, uint64_t *keep)
{
	char buf[SCAN_CHUNK];
	uint64_t end = size;

	while (end > 0) {
		size_t n = end < SCAN_CHUNK ? (size_t)end : SCAN_CHUNK;
		ssize_t got = pread(fd, buf, n, (off_t)(end - n));

		if (got < 0 && errno == EINTR)
			continue;
		if (got != (ssize_t)n)
			return got < 0 ? -errno : -EIO;
		for (size_t i = n; i > 0; i--) {
			if (buf[i - 1] == '\n') {
				*keep = end - n + i;
				return 0;
			}
		}
		end -= n;
	}
	*keep = 0; /* not one newline: nothing in it is a line */
	return 0;
}

/* Cuts a partial last line off the open file; counted and logged. */
static int cut_torn_tail(struct dft_line_file *lf, const char *path)
{
	struct stat st;
	uint64_t keep;
	int rc;

	if (fstat(lf->fd, &st))
		return -errno;
	rc = whole_lines_size(lf->fd, (uint64_t)st.st_size, &keep);
	if (rc)
		return rc;
	if (keep < (uint64_t)st.st_size) {
		if (ftruncate(lf->fd, (off_t)keep))
			return -errno;
		lf->torn_cut++;
		lf->torn_bytes += (uint64_t)st.st_size - keep;
		fprintf(stderr,
		        "difftrace-collector: %s: cut a partial last line (%llu bytes after the last newline: an "
		        "earlier crash or write error)\n",
		        path, (unsigned long long)((uint64_t)st.st_size - keep));
	}
	lf->bytes = keep;
	return 0;
}

int dft_line_file_open(struct dft_line_file *lf, const char *path)
{
	int rc;

	/* read too: the tail is inspected; append: a restarted collector continues the same file */
	lf->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
	if (lf->fd < 0)
		return -errno;
	lf->cut_pending = false;
	rc = cut_torn_tail(lf, path);
	if (rc) {
		close(lf->fd);
		lf->fd = -1;
	}
	return rc;
}

int dft_line_file_write(struct dft_line_file *lf, const void *p, size_t n)
{
	size_t done = 0;
	off_t start;
	int rc;

	if (lf->fd < 0)
		return -EIO; /* a failed reopen or rotation: fails the round, the senders resend */
	/* an earlier cut that failed: the file must end in a whole line before anything is added */
	if (lf->cut_pending) {
		if (ftruncate(lf->fd, (off_t)lf->bytes))
			return -errno;
		lf->cut_pending = false;
	}
	start = lseek(lf->fd, 0, SEEK_END);
	if (start < 0)
		return -errno;
	while (done < n) {
		ssize_t w = write(lf->fd, (const char *)p + done, n - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rc = w < 0 ? -errno : -EIO;
			goto undo;
		}
		done += (size_t)w;
	}
	lf->bytes = (uint64_t)start + n;
	return 0;

undo:
	/* part of the line may be in the file: take it back (the round fails and is resent whole) */
	lf->write_errors++;
	lf->bytes = (uint64_t)start;
	if (done && ftruncate(lf->fd, start))
		lf->cut_pending = true;
	return rc;
}

void dft_line_file_close(struct dft_line_file *lf)
{
	if (lf->fd >= 0)
		close(lf->fd);
	lf->fd = -1;
}
