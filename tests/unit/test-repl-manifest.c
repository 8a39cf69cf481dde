/*
 * Unit tests for manifests: building one from a data_dir (exclusions,
 * symlinks), encoding and decoding (hostile input), the order of
 * differences, and a catch-up that applies a diff until none is left.
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

struct fixture {
	char root[64];
	char active[128];
	char standby[128];
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

	strcpy(fx->root, "/tmp/hapost-test-repl-manifest-XXXXXX");
	if (mkdtemp(fx->root) == NULL)
		return -1;
	snprintf(fx->active, sizeof(fx->active), "%s/active", fx->root);
	snprintf(fx->standby, sizeof(fx->standby), "%s/standby", fx->root);
	if (mkdir(fx->active, 0700) < 0 || mkdir(fx->standby, 0700) < 0)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	nftw(fx->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static const char *
path_in(const char *dir, const char *rel)
{
	static char path[2][PATH_MAX];
	static int which;

	which = !which;
	snprintf(path[which], sizeof(path[which]), "%s/%s", dir, rel);
	return path[which];
}

/* Creates dir/rel with content, mode and mtime, and missing parents. */
static void
make_file(const char *dir, const char *rel, const char *content,
	  mode_t mode, time_t mtime)
{
	const char *path = path_in(dir, rel);
	char *parent = path_dirname(path);
	struct timespec ts[2] = {{0, UTIME_OMIT}, {mtime, 0}};
	int fd;

	assert_int_equal(mkdir_p(parent, 0700), 0);
	free(parent);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, content, strlen(content)), 0);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(futimens(fd, ts), 0);
	close(fd);
}

static void
make_dir(const char *dir, const char *rel, mode_t mode)
{
	const char *path = path_in(dir, rel);

	assert_int_equal(mkdir_p(path, 0700), 0);
	assert_int_equal(chmod(path, mode), 0);
}

static void
build(struct fixture *fx, const char *dir, struct repl_manifest *m)
{
	if (repl_manifest_build(dir, m, fx->err, sizeof(fx->err)) < 0)
		fail_msg("repl_manifest_build(%s): %s", dir, fx->err);
}

static void
build_lists_files_and_dirs(void **state)
{
	struct fixture *fx = *state;
	struct repl_manifest m;
	static const struct {
		const char *path;
		bool dir;
		uint64_t size;
		uint32_t mode;
	} expected[] = {
		{"mail", true, 0, 0700},
		{"mail/d", true, 0, 0700},
		{"mail/d/u", true, 0, 0750},
		{"mail/d/u/.Sent", true, 0, 0700},
		{"mail/d/u/.Sent/cur", true, 0, 0700},
		{"mail/d/u/.Sent/cur/2", false, 3, 0600},
		{"mail/d/u/cur", true, 0, 0700},
		{"mail/d/u/cur/1:2,S", false, 5, 0640},
		{"mail/d/u/uidlist", false, 0, 0600},
		{"queue", true, 0, 0700},
		{"queue/messages", true, 0, 0700},
		{"queue/messages/ID", false, 4, 0600},
		{"users", false, 2, 0644},
	};
	char outside[PATH_MAX];

	make_file(fx->active, "mail/d/u/cur/1:2,S", "hello", 0640, 1000);
	make_file(fx->active, "mail/d/u/.Sent/cur/2", "abc", 0600, 2000);
	make_file(fx->active, "mail/d/u/uidlist", "", 0600, 3000);
	make_dir(fx->active, "mail/d/u", 0750);
	make_file(fx->active, "queue/messages/ID", "data", 0600, 4000);
	make_file(fx->active, "users", "u\n", 0644, 5000);
	/* Excluded: node-local state and files in the making. */
	make_file(fx->active, "generation", "7\n", 0600, 0);
	make_file(fx->active, "replication/stage/1", "x", 0600, 0);
	make_file(fx->active, "replication/state", "x", 0600, 0);
	make_file(fx->active, "queue/tmp/ID2", "x", 0600, 0);
	make_file(fx->active, "mail/d/u/tmp/3", "x", 0600, 0);
	make_file(fx->active, "mail/d/u/.Sent/tmp/4", "x", 0600, 0);
	make_file(fx->active, ".cluster-probe.99", "x", 0600, 0);
	/* Not listed: a symlink to a tree outside, and a FIFO. */
	snprintf(outside, sizeof(outside), "%s/outside", fx->root);
	make_file(outside, "secret", "s", 0600, 0);
	assert_int_equal(symlink(outside, path_in(fx->active, "mail/link")),
			 0);
	assert_int_equal(mkfifo(path_in(fx->active, "queue/fifo"), 0600), 0);

	build(fx, fx->active, &m);
	assert_int_equal(m.n, sizeof(expected) / sizeof(expected[0]));
	for (size_t i = 0; i < m.n; i++) {
		assert_string_equal(m.v[i].path, expected[i].path);
		assert_int_equal(m.v[i].dir, expected[i].dir);
		assert_int_equal(m.v[i].size, expected[i].size);
		assert_int_equal(m.v[i].mode, expected[i].mode);
	}
	assert_int_equal(m.v[7].mtime_ns, (int64_t)1000 * 1000000000);
	assert_int_equal(m.v[0].mtime_ns, 0);
	repl_manifest_free(&m);
	assert_int_equal(m.n, 0);
}

static void
build_missing_dir_fails(void **state)
{
	struct fixture *fx = *state;
	struct repl_manifest m;

	assert_int_equal(repl_manifest_build(path_in(fx->root, "none"), &m,
					     fx->err, sizeof(fx->err)),
			 -1);
	assert_non_null(strstr(fx->err, "none"));
	assert_int_equal(m.n, 0);
}

static const struct repl_manifest_entry sample_entries[] = {
	{"a", true, 0, 0700, 0},
	{"a/b", false, 12345, 0640, 1718000000123456789},
	{"a/c", false, 0, 0600, -5},
	{"z", false, (uint64_t)INT64_MAX, 07777, INT64_MIN},
};
static const struct repl_manifest sample = {
	(struct repl_manifest_entry *)sample_entries, 4};

static void
assert_manifest_equal(const struct repl_manifest *x,
		      const struct repl_manifest *y)
{
	assert_int_equal(x->n, y->n);
	for (size_t i = 0; i < x->n; i++) {
		assert_string_equal(x->v[i].path, y->v[i].path);
		assert_int_equal(x->v[i].dir, y->v[i].dir);
		assert_int_equal(x->v[i].size, y->v[i].size);
		assert_int_equal(x->v[i].mode, y->v[i].mode);
		assert_int_equal(x->v[i].mtime_ns, y->v[i].mtime_ns);
	}
}

static void
encode_round_trip(void **state)
{
	struct fixture *fx = *state;
	struct buf b = BUF_INIT;
	struct repl_manifest m;

	repl_manifest_encode(&sample, &b);
	assert_int_equal(repl_manifest_decode(b.data, b.len, &m, fx->err,
					      sizeof(fx->err)),
			 0);
	assert_manifest_equal(&m, &sample);
	repl_manifest_free(&m);

	/* An empty manifest is an empty body. */
	assert_int_equal(repl_manifest_decode("", 0, &m, fx->err,
					      sizeof(fx->err)),
			 0);
	assert_int_equal(m.n, 0);
	buf_free(&b);
}

static void
encode_in_parts(void **state)
{
	struct fixture *fx = *state;
	struct repl_manifest m;
	size_t next = 0, frames = 0;

	m.v = NULL;
	m.n = 0;
	/* 30 bytes fit one entry at a time; 0 still makes progress. */
	for (size_t max = 0; max <= 60; max += 30) {
		next = 0;
		frames = 0;
		repl_manifest_free(&m);
		while (next < sample.n) {
			struct buf b = BUF_INIT;

			next = repl_manifest_encode_part(&sample, next, max,
							 &b);
			assert_true(b.len > 0);
			assert_int_equal(repl_manifest_decode_more(
						 b.data, b.len, &m, fx->err,
						 sizeof(fx->err)),
					 0);
			frames++;
			buf_free(&b);
		}
		assert_manifest_equal(&m, &sample);
		if (max < 60)
			assert_int_equal(frames, sample.n);
		else
			assert_true(frames < sample.n);
	}
	repl_manifest_free(&m);

	/* Parts must continue in order. */
	{
		struct buf first = BUF_INIT, second = BUF_INIT;

		repl_manifest_encode_part(&sample, 2, 1, &first);
		repl_manifest_encode_part(&sample, 0, 1, &second);
		assert_int_equal(repl_manifest_decode(first.data, first.len,
						      &m, fx->err,
						      sizeof(fx->err)),
				 0);
		assert_int_equal(repl_manifest_decode_more(second.data,
							   second.len, &m,
							   fx->err,
							   sizeof(fx->err)),
				 -1);
		assert_non_null(strstr(fx->err, "out of order"));
		assert_int_equal(m.n, 0);
		buf_free(&first);
		buf_free(&second);
	}
}

static void
decode_truncated_rejected(void **state)
{
	struct fixture *fx = *state;
	struct buf b = BUF_INIT;
	size_t boundaries[5], nb = 0;

	for (size_t i = 0; i < sample.n; i++) {
		struct repl_manifest one = {&sample.v[i], 1};

		boundaries[nb++] = b.len;
		repl_manifest_encode(&one, &b);
	}
	boundaries[nb++] = b.len;
	for (size_t n = 0; n <= b.len; n++) {
		char *copy = malloc(n + 1);
		struct repl_manifest m;
		bool whole = false;
		int ret;

		memcpy(copy, b.data, n);
		for (size_t k = 0; k < nb; k++)
			whole |= boundaries[k] == n;
		ret = repl_manifest_decode(copy, n, &m, fx->err,
					   sizeof(fx->err));
		if (ret != (whole ? 0 : -1))
			fail_msg("%zu bytes: returned %d", n, ret);
		repl_manifest_free(&m);
		free(copy);
	}
	buf_free(&b);
}

/* Encodes one entry with raw fields and expects the decoder to fail. */
static void
assert_entry_rejected(struct fixture *fx, const char *path, size_t path_len,
		      uint8_t kind, uint64_t size, uint32_t mode,
		      const char *reason)
{
	struct buf b = BUF_INIT;
	struct repl_manifest m;
	uint8_t be[8];

	be[0] = (uint8_t)(path_len >> 8);
	be[1] = (uint8_t)path_len;
	buf_append(&b, be, 2);
	buf_append(&b, path, path_len);
	buf_append(&b, &kind, 1);
	for (int i = 0; i < 8; i++)
		be[i] = (uint8_t)(size >> (56 - 8 * i));
	buf_append(&b, be, 8);
	for (int i = 0; i < 4; i++)
		be[i] = (uint8_t)(mode >> (24 - 8 * i));
	buf_append(&b, be, 4);
	memset(be, 0, 8);
	buf_append(&b, be, 8);
	fx->err[0] = '\0';
	assert_int_equal(repl_manifest_decode(b.data, b.len, &m, fx->err,
					      sizeof(fx->err)),
			 -1);
	if (strstr(fx->err, reason) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", fx->err, reason);
	assert_int_equal(m.n, 0);
	buf_free(&b);
}

static void
decode_hostile_rejected(void **state)
{
	struct fixture *fx = *state;
	char *longpath = malloc(REPL_PATH_MAX + 1);

	memset(longpath, 'a', REPL_PATH_MAX + 1);
	assert_entry_rejected(fx, "", 0, 0, 0, 0600, "empty");
	assert_entry_rejected(fx, longpath, REPL_PATH_MAX + 1, 0, 0, 0600,
			      "too long");
	assert_entry_rejected(fx, "a\0b", 3, 0, 0, 0600, "NUL in path");
	assert_entry_rejected(fx, "/etc", 4, 0, 0, 0600, "invalid");
	assert_entry_rejected(fx, "a/../b", 6, 0, 0, 0600, "invalid");
	assert_entry_rejected(fx, "generation", 10, 0, 0, 0600, "excluded");
	assert_entry_rejected(fx, "queue/tmp/x", 11, 0, 0, 0600, "excluded");
	assert_entry_rejected(fx, "a", 1, 2, 0, 0600, "unknown kind");
	assert_entry_rejected(fx, "a", 1, 0, (uint64_t)INT64_MAX + 1, 0600,
			      "invalid size");
	assert_entry_rejected(fx, "a", 1, 1, 1, 0700, "invalid size");
	assert_entry_rejected(fx, "a", 1, 0, 0, 010000, "mode");
	free(longpath);

	/* A repeated path. */
	{
		struct repl_manifest_entry twice[] = {
			{"a", false, 1, 0600, 0}, {"a", false, 1, 0600, 0}};
		struct repl_manifest dup = {twice, 2}, m;
		struct buf b = BUF_INIT;

		repl_manifest_encode(&dup, &b);
		assert_int_equal(repl_manifest_decode(b.data, b.len, &m,
						      fx->err,
						      sizeof(fx->err)),
				 -1);
		assert_non_null(strstr(fx->err, "repeated"));
		buf_free(&b);
	}
}

static const char *
kind_name(enum repl_diff_kind kind)
{
	switch (kind) {
	case REPL_DIFF_MISSING:
		return "MISSING";
	case REPL_DIFF_CHANGED:
		return "CHANGED";
	case REPL_DIFF_EXTRA:
		return "EXTRA";
	case REPL_DIFF_DIR:
		return "DIR";
	}
	return "?";
}

static int
compare_paths(const void *x, const void *y)
{
	const struct repl_manifest_entry *a = x, *b = y;

	return strcmp(a->path, b->path);
}

static void
diff_order(void **state)
{
	struct repl_manifest_entry a_entries[] = {
		{"d", true, 0, 0700, 0},	   /* mode differs */
		{"d/new", true, 0, 0700, 0},	   /* missing dir */
		{"d/new/f", false, 1, 0600, 1},	   /* missing file */
		{"d/same", false, 5, 0600, 9},	   /* equal */
		{"d/size", false, 6, 0600, 9},	   /* changed size */
		{"d/time", false, 5, 0600, 10},	   /* changed time */
		{"d/mode", false, 5, 0640, 9},	   /* changed mode */
		{"x", false, 3, 0600, 0},	   /* file, dir there */
		{"y", true, 0, 0700, 0},	   /* dir, file there */
		{"y/f", false, 1, 0600, 0},
	};
	struct repl_manifest_entry s_entries[] = {
		{"d", true, 0, 0750, 0},
		{"d/old", true, 0, 0700, 0},	   /* extra tree */
		{"d/old/a", true, 0, 0700, 0},
		{"d/old/a/f", false, 1, 0600, 0},
		{"d/old/g", false, 1, 0600, 0},
		{"d/same", false, 5, 0600, 9},
		{"d/size", false, 5, 0600, 9},
		{"d/time", false, 5, 0600, 9},
		{"d/mode", false, 5, 0600, 9},
		{"x", true, 0, 0700, 0},
		{"x/inner", false, 1, 0600, 0},
		{"y", false, 1, 0600, 0},
	};
	static const struct {
		enum repl_diff_kind kind;
		const char *path;
	} expected[] = {
		{REPL_DIFF_EXTRA, "d/old/a/f"},
		{REPL_DIFF_EXTRA, "d/old/g"},
		{REPL_DIFF_EXTRA, "x/inner"},
		{REPL_DIFF_EXTRA, "y"},
		{REPL_DIFF_EXTRA, "x"},
		{REPL_DIFF_EXTRA, "d/old/a"},
		{REPL_DIFF_EXTRA, "d/old"},
		{REPL_DIFF_DIR, "d"},
		{REPL_DIFF_DIR, "d/new"},
		{REPL_DIFF_DIR, "y"},
		{REPL_DIFF_CHANGED, "d/mode"},
		{REPL_DIFF_MISSING, "d/new/f"},
		{REPL_DIFF_CHANGED, "d/size"},
		{REPL_DIFF_CHANGED, "d/time"},
		{REPL_DIFF_MISSING, "x"},
		{REPL_DIFF_MISSING, "y/f"},
	};
	struct repl_manifest active, standby;
	struct repl_diff *d;
	size_t n;

	/* Sorted as the builder sorts. */
	active.v = a_entries;
	active.n = sizeof(a_entries) / sizeof(a_entries[0]);
	standby.v = s_entries;
	standby.n = sizeof(s_entries) / sizeof(s_entries[0]);
	qsort(active.v, active.n, sizeof(*active.v), compare_paths);
	qsort(standby.v, standby.n, sizeof(*standby.v), compare_paths);

	repl_manifest_diff(&active, &standby, &d, &n);
	for (size_t i = 0; i < n && i < sizeof(expected) / sizeof(*expected);
	     i++)
		if (d[i].kind != expected[i].kind ||
		    strcmp(d[i].entry->path, expected[i].path) != 0)
			fail_msg("diff %zu is %s %s, expected %s %s", i,
				 kind_name(d[i].kind), d[i].entry->path,
				 kind_name(expected[i].kind),
				 expected[i].path);
	assert_int_equal(n, sizeof(expected) / sizeof(expected[0]));
	/* EXTRA points at the standby's entry, the others at the active's. */
	assert_true(d[4].entry->dir);
	assert_int_equal(d[7].entry->mode, 0700);
	free(d);

	repl_manifest_diff(&active, &active, &d, &n);
	assert_int_equal(n, 0);
	free(d);
}

/* Sends the active's file rel whole: WRITE records, then COMMIT. */
static void
send_whole(struct fixture *fx, struct repl_apply *a,
	   const struct repl_manifest_entry *e)
{
	struct buf data = BUF_INIT;
	struct repl_op w = {.type = REPL_OP_WRITE, .stage = 1};
	struct repl_op c = {.type = REPL_OP_COMMIT, .stage = 1,
			    .path = e->path, .mode = e->mode,
			    .mtime_ns = e->mtime_ns};

	assert_int_equal(read_file(path_in(fx->active, e->path), &data,
				   1 << 20),
			 0);
	w.data = data.data;
	w.len = data.len;
	assert_int_equal(repl_apply_op(a, &w, fx->err, sizeof(fx->err)), 0);
	if (repl_apply_op(a, &c, fx->err, sizeof(fx->err)) < 0)
		fail_msg("COMMIT: %s", fx->err);
	buf_free(&data);
}

/* Sends a delta of the active's file against the standby's copy. */
static void
send_delta(struct fixture *fx, struct repl_apply *a,
	   const struct repl_manifest_entry *e)
{
	struct buf sig = BUF_INIT, delta = BUF_INIT;
	struct repl_op w = {.type = REPL_OP_WRITE, .stage = 2};
	struct repl_op op = {.type = REPL_OP_DELTA, .stage = 2,
			     .path = e->path, .mode = e->mode,
			     .mtime_ns = e->mtime_ns, .size = e->size};
	int fd = repl_apply_open(a, e->path);

	assert_true(fd >= 0);
	assert_int_equal(repl_signature_fd(fd, &sig, fx->err, sizeof(fx->err)),
			 0);
	close(fd);
	assert_int_equal(repl_delta(path_in(fx->active, e->path), sig.data,
				    sig.len, &delta, fx->err, sizeof(fx->err)),
			 0);
	w.data = delta.data;
	w.len = delta.len;
	assert_int_equal(repl_apply_op(a, &w, fx->err, sizeof(fx->err)), 0);
	if (repl_apply_op(a, &op, fx->err, sizeof(fx->err)) < 0)
		fail_msg("DELTA: %s", fx->err);
	buf_free(&sig);
	buf_free(&delta);
}

/* Applies each difference in the listed order, as a catch-up would. */
static void
apply_diff(struct fixture *fx, struct repl_apply *a,
	   const struct repl_diff *d, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct repl_manifest_entry *e = d[i].entry;
		struct repl_op op = {.path = e->path, .mode = e->mode};

		switch (d[i].kind) {
		case REPL_DIFF_EXTRA:
			op.type = e->dir ? REPL_OP_RMTREE : REPL_OP_UNLINK;
			break;
		case REPL_DIFF_DIR:
			op.type = REPL_OP_MKDIR;
			break;
		case REPL_DIFF_MISSING:
			send_whole(fx, a, e);
			continue;
		case REPL_DIFF_CHANGED:
			send_delta(fx, a, e);
			continue;
		}
		if (repl_apply_op(a, &op, fx->err, sizeof(fx->err)) < 0)
			fail_msg("%s %s: %s", kind_name(d[i].kind), e->path,
				 fx->err);
	}
}

static void
catch_up_converges(void **state)
{
	struct fixture *fx = *state;
	struct repl_manifest active, standby;
	struct repl_apply *a = repl_apply_new(fx->standby, false);
	struct repl_diff *d;
	size_t n;

	assert_non_null(a);
	make_file(fx->active, "mail/d/u/cur/1", "one", 0600, 100);
	make_file(fx->active, "mail/d/u/cur/2", "two, longer", 0640, 200);
	make_file(fx->active, "mail/d/u/.Sent/cur/3", "three", 0600, 300);
	make_dir(fx->active, "mail/d/u/.Empty", 0750);
	make_file(fx->active, "queue/messages/A", "queued", 0600, 400);
	make_file(fx->active, "conflict", "now a file", 0600, 500);
	make_dir(fx->active, "flip/sub", 0700);

	make_file(fx->standby, "mail/d/u/cur/1", "one", 0600, 100);
	make_file(fx->standby, "mail/d/u/cur/2", "two", 0600, 150);
	make_file(fx->standby, "mail/d/old/cur/9", "gone", 0600, 1);
	make_file(fx->standby, "conflict/inside/f", "x", 0600, 1);
	make_file(fx->standby, "flip", "file here", 0600, 1);
	make_dir(fx->standby, "mail/d/u", 0700);
	/* Node-local files stay as they are. */
	make_file(fx->standby, "generation", "3\n", 0600, 1);

	build(fx, fx->active, &active);
	build(fx, fx->standby, &standby);
	repl_manifest_diff(&active, &standby, &d, &n);
	assert_true(n > 0);
	apply_diff(fx, a, d, n);
	assert_int_equal(repl_apply_sync(a, fx->err, sizeof(fx->err)), 0);
	free(d);
	repl_manifest_free(&standby);

	build(fx, fx->standby, &standby);
	repl_manifest_diff(&active, &standby, &d, &n);
	for (size_t i = 0; i < n; i++)
		print_message("left: %s %s\n", kind_name(d[i].kind),
			      d[i].entry->path);
	assert_int_equal(n, 0);
	assert_manifest_equal(&active, &standby);
	free(d);
	assert_true(access(path_in(fx->standby, "generation"), F_OK) == 0);

	repl_manifest_free(&active);
	repl_manifest_free(&standby);
	repl_apply_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(build_lists_files_and_dirs,
						setup, teardown),
		cmocka_unit_test_setup_teardown(build_missing_dir_fails, setup,
						teardown),
		cmocka_unit_test_setup_teardown(encode_round_trip, setup,
						teardown),
		cmocka_unit_test_setup_teardown(encode_in_parts, setup,
						teardown),
		cmocka_unit_test_setup_teardown(decode_truncated_rejected,
						setup, teardown),
		cmocka_unit_test_setup_teardown(decode_hostile_rejected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(diff_order, setup, teardown),
		cmocka_unit_test_setup_teardown(catch_up_converges, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
