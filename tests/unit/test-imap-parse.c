/*
 * Unit tests for the IMAP command grammar (imap_parse) and mailbox names
 * (imap_names): every element, valid and hostile input.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "imap/imap_names.h"
#include "imap/imap_parse.h"

struct parser_case {
	const char *input;
	size_t len; /* 0: strlen(input) */
	int ret;
	const char *value; /* expected result for ret == 0 */
	size_t value_len;
	const char *rest;  /* what must remain after the element */
};

static void
start(struct imap_parser *p, const struct parser_case *c)
{
	imap_parser_init(p, c->input, c->len ? c->len : strlen(c->input));
}

static void
tag_cases(void **state)
{
	static const struct parser_case cases[] = {
		{"A001 NOOP", 0, 0, "A001", 0, " NOOP"},
		{"a.b-c] X", 0, 0, "a.b-c]", 0, " X"},
		{"+abc", 0, -1, NULL, 0, NULL},
		{"(x", 0, -1, NULL, 0, NULL},
		{"*", 0, -1, NULL, 0, NULL},
		{"", 0, -1, NULL, 0, NULL},
		{"ab+c d", 0, 0, "ab", 0, "+c d"},
		{"t\x01x", 3, 0, "t", 0, "\x01x"},
		{"\x80tag", 0, -1, NULL, 0, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_parser p;
		char *tag = NULL;
		int r;

		start(&p, &cases[i]);
		r = imap_parse_tag(&p, &tag);
		assert_int_equal(r, cases[i].ret);
		if (r == 0) {
			assert_string_equal(tag, cases[i].value);
			assert_string_equal(p.p, cases[i].rest);
		} else {
			assert_non_null(p.error);
		}
		imap_parser_free(&p);
	}
}

static void
astring_cases(void **state)
{
	static const struct parser_case cases[] = {
		{"INBOX rest", 0, 0, "INBOX", 5, " rest"},
		{"\"a b\" x", 0, 0, "a b", 3, " x"},
		{"\"q\\\"\\\\\"", 0, 0, "q\"\\", 3, ""},
		{"\"\"", 0, 0, "", 0, ""},
		{"{3}\r\nabc rest", 0, 0, "abc", 3, " rest"},
		{"{3+}\r\nabc", 0, 0, "abc", 3, ""},
		{"{0}\r\n", 0, 0, "", 0, ""},
		{"{3}\nabc", 0, 0, "abc", 3, ""},
		{"\"caf\xc3\xa9\"", 0, 0, "caf\xc3\xa9", 5, ""},
		{"{5}\r\nabc", 0, -1, NULL, 0, NULL},	     /* truncated */
		{"{3}\r\na\0c", 8, -1, NULL, 0, NULL},	     /* NUL */
		{"{3}abc", 0, -1, NULL, 0, NULL},	     /* no CRLF */
		{"{99999999999}\r\n", 0, -1, NULL, 0, NULL}, /* > 2^32 */
		{"{}\r\n", 0, -1, NULL, 0, NULL},
		{"\"abc", 0, -1, NULL, 0, NULL},
		{"\"a\\b\"", 0, -1, NULL, 0, NULL},
		{"\"a\rb\"", 0, -1, NULL, 0, NULL},
		{"\"a\0b\"", 5, -1, NULL, 0, NULL},
		{"(x)", 0, -1, NULL, 0, NULL},
		{"", 0, -1, NULL, 0, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_parser p;
		struct imap_string s;
		int r;

		start(&p, &cases[i]);
		r = imap_parse_astring(&p, &s);
		assert_int_equal(r, cases[i].ret);
		if (r == 0) {
			assert_int_equal(s.len, cases[i].value_len);
			assert_memory_equal(s.data, cases[i].value, s.len);
			assert_int_equal(s.data[s.len], '\0');
			assert_string_equal(p.p, cases[i].rest);
		}
		imap_parser_free(&p);
	}
}

static void
string_rejects_atom(void **state)
{
	struct imap_parser p;
	struct imap_string s;

	imap_parser_init(&p, "atom", 4);
	assert_int_equal(imap_parse_string(&p, &s), -1);
	imap_parser_free(&p);
}

static void
literal_data_keeps_nul(void **state)
{
	static const char in[] = "{4}\r\na\0\r\n";
	struct imap_parser p;
	struct imap_string s;

	imap_parser_init(&p, in, sizeof(in) - 1);
	assert_int_equal(imap_parse_literal_data(&p, &s), 0);
	assert_int_equal(s.len, 4);
	assert_memory_equal(s.data, "a\0\r\n", 4);
	assert_true(imap_at_end(&p));
	imap_parser_free(&p);
}

static void
list_mailbox_wildcards(void **state)
{
	struct imap_parser p;
	struct imap_string s;

	imap_parser_init(&p, "a.%*]x", 6);
	assert_int_equal(imap_parse_list_mailbox(&p, &s), 0);
	assert_string_equal(s.data, "a.%*]x");
	imap_parser_free(&p);
	imap_parser_init(&p, "\"\"", 2);
	assert_int_equal(imap_parse_list_mailbox(&p, &s), 0);
	assert_int_equal(s.len, 0);
	imap_parser_free(&p);
	imap_parser_init(&p, "(", 1);
	assert_int_equal(imap_parse_list_mailbox(&p, &s), -1);
	imap_parser_free(&p);
}

static void
number_limits(void **state)
{
	static const struct {
		const char *in;
		int ret;
		uint32_t value;
		int nz_ret;
	} cases[] = {
		{"0", 0, 0, -1},
		{"1", 0, 1, 0},
		{"4294967295", 0, 4294967295u, 0},
		{"4294967296", -1, 0, -1},
		{"99999999999999999999999", -1, 0, -1},
		{"007", 0, 7, -1},
		{"x", -1, 0, -1},
		{"", -1, 0, -1},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_parser p;
		uint32_t v = 0;

		imap_parser_init(&p, cases[i].in, strlen(cases[i].in));
		assert_int_equal(imap_parse_number(&p, &v), cases[i].ret);
		if (cases[i].ret == 0)
			assert_int_equal(v, cases[i].value);
		imap_parser_free(&p);
		imap_parser_init(&p, cases[i].in, strlen(cases[i].in));
		assert_int_equal(imap_parse_nz_number(&p, &v),
				 cases[i].nz_ret);
		imap_parser_free(&p);
	}
}

static void
seqset_cases(void **state)
{
	static const struct {
		const char *in;
		int ret;
		size_t n;
		uint32_t lo0, hi0;
		const char *rest;
	} cases[] = {
		{"1", 0, 1, 1, 1, ""},
		{"1:5", 0, 1, 1, 5, ""},
		{"*", 0, 1, 0, 0, ""},
		{"1:*", 0, 1, 1, 0, ""},
		{"5:1", 0, 1, 5, 1, ""},
		{"1,3,5:7 X", 0, 3, 1, 1, " X"},
		{"4294967295", 0, 1, 4294967295u, 4294967295u, ""},
		{"4294967296", -1, 0, 0, 0, NULL},
		{"0", -1, 0, 0, 0, NULL},
		{"1:0", -1, 0, 0, 0, NULL},
		{"1:", -1, 0, 0, 0, NULL},
		{",1", -1, 0, 0, 0, NULL},
		{"1,,2", -1, 0, 0, 0, NULL},
		{"1,", -1, 0, 0, 0, NULL},
		{"a", -1, 0, 0, 0, NULL},
		{"", -1, 0, 0, 0, NULL},
		{"$", -1, 0, 0, 0, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_parser p;
		struct imap_seqset set;
		int r;

		imap_parser_init(&p, cases[i].in, strlen(cases[i].in));
		r = imap_parse_seqset(&p, &set);
		assert_int_equal(r, cases[i].ret);
		if (r == 0) {
			assert_int_equal(set.n, cases[i].n);
			assert_int_equal(set.v[0].lo, cases[i].lo0);
			assert_int_equal(set.v[0].hi, cases[i].hi0);
			assert_string_equal(p.p, cases[i].rest);
		}
		imap_parser_free(&p);
	}
}

static void
seqset_star_and_reversed(void **state)
{
	struct imap_parser p;
	struct imap_seqset set;
	const char *in = "7:5,10:*,2";

	imap_parser_init(&p, in, strlen(in));
	assert_int_equal(imap_parse_seqset(&p, &set), 0);
	/* star = 12: the set is 2,5,6,7,10,11,12 */
	assert_false(imap_seqset_contains(&set, 1, 12));
	assert_true(imap_seqset_contains(&set, 2, 12));
	assert_false(imap_seqset_contains(&set, 4, 12));
	assert_true(imap_seqset_contains(&set, 6, 12));
	assert_false(imap_seqset_contains(&set, 8, 12));
	assert_true(imap_seqset_contains(&set, 12, 12));
	assert_false(imap_seqset_contains(&set, 13, 12));
	/* star below 10: "10:*" becomes star:10 */
	assert_true(imap_seqset_contains(&set, 9, 8));
	assert_true(imap_seqset_contains(&set, 8, 8));
	assert_int_equal(imap_seqset_max(&set), 10);
	imap_parser_free(&p);
}

static void
seqset_resolve_merges(void **state)
{
	struct imap_parser p;
	struct imap_seqset set;
	struct imap_range *r;
	const char *in = "9,1:3,4,*,8:6,2";
	size_t n;

	imap_parser_init(&p, in, strlen(in));
	assert_int_equal(imap_parse_seqset(&p, &set), 0);
	n = imap_seqset_resolve(&set, 20, &r);
	assert_int_equal(n, 3);
	assert_int_equal(r[0].lo, 1);
	assert_int_equal(r[0].hi, 4);
	assert_int_equal(r[1].lo, 6);
	assert_int_equal(r[1].hi, 9);
	assert_int_equal(r[2].lo, 20);
	assert_int_equal(r[2].hi, 20);
	free(r);
	imap_parser_free(&p);
}

static void
seqset_resolve_max_value(void **state)
{
	struct imap_parser p;
	struct imap_seqset set;
	struct imap_range *r;
	const char *in = "4294967294,4294967295,1";
	size_t n;

	imap_parser_init(&p, in, strlen(in));
	assert_int_equal(imap_parse_seqset(&p, &set), 0);
	n = imap_seqset_resolve(&set, 5, &r);
	assert_int_equal(n, 2);
	assert_int_equal(r[1].lo, 4294967294u);
	assert_int_equal(r[1].hi, 4294967295u);
	free(r);
	imap_parser_free(&p);
}

static void
flag_list_cases(void **state)
{
	static const struct {
		const char *in;
		int ret;
		size_t n;
		const char *first;
	} cases[] = {
		{"()", 0, 0, NULL},
		{"(\\Seen)", 0, 1, "\\Seen"},
		{"(\\Seen $Label \\Deleted)", 0, 3, "\\Seen"},
		{"(kw)", 0, 1, "kw"},
		{"(\\Seen", -1, 0, NULL},
		{"(\\ )", -1, 0, NULL},
		{"( \\Seen)", -1, 0, NULL},
		{"(\\Seen  \\Draft)", -1, 0, NULL},
		{"\\Seen", -1, 0, NULL},
		{"(a\"b)", -1, 0, NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_parser p;
		char **flags;
		size_t n;
		int r;

		imap_parser_init(&p, cases[i].in, strlen(cases[i].in));
		r = imap_parse_flag_list(&p, &flags, &n);
		assert_int_equal(r, cases[i].ret);
		if (r == 0) {
			assert_int_equal(n, cases[i].n);
			if (n > 0)
				assert_string_equal(flags[0], cases[i].first);
			assert_true(imap_at_end(&p));
		}
		imap_parser_free(&p);
	}
}

static void
date_cases(void **state)
{
	static const struct {
		const char *in;
		int ret;
		time_t value;
	} cases[] = {
		{"1-Feb-2024", 0, 1706745600},
		{"01-feb-2024", 0, 1706745600},
		{"\"1-FEB-2024\"", 0, 1706745600},
		{"29-Feb-2024", 0, 1709164800},
		{"29-Feb-2023", -1, 0},
		{"31-Apr-2024", -1, 0},
		{"1-Foo-2024", -1, 0},
		{"1-Feb-24", -1, 0},
		{"\"1-Feb-2024", -1, 0},
		{"123-Feb-2024", -1, 0},
		{"", -1, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_parser p;
		time_t t = 0;
		int r;

		imap_parser_init(&p, cases[i].in, strlen(cases[i].in));
		r = imap_parse_date(&p, &t);
		assert_int_equal(r, cases[i].ret);
		if (r == 0)
			assert_int_equal(t, cases[i].value);
		imap_parser_free(&p);
	}
}

static void
date_time_cases(void **state)
{
	static const struct {
		const char *in;
		int ret;
		time_t value;
	} cases[] = {
		{"\"17-Jul-1996 02:44:25 -0700\"", 0, 837596665},
		{"\" 7-Jul-1996 02:44:25 +0000\"", 0, 836707465},
		{"\"7-Jul-1996 02:44:25 +0130\"", 0, 836702065},
		{"\"17-Jul-1996 24:00:00 +0000\"", -1, 0},
		{"\"17-Jul-1996 02:44 +0000\"", -1, 0},
		{"\"17-Jul-1996 02:44:25 0000\"", -1, 0},
		{"\"17-Jul-1996 02:44:25 +0060\"", -1, 0},
		{"17-Jul-1996 02:44:25 +0000", -1, 0},
		{"\"17-Jul-1996 02:44:25 +0000", -1, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_parser p;
		time_t t = 0;
		int r;

		imap_parser_init(&p, cases[i].in, strlen(cases[i].in));
		r = imap_parse_date_time(&p, &t);
		assert_int_equal(r, cases[i].ret);
		if (r == 0)
			assert_int_equal(t, cases[i].value);
		imap_parser_free(&p);
	}
}

static void
sp_and_end(void **state)
{
	struct imap_parser p;

	imap_parser_init(&p, "  x", 3);
	assert_int_equal(imap_parse_sp(&p), 0);
	assert_int_equal(imap_parse_end(&p), -1);
	imap_parser_free(&p);
	imap_parser_init(&p, "", 0);
	assert_int_equal(imap_parse_sp(&p), -1);
	assert_string_equal(p.error, "Missing argument");
	assert_int_equal(imap_parse_end(&p), 0);
	imap_parser_free(&p);
}

static void
mutf7_cases(void **state)
{
	static const struct {
		const char *in;
		bool valid;
	} cases[] = {
		{"INBOX", true},
		{"Sent Items", true},
		{"&-", true},
		{"A&-B", true},
		{"Entw&APw-rfe", true},
		{"&ZeVnLIqe-", true},
		{"&2D3eAQ-", true},	/* a surrogate pair */
		{"&", false},		/* unterminated */
		{"&Jjo", false},
		{"&AGE-", false},	/* encodes printable 'a' */
		{"&2D0-", false},	/* lone high surrogate */
		{"&3gE-", false},	/* lone low surrogate */
		{"&APw", false},
		{"&AP-", false},	/* nonzero padding bits */
		{"&A/w-", false},	/* '/' is not modified base64 */
		{"caf\xc3\xa9", false}, /* raw 8-bit */
		{"tab\there", false},
		{"", true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(imap_mutf7_valid(cases[i].in,
						  strlen(cases[i].in)),
				 cases[i].valid);
}

static void
list_match_cases(void **state)
{
	static const struct {
		const char *pattern, *name;
		bool match;
	} cases[] = {
		{"*", "INBOX", true},
		{"*", "a.b.c", true},
		{"%", "a", true},
		{"%", "a.b", false},
		{"a.%", "a.b", true},
		{"a.%", "a.b.c", false},
		{"a.*", "a.b.c", true},
		{"a*", "a", true},
		{"a%b", "axxb", true},
		{"a%b", "ax.b", false},
		{"INBOX", "INBOX", true},
		{"INBOX", "inbox", false},
		{"", "", true},
		{"", "a", false},
		{"%.%", "a.b", true},
		{"*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%*%x",
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaay", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(imap_list_match(cases[i].pattern,
						 cases[i].name),
				 cases[i].match);
}

static void
mailbox_canonical_inbox(void **state)
{
	char *s;

	s = imap_mailbox_canonical("inbox");
	assert_string_equal(s, "INBOX");
	free(s);
	s = imap_mailbox_canonical("InBox.sub");
	assert_string_equal(s, "INBOX.sub");
	free(s);
	s = imap_mailbox_canonical("inboxes");
	assert_string_equal(s, "inboxes");
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(tag_cases),
		cmocka_unit_test(astring_cases),
		cmocka_unit_test(string_rejects_atom),
		cmocka_unit_test(literal_data_keeps_nul),
		cmocka_unit_test(list_mailbox_wildcards),
		cmocka_unit_test(number_limits),
		cmocka_unit_test(seqset_cases),
		cmocka_unit_test(seqset_star_and_reversed),
		cmocka_unit_test(seqset_resolve_merges),
		cmocka_unit_test(seqset_resolve_max_value),
		cmocka_unit_test(flag_list_cases),
		cmocka_unit_test(date_cases),
		cmocka_unit_test(date_time_cases),
		cmocka_unit_test(sp_and_end),
		cmocka_unit_test(mutf7_cases),
		cmocka_unit_test(list_match_cases),
		cmocka_unit_test(mailbox_canonical_inbox),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
