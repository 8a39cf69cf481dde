#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pop3_apop.h"
#include "pop3_parse.h"

static void
parse_line_keywords(void **state)
{
	static const struct {
		const char *line;
		enum pop3_cmd_id id;
		const char *keyword;
		const char *arg;
		bool has_arg;
	} cases[] = {
		{"USER alice@example.test", POP3_CMD_USER, "USER",
		 "alice@example.test", true},
		{"user bob", POP3_CMD_USER, "USER", "bob", true},
		{"PASS with spaces  inside", POP3_CMD_PASS, "PASS",
		 "with spaces  inside", true},
		{"STAT", POP3_CMD_STAT, "STAT", "", false},
		{"list 3", POP3_CMD_LIST, "LIST", "3", true},
		{"Top 1 10", POP3_CMD_TOP, "TOP", "1 10", true},
		{"UIDL", POP3_CMD_UIDL, "UIDL", "", false},
		{"CAPA", POP3_CMD_CAPA, "CAPA", "", false},
		{"QUIT", POP3_CMD_QUIT, "QUIT", "", false},
		{"RSET", POP3_CMD_RSET, "RSET", "", false},
		{"NOOP", POP3_CMD_NOOP, "NOOP", "", false},
		{"DELE 2", POP3_CMD_DELE, "DELE", "2", true},
		{"RETR 1", POP3_CMD_RETR, "RETR", "1", true},
		{"STLS", POP3_CMD_STLS, "STLS", "", false},
		{"XYZZ", POP3_CMD_UNKNOWN, "XYZZ", "", false},
		{"STAT ", POP3_CMD_STAT, "STAT", "", true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pop3_cmd cmd;
		const char *why = NULL;

		assert_true(pop3_parse_line(cases[i].line,
					    strlen(cases[i].line), &cmd,
					    &why));
		assert_int_equal(cmd.id, cases[i].id);
		assert_string_equal(cmd.keyword, cases[i].keyword);
		assert_int_equal(cmd.has_arg, cases[i].has_arg);
		assert_int_equal(cmd.arglen, strlen(cases[i].arg));
		assert_memory_equal(cmd.arg, cases[i].arg, cmd.arglen);
	}
}

static void
parse_line_rejects_garbage(void **state)
{
	static const struct {
		const char *line;
		size_t len;
	} cases[] = {
		{"", 0},
		{"US", 2},
		{"USERS x", 7},
		{"US3R x", 6},
		{" USER x", 7},
		{"USER\tx", 6},
		{"STAT\0", 5},
		{"US\0R x", 6},
		{"USER a\x01", 7},
		{"\x7f\x7f\x7f\x7f", 4},
		{"\xff\xfe\xfd", 3},
		{"1234", 4},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pop3_cmd cmd;
		const char *why = NULL;

		if (pop3_parse_line(cases[i].line, cases[i].len, &cmd, &why))
			fail_msg("case %zu accepted", i);
		assert_non_null(why);
	}
}

static void
parse_numbers_strict(void **state)
{
	static const struct {
		const char *arg;
		int nmin, nmax;
		int count;
		uint64_t first, second;
	} cases[] = {
		{"", 0, 1, 0, 0, 0},
		{"", 1, 1, -1, 0, 0},
		{"7", 0, 1, 1, 7, 0},
		{"1 10", 2, 2, 2, 1, 10},
		{"1 0", 2, 2, 2, 1, 0},
		{"1", 2, 2, -1, 0, 0},
		{"1 2 3", 2, 2, -1, 0, 0},
		{"1  2", 2, 2, -1, 0, 0},
		{"1 ", 1, 1, -1, 0, 0},
		{" 1", 1, 1, -1, 0, 0},
		{"+1", 1, 1, -1, 0, 0},
		{"-1", 1, 1, -1, 0, 0},
		{"1x", 1, 1, -1, 0, 0},
		{"0x10", 1, 1, -1, 0, 0},
		{"4294967295", 1, 1, 1, 4294967295u, 0},
		{"9999999999", 1, 1, 1, 9999999999ull, 0},
		{"99999999999", 1, 1, -1, 0, 0},
		{"5", 0, 0, -1, 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v[2] = {0, 0};
		int n = pop3_parse_numbers(cases[i].arg, strlen(cases[i].arg),
					   cases[i].nmin, cases[i].nmax, v);

		if (n != cases[i].count)
			fail_msg("case %zu \"%s\": got %d", i, cases[i].arg,
				 n);
		if (n >= 1)
			assert_int_equal(v[0], cases[i].first);
		if (n >= 2)
			assert_int_equal(v[1], cases[i].second);
	}
}

/* Runs the encoder over msg in pieces of step bytes. */
static char *
stuff_all(const char *msg, size_t step, bool limited, uint64_t lines)
{
	struct pop3_stuffer st;
	struct buf out = BUF_INIT;
	size_t len = strlen(msg), pos = 0;

	pop3_stuffer_init(&st, limited, lines);
	while (pos < len && !st.done) {
		size_t n = len - pos < step ? len - pos : step;

		pos += pop3_stuff(&st, msg + pos, n, &out);
	}
	pop3_stuff_end(&st, &out);
	buf_cstr(&out);
	return out.data;
}

static void
stuffer_encodes_messages(void **state)
{
	static const struct {
		const char *in;
		bool limited;
		uint64_t lines;
		const char *out;
	} cases[] = {
		{"a\r\nb\r\n", false, 0, "a\r\nb\r\n.\r\n"},
		{"a\nb\n", false, 0, "a\r\nb\r\n.\r\n"},
		{"a\r\nb", false, 0, "a\r\nb\r\n.\r\n"},
		{"", false, 0, ".\r\n"},
		{".\r\n..x\r\n", false, 0, "..\r\n...x\r\n.\r\n"},
		{"x.y\r\n.\r\n", false, 0, "x.y\r\n..\r\n.\r\n"},
		{"a\rb\r\n", false, 0, "a\rb\r\n.\r\n"},
		{"a\r", false, 0, "a\r\n.\r\n"},
		{"S: 1\r\nT: 2\r\n\r\nl1\r\nl2\r\nl3\r\n", true, 0,
		 "S: 1\r\nT: 2\r\n\r\n.\r\n"},
		{"S: 1\r\n\r\nl1\r\nl2\r\nl3\r\n", true, 2,
		 "S: 1\r\n\r\nl1\r\nl2\r\n.\r\n"},
		{"S: 1\r\n\r\n.l1\r\n", true, 5, "S: 1\r\n\r\n..l1\r\n.\r\n"},
		{"S: 1\n\nl1\nl2\n", true, 1, "S: 1\r\n\r\nl1\r\n.\r\n"},
		{"S: only header\r\n", true, 0, "S: only header\r\n.\r\n"},
		{"S: 1\r\n\r\nbody", true, 3, "S: 1\r\n\r\nbody\r\n.\r\n"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t step = 1; step <= 7; step += 6) {
			char *got = stuff_all(cases[i].in, step,
					      cases[i].limited,
					      cases[i].lines);

			if (strcmp(got, cases[i].out) != 0)
				fail_msg("case %zu step %zu: got \"%s\"", i,
					 step, got);
			free(got);
		}
	}
}

static void
stuffer_keeps_binary_bytes(void **state)
{
	struct pop3_stuffer st;
	struct buf out = BUF_INIT;
	const char in[] = {'a', '\0', '\xff', '\n'};

	pop3_stuffer_init(&st, false, 0);
	assert_int_equal(pop3_stuff(&st, in, sizeof(in), &out), sizeof(in));
	assert_int_equal(out.len, 5);
	assert_memory_equal(out.data, "a\0\xff\r\n", 5);
	buf_free(&out);
}

/* The example of RFC 1939, section 7. */
#define RFC_TIMESTAMP "<1896.697170952@dbc.mtview.ca.us>"
#define RFC_DIGEST "c4c9334bac560ecc979e58001b3e22fb"

static void
apop_verify_rfc1939_example(void **state)
{
	const unsigned char *pw = (const unsigned char *)"tanstaaf";

	assert_true(pop3_apop_verify(RFC_TIMESTAMP, pw, 8, RFC_DIGEST));
}

static void
apop_verify_rejects_mismatch(void **state)
{
	const unsigned char *pw = (const unsigned char *)"tanstaaf";

	assert_false(pop3_apop_verify(RFC_TIMESTAMP, pw, 7, RFC_DIGEST));
	assert_false(pop3_apop_verify("<1896.697170953@dbc.mtview.ca.us>", pw,
				      8, RFC_DIGEST));
	assert_false(pop3_apop_verify(RFC_TIMESTAMP, pw, 8,
				      "c4c9334bac560ecc979e58001b3e22fc"));
	assert_false(pop3_apop_verify(RFC_TIMESTAMP, pw, 8,
				      "c4c9334bac560ecc979e58001b3e22f"));
	assert_false(pop3_apop_verify(RFC_TIMESTAMP, pw, 8, ""));
	/* The compare is on the canonical lowercase form. */
	assert_false(pop3_apop_verify(RFC_TIMESTAMP, pw, 8,
				      "C4C9334BAC560ECC979E58001B3E22FB"));
}

static void
apop_parse_accepts_valid(void **state)
{
	char user[POP3_APOP_USER_MAX + 1], digest[33];
	const char *arg = "mrose " RFC_DIGEST;
	const char *upper = "a@b.test C4C9334BAC560ECC979E58001B3E22FB";

	assert_true(pop3_apop_parse(arg, strlen(arg), user, digest));
	assert_string_equal(user, "mrose");
	assert_string_equal(digest, RFC_DIGEST);
	assert_true(pop3_apop_parse(upper, strlen(upper), user, digest));
	assert_string_equal(user, "a@b.test");
	assert_string_equal(digest, RFC_DIGEST);
}

static void
apop_parse_rejects_hostile(void **state)
{
	static const char *const bad[] = {
	    "",
	    "mrose",
	    "mrose ",
	    " " RFC_DIGEST,
	    "mrose  " RFC_DIGEST,
	    "mrose " RFC_DIGEST " ",
	    "mrose " RFC_DIGEST " extra",
	    "mrose c4c9334bac560ecc979e58001b3e22f",
	    "mrose c4c9334bac560ecc979e58001b3e22fbb",
	    "mrose g4c9334bac560ecc979e58001b3e22fb",
	    "mrose c4c9334bac560ecc979e58001b3e22f-",
	    "mrose c4c9334bac560ecc979e58001b3e22f\xff",
	    "mr ose " RFC_DIGEST,
	};
	char user[POP3_APOP_USER_MAX + 1], digest[33];
	char longname[400];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (pop3_apop_parse(bad[i], strlen(bad[i]), user, digest))
			fail_msg("accepted '%s'", bad[i]);
	}
	/* A NUL inside the digest. */
	{
		static const char nul[] = "mrose c4c9334bac560ecc979e"
					  "\0"
					  "8001b3e22fb";

		assert_false(pop3_apop_parse(nul, sizeof(nul) - 1, user,
					     digest));
	}
	/* The longest name passes, one more octet does not. */
	memset(longname, 'u', POP3_APOP_USER_MAX);
	snprintf(longname + POP3_APOP_USER_MAX,
		 sizeof(longname) - POP3_APOP_USER_MAX, " %s", RFC_DIGEST);
	assert_true(pop3_apop_parse(longname, strlen(longname), user, digest));
	assert_int_equal(strlen(user), POP3_APOP_USER_MAX);
	memset(longname, 'u', POP3_APOP_USER_MAX + 1);
	snprintf(longname + POP3_APOP_USER_MAX + 1,
		 sizeof(longname) - POP3_APOP_USER_MAX - 1, " %s", RFC_DIGEST);
	assert_false(pop3_apop_parse(longname, strlen(longname), user, digest));
}

static void
apop_timestamp_format(void **state)
{
	char a[POP3_APOP_TIMESTAMP_MAX], b[POP3_APOP_TIMESTAMP_MAX];
	char small[20];

	assert_true(pop3_apop_timestamp(a, sizeof(a), "mx.example.test"));
	assert_true(pop3_apop_timestamp(b, sizeof(b), "mx.example.test"));
	assert_int_equal(a[0], '<');
	assert_int_equal(a[strlen(a) - 1], '>');
	assert_non_null(strstr(a, "@mx.example.test>"));
	assert_string_not_equal(a, b);
	assert_false(pop3_apop_timestamp(small, sizeof(small),
					 "mx.example.test"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_line_keywords),
		cmocka_unit_test(parse_line_rejects_garbage),
		cmocka_unit_test(parse_numbers_strict),
		cmocka_unit_test(stuffer_encodes_messages),
		cmocka_unit_test(stuffer_keeps_binary_bytes),
		cmocka_unit_test(apop_verify_rfc1939_example),
		cmocka_unit_test(apop_verify_rejects_mismatch),
		cmocka_unit_test(apop_parse_accepts_valid),
		cmocka_unit_test(apop_parse_rejects_hostile),
		cmocka_unit_test(apop_timestamp_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
