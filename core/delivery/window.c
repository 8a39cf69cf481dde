/*
 * window - delivery time windows
 *
 * The parser turns every item into intervals of minutes of the week
 * (Monday 00:00 is 0, the week has 10080 minutes), splits the ones that
 * wrap past Sunday 24:00, then sorts and merges them. A time is tested by
 * its local wall-clock minute of the week from localtime_r().
 *
 * delivery_window_next_open() steps from one interval start to the next by
 * wall-clock distance. That step is exact while the UTC offset stays the
 * same. When the offset at the target differs, the search first moves to
 * the instant of the offset change (found by bisection) and measures again
 * from there. So the result is the first second that delivery_window_open()
 * accepts, across midnight, the week's end and DST. The bisection assumes
 * at most one offset change between two consecutive interval starts.
 * NOTE: two offset changes within one such gap that end on the starting
 * offset go unnoticed, and the step then follows wall-clock distance.
 *
 * The canonical text keeps the items as written, with day names as
 * "Mon" and times as "HH:MM", joined by ", ".
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "window.h"
#include "xalloc.h"

#define DAY_MINUTES 1440
#define WEEK_MINUTES (7 * DAY_MINUTES)
/* Bytes of an item quoted in an error message. */
#define QUOTE_MAX 64

/* [start, end) in minutes of the week, 0 <= start < end <= WEEK_MINUTES. */
struct interval {
	unsigned start;
	unsigned end;
};

struct delivery_window {
	struct interval *v;
	size_t n;
	char *text;
};

/* Monday first, as the minute of the week counts. */
static const char *const day_names[7] = {"Mon", "Tue", "Wed", "Thu",
					 "Fri", "Sat", "Sun"};

/* Copies up to QUOTE_MAX bytes of s[0..len) with unprintable bytes as '?'. */
static void
quote_token(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t i, max = len < QUOTE_MAX ? len : QUOTE_MAX;

	if (dstlen == 0)
		return;
	for (i = 0; i < max && i + 1 < dstlen; i++) {
		unsigned char c = (unsigned char)s[i];

		dst[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
	}
	if (len > max && i + 4 < dstlen) {
		memcpy(dst + i, "...", 3);
		i += 3;
	}
	dst[i] = '\0';
}

static int
parse_day(const char *s, size_t len)
{
	if (len != 3)
		return -1;
	for (int d = 0; d < 7; d++)
		if (strncasecmp(s, day_names[d], 3) == 0)
			return d;
	return -1;
}

/*
 * Parses "H:MM" or "HH:MM" into minutes of the day. 24:00 is accepted
 * (1440) and the caller decides where it may stand.
 */
static int
parse_time(const char *s, size_t len)
{
	unsigned h = 0, m;
	size_t i = 0;

	while (i < len && i < 2 && isdigit((unsigned char)s[i]))
		h = h * 10 + (unsigned)(s[i++] - '0');
	if (i == 0 || len != i + 3 || s[i] != ':' ||
	    !isdigit((unsigned char)s[i + 1]) ||
	    !isdigit((unsigned char)s[i + 2]))
		return -1;
	m = (unsigned)(s[i + 1] - '0') * 10 + (unsigned)(s[i + 2] - '0');
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		return -1;
	return (int)(h * 60 + m);
}

static void
add_interval(struct buf *list, unsigned start, unsigned end)
{
	struct interval iv = {start, end};

	buf_append(list, &iv, sizeof(iv));
}

static int
interval_cmp(const void *a, const void *b)
{
	const struct interval *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	if (x->end != y->end)
		return x->end < y->end ? -1 : 1;
	return 0;
}

/* Adds day d from start to end minutes of that day. End may pass 24:00. */
static void
add_day_range(struct buf *list, int d, unsigned start, unsigned end)
{
	unsigned s = (unsigned)d * DAY_MINUTES + start;
	unsigned e = (unsigned)d * DAY_MINUTES + end;

	if (e <= WEEK_MINUTES) {
		add_interval(list, s, e);
		return;
	}
	add_interval(list, s, WEEK_MINUTES);
	add_interval(list, 0, e - WEEK_MINUTES);
}

static size_t
skip_blanks(const char *s, size_t i, size_t len)
{
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i;
}

static size_t
token_end(const char *s, size_t i, size_t len)
{
	while (i < len && s[i] != ' ' && s[i] != '\t')
		i++;
	return i;
}

/*
 * Parses one item s[0..len), without surrounding blanks, into intervals and
 * appends its canonical text to canon.
 */
static int
parse_item(const char *s, size_t len, struct buf *list, struct buf *canon,
	   char *err, size_t errlen)
{
	char item[QUOTE_MAX + 8], tok[QUOTE_MAX + 8];
	size_t days_end, time_start, time_end, rest, dash;
	int first, last, start, end;
	const char *t;

	quote_token(item, sizeof(item), s, len);
	days_end = token_end(s, 0, len);
	quote_token(tok, sizeof(tok), s, days_end);
	if (isdigit((unsigned char)s[0])) {
		snprintf(err, errlen,
			 "'%s': missing the days before the time range: "
			 "give a day, a day range such as Mon-Fri, or '*'",
			 item);
		return -1;
	}
	if (days_end == 1 && s[0] == '*') {
		first = 0;
		last = 6;
	} else {
		const char *d = memchr(s, '-', days_end);
		size_t first_len = d != NULL ? (size_t)(d - s) : days_end;

		first = parse_day(s, first_len);
		if (first < 0) {
			char day[QUOTE_MAX + 8];

			quote_token(day, sizeof(day), s, first_len);
			snprintf(err, errlen,
				 "'%s': unknown day '%s': use Mon, Tue, Wed, "
				 "Thu, Fri, Sat, Sun, a range such as Mon-Fri, "
				 "or '*'",
				 tok, day);
			return -1;
		}
		last = first;
		if (d != NULL) {
			size_t last_len = days_end - first_len - 1;

			last = parse_day(d + 1, last_len);
			if (last < 0) {
				char day[QUOTE_MAX + 8];

				quote_token(day, sizeof(day), d + 1, last_len);
				snprintf(err, errlen,
					 "'%s': unknown day '%s': use Mon, "
					 "Tue, Wed, Thu, Fri, Sat or Sun",
					 tok, day);
				return -1;
			}
		}
	}
	time_start = skip_blanks(s, days_end, len);
	if (time_start == len) {
		snprintf(err, errlen,
			 "'%s': missing the time range HH:MM-HH:MM", item);
		return -1;
	}
	time_end = token_end(s, time_start, len);
	t = s + time_start;
	quote_token(tok, sizeof(tok), t, time_end - time_start);
	dash = 0;
	while (time_start + dash < time_end && t[dash] != '-')
		dash++;
	if (time_start + dash == time_end) {
		snprintf(err, errlen,
			 "'%s': invalid time range '%s': use HH:MM-HH:MM", item,
			 tok);
		return -1;
	}
	start = parse_time(t, dash);
	end = parse_time(t + dash + 1, time_end - time_start - dash - 1);
	if (start < 0 || start == DAY_MINUTES || end < 0) {
		snprintf(err, errlen,
			 "'%s': invalid time range '%s': use HH:MM-HH:MM with "
			 "times from 00:00 to 23:59, or 24:00 as the end",
			 item, tok);
		return -1;
	}
	if (start == end) {
		snprintf(err, errlen,
			 "'%s': the range '%s' starts and ends at the same "
			 "time: use 00:00-24:00 for a whole day",
			 item, tok);
		return -1;
	}
	rest = skip_blanks(s, time_end, len);
	if (rest < len) {
		quote_token(tok, sizeof(tok), s + rest, len - rest);
		snprintf(err, errlen,
			 "'%s': unexpected '%s' after the time range: separate "
			 "items with commas",
			 item, tok);
		return -1;
	}

	for (int d = first;; d = (d + 1) % 7) {
		unsigned e = (unsigned)end;

		if (end < start)
			e += DAY_MINUTES;
		add_day_range(list, d, (unsigned)start, e);
		if (d == last)
			break;
	}

	if (canon->len > 0)
		buf_puts(canon, ", ");
	if (days_end == 1 && s[0] == '*')
		buf_puts(canon, "*");
	else if (first == last && memchr(s, '-', days_end) == NULL)
		buf_puts(canon, day_names[first]);
	else
		buf_printf(canon, "%s-%s", day_names[first], day_names[last]);
	buf_printf(canon, " %02d:%02d-%02d:%02d", start / 60, start % 60,
		   end / 60, end % 60);
	return 0;
}

int
delivery_window_parse(const char *text, struct delivery_window **out,
		      char *err, size_t errlen)
{
	struct buf list = BUF_INIT, canon = BUF_INIT;
	struct delivery_window *w;
	struct interval *v;
	size_t len = strlen(text), pos, n, merged;

	*out = NULL;
	pos = skip_blanks(text, 0, len);
	if (pos == len)
		return 0;
	if (strchr(text, '"') != NULL) {
		char whole[QUOTE_MAX + 8];

		quote_token(whole, sizeof(whole), text, len);
		snprintf(err, errlen,
			 "'%s': double quotes are not part of a window: "
			 "remove them",
			 whole);
		return -1;
	}
	while (pos <= len) {
		const char *comma = memchr(text + pos, ',', len - pos);
		size_t end = comma != NULL ? (size_t)(comma - text) : len;
		size_t a = skip_blanks(text, pos, end), b = end;

		while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t'))
			b--;
		if (a == b) {
			char whole[QUOTE_MAX + 8];

			quote_token(whole, sizeof(whole), text, len);
			snprintf(err, errlen,
				 "'%s': empty item: remove the extra comma",
				 whole);
			goto fail;
		}
		for (size_t i = a; i < b; i++) {
			unsigned char c = (unsigned char)text[i];
			char item[QUOTE_MAX + 8];

			if ((c >= 0x20 && c < 0x7f) || c == '\t')
				continue;
			quote_token(item, sizeof(item), text + a, b - a);
			snprintf(err, errlen, "'%s': invalid character 0x%02x",
				 item, c);
			goto fail;
		}
		if (parse_item(text + a, b - a, &list, &canon, err,
			       errlen) < 0)
			goto fail;
		pos = end + 1;
	}

	n = list.len / sizeof(struct interval);
	v = (struct interval *)list.data;
	qsort(v, n, sizeof(*v), interval_cmp);
	merged = 0;
	for (size_t i = 0; i < n; i++) {
		if (merged > 0 && v[i].start <= v[merged - 1].end) {
			if (v[i].end > v[merged - 1].end)
				v[merged - 1].end = v[i].end;
			continue;
		}
		v[merged++] = v[i];
	}
	w = xcalloc(1, sizeof(*w));
	w->v = xmalloc(merged * sizeof(*w->v));
	memcpy(w->v, v, merged * sizeof(*w->v));
	w->n = merged;
	w->text = xstrdup(buf_cstr(&canon));
	buf_free(&list);
	buf_free(&canon);
	*out = w;
	return 0;
fail:
	buf_free(&list);
	buf_free(&canon);
	return -1;
}

/* The wall-clock minute of the week of t, Monday 00:00 being 0. */
static unsigned
week_minute(const struct tm *tm)
{
	unsigned day = (unsigned)(tm->tm_wday + 6) % 7;

	return day * DAY_MINUTES + (unsigned)tm->tm_hour * 60 +
	       (unsigned)tm->tm_min;
}

static bool
minute_open(const struct delivery_window *w, unsigned m)
{
	for (size_t i = 0; i < w->n; i++)
		if (m >= w->v[i].start && m < w->v[i].end)
			return true;
	return false;
}

bool
delivery_window_open(const struct delivery_window *w, time_t t)
{
	struct tm tm;

	if (w == NULL)
		return true;
	if (localtime_r(&t, &tm) == NULL)
		return true;
	return minute_open(w, week_minute(&tm));
}

/* Minutes from m to the next interval start after m, wrapping the week. */
static unsigned
minutes_to_next_start(const struct delivery_window *w, unsigned m)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->v[i].start > m)
			return w->v[i].start - m;
	return w->v[0].start + WEEK_MINUTES - m;
}

/* The first instant in (from, to] whose UTC offset differs from from's. */
static time_t
offset_change(time_t from, time_t to, long offset)
{
	while (to - from > 1) {
		time_t mid = from + (to - from) / 2;
		struct tm tm;

		if (localtime_r(&mid, &tm) == NULL || tm.tm_gmtoff == offset)
			from = mid;
		else
			to = mid;
	}
	return to;
}

time_t
delivery_window_next_open(const struct delivery_window *w, time_t t)
{
	time_t s = t;

	if (w == NULL || w->n == 0)
		return t;
	/*
	 * Each round returns, lands on an interval start or lands on an
	 * offset change, so a handful of rounds covers any week.
	 */
	for (int round = 0; round < 64; round++) {
		struct tm tm, at;
		unsigned m;
		time_t next;

		if (localtime_r(&s, &tm) == NULL)
			return s;
		m = week_minute(&tm);
		if (minute_open(w, m))
			return s;
		next = s + (time_t)minutes_to_next_start(w, m) * 60 -
		       tm.tm_sec;
		if (localtime_r(&next, &at) == NULL)
			return next;
		if (at.tm_gmtoff != tm.tm_gmtoff)
			next = offset_change(s, next, tm.tm_gmtoff);
		s = next;
	}
	/* Not reached for a parsed window, which opens at least weekly. */
	return s;
}

const char *
delivery_window_text(const struct delivery_window *w)
{
	return w != NULL ? w->text : "";
}

void
delivery_window_free(struct delivery_window *w)
{
	if (w == NULL)
		return;
	free(w->v);
	free(w->text);
	free(w);
}
