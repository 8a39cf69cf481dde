/*
 * repl_local - the protocol of RUN_DIR/repl.sock between the writers
 * (repl.c, repl_admin.c) and the replicator
 *
 * Everything travels in repl_wire frames (4-byte big-endian length, type
 * byte, body). A writer sends the frames of one batch, then COMMIT, and
 * reads one REPLY frame ("ok" or "refused REASON"). After its local
 * publish it sends DONE. An admin client sends one ADMIN frame with the
 * request text ("STATUS", "ROLE active", ...) and reads one REPLY.
 *
 * Batch frames:
 *   RECORDS  repl_op records: APPEND, RENAME, UNLINK, MKDIR, RMTREE
 *   FILE     rel NUL local_path NUL: the replicator opens local_path (an
 *            absolute path under data_dir) and sends its content, mode
 *            and modification time as rel
 *   DATA     4-byte big-endian mode, rel NUL, content
 */
#ifndef HAPOST_REPL_LOCAL_H
#define HAPOST_REPL_LOCAL_H

#define REPL_SOCKET_NAME "repl.sock"

enum repl_local_frame {
	REPL_LOCAL_RECORDS = 'r',
	REPL_LOCAL_FILE = 'f',
	REPL_LOCAL_DATA = 'd',
	REPL_LOCAL_COMMIT = 'c',
	REPL_LOCAL_DONE = 'n',
	REPL_LOCAL_ADMIN = 'q',
	REPL_LOCAL_REPLY = 'a',
};

/* Maximum bytes of one batch (all frames together). */
#define REPL_LOCAL_BATCH_MAX ((size_t)64 << 20)
/* Maximum length of a REPLY body and an ADMIN request. */
#define REPL_LOCAL_REPLY_MAX ((size_t)64 << 10)
#define REPL_LOCAL_ADMIN_MAX 256

#include <stddef.h>

#include "buf.h"

/* Monotonic time in seconds. */
double repl_local_now(void);
/*
 * Connects to RUN_DIR/repl.sock (blocking, close-on-exec). Returns the
 * descriptor, or -1 with the reason in err.
 */
int repl_local_connect(const char *run_dir, char *err, size_t errlen);
/* Writes all of data before deadline (repl_local_now() time). */
int repl_local_send(int fd, const void *data, size_t len, double deadline,
		    char *err, size_t errlen);
/*
 * Reads one REPLY frame before deadline and appends its body to reply.
 * Returns 0, or -1 with the reason in err.
 */
int repl_local_read_reply(int fd, struct buf *reply, double deadline, char *err,
			  size_t errlen);

#endif
