/*
 * maildir_int - declarations shared by the maildir source files only
 *
 * Not part of the storage interface: other modules use maildir.h.
 */
#ifndef HAPOST_MAILDIR_INT_H
#define HAPOST_MAILDIR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "maildir.h"

#define UIDLIST_FILE "hapost-uidlist"
#define UIDLIST_LOCK_FILE "hapost-uidlist.lock"
#define KEYWORDS_FILE "hapost-keywords"
#define UIDVALIDITY_FILE "hapost-uidvalidity"
#define POP3_LOCK_FILE "hapost-pop3.lock"
#define SUBSCRIPTIONS_FILE "subscriptions"
#define SUBSCRIPTIONS_LOCK_FILE "hapost-subscriptions.lock"

/* Upper bound on the uidlist file: 64 MiB is over a million messages. */
#define UIDLIST_MAX_SIZE ((size_t)64 << 20)

void maildir_set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* --- file names (maildir_name.c) --- */

/* Returns the length of the BASE part of a file name (up to ':'). */
size_t maildir_base_len(const char *name);
/* Copies the flag letters of name (after ":2,") into out, normalized. */
void maildir_name_flags(const char *name, char out[48]);
/* Sorts flag letters into ASCII order, drops duplicates and any byte
 * that is not a letter. Returns false if the input held something else. */
bool maildir_flags_normalize(const char *in, char out[48]);
/* Parses ",S=SIZE" from a BASE of len bytes; false when absent. */
bool maildir_base_size(const char *base, size_t len, uint64_t *size);
/* Returns true if a file name found by readdir may be a message: not a
 * dot file, no space, no control byte. */
bool maildir_name_usable(const char *name);
/* Fills buf with a new unique BASE ending in ",S=size". */
void maildir_new_base(char *buf, size_t buflen, uint64_t size);
/* Returns true if name is "INBOX" in any case. */
bool maildir_is_inbox(const char *name);
/* Checks a folder name other than INBOX; on false err contains the reason. */
bool maildir_folder_name_valid(const char *name, char *err, size_t errlen);

/* --- locks and the uidlist (uidlist.c) --- */

/*
 * Opens path (creating it, mode 0600) and takes an exclusive OFD lock on
 * it, waiting if wait is true. Returns the fd (close it to unlock), or -1
 * with errno set; EAGAIN means another holder exists and wait was false.
 */
int maildir_lock_file(const char *path, bool wait);

struct uidlist_entry {
	uint32_t uid;
	char *base;
	time_t mtime; /* 0 when the list does not record it */
};

struct uidlist {
	uint32_t uidvalidity;
	uint32_t uidnext;
	struct uidlist_entry *v;
	size_t n, cap;
};

/* Reads DIR/hapost-uidlist. Returns 1 when read, 0 when the file does not
 * exist, -1 when it is corrupt and -2 on an I/O error (err set for both;
 * on -1, ul->uidvalidity contains the old value if the header was readable).
 */
int uidlist_read(const char *dir, struct uidlist *ul, char *err,
		 size_t errlen);
/* Rewrites DIR/hapost-uidlist atomically and durably (replicated first
 * in replicated mode). */
int uidlist_write(const char *dir, const struct uidlist *ul, char *err,
		  size_t errlen);
/* Writes the list to a temporary file beside DIR/hapost-uidlist and
 * fsyncs it; its name goes to tmp. repl_write_publish() renames it. */
int uidlist_stage(const char *dir, const struct uidlist *ul, char *tmp,
		  size_t tmplen, char *err, size_t errlen);
void uidlist_add(struct uidlist *ul, uint32_t uid, const char *base,
		 size_t baselen, time_t mtime);
void uidlist_free(struct uidlist *ul);
/*
 * Returns a new UIDVALIDITY for a folder of root: the current time, or
 * one more than any value this root handed out before or than
 * at_least - 1, so a re-created or renamed folder never repeats one.
 * Returns 0 on error (err set).
 */
uint32_t uidvalidity_next(const char *root, uint32_t at_least, char *err,
			  size_t errlen);

/* --- message records (maildir_name.c) --- */

/* Replaces m->base with BASE (baselen bytes of base) and suffix (the rest
 * of the file name) in one allocation and sets m->flags. base may point
 * into m->base. */
void maildir_msg_set_name(struct maildir_msg *m, const char *base,
			  size_t baselen, const char *suffix);

/* --- shared message arrays (maildir_snap.c) --- */

/* Makes v (n records, malloc'd) mb's new private array. */
void maildir_snap_set(struct mailbox *mb, struct maildir_msg *v, size_t n);
/* Drops mb's reference to its array. */
void maildir_snap_release(struct mailbox *mb);
/* Gives mb a private copy of its array before it changes a record. */
void maildir_snap_own(struct mailbox *mb);
/* After a sync: shares an equal array of the same folder, or offers
 * mb's array for sharing. */
void maildir_snap_share(struct mailbox *mb);
/* Mailboxes holding mb's array (for tests); 0 if none. */
unsigned maildir_snap_refs(const struct mailbox *mb);

/* --- keywords (maildir_flags.c) --- */

/* Re-reads DIR/hapost-keywords into mb->keywords. */
void mailbox_load_keywords(struct mailbox *mb);

#endif
