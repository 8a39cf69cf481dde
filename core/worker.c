/*
 * worker - accept loop and session bookkeeping of a protocol worker
 *
 * Every worker inherits all listening sockets from the master and watches
 * each with an ev_io. The kernel hands a new connection to whichever
 * worker's accept4() wins, and the losers get EAGAIN. Waking every worker
 * this way is cheap at the handful of workers a 2-core node runs.
 *
 * Limits applied at accept: max_connections per worker (the listeners
 * pause while at the limit) and sessions_per_ip summed over all workers
 * through the shared ipcount table (the connection gets the protocol's
 * "too many connections" reply and is closed; on an implicit-TLS
 * listener it is closed without a reply, since plain text would not be
 * understood there). EMFILE/ENFILE pause accepting for a second instead
 * of spinning.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn_private.h"
#include "directory.h"
#include "ipcount.h"
#include "log.h"
#include "queue.h"
#include "repl.h"
#include "sasl/site_key.h"
#include "tls.h"
#include "worker.h"
#include "worker_main.h"
#include "xalloc.h"

#define ACCEPT_BATCH 32

struct accept_watcher {
	ev_io io;
	struct listener *l;
};

static struct worker wk;
static struct accept_watcher *watchers;
static size_t nwatchers;
static struct ipcount *ipc;
static ev_timer accept_pause;
static ev_timer stop_deadline;
static ev_signal sig_term, sig_int, sig_retire;
static bool retiring;
static unsigned long next_conn_id;

const char *
service_name(enum service svc)
{
	static const char *const names[SERVICE_COUNT] = {
		"smtp", "submission", "pop3", "imap"};

	return svc < SERVICE_COUNT ? names[svc] : "unknown";
}

static const struct proto_ops *
service_ops(enum service svc)
{
	switch (svc) {
	case SERVICE_SMTP:
		return &smtp_ops;
	case SERVICE_SUBMISSION:
		return &submission_ops;
	case SERVICE_POP3:
		return &pop3_ops;
	case SERVICE_IMAP:
		return &imap_ops;
	default:
		return NULL;
	}
}

static double
service_idle_timeout(enum service svc)
{
	switch (svc) {
	case SERVICE_POP3:
		return wk.cfg->pop3_idle_timeout;
	case SERVICE_IMAP:
		return wk.cfg->imap_idle_timeout;
	default:
		return wk.cfg->smtp_idle_timeout;
	}
}

static void
listeners_set(bool on)
{
	for (size_t i = 0; i < nwatchers; i++) {
		if (on)
			ev_io_start(wk.loop, &watchers[i].io);
		else
			ev_io_stop(wk.loop, &watchers[i].io);
	}
}

/* The reply a protocol expects when it is refused before its greeting. */
static const char *
busy_reply(enum service svc)
{
	switch (svc) {
	case SERVICE_POP3:
		return "-ERR [SYS/TEMP] too many connections from your IP\r\n";
	case SERVICE_IMAP:
		return "* BYE too many connections from your IP\r\n";
	default:
		return "421 4.7.0 too many connections from your IP\r\n";
	}
}

static void
fill_addresses(struct conn *c, const struct sockaddr_storage *peer)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);

	if (peer->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)peer;

		inet_ntop(AF_INET6, &s6->sin6_addr, c->peer_ip,
			  sizeof(c->peer_ip));
		c->peer_port = ntohs(s6->sin6_port);
		c->peer_is_loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr);
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			c->peer_is_loopback = s6->sin6_addr.s6_addr[12] == 127;
	} else {
		const struct sockaddr_in *s4 = (const void *)peer;

		inet_ntop(AF_INET, &s4->sin_addr, c->peer_ip,
			  sizeof(c->peer_ip));
		c->peer_port = ntohs(s4->sin_port);
		c->peer_is_loopback =
			(ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	if (getsockname(c->fd, (struct sockaddr *)&local, &len) == 0) {
		if (local.ss_family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const void *)&local;

			inet_ntop(AF_INET6, &s6->sin6_addr, c->local_ip,
				  sizeof(c->local_ip));
			c->local_port = ntohs(s6->sin6_port);
		} else {
			const struct sockaddr_in *s4 = (const void *)&local;

			inet_ntop(AF_INET, &s4->sin_addr, c->local_ip,
				  sizeof(c->local_ip));
			c->local_port = ntohs(s4->sin_port);
		}
	}
}

static void
accept_one(struct listener *l, int fd, struct sockaddr_storage *peer)
{
	const struct proto_ops *ops = service_ops(l->service);
	struct conn *c;
	unsigned long id = ((unsigned long)getpid() << 24) | ++next_conn_id;

	if (ipc != NULL &&
	    ipcount_total(ipc, (struct sockaddr *)peer) >=
		    wk.cfg->sessions_per_ip) {
		char ip[INET6_ADDRSTRLEN] = "?";
		const char *msg = busy_reply(l->service);

		if (peer->ss_family == AF_INET6)
			inet_ntop(AF_INET6,
				  &((struct sockaddr_in6 *)peer)->sin6_addr,
				  ip, sizeof(ip));
		else
			inet_ntop(AF_INET,
				  &((struct sockaddr_in *)peer)->sin_addr, ip,
				  sizeof(ip));
		log_warning("rejected connection ip=%s service=%s: more than "
			    "sessions_per_ip=%u",
			    ip, service_name(l->service),
			    wk.cfg->sessions_per_ip);
		if (!l->tls)
			(void)!send(fd, msg, strlen(msg),
				    MSG_NOSIGNAL | MSG_DONTWAIT);
		close(fd);
		return;
	}
	c = conn_new(&wk, wk.loop, fd, l->service, ops, id);
	if (c == NULL) {
		log_error("accept on %s: out of memory", l->addr);
		close(fd);
		return;
	}
	fill_addresses(c, peer);
	c->idle_timeout = service_idle_timeout(l->service);
	if (ipc != NULL)
		ipcount_add(ipc, wk.index, (struct sockaddr *)peer);
	c->next = wk.conns;
	if (wk.conns != NULL)
		wk.conns->prev = c;
	wk.conns = c;
	wk.nconns++;
	log_info("conn=%lu connect ip=%s port=%u service=%s%s local=%s:%u",
		 c->id, c->peer_ip, c->peer_port, service_name(l->service),
		 l->tls ? " tls=implicit" : "", c->local_ip, c->local_port);
	if (l->tls)
		conn_start_tls(c);
	else
		conn_start(c);
	if (wk.nconns >= wk.cfg->max_connections) {
		log_warning("max_connections=%u reached; accepting paused",
			    wk.cfg->max_connections);
		listeners_set(false);
	}
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct accept_watcher *aw = (struct accept_watcher *)w;

	for (int i = 0; i < ACCEPT_BATCH && !wk.stopping; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(aw->l->fd, (struct sockaddr *)&peer, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_error("accept(%s) failed: %m; pausing 1 s",
					  aw->l->addr);
				listeners_set(false);
				ev_timer_start(loop, &accept_pause);
			}
			return;
		}
		accept_one(aw->l, fd, &peer);
		if (wk.nconns >= wk.cfg->max_connections)
			return;
	}
}

static void
accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	if (!wk.stopping && !retiring &&
	    wk.nconns < wk.cfg->max_connections)
		listeners_set(true);
}

void
worker_conn_closed(struct worker *w, struct conn *c)
{
	struct sockaddr_storage peer;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	w->nconns--;
	if (ipc != NULL) {
		memset(&peer, 0, sizeof(peer));
		if (strchr(c->peer_ip, ':') != NULL) {
			struct sockaddr_in6 *s6 = (void *)&peer;

			s6->sin6_family = AF_INET6;
			inet_pton(AF_INET6, c->peer_ip, &s6->sin6_addr);
		} else {
			struct sockaddr_in *s4 = (void *)&peer;

			s4->sin_family = AF_INET;
			inet_pton(AF_INET, c->peer_ip, &s4->sin_addr);
		}
		ipcount_remove(ipc, w->index, (struct sockaddr *)&peer);
	}
	if (w->stopping || retiring) {
		if (w->nconns == 0)
			ev_break(w->loop, EVBREAK_ALL);
		return;
	}
	if (w->nconns + 1 == w->cfg->max_connections)
		listeners_set(true);
}

static void
stop_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	log_warning("worker %u: %u sessions still open after "
		    "shutdown_timeout; closing them",
		    wk.index, wk.nconns);
	ev_break(loop, EVBREAK_ALL);
}

static void
sig_term_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct conn *c, *next;

	if (wk.stopping)
		return;
	wk.stopping = true;
	listeners_set(false);
	ev_timer_stop(loop, &accept_pause);
	log_debug("worker %u stopping, %u sessions", wk.index, wk.nconns);
	for (c = wk.conns; c != NULL; c = next) {
		next = c->next;
		conn_shutdown(c);
	}
	if (wk.nconns == 0) {
		ev_break(loop, EVBREAK_ALL);
		return;
	}
	ev_timer_init(&stop_deadline, stop_deadline_cb,
		      wk.cfg->shutdown_timeout, 0.);
	ev_timer_start(loop, &stop_deadline);
}

static void
sig_retire_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	if (retiring || wk.stopping)
		return;
	retiring = true;
	listeners_set(false);
	ev_timer_stop(loop, &accept_pause);
	log_debug("worker %u retiring, %u sessions left", wk.index,
		  wk.nconns);
	if (wk.nconns == 0)
		ev_break(loop, EVBREAK_ALL);
}

int
worker_main(struct cfg *cfg, unsigned index, struct listener *ls, size_t nls,
	    struct ipcount *ic, struct tls_server *tls,
	    struct site_key *site_key)
{
	char err[512];

	wk.cfg = cfg;
	wk.tls = tls;
	wk.site_key = site_key;
	wk.index = index;
	wk.loop = ev_default_loop(EVFLAG_AUTO);
	wk.dir = directory_open_file(cfg->data_dir);
	repl_init(cfg);
	/* SMTP sessions may write the queue before the queue manager has
	 * created its directories, so every worker makes sure of them. */
	if (queue_init(cfg->data_dir, err, sizeof(err)) < 0)
		log_error("worker %u: %s; SMTP replies 451 until it is fixed",
			  index, err);
	ipc = ic;
	signal(SIGPIPE, SIG_IGN);

	watchers = xcalloc(nls, sizeof(*watchers));
	nwatchers = nls;
	for (size_t i = 0; i < nls; i++) {
		watchers[i].l = &ls[i];
		ev_io_init(&watchers[i].io, accept_cb, ls[i].fd, EV_READ);
	}
	listeners_set(true);
	ev_timer_init(&accept_pause, accept_pause_cb, 1., 0.);
	ev_signal_init(&sig_term, sig_term_cb, SIGTERM);
	ev_signal_init(&sig_int, sig_term_cb, SIGINT);
	ev_signal_init(&sig_retire, sig_retire_cb, SIGUSR2);
	ev_signal_start(wk.loop, &sig_term);
	ev_signal_start(wk.loop, &sig_int);
	ev_signal_start(wk.loop, &sig_retire);

	ev_run(wk.loop, 0);

	smtp_commit_drain();
	while (wk.conns != NULL)
		conn_kill(wk.conns, "server shutting down");
	directory_close(wk.dir);
	tls_server_free(wk.tls);
	wk.tls = NULL;
	site_key_free(wk.site_key);
	wk.site_key = NULL;
	free(watchers);
	log_debug("worker %u exiting", index);
	return 0;
}
