/*
 * repl_write - helpers that let the storage writers replicate a change
 * before they publish it (see repl_write.h)
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "repl_wire.h"
#include "repl_write.h"
#include "xalloc.h"

static bool last_refused;
/* What the next repl_write_commit_wait() returns. */
static enum { WAIT_NOTHING, WAIT_REPLY, WAIT_FAILED } wait_for;
static char send_error[256];

const char *
repl_write_rel(const char *abs)
{
	const char *rel;

	if (!repl_enabled() || abs == NULL)
		return NULL;
	rel = repl_rel(abs);
	if (rel == NULL || !repl_path_ok(rel))
		return NULL;
	return rel;
}

struct repl_batch *
repl_write_batch(struct repl_batch **b)
{
	if (*b == NULL)
		*b = repl_batch_new();
	return *b;
}

/* Records a failed commit and its reason. */
static int
commit_failed(const char *why, char *err, size_t errlen)
{
	last_refused = true;
	snprintf(err, errlen, "replication: %s", why);
	return -1;
}

int
repl_write_commit_send(struct repl_batch *b, char *err, size_t errlen)
{
	char why[256];

	wait_for = WAIT_NOTHING;
	if (b == NULL)
		return 0;
	if (repl_commit_send(b, why, sizeof(why)) < 0) {
		wait_for = WAIT_FAILED;
		snprintf(send_error, sizeof(send_error), "%s", why);
		return commit_failed(why, err, errlen);
	}
	wait_for = WAIT_REPLY;
	return 0;
}

int
repl_write_commit_wait(char *err, size_t errlen)
{
	char why[256];
	int state = wait_for;

	wait_for = WAIT_NOTHING;
	if (state == WAIT_NOTHING)
		return 0;
	if (state == WAIT_FAILED)
		return commit_failed(send_error, err, errlen);
	if (repl_commit_wait(why, sizeof(why)) < 0)
		return commit_failed(why, err, errlen);
	last_refused = false;
	return 0;
}

int
repl_write_commit(struct repl_batch *b, char *err, size_t errlen)
{
	char why[256];

	if (b == NULL)
		return 0;
	if (repl_commit(b, why, sizeof(why)) < 0)
		return commit_failed(why, err, errlen);
	last_refused = false;
	return 0;
}

bool
repl_write_refused(void)
{
	return last_refused;
}

void
repl_write_reset(void)
{
	last_refused = false;
}

int
repl_write_stage(const char *path, const void *data, size_t len, mode_t mode,
		 char *tmp, size_t tmplen, char *err, size_t errlen)
{
	int fd, saved;

	if ((size_t)snprintf(tmp, tmplen, "%s.tmp.%ld", path,
			     (long)getpid()) >= tmplen) {
		snprintf(err, errlen, "path too long: %.200s", path);
		errno = ENAMETOOLONG;
		return -1;
	}
	/* As in write_file_atomic(): a leftover of this PID is ours, and
	 * O_EXCL with O_NOFOLLOW keeps a planted symlink out. */
	if (unlink(tmp) < 0 && errno != ENOENT)
		goto fail;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  mode);
	if (fd < 0)
		goto fail;
	if (write_full(fd, data, len) < 0 || fsync(fd) < 0) {
		saved = errno;
		close(fd);
		unlink(tmp);
		errno = saved;
		goto fail;
	}
	if (close(fd) < 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		goto fail;
	}
	return 0;
fail:
	saved = errno;
	snprintf(err, errlen, "write(%s) failed: %s", tmp, strerror(saved));
	errno = saved;
	return -1;
}

int
repl_write_publish(const char *tmp, const char *path, char *err,
		   size_t errlen)
{
	int saved;

	if (rename(tmp, path) == 0 && fsync_parent(path) == 0)
		return 0;
	saved = errno;
	snprintf(err, errlen, "write(%s) failed: %s", path, strerror(saved));
	unlink(tmp);
	errno = saved;
	return -1;
}

int
repl_write_file_atomic(const char *path, const void *data, size_t len,
		       mode_t mode, char *err, size_t errlen)
{
	struct repl_batch *b = NULL;
	const char *rel = repl_write_rel(path);
	char tmp[PATH_MAX];
	int saved;

	if (rel == NULL) {
		if (write_file_atomic(path, data, len, mode) == 0)
			return 0;
		saved = errno;
		snprintf(err, errlen, "write(%s) failed: %s", path,
			 strerror(saved));
		errno = saved;
		return -1;
	}
	if (repl_write_stage(path, data, len, mode, tmp, sizeof(tmp), err,
			     errlen) < 0)
		return -1;
	repl_add_file(repl_write_batch(&b), rel, tmp);
	if (repl_write_commit(b, err, errlen) < 0) {
		unlink(tmp);
		errno = EAGAIN;
		return -1;
	}
	if (repl_write_publish(tmp, path, err, errlen) < 0) {
		saved = errno;
		repl_done();
		errno = saved;
		return -1;
	}
	repl_done();
	return 0;
}

void
repl_write_add_mkdirs(struct repl_batch **b, const char *dir,
		      const char *const *subs, mode_t mode)
{
	char path[PATH_MAX];
	size_t ends[64], n = 0;
	struct stat st;
	mode_t mask;

	if (repl_write_rel(dir) == NULL ||
	    (size_t)snprintf(path, sizeof(path), "%s", dir) >= sizeof(path))
		return;
	/* The peer sets the mode exactly, while mkdir(2) here applies the
	 * umask: send the mode the directory will get here. */
	mask = umask(0);
	umask(mask);
	mode &= ~mask;
	/* Walks up to the first directory that exists, remembering where
	 * each missing level ends. */
	for (;;) {
		char *slash;

		if (stat(path, &st) == 0 || repl_write_rel(path) == NULL ||
		    n == sizeof(ends) / sizeof(ends[0]))
			break;
		ends[n++] = strlen(path);
		slash = strrchr(path, '/');
		if (slash == NULL || slash == path)
			break;
		*slash = '\0';
	}
	/* Top down, so each MKDIR finds its parent. */
	while (n-- > 0) {
		snprintf(path, sizeof(path), "%s", dir);
		path[ends[n]] = '\0';
		repl_add_mkdir(repl_write_batch(b), repl_write_rel(path), mode);
	}
	for (size_t i = 0; subs != NULL && subs[i] != NULL; i++) {
		const char *rel;

		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
				     subs[i]) >= sizeof(path) ||
		    stat(path, &st) == 0)
			continue;
		rel = repl_write_rel(path);
		if (rel != NULL)
			repl_add_mkdir(repl_write_batch(b), rel, mode);
	}
}

void
repl_write_created_file(const char *path)
{
	struct repl_batch *b = NULL;
	const char *rel = repl_write_rel(path);
	char err[300];

	if (rel == NULL)
		return;
	repl_add_file(repl_write_batch(&b), rel, path);
	if (repl_write_commit(b, err, sizeof(err)) < 0) {
		log_warning("cannot replicate the new file %s: %s", path, err);
		return;
	}
	repl_done();
}
