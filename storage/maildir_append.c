/*
 * maildir_append - storing new messages into folders (APPEND, COPY) and
 * the POP3 maildrop lock
 *
 * A stored message is written to tmp/ and fsync'd, renamed into cur/ as
 * BASE:2,FLAGS and cur/ is fsync'd; only then is the folder synced to
 * give it a UID, so a UID is returned only for a durable message. COPY
 * hard-links the source file under a new BASE (the data is already
 * durable) and falls back to copying the bytes when link(2) fails with
 * EXDEV, EPERM or EMLINK. Keyword letters are translated by name, since
 * each folder numbers its keywords on its own.
 *
 * In replicated mode the new files are committed to the replicator (one
 * batch for a whole COPY) after their fsync and before the renames into
 * cur/; a refused commit removes them and fails the call.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "maildir_int.h"
#include "repl_write.h"
#include "xalloc.h"

/* Returns the folder directory of name if it exists as a Maildir. */
static char *
existing_folder_dir(const char *root, const char *name, char *err,
		    size_t errlen)
{
	char why[256], path[4096];
	struct stat st;
	char *dir;

	if (!maildir_is_inbox(name) &&
	    !maildir_folder_name_valid(name, why, sizeof(why))) {
		maildir_set_err(err, errlen, "invalid mailbox name: %s", why);
		return NULL;
	}
	dir = maildir_folder_dir(root, name);
	snprintf(path, sizeof(path), "%s/cur", dir);
	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		maildir_set_err(err, errlen, "mailbox %s does not exist",
				name);
		free(dir);
		return NULL;
	}
	return dir;
}

/*
 * Creates tmp (O_EXCL), making the folder's tmp/ first when it is
 * missing: replication does not copy tmp/ folders, so a folder that
 * reached this node through replication has none.
 */
static int
open_tmp(const char *tmp)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	char *dir;

	if (fd >= 0 || errno != ENOENT)
		return fd;
	dir = path_dirname(tmp);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		free(dir);
		errno = ENOENT;
		return -1;
	}
	free(dir);
	return open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

/* Commits the new files tmps[k] as curs[k] (n of them, NULL skipped)
 * to the replicator before they are renamed into cur/. */
static int
replicate_new(char **tmps, char **curs, size_t n, char *err, size_t errlen)
{
	struct repl_batch *b = NULL;

	for (size_t k = 0; k < n; k++) {
		const char *rel;

		if (tmps[k] == NULL)
			continue;
		rel = repl_write_rel(curs[k]);
		if (rel != NULL)
			repl_add_file(repl_write_batch(&b), rel, tmps[k]);
	}
	return repl_write_commit(b, err, errlen);
}

static int
write_tmp(const char *tmp, const void *data, size_t len, time_t date,
	  char *err, size_t errlen)
{
	int fd = open_tmp(tmp);

	if (fd < 0) {
		maildir_set_err(err, errlen, "open(%s) failed: %s", tmp,
				strerror(errno));
		return -1;
	}
	if (write_full(fd, data, len) < 0 || fsync(fd) < 0) {
		maildir_set_err(err, errlen, "write(%s) failed: %s", tmp,
				strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (date > 0) {
		struct timespec ts[2] = {{date, 0}, {date, 0}};

		if (futimens(fd, ts) < 0)
			log_warning("maildir: futimens(%s) failed: %m", tmp);
	}
	if (close(fd) < 0) {
		maildir_set_err(err, errlen, "close(%s) failed: %s", tmp,
				strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* Syncs the folder and looks up the UIDs of the given BASEs. */
static int
uids_of_bases(const char *root, const char *name, char **bases, size_t n,
	      uint32_t *uidvalidity, uint32_t *uids, char *err,
	      size_t errlen)
{
	struct mailbox *mb;
	size_t k, i;

	if (mailbox_open(root, name, true, &mb, err, errlen) < 0)
		return -1;
	*uidvalidity = mb->uidvalidity;
	for (k = 0; k < n; k++) {
		uids[k] = 0;
		for (i = mb->count; i-- > 0;) {
			if (strcmp(mb->msgs[i].base, bases[k]) == 0) {
				uids[k] = mb->msgs[i].uid;
				break;
			}
		}
		if (uids[k] == 0) {
			maildir_set_err(err, errlen,
					"stored message %s vanished from %s",
					bases[k], name);
			mailbox_close(mb);
			return -1;
		}
	}
	mailbox_close(mb);
	return 0;
}

int
mailbox_append(const char *root, const char *name, const void *data,
	       size_t len, const char *flags, time_t internal_date,
	       uint32_t *uidvalidity, uint32_t *uid, char *err,
	       size_t errlen)
{
	char base[512], tmp[4096], cur[4096], f[48];
	char *dir, *bases[1], *tmps[1], *curs[1];
	int ret = -1;

	if (!maildir_flags_normalize(flags ? flags : "", f)) {
		maildir_set_err(err, errlen, "invalid flag letters \"%s\"",
				flags);
		return -1;
	}
	dir = existing_folder_dir(root, name, err, errlen);
	if (dir == NULL)
		return -1;
	maildir_new_base(base, sizeof(base), len);
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dir, base);
	snprintf(cur, sizeof(cur), "%s/cur/%s:2,%s", dir, base, f);
	if (write_tmp(tmp, data, len, internal_date, err, errlen) < 0)
		goto out;
	tmps[0] = tmp;
	curs[0] = cur;
	if (replicate_new(tmps, curs, 1, err, errlen) < 0) {
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, cur) < 0) {
		maildir_set_err(err, errlen, "rename(%s) failed: %s", tmp,
				strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (fsync_parent(cur) < 0) {
		maildir_set_err(err, errlen, "fsync(%s/cur) failed: %s", dir,
				strerror(errno));
		goto out;
	}
	repl_done();
	bases[0] = base;
	ret = uids_of_bases(root, name, bases, 1, uidvalidity, uid, err,
			    errlen);
out:
	/* The publish is over, failed or not (see repl.h). */
	repl_done();
	free(dir);
	return ret;
}

/* Copies the bytes of an open message into a new tmp file. */
static int
copy_bytes(int in, const char *tmp, time_t date, char *err, size_t errlen)
{
	char chunk[65536];
	int out = open_tmp(tmp);
	ssize_t n;

	if (out < 0) {
		maildir_set_err(err, errlen, "open(%s) failed: %s", tmp,
				strerror(errno));
		return -1;
	}
	while ((n = read(in, chunk, sizeof(chunk))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || write_full(out, chunk, (size_t)n) < 0)
			goto fail;
	}
	if (fsync(out) < 0)
		goto fail;
	if (date > 0) {
		struct timespec ts[2] = {{date, 0}, {date, 0}};

		(void)futimens(out, ts);
	}
	if (close(out) < 0) {
		out = -1;
		goto fail;
	}
	return 0;
fail:
	maildir_set_err(err, errlen, "copy to %s failed: %s", tmp,
			strerror(errno));
	if (out >= 0)
		close(out);
	unlink(tmp);
	return -1;
}

/* Rewrites keyword letters of flags from src's numbering to dst's. */
static void
translate_flags(struct mailbox *src, struct mailbox *dst, const char *in,
		char out[48])
{
	char tmp[48];
	size_t n = 0;

	for (const char *p = in; *p != '\0' && n < 47; p++) {
		char letter = *p;

		if (*p >= 'a' && *p <= 'z') {
			const char *kw = src->keywords[*p - 'a'];

			letter = kw ? mailbox_keyword_letter(dst, kw, true) : 0;
		}
		if (letter != 0)
			tmp[n++] = letter;
	}
	tmp[n] = '\0';
	maildir_flags_normalize(tmp, out);
}

/* Links (or copies) message i of mb into dir/tmp/base. */
static int
link_one(struct mailbox *mb, size_t i, const char *tmp, char *err,
	 size_t errlen)
{
	char src[4096];
	int fd, ret;

	for (int attempt = 0; attempt < 2; attempt++) {
		const struct maildir_msg *m = &mb->msgs[i];

		snprintf(src, sizeof(src), "%s/%s/%s%s", mb->dir,
			 m->in_new ? "new" : "cur", m->base,
			 maildir_msg_suffix(m));
		if (link(src, tmp) == 0)
			return 0;
		if (errno != ENOENT)
			break;
		/* The file was renamed: opening it updates its path. */
		fd = mailbox_open_msg(mb, i, err, errlen);
		if (fd < 0)
			return -1;
		close(fd);
	}
	if (errno != EXDEV && errno != EPERM && errno != EMLINK) {
		maildir_set_err(err, errlen, "link(%s, %s) failed: %s", src,
				tmp, strerror(errno));
		return -1;
	}
	fd = mailbox_open_msg(mb, i, err, errlen);
	if (fd < 0)
		return -1;
	ret = copy_bytes(fd, tmp, mb->msgs[i].internal_date, err, errlen);
	close(fd);
	return ret;
}

/*
 * Removes the files a failed COPY already stored, so the target is left
 * as it was (RFC 3501 requires this of COPY): tmps[k] when it is still
 * set, else curs[k]. The peer may hold copies already renamed here, so
 * their removal is replicated too (best effort: a catch-up repairs a
 * failure).
 */
static void
undo_copies(const char *dir, char **tmps, char **curs, size_t n)
{
	struct repl_batch *b = NULL;
	char path[4096], err[300];
	bool renamed = false;

	for (size_t k = 0; k < n; k++) {
		const char *rel;

		if (tmps[k] != NULL || curs[k] == NULL)
			continue;
		renamed = true;
		rel = repl_write_rel(curs[k]);
		if (rel != NULL)
			repl_add_unlink(repl_write_batch(&b), rel);
	}
	if (repl_write_commit(b, err, sizeof(err)) < 0)
		log_error("maildir: %s while undoing a COPY", err);
	for (size_t k = 0; k < n; k++) {
		const char *path_k = tmps[k] != NULL ? tmps[k] : curs[k];

		if (path_k != NULL && unlink(path_k) < 0 && errno != ENOENT)
			log_error("maildir: unlink(%s) failed: %m", path_k);
	}
	if (!renamed)
		return;
	snprintf(path, sizeof(path), "%s/cur", dir);
	if (fsync_dir(path) < 0)
		log_error("maildir: fsync(%s) failed: %m", path);
	repl_done();
}

int
mailbox_copy_msgs(struct mailbox *mb, const size_t *idx, size_t n,
		  const char *target, uint32_t *uidvalidity, uint32_t *uids,
		  char *err, size_t errlen)
{
	struct mailbox dst = {0};
	char **bases = xcalloc(n + 1, sizeof(*bases));
	char **tmps = xcalloc(n + 1, sizeof(*tmps));
	char **curs = xcalloc(n + 1, sizeof(*curs));
	char path[4096];
	size_t done, k;
	int ret = -1;

	dst.dir = existing_folder_dir(mb->root, target, err, errlen);
	if (dst.dir == NULL)
		goto out;
	/* A replicated folder may lack tmp/ (see open_tmp()). */
	snprintf(path, sizeof(path), "%s/tmp", dst.dir);
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		log_warning("maildir: mkdir(%s) failed: %m", path);
	mailbox_load_keywords(&dst);
	/* Every copy goes to tmp/ first, so one commit replicates all. */
	for (done = 0; done < n; done++) {
		struct maildir_msg *m;
		char base[512], tmp[4096], f[48];

		if (idx[done] >= mb->count) {
			maildir_set_err(err, errlen,
					"no message at position %zu",
					idx[done]);
			goto fail;
		}
		m = &mb->msgs[idx[done]];
		maildir_new_base(base, sizeof(base), m->size);
		translate_flags(mb, &dst, m->flags, f);
		snprintf(tmp, sizeof(tmp), "%s/tmp/%s", dst.dir, base);
		if (link_one(mb, idx[done], tmp, err, errlen) < 0)
			goto fail;
		tmps[done] = xstrdup(tmp);
		curs[done] = xasprintf("%s/cur/%s:2,%s", dst.dir, base, f);
		bases[done] = xstrdup(base);
	}
	if (replicate_new(tmps, curs, n, err, errlen) < 0)
		goto fail;
	for (k = 0; k < n; k++) {
		if (rename(tmps[k], curs[k]) < 0) {
			maildir_set_err(err, errlen, "rename(%s) failed: %s",
					tmps[k], strerror(errno));
			goto fail;
		}
		free(tmps[k]);
		tmps[k] = NULL;
	}
	snprintf(path, sizeof(path), "%s/cur", dst.dir);
	if (fsync_dir(path) < 0) {
		maildir_set_err(err, errlen, "fsync(%s) failed: %s", path,
				strerror(errno));
		goto fail;
	}
	repl_done();
	ret = uids_of_bases(mb->root, target, bases, n, uidvalidity, uids, err,
			    errlen);
	goto out;
fail:
	undo_copies(dst.dir, tmps, curs, n);
out:
	/* The publish is over, failed or not (see repl.h). */
	repl_done();
	for (k = 0; k < n; k++) {
		free(bases[k]);
		free(tmps[k]);
		free(curs[k]);
	}
	free(bases);
	free(tmps);
	free(curs);
	for (k = 0; k < MAILDIR_MAX_KEYWORDS; k++)
		free(dst.keywords[k]);
	free(dst.dir);
	return ret;
}

int
maildir_pop3_lock(const char *root, char *err, size_t errlen)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, POP3_LOCK_FILE);
	fd = maildir_lock_file(path, false);
	if (fd >= 0)
		return fd;
	if (errno == EAGAIN) {
		maildir_set_err(err, errlen,
				"maildrop is locked by another session");
		return -2;
	}
	maildir_set_err(err, errlen, "lock(%s) failed: %s", path,
			strerror(errno));
	return -1;
}
