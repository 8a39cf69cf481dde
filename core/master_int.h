/*
 * master_int - the parts of the master shared by master.c (children,
 * signals, reload), master_listen.c (listening sockets) and
 * master_role.c (the active and standby roles of replicated storage)
 */
#ifndef HAPOST_MASTER_INT_H
#define HAPOST_MASTER_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

#include "cfg.h"
#include "cluster.h"
#include "worker_main.h"

/* master_listen.c */
/*
 * Builds the listener set for cfg, reusing fds from old where the service
 * and address match. Returns -1 if any bind fails (nothing is changed).
 * Old sockets not carried over are marked for listeners_free() to close.
 */
int listeners_build(const struct cfg *cfg, struct listener *old, size_t nold,
		    struct listener **out, size_t *nout);
/* Frees the set; closes the marked fds, or every fd when close_all. */
void listeners_free(struct listener *ls, size_t n, bool close_all);
/*
 * The configured listeners without implicit TLS, for the cluster
 * process's probes (its greeting check needs plain text). The strings
 * point into cfg. Returns the count; *out is allocated.
 */
size_t listeners_for_probes(const struct cfg *cfg,
			    struct cluster_listener **out);

/* master_setup.c */
/* Looks up cfg->user; -1 with the reason logged. Run once, as root. */
int master_resolve_user(void);
/* Drops to cfg->user after a fork; exits when that fails. */
void master_become_user(void);
/* Creates data_dir, its subdirectories and run_dir, owned by the user. */
int master_prepare_dirs(void);
/*
 * Writes RUN_DIR/hapostd.pid, refusing to start beside a live master.
 * *path gets the file's path (allocated) in every case.
 */
int master_write_pid_file(char **path);
/* Detaches from the terminal: double fork, setsid, stdio to /dev/null. */
void master_daemonize(void);
/*
 * Reads cfg's replication_key_file and compares its SHA-256 with the one
 * of the previous call (the first call only records it). Returns true
 * when the content changed, false when it did not or cannot be read
 * (logged). The replicator reads the key only when it starts.
 */
bool master_repl_key_changed(const struct cfg *cfg);

/* master.c, for master_role.c */
struct cfg *master_cfg(void);
/* True while storage_mode = replicated. */
bool master_replicated(void);
/* Binds the configured listeners; -1 with the reason in err. */
int master_listeners_open(char *err, size_t errlen);
/* Closes the listening sockets: new connections are refused. */
void master_listeners_close(void);
/* Starts cfg->workers workers and the queue manager. */
void master_service_start(void);
/*
 * Sends sig to the workers (retiring ones too) and the queue manager;
 * with retire set they are not restarted when they exit.
 */
void master_service_signal(int sig, bool retire);
/* True while a worker or a queue manager runs. */
bool master_service_running(void);
/* The running replicator's pid, or 0. */
pid_t master_repl_pid(void);

/* master_role.c */
/*
 * Sets up the role on start: in replicated mode the node starts as
 * standby (RUN_DIR/role reads "standby"), in shared mode it is active.
 * notify_fd is the read end of the cluster process's request pipe.
 */
void role_init(struct ev_loop *loop, struct cluster_shared *shared,
	       int notify_fd);
/* Workers and the queue manager should run. */
bool role_serving(void);
/* A role change waits for workers to stop. */
bool role_changing(void);
/* SIGUSR1 or a byte on the pipe: reread RUN_DIR/role. */
void role_request(void);
/* The last worker or queue manager of a demotion exited. */
void role_service_gone(void);
/* A replicator process was started. */
void role_repl_started(void);
/* The master stops: cancels the role timers. */
void role_stop(void);

#endif
