/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "gen_csv.h"

#define CSV_FIELDS  9
#define CSV_REPORTS 20 /* messages to stderr before going quiet (all are counted) */

static const char dft_gen_csv_header[] = ",traceid,timestamp,rpcid,um,rpctype,dm,interface,rt";

const char *dft_gen_csv_bad_name(enum dft_gen_csv_bad why)
{
	static const char *const n[DFT_CSV_BAD_KINDS] = {"field count", "empty field", "bad number",
	                                                 "bad rpcid",   "too long",    "bad character"};

	return (unsigned)why < DFT_CSV_BAD_KINDS ? n[why] : "?";
}

static int dft_gen_csv_fail(enum dft_gen_csv_bad why, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -(1 + (int)why);
}

static int dft_gen_csv_u64(const char *s, uint64_t *out)
{
	char *end;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || *end ? -1 : 0;
}

static int dft_gen_csv_rpcid_ok(const char *s)
{
	unsigned depth = 0;

	/* "0", "0.1", "0.1.12": digits, single dots, no empty component */
	for (;;) {
		if (*s < '0' || *s > '9')
			return 0;
		while (*s >= '0' && *s <= '9')
			s++;
		if (++depth > DFT_GEN_CSV_DEPTH)
			return 0;
		if (*s == 0)
			return 1;
		if (*s++ != '.')
			return 0;
	}
}

int dft_gen_csv_parse_line(const char *s, struct dft_gen_csv_row *row, char *err, size_t errlen)
{
	static const char *const names[CSV_FIELDS] = {"index",   "traceid", "timestamp", "rpcid", "um",
	                                              "rpctype", "dm",      "interface", "rt"};
	static const unsigned required[] = {1, 3, 4, 5, 6};
	char f[CSV_FIELDS][DFT_GEN_CSV_FIELD];
	size_t len = strlen(s);
	unsigned n = 0;
	const char *p = s;
	char *end;

	if (len && s[len - 1] == '\r')
		len--;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '"' || s[i] == '\\' || (unsigned char)s[i] < 0x20)
			return dft_gen_csv_fail(DFT_CSV_BAD_CHAR, err, errlen, "character 0x%02x at column %zu",
			                        (unsigned char)s[i], i + 1);
	for (;;) {
		const char *comma = memchr(p, ',', len - (size_t)(p - s));
		size_t flen = comma ? (size_t)(comma - p) : len - (size_t)(p - s);

		if (n == CSV_FIELDS)
			return dft_gen_csv_fail(DFT_CSV_FIELD_COUNT, err, errlen, "more than %d fields", CSV_FIELDS);
		if (flen >= DFT_GEN_CSV_FIELD)
			return dft_gen_csv_fail(DFT_CSV_TOO_LONG, err, errlen, "%s longer than %d characters", names[n],
			                        DFT_GEN_CSV_FIELD - 1);
		memcpy(f[n], p, flen);
		f[n][flen] = 0;
		n++;
		if (!comma)
			break;
		p = comma + 1;
	}
	if (n != CSV_FIELDS)
		return dft_gen_csv_fail(DFT_CSV_FIELD_COUNT, err, errlen, "%u fields, expected %d", n, CSV_FIELDS);
	/* interface may be empty (calls to stores often have none); the rest name the call */
	for (unsigned i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (f[required[i]][0] == 0)
			return dft_gen_csv_fail(DFT_CSV_EMPTY_FIELD, err, errlen, "empty %s", names[required[i]]);
	memset(row, 0, sizeof(*row));
	if (dft_gen_csv_u64(f[0], &row->index))
		return dft_gen_csv_fail(DFT_CSV_BAD_NUMBER, err, errlen, "index '%s' is not a number", f[0]);
	if (dft_gen_csv_u64(f[2], &row->timestamp))
		return dft_gen_csv_fail(DFT_CSV_BAD_NUMBER, err, errlen, "timestamp '%s' is not a number", f[2]);
	if (!dft_gen_csv_rpcid_ok(f[3]))
		return dft_gen_csv_fail(DFT_CSV_BAD_RPCID, err, errlen, "rpcid '%s' is not like 0.1.2", f[3]);
	errno = 0;
	row->rt = strtod(f[8], &end);
	if (f[8][0] == 0 || *end || errno || !isfinite(row->rt))
		return dft_gen_csv_fail(DFT_CSV_BAD_NUMBER, err, errlen, "rt '%s' is not a number", f[8]);
	memcpy(row->traceid, f[1], sizeof(row->traceid));
	memcpy(row->rpcid, f[3], sizeof(row->rpcid));
	memcpy(row->um, f[4], sizeof(row->um));
	memcpy(row->rpctype, f[5], sizeof(row->rpctype));
	memcpy(row->dm, f[6], sizeof(row->dm));
	memcpy(row->interface, f[7], sizeof(row->interface));
	return 0;
}

/* Reads one line into buf; 1 line, 0 EOF, -1 error; *cut set when the line did not fit. */
static int dft_gen_csv_getline(FILE *f, char *buf, size_t cap, int *cut)
{
	size_t len;

	*cut = 0;
	if (!fgets(buf, (int)cap, f))
		return ferror(f) ? -1 : 0;
	len = strlen(buf);
	if (len && buf[len - 1] == '\n') {
		buf[len - 1] = 0;
		return 1;
	}
	if (feof(f))
		return 1;
	/* over-long: swallow the rest of it */
	*cut = 1;
	for (int ch; (ch = fgetc(f)) != EOF && ch != '\n';)
		;
	return 1;
}

int dft_gen_csv_open(struct dft_gen_csv *c, FILE *f, const char *name, int strict)
{
	char buf[DFT_GEN_CSV_LINE];
	size_t len;
	int cut, rc;

	memset(c, 0, sizeof(*c));
	c->f = f;
	c->name = name ? name : "csv";
	c->strict = strict;
	rc = dft_gen_csv_getline(f, buf, sizeof(buf), &cut);
	c->line = 1;
	if (rc <= 0) {
		snprintf(c->err, sizeof(c->err), "%s:1: %s", c->name, rc ? "read error" : "empty file, no header");
		return rc ? -EIO : -EINVAL;
	}
	len = strlen(buf);
	if (len && buf[len - 1] == '\r')
		buf[--len] = 0;
	if (cut || strcmp(buf, dft_gen_csv_header) != 0) {
		snprintf(c->err, sizeof(c->err), "%s:1: header is not '%s'", c->name, dft_gen_csv_header);
		return -EINVAL;
	}
	return 0;
}

int dft_gen_csv_next(struct dft_gen_csv *c, struct dft_gen_csv_row *row)
{
	char buf[DFT_GEN_CSV_LINE], msg[160];

	for (;;) {
		int cut, rc = dft_gen_csv_getline(c->f, buf, sizeof(buf), &cut);

		if (rc < 0) {
			snprintf(c->err, sizeof(c->err), "%s:%llu: read error", c->name,
			         (unsigned long long)c->line + 1);
			return -EIO;
		}
		if (rc == 0)
			return 0;
		c->line++;
		if (buf[0] == 0 || (buf[0] == '\r' && buf[1] == 0))
			continue; /* a blank line (often the last) is not a row */
		if (cut)
			rc = dft_gen_csv_fail(DFT_CSV_TOO_LONG, msg, sizeof(msg), "line longer than %d characters",
			                      DFT_GEN_CSV_LINE - 2);
		else
			rc = dft_gen_csv_parse_line(buf, row, msg, sizeof(msg));
		if (rc == 0) {
			row->line = c->line;
			c->rows++;
			return 1;
		}
		{
			enum dft_gen_csv_bad why = (enum dft_gen_csv_bad)(-rc - 1);

			c->malformed++;
			c->bad[why]++;
			snprintf(c->err, sizeof(c->err), "%s:%llu: malformed row (%s): %s", c->name,
			         (unsigned long long)c->line, dft_gen_csv_bad_name(why), msg);
			if (c->report)
				c->report(c->report_arg, c->line, why, c->err);
			else if (!c->strict && c->malformed <= CSV_REPORTS)
				fprintf(stderr, "difftrace-gen: %s (skipped)\n", c->err);
			if (c->strict)
				return -EINVAL;
		}
	}
}
