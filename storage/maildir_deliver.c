/*
 * maildir_deliver - write one message into a Maildir, exactly once
 *
 * The standard Maildir delivery: write tmp/BASE, fsync it, rename it to
 * new/BASE and fsync new/. BASE is chosen by the caller and must be
 * deterministic for one message and recipient, because "already
 * delivered" is decided by name: new/BASE is checked first, then (when
 * check_existing is set) cur/ for BASE or BASE:2,FLAGS. This order
 * matters: a reader that moves new/BASE to cur/ between the two checks is
 * still seen in cur/.
 *
 * maildir_deliver() does all of it for one message. A group delivery
 * splits it so that one sync covers many messages: maildir_deliver_stage()
 * writes tmp/BASE and leaves it open without fsync; the caller makes the
 * staged files durable (one syncfs(2) per file system, or
 * maildir_stage_fsync() each); maildir_deliver_publish() renames each into
 * new/; the caller fsyncs each new/ once. A copy counts as delivered only
 * after both syncs. A crash in between leaves tmp/BASE, which the retry
 * overwrites, or new/BASE with durable data, which the retry finds.
 *
 * When a copy is found, its directory is fsync'd again before returning 0,
 * because the attempt that wrote it may have failed before doing so.
 * The rename uses RENAME_NOREPLACE where the filesystem supports it, so a
 * concurrent delivery of the same BASE is also reported as present.
 * Missing cur/, new/ and tmp/ directories (and the root) are created with
 * mode 0700 and their parent directory fsync'd.
 *
 * In storage_mode = replicated a staged file is committed to the
 * replicator (tmp/BASE sent as new/BASE, maildir_stage_replicate())
 * after its fsync and before the rename, so the peer has every copy
 * before it becomes visible here.
 *
 * Limits: a copy the user has already expunged is not found, so a retry
 * after a crash between the rename and the caller's record delivers it
 * again.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "maildir.h"
#include "repl_write.h"
#include "xalloc.h"

#define COPY_BUFFER_SIZE (64u * 1024)

/* Creates dir if missing and fsyncs its parent when it did. */
static int
ensure_dir(const char *dir)
{
	if (mkdir(dir, 0700) == 0)
		return fsync_parent(dir);
	if (errno != EEXIST)
		return -1;
	return 0;
}

static bool
base_valid(const char *base)
{
	return base[0] != '\0' && base[0] != '.' &&
	       strpbrk(base, "/:") == NULL && strlen(base) < NAME_MAX - 16;
}

/* Returns 1 if cur/ holds BASE or BASE:2,..., 0 if not, -1 on error. */
static int
cur_has_base(const char *cur, const char *base)
{
	size_t len = strlen(base);
	struct dirent *de;
	int found = 0;
	DIR *d;

	d = opendir(cur);
	if (d == NULL)
		return -1;
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, base, len) == 0 &&
		    (de->d_name[len] == '\0' || de->d_name[len] == ':')) {
			found = 1;
			break;
		}
		errno = 0;
	}
	if (de == NULL && errno != 0)
		found = -1;
	closedir(d);
	return found;
}

/* Copies len bytes of fd from offset to out, failing on a short file. */
static int
copy_range(int out, int fd, off_t offset, size_t len, char *err, size_t errlen)
{
	char *block = malloc(COPY_BUFFER_SIZE);

	if (block == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	while (len > 0) {
		size_t want = len < COPY_BUFFER_SIZE ? len : COPY_BUFFER_SIZE;
		ssize_t n = pread(fd, block, want, offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen,
				 "read of queued message failed: "
				 "%s",
				 strerror(errno));
			goto fail;
		}
		if (n == 0) {
			snprintf(err, errlen,
				 "queued message is %zu bytes "
				 "shorter than expected",
				 len);
			goto fail;
		}
		if (write_full(out, block, (size_t)n) < 0) {
			snprintf(err, errlen, "write failed: %s",
				 strerror(errno));
			goto fail;
		}
		offset += n;
		len -= (size_t)n;
	}
	free(block);
	return 0;
fail:
	free(block);
	return -1;
}

/*
 * Fsyncs the directory where an earlier copy was found: that attempt may
 * have failed between its rename and its own directory fsync. Returns 0,
 * or -1 with a message in err.
 */
static int
found_durable(const char *dir, char *err, size_t errlen)
{
	if (fsync_dir(dir) == 0)
		return 0;
	snprintf(err, errlen, "fsync(%s) failed: %s", dir, strerror(errno));
	return -1;
}

/* Renames without replacing; EEXIST when to exists. */
static int
rename_noreplace(const char *from, const char *to)
{
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* NFS and some others lack RENAME_NOREPLACE. */
	if (access(to, F_OK) == 0) {
		errno = EEXIST;
		return -1;
	}
	return rename(from, to);
}

/* Formats DIR/SUB[/BASE] into a new string; NULL when it is too long. */
static char *
maildir_path(const char *dir, const char *sub, const char *base)
{
	char path[PATH_MAX];
	int n;

	if (base != NULL)
		n = snprintf(path, sizeof(path), "%s/%s/%s", dir, sub, base);
	else
		n = snprintf(path, sizeof(path), "%s/%s", dir, sub);
	if (n < 0 || (size_t)n >= sizeof(path))
		return NULL;
	return xstrdup(path);
}

/*
 * Commits the Maildir directories that the delivery is about to create
 * (tmp/ stays local). Nothing is sent when they all exist.
 */
static int
dirs_replicate(const char *dir, char *err, size_t errlen)
{
	static const char *const subs[] = {"cur", "new", "tmp", NULL};
	struct repl_batch *b = NULL;

	repl_write_add_mkdirs(&b, dir, subs, 0700);
	return repl_write_commit(b, err, errlen);
}

static void
stage_clear(struct maildir_stage *st)
{
	free(st->tmp_path);
	free(st->new_path);
	free(st->new_dir);
	memset(st, 0, sizeof(*st));
	st->fd = -1;
}

/*
 * Returns 1 when dir contains a copy named base (new/ first, then cur/
 * when check_existing is set), after fsyncing the directory it is in. 0
 * when there is none, -1 on error.
 */
static int
find_copy(const char *dir, const char *base, const char *new_path,
	  const char *new_dir, bool check_existing, char *err, size_t errlen)
{
	char cur[PATH_MAX];
	int found;

	/* new/ first, then cur/: see the header comment. */
	if (access(new_path, F_OK) == 0)
		return found_durable(new_dir, err, errlen) < 0 ? -1 : 1;
	if (errno != ENOENT) {
		snprintf(err, errlen, "access(%s) failed: %s", new_path,
			 strerror(errno));
		return -1;
	}
	if (!check_existing)
		return 0;
	snprintf(cur, sizeof(cur), "%s/cur", dir);
	found = cur_has_base(cur, base);
	if (found < 0) {
		snprintf(err, errlen, "reading %s failed: %s", cur,
			 strerror(errno));
		return -1;
	}
	if (found)
		return found_durable(cur, err, errlen) < 0 ? -1 : 1;
	return 0;
}

int
maildir_deliver_stage(const char *dir, const char *base, const void *prefix,
		      size_t prefix_len, int fd, off_t offset, size_t len,
		      bool check_existing, struct maildir_stage *st, char *err,
		      size_t errlen)
{
	char cur[PATH_MAX], tmp_dir[PATH_MAX];
	struct stat sb;
	int found;

	memset(st, 0, sizeof(*st));
	st->fd = -1;
	if (!base_valid(base)) {
		snprintf(err, errlen, "invalid maildir file name \"%.64s\"",
			 base);
		return -1;
	}
	st->tmp_path = maildir_path(dir, "tmp", base);
	st->new_path = maildir_path(dir, "new", base);
	st->new_dir = maildir_path(dir, "new", NULL);
	if (st->tmp_path == NULL || st->new_path == NULL ||
	    st->new_dir == NULL ||
	    (size_t)snprintf(cur, sizeof(cur), "%s/cur", dir) >= sizeof(cur) ||
	    (size_t)snprintf(tmp_dir, sizeof(tmp_dir), "%s/tmp", dir) >=
		sizeof(tmp_dir)) {
		snprintf(err, errlen, "maildir path too long: %.64s...", dir);
		goto fail;
	}

	if (dirs_replicate(dir, err, errlen) < 0)
		goto fail;
	if (mkdir_p(dir, 0700) < 0 || ensure_dir(cur) < 0 ||
	    ensure_dir(st->new_dir) < 0 || ensure_dir(tmp_dir) < 0) {
		snprintf(err, errlen, "creating maildir %s failed: %s", dir,
			 strerror(errno));
		repl_done();
		goto fail;
	}
	repl_done();
	found = find_copy(dir, base, st->new_path, st->new_dir, check_existing,
			  err, errlen);
	if (found != 0) {
		stage_clear(st);
		return found > 0 ? 0 : -1;
	}

	/* A leftover tmp/BASE from an interrupted attempt is overwritten. */
	st->fd =
	    open(st->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (st->fd < 0) {
		snprintf(err, errlen, "open(%s) failed: %s", st->tmp_path,
			 strerror(errno));
		goto fail;
	}
	if (prefix_len > 0 && write_full(st->fd, prefix, prefix_len) < 0) {
		snprintf(err, errlen, "write(%s) failed: %s", st->tmp_path,
			 strerror(errno));
		goto fail_unlink;
	}
	if (copy_range(st->fd, fd, offset, len, err, errlen) < 0)
		goto fail_unlink;
	if (fstat(st->fd, &sb) < 0) {
		snprintf(err, errlen, "fstat(%s) failed: %s", st->tmp_path,
			 strerror(errno));
		goto fail_unlink;
	}
	st->dev = sb.st_dev;
	return 1;
fail_unlink:
	unlink(st->tmp_path);
fail:
	if (st->fd >= 0)
		close(st->fd);
	stage_clear(st);
	return -1;
}

int
maildir_stage_fsync(struct maildir_stage *st, char *err, size_t errlen)
{
	if (fsync(st->fd) == 0)
		return 0;
	snprintf(err, errlen, "fsync(%s) failed: %s", st->tmp_path,
		 strerror(errno));
	return -1;
}

int
maildir_stage_replicate(struct maildir_stage *const *v, size_t n, char *err,
			size_t errlen)
{
	struct repl_batch *b = NULL;

	for (size_t i = 0; i < n; i++) {
		const char *rel;

		if (v[i] == NULL || v[i]->tmp_path == NULL)
			continue;
		rel = repl_write_rel(v[i]->new_path);
		if (rel != NULL)
			repl_add_file(repl_write_batch(&b), rel, v[i]->tmp_path);
	}
	return repl_write_commit(b, err, errlen);
}

int
maildir_deliver_publish(struct maildir_stage *st, char *err, size_t errlen)
{
	int ret = close(st->fd);

	st->fd = -1;
	if (ret < 0) {
		snprintf(err, errlen, "close(%s) failed: %s", st->tmp_path,
			 strerror(errno));
		unlink(st->tmp_path);
		return -1;
	}
	if (rename_noreplace(st->tmp_path, st->new_path) == 0)
		return 1;
	if (errno == EEXIST) {
		unlink(st->tmp_path);
		return 0;
	}
	snprintf(err, errlen, "rename(%s) failed: %s", st->tmp_path,
		 strerror(errno));
	unlink(st->tmp_path);
	return -1;
}

void
maildir_stage_abort(struct maildir_stage *st)
{
	if (st->tmp_path != NULL)
		unlink(st->tmp_path);
	maildir_stage_free(st);
}

void
maildir_stage_free(struct maildir_stage *st)
{
	if (st->fd >= 0)
		close(st->fd);
	stage_clear(st);
}

int
maildir_deliver(const char *dir, const char *base, const void *prefix,
		size_t prefix_len, int fd, off_t offset, size_t len,
		bool check_existing, char *err, size_t errlen)
{
	struct maildir_stage st, *stp;
	int ret;

	ret = maildir_deliver_stage(dir, base, prefix, prefix_len, fd, offset,
				    len, check_existing, &st, err, errlen);
	if (ret <= 0)
		return ret;
	if (maildir_stage_fsync(&st, err, errlen) < 0) {
		maildir_stage_abort(&st);
		return -1;
	}
	stp = &st;
	if (maildir_stage_replicate(&stp, 1, err, errlen) < 0) {
		maildir_stage_abort(&st);
		return -1;
	}
	ret = maildir_deliver_publish(&st, err, errlen);
	if (ret >= 0 && fsync_dir(st.new_dir) < 0) {
		/*
		 * The file stays in new/: a retry finds it there, and if the
		 * rename is lost instead, the retry writes it again.
		 */
		snprintf(err, errlen, "fsync(%s) failed: %s", st.new_dir,
			 strerror(errno));
		ret = -1;
	}
	/* The publish is over, failed or not (see repl.h). */
	repl_done();
	maildir_stage_free(&st);
	return ret;
}
