/*
 * Unit tests for smtp_data: dot-unstuffing, the end-of-data line, flaw
 * detection (bare CR, bare LF, NUL, long lines), input split at every
 * byte, and BDAT mode.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "smtp/smtp_data.h"

struct decoded {
	struct buf out;
	size_t consumed;
	bool done;
	unsigned flaws;
};

/* Decodes in[0..len) in chunks of step bytes (0: all at once). */
static void
decode(const char *in, size_t len, size_t step, bool dot_stuffed, size_t limit,
       struct decoded *r)
{
	struct smtp_data_decoder d;
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	buf_init(&r->out);
	smtp_data_init(&d, dot_stuffed, limit);
	while (off < len && !smtp_data_done(&d)) {
		size_t n = step == 0 || step > len - off ? len - off : step;
		size_t used = smtp_data_decode(&d, in + off, n, &r->out);

		assert_true(used <= n);
		off += used;
		if (used < n)
			break;
	}
	r->consumed = off;
	r->done = smtp_data_done(&d);
	r->flaws = d.flaws;
}

static void
data_plain_message_ends(void **state)
{
	const char in[] = "Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n";
	struct decoded r;

	decode(in, sizeof(in) - 1, 0, true, 1000, &r);
	assert_true(r.done);
	assert_int_equal(r.consumed, sizeof(in) - 1 - strlen("QUIT\r\n"));
	assert_string_equal(buf_cstr(&r.out), "Subject: x\r\n\r\nbody\r\n");
	assert_int_equal(r.flaws, 0);
	buf_free(&r.out);
}

static void
data_empty_message_ends(void **state)
{
	struct decoded r;

	decode(".\r\n", 3, 0, true, 1000, &r);
	assert_true(r.done);
	assert_int_equal(r.consumed, 3);
	assert_int_equal(r.out.len, 0);
	buf_free(&r.out);
}

static void
data_dot_unstuffing(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
	    {"..\r\n.\r\n", ".\r\n"},
	    {"..x\r\n.\r\n", ".x\r\n"},
	    {".x\r\n.\r\n", "x\r\n"},
	    {"a.\r\n.\r\n", "a.\r\n"},
	    {"a\r\n...\r\n.\r\n", "a\r\n..\r\n"},
	    {"a\r\n. \r\n.\r\n", "a\r\n \r\n"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct decoded r;

		decode(cases[i].in, strlen(cases[i].in), 0, true, 1000, &r);
		assert_true(r.done);
		assert_string_equal(buf_cstr(&r.out), cases[i].out);
		assert_int_equal(r.flaws, 0);
		buf_free(&r.out);
	}
}

/* Only CRLF "." CRLF ends DATA; each of these is content. */
static void
data_smuggled_ends_ignored(void **state)
{
	static const struct {
		const char *in;
		unsigned flaws;
	} cases[] = {
	    {"a\n.\nb", SMTP_DATA_BARE_LF},
	    {"a\n.\r\nb", SMTP_DATA_BARE_LF},
	    {"a\r\n.\nb", SMTP_DATA_BARE_LF},
	    {"a\r.\r\nb", SMTP_DATA_BARE_CR},
	    {"a\r\n.\rb", SMTP_DATA_BARE_CR},
	    {"a\r\n.\r\rb", SMTP_DATA_BARE_CR},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct decoded r;

		decode(cases[i].in, strlen(cases[i].in), 0, true, 1000, &r);
		if (r.done)
			fail_msg("case %zu ended DATA", i);
		assert_int_equal(r.consumed, strlen(cases[i].in));
		assert_true(r.flaws & cases[i].flaws);
		buf_free(&r.out);
	}
}

static void
data_flaws_detected(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		unsigned flaws;
	} cases[] = {
	    {"a\nb\r\n.\r\n", 8, SMTP_DATA_BARE_LF},
	    {"\n\r\n.\r\n", 6, SMTP_DATA_BARE_LF},
	    {"a\rb\r\n.\r\n", 8, SMTP_DATA_BARE_CR},
	    {"a\r\r\n.\r\n", 7, SMTP_DATA_BARE_CR},
	    {"a\0b\r\n.\r\n", 8, SMTP_DATA_NUL},
	    {"\0\r\n.\r\n", 6, SMTP_DATA_NUL},
	    {"a\0\nb\rc\r\n.\r\n", 11,
	     SMTP_DATA_NUL | SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct decoded r;

		decode(cases[i].in, cases[i].len, 0, true, 1000, &r);
		assert_true(r.done);
		assert_int_equal(r.flaws, cases[i].flaws);
		buf_free(&r.out);
	}
}

static void
data_line_limit_counts_crlf(void **state)
{
	char in[64];
	struct decoded r;

	/* Limit 10: 8 octets plus CRLF fit, 9 do not. */
	memcpy(in, "12345678\r\n.\r\n", 13);
	decode(in, 13, 0, true, 10, &r);
	assert_true(r.done);
	assert_int_equal(r.flaws, 0);
	buf_free(&r.out);

	memcpy(in, "123456789\r\n.\r\n", 14);
	decode(in, 14, 0, true, 10, &r);
	assert_true(r.done);
	assert_int_equal(r.flaws, SMTP_DATA_LONG_LINE);
	buf_free(&r.out);

	/* The count restarts after each CRLF. */
	memcpy(in, "12345678\r\n12345678\r\n.\r\n", 23);
	decode(in, 23, 0, true, 10, &r);
	assert_int_equal(r.flaws, 0);
	buf_free(&r.out);

	/* Limit 0 means none. */
	memcpy(in, "123456789\r\n.\r\n", 14);
	decode(in, 14, 0, true, 0, &r);
	assert_int_equal(r.flaws, 0);
	buf_free(&r.out);
}

/* The result must not depend on how the input is split. */
static void
data_split_at_every_byte(void **state)
{
	const char in[] = "A: b\r\n..dot\r\n.\r\r\nx\ny\r\n.x\r\n\r\n.\r\nNEXT";
	size_t len = sizeof(in) - 1;
	struct decoded whole, part;

	decode(in, len, 0, true, 1000, &whole);
	assert_true(whole.done);
	for (size_t step = 1; step < len; step++) {
		decode(in, len, step, true, 1000, &part);
		assert_true(part.done);
		assert_int_equal(part.consumed, whole.consumed);
		assert_int_equal(part.flaws, whole.flaws);
		assert_int_equal(part.out.len, whole.out.len);
		assert_memory_equal(part.out.data, whole.out.data,
				    whole.out.len);
		buf_free(&part.out);
	}
	assert_int_equal(whole.consumed, len - 4);
	assert_int_equal(whole.flaws, SMTP_DATA_BARE_CR | SMTP_DATA_BARE_LF);
	buf_free(&whole.out);
}

static void
bdat_mode_raw_content(void **state)
{
	struct smtp_data_decoder d;
	struct buf out = BUF_INIT;
	const char in[] = ".\r\n..\r\nend";

	smtp_data_init(&d, false, 1000);
	assert_int_equal(smtp_data_decode(&d, in, sizeof(in) - 1, &out),
			 sizeof(in) - 1);
	assert_false(smtp_data_done(&d));
	smtp_data_finish(&d, &out);
	assert_string_equal(buf_cstr(&out), ".\r\n..\r\nend\r\n");
	assert_int_equal(d.flaws, 0);
	buf_free(&out);
}

static void
bdat_mode_crlf_across_chunks(void **state)
{
	struct smtp_data_decoder d;
	struct buf out = BUF_INIT;

	smtp_data_init(&d, false, 1000);
	smtp_data_decode(&d, "a\r", 2, &out);
	smtp_data_decode(&d, "\nb\r\n", 4, &out);
	smtp_data_finish(&d, &out);
	assert_string_equal(buf_cstr(&out), "a\r\nb\r\n");
	assert_int_equal(d.flaws, 0);
	buf_free(&out);
}

static void
bdat_mode_trailing_cr_flagged(void **state)
{
	struct smtp_data_decoder d;
	struct buf out = BUF_INIT;

	smtp_data_init(&d, false, 1000);
	smtp_data_decode(&d, "a\r", 2, &out);
	smtp_data_finish(&d, &out);
	assert_int_equal(d.flaws, SMTP_DATA_BARE_CR);
	buf_free(&out);

	smtp_data_init(&d, false, 1000);
	smtp_data_decode(&d, "a\nb\r\n", 5, &out);
	smtp_data_finish(&d, &out);
	assert_int_equal(d.flaws, SMTP_DATA_BARE_LF);
	buf_free(&out);
}

/* Decodes in with hop_limit in chunks of step bytes; returns the hops. */
static unsigned
count_hops(const char *in, unsigned hop_limit, size_t step, unsigned *flaws)
{
	struct smtp_data_decoder d;
	struct buf out = BUF_INIT;
	size_t len = strlen(in), off = 0;

	smtp_data_init(&d, true, 1000);
	d.hop_limit = hop_limit;
	while (off < len && !smtp_data_done(&d)) {
		size_t n = step > len - off ? len - off : step;

		off += smtp_data_decode(&d, in + off, n, &out);
	}
	buf_free(&out);
	*flaws = d.flaws;
	return d.hops;
}

static void
data_hops_counted_in_header_only(void **state)
{
	const char in[] = "Received: from a by b; date\r\n"
			  "RECEIVED: from b\r\n\tby c; date\r\n"
			  "X-Received: not a hop\r\n"
			  "Subject: Received: neither\r\n"
			  "received:x\r\n"
			  "\r\n"
			  "Received: in the body\r\n"
			  ".\r\n";
	unsigned flaws;

	for (size_t step = 1; step <= sizeof(in); step++) {
		assert_int_equal(count_hops(in, 0, step, &flaws), 3);
		assert_int_equal(flaws, 0);
	}
	assert_int_equal(count_hops(in, 4, 7, &flaws), 3);
	assert_int_equal(flaws, 0);
	count_hops(in, 3, 7, &flaws);
	assert_int_equal(flaws, SMTP_DATA_TOO_MANY_HOPS);
	assert_memory_equal(smtp_data_flaw_reply(flaws), "554 5.4.6 ", 10);
}

static void
flaw_reply_priority(void **state)
{
	assert_null(smtp_data_flaw_reply(0));
	assert_memory_equal(smtp_data_flaw_reply(SMTP_DATA_BARE_LF),
			    "550 5.5.2 ", 10);
	assert_memory_equal(smtp_data_flaw_reply(SMTP_DATA_BARE_CR),
			    "550 5.5.2 ", 10);
	assert_memory_equal(smtp_data_flaw_reply(SMTP_DATA_NUL), "554 5.6.0 ",
			    10);
	assert_memory_equal(smtp_data_flaw_reply(SMTP_DATA_LONG_LINE),
			    "554 5.6.0 ", 10);
	assert_non_null(strstr(
	    smtp_data_flaw_reply(SMTP_DATA_NUL | SMTP_DATA_BARE_LF), "<LF>"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(data_plain_message_ends),
	    cmocka_unit_test(data_empty_message_ends),
	    cmocka_unit_test(data_dot_unstuffing),
	    cmocka_unit_test(data_smuggled_ends_ignored),
	    cmocka_unit_test(data_flaws_detected),
	    cmocka_unit_test(data_line_limit_counts_crlf),
	    cmocka_unit_test(data_split_at_every_byte),
	    cmocka_unit_test(bdat_mode_raw_content),
	    cmocka_unit_test(bdat_mode_crlf_across_chunks),
	    cmocka_unit_test(bdat_mode_trailing_cr_flagged),
	    cmocka_unit_test(data_hops_counted_in_header_only),
	    cmocka_unit_test(flaw_reply_priority),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
