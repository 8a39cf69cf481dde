/*
 * queue_int - declarations shared by the queue's source files only
 *
 * Not part of the storage interface: other modules use queue.h.
 */
#ifndef HAPOST_QUEUE_INT_H
#define HAPOST_QUEUE_INT_H

#include <stdbool.h>
#include <stddef.h>

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
 * Appends len bytes of complete status records to status/ID, creating it
 * (*created tells) unless messages/ID is gone, after cutting off a record
 * torn by a crash. Returns the open file, not yet fsync'd, or -1 with
 * the reason in err.
 */
int queue_status_append(const char *data_dir, const char *id, const void *data,
			size_t len, bool *created, char *err, size_t errlen);

#endif
