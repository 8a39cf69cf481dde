/*
 * Tests of BODY[section] fetches and their normalised labels. The main
 * message has the structure of the example in RFC 3501 section 6.4.5,
 * and every leaf body names its own part number.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "mime/mime.h"

/* From test-mime-util.c: s with bare LF turned into CRLF, malloc()ed. */
char *crlf(const char *s);

static const char rfc3501_msg[] =
    "From: top@x.test\n"
    "Subject: top\n"
    "Content-Type: MULTIPART/MIXED; boundary=outer\n"
    "\n"
    "--outer\n"
    "Content-Type: TEXT/PLAIN\n"
    "\n"
    "P1\n"
    "--outer\n"
    "Content-Type: APPLICATION/OCTET-STREAM\n"
    "\n"
    "P2\n"
    "--outer\n"
    "Content-Type: MESSAGE/RFC822\n"
    "\n"
    "Subject: three\n"
    "Content-Type: multipart/mixed; boundary=m3\n"
    "\n"
    "--m3\n"
    "Content-Type: text/plain\n"
    "\n"
    "P3.1\n"
    "--m3\n"
    "Content-Type: application/octet-stream\n"
    "\n"
    "P3.2\n"
    "--m3--\n"
    "--outer\n"
    "Content-Type: MULTIPART/MIXED; boundary=m4\n"
    "\n"
    "--m4\n"
    "Content-Type: IMAGE/GIF\n"
    "\n"
    "P4.1\n"
    "--m4\n"
    "Content-Type: MESSAGE/RFC822\n"
    "\n"
    "Subject: four-two\n"
    "Content-Type: multipart/mixed; boundary=m42\n"
    "\n"
    "--m42\n"
    "Content-Type: TEXT/PLAIN\n"
    "\n"
    "P4.2.1\n"
    "--m42\n"
    "Content-Type: MULTIPART/ALTERNATIVE; boundary=m422\n"
    "\n"
    "--m422\n"
    "Content-Type: TEXT/PLAIN\n"
    "\n"
    "P4.2.2.1\n"
    "--m422\n"
    "Content-Type: TEXT/RICHTEXT\n"
    "\n"
    "P4.2.2.2\n"
    "--m422--\n"
    "--m42--\n"
    "--m4--\n"
    "--outer--\n";

struct fetch_case {
	const char *spec;
	const char *expected; /* LF line ends, converted to CRLF */
};

static const struct fetch_case rfc3501_cases[] = {
    {"1", "P1"},
    {"2", "P2"},
    {"3.1", "P3.1"},
    {"3.2", "P3.2"},
    {"4.1", "P4.1"},
    {"4.2.1", "P4.2.1"},
    {"4.2.2.1", "P4.2.2.1"},
    {"4.2.2.2", "P4.2.2.2"},
    {"3.HEADER",
     "Subject: three\nContent-Type: multipart/mixed; boundary=m3\n\n"},
    {"3.header", "Subject: three\nContent-Type: multipart/mixed; "
		 "boundary=m3\n\n"},
    {"3.TEXT", "--m3\nContent-Type: text/plain\n\nP3.1\n--m3\n"
	       "Content-Type: application/octet-stream\n\nP3.2\n--m3--"},
    {"3", "Subject: three\nContent-Type: multipart/mixed; boundary=m3\n\n"
	  "--m3\nContent-Type: text/plain\n\nP3.1\n--m3\n"
	  "Content-Type: application/octet-stream\n\nP3.2\n--m3--"},
    {"3.MIME", "Content-Type: MESSAGE/RFC822\n\n"},
    {"4.1.MIME", "Content-Type: IMAGE/GIF\n\n"},
    {"4.2.HEADER", "Subject: four-two\nContent-Type: multipart/mixed; "
		   "boundary=m42\n\n"},
    {"4.2.2.MIME", "Content-Type: MULTIPART/ALTERNATIVE; boundary=m422\n"
		   "\n"},
    {"4.2.HEADER.FIELDS (SUBJECT)", "Subject: four-two\n\n"},
    {"HEADER", "From: top@x.test\nSubject: top\nContent-Type: "
	       "MULTIPART/MIXED; boundary=outer\n\n"},
    {"HEADER.FIELDS (SUBJECT from)", "From: top@x.test\nSubject: top\n\n"},
    {"HEADER.FIELDS (\"Subject\")", "Subject: top\n\n"},
    {"HEADER.FIELDS.NOT (Content-Type)", "From: top@x.test\nSubject: top\n\n"},
    {"HEADER.FIELDS (X-NONE)", "\n"},
    {"3.HEADER.FIELDS.NOT (subject)",
     "Content-Type: multipart/mixed; boundary=m3\n\n"},
    /* Valid specs naming parts that do not exist. */
    {"5", ""},
    {"3.3", ""},
    {"1.1", ""},
    {"4.2.2.3", ""},
    {"4.2.2.1.1", ""},
    {"1.HEADER", ""},
    {"4.1.TEXT", ""},
    {"2.HEADER.FIELDS (X)", ""},
    {"4294967295", ""},
    {"5.MIME", ""},
};

static void
check_fetch(const char *msg, size_t len, const struct mime_part *root,
	    const char *spec, const char *expected_lf)
{
	char *expected = crlf(expected_lf);
	struct buf out = BUF_INIT;

	print_message("spec: %s\n", spec);
	assert_int_equal(imap_section_fetch(&out, msg, len, root, spec), 0);
	assert_int_equal(out.len, strlen(expected));
	assert_memory_equal(out.len == 0 ? "" : out.data, expected, out.len);
	buf_free(&out);
	free(expected);
}

static void
section_rfc3501_part_numbers(void **state)
{
	char *msg = crlf(rfc3501_msg);
	size_t len = strlen(msg), i;
	struct mime_part *root = mime_parse(msg, len);

	for (i = 0; i < sizeof(rfc3501_cases) / sizeof(rfc3501_cases[0]); i++)
		check_fetch(msg, len, root, rfc3501_cases[i].spec,
			    rfc3501_cases[i].expected);
	mime_free(root);
	free(msg);
}

static void
section_whole_message_and_text(void **state)
{
	char *msg = crlf(rfc3501_msg);
	size_t len = strlen(msg);
	struct mime_part *root = mime_parse(msg, len);
	struct buf out = BUF_INIT;
	const char *text = strstr(msg, "\r\n\r\n") + 4;

	assert_int_equal(imap_section_fetch(&out, msg, len, root, ""), 0);
	assert_int_equal(out.len, len);
	assert_memory_equal(out.data, msg, len);
	buf_reset(&out);
	assert_int_equal(imap_section_fetch(&out, msg, len, root, "TEXT"), 0);
	assert_int_equal(out.len, strlen(text));
	assert_memory_equal(out.data, text, out.len);
	buf_free(&out);
	mime_free(root);
	free(msg);
}

static void
section_single_part_message(void **state)
{
	char *msg = crlf("Subject: s\nX-A: 1\n\nbody\n");
	size_t len = strlen(msg);
	struct mime_part *root = mime_parse(msg, len);

	check_fetch(msg, len, root, "1", "body\n");
	check_fetch(msg, len, root, "1.MIME", "Subject: s\nX-A: 1\n\n");
	check_fetch(msg, len, root, "TEXT", "body\n");
	check_fetch(msg, len, root, "2", "");
	check_fetch(msg, len, root, "1.1", "");
	check_fetch(msg, len, root, "1.TEXT", "");
	mime_free(root);
	free(msg);
}

static void
section_message_rfc822_root(void **state)
{
	char *msg = crlf("Content-Type: message/rfc822\n\nSubject: in\n\n"
			 "inner\n");
	size_t len = strlen(msg);
	struct mime_part *root = mime_parse(msg, len);

	check_fetch(msg, len, root, "1", "Subject: in\n\ninner\n");
	check_fetch(msg, len, root, "1.HEADER", "Subject: in\n\n");
	check_fetch(msg, len, root, "1.TEXT", "inner\n");
	check_fetch(msg, len, root, "1.1", "inner\n");
	check_fetch(msg, len, root, "1.2", "");
	mime_free(root);
	free(msg);
}

static void
section_header_fields_folded(void **state)
{
	char *msg = crlf("Subject: a\n b\nTo: x@y\nSUBJECT: again\n\nbody\n");
	size_t len = strlen(msg);
	struct mime_part *root = mime_parse(msg, len);

	check_fetch(msg, len, root, "HEADER.FIELDS (subject)",
		    "Subject: a\n b\nSUBJECT: again\n\n");
	check_fetch(msg, len, root, "HEADER.FIELDS.NOT (SUBJECT)",
		    "To: x@y\n\n");
	check_fetch(msg, len, root, "HEADER.FIELDS (to subject)",
		    "Subject: a\n b\nTo: x@y\nSUBJECT: again\n\n");
	mime_free(root);
	free(msg);
}

static void
section_header_without_blank_line(void **state)
{
	static const char msg[] = "Subject: a\nTo: b";
	struct mime_part *root = mime_parse(msg, sizeof(msg) - 1);
	struct buf out = BUF_INIT;

	assert_int_equal(imap_section_fetch(&out, msg, sizeof(msg) - 1, root,
					    "HEADER.FIELDS (TO SUBJECT)"),
			 0);
	assert_string_equal(buf_cstr(&out), "Subject: a\nTo: b\r\n\r\n");
	buf_reset(&out);
	assert_int_equal(
	    imap_section_fetch(&out, msg, sizeof(msg) - 1, root, "HEADER"), 0);
	assert_string_equal(buf_cstr(&out), msg);
	buf_reset(&out);
	assert_int_equal(
	    imap_section_fetch(&out, msg, sizeof(msg) - 1, root, "TEXT"), 0);
	assert_int_equal(out.len, 0);
	buf_free(&out);
	mime_free(root);
}

static const char *const invalid_specs[] = {
    "0",
    "01",
    "1.0",
    "1.",
    ".1",
    "1..2",
    "MIME",
    "HEADER.FIELDS",
    "HEADER.FIELDS ()",
    "HEADER.FIELDS (FROM",
    "HEADER.FIELDS(FROM)",
    "HEADER.FIELDS (FROM) x",
    "HEADER.FIELDS (FROM)x",
    "HEADER.FIELDS (\"FROM)",
    "HEADER.FIELDS (FR\"OM)",
    "HEADER.FIELDS ({4}\r\nFROM)",
    "HEADER.FIELDS.NOT",
    "HEADERS",
    "HEADER ",
    "TEXT ",
    " TEXT",
    "1.TEXTX",
    "1.2.MIME.HEADER",
    "4294967296",
    "99999999999999999999",
    "BODY",
    "x",
    "1.MIME (a)",
    "HEADER (FROM)",
    "1.-2",
};

static void
section_invalid_specs_rejected(void **state)
{
	char *msg = crlf(rfc3501_msg);
	size_t len = strlen(msg), i;
	struct mime_part *root = mime_parse(msg, len);

	for (i = 0; i < sizeof(invalid_specs) / sizeof(invalid_specs[0]); i++) {
		struct buf out = BUF_INIT;

		print_message("spec: %s\n", invalid_specs[i]);
		assert_int_equal(
		    imap_section_fetch(&out, msg, len, root, invalid_specs[i]),
		    -1);
		assert_int_equal(out.len, 0);
		assert_int_equal(imap_section_normalize(&out, invalid_specs[i]),
				 -1);
		buf_free(&out);
	}
	mime_free(root);
	free(msg);
}

static void
section_deep_path_is_empty(void **state)
{
	char *msg = crlf(rfc3501_msg);
	size_t len = strlen(msg), i;
	struct mime_part *root = mime_parse(msg, len);
	struct buf spec = BUF_INIT, out = BUF_INIT;

	for (i = 0; i < 1000; i++)
		buf_puts(&spec, i == 0 ? "1" : ".1");
	assert_int_equal(
	    imap_section_fetch(&out, msg, len, root, buf_cstr(&spec)), 0);
	assert_int_equal(out.len, 0);
	assert_int_equal(imap_section_normalize(&out, buf_cstr(&spec)), 0);
	assert_string_equal(buf_cstr(&out), buf_cstr(&spec));
	buf_free(&spec);
	buf_free(&out);
	mime_free(root);
	free(msg);
}

static const struct {
	const char *spec, *label;
} normalize_cases[] = {
    {"", ""},
    {"header", "HEADER"},
    {"Text", "TEXT"},
    {"3", "3"},
    {"1.2.mime", "1.2.MIME"},
    {"4.2.text", "4.2.TEXT"},
    {"header.fields (from To)", "HEADER.FIELDS (from To)"},
    {"1.Header.Fields.Not  ( a   b )", "1.HEADER.FIELDS.NOT (a b)"},
    {"HEADER.FIELDS (\"x y\")", "HEADER.FIELDS (\"x y\")"},
    {"HEADER.FIELDS (\"From\")", "HEADER.FIELDS (From)"},
    {"HEADER.FIELDS (\"a\\\"b\")", "HEADER.FIELDS (\"a\\\"b\")"},
};

static void
section_normalize_labels(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(normalize_cases) / sizeof(normalize_cases[0]);
	     i++) {
		struct buf out = BUF_INIT;

		print_message("spec: %s\n", normalize_cases[i].spec);
		assert_int_equal(
		    imap_section_normalize(&out, normalize_cases[i].spec), 0);
		assert_string_equal(buf_cstr(&out), normalize_cases[i].label);
		buf_free(&out);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(section_rfc3501_part_numbers),
	    cmocka_unit_test(section_whole_message_and_text),
	    cmocka_unit_test(section_single_part_message),
	    cmocka_unit_test(section_message_rfc822_root),
	    cmocka_unit_test(section_header_fields_folded),
	    cmocka_unit_test(section_header_without_blank_line),
	    cmocka_unit_test(section_invalid_specs_rejected),
	    cmocka_unit_test(section_deep_path_is_empty),
	    cmocka_unit_test(section_normalize_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
