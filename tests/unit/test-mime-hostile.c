/*
 * Hostile input for the MIME module: random bytes, deep nesting, huge
 * part counts and giant headers. The assertions are that every call
 * returns, the tree stays within its limits and each case finishes
 * within HOSTILE_MAX_SECONDS. That bound is generous so it also passes
 * under AddressSanitizer, while a quadratic rescan would take minutes.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "buf.h"
#include "mime/mime.h"

#define HOSTILE_MAX_SECONDS 20.0

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
count_parts(const struct mime_part *p)
{
	size_t n = 1, i;

	for (i = 0; i < p->nchildren; i++)
		n += count_parts(&p->children[i]);
	if (p->message != NULL)
		n += count_parts(p->message);
	return n;
}

static size_t
max_depth(const struct mime_part *p)
{
	size_t d = 0, i, c;

	for (i = 0; i < p->nchildren; i++) {
		c = max_depth(&p->children[i]) + 1;
		d = c > d ? c : d;
	}
	if (p->message != NULL) {
		c = max_depth(p->message) + 1;
		d = c > d ? c : d;
	}
	return d;
}

/* Runs every public function on msg and returns the seconds it took. */
static double
exercise(const char *msg, size_t len)
{
	static const char *const specs[] = {
	    "",
	    "HEADER",
	    "TEXT",
	    "1",
	    "1.1.1.1",
	    "2.MIME",
	    "HEADER.FIELDS (SUBJECT TO)",
	    "1.HEADER.FIELDS.NOT (FROM)",
	};
	double start = now_seconds();
	struct mime_part *root = mime_parse(msg, len);
	struct buf out = BUF_INIT;
	size_t i;

	assert_true(count_parts(root) <= MIME_MAX_PARTS);
	assert_true(max_depth(root) < MIME_MAX_DEPTH);
	imap_bodystructure(&out, msg, root, true);
	assert_true(out.len > 0);
	buf_reset(&out);
	imap_bodystructure(&out, msg, root, false);
	buf_reset(&out);
	imap_envelope(&out, msg, root->header_start, root->header_end);
	assert_true(out.len > 0);
	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		buf_reset(&out);
		assert_int_equal(
		    imap_section_fetch(&out, msg, len, root, specs[i]), 0);
	}
	mime_header_contains(msg, len, "subject", "needle");
	mime_header_contains(msg, len, "", "x");
	mime_body_contains(msg, len, root, "needle");
	mime_text_contains(msg, len, root, "needle");
	mime_date_header(msg, len);
	buf_free(&out);
	mime_free(root);
	return now_seconds() - start;
}

static const char *const tokens[] = {
    "\r\n",
    "\n",
    " ",
    "\t",
    ":",
    ";",
    "=",
    "\"",
    "(",
    ")",
    "<",
    ">",
    "@",
    ",",
    ".",
    "\\",
    "--b",
    "--b--",
    "--c",
    "=?",
    "?=",
    "?q?",
    "?b?",
    "From: ",
    "To: ",
    "Subject: ",
    "Date: ",
    "Content-Type: multipart/mixed; boundary=b\r\n",
    "Content-Type: multipart/digest; boundary=c\r\n",
    "Content-Type: message/rfc822\r\n\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "Content-Transfer-Encoding: quoted-printable\r\n",
    "\0",
    "\xff",
    "\xc3\xa9",
    "abc",
    "1 Jan 2020 00:00 +0000",
};

static uint64_t rng = 88172645463325252ULL;

static uint64_t
rng_next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
hostile_random_token_soup(void **state)
{
	int iter;

	for (iter = 0; iter < 400; iter++) {
		struct buf b = BUF_INIT;
		size_t n = rng_next() % 600, i;

		for (i = 0; i < n; i++) {
			const char *t =
			    tokens[rng_next() %
				   (sizeof(tokens) / sizeof(tokens[0]))];

			buf_append(&b, t, t[0] == '\0' ? 1 : strlen(t));
		}
		assert_true(exercise(b.data == NULL ? "" : b.data, b.len) <
			    HOSTILE_MAX_SECONDS);
		buf_free(&b);
	}
}

static void
hostile_random_bytes(void **state)
{
	int iter;

	for (iter = 0; iter < 200; iter++) {
		size_t n = rng_next() % 8192, i;
		char *msg = malloc(n + 1);

		assert_non_null(msg);
		for (i = 0; i < n; i++)
			msg[i] = (char)(rng_next() & 0xff);
		assert_true(exercise(msg, n) < HOSTILE_MAX_SECONDS);
		free(msg);
	}
}

static void
hostile_deep_multipart_nesting(void **state)
{
	struct buf b = BUF_INIT;
	struct mime_part *root, *p;
	int i;
	size_t depth = 0;

	for (i = 0; i < 5000; i++)
		buf_printf(&b,
			   "Content-Type: multipart/mixed; boundary=b%d\r\n"
			   "\r\n--b%d\r\n",
			   i, i);
	buf_puts(&b, "\r\nleaf\r\n");
	assert_true(exercise(b.data, b.len) < HOSTILE_MAX_SECONDS);
	root = mime_parse(b.data, b.len);
	for (p = root; p->nchildren > 0; p = &p->children[0])
		depth++;
	assert_int_equal(depth, MIME_MAX_DEPTH - 1);
	assert_string_equal(p->type, "application");
	assert_string_equal(p->subtype, "octet-stream");
	mime_free(root);
	buf_free(&b);
}

static void
hostile_deep_message_nesting(void **state)
{
	struct buf b = BUF_INIT;
	struct mime_part *root, *p;
	int i;
	size_t depth = 0;

	for (i = 0; i < 20000; i++)
		buf_puts(&b, "Content-Type: message/rfc822\r\n\r\n");
	buf_puts(&b, "Subject: leaf\r\n\r\nleaf\r\n");
	assert_true(exercise(b.data, b.len) < HOSTILE_MAX_SECONDS);
	root = mime_parse(b.data, b.len);
	for (p = root; p->message != NULL; p = p->message)
		depth++;
	assert_int_equal(depth, MIME_MAX_DEPTH - 1);
	assert_string_equal(p->type, "application");
	mime_free(root);
	buf_free(&b);
}

static void
hostile_hundred_thousand_parts(void **state)
{
	struct buf b = BUF_INIT;
	struct mime_part *root;
	const struct mime_part *last;
	int i;

	buf_puts(&b, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (i = 0; i < 100000; i++)
		buf_puts(&b, "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n");
	buf_puts(&b, "--b--\r\n");
	assert_true(exercise(b.data, b.len) < HOSTILE_MAX_SECONDS);
	root = mime_parse(b.data, b.len);
	assert_int_equal(count_parts(root), MIME_MAX_PARTS);
	assert_int_equal(root->nchildren, MIME_MAX_PARTS - 1);
	last = &root->children[root->nchildren - 1];
	assert_string_equal(last->type, "application");
	assert_true(last->body_end - last->body_start > 90000 * 10);
	mime_free(root);
	buf_free(&b);
}

static void
hostile_parts_limit_inside_messages(void **state)
{
	struct buf b = BUF_INIT;
	struct mime_part *root;
	int i;

	buf_puts(&b, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (i = 0; i < 30000; i++)
		buf_puts(&b, "--b\r\nContent-Type: message/rfc822\r\n\r\n"
			     "Subject: s\r\n\r\nx\r\n");
	assert_true(exercise(b.data, b.len) < HOSTILE_MAX_SECONDS);
	root = mime_parse(b.data, b.len);
	assert_true(count_parts(root) <= MIME_MAX_PARTS);
	assert_true(count_parts(root) >= MIME_MAX_PARTS - 1);
	mime_free(root);
	buf_free(&b);
}

static void
hostile_giant_header_line(void **state)
{
	struct buf b = BUF_INIT;
	size_t i;

	buf_puts(&b, "Subject: ");
	for (i = 0; i < 4 * 1024 * 1024; i++)
		buf_putc(&b, (char)('a' + i % 26));
	buf_puts(&b, "\r\n\r\nbody\r\n");
	assert_true(exercise(b.data, b.len) < HOSTILE_MAX_SECONDS);
	buf_free(&b);
}

static void
hostile_many_header_fields(void **state)
{
	struct buf b = BUF_INIT;
	int i;

	for (i = 0; i < 200000; i++)
		buf_printf(&b, "X-F%d: v\r\n continued\r\n", i);
	buf_puts(&b, "\r\nbody\r\n");
	assert_true(exercise(b.data, b.len) < HOSTILE_MAX_SECONDS);
	buf_free(&b);
}

/* Header values built from one repeated unit, each about 1 MB. */
static const struct {
	const char *field, *unit;
} repeated_values[] = {
    {"To", "a@b, "},
    {"To", "<@a,"},
    {"To", "<@a,@b"},
    {"To", "g:"},
    {"To", "<<<"},
    {"To", "\"\\"},
    {"From", "(("},
    {"Subject", "=?a?q?"},
    {"Subject", "=?utf-8?q?x?= "},
    {"Content-Type", "multipart/mixed; boundary=\""},
    {"Content-Type", ";a="},
    {"Content-Language", "en,"},
    {"Date", "(("},
};

static void
hostile_giant_repeated_values(void **state)
{
	size_t i, k;

	for (i = 0; i < sizeof(repeated_values) / sizeof(repeated_values[0]);
	     i++) {
		struct buf b = BUF_INIT;
		size_t unit = strlen(repeated_values[i].unit);

		buf_printf(&b, "%s: ", repeated_values[i].field);
		for (k = 0; k < (1024 * 1024) / unit; k++)
			buf_puts(&b, repeated_values[i].unit);
		buf_puts(&b, "\r\n\r\nbody\r\n");
		print_message("%s: %s...\n", repeated_values[i].field,
			      repeated_values[i].unit);
		assert_true(exercise(b.data, b.len) < HOSTILE_MAX_SECONDS);
		buf_free(&b);
	}
}

static void
hostile_long_boundary(void **state)
{
	struct buf b = BUF_INIT, boundary = BUF_INIT;
	struct mime_part *root;
	int i;

	for (i = 0; i < 100000; i++)
		buf_putc(&boundary, 'x');
	buf_printf(&b,
		   "Content-Type: multipart/mixed; boundary=%s\r\n\r\n"
		   "--%s\r\n\r\none\r\n--%s--\r\n",
		   buf_cstr(&boundary), buf_cstr(&boundary),
		   buf_cstr(&boundary));
	assert_true(exercise(b.data, b.len) < HOSTILE_MAX_SECONDS);
	root = mime_parse(b.data, b.len);
	assert_int_equal(root->nchildren, 1);
	mime_free(root);
	buf_free(&b);
	buf_free(&boundary);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(hostile_random_token_soup),
	    cmocka_unit_test(hostile_random_bytes),
	    cmocka_unit_test(hostile_deep_multipart_nesting),
	    cmocka_unit_test(hostile_deep_message_nesting),
	    cmocka_unit_test(hostile_hundred_thousand_parts),
	    cmocka_unit_test(hostile_parts_limit_inside_messages),
	    cmocka_unit_test(hostile_giant_header_line),
	    cmocka_unit_test(hostile_many_header_fields),
	    cmocka_unit_test(hostile_giant_repeated_values),
	    cmocka_unit_test(hostile_long_boundary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
