/* SPDX-License-Identifier: MIT */
/*
 * A bounded growing text buffer: the collector's JSON (backend json.h) and the views' pages
 * (tools/view text.h) are written into it. Past max nothing more is taken and overflow is set, so a
 * writer checks once at the end instead of after every piece; what a peer sent can never make it
 * grow without bound.
 */
#ifndef DFT_BUF_H
#define DFT_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct dft_buf {
	char *p;
	size_t len;
	size_t cap;
	size_t max;    /* never grows past this */
	bool overflow; /* something was cut: the content is unusable */
};

void dft_buf_init(struct dft_buf *b, size_t max);
void dft_buf_free(struct dft_buf *b);
/* Empty again (and no longer overflowed), keeping the memory. */
void dft_buf_reset(struct dft_buf *b);
/* Room for n more bytes plus a NUL, for writing into p[len..] directly; false (and overflow set)
 * past max or without memory. */
bool dft_buf_reserve(struct dft_buf *b, size_t n);
void dft_buf_put(struct dft_buf *b, const char *s, size_t n);
void dft_buf_puts(struct dft_buf *b, const char *s);
/* For short fragments (numbers, fixed words): a result of 512 bytes or more overflows the buffer. */
void dft_buf_printf(struct dft_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* DFT_BUF_H */
