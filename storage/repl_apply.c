/*
 * repl_apply - applies change records to the standby's data_dir
 *
 * No symlink inside data_dir is ever followed: every path is opened one
 * component at a time from a descriptor of data_dir with O_NOFOLLOW
 * (open_dir), and the last component is used through the *at() calls
 * with O_NOFOLLOW or AT_SYMLINK_NOFOLLOW. A symlink where a directory
 * is expected fails the record (ELOOP or ENOTDIR). A symlink as the
 * last component is replaced by COMMIT, RENAME or DELTA results,
 * removed by UNLINK and RMTREE, and not written through by APPEND.
 * data_dir itself may be reached through symlinks; it comes from the
 * configuration.
 *
 * Walking a path costs an open and a close per component, so the last
 * DIR_CACHE_MAX directories stay open. A cached directory is used only
 * while its path still leads to the same inode (one fstatat(2)), and
 * RENAME and RMTREE forget the directories they move or remove.
 *
 * Files are staged in DATA_DIR/replication/stage/NUMBER (mode 0600)
 * and renamed into place, so a reader never sees a half-written file.
 * COMMIT of a stage that no WRITE filled commits an empty file. After a
 * WRITE of a stage failed (a full disk), later WRITEs and the COMMIT or
 * DELTA of that stage fail too and the staging file is removed, so a
 * file that lacks part of its content is never installed. The
 * staging directory is on the same file system as the data (renames
 * would fail with EXDEV if a part of data_dir were a mount point).
 *
 * Durability: with use_syncfs, repl_apply_sync() calls syncfs(2) once
 * for data_dir's file system. Otherwise every file written and every
 * directory whose entries changed is noted by path and fsync'd once at
 * the next sync. A path gone by then (unlinked or renamed later in the
 * batch) is skipped, because a rename notes the new name too.
 *
 * Missing parents of COMMIT, APPEND and RENAME targets are created with
 * mode 0700, like Maildir delivery does. Created files belong to the
 * process's user; COMMIT, DELTA and MKDIR set the record's mode exactly
 * (fchmod, so the umask does not apply).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "repl_wire.h"
#include "xalloc.h"

#define STAGE_DIR "replication/stage"
#define PARENT_MODE 0700
#define RMTREE_DEPTH_MAX 128
/* Directories whose descriptors stay open between records. */
#define DIR_CACHE_MAX 64

struct path_list {
	char **v;
	size_t n;
	size_t cap;
};

/* An open directory below data_dir, found again by its path. */
struct dir_entry {
	char *rel;
	int fd;
	dev_t dev;
	ino_t ino;
	uint64_t used; /* the cache's clock at the last use */
};

struct repl_apply {
	int dir_fd;
	struct dir_entry cache[DIR_CACHE_MAX];
	size_t ncache;
	uint64_t clock;
	int stage_dir_fd; /* -1 until a record needs it */
	bool use_syncfs;
	/* The staging file that WRITE records fill, kept open. */
	int stage_fd;
	uint64_t stage;
	/* Stages with a failed WRITE: their COMMIT or DELTA fails too. */
	uint64_t *failed;
	size_t nfailed, capfailed;
	/* Without syncfs: what the next sync fsyncs. */
	struct path_list files;
	struct path_list dirs;
};

static void
list_add(struct path_list *l, const char *path, size_t len)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 16;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = xstrndup(path, len);
}

static void
list_clear(struct path_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
}

static void
note_file(struct repl_apply *a, const char *rel)
{
	if (!a->use_syncfs)
		list_add(&a->files, rel, strlen(rel));
}

/* Notes the directory rel[0..len) ("" for data_dir). */
static void
note_dir(struct repl_apply *a, const char *rel, size_t len)
{
	if (!a->use_syncfs)
		list_add(&a->dirs, rel, len);
}

/* The length of rel's parent directory part (0 for data_dir). */
static size_t
parent_len(const char *rel)
{
	const char *slash = strrchr(rel, '/');

	return slash != NULL ? (size_t)(slash - rel) : 0;
}

/*
 * Opens the component rel[start..end) in the directory fd without
 * following a symlink. With create, a missing component is made with
 * exactly mode. Returns a new fd, or -1 with errno set.
 */
static int
open_component(struct repl_apply *a, int fd, const char *rel, size_t start,
	       size_t end, bool create, mode_t mode)
{
	const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
	char name[NAME_MAX + 1];
	int next, e;

	if (end - start > NAME_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(name, rel + start, end - start);
	name[end - start] = '\0';
	next = openat(fd, name, flags);
	if (next >= 0 || errno != ENOENT || !create)
		return next;
	if (mkdirat(fd, name, mode) < 0)
		return errno == EEXIST ? openat(fd, name, flags) : -1;
	next = openat(fd, name, flags);
	if (next < 0)
		return -1;
	note_dir(a, rel, start > 0 ? start - 1 : 0);
	if (fchmod(next, mode) < 0) {
		e = errno;
		close(next);
		errno = e;
		return -1;
	}
	return next;
}

static void
cache_drop(struct repl_apply *a, size_t i)
{
	free(a->cache[i].rel);
	close(a->cache[i].fd);
	a->cache[i] = a->cache[--a->ncache];
}

/*
 * Forgets every cached directory at rel or below it, before a RENAME or
 * RMTREE moves or removes them.
 */
static void
cache_forget(struct repl_apply *a, const char *rel)
{
	size_t len = strlen(rel), i = 0;

	while (i < a->ncache) {
		const char *key = a->cache[i].rel;

		if (strncmp(key, rel, len) == 0 &&
		    (key[len] == '\0' || key[len] == '/'))
			cache_drop(a, i);
		else
			i++;
	}
}

/*
 * Returns a new descriptor of the cached directory rel[0..len), or -1
 * when it is not cached or the path no longer leads to it (changed
 * outside the records).
 */
static int
cache_lookup(struct repl_apply *a, const char *rel, size_t len)
{
	struct stat st;

	for (size_t i = 0; i < a->ncache; i++) {
		struct dir_entry *e = &a->cache[i];

		if (strlen(e->rel) != len || memcmp(e->rel, rel, len) != 0)
			continue;
		if (fstatat(a->dir_fd, e->rel, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode) || st.st_dev != e->dev ||
		    st.st_ino != e->ino) {
			cache_drop(a, i);
			return -1;
		}
		e->used = ++a->clock;
		return fcntl(e->fd, F_DUPFD_CLOEXEC, 0);
	}
	return -1;
}

/* Keeps a copy of fd, the directory rel[0..len), evicting the oldest. */
static void
cache_add(struct repl_apply *a, const char *rel, size_t len, int fd)
{
	struct dir_entry *e;
	struct stat st;
	size_t oldest = 0;
	int copy;

	if (fstat(fd, &st) < 0)
		return;
	copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (copy < 0)
		return;
	if (a->ncache == DIR_CACHE_MAX) {
		for (size_t i = 1; i < a->ncache; i++)
			if (a->cache[i].used < a->cache[oldest].used)
				oldest = i;
		cache_drop(a, oldest);
	}
	e = &a->cache[a->ncache++];
	e->rel = xstrndup(rel, len);
	e->fd = copy;
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	e->used = ++a->clock;
}

/*
 * Opens the directory rel[0..len) below data_dir one component at a
 * time, without following symlinks; len 0 opens data_dir. With create,
 * missing components are made with exactly mode. Returns a new fd, or
 * -1 with errno set.
 */
static int
open_dir(struct repl_apply *a, const char *rel, size_t len, bool create,
	 mode_t mode)
{
	int fd = len > 0 ? cache_lookup(a, rel, len) : -1;
	size_t i = 0;

	if (fd >= 0)
		return fd;
	fd = fcntl(a->dir_fd, F_DUPFD_CLOEXEC, 0);
	while (fd >= 0 && i < len) {
		const char *slash = memchr(rel + i, '/', len - i);
		size_t end = slash != NULL ? (size_t)(slash - rel) : len;
		int next = open_component(a, fd, rel, i, end, create, mode);
		int e = errno;

		close(fd);
		errno = e;
		fd = next;
		i = end + 1;
	}
	if (fd >= 0 && len > 0)
		cache_add(a, rel, len, fd);
	return fd;
}

/* Opens rel's parent directory and points *leaf at its last component. */
static int
open_parent(struct repl_apply *a, const char *rel, bool create,
	    const char **leaf)
{
	size_t len = parent_len(rel);

	*leaf = len > 0 ? rel + len + 1 : rel;
	return open_dir(a, rel, len, create, PARENT_MODE);
}

static int
stage_dir(struct repl_apply *a)
{
	if (a->stage_dir_fd < 0)
		a->stage_dir_fd = open_dir(a, STAGE_DIR, strlen(STAGE_DIR),
					   true, 0700);
	return a->stage_dir_fd;
}

static void
stage_name(char *name, size_t size, uint64_t stage, const char *suffix)
{
	snprintf(name, size, "%" PRIu64 "%s", stage, suffix);
}

static void
stage_close(struct repl_apply *a)
{
	if (a->stage_fd >= 0)
		close(a->stage_fd);
	a->stage_fd = -1;
}

/* The open staging file for stage, created empty when missing. */
static int
stage_open(struct repl_apply *a, uint64_t stage)
{
	char name[32];
	int fd;

	if (a->stage_fd >= 0 && a->stage == stage)
		return a->stage_fd;
	stage_close(a);
	if (stage_dir(a) < 0)
		return -1;
	stage_name(name, sizeof(name), stage, "");
	fd = openat(a->stage_dir_fd, name,
		    O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	a->stage_fd = fd;
	a->stage = stage;
	return fd;
}

static bool
stage_failed(const struct repl_apply *a, uint64_t stage)
{
	for (size_t i = 0; i < a->nfailed; i++)
		if (a->failed[i] == stage)
			return true;
	return false;
}

static void
mark_failed(struct repl_apply *a, uint64_t stage)
{
	if (stage_failed(a, stage))
		return;
	if (a->nfailed == a->capfailed) {
		a->capfailed = a->capfailed ? 2 * a->capfailed : 8;
		a->failed =
		    xrealloc(a->failed, a->capfailed * sizeof(*a->failed));
	}
	a->failed[a->nfailed++] = stage;
}

/*
 * Forgets a failed stage and removes its staging file. Returns -1 with
 * the reason in err when the stage had failed: a file missing some of
 * its content must not be installed.
 */
static int
check_stage(struct repl_apply *a, const struct repl_op *op, char *err,
	    size_t errlen)
{
	char name[32];

	for (size_t i = 0; i < a->nfailed; i++) {
		if (a->failed[i] != op->stage)
			continue;
		a->failed[i] = a->failed[--a->nfailed];
		if (a->stage_fd >= 0 && a->stage == op->stage)
			stage_close(a);
		stage_name(name, sizeof(name), op->stage, "");
		if (a->stage_dir_fd >= 0)
			unlinkat(a->stage_dir_fd, name, 0);
		snprintf(err, errlen,
			 "%s %s: not installed, a WRITE of stage %" PRIu64
			 " failed",
			 repl_op_name(op->type), op->path, op->stage);
		return -1;
	}
	return 0;
}

static int
op_fail(const struct repl_op *op, const char *what, char *err, size_t errlen)
{
	int e = errno;

	if (op->path != NULL)
		snprintf(err, errlen, "%s %s: %s failed: %s",
			 repl_op_name(op->type), op->path, what, strerror(e));
	else
		snprintf(err, errlen, "%s stage %" PRIu64 ": %s failed: %s",
			 repl_op_name(op->type), op->stage, what, strerror(e));
	errno = e;
	return -1;
}

static int
pwrite_full(int fd, const void *data, size_t len, uint64_t offset)
{
	const char *p = data;

	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
		offset += (uint64_t)n;
	}
	return 0;
}

/* Gives fd the record's mode and modification time. */
static int
set_attributes(int fd, const struct repl_op *op)
{
	int64_t sec = op->mtime_ns / 1000000000;
	int64_t nsec = op->mtime_ns % 1000000000;
	struct timespec ts[2];

	if (nsec < 0) {
		nsec += 1000000000;
		sec--;
	}
	ts[0].tv_sec = 0;
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_sec = (time_t)sec;
	ts[1].tv_nsec = (long)nsec;
	if (fchmod(fd, (mode_t)op->mode) < 0)
		return -1;
	return futimens(fd, ts);
}

static int
apply_write(struct repl_apply *a, const struct repl_op *op, char *err,
	    size_t errlen)
{
	int fd;

	if (stage_failed(a, op->stage)) {
		snprintf(err, errlen,
			 "WRITE stage %" PRIu64 ": an earlier WRITE failed",
			 op->stage);
		return -1;
	}
	fd = stage_open(a, op->stage);
	if (fd < 0 || pwrite_full(fd, op->data, op->len, op->offset) < 0) {
		op_fail(op, fd < 0 ? "opening the staging file" : "pwrite",
			err, errlen);
		mark_failed(a, op->stage);
		return -1;
	}
	return 0;
}

/* Moves the staging file name into place as op->path. */
static int
install(struct repl_apply *a, const struct repl_op *op, const char *name,
	char *err, size_t errlen)
{
	const char *leaf;
	int parent = open_parent(a, op->path, true, &leaf);

	if (parent < 0)
		return op_fail(op, "opening the parent directory", err,
			       errlen);
	if (renameat(a->stage_dir_fd, name, parent, leaf) < 0) {
		op_fail(op, "rename", err, errlen);
		close(parent);
		return -1;
	}
	close(parent);
	note_file(a, op->path);
	note_dir(a, op->path, parent_len(op->path));
	return 0;
}

static int
apply_commit(struct repl_apply *a, const struct repl_op *op, char *err,
	     size_t errlen)
{
	char name[32];
	int fd;

	if (check_stage(a, op, err, errlen) < 0)
		return -1;
	fd = stage_open(a, op->stage);
	if (fd < 0)
		return op_fail(op, "opening the staging file", err, errlen);
	if (set_attributes(fd, op) < 0)
		return op_fail(op, "setting mode and time", err, errlen);
	stage_close(a);
	stage_name(name, sizeof(name), op->stage, "");
	return install(a, op, name, err, errlen);
}

static int
apply_append(struct repl_apply *a, const struct repl_op *op, char *err,
	     size_t errlen)
{
	const char *leaf;
	int parent = open_parent(a, op->path, true, &leaf);
	int fd, ret = 0;

	if (parent < 0)
		return op_fail(op, "opening the parent directory", err,
			       errlen);
	fd = openat(parent, leaf,
		    O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		    0600);
	if (fd < 0)
		ret = op_fail(op, "open", err, errlen);
	else if (write_full(fd, op->data, op->len) < 0)
		ret = op_fail(op, "write", err, errlen);
	if (fd >= 0)
		close(fd);
	close(parent);
	if (ret == 0) {
		note_file(a, op->path);
		note_dir(a, op->path, parent_len(op->path));
	}
	return ret;
}

static int
apply_rename(struct repl_apply *a, const struct repl_op *op, char *err,
	     size_t errlen)
{
	const char *from_leaf, *to_leaf;
	int from, to, ret = 0;

	cache_forget(a, op->path);
	cache_forget(a, op->path2);
	from = open_parent(a, op->path, false, &from_leaf);
	if (from < 0)
		return op_fail(op, "opening the source directory", err,
			       errlen);
	to = open_parent(a, op->path2, true, &to_leaf);
	if (to < 0) {
		op_fail(op, "opening the target directory", err, errlen);
		close(from);
		return -1;
	}
	if (renameat(from, from_leaf, to, to_leaf) < 0) {
		int e = errno;

		snprintf(err, errlen, "RENAME %s to %s failed: %s", op->path,
			 op->path2, strerror(e));
		ret = -1;
	}
	close(from);
	close(to);
	if (ret == 0) {
		note_file(a, op->path2);
		note_dir(a, op->path, parent_len(op->path));
		note_dir(a, op->path2, parent_len(op->path2));
	}
	return ret;
}

static int
apply_unlink(struct repl_apply *a, const struct repl_op *op, char *err,
	     size_t errlen)
{
	const char *leaf;
	int parent = open_parent(a, op->path, false, &leaf);
	int ret = 0;

	if (parent < 0 && errno == ENOENT)
		return 0;
	if (parent < 0)
		return op_fail(op, "opening the parent directory", err,
			       errlen);
	if (unlinkat(parent, leaf, 0) < 0 && errno != ENOENT)
		ret = op_fail(op, "unlink", err, errlen);
	close(parent);
	note_dir(a, op->path, parent_len(op->path));
	return ret;
}

static int
apply_mkdir(struct repl_apply *a, const struct repl_op *op, char *err,
	    size_t errlen)
{
	int fd = open_dir(a, op->path, strlen(op->path), true,
			  (mode_t)op->mode);
	struct stat st;
	int ret = 0;

	if (fd < 0)
		return op_fail(op, "mkdir", err, errlen);
	/* An existing directory takes the mode too. */
	if (fstat(fd, &st) < 0)
		ret = op_fail(op, "fstat", err, errlen);
	else if ((st.st_mode & 07777) != op->mode &&
		 fchmod(fd, (mode_t)op->mode) < 0)
		ret = op_fail(op, "chmod", err, errlen);
	close(fd);
	if (ret == 0)
		note_dir(a, op->path, strlen(op->path));
	return ret;
}

/*
 * Removes name in the directory parent and everything below it, without
 * following symlinks: a symlink is removed, not what it points to.
 * Returns 0 (also when name is missing) or -1 with errno.
 */
static int
remove_tree(int parent, const char *name, unsigned depth)
{
	struct stat st;
	DIR *d;
	int fd;

	if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlinkat(parent, name, 0) == 0 || errno == ENOENT ? 0
									 : -1;
	if (depth >= RMTREE_DEPTH_MAX) {
		errno = ELOOP;
		return -1;
	}
	fd = openat(parent, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (d == NULL) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	/* Removing while reading may hide entries; read again until empty. */
	for (;;) {
		struct dirent *e;
		bool removed = false;

		rewinddir(d);
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0)
				continue;
			if (remove_tree(dirfd(d), e->d_name, depth + 1) < 0) {
				int saved = errno;

				closedir(d);
				errno = saved;
				return -1;
			}
			removed = true;
		}
		if (!removed)
			break;
	}
	closedir(d);
	return unlinkat(parent, name, AT_REMOVEDIR) == 0 || errno == ENOENT
		       ? 0
		       : -1;
}

static int
apply_rmtree(struct repl_apply *a, const struct repl_op *op, char *err,
	     size_t errlen)
{
	const char *leaf;
	int parent, ret = 0;

	cache_forget(a, op->path);
	parent = open_parent(a, op->path, false, &leaf);
	if (parent < 0 && errno == ENOENT)
		return 0;
	if (parent < 0)
		return op_fail(op, "opening the parent directory", err,
			       errlen);
	if (remove_tree(parent, leaf, 0) < 0)
		ret = op_fail(op, "removing the tree", err, errlen);
	close(parent);
	note_dir(a, op->path, parent_len(op->path));
	return ret;
}

static int
apply_delta(struct repl_apply *a, const struct repl_op *op, char *err,
	    size_t errlen)
{
	char delta_name[32], out_name[40];
	const char *leaf;
	int delta_fd, parent, base = -1, out = -1, ret = -1;

	if (check_stage(a, op, err, errlen) < 0)
		return -1;
	delta_fd = stage_open(a, op->stage);
	if (delta_fd < 0)
		return op_fail(op, "opening the staging file", err, errlen);
	stage_name(delta_name, sizeof(delta_name), op->stage, "");
	stage_name(out_name, sizeof(out_name), op->stage, ".new");
	parent = open_parent(a, op->path, false, &leaf);
	if (parent < 0) {
		op_fail(op, "opening the parent directory", err, errlen);
		goto out;
	}
	base = openat(parent, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(parent);
	if (base < 0) {
		op_fail(op, "opening the file to patch", err, errlen);
		goto out;
	}
	out = openat(a->stage_dir_fd, out_name,
		     O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0) {
		op_fail(op, "creating the patched file", err, errlen);
		goto out;
	}
	if (lseek(delta_fd, 0, SEEK_SET) < 0) {
		op_fail(op, "lseek", err, errlen);
		goto out;
	}
	if (repl_patch(base, delta_fd, out, op->size, err, errlen) < 0) {
		char reason[256];

		snprintf(reason, sizeof(reason), "%s", err);
		snprintf(err, errlen, "DELTA %s: %s", op->path, reason);
		goto out;
	}
	if (set_attributes(out, op) < 0) {
		op_fail(op, "setting mode and time", err, errlen);
		goto out;
	}
	ret = install(a, op, out_name, err, errlen);
out:
	if (base >= 0)
		close(base);
	if (out >= 0)
		close(out);
	if (ret < 0 && a->stage_dir_fd >= 0)
		unlinkat(a->stage_dir_fd, out_name, 0);
	/* The delta is used up whether or not it applied. */
	stage_close(a);
	unlinkat(a->stage_dir_fd, delta_name, 0);
	return ret;
}

struct repl_apply *
repl_apply_new(const char *data_dir, bool use_syncfs)
{
	int fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct repl_apply *a;

	if (fd < 0)
		return NULL;
	a = xcalloc(1, sizeof(*a));
	a->dir_fd = fd;
	a->stage_dir_fd = -1;
	a->stage_fd = -1;
	a->use_syncfs = use_syncfs;
	return a;
}

int
repl_apply_op(struct repl_apply *a, const struct repl_op *op, char *err,
	      size_t errlen)
{
	if (op->type != REPL_OP_WRITE && !repl_path_ok(op->path)) {
		snprintf(err, errlen, "%s: path may not be replicated: %.200s",
			 repl_op_name(op->type),
			 op->path != NULL ? op->path : "(none)");
		return -1;
	}
	if (op->type == REPL_OP_RENAME && !repl_path_ok(op->path2)) {
		snprintf(err, errlen,
			 "RENAME: target path may not be replicated: %.200s",
			 op->path2 != NULL ? op->path2 : "(none)");
		return -1;
	}
	switch (op->type) {
	case REPL_OP_WRITE:
		return apply_write(a, op, err, errlen);
	case REPL_OP_COMMIT:
		return apply_commit(a, op, err, errlen);
	case REPL_OP_APPEND:
		return apply_append(a, op, err, errlen);
	case REPL_OP_RENAME:
		return apply_rename(a, op, err, errlen);
	case REPL_OP_UNLINK:
		return apply_unlink(a, op, err, errlen);
	case REPL_OP_MKDIR:
		return apply_mkdir(a, op, err, errlen);
	case REPL_OP_RMTREE:
		return apply_rmtree(a, op, err, errlen);
	case REPL_OP_DELTA:
		return apply_delta(a, op, err, errlen);
	}
	snprintf(err, errlen, "unknown record type %d", (int)op->type);
	return -1;
}

static int
compare_strings(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Sorts l and drops repeats, so each path is synced once. */
static void
list_unique(struct path_list *l)
{
	size_t out = 0;

	if (l->n == 0)
		return;
	qsort(l->v, l->n, sizeof(*l->v), compare_strings);
	for (size_t i = 0; i < l->n; i++) {
		if (out > 0 && strcmp(l->v[out - 1], l->v[i]) == 0) {
			free(l->v[i]);
			continue;
		}
		l->v[out++] = l->v[i];
	}
	l->n = out;
}

/* Fsyncs each noted file and directory. */
static int
sync_noted(struct repl_apply *a, char *err, size_t errlen)
{
	list_unique(&a->files);
	list_unique(&a->dirs);
	for (size_t i = 0; i < a->files.n; i++) {
		const char *rel = a->files.v[i];
		int fd = repl_apply_open(a, rel);

		if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
			continue;
		if (fd < 0 || fsync(fd) < 0) {
			snprintf(err, errlen, "fsync(%s) failed: %s", rel,
				 strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	for (size_t i = 0; i < a->dirs.n; i++) {
		const char *rel = a->dirs.v[i];
		int fd = open_dir(a, rel, strlen(rel), false, 0);

		if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
			continue;
		if (fd < 0 || fsync(fd) < 0) {
			snprintf(err, errlen, "fsync(%s/) failed: %s", rel,
				 strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
	}
	return 0;
}

int
repl_apply_sync(struct repl_apply *a, char *err, size_t errlen)
{
	if (a->use_syncfs) {
		if (syncfs(a->dir_fd) < 0) {
			snprintf(err, errlen, "syncfs failed: %s",
				 strerror(errno));
			return -1;
		}
		return 0;
	}
	if (sync_noted(a, err, errlen) < 0)
		return -1;
	list_clear(&a->files);
	list_clear(&a->dirs);
	return 0;
}

void
repl_apply_reset(struct repl_apply *a)
{
	DIR *d;
	struct dirent *e;
	int fd;

	stage_close(a);
	a->nfailed = 0;
	if (a->stage_dir_fd < 0)
		a->stage_dir_fd = open_dir(a, STAGE_DIR, strlen(STAGE_DIR),
					   false, 0);
	if (a->stage_dir_fd < 0)
		return;
	fd = fcntl(a->stage_dir_fd, F_DUPFD_CLOEXEC, 0);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			remove_tree(a->stage_dir_fd, e->d_name, 0);
	closedir(d);
}

int
repl_apply_open(struct repl_apply *a, const char *rel)
{
	const char *leaf;
	int parent, fd, e;

	if (!repl_path_valid(rel)) {
		errno = EINVAL;
		return -1;
	}
	parent = open_parent(a, rel, false, &leaf);
	if (parent < 0)
		return -1;
	fd = openat(parent, leaf, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	e = errno;
	close(parent);
	errno = e;
	return fd;
}

void
repl_apply_free(struct repl_apply *a)
{
	if (a == NULL)
		return;
	stage_close(a);
	if (a->stage_dir_fd >= 0)
		close(a->stage_dir_fd);
	while (a->ncache > 0)
		cache_drop(a, 0);
	close(a->dir_fd);
	list_clear(&a->files);
	list_clear(&a->dirs);
	free(a->failed);
	free(a->files.v);
	free(a->dirs.v);
	free(a);
}
