/*
 * Unit tests for IMAP flag conversion (imap_flags): names to Maildir
 * letters, letter-set arithmetic for STORE, and the FLAGS list format.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "imap/imap_session.h"

static void
flags_parse_system_flags(void **state)
{
	char *flags[] = {"\\seen", "\\Deleted", "\\DRAFT", "\\Answered",
			 "\\Flagged", "$Forwarded"};
	char out[48];
	const char *msg = NULL;
	bool bad = true;

	assert_int_equal(imap_flags_parse(NULL, flags, 6, true, out, &msg,
					  &bad),
			 0);
	assert_string_equal(out, "DFPRST");
	assert_false(bad);
}

static void
flags_parse_rejects_recent(void **state)
{
	char *flags[] = {"\\Seen", "\\Recent"};
	char out[48];
	const char *msg = NULL;
	bool bad = false;

	assert_int_equal(imap_flags_parse(NULL, flags, 2, true, out, &msg,
					  &bad),
			 -1);
	assert_true(bad);
	assert_non_null(msg);
}

static void
flags_parse_rejects_unknown_system(void **state)
{
	char *flags[] = {"\\Important"};
	char out[48];
	const char *msg = NULL;
	bool bad = false;

	assert_int_equal(imap_flags_parse(NULL, flags, 1, true, out, &msg,
					  &bad),
			 -1);
	assert_true(bad);
}

static void
flags_parse_keywords_without_mailbox(void **state)
{
	char *flags[] = {"$Label1", "\\Seen"};
	char out[48];
	const char *msg = NULL;
	bool bad = true;

	/* Without a keyword table the keyword is dropped, not an error. */
	assert_int_equal(imap_flags_parse(NULL, flags, 2, true, out, &msg,
					  &bad),
			 0);
	assert_string_equal(out, "S");
}

static void
flags_apply_operations(void **state)
{
	static const struct {
		const char *old, *change;
		char op;
		const char *result;
	} cases[] = {
		{"", "S", '+', "S"},   {"FS", "S", '+', "FS"},
		{"FS", "T", '+', "FST"}, {"FSa", "a", '-', "FS"},
		{"FS", "R", '-', "FS"}, {"FSa", "Db", '=', "Db"},
		{"FS", "", '=', ""},   {"", "", '-', ""},
		{"RSTa", "RSb", '+', "RSTab"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char out[48];

		imap_flags_apply(cases[i].old, cases[i].change, cases[i].op,
				 out);
		assert_string_equal(out, cases[i].result);
	}
}

static void
flags_format_names(void **state)
{
	struct buf b = BUF_INIT;

	imap_flags_format(&b, NULL, "DFPRST", false);
	assert_string_equal(buf_cstr(&b), "(\\Draft \\Flagged $Forwarded "
					  "\\Answered \\Seen \\Deleted)");
	buf_reset(&b);
	imap_flags_format(&b, NULL, "", true);
	assert_string_equal(buf_cstr(&b), "(\\Recent)");
	buf_reset(&b);
	imap_flags_format(&b, NULL, "", false);
	assert_string_equal(buf_cstr(&b), "()");
	buf_reset(&b);
	/* Keyword letters need the table; without it they are left out. */
	imap_flags_format(&b, NULL, "Sa", true);
	assert_string_equal(buf_cstr(&b), "(\\Seen \\Recent)");
	buf_free(&b);
}

static void
flags_format_keywords(void **state)
{
	struct mailbox mb;
	struct buf b = BUF_INIT;

	memset(&mb, 0, sizeof(mb));
	mb.keywords[0] = "$Work";
	mb.keywords[2] = "later";
	imap_flags_format(&b, &mb, "Sac", false);
	assert_string_equal(buf_cstr(&b), "(\\Seen $Work later)");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flags_parse_system_flags),
		cmocka_unit_test(flags_parse_rejects_recent),
		cmocka_unit_test(flags_parse_rejects_unknown_system),
		cmocka_unit_test(flags_parse_keywords_without_mailbox),
		cmocka_unit_test(flags_apply_operations),
		cmocka_unit_test(flags_format_names),
		cmocka_unit_test(flags_format_keywords),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
