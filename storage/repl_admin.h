/*
 * repl_admin - admin requests to the local replicator
 *
 * Requests (the reply is text):
 *   "STATUS"             "key=value" lines: role, state, connected, peer,
 *                        generation, peer_generation, complete,
 *                        peer_seen (a peer's HELLO arrived since the
 *                        replicator started: 0 or 1), lag_changes,
 *                        lag_seconds, waiting_commits,
 *                        catch_up_phase, catch_up_files_total,
 *                        catch_up_files_done, catch_up_bytes,
 *                        catch_up_deltas, syncs, commits, since,
 *                        last_error
 *   "ROLE active"        "ok", or "error REASON" (a node whose data is
 *                        not complete is rejected)
 *   "ROLE active force"  "ok" even when the data is not complete
 *   "ROLE standby"       "ok"
 */
#ifndef HAPOST_REPL_ADMIN_H
#define HAPOST_REPL_ADMIN_H

#include <stddef.h>

#include "buf.h"

#define REPL_ADMIN_TIMEOUT 5.0

/*
 * Sends request to RUN_DIR/repl.sock and appends the reply to reply,
 * waiting at most REPL_ADMIN_TIMEOUT seconds. Returns 0, or -1 with the
 * reason in err when the replicator cannot be reached or does not reply.
 */
int repl_admin(const char *run_dir, const char *request, struct buf *reply,
	       char *err, size_t errlen);

#endif
