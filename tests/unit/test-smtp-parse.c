/*
 * Unit tests for smtp_parse: command lines, HELO and BDAT arguments,
 * MAIL/RCPT paths and parameters, UTF-8 checks, hostile input.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_parse.h"

static enum smtp_line_status
parse_str(const char *line, struct smtp_command *cmd)
{
	return smtp_parse_command(line, strlen(line), cmd);
}

static void
command_verbs_case_insensitive(void **state)
{
	static const struct {
		const char *line;
		enum smtp_verb verb;
		const char *arg;
	} cases[] = {
	    {"HELO a.example", SMTP_VERB_HELO, "a.example"},
	    {"helo a.example", SMTP_VERB_HELO, "a.example"},
	    {"EhLo [127.0.0.1]", SMTP_VERB_EHLO, "[127.0.0.1]"},
	    {"MAIL FROM:<a@b>", SMTP_VERB_MAIL, "FROM:<a@b>"},
	    {"rcpt to:<a@b>", SMTP_VERB_RCPT, "to:<a@b>"},
	    {"DATA", SMTP_VERB_DATA, ""},
	    {"BDAT 10 LAST", SMTP_VERB_BDAT, "10 LAST"},
	    {"RSET", SMTP_VERB_RSET, ""},
	    {"noop hello there", SMTP_VERB_NOOP, "hello there"},
	    {"QUIT", SMTP_VERB_QUIT, ""},
	    {"VRFY alice", SMTP_VERB_VRFY, "alice"},
	    {"HELP", SMTP_VERB_HELP, ""},
	    {"EXPN list", SMTP_VERB_EXPN, "list"},
	    {"STARTTLS", SMTP_VERB_STARTTLS, ""},
	    {"AUTH PLAIN", SMTP_VERB_AUTH, "PLAIN"},
	    {"ETRN x", SMTP_VERB_ETRN, "x"},
	    {"TURN", SMTP_VERB_TURN, ""},
	    {"XYZZY", SMTP_VERB_UNKNOWN, ""},
	    {"MAILFROM:<a@b>", SMTP_VERB_UNKNOWN, ""},
	    {"DATAX", SMTP_VERB_UNKNOWN, ""},
	    {"DAT", SMTP_VERB_UNKNOWN, ""},
	    {"QUIT   ", SMTP_VERB_QUIT, ""},
	    {"MAIL   FROM:<a@b>  ", SMTP_VERB_MAIL, "FROM:<a@b>"},
	    {"H\xc3\xa9LO x", SMTP_VERB_UNKNOWN, "x"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_command cmd;

		assert_int_equal(parse_str(cases[i].line, &cmd), SMTP_LINE_OK);
		assert_int_equal(cmd.verb, cases[i].verb);
		assert_int_equal(cmd.arg_len, strlen(cases[i].arg));
		assert_memory_equal(cmd.arg, cases[i].arg, cmd.arg_len);
	}
}

static void
command_bad_lines_rejected(void **state)
{
	struct smtp_command cmd;

	assert_int_equal(parse_str("", &cmd), SMTP_LINE_EMPTY);
	assert_int_equal(parse_str("    ", &cmd), SMTP_LINE_EMPTY);
	assert_int_equal(smtp_parse_command("NOOP\0x", 6, &cmd), SMTP_LINE_NUL);
	assert_int_equal(smtp_parse_command("\0", 1, &cmd), SMTP_LINE_NUL);
	assert_int_equal(parse_str("NOOP\rQUIT", &cmd), SMTP_LINE_BARE_CR);
	assert_int_equal(parse_str("\r", &cmd), SMTP_LINE_BARE_CR);
	assert_int_equal(parse_str("NO\x01OP", &cmd), SMTP_LINE_CONTROL);
	assert_int_equal(parse_str("\x7f", &cmd), SMTP_LINE_CONTROL);
}

static void
command_verb_names_canonical(void **state)
{
	assert_string_equal(smtp_verb_name(SMTP_VERB_MAIL), "MAIL");
	assert_string_equal(smtp_verb_name(SMTP_VERB_STARTTLS), "STARTTLS");
	assert_string_equal(smtp_verb_name(SMTP_VERB_UNKNOWN), "UNKNOWN");
}

static void
helo_argument_forms(void **state)
{
	char big[300];

	assert_true(smtp_parse_helo("mx.example.test", 15));
	assert_true(smtp_parse_helo("[192.0.2.1]", 11));
	assert_true(smtp_parse_helo("[IPv6:::1]", 10));
	assert_true(smtp_parse_helo("WIN_PC", 6));
	assert_false(smtp_parse_helo("", 0));
	assert_false(smtp_parse_helo("two words", 9));
	assert_false(smtp_parse_helo("tab\there", 8));
	assert_false(smtp_parse_helo("caf\xc3\xa9", 5));
	memset(big, 'a', sizeof(big));
	assert_true(smtp_parse_helo(big, SMTP_DOMAIN_MAX));
	assert_false(smtp_parse_helo(big, SMTP_DOMAIN_MAX + 1));
}

static void
bdat_argument_forms(void **state)
{
	static const struct {
		const char *arg;
		bool ok;
		uint64_t size;
		bool last;
	} cases[] = {
	    {"0", true, 0, false},
	    {"0 LAST", true, 0, true},
	    {"100", true, 100, false},
	    {"100 last", true, 100, true},
	    {"100   LAST", true, 100, true},
	    {"9223372036854775807", true, 9223372036854775807ULL, false},
	    {"9223372036854775808", false, 0, false},
	    {"99999999999999999999999", false, 0, false},
	    {"", false, 0, false},
	    {"LAST", false, 0, false},
	    {"-1", false, 0, false},
	    {"10x", false, 0, false},
	    {"10 LASTX", false, 0, false},
	    {"10 LAST x", false, 0, false},
	    {"10 FIRST", false, 0, false},
	    {" 10", false, 0, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t size = 12345;
		bool last = true;
		bool ok = smtp_parse_bdat(cases[i].arg, strlen(cases[i].arg),
					  &size, &last);

		assert_int_equal(ok, cases[i].ok);
		if (!ok)
			continue;
		assert_true(size == cases[i].size);
		assert_int_equal(last, cases[i].last);
	}
}

static void
split_path_and_params(void **state)
{
	struct smtp_path_args a;
	const char *arg = "FROM:<a@b.example> SIZE=100 BODY=8BITMIME SMTPUTF8";

	assert_int_equal(smtp_split_path_args(arg, strlen(arg), "FROM:", &a),
			 SMTP_ARGS_OK);
	assert_int_equal(a.path_len, 13);
	assert_memory_equal(a.path, "<a@b.example>", 13);
	assert_int_equal(a.nparams, 3);
	assert_int_equal(a.params[0].keyword_len, 4);
	assert_memory_equal(a.params[0].keyword, "SIZE", 4);
	assert_int_equal(a.params[0].value_len, 3);
	assert_memory_equal(a.params[0].value, "100", 3);
	assert_memory_equal(a.params[1].value, "8BITMIME", 8);
	assert_null(a.params[2].value);
	assert_int_equal(a.params[2].keyword_len, 8);
}

static void
split_path_forms(void **state)
{
	static const struct {
		const char *arg;
		enum smtp_args_status status;
		const char *path;
	} cases[] = {
	    {"FROM:<>", SMTP_ARGS_OK, "<>"},
	    {"from:<a@b>", SMTP_ARGS_OK, "<a@b>"},
	    {"FROM: <a@b>", SMTP_ARGS_OK, "<a@b>"},
	    {"FROM:<\"a>b\"@c>", SMTP_ARGS_OK, "<\"a>b\"@c>"},
	    {"FROM:<\"a\\\"b\"@c>", SMTP_ARGS_OK, "<\"a\\\"b\"@c>"},
	    {"FROM:<a@b>   SIZE=1", SMTP_ARGS_OK, "<a@b>"},
	    {"FROM:a@b", SMTP_ARGS_NO_PATH, NULL},
	    {"FROM:", SMTP_ARGS_NO_PATH, NULL},
	    {"FROM:<a@b", SMTP_ARGS_NO_PATH, NULL},
	    {"FROM:<\"a>b@c>", SMTP_ARGS_NO_PATH, NULL},
	    {"TO:<a@b>", SMTP_ARGS_NO_PREFIX, NULL},
	    {"FROM <a@b>", SMTP_ARGS_NO_PREFIX, NULL},
	    {"", SMTP_ARGS_NO_PREFIX, NULL},
	    {"FROM:<a@b>SIZE=1", SMTP_ARGS_BAD_PARAM, NULL},
	    {"FROM:<a@b> =1", SMTP_ARGS_BAD_PARAM, NULL},
	    {"FROM:<a@b> SIZE=", SMTP_ARGS_BAD_PARAM, NULL},
	    {"FROM:<a@b> SIZE=1=2", SMTP_ARGS_BAD_PARAM, NULL},
	    {"FROM:<a@b> -X", SMTP_ARGS_BAD_PARAM, NULL},
	    {"FROM:<a@b> X_Y", SMTP_ARGS_BAD_PARAM, NULL},
	    {"FROM:<a@b> X=\x01", SMTP_ARGS_BAD_PARAM, NULL},
	    {"FROM:<a@b> X=\xff", SMTP_ARGS_BAD_PARAM, NULL},
	    {"FROM:<a@b> A B C D E F G H I J K L M N O P Q", SMTP_ARGS_TOO_MANY,
	     NULL},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_path_args a;
		enum smtp_args_status st = smtp_split_path_args(
		    cases[i].arg, strlen(cases[i].arg), "FROM:", &a);

		assert_int_equal(st, cases[i].status);
		if (cases[i].path == NULL)
			continue;
		assert_int_equal(a.path_len, strlen(cases[i].path));
		assert_memory_equal(a.path, cases[i].path, a.path_len);
	}
}

struct path_case {
	const char *path;
	unsigned flags;
	enum smtp_path_status status;
	const char *text;
};

#define NUL_OK SMTP_PATH_ALLOW_NULL
#define PM_OK SMTP_PATH_ALLOW_POSTMASTER
#define U8_OK SMTP_PATH_ALLOW_UTF8

static const struct path_case path_cases[] = {
    {"<alice@example.test>", 0, SMTP_PATH_OK, "alice@example.test"},
    {"<Alice.Smith+tag@Example.TEST>", 0, SMTP_PATH_OK,
     "Alice.Smith+tag@Example.TEST"},
    {"<!#$%&'*+-/=?^_`{|}~@x.y>", 0, SMTP_PATH_OK, "!#$%&'*+-/=?^_`{|}~@x.y"},
    {"<>", NUL_OK, SMTP_PATH_OK, ""},
    {"<>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<postmaster>", PM_OK, SMTP_PATH_OK, "postmaster"},
    {"<PostMaster>", PM_OK, SMTP_PATH_OK, "postmaster"},
    {"<postmaster>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<postmaster@example.test>", PM_OK, SMTP_PATH_OK,
     "postmaster@example.test"},
    /* Quoted local parts: unquoted when a dot-string, else kept. */
    {"<\"alice\"@example.test>", 0, SMTP_PATH_OK, "alice@example.test"},
    {"<\"a.b\"@x.y>", 0, SMTP_PATH_OK, "a.b@x.y"},
    {"<\"john doe\"@x.y>", 0, SMTP_PATH_OK, "\"john doe\"@x.y"},
    {"<\"a\\\"b\"@x.y>", 0, SMTP_PATH_OK, "\"a\\\"b\"@x.y"},
    {"<\"a..b\"@x.y>", 0, SMTP_PATH_OK, "\"a..b\"@x.y"},
    {"<\"\"@x.y>", 0, SMTP_PATH_OK, "\"\"@x.y"},
    {"<\"a\x01\"@x.y>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<\"abc@x.y>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<\"a\\\x01\"@x.y>", 0, SMTP_PATH_SYNTAX, NULL},
    /* Source routes are accepted and dropped. */
    {"<@a.example,@b.example:user@d.example>", 0, SMTP_PATH_OK,
     "user@d.example"},
    {"<@a.example:user@d.example>", 0, SMTP_PATH_OK, "user@d.example"},
    {"<@a.example,user@d.example>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<@:user@d.example>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<@a..b:user@d.example>", 0, SMTP_PATH_SYNTAX, NULL},
    /* Address literals. */
    {"<a@[192.0.2.1]>", 0, SMTP_PATH_OK, "a@[192.0.2.1]"},
    {"<a@[IPv6:2001:db8::1]>", 0, SMTP_PATH_OK, "a@[IPv6:2001:db8::1]"},
    {"<a@[ipv6:::1]>", 0, SMTP_PATH_OK, "a@[ipv6:::1]"},
    {"<a@[x400:c=us]>", 0, SMTP_PATH_OK, "a@[x400:c=us]"},
    {"<a@[192.0.2.256]>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<a@[192.0.2]>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<a@[IPv6:2001:db8::g]>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<a@[]>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<a@[1.2.3.4>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<a@[x400:]>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<a@[x400]>", 0, SMTP_PATH_SYNTAX, NULL},
    /* Bad syntax. */
    {"<alice>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<@example.test>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<alice@>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<alice@@example.test>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<a@b@c>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<.alice@x.y>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<alice.@x.y>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<al..ice@x.y>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<al ice@x.y>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<a(b)@x.y>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<a@x..y>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<a@.x.y>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<a@x.y.>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<a@-x.y>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<a@x-.y>", 0, SMTP_PATH_SYNTAX, NULL},
    {"<a@x_y.z>", 0, SMTP_PATH_SYNTAX, NULL},
    {"a@x.y", 0, SMTP_PATH_SYNTAX, NULL},
    {"<a@x.y", 0, SMTP_PATH_SYNTAX, NULL},
    {"<", 0, SMTP_PATH_SYNTAX, NULL},
    {"", 0, SMTP_PATH_SYNTAX, NULL},
    /* UTF-8 needs SMTPUTF8 and must be well-formed. */
    {"<j\xc3\xb8rn@b\xc3\xa6r.example>", U8_OK, SMTP_PATH_OK,
     "j\xc3\xb8rn@b\xc3\xa6r.example"},
    {"<j\xc3\xb8rn@example.test>", 0, SMTP_PATH_NEEDS_UTF8, NULL},
    {"<\"j\xc3\xb8 rn\"@example.test>", 0, SMTP_PATH_NEEDS_UTF8, NULL},
    {"<a@b\xc3\xa6r.example>", 0, SMTP_PATH_NEEDS_UTF8, NULL},
    {"<j\xc3rn@example.test>", U8_OK, SMTP_PATH_SYNTAX, NULL},
    {"<j\xc0\xafrn@example.test>", U8_OK, SMTP_PATH_SYNTAX, NULL},
    {"<a@[IPv6:\xc3\xa6::1]>", U8_OK, SMTP_PATH_SYNTAX, NULL},
};

static void
path_forms_table(void **state)
{
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]);
	     i++) {
		const struct path_case *pc = &path_cases[i];
		struct smtp_address addr;
		enum smtp_path_status st = smtp_parse_path(
		    pc->path, strlen(pc->path), pc->flags, &addr);

		if (st != pc->status)
			fail_msg("path %zu \"%s\": status %d, expected %d", i,
				 pc->path, st, pc->status);
		if (pc->text != NULL)
			assert_string_equal(addr.text, pc->text);
	}
}

static void
path_flags_reported(void **state)
{
	struct smtp_address addr;

	assert_int_equal(smtp_parse_path("<>", 2, NUL_OK, &addr), SMTP_PATH_OK);
	assert_true(addr.is_null);
	assert_false(addr.is_postmaster);
	assert_int_equal(smtp_parse_path("<postmaster>", 12, PM_OK, &addr),
			 SMTP_PATH_OK);
	assert_true(addr.is_postmaster);
	assert_false(addr.is_null);
	assert_int_equal(smtp_parse_path("<a.b@c>", 7, 0, &addr), SMTP_PATH_OK);
	assert_int_equal(addr.local_len, 3);
	assert_false(addr.is_utf8);
	assert_int_equal(smtp_parse_path("<\xc3\xa6@c>", 6, U8_OK, &addr),
			 SMTP_PATH_OK);
	assert_true(addr.is_utf8);
}

static void
path_length_limits(void **state)
{
	char path[600], local[100], label[70];
	struct smtp_address addr;

	memset(local, 'l', sizeof(local));
	memset(label, 'd', sizeof(label));

	/* Local part of exactly 64 octets, then 65. */
	snprintf(path, sizeof(path), "<%.*s@x.y>", 64, local);
	assert_int_equal(smtp_parse_path(path, strlen(path), 0, &addr),
			 SMTP_PATH_OK);
	snprintf(path, sizeof(path), "<%.*s@x.y>", 65, local);
	assert_int_equal(smtp_parse_path(path, strlen(path), 0, &addr),
			 SMTP_PATH_TOO_LONG);

	/* A 63-octet label is fine, a 64-octet one is not a label. */
	snprintf(path, sizeof(path), "<a@%.*s.y>", 63, label);
	assert_int_equal(smtp_parse_path(path, strlen(path), 0, &addr),
			 SMTP_PATH_OK);
	snprintf(path, sizeof(path), "<a@%.*s.y>", 64, label);
	assert_int_equal(smtp_parse_path(path, strlen(path), 0, &addr),
			 SMTP_PATH_SYNTAX);

	/* A domain of 4 * 64 - 1 = 255 octets, then 257. */
	snprintf(path, sizeof(path), "<a@%.*s.%.*s.%.*s.%.*s>", 63, label, 63,
		 label, 63, label, 63, label);
	assert_int_equal(smtp_parse_path(path, strlen(path), 0, &addr),
			 SMTP_PATH_OK);
	assert_int_equal(strlen(addr.text), 2 + 255);
	snprintf(path, sizeof(path), "<a@%.*s.%.*s.%.*s.%.*s.x>", 63, label, 63,
		 label, 63, label, 63, label);
	assert_int_equal(smtp_parse_path(path, strlen(path), 0, &addr),
			 SMTP_PATH_TOO_LONG);
}

static void
path_hostile_bytes_rejected(void **state)
{
	struct smtp_address addr;

	assert_int_equal(smtp_parse_path("<a\0b@c>", 7, 0, &addr),
			 SMTP_PATH_SYNTAX);
	assert_int_equal(smtp_parse_path("<a@c\0>", 6, 0, &addr),
			 SMTP_PATH_SYNTAX);
	assert_int_equal(smtp_parse_path("<\"a\0\"@c>", 8, 0, &addr),
			 SMTP_PATH_SYNTAX);
	assert_int_equal(smtp_parse_path("<a\r\n@c>", 8, 0, &addr),
			 SMTP_PATH_SYNTAX);
	assert_int_equal(smtp_parse_path("<\xff@c>", 5, U8_OK, &addr),
			 SMTP_PATH_SYNTAX);
}

static void
utf8_validator_cases(void **state)
{
	static const struct {
		const char *s;
		bool ok;
	} cases[] = {
	    {"plain", true},
	    {"\xc3\xa9", true},
	    {"\xe2\x82\xac", true},
	    {"\xf0\x9f\x98\x80", true},
	    {"\xf4\x8f\xbf\xbf", true},
	    {"\xc3", false},
	    {"\xe2\x82", false},
	    {"\xc0\xaf", false},
	    {"\xe0\x80\xaf", false},
	    {"\xf0\x80\x80\xaf", false},
	    {"\xed\xa0\x80", false},
	    {"\xf4\x90\x80\x80", false},
	    {"\xff", false},
	    {"\x80", false},
	    {"\xc3\x28", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (smtp_utf8_valid(cases[i].s, strlen(cases[i].s)) !=
		    cases[i].ok)
			fail_msg("utf8 case %zu: expected %d", i, cases[i].ok);
	}
}

static enum smtp_param_status
mail_params(const char *arg, struct smtp_mail_params *p, size_t *bad)
{
	struct smtp_path_args a;

	assert_int_equal(smtp_split_path_args(arg, strlen(arg), "FROM:", &a),
			 SMTP_ARGS_OK);
	return smtp_parse_mail_params(&a, p, bad);
}

static void
mail_params_accepted(void **state)
{
	struct smtp_mail_params p;
	size_t bad;

	assert_int_equal(mail_params("FROM:<a@b>", &p, &bad), SMTP_PARAM_OK);
	assert_false(p.has_size);
	assert_int_equal(p.body, SMTP_BODY_7BIT);
	assert_false(p.smtputf8);

	assert_int_equal(mail_params("FROM:<a@b> size=12345 Body=8bitmime "
				     "smtputf8",
				     &p, &bad),
			 SMTP_PARAM_OK);
	assert_true(p.has_size);
	assert_true(p.size == 12345);
	assert_int_equal(p.body, SMTP_BODY_8BITMIME);
	assert_true(p.smtputf8);

	assert_int_equal(mail_params("FROM:<a@b> BODY=7BIT", &p, &bad),
			 SMTP_PARAM_OK);
	assert_int_equal(p.body, SMTP_BODY_7BIT);

	assert_int_equal(
	    mail_params("FROM:<a@b> SIZE=99999999999999999999", &p, &bad),
	    SMTP_PARAM_OK);
	assert_true(p.size == UINT64_MAX);
}

static void
mail_params_rejected(void **state)
{
	static const struct {
		const char *arg;
		enum smtp_param_status status;
		size_t bad;
	} cases[] = {
	    {"FROM:<a@b> BODY=BINARYMIME", SMTP_PARAM_UNSUPPORTED, 0},
	    {"FROM:<a@b> BODY=9BIT", SMTP_PARAM_SYNTAX, 0},
	    {"FROM:<a@b> BODY", SMTP_PARAM_SYNTAX, 0},
	    {"FROM:<a@b> SIZE", SMTP_PARAM_SYNTAX, 0},
	    {"FROM:<a@b> SIZE=12a", SMTP_PARAM_SYNTAX, 0},
	    {"FROM:<a@b> SIZE=-1", SMTP_PARAM_SYNTAX, 0},
	    {"FROM:<a@b> SIZE=123456789012345678901", SMTP_PARAM_SYNTAX, 0},
	    {"FROM:<a@b> SIZE=1 SIZE=2", SMTP_PARAM_SYNTAX, 1},
	    {"FROM:<a@b> BODY=7BIT BODY=7BIT", SMTP_PARAM_SYNTAX, 1},
	    {"FROM:<a@b> SMTPUTF8=yes", SMTP_PARAM_SYNTAX, 0},
	    {"FROM:<a@b> SMTPUTF8 SMTPUTF8", SMTP_PARAM_SYNTAX, 1},
	    {"FROM:<a@b> SIZE=1 RET=FULL", SMTP_PARAM_UNSUPPORTED, 1},
	    {"FROM:<a@b> AUTH=<>", SMTP_PARAM_UNSUPPORTED, 0},
	    {"FROM:<a@b> X-FOO", SMTP_PARAM_UNSUPPORTED, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_mail_params p;
		size_t bad = 99;

		assert_int_equal(mail_params(cases[i].arg, &p, &bad),
				 cases[i].status);
		assert_int_equal(bad, cases[i].bad);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(command_verbs_case_insensitive),
	    cmocka_unit_test(command_bad_lines_rejected),
	    cmocka_unit_test(command_verb_names_canonical),
	    cmocka_unit_test(helo_argument_forms),
	    cmocka_unit_test(bdat_argument_forms),
	    cmocka_unit_test(split_path_and_params),
	    cmocka_unit_test(split_path_forms),
	    cmocka_unit_test(path_forms_table),
	    cmocka_unit_test(path_flags_reported),
	    cmocka_unit_test(path_length_limits),
	    cmocka_unit_test(path_hostile_bytes_rejected),
	    cmocka_unit_test(utf8_validator_cases),
	    cmocka_unit_test(mail_params_accepted),
	    cmocka_unit_test(mail_params_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
