/*
 * Unit tests for IMAP command framing (imap_frame): lines, literals,
 * LITERAL+, limits and recovery after a rejected command.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "imap/imap_frame.h"

static const struct imap_frame_limits lim = {.line_max = 64,
					     .literal_max = 100};

/* Feeds s; returns the result, with the bytes used in *used. */
static enum imap_frame_result
feed(struct imap_frame *f, struct buf *cmd, const char *s, size_t len,
     size_t *used)
{
	return imap_frame_feed(f, cmd, s, len, &lim, used);
}

static void
frame_simple_line(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	const char *in = "a NOOP\r\nb NOOP\r\n";
	size_t used;

	imap_frame_init(&f);
	assert_int_equal(feed(&f, &cmd, in, strlen(in), &used),
			 IMAP_FRAME_COMMAND);
	assert_int_equal(used, 8);
	assert_int_equal(cmd.len, 8);
	assert_memory_equal(cmd.data, "a NOOP\r\n", 8);
	buf_reset(&cmd);
	assert_int_equal(feed(&f, &cmd, in + used, strlen(in) - used, &used),
			 IMAP_FRAME_COMMAND);
	assert_int_equal(used, 8);
	buf_free(&cmd);
}

static void
frame_split_feeds(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	size_t used;

	imap_frame_init(&f);
	assert_int_equal(feed(&f, &cmd, "a NO", 4, &used), IMAP_FRAME_MORE);
	assert_int_equal(used, 4);
	assert_int_equal(feed(&f, &cmd, "OP\r", 3, &used), IMAP_FRAME_MORE);
	assert_int_equal(feed(&f, &cmd, "\n", 1, &used), IMAP_FRAME_COMMAND);
	assert_string_equal(buf_cstr(&cmd), "a NOOP\r\n");
	buf_free(&cmd);
}

static void
frame_bare_lf(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	size_t used;

	imap_frame_init(&f);
	assert_int_equal(feed(&f, &cmd, "a NOOP\n", 7, &used),
			 IMAP_FRAME_COMMAND);
	assert_int_equal(used, 7);
	buf_free(&cmd);
}

static void
frame_sync_literal(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	const char *l1 = "a LOGIN {5}\r\n";
	const char *l2 = "alice \"pw\"\r\n";
	size_t used;

	imap_frame_init(&f);
	assert_int_equal(feed(&f, &cmd, l1, strlen(l1), &used),
			 IMAP_FRAME_CONTINUE);
	assert_int_equal(used, strlen(l1));
	assert_int_equal(feed(&f, &cmd, l2, strlen(l2), &used),
			 IMAP_FRAME_COMMAND);
	assert_int_equal(used, strlen(l2));
	assert_string_equal(buf_cstr(&cmd), "a LOGIN {5}\r\nalice \"pw\"\r\n");
	buf_free(&cmd);
}

static void
frame_literal_with_crlf_inside(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	const char *in = "a APPEND x {4+}\r\n\r\n\r\n\r\n";
	size_t used;

	imap_frame_init(&f);
	assert_int_equal(feed(&f, &cmd, in, strlen(in), &used),
			 IMAP_FRAME_COMMAND);
	assert_int_equal(used, strlen(in));
	buf_free(&cmd);
}

static void
frame_literal_plus_no_continue(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	const char *in = "a LOGIN {5+}\r\nalice {2+}\r\npw\r\n";
	size_t used;

	imap_frame_init(&f);
	assert_int_equal(feed(&f, &cmd, in, strlen(in), &used),
			 IMAP_FRAME_COMMAND);
	assert_int_equal(used, strlen(in));
	assert_int_equal(cmd.len, strlen(in));
	buf_free(&cmd);
}

static void
frame_zero_literals(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	const char *in = "a LOGIN {0+}\r\n {0}\r\n";
	size_t used;

	imap_frame_init(&f);
	assert_int_equal(feed(&f, &cmd, in, strlen(in), &used),
			 IMAP_FRAME_CONTINUE);
	assert_int_equal(used, strlen(in));
	assert_int_equal(feed(&f, &cmd, "\r\n", 2, &used), IMAP_FRAME_COMMAND);
	buf_free(&cmd);
}

static void
frame_line_at_limit(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	char line[65];
	size_t used;

	memset(line, 'x', 62);
	memcpy(line + 62, "\r\n", 2);
	imap_frame_init(&f);
	assert_int_equal(feed(&f, &cmd, line, 64, &used), IMAP_FRAME_COMMAND);
	buf_free(&cmd);
}

static void
frame_line_too_long(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	char big[300];
	size_t used;

	memcpy(big, "t1 ", 3);
	memset(big + 3, 'x', sizeof(big) - 3);
	imap_frame_init(&f);
	/* No line end yet: the framer starts skipping at once. */
	assert_int_equal(feed(&f, &cmd, big, sizeof(big), &used),
			 IMAP_FRAME_MORE);
	assert_int_equal(used, sizeof(big));
	assert_true(cmd.len <= IMAP_FRAME_KEEP);
	assert_memory_equal(cmd.data, "t1 ", 3);
	assert_int_equal(feed(&f, &cmd, big, 100, &used), IMAP_FRAME_MORE);
	assert_int_equal(feed(&f, &cmd, "xx\r\nt2 NOOP\r\n", 13, &used),
			 IMAP_FRAME_REJECT);
	assert_int_equal(f.reject, IMAP_REJECT_LINE_TOO_LONG);
	assert_int_equal(used, 4);
	buf_reset(&cmd);
	assert_int_equal(feed(&f, &cmd, "t2 NOOP\r\n", 9, &used),
			 IMAP_FRAME_COMMAND);
	assert_int_equal(f.reject, IMAP_REJECT_NONE);
	assert_string_equal(buf_cstr(&cmd), "t2 NOOP\r\n");
	buf_free(&cmd);
}

static void
frame_long_line_skips_plus_literal(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	char big[200];
	size_t used;

	memset(big, 'y', sizeof(big));
	memcpy(big + sizeof(big) - 7, " {3+}\r\n", 7);
	imap_frame_init(&f);
	assert_int_equal(feed(&f, &cmd, big, sizeof(big), &used),
			 IMAP_FRAME_MORE);
	/* The literal octets hold a line end that must not end the skip. */
	assert_int_equal(feed(&f, &cmd, "a\r\n\r\n", 5, &used),
			 IMAP_FRAME_REJECT);
	assert_int_equal(used, 5);
	buf_free(&cmd);
}

static void
frame_many_lines_over_limit(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	size_t used, i;
	enum imap_frame_result r = IMAP_FRAME_MORE;

	/* Each line is short, but the command's lines add up. */
	imap_frame_init(&f);
	r = feed(&f, &cmd, "a LOGIN {0+}\r\n", 14, &used);
	for (i = 0; i < 20 && r == IMAP_FRAME_MORE; i++)
		r = feed(&f, &cmd, "x {0+}\r\n", 8, &used);
	/* 14 + 6 * 8 = 62 octets fit in 64; the seventh line does not. */
	assert_int_equal(i, 7);
	assert_int_equal(r, IMAP_FRAME_REJECT);
	assert_int_equal(f.reject, IMAP_REJECT_LINE_TOO_LONG);
	buf_free(&cmd);
}

static void
frame_sync_literal_at_limit(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	const char *in = "a APPEND x {100}\r\n";
	size_t used;

	imap_frame_init(&f);
	assert_int_equal(feed(&f, &cmd, in, strlen(in), &used),
			 IMAP_FRAME_CONTINUE);
	buf_free(&cmd);
}

static void
frame_sync_literal_too_big(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	const char *in = "a APPEND x {101}\r\nb NOOP\r\n";
	size_t used;

	imap_frame_init(&f);
	assert_int_equal(feed(&f, &cmd, in, strlen(in), &used),
			 IMAP_FRAME_REJECT);
	assert_int_equal(f.reject, IMAP_REJECT_LITERAL_TOO_BIG);
	assert_int_equal(used, 18);
	buf_reset(&cmd);
	assert_int_equal(feed(&f, &cmd, in + used, strlen(in) - used, &used),
			 IMAP_FRAME_COMMAND);
	assert_string_equal(buf_cstr(&cmd), "b NOOP\r\n");
	buf_free(&cmd);
}

static void
frame_literals_add_up(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	char data[60];
	size_t used;

	memset(data, 'z', sizeof(data));
	imap_frame_init(&f);
	assert_int_equal(feed(&f, &cmd, "a X {60+}\r\n", 11, &used),
			 IMAP_FRAME_MORE);
	assert_int_equal(feed(&f, &cmd, data, 60, &used), IMAP_FRAME_MORE);
	/* 60 + 41 > 100 */
	assert_int_equal(feed(&f, &cmd, " {41}\r\n", 7, &used),
			 IMAP_FRAME_REJECT);
	assert_int_equal(f.reject, IMAP_REJECT_LITERAL_TOO_BIG);
	buf_free(&cmd);
}

static void
frame_plus_literal_too_big(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	char data[500];
	size_t used, total = 0;
	enum imap_frame_result r;

	memset(data, '\n', sizeof(data));
	imap_frame_init(&f);
	r = feed(&f, &cmd, "t9 APPEND x {500+}\r\n", 20, &used);
	assert_int_equal(r, IMAP_FRAME_MORE);
	assert_memory_equal(cmd.data, "t9 ", 3);
	/* The 500 octets (all line ends) are dropped without a reply. */
	while (total < sizeof(data)) {
		r = feed(&f, &cmd, data + total, 50, &used);
		assert_int_equal(r, IMAP_FRAME_MORE);
		assert_int_equal(used, 50);
		total += used;
	}
	r = feed(&f, &cmd, " rest\r\nn NOOP\r\n", 15, &used);
	assert_int_equal(r, IMAP_FRAME_REJECT);
	assert_int_equal(f.reject, IMAP_REJECT_LITERAL_PLUS_TOO_BIG);
	assert_int_equal(used, 7);
	assert_memory_equal(cmd.data, "t9 ", 3);
	buf_free(&cmd);
}

static void
frame_huge_literal_size(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	const char *in = "a X {99999999999999999999999}\r\n";
	size_t used;

	imap_frame_init(&f);
	assert_int_equal(feed(&f, &cmd, in, strlen(in), &used),
			 IMAP_FRAME_REJECT);
	assert_int_equal(f.reject, IMAP_REJECT_LITERAL_TOO_BIG);
	buf_free(&cmd);
}

static void
literal_suffix_cases(void **state)
{
	static const struct {
		const char *line;
		int ret;
		uint64_t size;
		bool plus;
	} cases[] = {
		{"a {5}", 1, 5, false},
		{"a {5+}", 1, 5, true},
		{"{0}", 1, 0, false},
		{"a {}", 0, 0, false},
		{"a {+}", 0, 0, false},
		{"a {5a}", 0, 0, false},
		{"a 5}", 0, 0, false},
		{"a {5} ", 0, 0, false},
		{"a \"{5}\"", 0, 0, false},
		{"{99999999999999999999999}", 1, UINT64_MAX, false},
		{"}", 0, 0, false},
		{"", 0, 0, false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t size = 0;
		bool plus = false;
		int r = imap_literal_suffix(cases[i].line,
					    strlen(cases[i].line), &size,
					    &plus);

		assert_int_equal(r, cases[i].ret);
		if (r == 1) {
			assert_true(size == cases[i].size);
			assert_int_equal(plus, cases[i].plus);
		}
	}
}

static void
frame_nul_passes_through(void **state)
{
	struct imap_frame f;
	struct buf cmd = BUF_INIT;
	const char in[] = "a NO\0OP\r\n";
	size_t used;

	imap_frame_init(&f);
	assert_int_equal(feed(&f, &cmd, in, sizeof(in) - 1, &used),
			 IMAP_FRAME_COMMAND);
	assert_int_equal(cmd.len, sizeof(in) - 1);
	buf_free(&cmd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frame_simple_line),
		cmocka_unit_test(frame_split_feeds),
		cmocka_unit_test(frame_bare_lf),
		cmocka_unit_test(frame_sync_literal),
		cmocka_unit_test(frame_literal_with_crlf_inside),
		cmocka_unit_test(frame_literal_plus_no_continue),
		cmocka_unit_test(frame_zero_literals),
		cmocka_unit_test(frame_line_at_limit),
		cmocka_unit_test(frame_line_too_long),
		cmocka_unit_test(frame_long_line_skips_plus_literal),
		cmocka_unit_test(frame_many_lines_over_limit),
		cmocka_unit_test(frame_sync_literal_at_limit),
		cmocka_unit_test(frame_sync_literal_too_big),
		cmocka_unit_test(frame_literals_add_up),
		cmocka_unit_test(frame_plus_literal_too_big),
		cmocka_unit_test(frame_huge_literal_size),
		cmocka_unit_test(literal_suffix_cases),
		cmocka_unit_test(frame_nul_passes_through),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
