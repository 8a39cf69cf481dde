/*
 * master - runs and supervises the children
 *
 * The master is the only process that keeps root. It binds every
 * listening socket (master_listen.c), then forks cfg->workers protocol
 * workers, one queue manager and one cluster process, and in
 * storage_mode = replicated one replicator; each child drops to cfg->user
 * before it reads client input or touches the data. The master writes
 * the queue manager's and the replicator's pids and its role into a
 * shared page (struct cluster_shared) so the cluster process can report
 * them. A child that exits is logged and started again after a back-off
 * that grows while it keeps dying young (1 s, then doubling up to 30 s).
 *
 * Replicated mode: the node starts as standby, with the replicator and
 * the cluster process but no listeners, workers or queue manager, and
 * changes role on request (master_role.c). In shared mode it serves from
 * the start.
 *
 * Signals: SIGTERM or SIGINT stops the children (workers send 421/BYE to
 * their sessions) and exits once they are gone, killing stragglers after
 * shutdown_timeout plus a grace of two seconds. The replicator gets its
 * SIGTERM only once the workers and the queue manager are gone, so their
 * last commits still reach the peer. SIGHUP reloads the config. A bad
 * file is logged and ignored. A good one gets listeners rebound as
 * needed and new workers started, and the old workers retire: they stop
 * accepting and exit when their last session ends. New workers read the
 * TLS certificates again; a certificate or key that does not load fails
 * the start or the reload. The queue manager is restarted only after the
 * old one has exited, so two never deliver at once. The cluster process
 * is restarted the same way, so the new one rebinds the control socket
 * and checks the new listeners. The replicator is restarted only when a
 * replication_* key or the content of replication_key_file changed,
 * because a restart interrupts replication.
 * data_dir, run_dir, user and storage_mode need a restart to change, and
 * a reload is refused while a demotion waits for its sessions. SIGUSR1
 * rereads RUN_DIR/role (master_role.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "cluster.h"
#include "delivery/qmgr.h"
#include "delivery/remote.h"
#include "fsutil.h"
#include "ipcount.h"
#include "log.h"
#include "master.h"
#include "master_int.h"
#include "replicator.h"
#include "sasl/site_key.h"
#include "tls.h"
#include "worker_main.h"
#include "xalloc.h"

#define RESTART_DELAY_MIN 1.0
#define RESTART_DELAY_MAX 30.0
/* A child that ran at least this long counts as healthy again. */
#define HEALTHY_RUN 10.0
#define MAX_SLOTS 64

enum child_kind { CHILD_WORKER, CHILD_QMGR, CHILD_CLUSTER, CHILD_REPL };

struct child {
	enum child_kind kind;
	unsigned slot; /* worker's ipcount slot */
	pid_t pid;     /* 0 when not running */
	bool retired;  /* old generation: never restarted */
	double started;
	double delay; /* current restart back-off */
	ev_timer restart;
	struct child *next;
};

static struct cfg *mcfg;
static struct ev_loop *mloop;
static struct listener *listeners;
static size_t nlisteners;
static struct child *children;
static struct ipcount *ipc;
static bool slot_used[MAX_SLOTS];
static bool stopping;
static ev_timer kill_timer;
static char *pid_path;
static struct cluster_shared *cshared;
/* The cluster process writes a byte to notify[1] for a role change. */
static int notify[2] = {-1, -1};
static ev_signal sig_term, sig_int, sig_hup;
/* libev reaps every child in the default loop and reports it here. */
static ev_child child_watcher;

static void child_start(struct child *ch);

static const char *
child_name(const struct child *ch)
{
	switch (ch->kind) {
	case CHILD_QMGR:
		return "queue manager";
	case CHILD_CLUSTER:
		return "cluster process";
	case CHILD_REPL:
		return "replicator";
	default:
		return "worker";
	}
}

/* The short name in the log ident and the process name. */
static const char *
child_role(const struct child *ch)
{
	switch (ch->kind) {
	case CHILD_QMGR:
		return "qmgr";
	case CHILD_CLUSTER:
		return "cluster";
	case CHILD_REPL:
		return "repl";
	default:
		return "worker";
	}
}

static void
child_exec(struct child *ch)
{
	char ident[32];
	int code;

	/* The child starts with a fresh default loop of its own. */
	ev_signal_stop(mloop, &sig_term);
	ev_signal_stop(mloop, &sig_int);
	ev_signal_stop(mloop, &sig_hup);
	ev_child_stop(mloop, &child_watcher);
	role_stop();
	for (struct child *c = children; c != NULL; c = c->next)
		ev_timer_stop(mloop, &c->restart);
	ev_timer_stop(mloop, &kill_timer);
	ev_loop_destroy(mloop);
	mloop = NULL;
	signal(SIGPIPE, SIG_IGN);
	close(notify[0]);
	if (ch->kind != CHILD_CLUSTER)
		close(notify[1]);
	snprintf(ident, sizeof(ident), "hapostd/%s", child_role(ch));
	log_set_ident(ident);
	/* The process name (comm) lets ps and the OCF agent tell the
	 * children apart. */
	snprintf(ident, sizeof(ident), "hapostd-%s", child_role(ch));
	prctl(PR_SET_NAME, ident);
	if (ch->kind == CHILD_CLUSTER) {
		struct cluster_env env = {getppid(), NULL, 0, cshared,
					  notify[1]};
		struct cluster_listener *cl;

		for (size_t i = 0; i < nlisteners; i++)
			close(listeners[i].fd);
		/* The configured listeners, bound or not: a standby binds
		 * them when it is promoted. TODO: the listener probe reads a
		 * plain-text greeting, so implicit-TLS listeners are not
		 * checked yet. */
		env.nlisteners = listeners_for_probes(mcfg, &cl);
		env.listeners = cl;
		master_become_user();
		code = cluster_main(mcfg, &env);
	} else if (ch->kind == CHILD_REPL) {
		for (size_t i = 0; i < nlisteners; i++)
			close(listeners[i].fd);
		master_become_user();
		code = replicator_main(mcfg);
	} else if (ch->kind == CHILD_QMGR) {
		for (size_t i = 0; i < nlisteners; i++)
			close(listeners[i].fd);
		master_become_user();
		code = qmgr_main(mcfg);
	} else {
		struct site_key *site_key = NULL;
		struct tls_server *tls;
		char err[1024];

		/* Before dropping root: key files may be root's alone. */
		if (tls_server_load(mcfg, &tls, err, sizeof(err)) < 0) {
			log_error("worker: TLS setup failed: %s", err);
			_exit(1);
		}
		if (mcfg->pop3_apop) {
			site_key = site_key_load(mcfg->site_key_file, err,
						 sizeof(err));
			if (site_key == NULL)
				log_warning("worker: APOP disabled: %s; "
					    "\"hapostctl account passwd "
					    "ADDRESS --legacy-auth\" creates "
					    "the site key",
					    err);
		}
		master_become_user();
		code = worker_main(mcfg, ch->slot, listeners, nlisteners, ipc,
				   tls, site_key);
	}
	_exit(code);
}

static double
now(void)
{
	return ev_time();
}

static void
child_start(struct child *ch)
{
	pid_t pid;

	if (stopping || ch->retired)
		return;
	if (ch->kind == CHILD_WORKER)
		ipcount_clear_slot(ipc, ch->slot);
	pid = fork();
	if (pid < 0) {
		log_error("fork of %s failed: %m; retrying", child_name(ch));
		ev_timer_set(&ch->restart, RESTART_DELAY_MIN, 0.);
		ev_timer_start(mloop, &ch->restart);
		return;
	}
	if (pid == 0) {
		/* Reset the signal mask libev may have changed. */
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		child_exec(ch);
	}
	ch->pid = pid;
	ch->started = now();
	if (ch->kind == CHILD_QMGR)
		cshared->qmgr_pid = pid;
	if (ch->kind == CHILD_REPL) {
		cshared->repl_pid = pid;
		role_repl_started();
	}
	log_debug("started %s pid=%ld", child_name(ch), (long)pid);
}

static void
restart_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	child_start(w->data);
}

static struct child *
child_new(enum child_kind kind)
{
	struct child *ch = xcalloc(1, sizeof(*ch));

	ch->kind = kind;
	ch->delay = RESTART_DELAY_MIN;
	ev_init(&ch->restart, restart_cb);
	ch->restart.data = ch;
	if (kind == CHILD_WORKER) {
		for (unsigned s = 0; s < MAX_SLOTS; s++) {
			if (!slot_used[s]) {
				slot_used[s] = true;
				ch->slot = s;
				break;
			}
		}
	}
	ch->next = children;
	children = ch;
	return ch;
}

static void
child_remove(struct child *ch)
{
	struct child **pp;

	for (pp = &children; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == ch) {
			*pp = ch->next;
			break;
		}
	}
	if (ch->kind == CHILD_WORKER)
		slot_used[ch->slot] = false;
	ev_timer_stop(mloop, &ch->restart);
	free(ch);
}

static unsigned
running_children(void)
{
	unsigned n = 0;

	for (struct child *ch = children; ch != NULL; ch = ch->next)
		n += ch->pid > 0;
	return n;
}

static bool
kind_running(enum child_kind kind)
{
	for (struct child *ch = children; ch != NULL; ch = ch->next)
		if (ch->kind == kind && ch->pid > 0)
			return true;
	return false;
}

/* Starts the one child of kind once the retired one has exited. */
static void
start_single_if_needed(enum child_kind kind)
{
	bool have = false;

	for (struct child *ch = children; ch != NULL; ch = ch->next)
		if (ch->kind == kind && !ch->retired)
			have = true;
	if (!have && !kind_running(kind) && !stopping)
		child_start(child_new(kind));
}

/*
 * Starts the cluster process, the replicator (replicated mode) and, while
 * the node serves, the queue manager when missing.
 */
static void
start_singles_if_needed(void)
{
	if (role_serving())
		start_single_if_needed(CHILD_QMGR);
	start_single_if_needed(CHILD_CLUSTER);
	if (master_replicated())
		start_single_if_needed(CHILD_REPL);
}

static bool
is_service(const struct child *ch)
{
	return ch->kind == CHILD_WORKER || ch->kind == CHILD_QMGR;
}

bool
master_service_running(void)
{
	for (struct child *ch = children; ch != NULL; ch = ch->next)
		if (is_service(ch) && ch->pid > 0)
			return true;
	return false;
}

void
master_service_signal(int sig, bool retire)
{
	for (struct child *ch = children; ch != NULL; ch = ch->next) {
		if (!is_service(ch))
			continue;
		if (retire) {
			ch->retired = true;
			ev_timer_stop(mloop, &ch->restart);
		}
		if (ch->pid > 0)
			kill(ch->pid, sig);
	}
	if (!retire)
		return;
	/* Children that were waiting for a restart are gone for good. */
	for (struct child *ch = children, *next; ch != NULL; ch = next) {
		next = ch->next;
		if (is_service(ch) && ch->pid == 0)
			child_remove(ch);
	}
}

void
master_service_start(void)
{
	for (unsigned i = 0; i < mcfg->workers; i++)
		child_start(child_new(CHILD_WORKER));
	start_single_if_needed(CHILD_QMGR);
}

pid_t
master_repl_pid(void)
{
	for (struct child *ch = children; ch != NULL; ch = ch->next)
		if (ch->kind == CHILD_REPL && !ch->retired && ch->pid > 0)
			return ch->pid;
	return 0;
}

struct cfg *
master_cfg(void)
{
	return mcfg;
}

bool
master_replicated(void)
{
	return strcmp(mcfg->storage_mode, "replicated") == 0;
}

int
master_listeners_open(char *err, size_t errlen)
{
	if (nlisteners > 0)
		return 0;
	if (listeners_build(mcfg, NULL, 0, &listeners, &nlisteners) < 0) {
		snprintf(err, errlen,
			 "binding a listener failed; the log names it");
		return -1;
	}
	return 0;
}

void
master_listeners_close(void)
{
	/*
	 * Workers that are still stopping share these sockets. shutdown()
	 * acts on the socket itself, not on this descriptor: connections
	 * still in the accept queue get a reset and new ones are refused
	 * now, not when the last worker exits.
	 */
	for (size_t i = 0; i < nlisteners; i++)
		shutdown(listeners[i].fd, SHUT_RDWR);
	listeners_free(listeners, nlisteners, true);
	listeners = NULL;
	nlisteners = 0;
}

/* In a stop, the replicator goes last: see the file comment. */
static void
stop_replicator_if_alone(void)
{
	if (!master_service_running())
		for (struct child *ch = children; ch != NULL; ch = ch->next)
			if (ch->kind == CHILD_REPL && ch->pid > 0)
				kill(ch->pid, SIGTERM);
}

/* Handles the exit of pid; libev's default loop has already reaped it. */
static void
child_exited(pid_t pid, int status)
{
	struct child *ch;
	bool was_service;

	for (ch = children; ch != NULL; ch = ch->next)
		if (ch->pid == pid)
			break;
	if (ch == NULL)
		return;
	ch->pid = 0;
	was_service = is_service(ch);
	if (ch->kind == CHILD_QMGR && cshared->qmgr_pid == pid)
		cshared->qmgr_pid = 0;
	if (ch->kind == CHILD_REPL && cshared->repl_pid == pid)
		cshared->repl_pid = 0;
	if (stopping || ch->retired) {
		log_debug("%s pid=%ld exited", child_name(ch), (long)pid);
		child_remove(ch);
	} else {
		if (WIFSIGNALED(status))
			log_error("%s pid=%ld killed by signal %d; restarting",
				  child_name(ch), (long)pid, WTERMSIG(status));
		else
			log_error("%s pid=%ld exited with status %d; "
				  "restarting",
				  child_name(ch), (long)pid,
				  WEXITSTATUS(status));
		if (now() - ch->started >= HEALTHY_RUN)
			ch->delay = RESTART_DELAY_MIN;
		ev_timer_set(&ch->restart, ch->delay, 0.);
		ev_timer_start(mloop, &ch->restart);
		ch->delay *= 2;
		if (ch->delay > RESTART_DELAY_MAX)
			ch->delay = RESTART_DELAY_MAX;
	}
	if (stopping && was_service)
		stop_replicator_if_alone();
	if (stopping && running_children() == 0) {
		ev_break(mloop, EVBREAK_ALL);
		return;
	}
	if (was_service && role_changing() && !master_service_running())
		role_service_gone();
	start_singles_if_needed();
}

static void
child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	child_exited(w->rpid, w->rstatus);
}

/* Signals every child but the replicator unless repl_too is set. */
static void
signal_children(int sig, bool repl_too)
{
	for (struct child *ch = children; ch != NULL; ch = ch->next)
		if (ch->pid > 0 && (repl_too || ch->kind != CHILD_REPL))
			kill(ch->pid, sig);
}

static void
kill_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	log_warning("children still running %u s after SIGTERM; killing "
		    "them",
		    mcfg->shutdown_timeout + 2);
	signal_children(SIGKILL, true);
}

static void
sigterm_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	if (stopping)
		return;
	stopping = true;
	log_notice("stopping on signal %d", w->signum);
	role_stop();
	for (struct child *ch = children; ch != NULL; ch = ch->next)
		ev_timer_stop(loop, &ch->restart);
	signal_children(SIGTERM, false);
	stop_replicator_if_alone();
	if (running_children() == 0) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	ev_timer_set(&kill_timer, mcfg->shutdown_timeout + 2., 0.);
	ev_timer_start(loop, &kill_timer);
}

/* Loads the certificates and the outbound CA bundle of cfg once, so a bad
 * file stops a start or a reload instead of every worker. Fills err;
 * returns -1 on failure. */
int
tls_check(const struct cfg *cfg, char *err, size_t errlen)
{
	struct tls_server *tls;
	SSL_CTX *client;

	if (tls_server_load(cfg, &tls, err, errlen) < 0)
		return -1;
	tls_server_free(tls);
	/* The outbound settings too, so a missing CA bundle shows now. */
	client = tls_client_ctx_new(cfg, err, errlen);
	if (client == NULL)
		return -1;
	SSL_CTX_free(client);
	/* The gateway table and delivery window of outbound delivery. */
	return remote_check_config(cfg, err, errlen);
}

static bool
same_string(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* True when a reload changes what the replicator reads from the config. */
static bool
replication_changed(const struct cfg *a, const struct cfg *b)
{
	if (a->replication_listen.n != b->replication_listen.n)
		return true;
	for (size_t i = 0; i < a->replication_listen.n; i++)
		if (!same_string(a->replication_listen.v[i].text,
				 b->replication_listen.v[i].text))
			return true;
	return !same_string(a->replication_peer, b->replication_peer) ||
	       !same_string(a->replication_key_file, b->replication_key_file) ||
	       a->replication_timeout != b->replication_timeout ||
	       a->replication_require_peer != b->replication_require_peer ||
	       a->log_debug != b->log_debug;
}

static void
reload(void)
{
	struct cfg *ncfg = xcalloc(1, sizeof(*ncfg));
	struct listener *nls = NULL;
	size_t nn = 0;
	bool restart_repl;
	char err[512];

	if (role_changing()) {
		log_error("reload refused: a demotion waits for its sessions "
			  "to end; send SIGHUP again afterwards");
		goto fail;
	}
	cfg_defaults(ncfg);
	if (cfg_load(ncfg, mcfg->path, err, sizeof(err)) < 0) {
		log_error("reload failed, keeping the running config: %s", err);
		goto fail;
	}
	if (!same_string(ncfg->data_dir, mcfg->data_dir) ||
	    !same_string(ncfg->run_dir, mcfg->run_dir) ||
	    !same_string(ncfg->user, mcfg->user) ||
	    !same_string(ncfg->storage_mode, mcfg->storage_mode)) {
		log_error("reload failed: data_dir, run_dir, user and "
			  "storage_mode change only on restart");
		goto fail;
	}
	if (tls_check(ncfg, err, sizeof(err)) < 0) {
		log_error("reload failed, keeping the running config: %s", err);
		goto fail;
	}
	if (ncfg->workers * 2 > MAX_SLOTS) {
		log_error("reload failed: workers=%u is too many to run "
			  "beside the retiring ones; restart instead",
			  ncfg->workers);
		goto fail;
	}
	/* A standby has no listeners; promotion binds the new ones. */
	if (role_serving() &&
	    listeners_build(ncfg, listeners, nlisteners, &nls, &nn) < 0) {
		log_error("reload failed: a listener could not be bound");
		goto fail;
	}
	if (role_serving()) {
		listeners_free(listeners, nlisteners, false);
		listeners = nls;
		nlisteners = nn;
	}
	log_set_debug(ncfg->log_debug);
	restart_repl = replication_changed(mcfg, ncfg);
	/* The same file with a new key: only a new replicator reads it. */
	if (master_replicated() && master_repl_key_changed(ncfg))
		restart_repl = true;

	/* Retire the old generation, then start the new one. */
	for (struct child *ch = children; ch != NULL; ch = ch->next) {
		if (ch->kind == CHILD_REPL && !restart_repl)
			continue;
		ch->retired = true;
		ev_timer_stop(mloop, &ch->restart);
		if (ch->pid > 0)
			kill(ch->pid,
			     ch->kind == CHILD_WORKER ? SIGUSR2 : SIGTERM);
	}
	for (struct child **pp = &children; *pp != NULL;) {
		struct child *ch = *pp;

		if (ch->retired && ch->pid == 0) {
			*pp = ch->next;
			ch->next = NULL;
			if (ch->kind == CHILD_WORKER)
				slot_used[ch->slot] = false;
			free(ch);
			continue;
		}
		pp = &ch->next;
	}
	cfg_free(mcfg);
	free(mcfg);
	mcfg = ncfg;
	if (role_serving())
		for (unsigned i = 0; i < mcfg->workers; i++)
			child_start(child_new(CHILD_WORKER));
	start_singles_if_needed();
	log_notice("configuration reloaded from %s", mcfg->path);
	return;
fail:
	cfg_free(ncfg);
	free(ncfg);
}

static void
sighup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	if (!stopping)
		reload();
}

int
master_run(struct cfg *cfg, bool foreground)
{
	char err[1024];

	mcfg = cfg;
	if (tls_check(cfg, err, sizeof(err)) < 0) {
		log_error("%s: %s", cfg->path, err);
		goto fail;
	}
	if (cfg->workers * 2 > MAX_SLOTS)
		log_fatal("workers=%u is more than %d", cfg->workers,
			  MAX_SLOTS / 2);
	if (master_resolve_user() < 0 || master_prepare_dirs() < 0)
		goto fail;
	if (master_replicated())
		master_repl_key_changed(cfg); /* records it for reloads */
	/* A replicated node starts as standby: it binds at promotion. */
	if (!master_replicated() &&
	    listeners_build(cfg, NULL, 0, &listeners, &nlisteners) < 0)
		goto fail;
	if (!master_replicated() && nlisteners == 0)
		log_warning("no listeners configured: only the queue manager "
			    "runs");
	ipc = ipcount_create(MAX_SLOTS, cfg->max_connections);
	if (ipc == NULL)
		log_fatal("mapping the per-IP connection table failed: %m");
	cshared = cluster_shared_create();
	if (cshared == NULL)
		log_fatal("mapping the cluster process's shared page failed: "
			  "%m");
	if (!foreground)
		master_daemonize();
	if (master_write_pid_file(&pid_path) < 0)
		goto fail;
	if (pipe2(notify, O_NONBLOCK | O_CLOEXEC) < 0)
		log_fatal("creating the role request pipe failed: %m");

	mloop = ev_default_loop(EVFLAG_AUTO);
	signal(SIGPIPE, SIG_IGN);
	ev_signal_init(&sig_term, sigterm_cb, SIGTERM);
	ev_signal_init(&sig_int, sigterm_cb, SIGINT);
	ev_signal_init(&sig_hup, sighup_cb, SIGHUP);
	ev_child_init(&child_watcher, child_cb, 0, 0);
	ev_signal_start(mloop, &sig_term);
	ev_signal_start(mloop, &sig_int);
	ev_signal_start(mloop, &sig_hup);
	ev_child_start(mloop, &child_watcher);
	ev_init(&kill_timer, kill_timer_cb);
	role_init(mloop, cshared, notify[0]);

	if (role_serving())
		for (unsigned i = 0; i < cfg->workers; i++)
			child_start(child_new(CHILD_WORKER));
	start_singles_if_needed();
	if (role_serving())
		log_notice("started: %zu listeners, %u workers, data_dir=%s",
			   nlisteners, cfg->workers, cfg->data_dir);
	else
		log_notice("started in standby role: replicated data_dir=%s, "
			   "peer %s; \"hapostctl promote\" makes this node "
			   "active",
			   cfg->data_dir, cfg->replication_peer);

	ev_run(mloop, 0);

	while (children != NULL)
		child_remove(children);
	listeners_free(listeners, nlisteners, true);
	close(notify[0]);
	close(notify[1]);
	ipcount_destroy(ipc);
	unlink(pid_path);
	free(pid_path);
	log_notice("stopped");
	cfg_free(mcfg);
	free(mcfg);
	return 0;
fail:
	listeners_free(listeners, nlisteners, true);
	ipcount_destroy(ipc);
	free(pid_path);
	cfg_free(mcfg);
	free(mcfg);
	return 1;
}
