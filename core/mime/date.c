/*
 * date - the Date: header as a time_t (RFC 5322 section 3.3)
 *
 * Accepts "[day-name,] day month year hour:minute[:second] zone" with
 * comments and folding anywhere. Obsolete forms: two-digit years (below
 * 50 means 20xx, else 19xx), three-digit years (plus 1900), the zone
 * names UT, GMT and the US zones, and the military letters, which RFC
 * 5322 section 4.3 asks receivers to treat as -0000. A missing or unknown
 * zone is read as UTC. Out-of-range fields make the date invalid.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "mime-internal.h"

struct date_lexer {
	const char *s;
	size_t n, i;
};

static void
skip_cfws(struct date_lexer *lx)
{
	while (lx->i < lx->n) {
		char c = lx->s[lx->i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			lx->i++;
		} else if (c == '(') {
			int level = 0;

			do {
				if (lx->s[lx->i] == '\\' && lx->i + 1 < lx->n)
					lx->i++;
				else if (lx->s[lx->i] == '(')
					level++;
				else if (lx->s[lx->i] == ')')
					level--;
				lx->i++;
			} while (lx->i < lx->n && level > 0);
		} else {
			return;
		}
	}
}

/* Reads 1..maxdigits digits; returns the digit count or 0. */
static int
read_number(struct date_lexer *lx, int maxdigits, int *value)
{
	int digits = 0, v = 0;

	while (lx->i < lx->n && lx->s[lx->i] >= '0' && lx->s[lx->i] <= '9') {
		if (digits == maxdigits)
			return 0;
		v = v * 10 + (lx->s[lx->i] - '0');
		digits++;
		lx->i++;
	}
	*value = v;
	return digits;
}

static size_t
read_alpha(struct date_lexer *lx, const char **word)
{
	size_t start = lx->i;

	while (lx->i < lx->n && ((lx->s[lx->i] >= 'a' && lx->s[lx->i] <= 'z') ||
				 (lx->s[lx->i] >= 'A' && lx->s[lx->i] <= 'Z')))
		lx->i++;
	*word = lx->s + start;
	return lx->i - start;
}

static bool
expect_char(struct date_lexer *lx, char c)
{
	skip_cfws(lx);
	if (lx->i < lx->n && lx->s[lx->i] == c) {
		lx->i++;
		return true;
	}
	return false;
}

static int
month_number(const char *w, size_t n)
{
	static const char names[] = "janfebmaraprmayjunjulaugsepoctnovdec";
	int m;

	if (n < 3)
		return -1;
	for (m = 0; m < 12; m++) {
		if (mime_lower(w[0]) == names[m * 3] &&
		    mime_lower(w[1]) == names[m * 3 + 1] &&
		    mime_lower(w[2]) == names[m * 3 + 2])
			return m + 1;
	}
	return -1;
}

/* Returns the zone offset in minutes east of UTC for a zone name. */
static int
named_zone(const char *w, size_t n)
{
	static const struct {
		const char *name;
		int minutes;
	} zones[] = {
	    {"ut", 0},	      {"utc", 0},	{"gmt", 0},
	    {"z", 0},	      {"edt", -4 * 60}, {"est", -5 * 60},
	    {"cdt", -5 * 60}, {"cst", -6 * 60}, {"mdt", -6 * 60},
	    {"mst", -7 * 60}, {"pdt", -7 * 60}, {"pst", -8 * 60},
	};
	size_t i;

	for (i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		if (mime_ieq(w, n, zones[i].name))
			return zones[i].minutes;
	}
	/* Military letters and unknown names: -0000, an unknown offset. */
	return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30,
				   31, 31, 30, 31, 30, 31};
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

static time_t
parse_date(const char *s, size_t n)
{
	struct date_lexer lx = {s, n, 0};
	int day, month, year, hour, minute, second = 0, zone = 0, digits;
	const char *w;
	size_t wl;

	skip_cfws(&lx);
	/* The day name is not checked, and a missing comma is tolerated. */
	if (read_alpha(&lx, &w) > 0)
		expect_char(&lx, ',');
	skip_cfws(&lx);
	if (read_number(&lx, 2, &day) == 0)
		return -1;
	skip_cfws(&lx);
	wl = read_alpha(&lx, &w);
	if ((month = month_number(w, wl)) < 0)
		return -1;
	skip_cfws(&lx);
	digits = read_number(&lx, 4, &year);
	if (digits < 2)
		return -1;
	if (digits == 2)
		year += year < 50 ? 2000 : 1900;
	else if (digits == 3)
		year += 1900;
	skip_cfws(&lx);
	if (read_number(&lx, 2, &hour) == 0 || !expect_char(&lx, ':'))
		return -1;
	skip_cfws(&lx);
	if (read_number(&lx, 2, &minute) == 0)
		return -1;
	if (expect_char(&lx, ':')) {
		skip_cfws(&lx);
		if (read_number(&lx, 2, &second) == 0)
			return -1;
	}
	skip_cfws(&lx);
	if (lx.i < n && (s[lx.i] == '+' || s[lx.i] == '-')) {
		int sign = s[lx.i] == '-' ? -1 : 1, hhmm;

		lx.i++;
		if (read_number(&lx, 4, &hhmm) != 4 || hhmm % 100 > 59)
			return -1;
		zone = sign * (hhmm / 100 * 60 + hhmm % 100);
	} else if ((wl = read_alpha(&lx, &w)) > 0) {
		zone = named_zone(w, wl);
	}
	if (day < 1 || day > days_in_month(year, month) || hour > 23 ||
	    minute > 59 || second > 60)
		return -1;
	return (time_t)(days_from_civil(year, month, day) * 86400 +
			hour * 3600 + minute * 60 + second - zone * 60);
}

time_t
mime_date_header(const char *msg, size_t len)
{
	struct hdr_field f;
	size_t header_end, body_start;

	if (msg == NULL)
		return -1;
	hdr_bounds(msg, 0, len, &header_end, &body_start);
	if (!hdr_find(msg, 0, header_end, "date", &f))
		return -1;
	return parse_date(f.value, f.value_len);
}
