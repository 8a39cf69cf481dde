/*
 * maildir_msg - reading, flagging and expunging messages of an open folder
 *
 * Flags live in the file name, so a flag change is a rename into cur/
 * followed by an fsync of cur/ (and of new/ when the file left it). The
 * renames run under the folder's uidlist lock, so a concurrent sync by
 * another hapost session never reads the directory mid-rename. When a
 * file is not where the view expects (another process renamed it), cur/ and
 * new/ are searched for its BASE once and the operation is retried; a
 * message whose file is gone has been expunged elsewhere and is skipped.
 * A record that changes is first copied out of an array shared with
 * other mailboxes (maildir_snap_own), so they keep their own view.
 *
 * In replicated mode the renames of a flag change and the unlinks of an
 * expunge are committed to the replicator before any of them happens
 * here, under the lock and as one batch per call. A refused commit
 * fails the call with nothing changed.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "maildir_int.h"
#include "repl_write.h"
#include "xalloc.h"

/* Finds message i's file again by BASE and updates its name and flags
 * (in a private copy of the array). Returns 0 when found, -1 when the
 * file is gone. */
static int
msg_relocate(struct mailbox *mb, size_t i)
{
	static const char *const subs[] = {"cur", "new"};
	struct maildir_msg *m;
	size_t blen;

	maildir_snap_own(mb);
	m = &mb->msgs[i];
	blen = strlen(m->base);

	for (size_t s = 0; s < 2; s++) {
		char path[4096];
		struct dirent *de;
		DIR *d;

		snprintf(path, sizeof(path), "%s/%s", mb->dir, subs[s]);
		d = opendir(path);
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, m->base, blen) != 0 ||
			    (de->d_name[blen] != '\0' &&
			     de->d_name[blen] != ':'))
				continue;
			maildir_msg_set_name(m, m->base, blen,
					     de->d_name + blen);
			m->in_new = s == 1;
			closedir(d);
			return 0;
		}
		closedir(d);
	}
	return -1;
}

int
mailbox_open_msg(struct mailbox *mb, size_t i, char *err, size_t errlen)
{
	char path[4096];
	int fd;

	if (i >= mb->count) {
		maildir_set_err(err, errlen, "no message at position %zu", i);
		return -1;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		const struct maildir_msg *m = &mb->msgs[i];

		snprintf(path, sizeof(path), "%s/%s/%s%s", mb->dir,
			 m->in_new ? "new" : "cur", m->base,
			 maildir_msg_suffix(m));
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
		if (fd >= 0)
			return fd;
		if (errno != ENOENT || attempt == 1 || msg_relocate(mb, i) < 0)
			break;
	}
	if (errno == ENOENT)
		maildir_set_err(err, errlen,
				"message UID %u of %s has been expunged",
				mb->msgs[i].uid, mb->name);
	else
		maildir_set_err(err, errlen, "open(%s) failed: %s", path,
				strerror(errno));
	return -1;
}

static int
lock_folder(struct mailbox *mb, char *err, size_t errlen)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", mb->dir, UIDLIST_LOCK_FILE);
	fd = maildir_lock_file(path, true);
	if (fd < 0)
		maildir_set_err(err, errlen, "lock(%s) failed: %s", path,
				strerror(errno));
	return fd;
}

static int
fsync_sub(struct mailbox *mb, const char *sub, char *err, size_t errlen)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", mb->dir, sub);
	if (fsync_dir(path) < 0) {
		maildir_set_err(err, errlen, "fsync(%s) failed: %s", path,
				strerror(errno));
		return -1;
	}
	return 0;
}

/* Formats the rename that gives message i flags f. Returns false when
 * the file already has that name. */
static bool
flag_rename_paths(const struct mailbox *mb, size_t i, const char *f,
		  char from[4096], char to[4096])
{
	const struct maildir_msg *m = &mb->msgs[i];
	const char *suffix = maildir_msg_suffix(m);

	if (!m->in_new && strcmp(m->flags, f) == 0 &&
	    strncmp(suffix, ":2,", 3) == 0)
		return false;
	snprintf(from, 4096, "%s/%s/%s%s", mb->dir, m->in_new ? "new" : "cur",
		 m->base, suffix);
	snprintf(to, 4096, "%s/cur/%s:2,%s", mb->dir, m->base, f);
	return true;
}

/* Formats the path of message i's file. */
static void
msg_file_path(const struct mailbox *mb, size_t i, char path[4096])
{
	const struct maildir_msg *m = &mb->msgs[i];

	snprintf(path, 4096, "%s/%s/%s%s", mb->dir, m->in_new ? "new" : "cur",
		 m->base, maildir_msg_suffix(m));
}

/*
 * Finds message i's file (looking it up again by BASE once when it moved)
 * so the records sent to the peer name the file the local change will
 * touch. Returns false when the file is gone.
 */
static bool
msg_locate(struct mailbox *mb, size_t i)
{
	char path[4096];

	msg_file_path(mb, i, path);
	if (access(path, F_OK) == 0 || errno != ENOENT)
		return true;
	return msg_relocate(mb, i) == 0;
}

/*
 * Commits the renames of a flag change to the replicator before they
 * happen (the caller holds the folder lock). Returns 0, or -1 with the
 * reason in err.
 */
static int
flags_replicate(struct mailbox *mb, const size_t *idx,
		const char *const *flags, size_t n, char *err, size_t errlen)
{
	struct repl_batch *b = NULL;

	for (size_t k = 0; k < n; k++) {
		char f[48], from[4096], to[4096];
		const char *from_rel, *to_rel;

		maildir_flags_normalize(flags[k], f);
		if (!msg_locate(mb, idx[k]) ||
		    !flag_rename_paths(mb, idx[k], f, from, to))
			continue;
		from_rel = repl_write_rel(from);
		to_rel = repl_write_rel(to);
		if (from_rel != NULL && to_rel != NULL)
			repl_add_rename(repl_write_batch(&b), from_rel, to_rel);
	}
	return repl_write_commit(b, err, errlen);
}

/* Renames message i to carry flags f. Sets *left_new when the file moved
 * out of new/. Returns 0, or -1 on an error other than a vanished file. */
static int
rename_flags(struct mailbox *mb, size_t i, const char *f, bool *left_new,
	     char *err, size_t errlen)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		struct maildir_msg *m = &mb->msgs[i];
		bool was_new = m->in_new;
		char from[4096], to[4096], tail[64];

		if (!flag_rename_paths(mb, i, f, from, to))
			return 0;
		if (rename(from, to) == 0) {
			snprintf(tail, sizeof(tail), ":2,%s", f);
			maildir_snap_own(mb);
			m = &mb->msgs[i];
			maildir_msg_set_name(m, m->base, strlen(m->base), tail);
			m->in_new = false;
			if (was_new)
				*left_new = true;
			return 0;
		}
		if (errno != ENOENT) {
			maildir_set_err(err, errlen,
					"rename(%s, %s) failed: %s", from, to,
					strerror(errno));
			return -1;
		}
		if (attempt == 1 || msg_relocate(mb, i) < 0)
			break;
	}
	log_debug("maildir: %s UID %u vanished before a flag change",
		  mb->dir, mb->msgs[i].uid);
	return 0;
}

int
mailbox_set_flags_many(struct mailbox *mb, const size_t *idx,
		       const char *const *flags, size_t n, char *err,
		       size_t errlen)
{
	bool left_new = false;
	int lock_fd, ret = 0;

	if (mb->readonly) {
		maildir_set_err(err, errlen, "mailbox %s is read-only",
				mb->name);
		return -1;
	}
	for (size_t k = 0; k < n; k++) {
		char f[48];

		if (idx[k] >= mb->count) {
			maildir_set_err(err, errlen,
					"no message at position %zu", idx[k]);
			return -1;
		}
		if (!maildir_flags_normalize(flags[k], f)) {
			maildir_set_err(err, errlen,
					"invalid flag letters \"%s\"",
					flags[k]);
			return -1;
		}
	}
	lock_fd = lock_folder(mb, err, errlen);
	if (lock_fd < 0)
		return -1;
	if (repl_write_rel(mb->dir) != NULL &&
	    flags_replicate(mb, idx, flags, n, err, errlen) < 0) {
		close(lock_fd);
		return -1;
	}
	for (size_t k = 0; k < n && ret == 0; k++) {
		char f[48];

		maildir_flags_normalize(flags[k], f);
		ret = rename_flags(mb, idx[k], f, &left_new, err, errlen);
	}
	if (n > 0 && fsync_sub(mb, "cur", err, errlen) < 0)
		ret = -1;
	if (left_new && fsync_sub(mb, "new", err, errlen) < 0)
		ret = -1;
	repl_done();
	close(lock_fd);
	return ret;
}

int
mailbox_set_flags(struct mailbox *mb, size_t i, const char *flags,
		  char *err, size_t errlen)
{
	return mailbox_set_flags_many(mb, &i, &flags, 1, err, errlen);
}

/* Commits the unlinks of an expunge to the replicator before they
 * happen (the caller holds the folder lock). */
static int
expunge_replicate(struct mailbox *mb, const size_t *idx, size_t n, char *err,
		  size_t errlen)
{
	struct repl_batch *b = NULL;

	for (size_t k = 0; k < n; k++) {
		char path[4096];
		const char *rel;

		if (idx[k] >= mb->count || !msg_locate(mb, idx[k]))
			continue;
		msg_file_path(mb, idx[k], path);
		rel = repl_write_rel(path);
		if (rel != NULL)
			repl_add_unlink(repl_write_batch(&b), rel);
	}
	return repl_write_commit(b, err, errlen);
}

int
mailbox_expunge_msgs(struct mailbox *mb, const size_t *idx, size_t n,
		     char *err, size_t errlen)
{
	bool touched_new = false;
	int lock_fd, ret = 0;

	if (mb->readonly) {
		maildir_set_err(err, errlen, "mailbox %s is read-only",
				mb->name);
		return -1;
	}
	lock_fd = lock_folder(mb, err, errlen);
	if (lock_fd < 0)
		return -1;
	if (repl_write_rel(mb->dir) != NULL &&
	    expunge_replicate(mb, idx, n, err, errlen) < 0) {
		close(lock_fd);
		return -1;
	}
	for (size_t k = 0; k < n; k++) {
		size_t i = idx[k];

		if (i >= mb->count)
			continue;
		for (int attempt = 0; attempt < 2; attempt++) {
			const struct maildir_msg *m = &mb->msgs[i];
			char path[4096];

			snprintf(path, sizeof(path), "%s/%s/%s%s", mb->dir,
				 m->in_new ? "new" : "cur", m->base,
				 maildir_msg_suffix(m));
			if (unlink(path) == 0) {
				if (m->in_new)
					touched_new = true;
				break;
			}
			if (errno != ENOENT) {
				maildir_set_err(err, errlen,
						"unlink(%s) failed: %s", path,
						strerror(errno));
				ret = -1;
				break;
			}
			if (attempt == 1 || msg_relocate(mb, i) < 0)
				break;
		}
	}
	if (n > 0 && fsync_sub(mb, "cur", err, errlen) < 0)
		ret = -1;
	if (touched_new && fsync_sub(mb, "new", err, errlen) < 0)
		ret = -1;
	repl_done();
	close(lock_fd);
	return ret;
}
