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
#include <sys/types.h>
#include <time.h>

#define MAILDIR_MAX_KEYWORDS 26

struct maildir_msg {
	uint32_t uid;
	char *base;	   /* unique name without the ":2," part */
	char *path;	   /* current file, relative: "new/BASE", "cur/BASE:2,S" */
	char flags[48];	   /* letters after ":2,", ASCII order, "" if none */
	uint64_t size;	   /* octets, from ,S= or stat */
	time_t internal_date; /* file mtime */
	bool recent;	   /* first seen by this session's sync */
};

struct mailbox {
	char *root;	/* the account's Maildir++ root */
	char *name;	/* "INBOX" or the folder name as IMAP shows it */
	char *dir;	/* absolute path of this folder's directory */
	uint32_t uidvalidity;
	uint32_t uidnext;
	struct maildir_msg *msgs; /* ascending UID order */
	size_t count;
	char *keywords[MAILDIR_MAX_KEYWORDS]; /* letter 'a'+i; NULL unused */
	bool readonly;
};

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
