/*
 * Unit tests for smtp_reply: the SMTP client's reply parser (codes,
 * continuation lines, enhanced status codes, limits, split input) and
 * the EHLO keyword parser.
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

#include "smtp_reply.h"

/* Parses s whole; returns the status and sets *used. */
static enum smtp_reply_status
parse_str(struct smtp_reply_parser *p, const char *s, size_t *used)
{
	return smtp_reply_parse(p, s, strlen(s), used);
}

/* Parses s as one reply that must be complete and use all of s. */
static void
parse_complete(struct smtp_reply_parser *p, const char *s)
{
	size_t used = 0;

	smtp_reply_init(p);
	assert_int_equal(parse_str(p, s, &used), SMTP_REPLY_COMPLETE);
	assert_int_equal(used, strlen(s));
}

static void
reply_single_line(void **state)
{
	struct smtp_reply_parser p;

	parse_complete(&p, "250 OK\r\n");
	assert_int_equal(p.reply.code, 250);
	assert_string_equal(p.reply.enhanced, "");
	assert_string_equal(p.reply.text, "OK");
	smtp_reply_free(&p);
}

static void
reply_bare_code_and_lf(void **state)
{
	struct smtp_reply_parser p;

	parse_complete(&p, "250\n");
	assert_int_equal(p.reply.code, 250);
	assert_string_equal(p.reply.text, "");
	smtp_reply_free(&p);

	parse_complete(&p, "220 mx.example ESMTP\n");
	assert_int_equal(p.reply.code, 220);
	assert_string_equal(p.reply.text, "mx.example ESMTP");
	smtp_reply_free(&p);
}

static void
reply_continuation_joined(void **state)
{
	struct smtp_reply_parser p;

	parse_complete(&p, "250-first\r\n250-second  \r\n250 last\r\n");
	assert_int_equal(p.reply.code, 250);
	assert_string_equal(p.reply.text, "first second last");
	assert_string_equal(buf_cstr(&p.lines), "first\nsecond  \nlast\n");
	smtp_reply_free(&p);
}

static void
reply_partial_then_rest(void **state)
{
	const char *part1 = "451-try\r\n451 la", *part2 = "ter\r\n";
	struct smtp_reply_parser p;
	struct buf in = BUF_INIT;
	size_t used = 99;

	smtp_reply_init(&p);
	buf_puts(&in, part1);
	assert_int_equal(smtp_reply_parse(&p, in.data, in.len, &used),
			 SMTP_REPLY_INCOMPLETE);
	assert_int_equal(used, strlen("451-try\r\n"));
	buf_consume(&in, used);
	buf_puts(&in, part2);
	assert_int_equal(smtp_reply_parse(&p, in.data, in.len, &used),
			 SMTP_REPLY_COMPLETE);
	assert_int_equal(used, in.len);
	assert_int_equal(p.reply.code, 451);
	assert_string_equal(p.reply.text, "try later");
	buf_free(&in);
	smtp_reply_free(&p);
}

static void
reply_byte_by_byte(void **state)
{
	const char *s = "550-5.1.1 no\r\n550 5.1.1 such user\r\n";
	struct smtp_reply_parser p;
	struct buf in = BUF_INIT;
	enum smtp_reply_status st = SMTP_REPLY_INCOMPLETE;

	smtp_reply_init(&p);
	for (size_t i = 0; s[i] != '\0'; i++) {
		size_t used;

		buf_putc(&in, s[i]);
		st = smtp_reply_parse(&p, in.data, in.len, &used);
		buf_consume(&in, used);
		if (s[i + 1] != '\0')
			assert_int_equal(st, SMTP_REPLY_INCOMPLETE);
	}
	assert_int_equal(st, SMTP_REPLY_COMPLETE);
	assert_int_equal(in.len, 0);
	assert_int_equal(p.reply.code, 550);
	assert_string_equal(p.reply.enhanced, "5.1.1");
	assert_string_equal(p.reply.text, "no such user");
	buf_free(&in);
	smtp_reply_free(&p);
}

static void
reply_two_in_one_buffer(void **state)
{
	const char *s = "250 2.1.0 sender ok\r\n354 go ahead\r\n";
	struct smtp_reply_parser p;
	size_t used;

	smtp_reply_init(&p);
	assert_int_equal(parse_str(&p, s, &used), SMTP_REPLY_COMPLETE);
	assert_int_equal(used, strlen("250 2.1.0 sender ok\r\n"));
	assert_int_equal(p.reply.code, 250);
	assert_string_equal(p.reply.enhanced, "2.1.0");
	assert_int_equal(parse_str(&p, s + used, &used), SMTP_REPLY_COMPLETE);
	assert_int_equal(p.reply.code, 354);
	assert_string_equal(p.reply.enhanced, "");
	assert_string_equal(p.reply.text, "go ahead");
	smtp_reply_free(&p);
}

static void
reply_bad_codes(void **state)
{
	static const char *const cases[] = {
	    "\r\n",	    "abc def\r\n", "25\r\n",	 "2\r\n",
	    "600 no\r\n",   "199 no\r\n",  "260 no\r\n", "2500 no\r\n",
	    "250x no\r\n",  "250\tno\r\n", " 250 no\r\n", "25a no\r\n",
	    "-250 no\r\n",
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_reply_parser p;
		size_t used;

		smtp_reply_init(&p);
		if (parse_str(&p, cases[i], &used) != SMTP_REPLY_GARBLED)
			fail_msg("accepted %s", cases[i]);
		assert_string_equal(p.error, "invalid reply code");
		smtp_reply_free(&p);
	}
}

static void
reply_code_change_garbled(void **state)
{
	struct smtp_reply_parser p;
	size_t used;

	smtp_reply_init(&p);
	assert_int_equal(parse_str(&p, "250-a\r\n251 b\r\n", &used),
			 SMTP_REPLY_GARBLED);
	assert_string_equal(p.error,
			    "reply code changed within a multiline reply");
	smtp_reply_free(&p);

	smtp_reply_init(&p);
	assert_int_equal(parse_str(&p, "250-a\r\n550 b\r\n", &used),
			 SMTP_REPLY_GARBLED);
	smtp_reply_free(&p);
}

static void
reply_line_length_limit(void **state)
{
	struct smtp_reply_parser p;
	char *line = malloc(SMTP_REPLY_LINE_MAX + 16);
	size_t used;

	/* A line of exactly SMTP_REPLY_LINE_MAX bytes, CRLF included. */
	memcpy(line, "250 ", 4);
	memset(line + 4, 'x', SMTP_REPLY_LINE_MAX - 6);
	memcpy(line + SMTP_REPLY_LINE_MAX - 2, "\r\n", 3);
	assert_int_equal(strlen(line), SMTP_REPLY_LINE_MAX);
	parse_complete(&p, line);
	assert_int_equal(strlen(p.reply.text), sizeof(p.reply.text) - 1);
	smtp_reply_free(&p);

	/* One byte more. */
	memcpy(line + SMTP_REPLY_LINE_MAX - 2, "x\r\n", 4);
	smtp_reply_init(&p);
	assert_int_equal(parse_str(&p, line, &used), SMTP_REPLY_GARBLED);
	assert_string_equal(p.error, "reply line too long");
	smtp_reply_free(&p);

	/* A partial line already past the limit. */
	line[SMTP_REPLY_LINE_MAX] = 'x';
	smtp_reply_init(&p);
	assert_int_equal(smtp_reply_parse(&p, line, SMTP_REPLY_LINE_MAX + 1,
					  &used),
			 SMTP_REPLY_GARBLED);
	assert_string_equal(p.error, "reply line too long");
	smtp_reply_free(&p);

	/* A partial line within it waits for more. */
	smtp_reply_init(&p);
	assert_int_equal(smtp_reply_parse(&p, line, SMTP_REPLY_LINE_MAX - 10,
					  &used),
			 SMTP_REPLY_INCOMPLETE);
	assert_int_equal(used, 0);
	smtp_reply_free(&p);
	free(line);
}

static void
reply_size_limit(void **state)
{
	struct smtp_reply_parser p;
	struct buf in = BUF_INIT;
	enum smtp_reply_status st;
	size_t used;

	while (in.len <= SMTP_REPLY_SIZE_MAX)
		buf_puts(&in, "250-a continuation line of a long reply\r\n");
	buf_puts(&in, "250 end\r\n");
	smtp_reply_init(&p);
	st = smtp_reply_parse(&p, in.data, in.len, &used);
	assert_int_equal(st, SMTP_REPLY_GARBLED);
	assert_string_equal(p.error, "reply too long");
	smtp_reply_free(&p);
	buf_free(&in);
}

static void
reply_text_cut_with_dots(void **state)
{
	struct smtp_reply_parser p;
	struct buf in = BUF_INIT;
	size_t len;

	for (int i = 0; i < 40; i++)
		buf_printf(&in, "550-line %02d of a long rejection\r\n", i);
	buf_puts(&in, "550 last\r\n");
	parse_complete(&p, buf_cstr(&in));
	len = strlen(p.reply.text);
	assert_int_equal(len, sizeof(p.reply.text) - 1);
	assert_memory_equal(p.reply.text + len - 3, "...", 3);
	assert_memory_equal(p.reply.text, "line 00 of a long rejection line 01",
			    35);
	smtp_reply_free(&p);
	buf_free(&in);
}

static void
reply_text_made_printable(void **state)
{
	struct smtp_reply_parser p;
	const char s[] = "550 bad\x01\xff text\x7f\r\n";

	parse_complete(&p, s);
	assert_string_equal(p.reply.text, "bad?? text?");
	smtp_reply_free(&p);

	/* A bare CR inside a line is a byte like any other. */
	parse_complete(&p, "250 a\rb\r\n");
	assert_string_equal(p.reply.text, "a?b");
	smtp_reply_free(&p);
}

static void
reply_enhanced_code_extracted(void **state)
{
	static const struct {
		const char *reply, *enhanced, *text;
	} cases[] = {
	    {"550 5.1.1 No such user\r\n", "5.1.1", "No such user"},
	    {"250 2.0.0\r\n", "2.0.0", ""},
	    {"451 4.7.100 greylisted\r\n", "4.7.100", "greylisted"},
	    {"550 2.1.1 class differs\r\n", "", "2.1.1 class differs"},
	    {"250 2.0 short\r\n", "", "2.0 short"},
	    {"250 2.0.0000 long\r\n", "", "2.0.0000 long"},
	    {"250 2.0.0x glued\r\n", "", "2.0.0x glued"},
	    {"250 3.0.0 bad class\r\n", "", "3.0.0 bad class"},
	    {"250 x 2.0.0 later\r\n", "", "x 2.0.0 later"},
	    {"550-5.7.1 first\r\n550-5.7.1 second\r\n550 5.7.1 third\r\n",
	     "5.7.1", "first second third"},
	    {"550-5.7.1 first\r\n550 5.7.2 other\r\n", "5.7.1",
	     "first 5.7.2 other"},
	    {"550-first\r\n550 5.7.1 late\r\n", "", "first 5.7.1 late"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_reply_parser p;

		parse_complete(&p, cases[i].reply);
		if (strcmp(p.reply.enhanced, cases[i].enhanced) != 0 ||
		    strcmp(p.reply.text, cases[i].text) != 0)
			fail_msg("%s: enhanced '%s' text '%s'", cases[i].reply,
				 p.reply.enhanced, p.reply.text);
		smtp_reply_free(&p);
	}
}

static void
reply_next_resets_state(void **state)
{
	struct smtp_reply_parser p;
	size_t used;

	parse_complete(&p, "550-5.1.1 a\r\n550 5.1.1 b\r\n");
	assert_int_equal(parse_str(&p, "250 ok\r\n", &used),
			 SMTP_REPLY_COMPLETE);
	assert_int_equal(p.reply.code, 250);
	assert_string_equal(p.reply.enhanced, "");
	assert_string_equal(p.reply.text, "ok");
	assert_string_equal(buf_cstr(&p.lines), "ok\n");
	smtp_reply_free(&p);
}

static void
ehlo_keywords(void **state)
{
	struct smtp_reply_parser p;
	struct smtp_ehlo e;

	parse_complete(&p, "250-mx.example greets you\r\n"
			   "250-PIPELINING\r\n"
			   "250-SIZE 10240000\r\n"
			   "250-8BITMIME\r\n"
			   "250-SMTPUTF8\r\n"
			   "250-STARTTLS\r\n"
			   "250-AUTH PLAIN LOGIN CRAM-MD5 DIGEST-MD5\r\n"
			   "250-DSN\r\n"
			   "250 ENHANCEDSTATUSCODES\r\n");
	smtp_ehlo_parse(&p, &e);
	assert_true(e.pipelining);
	assert_true(e.size);
	assert_int_equal(e.size_max, 10240000);
	assert_true(e.eightbitmime);
	assert_true(e.smtputf8);
	assert_true(e.starttls);
	assert_true(e.enhancedstatuscodes);
	assert_int_equal(e.auth, SMTP_AUTH_PLAIN | SMTP_AUTH_LOGIN |
				     SMTP_AUTH_CRAM_MD5);
	smtp_reply_free(&p);
}

static void
ehlo_case_and_legacy_auth(void **state)
{
	struct smtp_reply_parser p;
	struct smtp_ehlo e;

	parse_complete(&p, "250-mx\r\n250-pipelining\r\n250-auth=login\r\n"
			   "250-Auth cram-md5\r\n250 starttls\r\n");
	smtp_ehlo_parse(&p, &e);
	assert_true(e.pipelining);
	assert_true(e.starttls);
	assert_int_equal(e.auth, SMTP_AUTH_LOGIN | SMTP_AUTH_CRAM_MD5);
	assert_false(e.size);
	smtp_reply_free(&p);
}

static void
ehlo_first_line_skipped(void **state)
{
	struct smtp_reply_parser p;
	struct smtp_ehlo e;

	/* The first line is the server's name, even when it looks like a
	 * keyword; a one-line EHLO reply has no extensions. */
	parse_complete(&p, "250-PIPELINING\r\n250 HELP\r\n");
	smtp_ehlo_parse(&p, &e);
	assert_false(e.pipelining);
	smtp_reply_free(&p);

	parse_complete(&p, "250 STARTTLS\r\n");
	smtp_ehlo_parse(&p, &e);
	assert_false(e.starttls);
	smtp_reply_free(&p);
}

static void
ehlo_size_values(void **state)
{
	static const struct {
		const char *line;
		size_t max;
	} cases[] = {
	    {"SIZE", 0},
	    {"SIZE 0", 0},
	    {"SIZE 52428800", 52428800},
	    {"SIZE   1000", 1000},
	    {"SIZE abc", 0},
	    {"SIZE 12x", 0},
	    {"SIZE -5", 0},
	    {"SIZE 99999999999999999999999", 0},
	    {"SIZEX 100", 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct smtp_reply_parser p;
		struct smtp_ehlo e;
		char reply[128];

		snprintf(reply, sizeof(reply), "250-mx\r\n250 %s\r\n",
			 cases[i].line);
		parse_complete(&p, reply);
		smtp_ehlo_parse(&p, &e);
		if (e.size_max != cases[i].max)
			fail_msg("%s: size_max %zu", cases[i].line, e.size_max);
		if (e.size != (strncmp(cases[i].line, "SIZEX", 5) != 0))
			fail_msg("%s: size flag %d", cases[i].line, e.size);
		smtp_reply_free(&p);
	}
}

static void
printable_copy(void **state)
{
	char out[8];

	assert_string_equal(smtp_reply_printable(out, sizeof(out), "a\nb\x80", 4),
			    "a?b?");
	assert_string_equal(
		smtp_reply_printable(out, sizeof(out), "0123456789", 10),
		"0123456");
	assert_string_equal(smtp_reply_printable(out, sizeof(out), "", 0), "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(reply_single_line),
	    cmocka_unit_test(reply_bare_code_and_lf),
	    cmocka_unit_test(reply_continuation_joined),
	    cmocka_unit_test(reply_partial_then_rest),
	    cmocka_unit_test(reply_byte_by_byte),
	    cmocka_unit_test(reply_two_in_one_buffer),
	    cmocka_unit_test(reply_bad_codes),
	    cmocka_unit_test(reply_code_change_garbled),
	    cmocka_unit_test(reply_line_length_limit),
	    cmocka_unit_test(reply_size_limit),
	    cmocka_unit_test(reply_text_cut_with_dots),
	    cmocka_unit_test(reply_text_made_printable),
	    cmocka_unit_test(reply_enhanced_code_extracted),
	    cmocka_unit_test(reply_next_resets_state),
	    cmocka_unit_test(ehlo_keywords),
	    cmocka_unit_test(ehlo_case_and_legacy_auth),
	    cmocka_unit_test(ehlo_first_line_skipped),
	    cmocka_unit_test(ehlo_size_values),
	    cmocka_unit_test(printable_copy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
