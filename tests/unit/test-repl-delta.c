/*
 * Unit tests for librsync signatures, deltas and DELTA records: a small
 * change gives a small delta that reproduces the new file exactly, and
 * hostile signatures, deltas and sizes are rejected.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "fsutil.h"
#include "repl_wire.h"

#define MIB (1024 * 1024)

struct fixture {
	char root[64];
	char active[128];  /* the active's copy of files */
	char data[128];	   /* the standby's data_dir */
	struct repl_apply *a;
	char err[512];
};

static int
remove_entry(const char *path, const struct stat *st, int flag,
	     struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	strcpy(fx->root, "/tmp/hapost-test-repl-delta-XXXXXX");
	if (mkdtemp(fx->root) == NULL)
		return -1;
	snprintf(fx->active, sizeof(fx->active), "%s/active", fx->root);
	snprintf(fx->data, sizeof(fx->data), "%s/data", fx->root);
	if (mkdir(fx->active, 0700) < 0 || mkdir(fx->data, 0700) < 0)
		return -1;
	fx->a = repl_apply_new(fx->data, false);
	if (fx->a == NULL)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	repl_apply_free(fx->a);
	nftw(fx->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static char *
path_in(const char *dir, const char *rel)
{
	static char path[2][PATH_MAX];
	static int which;

	which = !which;
	snprintf(path[which], sizeof(path[which]), "%s/%s", dir, rel);
	return path[which];
}

/* Deterministic bytes that do not repeat within a file. */
static void
fill_random(char *p, size_t len, uint32_t seed)
{
	uint32_t x = seed | 1;

	for (size_t i = 0; i < len; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (char)(x >> 24);
	}
}

static void
write_plain(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, data, len), 0);
	assert_int_equal(close(fd), 0);
}

/* Stages data as WRITE records in pieces of at most REPL_CHUNK bytes. */
static void
stage_data(struct fixture *fx, uint64_t stage, const void *data, size_t len)
{
	size_t off = 0;

	do {
		size_t n = len - off < REPL_CHUNK ? len - off : REPL_CHUNK;
		struct repl_op op = {.type = REPL_OP_WRITE, .stage = stage,
				     .offset = off,
				     .data = (const char *)data + off,
				     .len = n};

		if (repl_apply_op(fx->a, &op, fx->err, sizeof(fx->err)) < 0)
			fail_msg("WRITE failed: %s", fx->err);
		off += n;
	} while (off < len);
}

/* Sends a DELTA record for rel through the encoder and decoder. */
static int
apply_delta(struct fixture *fx, uint64_t stage, const char *rel,
	    uint64_t size, int64_t mtime_ns)
{
	struct repl_op op = {.type = REPL_OP_DELTA, .stage = stage,
			     .path = rel, .mode = 0640, .mtime_ns = mtime_ns,
			     .size = size};
	struct repl_op decoded;
	struct buf b = BUF_INIT;
	size_t pos = 0;
	int ret;

	repl_op_encode(&b, &op);
	assert_int_equal(repl_op_decode(b.data, b.len, &pos, &decoded,
					fx->err, sizeof(fx->err)),
			 1);
	ret = repl_apply_op(fx->a, &decoded, fx->err, sizeof(fx->err));
	buf_free(&b);
	return ret;
}

static void
assert_standby_file(struct fixture *fx, const char *rel, const void *data,
		    size_t len)
{
	struct buf b = BUF_INIT;

	assert_int_equal(read_file(path_in(fx->data, rel), &b, 64 * MIB), 0);
	assert_int_equal(b.len, len);
	if (len > 0)
		assert_memory_equal(b.data, data, len);
	buf_free(&b);
}

static size_t
count_entries(const char *dir)
{
	char cmd[PATH_MAX + 64];
	FILE *p;
	size_t n = 0;
	int c;

	snprintf(cmd, sizeof(cmd), "ls -A '%s'", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	while ((c = fgetc(p)) != EOF)
		if (c == '\n')
			n++;
	pclose(p);
	return n;
}

/*
 * The standby signs its copy, the active makes a delta of its copy, the
 * standby patches through WRITE and DELTA records. Returns the delta's
 * size, or (size_t)-1 when a step failed (the reason in fx->err).
 */
static size_t
catch_up(struct fixture *fx, const char *rel, const void *old_data,
	 size_t old_len, const void *new_data, size_t new_len)
{
	struct buf sig = BUF_INIT, delta = BUF_INIT;
	size_t ret = (size_t)-1;
	int fd;

	write_plain(path_in(fx->data, rel), old_data, old_len);
	write_plain(path_in(fx->active, rel), new_data, new_len);

	fd = repl_apply_open(fx->a, rel);
	assert_true(fd >= 0);
	if (repl_signature_fd(fd, &sig, fx->err, sizeof(fx->err)) < 0)
		goto out;
	if (repl_delta(path_in(fx->active, rel), sig.data, sig.len, &delta,
		       fx->err, sizeof(fx->err)) < 0)
		goto out;
	stage_data(fx, 11, delta.data, delta.len);
	if (apply_delta(fx, 11, rel, new_len, 1718000000000000001) < 0)
		goto out;
	ret = delta.len;
out:
	if (fd >= 0)
		close(fd);
	buf_free(&sig);
	buf_free(&delta);
	return ret;
}

static void
one_byte_change_small_delta(void **state)
{
	struct fixture *fx = *state;
	char *old_data = malloc(MIB), *new_data = malloc(MIB);
	size_t delta_len;
	struct stat st;

	fill_random(old_data, MIB, 42);
	memcpy(new_data, old_data, MIB);
	new_data[MIB / 2 + 17] ^= 0x55;

	delta_len = catch_up(fx, "mailbox", old_data, MIB, new_data, MIB);
	if (delta_len == (size_t)-1)
		fail_msg("catch-up failed: %s", fx->err);
	/* One changed block travels as literal data; the rest is copied. */
	if (delta_len > MIB / 50)
		fail_msg("delta of %zu bytes for a one-byte change", delta_len);
	assert_standby_file(fx, "mailbox", new_data, MIB);

	assert_int_equal(stat(path_in(fx->data, "mailbox"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_mtim.tv_sec, 1718000000);
	assert_int_equal(st.st_mtim.tv_nsec, 1);
	/* The delta and the patched copy left the staging directory. */
	assert_int_equal(count_entries(path_in(fx->data, "replication/stage")),
			 0);
	assert_int_equal(repl_apply_sync(fx->a, fx->err, sizeof(fx->err)), 0);
	free(old_data);
	free(new_data);
}

static void
unrelated_and_empty_files(void **state)
{
	struct fixture *fx = *state;
	char *old_data = malloc(300000), *new_data = malloc(200000);

	fill_random(old_data, 300000, 1);
	fill_random(new_data, 200000, 2);
	if (catch_up(fx, "a", old_data, 300000, new_data, 200000) ==
	    (size_t)-1)
		fail_msg("unrelated: %s", fx->err);
	assert_standby_file(fx, "a", new_data, 200000);

	if (catch_up(fx, "b", "", 0, new_data, 5000) == (size_t)-1)
		fail_msg("from empty: %s", fx->err);
	assert_standby_file(fx, "b", new_data, 5000);

	if (catch_up(fx, "c", old_data, 5000, "", 0) == (size_t)-1)
		fail_msg("to empty: %s", fx->err);
	assert_standby_file(fx, "c", "", 0);
	free(old_data);
	free(new_data);
}

static void
wrong_size_rejected(void **state)
{
	struct fixture *fx = *state;
	char *old_data = malloc(100000), *new_data = malloc(400000);
	struct buf sig = BUF_INIT, delta = BUF_INIT;
	int fd;

	/* The new file repeats the old one: the delta is all copies. */
	fill_random(old_data, 100000, 3);
	for (int i = 0; i < 4; i++)
		memcpy(new_data + i * 100000, old_data, 100000);
	write_plain(path_in(fx->data, "f"), old_data, 100000);
	write_plain(path_in(fx->active, "f"), new_data, 400000);
	fd = repl_apply_open(fx->a, "f");
	assert_true(fd >= 0);
	assert_int_equal(repl_signature_fd(fd, &sig, fx->err, sizeof(fx->err)),
			 0);
	close(fd);
	assert_int_equal(repl_delta(path_in(fx->active, "f"), sig.data,
				    sig.len, &delta, fx->err, sizeof(fx->err)),
			 0);
	assert_true(delta.len < 100000);

	/* Announced smaller than the result: writing stops at the size. */
	stage_data(fx, 1, delta.data, delta.len);
	assert_int_equal(apply_delta(fx, 1, "f", 100000, 0), -1);
	assert_non_null(strstr(fx->err, "exceeds the expected size"));
	/* Announced larger than the result. */
	stage_data(fx, 2, delta.data, delta.len);
	assert_int_equal(apply_delta(fx, 2, "f", 400001, 0), -1);
	assert_non_null(strstr(fx->err, "400000 bytes, 400001 expected"));
	/* The standby's file is untouched and no staging file is left. */
	assert_standby_file(fx, "f", old_data, 100000);
	assert_int_equal(count_entries(path_in(fx->data, "replication/stage")),
			 0);
	/* The right size works. */
	stage_data(fx, 3, delta.data, delta.len);
	assert_int_equal(apply_delta(fx, 3, "f", 400000, 0), 0);
	assert_standby_file(fx, "f", new_data, 400000);
	buf_free(&sig);
	buf_free(&delta);
	free(old_data);
	free(new_data);
}

static void
corrupt_delta_rejected(void **state)
{
	struct fixture *fx = *state;
	char garbage[5000];
	struct buf sig = BUF_INIT, delta = BUF_INIT;

	fill_random(garbage, sizeof(garbage), 9);
	write_plain(path_in(fx->data, "f"), "standby copy", 12);
	stage_data(fx, 1, garbage, sizeof(garbage));
	assert_int_equal(apply_delta(fx, 1, "f", 12, 0), -1);
	assert_non_null(strstr(fx->err, "DELTA f: patch"));

	/* A valid delta cut short. */
	write_plain(path_in(fx->active, "f"), garbage, sizeof(garbage));
	assert_int_equal(
		repl_signature(path_in(fx->data, "f"), &sig, fx->err,
			       sizeof(fx->err)),
		0);
	assert_int_equal(repl_delta(path_in(fx->active, "f"), sig.data,
				    sig.len, &delta, fx->err, sizeof(fx->err)),
			 0);
	stage_data(fx, 2, delta.data, delta.len - 10);
	assert_int_equal(apply_delta(fx, 2, "f", sizeof(garbage), 0), -1);

	/* An empty stage (no WRITE at all). */
	assert_int_equal(apply_delta(fx, 3, "f", 0, 0), -1);
	/* A missing file to patch. */
	stage_data(fx, 4, delta.data, delta.len);
	assert_int_equal(apply_delta(fx, 4, "missing", sizeof(garbage), 0),
			 -1);
	assert_non_null(strstr(fx->err, "opening the file to patch"));

	assert_standby_file(fx, "f", "standby copy", 12);
	assert_int_equal(count_entries(path_in(fx->data, "replication/stage")),
			 0);
	buf_free(&sig);
	buf_free(&delta);
}

/* A signature header: magic, block length, strong sum length. */
static void
sig_header(struct buf *b, uint32_t magic, uint32_t block_len,
	   uint32_t strong_len)
{
	uint32_t v[3] = {magic, block_len, strong_len};

	for (int i = 0; i < 3; i++) {
		unsigned char be[4] = {v[i] >> 24, v[i] >> 16, v[i] >> 8, v[i]};

		buf_append(b, be, 4);
	}
}

static void
hostile_signature_rejected(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		uint32_t magic, block_len, strong_len;
		size_t blocks_bytes;
		const char *reason;
	} cases[] = {
		{0x72730136, 2048, 8, 0, "unsupported magic"}, /* MD4 */
		{0x12345678, 2048, 32, 0, "unsupported magic"},
		{0x72730147, 0, 32, 0, "invalid block length"},
		{0x72730147, 0x40000000, 32, 0, "invalid block length"},
		{0x72730147, 2048, 0, 0, "invalid strong sum length"},
		{0x72730147, 2048, 33, 0, "invalid strong sum length"},
		{0x72730147, 2048, 32, 35, "whole number of blocks"},
	};
	struct buf out = BUF_INIT;
	char file[100];

	fill_random(file, sizeof(file), 5);
	write_plain(path_in(fx->active, "f"), file, sizeof(file));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf sig = BUF_INIT;

		sig_header(&sig, cases[i].magic, cases[i].block_len,
			   cases[i].strong_len);
		for (size_t j = 0; j < cases[i].blocks_bytes; j++)
			buf_putc(&sig, 'x');
		fx->err[0] = '\0';
		assert_int_equal(repl_delta(path_in(fx->active, "f"), sig.data,
					    sig.len, &out, fx->err,
					    sizeof(fx->err)),
				 -1);
		if (strstr(fx->err, cases[i].reason) == NULL)
			fail_msg("case %zu: \"%s\"", i, fx->err);
		buf_free(&sig);
	}
	assert_int_equal(repl_delta(path_in(fx->active, "f"), "rs", 2, &out,
				    fx->err, sizeof(fx->err)),
			 -1);
	assert_non_null(strstr(fx->err, "truncated header"));
	assert_int_equal(out.len, 0);

	/* A valid header with one block is accepted. */
	{
		struct buf sig = BUF_INIT;

		sig_header(&sig, 0x72730147, 2048, 8);
		for (int j = 0; j < 12; j++)
			buf_putc(&sig, (char)j);
		assert_int_equal(repl_delta(path_in(fx->active, "f"), sig.data,
					    sig.len, &out, fx->err,
					    sizeof(fx->err)),
				 0);
		assert_true(out.len > sizeof(file));
		buf_free(&sig);
	}
	buf_free(&out);
}

static void
symlink_not_signed(void **state)
{
	struct fixture *fx = *state;
	struct buf sig = BUF_INIT;

	write_plain(path_in(fx->active, "target"), "x", 1);
	assert_int_equal(symlink(path_in(fx->active, "target"),
				 path_in(fx->data, "link")),
			 0);
	assert_int_equal(repl_signature(path_in(fx->data, "link"), &sig,
					fx->err, sizeof(fx->err)),
			 -1);
	assert_int_equal(repl_apply_open(fx->a, "link"), -1);
	assert_int_equal(errno, ELOOP);
	buf_free(&sig);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(one_byte_change_small_delta,
						setup, teardown),
		cmocka_unit_test_setup_teardown(unrelated_and_empty_files,
						setup, teardown),
		cmocka_unit_test_setup_teardown(wrong_size_rejected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(corrupt_delta_rejected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(hostile_signature_rejected,
						setup, teardown),
		cmocka_unit_test_setup_teardown(symlink_not_signed, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
