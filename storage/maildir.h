/*
 * maildir - Maildir++ mailboxes with persistent IMAP UIDs
 *
 * An account's Maildir++ root holds INBOX (cur/ new/ tmp/ directly in the
 * root) and one directory per folder, named "." plus the folder's path
 * with "." as hierarchy separator, in modified UTF-7 as IMAP sends it
 * (".Sent", ".Archive.2024"). Each folder directory also holds an empty
 * "maildirfolder" file. Dovecot and mutt read this layout as it is.
 *
 * Message files are named BASE or BASE:2,FLAGS where FLAGS are the
 * standard letters in ASCII order (D draft, F flagged, P passed,
 * R replied, S seen, T trashed) followed by keyword letters a-z. BASE
 * carries ",S=SIZE" so sizes need no stat.
 *
 * UIDs: each folder keeps "hapost-uidlist" (first line
 * "V1 UIDVALIDITY NEXTUID", then "UID BASE MTIME" per message, ascending,
 * MTIME being the internal date recorded when the UID was given) and
 * "hapost-keywords" (letter to keyword name). Every reader and writer
 * takes an exclusive open-file-description lock (F_OFD_SETLKW, an fcntl
 * record lock, which NFS honours and which also excludes two sessions of
 * one process) on "hapost-uidlist.lock" while it syncs: new files get the
 * next UIDs in arrival order, vanished files leave the list, and the list
 * is rewritten atomically and fsync'd before any new UID is shown to a
 * client. UIDVALIDITY is the folder's creation time and changes only if
 * the list is lost or corrupt (it is then rebuilt, with a warning) or the
 * folder is renamed. A writable mailbox_open() or mailbox_sync() moves
 * files from new/ to cur/; a file moved by any process keeps its UID.
 *
 * Functions return 0 on success and -1 with a message in err unless noted.
 */
#ifndef HAPOST_MAILDIR_H
#define HAPOST_MAILDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#define MAILDIR_MAX_KEYWORDS 26

/*
 * One message of an open folder, kept compact because a worker holds
 * one per message of every folder its sessions selected. The file is
 * DIR/new/BASE or DIR/cur/BASE + suffix; base and flags live in one
 * allocation: "BASE\0SUFFIX\0" followed by the normalized flags when
 * they differ from the suffix's letters. Records are shared between the
 * mailboxes of one process (see maildir_snap.c): read them, never write.
 */
struct maildir_msg {
	uint32_t uid;
	bool in_new;	      /* in new/, else in cur/ */
	uint64_t size;	      /* octets, from ,S= or stat */
	time_t internal_date; /* file mtime */
	char *base;	      /* unique name without the ":2," part */
	const char *flags;    /* letters after ":2,", ASCII order, "" if none */
};

struct maildir_snap;

struct mailbox {
	char *root;	/* the account's Maildir++ root */
	char *name;	/* "INBOX" or the folder name as IMAP shows it */
	char *dir;	/* absolute path of this folder's directory */
	uint32_t uidvalidity;
	uint32_t uidnext;
	struct maildir_msg *msgs; /* ascending UID order; read-only */
	size_t count;
	char *keywords[MAILDIR_MAX_KEYWORDS]; /* letter 'a'+i; NULL unused */
	bool readonly;
	struct maildir_snap *snap; /* owns msgs, maybe shared */
	uint32_t *recent;	   /* UIDs first seen by this mailbox's syncs,
				    * ascending */
	size_t nrecent;
};

/* Returns what follows BASE in the file name: ":2,FLAGS" or "". */
static inline const char *
maildir_msg_suffix(const struct maildir_msg *m)
{
	return m->base + strlen(m->base) + 1;
}

/* What changed since the last sync, for untagged responses. Indexes are
 * positions (0-based) in the message array before/after the sync. */
struct mailbox_changes {
	size_t *expunged; /* old positions, descending (EXPUNGE order) */
	size_t nexpunged;
	size_t *flag_changed; /* new positions whose flags changed */
	size_t nflag_changed;
	size_t nnew; /* messages appended at the end */
};

/* Creates root (or a folder dir) with cur/ new/ tmp/, mode 0700. */
int maildir_create(const char *dir, bool is_folder, char *err, size_t errlen);

/*
 * Delivers one message into dir (a root or a folder directory) as
 * new/BASE: writes tmp/BASE from prefix (prefix_len bytes, may be 0) and
 * then len bytes of fd from offset, fsyncs it, renames it into new/ and
 * fsyncs new/. Returns 1 when delivered, 0 when a file with this BASE is
 * already in new/ or cur/ (an earlier attempt got that far), -1 on error.
 * When check_existing is false the cur/ scan is skipped.
 */
int maildir_deliver(const char *dir, const char *base, const void *prefix,
		    size_t prefix_len, int fd, off_t offset, size_t len,
		    bool check_existing, char *err, size_t errlen);

/*
 * A message written to tmp/ by maildir_deliver_stage(), not yet durable
 * and not yet in new/.
 */
struct maildir_stage {
	char *tmp_path; /* DIR/tmp/BASE */
	char *new_path; /* DIR/new/BASE */
	char *new_dir;	/* DIR/new: fsync it after maildir_deliver_publish() */
	int fd;		/* tmp/BASE, open until publish, abort or free */
	dev_t dev;	/* file system of tmp/BASE, for syncfs(2) */
};

/*
 * The first half of maildir_deliver() for group commit: the same checks
 * for an earlier copy, then writes tmp/BASE without fsync. Returns 1 with
 * st filled, 0 when a copy is already in new/ or cur/ (its directory is
 * fsync'd), -1 on error (nothing left behind).
 */
int maildir_deliver_stage(const char *dir, const char *base,
			  const void *prefix, size_t prefix_len, int fd,
			  off_t offset, size_t len, bool check_existing,
			  struct maildir_stage *st, char *err, size_t errlen);
/* Fsyncs a staged file, for when a syncfs(2) of its file system failed. */
int maildir_stage_fsync(struct maildir_stage *st, char *err, size_t errlen);
/*
 * Commits the staged files of v (NULL entries skipped) to the replicator
 * in one batch, each as DIR/new/BASE, before they are published; a no-op
 * in shared mode. Returns 0, or -1 with the reason in err: the caller
 * then aborts them.
 */
int maildir_stage_replicate(struct maildir_stage *const *v, size_t n,
			    char *err, size_t errlen);
/*
 * The second half, once the staged file is durable: closes it and renames
 * tmp/BASE to new/BASE without replacing. Returns 1 when renamed, 0 when
 * new/BASE already existed (an earlier attempt; tmp/BASE is removed), -1
 * on error (tmp/BASE removed). After 1 or 0 the copy is durable only once
 * the caller has fsync'd st->new_dir. Free st with maildir_stage_free().
 */
int maildir_deliver_publish(struct maildir_stage *st, char *err,
			    size_t errlen);
/* Removes tmp/BASE of a staged message that will not be published. */
void maildir_stage_abort(struct maildir_stage *st);
/* Frees st and closes its file, leaving the files where they are. */
void maildir_stage_free(struct maildir_stage *st);

/* Maps an IMAP mailbox name ("INBOX" in any case, "Sent", "A.B"; "." is
 * the only hierarchy separator) to its directory under root. Returns NULL
 * for an invalid name: empty, an empty part, a '/', '*' or '%', a control
 * or 8-bit byte, invalid modified UTF-7, or a child of INBOX. */
char *maildir_folder_dir(const char *root, const char *name);

/* Opens a folder and syncs it (assigning UIDs). */
int mailbox_open(const char *root, const char *name, bool readonly,
		 struct mailbox **out, char *err, size_t errlen);
void mailbox_close(struct mailbox *mb);
/* Re-reads the folder; fills ch (free with mailbox_changes_free; ch may
 * be NULL). Fails, leaving mb as it was, if the folder's UIDVALIDITY
 * changed: the caller must then drop the session's view. */
int mailbox_sync(struct mailbox *mb, struct mailbox_changes *ch, char *err,
		 size_t errlen);
void mailbox_changes_free(struct mailbox_changes *ch);
/* Returns the position of uid, or -1. */
long mailbox_find_uid(const struct mailbox *mb, uint32_t uid);
/* Returns true if message i is \Recent in this mailbox: its UID was
 * given by one of this mailbox's syncs. */
bool mailbox_msg_recent(const struct mailbox *mb, size_t i);
size_t mailbox_recent_count(const struct mailbox *mb);
/* Writes message i's path relative to the folder ("cur/BASE:2,S") into
 * out; returns false if it does not fit. */
bool mailbox_msg_path(const struct mailbox *mb, size_t i, char *out,
		      size_t len);
/* Opens message i read-only; a file renamed meanwhile is looked up
 * again. Returns an fd or -1. */
int mailbox_open_msg(struct mailbox *mb, size_t i, char *err, size_t errlen);
/* Sets message i's flags (letters as in the file name) by renaming into
 * cur/; fsyncs cur/. A message expunged meanwhile by another session is
 * skipped without error. */
int mailbox_set_flags(struct mailbox *mb, size_t i, const char *flags,
		      char *err, size_t errlen);
/* Sets the flags of n messages (message idx[k] gets flags[k]) with one
 * lock and one fsync of cur/. */
int mailbox_set_flags_many(struct mailbox *mb, const size_t *idx,
			   const char *const *flags, size_t n, char *err,
			   size_t errlen);
/* Returns the keyword letter for name, adding it when create is true;
 * 0 when unknown or all 26 are used. */
char mailbox_keyword_letter(struct mailbox *mb, const char *name,
			    bool create);
/* Deletes the files of messages marked; the array is compacted by the
 * next mailbox_sync, which reports them as expunged. */
int mailbox_expunge_msgs(struct mailbox *mb, const size_t *idx, size_t n,
			 char *err, size_t errlen);
/* Stores a new message into folder name (flags letters, date 0 = now),
 * durably, and returns its UID (and the folder's UIDVALIDITY). */
int mailbox_append(const char *root, const char *name, const void *data,
		   size_t len, const char *flags, time_t internal_date,
		   uint32_t *uidvalidity, uint32_t *uid, char *err,
		   size_t errlen);

/*
 * Copies n messages of mb into folder target with their flags (keywords
 * translated by name), durably; uids[k] receives the new UID of message
 * idx[k]. On failure the copies already made are removed again.
 */
int mailbox_copy_msgs(struct mailbox *mb, const size_t *idx, size_t n,
		      const char *target, uint32_t *uidvalidity,
		      uint32_t *uids, char *err, size_t errlen);

/* Takes the exclusive POP3 maildrop lock of root without waiting. Returns
 * an fd to close for release, -2 when another session holds it, or -1. */
int maildir_pop3_lock(const char *root, char *err, size_t errlen);

/* Folder management. Names as IMAP gives them (modified UTF-7). The list
 * is "INBOX" followed by the folder names in byte order; each string and
 * the array are malloc'd. Deleting or renaming INBOX is rejected. */
int maildir_folder_list(const char *root, char ***names, size_t *n);
int maildir_folder_create(const char *root, const char *name, char *err,
			  size_t errlen);
int maildir_folder_delete(const char *root, const char *name, char *err,
			  size_t errlen);
int maildir_folder_rename(const char *root, const char *from,
			  const char *to, char *err, size_t errlen);
/* Subscriptions, one name per line in ROOT/subscriptions. */
int maildir_subscriptions(const char *root, char ***names, size_t *n);
int maildir_subscribe(const char *root, const char *name, bool on,
		      char *err, size_t errlen);

#endif
