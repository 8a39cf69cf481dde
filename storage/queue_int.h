/*
 * queue_int - declarations shared by the queue's source files only
 *
 * Not part of the storage interface: other modules use queue.h.
 */
#ifndef HAPOST_QUEUE_INT_H
#define HAPOST_QUEUE_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "queue.h"

/* An entry being written to queue/tmp/ID (see queue_writer_open()). */
struct queue_writer {
	int fd;
	char tmp_path[PATH_MAX];
	char final_path[PATH_MAX];
	char messages_dir[PATH_MAX];
	char id[QUEUE_ID_LEN + 1];
	struct buf pending; /* bytes not yet written to fd */
	off_t size_field;   /* file offset of the size digits */
	size_t header_len;
	size_t msg_size;
	int write_errno;	   /* first write failure, reported by commit */
	unsigned long long serial; /* order of opening, for syncfs(2) */
};

/*
 * Formats DATA_DIR/queue/SUB[/ID] (id may be NULL) into out, which has
 * PATH_MAX bytes. Returns -1 with errno ENAMETOOLONG if it does not fit.
 */
int queue_path(char *out, const char *data_dir, const char *sub,
	       const char *id);
/* Formats "queue entry ID: " plus the reason into err, keeping errno. */
void queue_entry_error(char *err, size_t errlen, const char *id,
		       const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Fsyncs DATA_DIR/queue/SUB. */
int queue_fsync_dir(const char *data_dir, const char *sub);
/*
 * Appends len bytes of complete status records to status/ID, after
 * cutting off a record torn by a crash. The file is created (and
 * *created set) if missing, but not when messages/ID is gone. Returns the open
 * file, not yet fsync'd, or -1 with the reason in err.
 */
int queue_status_append(const char *data_dir, const char *id, const void *data,
			size_t len, bool *created, char *err, size_t errlen);

/*
 * Writes the buffered bytes and the size field of w. Returns 0, or -1
 * with errno set and *step naming the failed call.
 */
int queue_writer_finish(struct queue_writer *w, const char **step);

/*
 * Replicates the new entries of the n writers (NULL ones skipped): each
 * tmp/ID becomes messages/ID on the peer. Returns 0, or -1 with the
 * reason in err; nothing may be renamed then.
 */
int queue_writer_replicate(struct queue_writer *const *v, size_t n, char *err,
			   size_t errlen);
/* The same in two halves (see repl_write_commit_send()). */
int queue_writer_replicate_send(struct queue_writer *const *v, size_t n,
				char *err, size_t errlen);
int queue_writer_replicate_wait(char *err, size_t errlen);
/* Removes on the peer the entries withdrawn after a failed fsync. */
void queue_writer_withdraw(struct queue_writer *const *v, size_t n);
/*
 * Replicates len bytes of status records for entry id before they are
 * appended locally. Returns 0 (also when there is nothing to replicate:
 * shared mode, an invalid ID or a deleted entry, which the append then
 * reports), or -1 with the reason in err and errno EAGAIN.
 */
int queue_status_replicate(const char *data_dir, const char *id,
			   const void *data, size_t len, char *err,
			   size_t errlen);
/*
 * Replicates the removal of n entries (messages/ID of all, then
 * status/ID of all; NULL ids skipped). Returns 0, or -1 with the reason
 * in err; nothing may be removed locally then.
 */
int queue_remove_replicate(const char *data_dir, const char *const *ids,
			   size_t n, char *err, size_t errlen);

#endif
