/*
 * repl_write - helpers that let the storage writers replicate a change
 * before they publish it (see repl.h)
 *
 * A writer collects the records of one change (or of a group commit) in
 * a batch, commits it, and only then renames, unlinks or appends
 * locally. These helpers keep that pattern short and cheap:
 *
 * - repl_write_rel() returns the path relative to data_dir of a file
 *   that is replicated. It returns NULL in shared mode, for paths outside
 *   data_dir, and for the excluded node-local paths (queue/tmp/, every
 *   Maildir tmp/), so "if (rel != NULL) add a record" is all a caller
 *   checks.
 * - repl_write_batch() creates the batch on first use, so a change with
 *   nothing to replicate costs no round trip to the replicator.
 * - repl_write_commit() commits a batch (a NULL batch succeeds at once)
 *   and records whether the replicator refused it or did not answer.
 *   repl_write_refused() then tells protocol code to answer "try again
 *   later" (SMTP 451, IMAP NO [UNAVAILABLE], POP3 -ERR [SYS/TEMP])
 *   rather than report a local failure.
 * - repl_write_file_atomic() is write_file_atomic() with the commit of
 *   the new content between the fsync of the temporary file and the
 *   rename, followed by repl_done(). The FILE record carries the
 *   temporary file's mode and modification time, which the rename keeps,
 *   so both nodes' copies match in a manifest comparison.
 *
 * A refused commit leaves nothing published: the callers remove their
 * temporary files and return an error.
 */
#ifndef HAPOST_REPL_WRITE_H
#define HAPOST_REPL_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "repl.h"

/* The part of abs after "DATA_DIR/" when abs is replicated, else NULL. */
const char *repl_write_rel(const char *abs);
/* Returns *b, creating it first when it is NULL. */
struct repl_batch *repl_write_batch(struct repl_batch **b);
/*
 * Commits b (freed; NULL commits nothing and succeeds). Returns 0, or -1
 * with the reason in err ("replication: ..."). Sets the state that
 * repl_write_refused() returns.
 */
int repl_write_commit(struct repl_batch *b, char *err, size_t errlen);
/*
 * repl_write_commit() in two halves (see repl_commit_send()). After a
 * NULL batch the wait returns 0 at once. After a failed send it returns
 * -1 with the send's reason, so a caller may check the wait alone.
 */
int repl_write_commit_send(struct repl_batch *b, char *err, size_t errlen);
int repl_write_commit_wait(char *err, size_t errlen);
/* True when the last repl_write_commit() of this process failed. */
bool repl_write_refused(void);
/* Forgets an earlier failure, before an operation that may commit. */
void repl_write_reset(void);
/*
 * The first half of repl_write_file_atomic(): writes data to
 * PATH.tmp.PID (its name into tmp) and fsyncs it. Returns 0, or -1 with
 * errno set and the reason in err (nothing left behind).
 */
int repl_write_stage(const char *path, const void *data, size_t len,
		     mode_t mode, char *tmp, size_t tmplen, char *err,
		     size_t errlen);
/*
 * The second half: renames tmp over path and fsyncs the directory.
 * Returns 0, or -1 with errno set and the reason in err (tmp removed).
 */
int repl_write_publish(const char *tmp, const char *path, char *err,
		       size_t errlen);
/*
 * Replaces path with data as write_file_atomic() does, replicating the
 * new content before the rename. Returns 0, or -1 with errno set and the
 * reason in err.
 */
int repl_write_file_atomic(const char *path, const void *data, size_t len,
			   mode_t mode, char *err, size_t errlen);
/*
 * Adds MKDIR records (with mode) for the directories about to be
 * created: dir and its missing ancestors, top down, when dir does not
 * exist, then each missing DIR/SUB for the names in subs (NULL-ended,
 * subs may be NULL). Excluded paths such as a Maildir's tmp/ are left
 * out.
 */
void repl_write_add_mkdirs(struct repl_batch **b, const char *dir,
			   const char *const *subs, mode_t mode);
/*
 * Replicates the creation of a lock or marker file that another
 * process may create at the same time: the file at path (already
 * created) is sent with its mode and modification time. A failure is
 * only logged, because the file holds no data and a later catch-up copies
 * it.
 */
void repl_write_created_file(const char *path);

#endif
