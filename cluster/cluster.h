/*
 * cluster - the cluster process: node health, CPG heartbeats and the
 * control socket
 *
 * The master forks this process once (and again after it dies or after a
 * reload). It runs as cfg->user, checks this node's health, multicasts it
 * to the Corosync CPG group cfg->cluster_group, remembers the peer's last
 * heartbeat and serves RUN_DIR/control.sock for "hapostctl status" and
 * the OCF agent. Pacemaker decides roles; this process only reports
 * facts. Without corosync the process keeps serving the control socket
 * and reports the cluster as unavailable.
 */
#ifndef HAPOST_CLUSTER_CLUSTER_H
#define HAPOST_CLUSTER_CLUSTER_H

#include <stddef.h>
#include <sys/types.h>

#include "cfg.h"

/*
 * A page of memory that the master shares with the cluster process
 * (MAP_SHARED, created before the first fork). The master writes it; the
 * cluster process only reads it.
 */
struct cluster_shared {
	/* The running queue manager's pid, 0 while none runs. */
	volatile pid_t qmgr_pid;
};

/* One listener of the master, as the cluster process checks it. */
struct cluster_listener {
	const char *service; /* "smtp", "submission", "pop3" or "imap" */
	const char *address; /* as written in the config */
};

/* The master's state that the cluster process receives at fork. */
struct cluster_env {
	pid_t master_pid;
	const struct cluster_listener *listeners;
	size_t nlisteners;
	const struct cluster_shared *shared;
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
