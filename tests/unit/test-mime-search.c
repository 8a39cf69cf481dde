/*
 * Tests of the SEARCH helpers (HEADER, BODY, TEXT) and of the Date:
 * header parser.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mime/mime.h"

/* From test-mime-util.c: s with bare LF turned into CRLF, malloc()ed. */
char *crlf(const char *s);

static const char search_msg[] =
    "From: =?ISO-8859-1?Q?Andr=E9?= Pirard <PIRARD@vm1.ulg.ac.be>\n"
    "Subject: =?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\n"
    " =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=\n"
    "To: Keld =?utf-8?q?J=C3=B8rn?= Simonsen <keld@x.test>\n"
    "X-Split: =?utf-8?q?a?= =?utf-8?q?b?=\n"
    "X-Bad: =?utf-8?x?zz?= =?utf-8?q?ok?=\n"
    "X-Underscore: =?us-ascii?q?two_words?=\n"
    "X-Lang: =?utf-8*en?q?tagged?=\n"
    "X-Koi: =?koi8-r?q?=F0=D2=C9?=\n"
    "Content-Type: multipart/mixed; boundary=b\n"
    "\n"
    "preamble words\n"
    "--b\n"
    "Content-Type: text/plain; charset=iso-8859-1\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "Caf=E9 cr=E8me br=FBl=E9e is=\n"
    " tasty =3D good\n"
    "--b\n"
    "Content-Type: text/html; charset=utf-8\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "PHA+SMOkbGxvIFfDtnJs\n"
    "ZDwvcD4=\n"
    "--b\n"
    "Content-Type: application/octet-stream\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "c2VjcmV0IGF0dGFjaG1lbnQ=\n"
    "--b\n"
    "Content-Type: message/rfc822\n"
    "\n"
    "Subject: inner subject line\n"
    "\n"
    "inner body text\n"
    "--b--\n"
    "epilogue words\n";

static const struct {
	const char *field, *needle;
	bool found;
} header_cases[] = {
    {"subject", "you understand the", true},
    {"subject", "yo u", false},
    {"SUBJECT", "IF YOU CAN", true},
    {"from", "andr\xc3\xa9 pirard", true},
    {"from", "ANDR\xc3\x89", true},
    {"from", "pirard@vm1", true},
    {"to", "j\xc3\xb8rn", true},
    {"to", "J\xc3\x98RN", true},
    {"to", "keld j", true},
    {"x-split", "ab", true},
    {"x-split", "a b", false},
    {"x-bad", "=?utf-8?x?zz?= ok", true},
    {"x-underscore", "two words", true},
    {"x-lang", "tagged", true},
    {"x-koi", "=f0", false},
    {"x-koi", "\xf0\xd2\xc9", true},
    {"subject", "", true},
    {"x-missing", "", false},
    {"x-missing", "a", false},
    {"", "simonsen", true},
    {"", "", true},
    {"subject", "inner subject", false},
    {"content-type", "boundary=b", true},
    {"from", "nobody", false},
};

static void
search_header_cases(void **state)
{
	char *msg = crlf(search_msg);
	size_t len = strlen(msg), i;

	for (i = 0; i < sizeof(header_cases) / sizeof(header_cases[0]); i++) {
		print_message("header %s: %s\n", header_cases[i].field,
			      header_cases[i].needle);
		assert_int_equal(mime_header_contains(msg, len,
						      header_cases[i].field,
						      header_cases[i].needle),
				 header_cases[i].found);
	}
	free(msg);
}

static const struct {
	const char *needle;
	bool in_body, in_text;
} body_cases[] = {
    {"cr\xc3\xa8me br\xc3\xbbl\xc3\xa9\x65 is tasty = good", true, true},
    {"CR\xc3\x88ME", true, true},
    {"caf=e9", false, false},
    {"h\xc3\xa4llo w\xc3\xb6rld", true, true},
    {"<p>", true, true},
    {"secret attachment", false, false},
    {"inner subject line", true, true},
    {"inner body text", true, true},
    {"preamble words", false, false},
    {"epilogue words", false, false},
    {"andr\xc3\xa9", false, true},
    {"you understand", false, true},
    {"", true, true},
    {"nothing-here", false, false},
};

static void
search_body_and_text_cases(void **state)
{
	char *msg = crlf(search_msg);
	size_t len = strlen(msg), i;
	struct mime_part *root = mime_parse(msg, len);

	for (i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
		print_message("needle: %s\n", body_cases[i].needle);
		assert_int_equal(
		    mime_body_contains(msg, len, root, body_cases[i].needle),
		    body_cases[i].in_body);
		assert_int_equal(
		    mime_text_contains(msg, len, root, body_cases[i].needle),
		    body_cases[i].in_text);
	}
	mime_free(root);
	free(msg);
}

static void
search_plain_message_lf(void **state)
{
	static const char msg[] = "Subject: x\n\nPlain Body\nsecond LINE\n";
	struct mime_part *root = mime_parse(msg, sizeof(msg) - 1);

	assert_true(
	    mime_body_contains(msg, sizeof(msg) - 1, root, "plain body"));
	assert_true(mime_body_contains(msg, sizeof(msg) - 1, root,
				       "body\nsecond line"));
	assert_false(mime_body_contains(msg, sizeof(msg) - 1, root, "subject"));
	assert_true(
	    mime_text_contains(msg, sizeof(msg) - 1, root, "subject: x"));
	mime_free(root);
}

static void
search_invalid_encodings_kept(void **state)
{
	static const char msg[] =
	    "Content-Transfer-Encoding: quoted-printable\n\n"
	    "a=ZZb =4 end=";
	struct mime_part *root = mime_parse(msg, sizeof(msg) - 1);

	assert_true(
	    mime_body_contains(msg, sizeof(msg) - 1, root, "a=zzb =4 end"));
	assert_false(mime_body_contains(msg, sizeof(msg) - 1, root, "end="));
	mime_free(root);
}

static void
search_base64_garbage_skipped(void **state)
{
	static const char msg[] = "Content-Transfer-Encoding: BASE64\n\n"
				  "aGVs!!bG8g\nd29y*bGQ=garbage";
	struct mime_part *root = mime_parse(msg, sizeof(msg) - 1);

	assert_true(
	    mime_body_contains(msg, sizeof(msg) - 1, root, "hello world"));
	mime_free(root);
}

/* 2020-02-29 12:00:00 UTC */
#define NOON 1582977600
#define HOUR 3600

static const struct {
	const char *date;
	time_t expected;
} date_cases[] = {
    {"Wed, 17 Jul 1996 02:23:25 -0700 (PDT)", 837595405},
    {"17 Jul 1996 09:23:25 +0000", 837595405},
    {"Thu, 1 Jan 1970 00:00:00 GMT", 0},
    {"Thu, 01 Jan 1970 00:00:00 UT", 0},
    {"Thu, 1 Jan 1970 00:00:00 UTC", 0},
    {"1 Jan 70 01:00 +0100", 0},
    {"1 Jan 49 00:00 +0000", 2493072000},
    {"1 Jan 100 00:00 +0000", 946684800},
    {"1 jan 1900 00:00 +0000", -2208988800},
    {"29 Feb 2020 12:00 -0000", NOON},
    {"29 Feb 2020 12:00:00 Z", NOON},
    {"29 Feb 2020 12:00:00 a", NOON},
    {"29 Feb 2020 12:00:00 M", NOON},
    {"29 Feb 2020 12:00:00 XYZ", NOON},
    {"29 Feb 2020 12:00:00", NOON},
    {"29 Feb 2020 12:00:00 EST", NOON + 5 * HOUR},
    {"29 Feb 2020 12:00:00 EDT", NOON + 4 * HOUR},
    {"29 Feb 2020 12:00:00 CST", NOON + 6 * HOUR},
    {"29 Feb 2020 12:00:00 CDT", NOON + 5 * HOUR},
    {"29 Feb 2020 12:00:00 MST", NOON + 7 * HOUR},
    {"29 Feb 2020 12:00:00 MDT", NOON + 6 * HOUR},
    {"29 Feb 2020 12:00:00 PST", NOON + 8 * HOUR},
    {"29 Feb 2020 12:00:00 pdt", NOON + 7 * HOUR},
    {"29 Feb 2020 12:00:00 +0530", NOON - 5 * HOUR - 30 * 60},
    {"29 Feb 2020 12:00:00 -1259", NOON + 12 * HOUR + 59 * 60},
    {"Sat 29 Feb 2020 12:00:00 +0000", NOON},
    {"Saturday, 29 February 2020 12:00:00 +0000", NOON},
    {"Fri, 21 Nov 1997 09(comment):   55  :  06 -0600", 880127706},
    {"Fri, 21 Nov 1997\n 09:55:06 -0600", 880127706},
    {"  (c) Fri , 21 (d) Nov (e) 1997 09:55:06 -0600 (f)", 880127706},
    {"30 Jun 2015 23:59:60 +0000", 1435708800},
    {"29 Feb 2000 00:00 +0000", 951782400},
    {"1 Jun 1950 00:00 +0000", -618105600},
    {"19 Jan 2038 03:14:08 +0000", 2147483648},
    {"", -1},
    {"garbage", -1},
    {"Mon,", -1},
    {"32 Jan 2020 00:00 +0000", -1},
    {"0 Jan 2020 00:00 +0000", -1},
    {"29 Feb 2019 00:00 +0000", -1},
    {"29 Feb 1900 00:00 +0000", -1},
    {"31 Apr 2020 00:00 +0000", -1},
    {"1 Foo 2020 00:00 +0000", -1},
    {"1 Jan 2020 24:00 +0000", -1},
    {"1 Jan 2020 00:60 +0000", -1},
    {"1 Jan 2020 00:00:61 +0000", -1},
    {"1 Jan 2020 00:00 +0060", -1},
    {"1 Jan 2020 00:00 +100", -1},
    {"1 Jan 2020", -1},
    {"1 Jan 2020 12 +0000", -1},
    {"1 Jan 12345 00:00 +0000", -1},
    {"1 Jan 2 00:00 +0000", -1},
    {"123 Jan 2020 00:00 +0000", -1},
    {"1 Jan 2020 123:00 +0000", -1},
};

static void
date_header_cases(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(date_cases) / sizeof(date_cases[0]); i++) {
		char *msg = NULL;
		size_t n = strlen(date_cases[i].date) + 32;

		msg = malloc(n);
		assert_non_null(msg);
		snprintf(msg, n, "Date: %s\r\n\r\nbody", date_cases[i].date);
		print_message("date: %s\n", date_cases[i].date);
		assert_int_equal(mime_date_header(msg, strlen(msg)),
				 date_cases[i].expected);
		free(msg);
	}
}

static void
date_header_absent_or_in_body(void **state)
{
	static const char none[] = "Subject: x\r\n\r\nDate: 1 Jan 2020 00:00 "
				   "+0000\r\n";
	static const char twice[] = "date: 1 Jan 1970 00:00:01 +0000\r\n"
				    "Date: 1 Jan 2020 00:00 +0000\r\n\r\n";
	static const char folded_name[] = "Date :1 Jan 1970 00:00:02 GMT\n\n";

	assert_int_equal(mime_date_header(none, sizeof(none) - 1), -1);
	assert_int_equal(mime_date_header(twice, sizeof(twice) - 1), 1);
	assert_int_equal(mime_date_header(folded_name, sizeof(folded_name) - 1),
			 2);
	assert_int_equal(mime_date_header("", 0), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(search_header_cases),
	    cmocka_unit_test(search_body_and_text_cases),
	    cmocka_unit_test(search_plain_message_lf),
	    cmocka_unit_test(search_invalid_encodings_kept),
	    cmocka_unit_test(search_base64_garbage_skipped),
	    cmocka_unit_test(date_header_cases),
	    cmocka_unit_test(date_header_absent_or_in_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
