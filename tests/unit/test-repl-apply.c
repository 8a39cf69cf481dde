/*
 * Unit tests for applying replication records to a standby data_dir:
 * every record type, rejected paths, symlinks planted in data_dir,
 * staging cleanup and syncing.
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
	char root[64];	       /* contains data/ and outside/ */
	char data[128];	       /* the standby's data_dir */
	char outside[128];     /* what planted symlinks point to */
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

	strcpy(fx->root, "/tmp/hapost-test-repl-apply-XXXXXX");
	if (mkdtemp(fx->root) == NULL)
		return -1;
	snprintf(fx->data, sizeof(fx->data), "%s/data", fx->root);
	snprintf(fx->outside, sizeof(fx->outside), "%s/outside", fx->root);
	if (mkdir(fx->data, 0700) < 0 || mkdir(fx->outside, 0700) < 0)
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

static const char *
data_path(struct fixture *fx, const char *rel)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", fx->data, rel);
	return path;
}

/* Sends op through the encoder and decoder, then applies it. */
static int
apply(struct fixture *fx, const struct repl_op *op)
{
	struct buf b = BUF_INIT;
	struct repl_op decoded;
	size_t pos = 0;
	int ret;

	repl_op_encode(&b, op);
	assert_int_equal(repl_op_decode(b.data, b.len, &pos, &decoded,
					fx->err, sizeof(fx->err)),
			 1);
	fx->err[0] = '\0';
	ret = repl_apply_op(fx->a, &decoded, fx->err, sizeof(fx->err));
	buf_free(&b);
	return ret;
}

static void
apply_ok(struct fixture *fx, const struct repl_op *op)
{
	if (apply(fx, op) < 0)
		fail_msg("%s %s failed: %s", repl_op_name(op->type),
			 op->path != NULL ? op->path : "", fx->err);
}

static void
apply_fails(struct fixture *fx, const struct repl_op *op)
{
	if (apply(fx, op) == 0)
		fail_msg("%s %s succeeded", repl_op_name(op->type),
			 op->path != NULL ? op->path : "");
	assert_true(fx->err[0] != '\0');
}

static void
write_stage(struct fixture *fx, uint64_t stage, uint64_t offset,
	    const char *data)
{
	struct repl_op op = {.type = REPL_OP_WRITE, .stage = stage,
			     .offset = offset, .data = data,
			     .len = strlen(data)};

	apply_ok(fx, &op);
}

static void
commit(struct fixture *fx, uint64_t stage, const char *rel, uint32_t mode,
       int64_t mtime_ns)
{
	struct repl_op op = {.type = REPL_OP_COMMIT, .stage = stage,
			     .path = rel, .mode = mode, .mtime_ns = mtime_ns};

	apply_ok(fx, &op);
}

static void
assert_file(struct fixture *fx, const char *rel, const char *content)
{
	struct buf b = BUF_INIT;

	if (read_file(data_path(fx, rel), &b, 1 << 20) < 0)
		fail_msg("reading %s: %s", rel, strerror(errno));
	assert_int_equal(b.len, strlen(content));
	assert_memory_equal(b.data, content, b.len);
	buf_free(&b);
}

static bool
exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void
write_plain(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, content, strlen(content)), 0);
	close(fd);
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

static void
commit_installs_file(void **state)
{
	struct fixture *fx = *state;
	struct stat st;
	const int64_t mtime = 1718000000123456789;

	/* Out of order: pwrite puts each piece at its offset. */
	write_stage(fx, 5, 6, "world");
	write_stage(fx, 5, 0, "hello ");
	commit(fx, 5, "mail/example.org/alice/cur/1:2,S", 0640, mtime);

	assert_file(fx, "mail/example.org/alice/cur/1:2,S", "hello world");
	assert_int_equal(
		stat(data_path(fx, "mail/example.org/alice/cur/1:2,S"), &st),
		0);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_int_equal(st.st_uid, geteuid());
	assert_int_equal(st.st_mtim.tv_sec, mtime / 1000000000);
	assert_int_equal(st.st_mtim.tv_nsec, mtime % 1000000000);
	/* The staging file is gone. */
	assert_int_equal(count_entries(data_path(fx, "replication/stage")),
			 0);
	assert_int_equal(repl_apply_sync(fx->a, fx->err, sizeof(fx->err)), 0);
}

static void
commit_replaces_and_empty(void **state)
{
	struct fixture *fx = *state;
	struct stat st;

	write_stage(fx, 1, 0, "old content");
	commit(fx, 1, "users", 0600, 0);
	write_stage(fx, 2, 0, "new");
	commit(fx, 2, "users", 0644, -1500000000);
	assert_file(fx, "users", "new");
	assert_int_equal(stat(data_path(fx, "users"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* A time before 1970 rounds down to whole seconds correctly. */
	assert_int_equal(st.st_mtim.tv_sec, -2);
	assert_int_equal(st.st_mtim.tv_nsec, 500000000);

	/* A stage that no WRITE filled commits an empty file. */
	commit(fx, 3, "queue/messages/EMPTY", 0600, 0);
	assert_file(fx, "queue/messages/EMPTY", "");
}

static void
append_creates_and_appends(void **state)
{
	struct fixture *fx = *state;
	struct repl_op op = {.type = REPL_OP_APPEND,
			     .path = "queue/status/ID", .data = "0 deferred\n",
			     .len = 11};
	struct stat st;

	apply_ok(fx, &op);
	op.data = "0 delivered\n";
	op.len = 12;
	apply_ok(fx, &op);
	assert_file(fx, "queue/status/ID", "0 deferred\n0 delivered\n");
	assert_int_equal(stat(data_path(fx, "queue/status/ID"), &st), 0);
	assert_int_equal(st.st_mode & 0077, 0);
	assert_int_equal(stat(data_path(fx, "queue/status"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
}

static void
rename_moves_and_creates_parent(void **state)
{
	struct fixture *fx = *state;
	struct repl_op op = {.type = REPL_OP_RENAME,
			     .path = "mail/d/u/new/1",
			     .path2 = "mail/d/u/.Archive/cur/1:2,S"};

	write_stage(fx, 1, 0, "message");
	commit(fx, 1, "mail/d/u/new/1", 0600, 0);
	apply_ok(fx, &op);
	assert_false(exists(data_path(fx, "mail/d/u/new/1")));
	assert_file(fx, "mail/d/u/.Archive/cur/1:2,S", "message");

	/* The source is gone now. */
	apply_fails(fx, &op);
	assert_non_null(strstr(fx->err, "RENAME mail/d/u/new/1"));
	assert_int_equal(repl_apply_sync(fx->a, fx->err, sizeof(fx->err)), 0);
}

static void
unlink_missing_is_fine(void **state)
{
	struct fixture *fx = *state;
	struct repl_op op = {.type = REPL_OP_UNLINK,
			     .path = "queue/messages/ID"};

	apply_ok(fx, &op);
	write_stage(fx, 1, 0, "x");
	commit(fx, 1, "queue/messages/ID", 0600, 0);
	assert_true(exists(data_path(fx, "queue/messages/ID")));
	apply_ok(fx, &op);
	assert_false(exists(data_path(fx, "queue/messages/ID")));
	apply_ok(fx, &op);
	op.path = "no/such/dir/file";
	apply_ok(fx, &op);
}

static void
mkdir_creates_with_mode(void **state)
{
	struct fixture *fx = *state;
	struct repl_op op = {.type = REPL_OP_MKDIR, .path = "mail/d/u/.Sent",
			     .mode = 0750};
	struct stat st;
	mode_t old = umask(077);

	apply_ok(fx, &op);
	umask(old);
	assert_int_equal(stat(data_path(fx, "mail/d/u/.Sent"), &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(stat(data_path(fx, "mail/d"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);

	/* An existing directory is fine and takes the mode. */
	op.mode = 02700;
	apply_ok(fx, &op);
	assert_int_equal(stat(data_path(fx, "mail/d/u/.Sent"), &st), 0);
	assert_int_equal(st.st_mode & 07777, 02700);

	/* A file in the way is an error. */
	write_stage(fx, 1, 0, "x");
	commit(fx, 1, "mail/file", 0600, 0);
	op.path = "mail/file/sub";
	apply_fails(fx, &op);
}

static void
rmtree_removes_everything(void **state)
{
	struct fixture *fx = *state;
	struct repl_op op = {.type = REPL_OP_RMTREE, .path = "mail/d/u/.Trash"};

	write_stage(fx, 1, 0, "a");
	commit(fx, 1, "mail/d/u/.Trash/cur/1", 0600, 0);
	write_stage(fx, 2, 0, "b");
	commit(fx, 2, "mail/d/u/.Trash/new/2", 0600, 0);
	write_stage(fx, 3, 0, "c");
	commit(fx, 3, "mail/d/u/.Trash/a/b/c/d/3", 0600, 0);
	apply_ok(fx, &op);
	assert_false(exists(data_path(fx, "mail/d/u/.Trash")));
	assert_true(exists(data_path(fx, "mail/d/u")));
	/* Missing: fine. */
	apply_ok(fx, &op);
	/* A single file. */
	write_stage(fx, 4, 0, "d");
	commit(fx, 4, "single", 0600, 0);
	op.path = "single";
	apply_ok(fx, &op);
	assert_false(exists(data_path(fx, "single")));
}

static void
excluded_paths_rejected(void **state)
{
	struct fixture *fx = *state;
	static const char *const paths[] = {
		"generation", "replication/stage/9", "queue/tmp/ID",
		"mail/d/u/tmp/1", "mail/d/u/.Sent/tmp/1", ".cluster-probe.1",
	};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct repl_op op = {.type = REPL_OP_COMMIT, .stage = 1,
				     .path = paths[i], .mode = 0600};

		apply_fails(fx, &op);
		assert_non_null(strstr(fx->err, "may not be replicated"));
		assert_false(exists(data_path(fx, paths[i])));
	}
	{
		struct repl_op op = {.type = REPL_OP_RENAME, .path = "a",
				     .path2 = "generation"};

		apply_fails(fx, &op);
		assert_non_null(strstr(fx->err, "target path"));
	}
	{
		/* Built by hand: the decoder would already reject these. */
		struct repl_op op = {.type = REPL_OP_UNLINK, .path = "../x"};

		assert_int_equal(repl_apply_op(fx->a, &op, fx->err,
					       sizeof(fx->err)),
				 -1);
		op.path = "/etc/passwd";
		assert_int_equal(repl_apply_op(fx->a, &op, fx->err,
					       sizeof(fx->err)),
				 -1);
		op.path = NULL;
		assert_int_equal(repl_apply_op(fx->a, &op, fx->err,
					       sizeof(fx->err)),
				 -1);
	}
}

/* data_dir/mail is a symlink to a directory outside data_dir. */
static void
symlinked_dir_not_followed(void **state)
{
	struct fixture *fx = *state;
	char victim[PATH_MAX];
	struct repl_op op;

	assert_int_equal(symlink(fx->outside, data_path(fx, "mail")), 0);
	snprintf(victim, sizeof(victim), "%s/victim", fx->outside);
	write_plain(victim, "outside data");

	write_stage(fx, 1, 0, "planted");
	op = (struct repl_op){.type = REPL_OP_COMMIT, .stage = 1,
			      .path = "mail/d/u/cur/1", .mode = 0600};
	apply_fails(fx, &op);
	op.path = "mail/victim";
	apply_fails(fx, &op);

	op = (struct repl_op){.type = REPL_OP_APPEND, .path = "mail/victim",
			      .data = "more", .len = 4};
	apply_fails(fx, &op);
	op = (struct repl_op){.type = REPL_OP_MKDIR, .path = "mail/d/u",
			      .mode = 0700};
	apply_fails(fx, &op);
	op = (struct repl_op){.type = REPL_OP_UNLINK, .path = "mail/victim"};
	apply_fails(fx, &op);
	op = (struct repl_op){.type = REPL_OP_RMTREE, .path = "mail/victim"};
	apply_fails(fx, &op);
	op = (struct repl_op){.type = REPL_OP_RENAME, .path = "mail/victim",
			      .path2 = "stolen"};
	apply_fails(fx, &op);
	op = (struct repl_op){.type = REPL_OP_DELTA, .stage = 2,
			      .path = "mail/victim", .mode = 0600};
	apply_fails(fx, &op);
	/* Nothing was written outside data_dir. */
	assert_int_equal(count_entries(fx->outside), 1);
	assert_int_equal(repl_apply_open(fx->a, "mail/victim"), -1);

	/* RMTREE of the link itself removes the link, not the target. */
	op = (struct repl_op){.type = REPL_OP_RMTREE, .path = "mail"};
	apply_ok(fx, &op);
	assert_false(exists(data_path(fx, "mail")));

	{
		struct buf b = BUF_INIT;

		assert_int_equal(read_file(victim, &b, 1024), 0);
		assert_int_equal(b.len, 12);
		assert_memory_equal(b.data, "outside data", 12);
		buf_free(&b);
	}
	assert_int_equal(count_entries(fx->outside), 1);
}

/*
 * A directory that the records reached before is swapped outside them
 * (renamed away, then a new one or a symlink in its place): the next
 * record follows the path as it is now, not the directory it reached
 * before.
 */
static void
swapped_dir_not_reused(void **state)
{
	struct fixture *fx = *state;
	char moved[PATH_MAX], gone[PATH_MAX];
	struct repl_op op;

	write_stage(fx, 1, 0, "one");
	commit(fx, 1, "mail/d/u/new/1", 0600, 0);
	snprintf(moved, sizeof(moved), "%s", data_path(fx, "mail/d/old"));
	assert_int_equal(rename(data_path(fx, "mail/d/u"), moved), 0);

	write_stage(fx, 2, 0, "two");
	commit(fx, 2, "mail/d/u/new/2", 0600, 0);
	assert_file(fx, "mail/d/u/new/2", "two");
	assert_false(exists(data_path(fx, "mail/d/old/new/2")));

	/* The same directory through a symlink fails the record. */
	snprintf(gone, sizeof(gone), "%s", data_path(fx, "mail/d/gone"));
	assert_int_equal(rename(data_path(fx, "mail/d/u"), gone), 0);
	assert_int_equal(symlink(moved, data_path(fx, "mail/d/u")), 0);
	write_stage(fx, 3, 0, "three");
	op = (struct repl_op){.type = REPL_OP_COMMIT, .stage = 3,
			      .path = "mail/d/u/new/3", .mode = 0600};
	apply_fails(fx, &op);
	assert_false(exists(data_path(fx, "mail/d/old/new/3")));
}

/* RMTREE and RENAME of a directory reached before, then new records. */
static void
removed_dir_recreated(void **state)
{
	struct fixture *fx = *state;
	struct repl_op op;

	write_stage(fx, 1, 0, "one");
	commit(fx, 1, "mail/d/u/cur/1", 0600, 0);
	op = (struct repl_op){.type = REPL_OP_RMTREE, .path = "mail/d/u"};
	apply_ok(fx, &op);
	write_stage(fx, 2, 0, "two");
	commit(fx, 2, "mail/d/u/cur/2", 0600, 0);
	assert_file(fx, "mail/d/u/cur/2", "two");
	assert_false(exists(data_path(fx, "mail/d/u/cur/1")));

	op = (struct repl_op){.type = REPL_OP_RENAME, .path = "mail/d/u",
			      .path2 = "mail/d/v"};
	apply_ok(fx, &op);
	write_stage(fx, 3, 0, "three");
	commit(fx, 3, "mail/d/u/cur/3", 0600, 0);
	assert_file(fx, "mail/d/u/cur/3", "three");
	assert_file(fx, "mail/d/v/cur/2", "two");
	assert_false(exists(data_path(fx, "mail/d/v/cur/3")));
}

/* data_dir/users is a symlink to a file outside data_dir. */
static void
symlinked_file_not_followed(void **state)
{
	struct fixture *fx = *state;
	char victim[PATH_MAX];
	struct repl_op op;
	struct stat st;
	struct buf b = BUF_INIT;

	snprintf(victim, sizeof(victim), "%s/victim", fx->outside);
	write_plain(victim, "outside data");
	assert_int_equal(symlink(victim, data_path(fx, "users")), 0);

	op = (struct repl_op){.type = REPL_OP_APPEND, .path = "users",
			      .data = "more", .len = 4};
	apply_fails(fx, &op);
	op = (struct repl_op){.type = REPL_OP_MKDIR, .path = "users",
			      .mode = 0700};
	apply_fails(fx, &op);
	assert_int_equal(repl_apply_open(fx->a, "users"), -1);

	/* COMMIT replaces the link itself with a regular file. */
	write_stage(fx, 1, 0, "replicated");
	commit(fx, 1, "users", 0600, 0);
	assert_int_equal(lstat(data_path(fx, "users"), &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_file(fx, "users", "replicated");

	/* UNLINK removes a link, not its target. */
	assert_int_equal(symlink(victim, data_path(fx, "link")), 0);
	op = (struct repl_op){.type = REPL_OP_UNLINK, .path = "link"};
	apply_ok(fx, &op);
	assert_false(exists(data_path(fx, "link")));

	assert_int_equal(read_file(victim, &b, 1024), 0);
	assert_int_equal(b.len, 12);
	assert_memory_equal(b.data, "outside data", 12);
	buf_free(&b);
}

/* A symlink below a tree that RMTREE removes. */
static void
rmtree_keeps_symlink_targets(void **state)
{
	struct fixture *fx = *state;
	char victim[PATH_MAX];
	struct repl_op op = {.type = REPL_OP_RMTREE, .path = "mail/d"};

	snprintf(victim, sizeof(victim), "%s/victim", fx->outside);
	write_plain(victim, "outside data");
	write_stage(fx, 1, 0, "a");
	commit(fx, 1, "mail/d/u/cur/1", 0600, 0);
	assert_int_equal(symlink(fx->outside, data_path(fx, "mail/d/u/dir")),
			 0);
	assert_int_equal(symlink(victim, data_path(fx, "mail/d/u/cur/file")),
			 0);
	apply_ok(fx, &op);
	assert_false(exists(data_path(fx, "mail/d")));
	assert_true(exists(victim));
	assert_int_equal(count_entries(fx->outside), 1);
}

static void
reset_removes_staging(void **state)
{
	struct fixture *fx = *state;

	write_stage(fx, 7, 0, "partial");
	write_stage(fx, 8, 0, "partial");
	assert_int_equal(count_entries(data_path(fx, "replication/stage")),
			 2);
	repl_apply_reset(fx->a);
	assert_int_equal(count_entries(data_path(fx, "replication/stage")),
			 0);
	/* A later stream may reuse the numbers. */
	write_stage(fx, 7, 0, "new");
	commit(fx, 7, "users", 0600, 0);
	assert_file(fx, "users", "new");
}

static void
reset_without_staging_directory(void **state)
{
	struct fixture *fx = *state;

	repl_apply_reset(fx->a);
	assert_false(exists(data_path(fx, "replication")));
}

static void
sync_skips_vanished_paths(void **state)
{
	struct fixture *fx = *state;
	struct repl_op op = {.type = REPL_OP_RMTREE, .path = "mail"};

	write_stage(fx, 1, 0, "a");
	commit(fx, 1, "mail/d/u/cur/1", 0600, 0);
	apply_ok(fx, &op);
	assert_int_equal(repl_apply_sync(fx->a, fx->err, sizeof(fx->err)), 0);
	/* Nothing noted: a second sync has nothing to do. */
	assert_int_equal(repl_apply_sync(fx->a, fx->err, sizeof(fx->err)), 0);
}

static void
syncfs_mode(void **state)
{
	struct fixture *fx = *state;
	struct repl_apply *a = repl_apply_new(fx->data, true);
	struct repl_op op = {.type = REPL_OP_APPEND, .path = "log",
			     .data = "x", .len = 1};

	assert_non_null(a);
	assert_int_equal(repl_apply_op(a, &op, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(repl_apply_sync(a, fx->err, sizeof(fx->err)), 0);
	repl_apply_free(a);
	assert_file(fx, "log", "x");
}

static void
new_fails_without_data_dir(void **state)
{
	struct fixture *fx = *state;

	errno = 0;
	assert_null(repl_apply_new(data_path(fx, "missing"), false));
	assert_int_equal(errno, ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(commit_installs_file, setup,
						teardown),
		cmocka_unit_test_setup_teardown(commit_replaces_and_empty,
						setup, teardown),
		cmocka_unit_test_setup_teardown(append_creates_and_appends,
						setup, teardown),
		cmocka_unit_test_setup_teardown(rename_moves_and_creates_parent,
						setup, teardown),
		cmocka_unit_test_setup_teardown(unlink_missing_is_fine, setup,
						teardown),
		cmocka_unit_test_setup_teardown(mkdir_creates_with_mode, setup,
						teardown),
		cmocka_unit_test_setup_teardown(rmtree_removes_everything,
						setup, teardown),
		cmocka_unit_test_setup_teardown(excluded_paths_rejected, setup,
						teardown),
		cmocka_unit_test_setup_teardown(symlinked_dir_not_followed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(symlinked_file_not_followed,
						setup, teardown),
		cmocka_unit_test_setup_teardown(rmtree_keeps_symlink_targets,
						setup, teardown),
		cmocka_unit_test_setup_teardown(reset_removes_staging, setup,
						teardown),
		cmocka_unit_test_setup_teardown(reset_without_staging_directory,
						setup, teardown),
		cmocka_unit_test_setup_teardown(sync_skips_vanished_paths,
						setup, teardown),
		cmocka_unit_test_setup_teardown(syncfs_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(swapped_dir_not_reused, setup,
						teardown),
		cmocka_unit_test_setup_teardown(removed_dir_recreated, setup,
						teardown),
		cmocka_unit_test_setup_teardown(new_fails_without_data_dir,
						setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
