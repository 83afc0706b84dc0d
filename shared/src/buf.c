/* SPDX-License-Identifier: MIT */
/* A bounded growing text buffer (dft/buf.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dft/buf.h"

void dft_buf_init(struct dft_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void dft_buf_free(struct dft_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

void dft_buf_reset(struct dft_buf *b)
{
	b->len = 0;
	b->overflow = false;
	if (b->p)
		b->p[0] = '\0';
}

bool dft_buf_reserve(struct dft_buf *b, size_t n)
{
	size_t need, ncap;
	char *np;

	if (b->overflow)
		return false;
	need = b->len + n + 1;
	if (need <= b->cap)
		return true;
	if (need > b->max || need < n) { /* need < n: n so large the sum wrapped */
		b->overflow = true;
		return false;
	}
	ncap = b->cap ? b->cap : 4096;
	while (ncap < need)
		ncap *= 2;
	if (ncap > b->max)
		ncap = b->max;
	np = realloc(b->p, ncap);
	if (!np) {
		b->overflow = true;
		return false;
	}
	b->p = np;
	b->cap = ncap;
	return true;
}

void dft_buf_put(struct dft_buf *b, const char *s, size_t n)
{
	if (!dft_buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void dft_buf_puts(struct dft_buf *b, const char *s)
{
	dft_buf_put(b, s, strlen(s));
}

void dft_buf_printf(struct dft_buf *b, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		/* only numbers and fixed words go through here */
		b->overflow = true;
		return;
	}
	dft_buf_put(b, tmp, (size_t)n);
}
