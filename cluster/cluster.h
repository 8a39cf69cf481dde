/*
 * cluster - the cluster process: node health, CPG heartbeats and the
 * control socket
 *
 * The master forks this process once (and again after it dies or after a
 * reload). It runs as cfg->user, checks this node's health, multicasts it
 * to the Corosync CPG group cfg->cluster_group, remembers the peer's last
 * heartbeat and serves RUN_DIR/control.sock for "hapostctl status" and
 * the OCF agent. Pacemaker decides roles; this process reports facts
 * and, in replicated storage mode, carries out the role changes that
 * "hapostctl promote" and "demote" request (see cluster_actions.c).
 * Without corosync the process keeps serving the control socket and
 * reports the cluster as unavailable.
 */
#ifndef HAPOST_CLUSTER_CLUSTER_H
#define HAPOST_CLUSTER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "cfg.h"

#define CLUSTER_ROLE_RESULT_MAX 256
/*
 * RUN_DIR/role: the role requested for this node in replicated mode, one
 * line "active", "active force" or "standby". The master writes
 * "standby" at start and the role it ends up in after each change;
 * "force" appears only in a request, for a promotion without the
 * replicator's completeness check.
 */
#define CLUSTER_ROLE_FILE "role"

/*
 * A page of memory that the master shares with the cluster process
 * (MAP_SHARED, created before the first fork). The master writes it; the
 * cluster process only reads it.
 *
 * Role changes (replicated mode): the cluster process writes RUN_DIR/role
 * and writes a byte to the master's notify pipe. The master sets
 * role_busy while it reads the file and carries the change out (a
 * demotion waits for its workers), stores the outcome in role_result
 * ("+OK ..." or "-ERR ...") and serving, then increments role_seq and
 * clears role_busy, with release ordering. So a reader that saw role_seq
 * change and role_busy clear (acquire loads) reads a complete result.
 */
struct cluster_shared {
	/* The running queue manager's pid, 0 while none runs. */
	volatile pid_t qmgr_pid;
	/* The running replicator's pid, 0 while none runs. */
	volatile pid_t repl_pid;
	/* Workers and queue manager run: always 1 in shared mode. */
	volatile int serving;
	volatile unsigned role_seq;
	volatile int role_busy;
	char role_result[CLUSTER_ROLE_RESULT_MAX];
};

/* One listener of the master, as the cluster process checks it. */
struct cluster_listener {
	const char *service; /* "smtp", "submission", "pop3" or "imap" */
	const char *address; /* as written in the config */
};

/* The master's state that the cluster process receives at fork. */
struct cluster_env {
	pid_t master_pid;
	/* The configured listeners, checked while this node serves. */
	const struct cluster_listener *listeners;
	size_t nlisteners;
	const struct cluster_shared *shared;
	/* The write end of the master's role-change pipe; -1 for none. */
	int notify_fd;
};

/*
 * Maps the shared page, zeroed. Returns NULL with errno set on failure.
 * The mapping is inherited by every child and never unmapped.
 */
struct cluster_shared *cluster_shared_create(void);

/*
 * Runs the cluster process until SIGTERM or SIGINT. The caller has
 * already dropped privileges. Returns the process exit code: 0 after a
 * clean stop, 1 when the control socket cannot be bound.
 */
int cluster_main(struct cfg *cfg, const struct cluster_env *env);

#endif
