/*
 * Unit tests for delivery windows: the parser's accepted forms and error
 * messages, open/closed checks across midnight and the week end, and
 * delivery_window_next_open() across DST changes in Europe/Berlin,
 * America/New_York and Australia/Lord_Howe (a 30-minute shift), checked
 * against a minute-by-minute scan. The zones come from tzdata. Also
 * checks that a bad delivery_window in hapost.conf fails the load.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "window.h"

static void
set_zone(const char *zone)
{
	setenv("TZ", zone, 1);
	tzset();
}

/* The UTC instant of a calendar date and time. */
static time_t
utc(int year, int mon, int day, int hour, int min, int sec)
{
	struct tm tm = {0};

	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	return timegm(&tm);
}

static struct delivery_window *
parse_ok(const char *text)
{
	struct delivery_window *w = NULL;
	char err[256] = "";

	if (delivery_window_parse(text, &w, err, sizeof(err)) != 0)
		fail_msg("'%s' rejected: %s", text, err);
	assert_non_null(w);
	return w;
}

static void
window_empty_is_null(void **state)
{
	const char *texts[] = {"", " ", "\t  "};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct delivery_window *w = (void *)1;
		char err[128];

		assert_int_equal(
			delivery_window_parse(texts[i], &w, err, sizeof(err)),
			0);
		assert_null(w);
	}
	assert_true(delivery_window_open(NULL, 12345));
	assert_int_equal(delivery_window_next_open(NULL, 12345), 12345);
	assert_string_equal(delivery_window_text(NULL), "");
	delivery_window_free(NULL);
}

static void
window_canonical_text(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
		{"Mon-Fri 08:00-18:00, Sat 09:00-12:00",
		 "Mon-Fri 08:00-18:00, Sat 09:00-12:00"},
		{"  mon-FRI\t8:00-18:00 ,sat 9:00-12:00  ",
		 "Mon-Fri 08:00-18:00, Sat 09:00-12:00"},
		{"* 00:00-24:00", "* 00:00-24:00"},
		{"fri-mon 22:00-06:00", "Fri-Mon 22:00-06:00"},
		{"SUN 23:30-0:30", "Sun 23:30-00:30"},
		{"Wed-Wed 10:00-11:00", "Wed-Wed 10:00-11:00"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct delivery_window *w = parse_ok(cases[i].in);

		assert_string_equal(delivery_window_text(w), cases[i].out);
		delivery_window_free(w);
	}
}

static void
window_canonical_text_reparses(void **state)
{
	struct delivery_window *w =
		parse_ok("fri-mon 22:00-06:00, * 12:00-13:00");
	struct delivery_window *again = parse_ok(delivery_window_text(w));

	set_zone("UTC");
	/* 2024-01-01 is a Monday: compare a week of minutes. */
	for (time_t t = utc(2024, 1, 1, 0, 0, 0);
	     t < utc(2024, 1, 8, 0, 0, 0); t += 60)
		assert_int_equal(delivery_window_open(w, t),
				 delivery_window_open(again, t));
	delivery_window_free(w);
	delivery_window_free(again);
}

struct bad_case {
	const char *text;
	const char *expect;
};

static void
window_bad_input_rejected(void **state)
{
	static const struct bad_case cases[] = {
		{"Mon-Fry 08:00-18:00", "'Mon-Fry': unknown day 'Fry'"},
		{"Monday 08:00-18:00", "'Monday': unknown day 'Monday'"},
		{"Xyz 08:00-18:00", "unknown day 'Xyz'"},
		{"-Fri 08:00-18:00", "unknown day ''"},
		{"Mon- 08:00-18:00", "'Mon-': unknown day ''"},
		{"Mon-Fri-Sat 08:00-18:00", "unknown day 'Fri-Sat'"},
		{"Mon", "'Mon': missing the time range HH:MM-HH:MM"},
		{"Mon-Fri  ", "'Mon-Fri': missing the time range"},
		{"08:00-18:00", "'08:00-18:00': missing the days"},
		{"Mon 8-18", "invalid time range '8-18'"},
		{"Mon 08:00", "invalid time range '08:00'"},
		{"Mon 08:00-", "invalid time range '08:00-'"},
		{"Mon -18:00", "invalid time range '-18:00'"},
		{"Mon 24:00-06:00", "invalid time range '24:00-06:00'"},
		{"Mon 25:00-26:00", "invalid time range '25:00-26:00'"},
		{"Mon 10:60-11:00", "invalid time range '10:60-11:00'"},
		{"Mon 10:0-11:00", "invalid time range"},
		{"Mon 100:00-11:00", "invalid time range"},
		{"Mon 24:01-11:00", "invalid time range"},
		{"Mon 10:00-24:30", "invalid time range"},
		{"Mon 10:00-11:00-12:00", "invalid time range"},
		{"Mon +1:00-11:00", "invalid time range"},
		{"Mon 10:00-10:00", "starts and ends at the same time"},
		{"* 00:00-00:00", "use 00:00-24:00 for a whole day"},
		{"Mon 10:00-11:00 Tue", "unexpected 'Tue' after the time"},
		{"* * 10:00-11:00", "invalid time range '*'"},
		{"Mon 10:00-11:00,", "empty item"},
		{",Mon 10:00-11:00", "empty item"},
		{"Mon 10:00-11:00, ,Tue 10:00-11:00", "empty item"},
		{"Mon\x01 10:00-11:00", "invalid character 0x01"},
		{"Mon 10:00-11:00\n", "invalid character 0x0a"},
		{"M\xc3\xb6n 10:00-11:00", "invalid character 0xc3"},
		{"\"Mon-Fri 08:00-18:00\"", "double quotes are not part of"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct delivery_window *w = (void *)1;
		char err[256] = "";

		if (delivery_window_parse(cases[i].text, &w, err,
					  sizeof(err)) == 0)
			fail_msg("'%s' accepted", cases[i].text);
		assert_null(w);
		if (strstr(err, cases[i].expect) == NULL)
			fail_msg("'%s': error '%s' lacks '%s'", cases[i].text,
				 err, cases[i].expect);
	}
}

static void
window_overlong_item_quoted_short(void **state)
{
	char text[4096], err[256] = "";
	struct delivery_window *w = NULL;

	memset(text, 'x', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	assert_int_equal(delivery_window_parse(text, &w, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "unknown day"));
	assert_non_null(strstr(err, "..."));
	assert_true(strlen(err) < 250);
	/* A tiny buffer is truncated, not overrun. */
	assert_int_equal(delivery_window_parse(text, &w, err, 8), -1);
	assert_int_equal(strlen(err), 7);
}

static void
window_many_items_merge(void **state)
{
	char text[8192] = "";
	struct delivery_window *w;

	/* 300 overlapping items collapse into one open week. */
	for (int i = 0; i < 300; i++) {
		char item[32];

		snprintf(item, sizeof(item), "%s* %02d:00-%02d:30",
			 i > 0 ? ", " : "", i % 24, (i + 1) % 24);
		strcat(text, item);
	}
	w = parse_ok(text);
	set_zone("UTC");
	for (time_t t = utc(2024, 1, 1, 0, 0, 0);
	     t < utc(2024, 1, 8, 0, 0, 0); t += 59)
		assert_true(delivery_window_open(w, t));
	delivery_window_free(w);
}

static void
window_weekdays_open_closed(void **state)
{
	struct delivery_window *w =
		parse_ok("Mon-Fri 08:00-18:00, Sat 09:00-12:00");

	set_zone("UTC");
	/* 2024-01-01 is a Monday. */
	assert_false(delivery_window_open(w, utc(2024, 1, 1, 7, 59, 59)));
	assert_true(delivery_window_open(w, utc(2024, 1, 1, 8, 0, 0)));
	assert_true(delivery_window_open(w, utc(2024, 1, 1, 17, 59, 59)));
	assert_false(delivery_window_open(w, utc(2024, 1, 1, 18, 0, 0)));
	assert_true(delivery_window_open(w, utc(2024, 1, 5, 12, 0, 0)));
	assert_false(delivery_window_open(w, utc(2024, 1, 6, 8, 59, 0)));
	assert_true(delivery_window_open(w, utc(2024, 1, 6, 9, 0, 0)));
	assert_false(delivery_window_open(w, utc(2024, 1, 6, 12, 0, 0)));
	assert_false(delivery_window_open(w, utc(2024, 1, 7, 10, 0, 0)));
	delivery_window_free(w);
}

static void
window_day_range_wraps_weekend(void **state)
{
	struct delivery_window *w = parse_ok("Fri-Mon 10:00-12:00");
	/* 2024-01-01 Mon .. 2024-01-07 Sun. */
	static const bool expect[7] = {true, false, false, false,
				       true, true,  true};

	set_zone("UTC");
	for (int d = 0; d < 7; d++) {
		assert_int_equal(
			delivery_window_open(w, utc(2024, 1, 1 + d, 11, 0, 0)),
			expect[d]);
		assert_false(
			delivery_window_open(w, utc(2024, 1, 1 + d, 12, 0, 0)));
	}
	delivery_window_free(w);
}

static void
window_time_wraps_midnight(void **state)
{
	struct delivery_window *w =
		parse_ok("Fri 22:00-06:00, Sun 23:00-01:00");

	set_zone("UTC");
	/* 2024-01-05 is a Friday. */
	assert_false(delivery_window_open(w, utc(2024, 1, 5, 21, 59, 0)));
	assert_true(delivery_window_open(w, utc(2024, 1, 5, 22, 0, 0)));
	assert_true(delivery_window_open(w, utc(2024, 1, 6, 0, 0, 0)));
	assert_true(delivery_window_open(w, utc(2024, 1, 6, 5, 59, 59)));
	assert_false(delivery_window_open(w, utc(2024, 1, 6, 6, 0, 0)));
	/* The wrapped part of Friday's item does not start on Thursday. */
	assert_false(delivery_window_open(w, utc(2024, 1, 5, 2, 0, 0)));
	/* Sunday 23:00 runs into Monday, over the week's end. */
	assert_true(delivery_window_open(w, utc(2024, 1, 7, 23, 30, 0)));
	assert_true(delivery_window_open(w, utc(2024, 1, 8, 0, 30, 0)));
	assert_false(delivery_window_open(w, utc(2024, 1, 8, 1, 0, 0)));
	assert_false(delivery_window_open(w, utc(2024, 1, 1, 1, 0, 0)));
	assert_true(delivery_window_open(w, utc(2024, 1, 1, 0, 59, 0)));
	delivery_window_free(w);
}

static void
window_end_of_day_24(void **state)
{
	struct delivery_window *w = parse_ok("Sun 20:00-24:00");

	set_zone("UTC");
	/* 2024-01-07 is a Sunday. */
	assert_true(delivery_window_open(w, utc(2024, 1, 7, 23, 59, 59)));
	assert_false(delivery_window_open(w, utc(2024, 1, 8, 0, 0, 0)));
	assert_false(delivery_window_open(w, utc(2024, 1, 7, 19, 59, 59)));
	delivery_window_free(w);
}

static void
window_next_open_simple(void **state)
{
	struct delivery_window *w =
		parse_ok("Mon-Fri 08:00-18:00, Sat 09:00-12:00");

	set_zone("UTC");
	/* Already open: t itself. */
	assert_int_equal(delivery_window_next_open(w, utc(2024, 1, 1, 9, 0, 7)),
			 utc(2024, 1, 1, 9, 0, 7));
	/* Seconds before the start. */
	assert_int_equal(
		delivery_window_next_open(w, utc(2024, 1, 1, 7, 59, 30)),
		utc(2024, 1, 1, 8, 0, 0));
	/* After the end: the next morning. */
	assert_int_equal(
		delivery_window_next_open(w, utc(2024, 1, 1, 18, 0, 0)),
		utc(2024, 1, 2, 8, 0, 0));
	/* Friday evening: Saturday morning. */
	assert_int_equal(
		delivery_window_next_open(w, utc(2024, 1, 5, 20, 0, 0)),
		utc(2024, 1, 6, 9, 0, 0));
	/* Saturday afternoon: Monday, over the week's end. */
	assert_int_equal(
		delivery_window_next_open(w, utc(2024, 1, 6, 12, 0, 0)),
		utc(2024, 1, 8, 8, 0, 0));
	assert_int_equal(
		delivery_window_next_open(w, utc(2024, 1, 7, 23, 59, 59)),
		utc(2024, 1, 8, 8, 0, 0));
	delivery_window_free(w);
}

static void
window_next_open_one_day_week(void **state)
{
	struct delivery_window *w = parse_ok("Wed 10:00-10:01");

	set_zone("UTC");
	/* Just after the window: a whole week later. */
	assert_int_equal(
		delivery_window_next_open(w, utc(2024, 1, 3, 10, 1, 0)),
		utc(2024, 1, 10, 10, 0, 0));
	assert_int_equal(
		delivery_window_next_open(w, utc(2024, 1, 3, 10, 0, 59)),
		utc(2024, 1, 3, 10, 0, 59));
	delivery_window_free(w);
}

static void
zone_check(const char *zone, time_t t, long offset)
{
	struct tm tm;

	set_zone(zone);
	assert_non_null(localtime_r(&t, &tm));
	if (tm.tm_gmtoff != offset)
		fail_msg("zone %s has offset %ld, expected %ld: is tzdata "
			 "installed?",
			 zone, (long)tm.tm_gmtoff, offset);
}

static void
window_next_open_berlin_spring(void **state)
{
	struct delivery_window *w;

	/* 2024-03-31 01:00 UTC: 02:00 CET becomes 03:00 CEST. */
	zone_check("Europe/Berlin", utc(2024, 1, 1, 0, 0, 0), 3600);

	/* A naive step from Saturday would land an hour late. */
	w = parse_ok("Sun 08:00-09:00");
	assert_int_equal(
		delivery_window_next_open(w, utc(2024, 3, 30, 12, 0, 0)),
		utc(2024, 3, 31, 6, 0, 0));
	delivery_window_free(w);

	w = parse_ok("Mon 08:00-18:00");
	assert_int_equal(
		delivery_window_next_open(w, utc(2024, 3, 30, 20, 0, 0)),
		utc(2024, 4, 1, 6, 0, 0));
	delivery_window_free(w);

	/* Wholly inside the skipped hour: not open that Sunday. */
	w = parse_ok("Sun 02:00-03:00");
	assert_int_equal(
		delivery_window_next_open(w, utc(2024, 3, 31, 0, 30, 0)),
		utc(2024, 4, 7, 0, 0, 0));
	delivery_window_free(w);

	/* Spanning the skipped hour: open from the change on. */
	w = parse_ok("Sun 02:00-04:00");
	assert_int_equal(
		delivery_window_next_open(w, utc(2024, 3, 31, 0, 30, 0)),
		utc(2024, 3, 31, 1, 0, 0));
	assert_false(delivery_window_open(w, utc(2024, 3, 31, 0, 59, 59)));
	assert_true(delivery_window_open(w, utc(2024, 3, 31, 1, 0, 0)));
	delivery_window_free(w);
}

static void
window_next_open_berlin_autumn(void **state)
{
	struct delivery_window *w;

	/* 2024-10-27 01:00 UTC: 03:00 CEST becomes 02:00 CET. */
	zone_check("Europe/Berlin", utc(2024, 7, 1, 0, 0, 0), 7200);

	w = parse_ok("Mon 08:00-09:00");
	assert_int_equal(
		delivery_window_next_open(w, utc(2024, 10, 26, 12, 0, 0)),
		utc(2024, 10, 28, 7, 0, 0));
	delivery_window_free(w);

	/* The repeated hour opens twice. */
	w = parse_ok("Sun 02:00-02:30");
	assert_true(delivery_window_open(w, utc(2024, 10, 27, 0, 10, 0)));
	assert_false(delivery_window_open(w, utc(2024, 10, 27, 0, 45, 0)));
	assert_true(delivery_window_open(w, utc(2024, 10, 27, 1, 10, 0)));
	assert_int_equal(
		delivery_window_next_open(w, utc(2024, 10, 27, 0, 45, 0)),
		utc(2024, 10, 27, 1, 0, 0));
	assert_int_equal(
		delivery_window_next_open(w, utc(2024, 10, 27, 1, 30, 0)),
		utc(2024, 11, 3, 1, 0, 0));
	delivery_window_free(w);
}

/*
 * The reference answer: t when open, otherwise the first wall-clock minute
 * boundary that is open. Valid for zones whose offsets are whole minutes.
 */
static time_t
scan_next_open(const struct delivery_window *w, time_t t)
{
	time_t m;

	if (delivery_window_open(w, t))
		return t;
	m = t - ((t % 60) + 60) % 60 + 60;
	for (int i = 0; i < 15 * 24 * 60; i++, m += 60)
		if (delivery_window_open(w, m))
			return m;
	fail_msg("no open minute within 15 days");
	return 0;
}

static void
window_next_open_matches_scan(void **state)
{
	static const char *const zones[] = {"Europe/Berlin",
					    "America/New_York",
					    "Australia/Lord_Howe"};
	/* Instants around each zone's 2024 DST changes, in UTC. */
	static const struct {
		int zone;
		int mon, day, hour;
	} changes[] = {
		{0, 3, 31, 1},	{0, 10, 27, 1}, {1, 3, 10, 7},
		{1, 11, 3, 6},	{2, 4, 6, 15},	{2, 10, 5, 15},
	};
	static const char *const windows[] = {
		"Sun 02:00-03:00",
		"* 02:15-02:45",
		"Sat-Sun 01:30-03:30",
		"Mon-Fri 08:00-18:00, Sat 09:00-12:00",
		"* 23:00-02:00",
		"Sun 02:30-02:31",
		"Sat 03:00-24:00, Sun 00:00-01:59",
	};
	unsigned seed = 1;

	for (size_t c = 0; c < sizeof(changes) / sizeof(changes[0]); c++) {
		time_t at = utc(2024, changes[c].mon, changes[c].day,
				changes[c].hour, 0, 0);

		set_zone(zones[changes[c].zone]);
		for (size_t k = 0; k < sizeof(windows) / sizeof(windows[0]);
		     k++) {
			struct delivery_window *w = parse_ok(windows[k]);

			for (int i = 0; i < 12; i++) {
				/* From two days before to a day after. */
				time_t offset = rand_r(&seed) % (3 * 86400);
				time_t t = at - 2 * 86400 + offset;
				time_t got = delivery_window_next_open(w, t);
				time_t want = scan_next_open(w, t);

				if (got != want)
					fail_msg("%s '%s' from %lld: got %lld, "
						 "expected %lld",
						 zones[changes[c].zone],
						 windows[k], (long long)t,
						 (long long)got,
						 (long long)want);
			}
			/* And from each minute near the change. */
			for (time_t t = at - 3 * 3600; t < at + 3 * 3600;
			     t += 60 + 17) {
				time_t got = delivery_window_next_open(w, t);
				time_t want = scan_next_open(w, t);

				if (got != want)
					fail_msg("%s '%s' from %lld: got %lld, "
						 "expected %lld",
						 zones[changes[c].zone],
						 windows[k], (long long)t,
						 (long long)got,
						 (long long)want);
			}
			delivery_window_free(w);
		}
	}
}

static int
load_config(const char *text, struct cfg *cfg, char *path, size_t pathlen,
	    char *err, size_t errlen)
{
	int fd, ret;

	snprintf(path, pathlen, "/tmp/hapost-test-window-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cfg_defaults(cfg);
	ret = cfg_load(cfg, path, err, errlen);
	unlink(path);
	return ret;
}

static void
window_config_key_checked(void **state)
{
	char path[64], err[512] = "", expect[640];
	struct cfg cfg;

	assert_int_equal(load_config("workers = 2\n"
				     "delivery_window = Mon-Fry 08:00-18:00\n",
				     &cfg, path, sizeof(path), err,
				     sizeof(err)),
			 -1);
	snprintf(expect, sizeof(expect),
		 "%s:2: delivery_window: 'Mon-Fry': unknown day 'Fry'", path);
	if (strncmp(err, expect, strlen(expect)) != 0)
		fail_msg("error '%s' does not start with '%s'", err, expect);
	cfg_free(&cfg);

	assert_int_equal(load_config("delivery_window = Mon-Fri 08:00-18:00, "
				     "Sat 09:00-12:00\n",
				     &cfg, path, sizeof(path), err,
				     sizeof(err)),
			 0);
	assert_string_equal(cfg.delivery_window,
			    "Mon-Fri 08:00-18:00, Sat 09:00-12:00");
	cfg_free(&cfg);

	assert_int_equal(load_config("delivery_window =\n", &cfg, path,
				     sizeof(path), err, sizeof(err)),
			 0);
	assert_null(cfg.delivery_window);
	cfg_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(window_empty_is_null),
		cmocka_unit_test(window_canonical_text),
		cmocka_unit_test(window_canonical_text_reparses),
		cmocka_unit_test(window_bad_input_rejected),
		cmocka_unit_test(window_overlong_item_quoted_short),
		cmocka_unit_test(window_many_items_merge),
		cmocka_unit_test(window_weekdays_open_closed),
		cmocka_unit_test(window_day_range_wraps_weekend),
		cmocka_unit_test(window_time_wraps_midnight),
		cmocka_unit_test(window_end_of_day_24),
		cmocka_unit_test(window_next_open_simple),
		cmocka_unit_test(window_next_open_one_day_week),
		cmocka_unit_test(window_next_open_berlin_spring),
		cmocka_unit_test(window_next_open_berlin_autumn),
		cmocka_unit_test(window_next_open_matches_scan),
		cmocka_unit_test(window_config_key_checked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
