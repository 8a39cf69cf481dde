/*
 * master - binds the listeners, runs and supervises the children
 *
 * The master is the only process that keeps root. It binds every
 * listening socket, then forks cfg->workers protocol workers, one queue
 * manager and one cluster process; each child drops to cfg->user before it
 * reads client input or touches the queue. The master writes the queue
 * manager's pid into a shared page (struct cluster_shared) so the cluster
 * process can report whether it runs. A child that exits is logged and
 * started again after a back-off that grows while it keeps dying young
 * (1 s, then doubling up to 30 s).
 *
 * Signals: SIGTERM or SIGINT stops the children (workers send 421/BYE to
 * their sessions) and exits once they are gone, killing stragglers after
 * shutdown_timeout plus a grace of two seconds. SIGHUP reloads the
 * config. A bad file is logged and ignored. A good one gets listeners
 * rebound as needed and new workers started, and the old workers retire:
 * they stop accepting and exit when their last session ends. New workers read
 * the TLS certificates again; a certificate or key that does not load
 * fails the start or the reload. The queue manager is restarted only
 * after the old one has exited, so two never deliver at once. The cluster
 * process is restarted the same way, so the new one rebinds the control
 * socket and checks the new listeners. data_dir, run_dir and user need a
 * restart to change.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
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
#include <netinet/in.h>

#include "cluster.h"
#include "delivery/qmgr.h"
#include "fsutil.h"
#include "ipcount.h"
#include "log.h"
#include "master.h"
#include "sasl/site_key.h"
#include "tls.h"
#include "worker_main.h"
#include "xalloc.h"

#define RESTART_DELAY_MIN 1.0
#define RESTART_DELAY_MAX 30.0
/* A child that ran at least this long counts as healthy again. */
#define HEALTHY_RUN 10.0
#define MAX_SLOTS 64

enum child_kind { CHILD_WORKER, CHILD_QMGR, CHILD_CLUSTER };

struct child {
	enum child_kind kind;
	unsigned slot;	/* worker's ipcount slot */
	pid_t pid;	/* 0 when not running */
	bool retired;	/* old generation: never restarted */
	double started;
	double delay;	/* current restart back-off */
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
static uid_t run_uid;
static gid_t run_gid;
static bool drop_privileges;
static struct cluster_shared *cshared;
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
	default:
		return "worker";
	}
}

/* Binds one listener; returns the fd or -1 with the reason logged. */
static int
bind_listener(const struct listen_addr *a)
{
	int fd, on = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		log_error("socket(%s) failed: %m", a->text);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (a->ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->sslen) < 0) {
		log_error("bind(%s) failed: %m", a->text);
		close(fd);
		return -1;
	}
	if (listen(fd, 1024) < 0) {
		log_error("listen(%s) failed: %m", a->text);
		close(fd);
		return -1;
	}
	return fd;
}

/* The listeners of svc, the implicit-TLS ones when tls is true (port 25
 * has none). */
static const struct listen_list *
service_list(const struct cfg *cfg, enum service svc, bool tls)
{
	static const struct listen_list none;

	switch (svc) {
	case SERVICE_SMTP:
		return tls ? &none : &cfg->smtp_listen;
	case SERVICE_SUBMISSION:
		return tls ? &cfg->submissions_listen : &cfg->submission_listen;
	case SERVICE_POP3:
		return tls ? &cfg->pop3s_listen : &cfg->pop3_listen;
	default:
		return tls ? &cfg->imaps_listen : &cfg->imap_listen;
	}
}

/*
 * Builds the listener set for cfg, reusing fds from old where the service
 * and address match. Returns -1 if any bind fails (nothing is changed).
 */
static int
listeners_build(const struct cfg *cfg, struct listener *old, size_t nold,
		struct listener **out, size_t *nout)
{
	struct listener *ls = NULL;
	size_t n = 0;
	bool *reused = xcalloc(nold + 1, sizeof(bool));

	for (int k = 0; k < 2 * SERVICE_COUNT; k++) {
		int svc = k % SERVICE_COUNT;
		bool tls = k >= SERVICE_COUNT;
		const struct listen_list *l = service_list(cfg, svc, tls);

		for (size_t i = 0; i < l->n; i++) {
			int fd = -1;

			for (size_t j = 0; j < nold; j++) {
				if (!reused[j] && (int)old[j].service == svc &&
				    old[j].tls == tls &&
				    strcmp(old[j].addr, l->v[i].text) == 0) {
					fd = old[j].fd;
					reused[j] = true;
					break;
				}
			}
			if (fd < 0)
				fd = bind_listener(&l->v[i]);
			if (fd < 0)
				goto fail;
			ls = xrealloc(ls, (n + 1) * sizeof(*ls));
			ls[n].fd = fd;
			ls[n].service = svc;
			ls[n].tls = tls;
			ls[n].addr = xstrdup(l->v[i].text);
			n++;
		}
	}
	/* Old sockets not carried over are closed by the caller. */
	for (size_t j = 0; j < nold; j++)
		if (!reused[j])
			old[j].fd = -old[j].fd - 1;
	free(reused);
	*out = ls;
	*nout = n;
	return 0;
fail:
	for (size_t k = 0; k < n; k++) {
		bool was_old = false;

		for (size_t j = 0; j < nold; j++)
			was_old |= old[j].fd == ls[k].fd;
		if (!was_old)
			close(ls[k].fd);
		free((char *)ls[k].addr);
	}
	free(ls);
	free(reused);
	return -1;
}

static void
listeners_free(struct listener *ls, size_t n, bool close_all)
{
	for (size_t i = 0; i < n; i++) {
		if (ls[i].fd < 0)
			close(-ls[i].fd - 1);
		else if (close_all)
			close(ls[i].fd);
		free((char *)ls[i].addr);
	}
	free(ls);
}

static void
become_user(void)
{
	if (!drop_privileges)
		return;
	if (setgroups(0, NULL) < 0 || initgroups(mcfg->user, run_gid) < 0 ||
	    setgid(run_gid) < 0 || setuid(run_uid) < 0)
		log_fatal("dropping privileges to user %s failed: %m",
			  mcfg->user);
	if (setuid(0) == 0)
		log_fatal("privileges not dropped: setuid(0) still works");
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
	for (struct child *c = children; c != NULL; c = c->next)
		ev_timer_stop(mloop, &c->restart);
	ev_timer_stop(mloop, &kill_timer);
	ev_loop_destroy(mloop);
	mloop = NULL;
	signal(SIGPIPE, SIG_IGN);
	snprintf(ident, sizeof(ident), "hapostd/%s", child_role(ch));
	log_set_ident(ident);
	/* The process name (comm) lets ps and the OCF agent tell the
	 * children apart. */
	snprintf(ident, sizeof(ident), "hapostd-%s", child_role(ch));
	prctl(PR_SET_NAME, ident);
	if (ch->kind == CHILD_CLUSTER) {
		struct cluster_listener *cl =
		    xcalloc(nlisteners + 1, sizeof(*cl));
		struct cluster_env env = {getppid(), cl, 0, cshared};

		/* TODO: the listener probe reads a plain-text greeting, so
		 * implicit-TLS listeners are not checked yet. */
		for (size_t i = 0; i < nlisteners; i++) {
			close(listeners[i].fd);
			if (listeners[i].tls)
				continue;
			cl[env.nlisteners].service =
			    service_name(listeners[i].service);
			cl[env.nlisteners].address = listeners[i].addr;
			env.nlisteners++;
		}
		become_user();
		code = cluster_main(mcfg, &env);
	} else if (ch->kind == CHILD_QMGR) {
		for (size_t i = 0; i < nlisteners; i++)
			close(listeners[i].fd);
		become_user();
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
		become_user();
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

/* Starts the queue manager and the cluster process when missing. */
static void
start_singles_if_needed(void)
{
	start_single_if_needed(CHILD_QMGR);
	start_single_if_needed(CHILD_CLUSTER);
}

/* Handles the exit of pid; libev's default loop has already reaped it. */
static void
child_exited(pid_t pid, int status)
{
	struct child *ch;

	for (ch = children; ch != NULL; ch = ch->next)
		if (ch->pid == pid)
			break;
	if (ch == NULL)
		return;
	ch->pid = 0;
	if (ch->kind == CHILD_QMGR && cshared->qmgr_pid == pid)
		cshared->qmgr_pid = 0;
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
	if (stopping && running_children() == 0)
		ev_break(mloop, EVBREAK_ALL);
	else
		start_singles_if_needed();
}

static void
child_cb(struct ev_loop *loop, ev_child *w, int revents)
{
	child_exited(w->rpid, w->rstatus);
}

static void
signal_children(int sig, bool retired_too)
{
	for (struct child *ch = children; ch != NULL; ch = ch->next)
		if (ch->pid > 0 && (retired_too || !ch->retired))
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
	for (struct child *ch = children; ch != NULL; ch = ch->next)
		ev_timer_stop(loop, &ch->restart);
	signal_children(SIGTERM, true);
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
	return 0;
}

static bool
same_string(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

static void
reload(void)
{
	struct cfg *ncfg = xcalloc(1, sizeof(*ncfg));
	struct listener *nls;
	size_t nn;
	char err[512];

	cfg_defaults(ncfg);
	if (cfg_load(ncfg, mcfg->path, err, sizeof(err)) < 0) {
		log_error("reload failed, keeping the running config: %s",
			  err);
		goto fail;
	}
	if (!same_string(ncfg->data_dir, mcfg->data_dir) ||
	    !same_string(ncfg->run_dir, mcfg->run_dir) ||
	    !same_string(ncfg->user, mcfg->user)) {
		log_error("reload failed: data_dir, run_dir and user change "
			  "only on restart");
		goto fail;
	}
	if (tls_check(ncfg, err, sizeof(err)) < 0) {
		log_error("reload failed, keeping the running config: %s",
			  err);
		goto fail;
	}
	if (ncfg->workers * 2 > MAX_SLOTS) {
		log_error("reload failed: workers=%u is too many to run "
			  "beside the retiring ones; restart instead",
			  ncfg->workers);
		goto fail;
	}
	if (listeners_build(ncfg, listeners, nlisteners, &nls, &nn) < 0) {
		log_error("reload failed: a listener could not be bound");
		goto fail;
	}
	listeners_free(listeners, nlisteners, false);
	listeners = nls;
	nlisteners = nn;
	log_set_debug(ncfg->log_debug);

	/* Retire the old generation, then start the new one. */
	for (struct child *ch = children; ch != NULL; ch = ch->next) {
		ch->retired = true;
		ev_timer_stop(mloop, &ch->restart);
		if (ch->pid > 0)
			kill(ch->pid, ch->kind == CHILD_WORKER ? SIGUSR2
							       : SIGTERM);
	}
	for (struct child **pp = &children; *pp != NULL;) {
		struct child *ch = *pp;

		if (ch->pid == 0) {
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

static int
resolve_user(void)
{
	struct passwd *pw = getpwnam(mcfg->user);

	if (getuid() != 0) {
		if (pw == NULL || pw->pw_uid != getuid())
			log_warning("not started as root: running as uid %ld "
				    "instead of user %s",
				    (long)getuid(), mcfg->user);
		drop_privileges = false;
		run_uid = getuid();
		run_gid = getgid();
		return 0;
	}
	if (pw == NULL) {
		log_error("user %s not found: create it (useradd --system "
			  "%s) or set user in %s",
			  mcfg->user, mcfg->user, mcfg->path);
		return -1;
	}
	if (pw->pw_uid == 0) {
		log_error("user %s is root; set an unprivileged user",
			  mcfg->user);
		return -1;
	}
	run_uid = pw->pw_uid;
	run_gid = pw->pw_gid;
	drop_privileges = true;
	return 0;
}

static int
prepare_dirs(void)
{
	static const char *const subdirs[] = {"", "/queue", "/mail",
					      "/directory"};
	char path[4096];

	for (size_t i = 0; i < sizeof(subdirs) / sizeof(subdirs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", mcfg->data_dir,
			 subdirs[i]);
		if (mkdir_p(path, 0750) < 0) {
			log_error("mkdir(%s) failed: %m", path);
			return -1;
		}
		if (drop_privileges && chown(path, run_uid, run_gid) < 0) {
			log_error("chown(%s) failed: %m", path);
			return -1;
		}
	}
	if (mkdir_p(mcfg->run_dir, 0755) < 0) {
		log_error("mkdir(%s) failed: %m", mcfg->run_dir);
		return -1;
	}
	if (drop_privileges && chown(mcfg->run_dir, run_uid, run_gid) < 0) {
		log_error("chown(%s) failed: %m", mcfg->run_dir);
		return -1;
	}
	return 0;
}

/* Writes the pid file, refusing to start beside a live master. */
static int
write_pid_file(void)
{
	struct buf b = BUF_INIT;
	char text[32];
	long old;
	int n;

	pid_path = xasprintf("%s/hapostd.pid", mcfg->run_dir);
	if (read_file(pid_path, &b, 64) == 0 &&
	    sscanf(buf_cstr(&b), "%ld", &old) == 1 && old > 0 &&
	    old != getpid() && kill((pid_t)old, 0) == 0) {
		log_error("hapostd is already running with pid %ld (%s)", old,
			  pid_path);
		buf_free(&b);
		return -1;
	}
	buf_free(&b);
	n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (write_file_atomic(pid_path, text, (size_t)n, 0644) < 0) {
		log_error("writing %s failed: %m", pid_path);
		return -1;
	}
	return 0;
}

static void
daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		log_fatal("fork failed: %m");
	if (pid > 0)
		_exit(0);
	setsid();
	pid = fork();
	if (pid < 0)
		log_fatal("fork failed: %m");
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		log_fatal("chdir(/) failed: %m");
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
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
	if (resolve_user() < 0 || prepare_dirs() < 0 ||
	    listeners_build(cfg, NULL, 0, &listeners, &nlisteners) < 0)
		goto fail;
	if (nlisteners == 0)
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
		daemonize();
	if (write_pid_file() < 0)
		goto fail;

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

	for (unsigned i = 0; i < cfg->workers; i++)
		child_start(child_new(CHILD_WORKER));
	start_singles_if_needed();
	log_notice("started: %zu listeners, %u workers, data_dir=%s",
		   nlisteners, cfg->workers, cfg->data_dir);

	ev_run(mloop, 0);

	while (children != NULL)
		child_remove(children);
	listeners_free(listeners, nlisteners, true);
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
