/* SPDX-License-Identifier: MIT */
/*
 * Short texts that cross a trust boundary (a span's status message): the host library checks what
 * an application hands it, the NIC checks what it copies out of a (hostile) region, the collector
 * checks what a batch carries. One definition, header-only so libdifftrace needs no more of
 * dft_shared: valid UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF) without
 * control characters (C0, DEL, C1), so the text can be shown and exported as it is.
 */
#ifndef DFT_TEXT_H
#define DFT_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when p[0, len) is printable UTF-8 as above. Reads exactly len bytes; len 0 is valid. */
static inline bool dft_text_valid(const void *text, size_t len)
{
	const uint8_t *p = (const uint8_t *)text;
	size_t i = 0;

	while (i < len) {
		uint32_t c = p[i], cp, min;
		unsigned n;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return false;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
			min = 0x10000;
		} else {
			return false; /* a continuation byte first, 0xc0/0xc1 (overlong), or 0xf5.. */
		}
		if (len - i <= n)
			return false; /* cut short */
		for (unsigned k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
			return false;
		i += n + 1;
	}
	return true;
}

/* The longest prefix of p[0, len) no longer than max that does not end inside a UTF-8 sequence. */
static inline size_t dft_text_cut(const void *text, size_t len, size_t max)
{
	const uint8_t *p = (const uint8_t *)text;
	size_t cut;

	if (len <= max)
		return len;
	cut = max;
	/* p[cut] is the first byte left out: back up while it continues a sequence */
	while (cut > 0 && (p[cut] & 0xc0) == 0x80)
		cut--;
	return cut;
}

/*
 * Length of the valid UTF-8 sequence at s, 0 if it is not one (overlong forms, surrogates and values
 * past U+10FFFF are not UTF-8); its code point into *cp_out when not NULL. Stops at a NUL, so s may
 * be a C string ending anywhere.
 */
static inline size_t dft_utf8_seq(const unsigned char *s, uint32_t *cp_out)
{
	unsigned char c = s[0];
	uint32_t cp;
	size_t n, i;

	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		cp = c & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL */
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	if (cp_out)
		*cp_out = cp;
	return n;
}

#endif /* DFT_TEXT_H */
