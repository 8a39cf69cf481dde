/*
 * replicator - the replication process of storage_mode = replicated
 *
 * The master forks it as "hapostd-repl" on both nodes and runs it as
 * cfg->user. It serves RUN_DIR/repl.sock for the local writers (repl.h)
 * and admin requests (repl_admin.h), listens on replication_listen for
 * the peer and, in active role, connects to replication_peer. It starts
 * in standby role; "ROLE active" switches it without a restart.
 */
#ifndef HAPOST_REPLICATOR_H
#define HAPOST_REPLICATOR_H

#include "cfg.h"

/*
 * Runs the replicator until SIGTERM or SIGINT. The caller has already
 * dropped privileges. Returns the exit code: 0 after a clean stop, 1
 * when the state files, the key or a socket are not usable.
 */
int replicator_main(struct cfg *cfg);

#endif
