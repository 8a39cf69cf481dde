/*
 * folder - creating, deleting, renaming and listing Maildir++ folders,
 * and the subscription list
 *
 * A folder is created complete in the root's tmp/ and renamed into place
 * with RENAME_NOREPLACE, so other sessions never see a half-made folder
 * and two creators of one name cannot both succeed. It gets a uidlist
 * with a fresh UIDVALIDITY at once, so its UIDVALIDITY is its creation
 * time. Deletion renames the folder into tmp/ first (the folder vanishes
 * in one step) and then removes the files.
 *
 * Renaming moves the folder and every folder below it in the hierarchy
 * (RFC 3501 RENAME), checks first that no target name exists, undoes the
 * renames done so far if one fails, and gives every moved folder a new
 * UIDVALIDITY, so a client never mistakes it for the folder that had the
 * name before. INBOX is the Maildir root: it cannot be deleted, and
 * renaming it (which RFC 3501 defines as moving its messages into a new
 * folder) is not supported.
 *
 * Subscriptions are ROOT/subscriptions, one name per line, rewritten
 * atomically under ROOT/hapost-subscriptions.lock. Subscribing to a name
 * that does not exist is allowed, as RFC 3501 permits.
 *
 * In replicated mode each change is committed to the replicator before
 * it happens here. A new folder goes as MKDIR records and its two files,
 * read from the scratch copy, because the scratch itself is in tmp/,
 * which is not replicated. A deletion goes as one RMTREE, a rename as
 * the RENAME records of every moved folder. A refused commit fails the
 * command with nothing changed.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "maildir_int.h"
#include "repl_write.h"
#include "xalloc.h"

static unsigned scratch_counter;

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
list_push(char ***v, size_t *n, size_t *cap, char *s)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	(*v)[(*n)++] = s;
}

static bool
is_dir_entry(const char *root, const struct dirent *de)
{
	char path[4096];
	struct stat st;

	if (de->d_type == DT_DIR)
		return true;
	if (de->d_type != DT_UNKNOWN)
		return false;
	snprintf(path, sizeof(path), "%s/%s", root, de->d_name);
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Lists the folder names found under root (INBOX excluded), sorted. */
static int
folder_names(const char *root, char ***names, size_t *n)
{
	size_t cap = 0;
	struct dirent *de;
	DIR *d;

	*names = NULL;
	*n = 0;
	d = opendir(root);
	if (d == NULL)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || de->d_name[1] == '\0' ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (!maildir_folder_name_valid(de->d_name + 1, NULL, 0) ||
		    !is_dir_entry(root, de))
			continue;
		list_push(names, n, &cap, xstrdup(de->d_name + 1));
	}
	closedir(d);
	if (*n > 1)
		qsort(*names, *n, sizeof(**names), name_cmp);
	return 0;
}

int
maildir_folder_list(const char *root, char ***names, size_t *n)
{
	char **folders;
	size_t nfolders;

	if (folder_names(root, &folders, &nfolders) < 0) {
		log_error("maildir: opendir(%s) failed: %m", root);
		return -1;
	}
	*names = xcalloc(nfolders + 1, sizeof(**names));
	(*names)[0] = xstrdup("INBOX");
	if (nfolders > 0)
		memcpy(*names + 1, folders, nfolders * sizeof(*folders));
	*n = nfolders + 1;
	free(folders);
	return 0;
}

/* Makes sure root is a Maildir (its tmp/ is the scratch space). */
static int
ensure_root(const char *root, char *err, size_t errlen)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/tmp", root);
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	return maildir_create(root, false, err, errlen);
}

static char *
scratch_path(const char *root, const char *what)
{
	return xasprintf("%s/tmp/.hapost-%s.%ld.%u", root, what,
			 (long)getpid(), ++scratch_counter);
}

static int
check_name(const char *name, const char *what, char *err, size_t errlen)
{
	char why[256];

	if (maildir_folder_name_valid(name, why, sizeof(why)))
		return 0;
	maildir_set_err(err, errlen, "invalid %s mailbox name: %s", what, why);
	return -1;
}

static int
remove_entry(const char *path, const struct stat *st, int flag,
	     struct FTW *ftw)
{
	if (remove(path) < 0 && errno != ENOENT)
		log_warning("maildir: remove(%s) failed: %m", path);
	return 0;
}

static void
remove_tree(const char *path)
{
	nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Commits a new folder: target's directories and the files of scratch
 * that will appear under target once scratch is renamed.
 *
 * NOTE: two sessions creating one name at the same moment both commit.
 * The loser's rename then fails here, but the peer keeps the loser's
 * uidlist until the folder's next sync rewrites it.
 */
static int
create_replicate(const char *scratch, const char *target, const char *name,
		 char *err, size_t errlen)
{
	static const char *const files[] = {"maildirfolder", UIDLIST_FILE};
	struct repl_batch *b = NULL;
	char path[4096], from[4096];
	struct stat st;

	if (repl_write_rel(target) == NULL)
		return 0;
	if (lstat(target, &st) == 0) {
		maildir_set_err(err, errlen, "mailbox %s already exists", name);
		return -1;
	}
	repl_add_mkdir(repl_write_batch(&b), repl_write_rel(target), 0700);
	snprintf(path, sizeof(path), "%s/cur", target);
	repl_add_mkdir(repl_write_batch(&b), repl_write_rel(path), 0700);
	snprintf(path, sizeof(path), "%s/new", target);
	repl_add_mkdir(repl_write_batch(&b), repl_write_rel(path), 0700);
	for (size_t i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", target, files[i]);
		snprintf(from, sizeof(from), "%s/%s", scratch, files[i]);
		repl_add_file(repl_write_batch(&b), repl_write_rel(path), from);
	}
	return repl_write_commit(b, err, errlen);
}

int
maildir_folder_create(const char *root, const char *name, char *err,
		      size_t errlen)
{
	struct uidlist ul = {0};
	char *scratch, *target;
	int ret = -1;

	if (maildir_is_inbox(name)) {
		maildir_set_err(err, errlen, "mailbox INBOX already exists");
		return -1;
	}
	if (check_name(name, "new", err, errlen) < 0 ||
	    ensure_root(root, err, errlen) < 0)
		return -1;
	target = maildir_folder_dir(root, name);
	scratch = scratch_path(root, "create");
	if (maildir_create(scratch, true, err, errlen) < 0)
		goto out;
	ul.uidvalidity = uidvalidity_next(root, 0, err, errlen);
	ul.uidnext = 1;
	if (ul.uidvalidity == 0 || uidlist_write(scratch, &ul, err,
						 errlen) < 0)
		goto out;
	if (create_replicate(scratch, target, name, err, errlen) < 0)
		goto out;
	if (renameat2(AT_FDCWD, scratch, AT_FDCWD, target,
		      RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST || errno == ENOTEMPTY)
			maildir_set_err(err, errlen,
					"mailbox %s already exists", name);
		else
			maildir_set_err(err, errlen,
					"rename(%s, %s) failed: %s", scratch,
					target, strerror(errno));
		goto out;
	}
	if (fsync_dir(root) < 0) {
		maildir_set_err(err, errlen, "fsync(%s) failed: %s", root,
				strerror(errno));
		goto out;
	}
	ret = 0;
out:
	/* The publish is over, failed or not (see repl.h). */
	repl_done();
	if (ret < 0)
		remove_tree(scratch);
	free(scratch);
	free(target);
	return ret;
}

/* Commits the removal of folder directory dir. */
static int
delete_replicate(const char *dir, const char *name, char *err, size_t errlen)
{
	struct repl_batch *b = NULL;
	const char *rel = repl_write_rel(dir);
	struct stat st;

	if (rel == NULL)
		return 0;
	if (lstat(dir, &st) < 0) {
		if (errno == ENOENT)
			maildir_set_err(err, errlen,
					"mailbox %s does not exist", name);
		else
			maildir_set_err(err, errlen, "lstat(%s) failed: %s",
					dir, strerror(errno));
		return -1;
	}
	repl_add_rmtree(repl_write_batch(&b), rel);
	return repl_write_commit(b, err, errlen);
}

int
maildir_folder_delete(const char *root, const char *name, char *err,
		      size_t errlen)
{
	char *dir, *scratch;
	int ret = -1;

	if (maildir_is_inbox(name)) {
		maildir_set_err(err, errlen, "INBOX cannot be deleted");
		return -1;
	}
	if (check_name(name, "", err, errlen) < 0)
		return -1;
	dir = maildir_folder_dir(root, name);
	scratch = scratch_path(root, "delete");
	if (delete_replicate(dir, name, err, errlen) < 0)
		goto out;
	if (rename(dir, scratch) < 0) {
		if (errno == ENOENT)
			maildir_set_err(err, errlen,
					"mailbox %s does not exist", name);
		else
			maildir_set_err(err, errlen,
					"rename(%s, %s) failed: %s", dir,
					scratch, strerror(errno));
		goto out;
	}
	if (fsync_dir(root) < 0) {
		maildir_set_err(err, errlen, "fsync(%s) failed: %s", root,
				strerror(errno));
		goto out;
	}
	remove_tree(scratch);
	ret = 0;
out:
	/* The publish is over, failed or not (see repl.h). */
	repl_done();
	free(dir);
	free(scratch);
	return ret;
}

/* Gives a renamed folder a new UIDVALIDITY, keeping its UIDs. */
static void
renew_uidvalidity(const char *root, const char *dir)
{
	struct uidlist ul;
	char path[4096], err[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, UIDLIST_LOCK_FILE);
	fd = maildir_lock_file(path, true);
	if (fd < 0) {
		log_warning("maildir: lock(%s) failed: %m", path);
		return;
	}
	if (uidlist_read(dir, &ul, err, sizeof(err)) == 1) {
		uint32_t v = uidvalidity_next(root, ul.uidvalidity + 1, err,
					      sizeof(err));

		if (v != 0) {
			ul.uidvalidity = v;
			if (uidlist_write(dir, &ul, err, sizeof(err)) < 0)
				log_warning("maildir: %s", err);
		}
	}
	uidlist_free(&ul);
	close(fd);
}

/* Commits the renames of from[i] to to[i], in that order. */
static int
renames_replicate(char **from, char **to, size_t n, char *err, size_t errlen)
{
	struct repl_batch *b = NULL;

	for (size_t i = 0; i < n; i++) {
		const char *from_rel = repl_write_rel(from[i]);
		const char *to_rel = repl_write_rel(to[i]);

		if (from_rel != NULL && to_rel != NULL)
			repl_add_rename(repl_write_batch(&b), from_rel, to_rel);
	}
	return repl_write_commit(b, err, errlen);
}

int
maildir_folder_rename(const char *root, const char *from, const char *to,
		      char *err, size_t errlen)
{
	char **all = NULL, **src = NULL, **dst = NULL;
	size_t nall = 0, n = 0, cap = 0, done = 0;
	size_t flen = strlen(from);
	struct stat st;
	int ret = -1;

	if (maildir_is_inbox(from)) {
		maildir_set_err(err, errlen,
				"renaming INBOX is not supported");
		return -1;
	}
	if (maildir_is_inbox(to)) {
		maildir_set_err(err, errlen, "mailbox INBOX already exists");
		return -1;
	}
	if (check_name(from, "source", err, errlen) < 0 ||
	    check_name(to, "target", err, errlen) < 0)
		return -1;
	if (strcmp(from, to) == 0) {
		maildir_set_err(err, errlen, "mailbox %s already exists", to);
		return -1;
	}
	if (folder_names(root, &all, &nall) < 0) {
		maildir_set_err(err, errlen, "opendir(%s) failed: %s", root,
				strerror(errno));
		return -1;
	}
	/* The folder itself first, then the folders below it. */
	for (size_t i = 0; i < nall; i++) {
		bool self = strcmp(all[i], from) == 0;
		bool child = strncmp(all[i], from, flen) == 0 &&
			     all[i][flen] == '.';

		if (!self && !child)
			continue;
		list_push(&src, &n, &cap, xasprintf("%s/.%s", root, all[i]));
		dst = xrealloc(dst, cap * sizeof(*dst));
		dst[n - 1] = xasprintf("%s/.%s%s", root, to, all[i] + flen);
		if (self && n > 1) {
			char *t = src[0];

			src[0] = src[n - 1];
			src[n - 1] = t;
			t = dst[0];
			dst[0] = dst[n - 1];
			dst[n - 1] = t;
		}
	}
	if (n == 0 || strcmp(src[0] + strlen(root) + 2, from) != 0) {
		maildir_set_err(err, errlen, "mailbox %s does not exist",
				from);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		if (lstat(dst[i], &st) == 0) {
			maildir_set_err(err, errlen,
					"mailbox %s already exists",
					dst[i] + strlen(root) + 2);
			goto out;
		}
		if (strlen(dst[i]) - strlen(root) - 2 > 240) {
			maildir_set_err(err, errlen,
					"new name of %s is too long",
					src[i] + strlen(root) + 2);
			goto out;
		}
	}
	if (renames_replicate(src, dst, n, err, errlen) < 0)
		goto out;
	for (done = 0; done < n; done++) {
		if (renameat2(AT_FDCWD, src[done], AT_FDCWD, dst[done],
			      RENAME_NOREPLACE) < 0) {
			char why[512];

			maildir_set_err(err, errlen,
					"rename(%s, %s) failed: %s", src[done],
					dst[done], strerror(errno));
			/* The peer did all n renames: undo them there. */
			if (renames_replicate(dst, src, n, why, sizeof(why)) <
			    0)
				log_error("maildir: %s while undoing a folder "
					  "rename",
					  why);
			while (done-- > 0) {
				if (rename(dst[done], src[done]) < 0)
					log_error("maildir: rename(%s, %s) "
						  "failed while undoing a "
						  "folder rename: %m",
						  dst[done], src[done]);
			}
			fsync_dir(root);
			goto out;
		}
	}
	if (fsync_dir(root) < 0) {
		maildir_set_err(err, errlen, "fsync(%s) failed: %s", root,
				strerror(errno));
		goto out;
	}
	repl_done();
	for (size_t i = 0; i < n; i++)
		renew_uidvalidity(root, dst[i]);
	ret = 0;
out:
	/* The publish is over, failed or not (see repl.h). */
	repl_done();
	for (size_t i = 0; i < nall; i++)
		free(all[i]);
	for (size_t i = 0; i < n; i++) {
		free(src[i]);
		free(dst[i]);
	}
	free(all);
	free(src);
	free(dst);
	return ret;
}

static int
read_subscriptions(const char *root, char ***names, size_t *n)
{
	struct buf b = BUF_INIT;
	char path[4096];
	char *line, *save = NULL;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	snprintf(path, sizeof(path), "%s/%s", root, SUBSCRIPTIONS_FILE);
	if (read_file(path, &b, (size_t)1 << 20) < 0) {
		int saved = errno;

		buf_free(&b);
		errno = saved;
		return saved == ENOENT ? 0 : -1;
	}
	buf_cstr(&b);
	for (line = strtok_r(b.data, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		if (maildir_is_inbox(line) ||
		    maildir_folder_name_valid(line, NULL, 0))
			list_push(names, n, &cap, xstrdup(line));
	}
	buf_free(&b);
	return 0;
}

int
maildir_subscriptions(const char *root, char ***names, size_t *n)
{
	if (read_subscriptions(root, names, n) < 0) {
		log_error("maildir: read(%s/%s) failed: %m", root,
			  SUBSCRIPTIONS_FILE);
		return -1;
	}
	return 0;
}

int
maildir_subscribe(const char *root, const char *name, bool on, char *err,
		  size_t errlen)
{
	const char *canon = maildir_is_inbox(name) ? "INBOX" : name;
	char path[4096];
	struct buf b = BUF_INIT;
	char **names;
	size_t n, i;
	bool found = false;
	int fd, ret = -1;

	if (!maildir_is_inbox(name) && check_name(name, "", err, errlen) < 0)
		return -1;
	if (ensure_root(root, err, errlen) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s", root, SUBSCRIPTIONS_LOCK_FILE);
	fd = maildir_lock_file(path, true);
	if (fd < 0) {
		maildir_set_err(err, errlen, "lock(%s) failed: %s", path,
				strerror(errno));
		return -1;
	}
	if (read_subscriptions(root, &names, &n) < 0) {
		maildir_set_err(err, errlen, "read(%s/%s) failed: %s", root,
				SUBSCRIPTIONS_FILE, strerror(errno));
		close(fd);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(names[i], canon) == 0) {
			found = true;
			if (!on)
				continue;
		}
		buf_printf(&b, "%s\n", names[i]);
	}
	if (on && !found)
		buf_printf(&b, "%s\n", canon);
	ret = 0;
	if (found != on) {
		snprintf(path, sizeof(path), "%s/%s", root,
			 SUBSCRIPTIONS_FILE);
		if (repl_write_file_atomic(path, b.data ? b.data : "", b.len,
					   0600, err, errlen) < 0)
			ret = -1;
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	buf_free(&b);
	close(fd);
	return ret;
}
