/* SPDX-License-Identifier: MIT */
/*
 * W3C Trace Context "traceparent" header:
 *
 *   version "-" trace-id "-" parent-id "-" trace-flags
 *   00      -   32 hex   -   16 hex    -   2 hex        (55 characters for version 00)
 *
 * Only lowercase hex is valid. Version ff is forbidden. A version-00 header is exactly 55
 * characters; a later version may carry more fields after a '-' following the flags, and a parser
 * that knows only 00 reads the 00 fields of it and ignores the rest. All-zero ids are invalid.
 */
#include <errno.h>
#include <string.h>

#include "host_internal.h"

#define DFT_TP_LEN 55u

static const char dft_hex_digit[] = "0123456789abcdef";

static int dft_hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* n hex digits -> n/2 bytes; false on anything but lowercase hex */
static bool dft_hex_decode(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i += 2) {
		int hi = dft_hex_val(s[i]), lo = dft_hex_val(s[i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static void dft_hex_encode(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = dft_hex_digit[p[i] >> 4];
		out[2 * i + 1] = dft_hex_digit[p[i] & 15];
	}
}

static bool dft_all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

int dft_traceparent_inject(const struct dft_ctx *ctx, char *buf, size_t len)
{
	uint8_t span[8];

	if (!ctx || !buf)
		return -EINVAL;
	if (len < DFT_TP_LEN + 1)
		return -ENOSPC;
	/* a header every receiver would reject is a bug of the caller, not something to send */
	if (dft_all_zero(ctx->trace_id, 16) || ctx->span_id == 0)
		return -EINVAL;
	for (int i = 0; i < 8; i++)
		span[i] = (uint8_t)(ctx->span_id >> (56 - 8 * i));
	buf[0] = '0';
	buf[1] = '0';
	buf[2] = '-';
	dft_hex_encode(ctx->trace_id, 16, buf + 3);
	buf[35] = '-';
	dft_hex_encode(span, 8, buf + 36);
	buf[52] = '-';
	dft_hex_encode(&ctx->trace_flags, 1, buf + 53);
	buf[55] = '\0';
	return 0;
}

/* hdr[0, len) is the header value; it ends early at a NUL, so a caller may pass a buffer size. */
int dft_traceparent_extract(const char *hdr, size_t len, struct dft_ctx *out)
{
	uint8_t version, span[8], flags;
	struct dft_ctx c;

	if (!hdr || !out)
		return -EINVAL;
	len = strnlen(hdr, len);
	if (len < DFT_TP_LEN)
		return -EINVAL;
	if (!dft_hex_decode(hdr, 2, &version) || version == 0xff)
		return -EINVAL;
	if (version == 0 && len != DFT_TP_LEN)
		return -EINVAL;
	if (len > DFT_TP_LEN && hdr[DFT_TP_LEN] != '-')
		return -EINVAL;
	if (hdr[2] != '-' || hdr[35] != '-' || hdr[52] != '-')
		return -EINVAL;
	if (!dft_hex_decode(hdr + 3, 32, c.trace_id) || !dft_hex_decode(hdr + 36, 16, span) ||
	    !dft_hex_decode(hdr + 53, 2, &flags))
		return -EINVAL;
	c.span_id = 0;
	for (int i = 0; i < 8; i++)
		c.span_id = c.span_id << 8 | span[i];
	if (dft_all_zero(c.trace_id, 16) || c.span_id == 0)
		return -EINVAL;
	c.trace_flags = flags;
	*out = c;
	dft_span_note_remote(&c);
	return 0;
}
