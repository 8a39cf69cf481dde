/*
 * master_role - the active and standby roles in replicated storage mode
 *
 * A node in storage_mode = replicated starts as standby: the master runs
 * the replicator and the cluster process but no protocol workers and no
 * queue manager, and its listening sockets are closed. Closed rather than
 * bound without anyone accepting, because the kernel would complete the
 * TCP handshake of a bound socket and leave the client waiting for a
 * greeting that never comes. A closed port makes the connection fail at
 * once (RST), the fastest clear failure, and a virtual IP that is not
 * yet on the standby need not be bindable there.
 *
 * Requests: RUN_DIR/role names the requested role ("active", "active
 * force" or "standby"). SIGUSR1 or a byte on the cluster process's
 * notify pipe makes the master reread it (the cluster process runs
 * unprivileged and cannot signal the root master).
 *
 * - To active: bind the listeners, send "ROLE active" ("ROLE active
 *   force" for a forced request) to the replicator, and on "ok" start the
 *   workers and the queue manager. A bind failure or a refusal closes the
 *   listeners again and the node stays standby.
 * - To standby: stop the workers and the queue manager as a shutdown does
 *   (SIGTERM: sessions get 421, BYE or -ERR within shutdown_timeout,
 *   SIGKILL 2 s after that) and shut the listening sockets down at once.
 *   Once the workers are gone, send "ROLE standby" to the replicator: it
 *   switches only then, so every commit in flight gets its reply.
 *
 * After each request the master writes the role it ended up in back to
 * RUN_DIR/role (without "force") and publishes the outcome in the shared
 * page (cluster.h), where the cluster process that asked reads it. A
 * request that arrives during a demotion waits for the demotion to end.
 *
 * A replicator that dies on an active node is restarted by the master
 * like any child. It starts as standby, so the master sends it "ROLE
 * active force" every REACTIVATE_INTERVAL seconds until it accepts: the
 * node already serves, so its data is the data to replicate. Until then
 * the workers' commits fail and clients get temporary errors.
 *
 * The master blocks in repl_admin() for up to REPL_ADMIN_TIMEOUT (5 s)
 * per request, a pause that delays only its own signal handling.
 *
 * In shared storage mode the node is always active and role requests are
 * logged and ignored.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "master_int.h"
#include "repl_admin.h"

#define REACTIVATE_INTERVAL 0.5
#define KILL_GRACE 2.0

enum service_state {
	SERVICE_STOPPED,  /* standby */
	SERVICE_RUNNING,  /* active */
	SERVICE_STOPPING, /* demoting: waiting for workers to exit */
};

static struct ev_loop *rloop;
static struct cluster_shared *rshared;
static enum service_state state;
static int notify_fd = -1;
static bool requested; /* a request came while a demotion ran */
static bool handling;  /* role_handle() runs */
static char result[CLUSTER_ROLE_RESULT_MAX];
static ev_io notify_io;
static ev_signal sig_usr1;
static ev_timer kill_timer;
static ev_timer reactivate_timer;

static void role_handle(void);

bool
role_serving(void)
{
	return state == SERVICE_RUNNING;
}

bool
role_changing(void)
{
	return state == SERVICE_STOPPING;
}

static void
role_path(char *path, size_t len)
{
	snprintf(path, len, "%s/%s", master_cfg()->run_dir, CLUSTER_ROLE_FILE);
}

/* Writes the role the node is in now to RUN_DIR/role. */
static void
write_role_file(void)
{
	const char *text = state == SERVICE_RUNNING ? "active\n" : "standby\n";
	char path[4096];

	role_path(path, sizeof(path));
	if (write_file_atomic(path, text, strlen(text), 0644) < 0)
		log_error("writing %s failed: %m", path);
}

/* Sets the outcome line: "+OK text" when ok, else "-ERR text". */
static void
set_result(bool ok, const char *text)
{
	snprintf(result, sizeof(result), "%s %.*s", ok ? "+OK" : "-ERR",
		 (int)sizeof(result) - 6, text);
}

/* Makes the outcome visible to the cluster process (see cluster.h). */
static void
publish(void)
{
	write_role_file();
	memcpy(rshared->role_result, result, sizeof(result));
	__atomic_store_n(&rshared->serving, state == SERVICE_RUNNING,
			 __ATOMIC_RELEASE);
	__atomic_add_fetch(&rshared->role_seq, 1, __ATOMIC_RELEASE);
	__atomic_store_n(&rshared->role_busy, 0, __ATOMIC_RELEASE);
	if (result[0] == '+')
		log_notice("role: %s", result + 4);
	else
		log_error("role change failed: %s", result + 5);
}

/* Reads every pending byte of the notify pipe; true when there was one. */
static bool
drain_notify(void)
{
	char scratch[64];
	bool any = false;
	ssize_t n;

	if (notify_fd < 0)
		return false;
	while ((n = read(notify_fd, scratch, sizeof(scratch))) > 0)
		any = true;
	return any;
}

/*
 * Sends request to the replicator. Returns 0 on "ok", or -1 with the
 * reason (its "error REASON" text, or why it did not answer) in err.
 */
static int
replicator_request(const char *request, char *err, size_t errlen)
{
	struct buf reply = BUF_INIT;
	char reason[256], shown[200];
	const char *text;
	int ret = -1;

	if (repl_admin(master_cfg()->run_dir, request, &reply, reason,
		       sizeof(reason)) < 0) {
		snprintf(err, errlen, "the replicator did not answer: %.200s",
			 reason);
		buf_free(&reply);
		return -1;
	}
	text = buf_cstr(&reply);
	if (strcmp(text, "ok") == 0 || strcmp(text, "ok\n") == 0) {
		ret = 0;
	} else {
		if (strncmp(text, "error ", 6) == 0)
			text += 6;
		log_printable(shown, sizeof(shown), text, strcspn(text, "\n"));
		snprintf(err, errlen, "the replicator rejected it: %s", shown);
	}
	buf_free(&reply);
	return ret;
}

static void
promote(bool force)
{
	char err[CLUSTER_ROLE_RESULT_MAX - 16];

	if (master_repl_pid() == 0) {
		set_result(false, "the replicator is not running; try again "
				  "once it has restarted");
		return;
	}
	if (master_listeners_open(err, sizeof(err)) < 0) {
		set_result(false, err);
		return;
	}
	if (replicator_request(force ? "ROLE active force" : "ROLE active", err,
			       sizeof(err)) < 0) {
		master_listeners_close();
		set_result(false, err);
		return;
	}
	state = SERVICE_RUNNING;
	master_service_start();
	set_result(true, force ? "active (forced)" : "active");
}

static void
demote_finish(void)
{
	char err[CLUSTER_ROLE_RESULT_MAX - 64];

	ev_timer_stop(rloop, &kill_timer);
	state = SERVICE_STOPPED;
	if (replicator_request("ROLE standby", err, sizeof(err)) < 0) {
		char text[CLUSTER_ROLE_RESULT_MAX];

		snprintf(text, sizeof(text), "standby, but %.200s", err);
		set_result(false, text);
	} else {
		set_result(true, "standby");
	}
}

static void
kill_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	log_warning("workers still running %.0f s after the demotion "
		    "began; killing them",
		    master_cfg()->shutdown_timeout + KILL_GRACE);
	master_service_signal(SIGKILL, true);
}

/* Starts a demotion; returns true when it finished at once. */
static bool
demote_begin(void)
{
	state = SERVICE_STOPPING;
	ev_timer_stop(rloop, &reactivate_timer);
	/* The cluster process stops checking listeners now. */
	__atomic_store_n(&rshared->serving, 0, __ATOMIC_RELEASE);
	/* Workers stop accepting before their sockets are shut down. */
	master_service_signal(SIGTERM, true);
	master_listeners_close();
	if (!master_service_running()) {
		demote_finish();
		return true;
	}
	log_notice("demoting: waiting up to %u s for sessions to end",
		   master_cfg()->shutdown_timeout);
	ev_timer_set(&kill_timer, master_cfg()->shutdown_timeout + KILL_GRACE,
		     0.);
	ev_timer_start(rloop, &kill_timer);
	return false;
}

/*
 * Reads RUN_DIR/role into *active and *force. Returns 0, or -1 with the
 * reason in result.
 */
static int
read_request(bool *active, bool *force)
{
	struct buf b = BUF_INIT;
	char path[4096], word[16] = "", extra[16] = "";
	int n;

	role_path(path, sizeof(path));
	if (read_file(path, &b, 256) < 0) {
		snprintf(result, sizeof(result),
			 "-ERR reading %.180s failed: %.40s", path,
			 strerror(errno));
		buf_free(&b);
		return -1;
	}
	n = sscanf(buf_cstr(&b), "%15s %15s", word, extra);
	buf_free(&b);
	*active = strcmp(word, "active") == 0;
	*force = n == 2 && strcmp(extra, "force") == 0;
	if ((n == 1 || *force) && (*active || strcmp(word, "standby") == 0))
		return 0;
	snprintf(result, sizeof(result),
		 "-ERR %.180s must contain \"active\", \"active force\" "
		 "or \"standby\"",
		 path);
	return -1;
}

/* Carries out requests until none is pending or a demotion waits. */
static void
role_handle(void)
{
	if (handling)
		return;
	handling = true;
	do {
		bool active, force;

		requested = false;
		drain_notify();
		__atomic_store_n(&rshared->role_busy, 1, __ATOMIC_RELEASE);
		if (read_request(&active, &force) < 0) {
			/* result contains the reason */
		} else if (active && state == SERVICE_RUNNING) {
			set_result(true, "already active");
		} else if (active) {
			log_notice("promoting%s", force ? " (forced)" : "");
			promote(force);
		} else if (state == SERVICE_STOPPED) {
			set_result(true, "already standby");
		} else if (!demote_begin()) {
			/* role_service_gone() publishes the outcome. */
			handling = false;
			return;
		}
		requested |= drain_notify();
	} while (requested);
	publish();
	handling = false;
}

void
role_request(void)
{
	if (!master_replicated()) {
		drain_notify();
		log_notice("role change request ignored: storage_mode is "
			   "shared");
		return;
	}
	if (state == SERVICE_STOPPING) {
		requested = true;
		return;
	}
	role_handle();
}

void
role_service_gone(void)
{
	if (state != SERVICE_STOPPING)
		return;
	demote_finish();
	requested |= drain_notify();
	if (requested) {
		role_handle();
		return;
	}
	publish();
}

static void
reactivate_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	char err[256];

	if (state != SERVICE_RUNNING || master_repl_pid() == 0) {
		ev_timer_stop(loop, w);
		return;
	}
	if (replicator_request("ROLE active force", err, sizeof(err)) < 0) {
		log_debug("replicator not active yet: %s", err);
		return;
	}
	ev_timer_stop(loop, w);
	log_notice("the restarted replicator is active again");
}

void
role_repl_started(void)
{
	if (state != SERVICE_RUNNING)
		return;
	log_warning("replicator restarted on the active node; making it "
		    "active again");
	ev_timer_set(&reactivate_timer, REACTIVATE_INTERVAL,
		     REACTIVATE_INTERVAL);
	ev_timer_start(rloop, &reactivate_timer);
}

static void
notify_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	role_request();
}

static void
sigusr1_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	role_request();
}

void
role_init(struct ev_loop *loop, struct cluster_shared *shared, int fd)
{
	rloop = loop;
	rshared = shared;
	notify_fd = fd;
	ev_init(&kill_timer, kill_timer_cb);
	ev_init(&reactivate_timer, reactivate_cb);
	ev_io_init(&notify_io, notify_cb, fd, EV_READ);
	ev_io_start(loop, &notify_io);
	ev_signal_init(&sig_usr1, sigusr1_cb, SIGUSR1);
	ev_signal_start(loop, &sig_usr1);
	if (!master_replicated()) {
		state = SERVICE_RUNNING;
		rshared->serving = 1;
		return;
	}
	state = SERVICE_STOPPED;
	rshared->serving = 0;
	write_role_file();
}

void
role_stop(void)
{
	ev_timer_stop(rloop, &kill_timer);
	ev_timer_stop(rloop, &reactivate_timer);
	ev_io_stop(rloop, &notify_io);
	ev_signal_stop(rloop, &sig_usr1);
}
