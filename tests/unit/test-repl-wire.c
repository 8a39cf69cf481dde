/*
 * Unit tests for the replication stream: frames, record encoding and
 * decoding (including every malformed form), and the path checks.
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

#include "buf.h"
#include "repl_wire.h"

static void
frame_round_trip(void **state)
{
	struct buf b = BUF_INIT;
	const void *body;
	size_t body_len;
	uint8_t type;
	ssize_t used;

	repl_frame_begin(&b, 7, 3);
	buf_append(&b, "abc", 3);
	repl_frame_begin(&b, 9, 0);
	assert_int_equal(b.len, 13);
	assert_memory_equal(b.data, "\0\0\0\4\7abc\0\0\0\1\11", 13);

	used = repl_frame_next(b.data, b.len, &type, &body, &body_len);
	assert_int_equal(used, 8);
	assert_int_equal(type, 7);
	assert_int_equal(body_len, 3);
	assert_memory_equal(body, "abc", 3);
	used = repl_frame_next(b.data + 8, b.len - 8, &type, &body, &body_len);
	assert_int_equal(used, 5);
	assert_int_equal(type, 9);
	assert_int_equal(body_len, 0);
	buf_free(&b);
}

static void
frame_needs_more_bytes(void **state)
{
	struct buf b = BUF_INIT;
	const void *body;
	size_t body_len;
	uint8_t type;

	repl_frame_begin(&b, 1, 10);
	buf_append(&b, "0123456789", 10);
	for (size_t n = 0; n < b.len; n++) {
		/* An exact-size copy lets ASan catch reads past the end. */
		char *copy = malloc(n + 1);

		memcpy(copy, b.data, n);
		assert_int_equal(
			repl_frame_next(copy, n, &type, &body, &body_len), 0);
		free(copy);
	}
	assert_int_equal(repl_frame_next(b.data, b.len, &type, &body,
					 &body_len),
			 15);
	buf_free(&b);
}

static void
frame_rejects_bad_lengths(void **state)
{
	const void *body;
	size_t body_len;
	uint8_t type;
	uint8_t empty[] = {0, 0, 0, 0, 1};
	uint8_t large[] = {0, 0x80, 0, 1, 1};
	uint8_t max[] = {0, 0x80, 0, 0, 1};
	uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1};

	assert_int_equal(REPL_FRAME_MAX, 0x800000);
	assert_int_equal(repl_frame_next(empty, 5, &type, &body, &body_len),
			 -1);
	assert_int_equal(repl_frame_next(large, 5, &type, &body, &body_len),
			 -1);
	assert_int_equal(repl_frame_next(huge, 5, &type, &body, &body_len),
			 -1);
	/* The largest frame is valid and needs more bytes. */
	assert_int_equal(repl_frame_next(max, 5, &type, &body, &body_len), 0);
}

static void
frame_start_end(void **state)
{
	struct buf b = BUF_INIT;
	const void *body;
	size_t body_len, start;
	uint8_t type;

	buf_append(&b, "xy", 2);
	start = repl_frame_start(&b, 3);
	assert_int_equal(start, 2);
	buf_append(&b, "hello", 5);
	repl_frame_end(&b, start);
	assert_int_equal(repl_frame_next(b.data + 2, b.len - 2, &type, &body,
					 &body_len),
			 10);
	assert_int_equal(type, 3);
	assert_int_equal(body_len, 5);
	assert_memory_equal(body, "hello", 5);
	buf_free(&b);
}

/* One record of every type, with values that fill every byte. */
static const struct repl_op samples[] = {
	{.type = REPL_OP_WRITE, .stage = 0x0102030405060708,
	 .offset = 0x1122334455667788 >> 1, .data = "data", .len = 4},
	{.type = REPL_OP_COMMIT, .stage = 42, .path = "mail/d/u/cur/1:2,S",
	 .mode = 0640, .mtime_ns = -1234567890123},
	{.type = REPL_OP_APPEND, .path = "queue/status/0190A3F2C4D51A2B",
	 .data = "0 delivered 0\n", .len = 14},
	{.type = REPL_OP_RENAME, .path = "mail/d/u/new/x",
	 .path2 = "mail/d/u/cur/x:2,"},
	{.type = REPL_OP_UNLINK, .path = "queue/messages/ID"},
	{.type = REPL_OP_MKDIR, .path = "mail/d/u/.Sent", .mode = 02750},
	{.type = REPL_OP_RMTREE, .path = "mail/d/u/.Trash"},
	{.type = REPL_OP_DELTA, .stage = 7, .path = "mail/d/u/uidlist",
	 .mode = 0600, .mtime_ns = 1718000000123456789, .size = 1 << 20},
	{.type = REPL_OP_WRITE, .stage = 1, .offset = 0, .data = "", .len = 0},
};
#define NSAMPLES (sizeof(samples) / sizeof(samples[0]))

static void
assert_op_equal(const struct repl_op *a, const struct repl_op *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->stage, b->stage);
	assert_int_equal(a->offset, b->offset);
	assert_int_equal(a->mode, b->mode);
	assert_int_equal(a->mtime_ns, b->mtime_ns);
	assert_int_equal(a->size, b->size);
	assert_int_equal(a->len, b->len);
	if (a->len > 0)
		assert_memory_equal(a->data, b->data, a->len);
	if (a->path != NULL || b->path != NULL)
		assert_string_equal(a->path, b->path);
	if (a->path2 != NULL || b->path2 != NULL)
		assert_string_equal(a->path2, b->path2);
}

static void
record_round_trip(void **state)
{
	struct buf b = BUF_INIT;
	struct repl_op op;
	size_t pos = 0, expected = 0;
	char err[256];

	for (size_t i = 0; i < NSAMPLES; i++) {
		size_t before = b.len;

		repl_op_encode(&b, &samples[i]);
		assert_int_equal(b.len - before,
				 repl_op_encoded_len(&samples[i]));
	}
	for (size_t i = 0; i < NSAMPLES; i++) {
		assert_int_equal(repl_op_decode(b.data, b.len, &pos, &op, err,
						sizeof(err)),
				 1);
		assert_op_equal(&op, &samples[i]);
		expected += repl_op_encoded_len(&samples[i]);
		assert_int_equal(pos, expected);
	}
	assert_int_equal(
		repl_op_decode(b.data, b.len, &pos, &op, err, sizeof(err)), 0);
	buf_free(&b);
}

static void
record_truncated_rejected(void **state)
{
	char err[256];

	for (size_t i = 0; i < NSAMPLES; i++) {
		struct buf b = BUF_INIT;

		repl_op_encode(&b, &samples[i]);
		for (size_t n = 1; n < b.len; n++) {
			char *copy = malloc(n);
			struct repl_op op;
			size_t pos = 0;

			memcpy(copy, b.data, n);
			err[0] = '\0';
			assert_int_equal(repl_op_decode(copy, n, &pos, &op,
							err, sizeof(err)),
					 -1);
			assert_int_equal(pos, 0);
			assert_non_null(strstr(err, "invalid "));
			free(copy);
		}
		buf_free(&b);
	}
}

/* Decodes one record of body and expects failure with reason. */
static void
assert_rejected(const void *body, size_t len, const char *reason)
{
	struct repl_op op;
	size_t pos = 0;
	char err[256] = "";

	assert_int_equal(repl_op_decode(body, len, &pos, &op, err,
					sizeof(err)),
			 -1);
	if (strstr(err, reason) == NULL)
		fail_msg("error \"%s\" does not contain \"%s\"", err, reason);
}

static void
record_unknown_type(void **state)
{
	uint8_t zero[] = {0, 1, 2, 3};
	uint8_t nine[] = {9, 0, 1, 'a', 0};
	uint8_t high[] = {255};

	assert_rejected(zero, sizeof(zero), "unknown type 0");
	assert_rejected(nine, sizeof(nine), "unknown type 9");
	assert_rejected(high, sizeof(high), "unknown type 255");
}

/* An UNLINK record for a path given as raw bytes with length n. */
static void
unlink_record(struct buf *b, const char *path, size_t n, size_t declared)
{
	uint8_t head[3] = {REPL_OP_UNLINK, (uint8_t)(declared >> 8),
			   (uint8_t)declared};

	buf_append(b, head, 3);
	buf_append(b, path, n);
}

static void
record_bad_paths(void **state)
{
	struct buf b = BUF_INIT;
	char *longpath = malloc(REPL_PATH_MAX + 2);

	memset(longpath, 'a', REPL_PATH_MAX + 1);
	longpath[REPL_PATH_MAX + 1] = '\0';

	unlink_record(&b, longpath, REPL_PATH_MAX + 2, REPL_PATH_MAX + 1);
	assert_rejected(b.data, b.len, "path too long");
	buf_reset(&b);
	/* The longest path is fine. */
	unlink_record(&b, longpath + 1, REPL_PATH_MAX + 1, REPL_PATH_MAX);
	{
		struct repl_op op;
		size_t pos = 0;
		char err[256];

		assert_int_equal(repl_op_decode(b.data, b.len, &pos, &op, err,
						sizeof(err)),
				 1);
		assert_int_equal(strlen(op.path), REPL_PATH_MAX);
	}
	buf_reset(&b);
	unlink_record(&b, "a\0b\0", 4, 3);
	assert_rejected(b.data, b.len, "NUL in path");
	buf_reset(&b);
	unlink_record(&b, "abcd", 4, 3);
	assert_rejected(b.data, b.len, "not terminated");
	buf_reset(&b);
	unlink_record(&b, "", 1, 0);
	assert_rejected(b.data, b.len, "empty path");
	buf_reset(&b);
	unlink_record(&b, "abc", 3, 3);
	assert_rejected(b.data, b.len, "truncated path");
	buf_reset(&b);

	static const char *const invalid[] = {
		"/etc/passwd", "a//b", "a/", "..", "a/../b", ".", "./a", "a/.",
	};
	for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
		unlink_record(&b, invalid[i], strlen(invalid[i]) + 1,
			      strlen(invalid[i]));
		assert_rejected(b.data, b.len, "component");
		buf_reset(&b);
	}
	buf_free(&b);
	free(longpath);
}

static void
record_bad_numbers(void **state)
{
	struct buf b = BUF_INIT;
	struct repl_op op;

	/* WRITE with an offset past INT64_MAX. */
	op = samples[0];
	op.offset = (uint64_t)INT64_MAX + 1;
	repl_op_encode(&b, &op);
	assert_rejected(b.data, b.len, "offset past INT64_MAX");
	buf_reset(&b);

	/* WRITE whose offset plus length overflows. */
	op.offset = (uint64_t)INT64_MAX - 2;
	repl_op_encode(&b, &op);
	assert_rejected(b.data, b.len, "offset plus length");
	buf_reset(&b);
	op.offset = (uint64_t)INT64_MAX - 4;
	repl_op_encode(&b, &op);
	{
		size_t pos = 0;
		char err[256];
		struct repl_op out;

		assert_int_equal(repl_op_decode(b.data, b.len, &pos, &out,
						err, sizeof(err)),
				 1);
	}
	buf_reset(&b);

	/* MKDIR with a mode beyond 07777. */
	op = samples[5];
	op.mode = 010000;
	repl_op_encode(&b, &op);
	assert_rejected(b.data, b.len, "mode");
	buf_reset(&b);

	/* DELTA with a size past INT64_MAX. */
	op = samples[7];
	op.size = UINT64_MAX;
	repl_op_encode(&b, &op);
	assert_rejected(b.data, b.len, "size past INT64_MAX");
	buf_reset(&b);

	/* APPEND whose data length claims more than the body holds. */
	op = samples[2];
	repl_op_encode(&b, &op);
	b.data[b.len - op.len - 4] = 0x7f;
	assert_rejected(b.data, b.len, "data longer than the frame");
	buf_free(&b);
}

static void
record_error_names_record(void **state)
{
	struct buf b = BUF_INIT;
	struct repl_op op = samples[1];
	size_t pos;
	char err[256];

	repl_op_encode(&b, &samples[0]);
	op.mode = 0777777;
	repl_op_encode(&b, &op);
	pos = 0;
	assert_int_equal(
		repl_op_decode(b.data, b.len, &pos, &op, err, sizeof(err)), 1);
	assert_int_equal(
		repl_op_decode(b.data, b.len, &pos, &op, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "COMMIT"));
	assert_string_equal(repl_op_name(REPL_OP_DELTA), "DELTA");
	assert_string_equal(repl_op_name(0), "?");
	buf_free(&b);
}

static void
path_checks(void **state)
{
	static const struct {
		const char *path;
		bool valid;
		bool ok;
	} cases[] = {
		{"mail/example.org/alice/cur/1:2,S", true, true},
		{"queue/messages/0190A3F2C4D51A2B", true, true},
		{"users", true, true},
		{"a", true, true},
		{"", false, false},
		{"/abs", false, false},
		{"a/", false, false},
		{"a//b", false, false},
		{".", false, false},
		{"..", false, false},
		{"a/./b", false, false},
		{"a/../b", false, false},
		{"a/..", false, false},
		{"...", true, true},
		{"..a", true, true},
		{".a", true, true},
		{"generation", true, false},
		{"generation.new", true, true},
		{"generation/x", true, false},
		{"replication", true, false},
		{"replication/stage/1", true, false},
		{"replicationx", true, true},
		{"queue/tmp", true, false},
		{"queue/tmp/0190A3F2C4D51A2B", true, false},
		{"queue/tmpx", true, true},
		{"queue/messages/tmp", true, true},
		{"tmp", true, true},
		{"mail/tmp", true, true},
		{"mail/d/tmp", true, true},
		{"mail/d/u/tmp", true, false},
		{"mail/d/u/tmp/123.abc", true, false},
		{"mail/d/u/.Sent/tmp", true, false},
		{"mail/d/u/.Sent/tmp/1", true, false},
		{"mail/d/u/.Sent/cur/1", true, true},
		{"mail/d/u/Sent/tmp", true, true},
		{"mail/d/u/cur/tmp", true, true},
		{"mail/d/u/./tmp", false, false},
		{"mail/d/u/.Sent/x/tmp", true, true},
		{"mail/d/u/new/1", true, true},
		{"other/d/u/tmp", true, true},
		{".cluster-probe.1234", true, false},
		{".cluster-probe.", true, false},
		{".cluster-probe", true, true},
		{"mail/.cluster-probe.1", true, true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (repl_path_valid(cases[i].path) != cases[i].valid)
			fail_msg("repl_path_valid(\"%s\") is not %d",
				 cases[i].path, cases[i].valid);
		if (repl_path_ok(cases[i].path) != cases[i].ok)
			fail_msg("repl_path_ok(\"%s\") is not %d",
				 cases[i].path, cases[i].ok);
	}
	assert_false(repl_path_valid(NULL));
}

static void
path_length_limit(void **state)
{
	char *p = malloc(REPL_PATH_MAX + 2);

	memset(p, 'a', REPL_PATH_MAX + 1);
	p[REPL_PATH_MAX] = '\0';
	assert_true(repl_path_ok(p));
	p[REPL_PATH_MAX] = 'a';
	p[REPL_PATH_MAX + 1] = '\0';
	assert_false(repl_path_ok(p));
	free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(frame_round_trip),
		cmocka_unit_test(frame_needs_more_bytes),
		cmocka_unit_test(frame_rejects_bad_lengths),
		cmocka_unit_test(frame_start_end),
		cmocka_unit_test(record_round_trip),
		cmocka_unit_test(record_truncated_rejected),
		cmocka_unit_test(record_unknown_type),
		cmocka_unit_test(record_bad_paths),
		cmocka_unit_test(record_bad_numbers),
		cmocka_unit_test(record_error_names_record),
		cmocka_unit_test(path_checks),
		cmocka_unit_test(path_length_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
