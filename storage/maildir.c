/*
 * maildir - opening a Maildir++ folder and keeping its UID view in sync
 *
 * A sync holds the folder's uidlist lock for its whole run: it reads the
 * uidlist once, reads new/ and then cur/ once each (in that order, so a
 * file another process moves from new/ to cur/ meanwhile is seen at least
 * once), matches files to UIDs by BASE, gives files without a UID the
 * next UIDs in arrival order (mtime, then name), drops vanished files and
 * rewrites the list durably before returning. Only files that get a new
 * UID, files whose uidlist line lacks an mtime and files whose BASE lacks
 * ",S=" are stat'ed. A writable sync also moves files from new/ to cur/
 * (no fsync: a crash leaves the file in one of the two, and both are
 * read).
 *
 * In replicated mode the moves and the rewritten list go to the
 * replicator as one batch before either happens here, so a refused
 * commit fails the sync and leaves the folder as it was.
 *
 * When a file listed in the uidlist is missing, new/ and cur/ are read a
 * second time before its UID is dropped, because readdir may skip a file
 * that another program renames during the scan.
 *
 * The view a sync builds is compact (one 40-byte record and one string
 * per message, see maildir.h) and, when it equals the view another
 * mailbox of this process holds for the same folder, shared with it
 * (maildir_snap.c). Measured with 10,000 idle IMAP sessions on a
 * 100-message INBOX, per-session copies of the array were about 20 KiB of
 * the 23 KiB each session cost. \Recent is per mailbox: the UIDs that
 * this mailbox's own syncs gave out.
 *
 * A corrupt uidlist is rebuilt with a new UIDVALIDITY and a warning. If a
 * session's UIDVALIDITY changes under it, mailbox_sync() fails and leaves
 * the session's view as it was, so the caller can close the session.
 *
 * Limits: the whole uidlist is rewritten on every change, which costs
 * about 40 bytes per message; UIDs stop at 2^32-1.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "maildir_int.h"
#include "repl_write.h"
#include "xalloc.h"

struct scan_entry {
	char *name; /* file name inside new/ or cur/ */
	size_t baselen;
	bool in_new;
	bool used; /* matched to a UID, or a duplicate to ignore */
};

struct scan {
	struct scan_entry *v;
	size_t n, cap;
	size_t *table; /* open addressing; entry index + 1, 0 = empty */
	size_t tsize;
};

static void
scan_free(struct scan *sc)
{
	for (size_t i = 0; i < sc->n; i++)
		free(sc->v[i].name);
	free(sc->v);
	free(sc->table);
	memset(sc, 0, sizeof(*sc));
}

static uint64_t
hash_base(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

static long
scan_lookup(const struct scan *sc, const char *base, size_t len)
{
	size_t mask = sc->tsize - 1;
	size_t pos;

	if (sc->tsize == 0)
		return -1;
	pos = (size_t)hash_base(base, len) & mask;
	while (sc->table[pos] != 0) {
		const struct scan_entry *e = &sc->v[sc->table[pos] - 1];

		if (e->baselen == len && memcmp(e->name, base, len) == 0)
			return (long)(sc->table[pos] - 1);
		pos = (pos + 1) & mask;
	}
	return -1;
}

/* Builds the BASE index. Of two files with one BASE, the one in cur/
 * wins (it is the newer state of a message being moved); the other is
 * marked used so it neither matches nor gets a UID. */
static void
scan_index(struct scan *sc)
{
	size_t mask;

	sc->tsize = 16;
	while (sc->tsize < sc->n * 2)
		sc->tsize *= 2;
	sc->table = xcalloc(sc->tsize, sizeof(*sc->table));
	mask = sc->tsize - 1;
	for (size_t k = 0; k < sc->n; k++) {
		struct scan_entry *e = &sc->v[k];
		size_t pos = (size_t)hash_base(e->name, e->baselen) & mask;

		while (sc->table[pos] != 0) {
			struct scan_entry *o = &sc->v[sc->table[pos] - 1];

			if (o->baselen == e->baselen &&
			    memcmp(o->name, e->name, e->baselen) == 0)
				break;
			pos = (pos + 1) & mask;
		}
		if (sc->table[pos] == 0) {
			sc->table[pos] = k + 1;
		} else if (sc->v[sc->table[pos] - 1].in_new && !e->in_new) {
			sc->v[sc->table[pos] - 1].used = true;
			sc->table[pos] = k + 1;
		} else {
			e->used = true;
		}
	}
}

static int
scan_dir(int dfd, bool in_new, struct scan *sc)
{
	int fd = dup(dfd);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return -1;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -1;
	}
	rewinddir(d);
	while ((errno = 0, de = readdir(d)) != NULL) {
		struct scan_entry *e;

		if (de->d_type == DT_DIR || !maildir_name_usable(de->d_name))
			continue;
		if (sc->n == sc->cap) {
			sc->cap = sc->cap ? sc->cap * 2 : 256;
			sc->v = xrealloc(sc->v, sc->cap * sizeof(*sc->v));
		}
		e = &sc->v[sc->n++];
		e->name = xstrdup(de->d_name);
		e->baselen = maildir_base_len(e->name);
		e->in_new = in_new;
		e->used = false;
	}
	if (errno != 0) {
		int saved = errno;

		closedir(d);
		errno = saved;
		return -1;
	}
	closedir(d);
	return 0;
}

static int
scan_folder(int new_fd, int cur_fd, struct scan *sc)
{
	memset(sc, 0, sizeof(*sc));
	if (scan_dir(new_fd, true, sc) < 0 || scan_dir(cur_fd, false, sc) < 0)
		return -1;
	scan_index(sc);
	return 0;
}

static void
msgs_free(struct maildir_msg *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].base);
	free(v);
}

/* State of one sync run: the open directories and the lists. */
struct sync_run {
	struct mailbox *mb;
	int new_fd, cur_fd;
	struct uidlist ul;
	struct scan sc;
	bool list_changed;
	uint32_t *fresh; /* UIDs this run gave, ascending */
	size_t nfresh;
};

/* Fills m from scan entry e (whose UID the caller sets). */
static void
msg_from_entry(struct sync_run *run, struct maildir_msg *m,
	       const struct scan_entry *e, time_t mtime)
{
	bool need_stat;
	struct stat st;

	maildir_msg_set_name(m, e->name, e->baselen, e->name + e->baselen);
	m->in_new = e->in_new;
	m->internal_date = mtime;
	need_stat = !maildir_base_size(e->name, e->baselen, &m->size) ||
		    mtime == 0;
	if (!need_stat)
		return;
	if (fstatat(e->in_new ? run->new_fd : run->cur_fd, e->name, &st,
		    0) < 0) {
		m->size = 0;
		return;
	}
	if (!maildir_base_size(e->name, e->baselen, &m->size))
		m->size = (uint64_t)st.st_size;
	if (mtime == 0)
		m->internal_date = st.st_mtime;
}

struct arrival {
	size_t entry;
	time_t mtime;
};

static int
arrival_cmp(const void *a, const void *b, void *arg)
{
	const struct arrival *x = a, *y = b;
	const struct scan *sc = arg;

	if (x->mtime != y->mtime)
		return x->mtime < y->mtime ? -1 : 1;
	return strcmp(sc->v[x->entry].name, sc->v[y->entry].name);
}

/*
 * Matches the uidlist to the scanned files and assigns new UIDs. Returns
 * the new message array (ascending UIDs) in *out.
 */
static void
sync_match(struct sync_run *run, struct maildir_msg **out, size_t *nout)
{
	struct uidlist *ul = &run->ul;
	struct scan *sc = &run->sc;
	struct maildir_msg *v = xcalloc(sc->n + 1, sizeof(*v));
	struct arrival *fresh = xcalloc(sc->n + 1, sizeof(*fresh));
	struct uidlist kept = {0};
	size_t n = 0, nfresh = 0;

	kept.uidvalidity = ul->uidvalidity;
	kept.uidnext = ul->uidnext;
	for (size_t i = 0; i < ul->n; i++) {
		struct uidlist_entry *u = &ul->v[i];
		long k = scan_lookup(sc, u->base, strlen(u->base));
		struct maildir_msg *m;

		if (k < 0) {
			run->list_changed = true;
			continue;
		}
		sc->v[k].used = true;
		m = &v[n++];
		m->uid = u->uid;
		msg_from_entry(run, m, &sc->v[k], u->mtime);
		if (u->mtime == 0 && m->internal_date != 0)
			run->list_changed = true;
		uidlist_add(&kept, u->uid, u->base, strlen(u->base),
			    m->internal_date);
	}

	for (size_t k = 0; k < sc->n; k++) {
		struct scan_entry *e = &sc->v[k];
		struct stat st;

		if (e->used)
			continue;
		if (fstatat(e->in_new ? run->new_fd : run->cur_fd, e->name,
			    &st, 0) < 0 || !S_ISREG(st.st_mode))
			continue;
		fresh[nfresh].entry = k;
		fresh[nfresh].mtime = st.st_mtime;
		nfresh++;
	}
	qsort_r(fresh, nfresh, sizeof(*fresh), arrival_cmp, sc);
	run->fresh = xmalloc((nfresh + 1) * sizeof(*run->fresh));
	for (size_t i = 0; i < nfresh; i++) {
		struct scan_entry *e = &sc->v[fresh[i].entry];
		struct maildir_msg *m;

		if (kept.uidnext == UINT32_MAX) {
			log_error("maildir: %s has run out of UIDs; %s gets "
				  "none",
				  run->mb->dir, e->name);
			continue;
		}
		m = &v[n++];
		m->uid = kept.uidnext++;
		msg_from_entry(run, m, e, fresh[i].mtime);
		run->fresh[run->nfresh++] = m->uid;
		uidlist_add(&kept, m->uid, m->base, e->baselen, fresh[i].mtime);
		run->list_changed = true;
	}
	free(fresh);
	uidlist_free(ul);
	*ul = kept;
	if (n + 1 < sc->n)
		v = xrealloc(v, (n + 1) * sizeof(*v));
	*out = v;
	*nout = n;
}

/* Formats the names of message m in new/ and in cur/ after the move. */
static void
move_names(const struct maildir_msg *m, char name[1024], char to[1040])
{
	const char *suffix = maildir_msg_suffix(m);

	snprintf(name, 1024, "%s%s", m->base, suffix);
	snprintf(to, 1040, "%s%s", name, suffix[0] == '\0' ? ":2," : "");
}

/* Moves every message still in new/ to cur/ as "BASE:2,FLAGS". */
static void
sync_move_new(struct sync_run *run, struct maildir_msg *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct maildir_msg *m = &v[i];
		char name[1024], to[1040];

		if (!m->in_new)
			continue;
		move_names(m, name, to);
		if (renameat(run->new_fd, name, run->cur_fd, to) == 0) {
			maildir_msg_set_name(m, m->base, strlen(m->base),
					     to + strlen(m->base));
			m->in_new = false;
		} else if (errno != ENOENT) {
			log_warning("maildir: rename(%s/new/%s) failed: %m",
				    run->mb->dir, name);
		}
	}
}

/*
 * Publishes a sync in replicated mode: the moves from new/ to cur/ and
 * the new uidlist go to the replicator in one batch, and only after its
 * commit are the files moved and the list renamed into place.
 */
static int
sync_publish_replicated(struct sync_run *run, struct maildir_msg *v, size_t n,
			char *err, size_t errlen)
{
	struct mailbox *mb = run->mb;
	struct repl_batch *b = NULL;
	char tmp[4096] = "", list[4096];

	for (size_t i = 0; !mb->readonly && i < n; i++) {
		char name[1024], to[1040], from_path[4096], to_path[4096];
		const char *from_rel;

		if (!v[i].in_new)
			continue;
		move_names(&v[i], name, to);
		snprintf(from_path, sizeof(from_path), "%s/new/%s", mb->dir,
			 name);
		snprintf(to_path, sizeof(to_path), "%s/cur/%s", mb->dir, to);
		from_rel = repl_write_rel(from_path);
		if (from_rel == NULL || repl_write_rel(to_path) == NULL)
			continue;
		/* repl_write_rel() points into its argument. */
		repl_add_rename(repl_write_batch(&b), from_rel,
				repl_write_rel(to_path));
	}
	snprintf(list, sizeof(list), "%s/%s", mb->dir, UIDLIST_FILE);
	if (run->list_changed) {
		if (uidlist_stage(mb->dir, &run->ul, tmp, sizeof(tmp), err,
				  errlen) < 0)
			goto fail;
		repl_add_file(repl_write_batch(&b), repl_write_rel(list), tmp);
	}
	if (repl_write_commit(b, err, errlen) < 0)
		goto fail;
	if (!mb->readonly)
		sync_move_new(run, v, n);
	if (tmp[0] != '\0' && repl_write_publish(tmp, list, err, errlen) < 0) {
		repl_done();
		return -1;
	}
	repl_done();
	return 0;
fail:
	if (tmp[0] != '\0')
		unlink(tmp);
	return -1;
}

static void
changes_push(size_t **v, size_t *n, size_t value)
{
	if (*n == 0)
		*v = xrealloc(*v, 8 * sizeof(**v));
	else if (*n >= 8 && (*n & (*n - 1)) == 0)
		*v = xrealloc(*v, *n * 2 * sizeof(**v));
	(*v)[(*n)++] = value;
}

static bool
uid_in(const uint32_t *v, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid] == uid)
			return true;
		if (v[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/*
 * Replaces mb's message array with v, computing what changed, and keeps
 * mb's \Recent list to the UIDs still present plus those this run gave
 * (fresh). A message with a UID below the old UIDNEXT that the session
 * never saw cannot be announced in IMAP order; it is left out of the
 * view.
 */
static void
sync_merge(struct mailbox *mb, struct maildir_msg *v, size_t n,
	   const uint32_t *fresh, size_t nfresh, struct mailbox_changes *ch)
{
	const struct maildir_msg *old = mb->msgs;
	size_t nold = mb->count, i = 0, j = 0, out = 0, nrecent = 0;
	uint32_t old_next = mb->uidnext;
	uint32_t *recent = NULL;

	if (mb->nrecent + nfresh > 0)
		recent = xmalloc((mb->nrecent + nfresh) * sizeof(*recent));
	while (i < nold || j < n) {
		if (j == n || (i < nold && old[i].uid < v[j].uid)) {
			if (ch)
				changes_push(&ch->expunged, &ch->nexpunged, i);
			i++;
			continue;
		}
		if (i == nold || v[j].uid < old[i].uid) {
			if (v[j].uid < old_next) {
				log_warning("maildir: %s: UID %u appeared "
					    "below UIDNEXT %u; hidden from "
					    "this session",
					    mb->dir, v[j].uid, old_next);
				free(v[j].base);
				j++;
				continue;
			}
			if (ch)
				ch->nnew++;
		} else {
			if (ch && strcmp(old[i].flags, v[j].flags) != 0)
				changes_push(&ch->flag_changed,
					     &ch->nflag_changed, out);
			i++;
		}
		if (uid_in(mb->recent, mb->nrecent, v[j].uid) ||
		    uid_in(fresh, nfresh, v[j].uid))
			recent[nrecent++] = v[j].uid;
		v[out++] = v[j++];
	}
	if (ch) {
		for (size_t a = 0, b = ch->nexpunged; a + 1 < b; a++, b--) {
			size_t t = ch->expunged[a];

			ch->expunged[a] = ch->expunged[b - 1];
			ch->expunged[b - 1] = t;
		}
	}
	free(mb->recent);
	if (nrecent == 0) {
		free(recent);
		recent = NULL;
	}
	mb->recent = recent;
	mb->nrecent = nrecent;
	maildir_snap_set(mb, v, out);
}

/* Obtains the uidlist under the lock, rebuilding a lost or corrupt one. */
static int
sync_load_list(struct sync_run *run, char *err, size_t errlen)
{
	struct mailbox *mb = run->mb;
	char why[512];
	int r = uidlist_read(mb->dir, &run->ul, why, sizeof(why));
	uint32_t old = run->ul.uidvalidity;

	if (r == 1)
		return 0;
	if (r == -2) {
		maildir_set_err(err, errlen, "%s", why);
		return -1;
	}
	if (r == -1)
		log_warning("maildir: %s; rebuilding it with a new "
			    "UIDVALIDITY",
			    why);
	else if (mb->uidvalidity != 0)
		log_warning("maildir: %s/%s vanished; rebuilding it with a "
			    "new UIDVALIDITY",
			    mb->dir, UIDLIST_FILE);
	if (mb->uidvalidity != 0 && old <= mb->uidvalidity)
		old = mb->uidvalidity;
	run->ul.uidvalidity =
		uidvalidity_next(mb->root, old ? old + 1 : 0, err, errlen);
	if (run->ul.uidvalidity == 0)
		return -1;
	run->ul.uidnext = 1;
	run->list_changed = true;
	return 0;
}

static bool
any_listed_missing(struct sync_run *run)
{
	for (size_t i = 0; i < run->ul.n; i++) {
		const char *b = run->ul.v[i].base;

		if (scan_lookup(&run->sc, b, strlen(b)) < 0)
			return true;
	}
	return false;
}

static int
open_subdir(const struct mailbox *mb, const char *sub, char *err,
	    size_t errlen)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", mb->dir, sub);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		maildir_set_err(err, errlen, "open(%s) failed: %s", path,
				strerror(errno));
	return fd;
}

static int
mailbox_sync_run(struct mailbox *mb, struct mailbox_changes *ch, char *err,
		 size_t errlen)
{
	struct sync_run run = {.mb = mb, .new_fd = -1, .cur_fd = -1};
	struct maildir_msg *v = NULL;
	char path[4096];
	size_t n = 0;
	int lock_fd, ret = -1;

	snprintf(path, sizeof(path), "%s/%s", mb->dir, UIDLIST_LOCK_FILE);
	lock_fd = maildir_lock_file(path, true);
	if (lock_fd < 0) {
		maildir_set_err(err, errlen, "lock(%s) failed: %s", path,
				strerror(errno));
		return -1;
	}
	run.new_fd = open_subdir(mb, "new", err, errlen);
	if (run.new_fd < 0)
		goto out;
	run.cur_fd = open_subdir(mb, "cur", err, errlen);
	if (run.cur_fd < 0)
		goto out;
	if (sync_load_list(&run, err, errlen) < 0)
		goto out;
	if (scan_folder(run.new_fd, run.cur_fd, &run.sc) < 0) {
		maildir_set_err(err, errlen, "readdir(%s) failed: %s",
				mb->dir, strerror(errno));
		goto out;
	}
	if (any_listed_missing(&run)) {
		scan_free(&run.sc);
		if (scan_folder(run.new_fd, run.cur_fd, &run.sc) < 0) {
			maildir_set_err(err, errlen, "readdir(%s) failed: %s",
					mb->dir, strerror(errno));
			goto out;
		}
	}
	sync_match(&run, &v, &n);
	if (repl_write_rel(mb->dir) != NULL) {
		if (sync_publish_replicated(&run, v, n, err, errlen) < 0)
			goto out;
	} else {
		if (!mb->readonly)
			sync_move_new(&run, v, n);
		if (run.list_changed &&
		    uidlist_write(mb->dir, &run.ul, err, errlen) < 0)
			goto out;
	}
	if (mb->uidvalidity != 0 && mb->uidvalidity != run.ul.uidvalidity) {
		maildir_set_err(err, errlen,
				"UIDVALIDITY of %s changed from %u to %u; "
				"the mailbox must be reopened",
				mb->name, mb->uidvalidity,
				run.ul.uidvalidity);
		goto out;
	}
	mb->uidvalidity = run.ul.uidvalidity;
	sync_merge(mb, v, n, run.fresh, run.nfresh, ch);
	v = NULL;
	mb->uidnext = run.ul.uidnext;
	maildir_snap_share(mb);
	ret = 0;
out:
	if (v != NULL)
		msgs_free(v, n);
	free(run.fresh);
	uidlist_free(&run.ul);
	scan_free(&run.sc);
	if (run.new_fd >= 0)
		close(run.new_fd);
	if (run.cur_fd >= 0)
		close(run.cur_fd);
	close(lock_fd);
	return ret;
}

int
mailbox_sync(struct mailbox *mb, struct mailbox_changes *ch, char *err,
	     size_t errlen)
{
	if (ch)
		memset(ch, 0, sizeof(*ch));
	if (mailbox_sync_run(mb, ch, err, errlen) < 0) {
		if (ch)
			mailbox_changes_free(ch);
		return -1;
	}
	mailbox_load_keywords(mb);
	return 0;
}

void
mailbox_changes_free(struct mailbox_changes *ch)
{
	free(ch->expunged);
	free(ch->flag_changed);
	memset(ch, 0, sizeof(*ch));
}

int
mailbox_open(const char *root, const char *name, bool readonly,
	     struct mailbox **out, char *err, size_t errlen)
{
	struct mailbox *mb;
	char path[4096];
	struct stat st;
	char why[256];
	int r;

	*out = NULL;
	if (!maildir_is_inbox(name) &&
	    !maildir_folder_name_valid(name, why, sizeof(why))) {
		maildir_set_err(err, errlen, "invalid mailbox name: %s", why);
		return -1;
	}
	mb = xcalloc(1, sizeof(*mb));
	mb->root = xstrdup(root);
	mb->name = maildir_is_inbox(name) ? xstrdup("INBOX") : xstrdup(name);
	mb->dir = maildir_folder_dir(root, name);
	mb->readonly = readonly;
	snprintf(path, sizeof(path), "%s/cur", mb->dir);
	r = stat(path, &st);
	if (r == 0 && !S_ISDIR(st.st_mode)) {
		r = -1;
		errno = ENOTDIR;
	}
	if (r < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			maildir_set_err(err, errlen,
					"mailbox %s does not exist", mb->name);
		else
			maildir_set_err(err, errlen, "stat(%s) failed: %s",
					path, strerror(errno));
		mailbox_close(mb);
		return -1;
	}
	if (mailbox_sync(mb, NULL, err, errlen) < 0) {
		mailbox_close(mb);
		return -1;
	}
	*out = mb;
	return 0;
}

void
mailbox_close(struct mailbox *mb)
{
	if (mb == NULL)
		return;
	maildir_snap_release(mb);
	free(mb->recent);
	for (size_t i = 0; i < MAILDIR_MAX_KEYWORDS; i++)
		free(mb->keywords[i]);
	free(mb->root);
	free(mb->name);
	free(mb->dir);
	free(mb);
}

long
mailbox_find_uid(const struct mailbox *mb, uint32_t uid)
{
	size_t lo = 0, hi = mb->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mb->msgs[mid].uid == uid)
			return (long)mid;
		if (mb->msgs[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

bool
mailbox_msg_recent(const struct mailbox *mb, size_t i)
{
	return i < mb->count && uid_in(mb->recent, mb->nrecent,
				       mb->msgs[i].uid);
}

size_t
mailbox_recent_count(const struct mailbox *mb)
{
	return mb->nrecent;
}

bool
mailbox_msg_path(const struct mailbox *mb, size_t i, char *out, size_t len)
{
	const struct maildir_msg *m;
	int n;

	if (i >= mb->count)
		return false;
	m = &mb->msgs[i];
	n = snprintf(out, len, "%s/%s%s", m->in_new ? "new" : "cur", m->base,
		     maildir_msg_suffix(m));
	return n >= 0 && (size_t)n < len;
}
