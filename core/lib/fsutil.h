/*
 * fsutil - durable file operations
 *
 * Every function returns 0 on success and -1 with errno set on failure,
 * and logs nothing: callers know which file mattered and say so. A change
 * is durable only after the file and its directory are both fsync'd,
 * which is what write_file_atomic() and rename_durable() do.
 */
#ifndef HAPOST_FSUTIL_H
#define HAPOST_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

/* Writes all len bytes, retrying on EINTR and short writes. */
int write_full(int fd, const void *data, size_t len);
/* Opens and fsyncs a directory. */
int fsync_dir(const char *dir);
/* Fsyncs the directory that contains path. */
int fsync_parent(const char *path);
/* Creates dir and missing parents with mode; an existing dir is fine. */
int mkdir_p(const char *dir, mode_t mode);
/* Appends the whole file to out; fails with EFBIG past max bytes. */
int read_file(const char *path, struct buf *out, size_t max);
/*
 * Replaces path with data: writes path.tmp.PID, fsyncs it, renames it over
 * path, then fsyncs the directory.
 */
int write_file_atomic(const char *path, const void *data, size_t len,
		      mode_t mode);
/* Renames from to to, then fsyncs the directories of both. */
int rename_durable(const char *from, const char *to);
/* Returns the directory part of path in a new string ("." if none). */
char *path_dirname(const char *path);

#endif
