/*
 * smtp_client - one outbound SMTP connection on a libev loop
 *
 * The contract is in smtp_client.h. This file runs the session up to
 * the ready callback (greeting, EHLO or HELO, STARTTLS), the timers and
 * the public functions. smtp_client_io.c moves the bytes and runs the
 * TLS handshake, smtp_client_auth.c runs AUTH and smtp_client_txn.c the
 * transactions.
 *
 * I/O: a non-blocking socket with its own buffers, because the server
 * side's conn.c serves accepted connections only. Commands are queued in
 * c->out and written from the loop, so a pipelined group leaves in one
 * write. The read watcher runs from the greeting on, so a close by the
 * server is seen even while the connection is idle. With TLS, SSL_read
 * and SSL_write share the socket. A write that OpenSSL could not finish
 * is repeated with at least as many bytes, as OpenSSL requires, and
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets c->out grow in between.
 *
 * Timeouts: connect_timeout for connect(), timeout for each reply. The
 * reply timer starts when the command goes out and restarts when a whole
 * reply has arrived or command or message bytes were written, so the
 * transfer of a large message to a slow but live server does not time
 * out. Reply bytes alone do not restart it: a server that sends its reply
 * a byte or a line at a time gets timeout seconds for the whole reply.
 *
 * TLS (RFC 3207): "may" uses STARTTLS when the server offers it, and
 * when the handshake fails it connects once more without STARTTLS, as
 * opportunistic TLS does (RFC 7435). "encrypt" and "verify" fail the
 * session with SMTPC_TEMPFAIL when STARTTLS is missing, rejected or
 * fails. "verify" checks the chain against the context's CA bundle and
 * the name (tls_servername, else the host name) with SSL_set1_host().
 * Bytes the server sent after its 220 to STARTTLS are dropped, so
 * nothing sent in plain text is read as part of the TLS session.
 *
 * Results made by the client itself, without a server reply, have code 0
 * and an enhanced status code whose class agrees with the failure.
 * Callbacks run from a zero-delay timer (c->defer), never from inside
 * the call that caused them.
 *
 * The process must ignore SIGPIPE, as hapostd's processes do: plain
 * writes use MSG_NOSIGNAL, but OpenSSL writes to the socket with write().
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"
#include "smtp_client_int.h"
#include "xalloc.h"

#define READ_CHUNK 16384
/* Maximum wait for the reply to QUIT, in seconds. */
#define QUIT_TIMEOUT 10.0

static void client_free(struct smtp_client *c);

void
smtpc_set_reply(struct smtp_client_reply *r, int code, const char *enhanced,
		const char *fmt, ...)
{
	char text[sizeof(r->text)];
	va_list ap;

	memset(r, 0, sizeof(*r));
	r->code = code;
	snprintf(r->enhanced, sizeof(r->enhanced), "%s", enhanced);
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	smtp_reply_printable(r->text, sizeof(r->text), text, strlen(text));
}

void
smtpc_await_reply(struct smtp_client *c, enum smtpc_state state,
		  const char *stage)
{
	c->state = state;
	if (stage != NULL && state < SMTPC_IDLE)
		snprintf(c->st.stage, sizeof(c->st.stage), "%s", stage);
	else if (stage != NULL)
		snprintf(c->txn_st.stage, sizeof(c->txn_st.stage), "%s",
			 stage);
	smtpc_restart_timer(c, c->timeout);
}

void
smtpc_schedule(struct smtp_client *c, enum smtpc_pending pending)
{
	c->pending = pending;
	ev_timer_set(&c->defer, 0., 0.);
	ev_timer_start(c->loop, &c->defer);
}

void
smtpc_session_fail(struct smtp_client *c, enum smtp_client_failure failure,
		   const struct smtp_client_reply *reply)
{
	c->st.failure = failure;
	c->st.reply = *reply;
	smtpc_close_socket(c, failure != SMTPC_UNREACHABLE);
	c->free_after_callback = true;
	smtpc_schedule(c, SMTPC_PENDING_READY);
}

void
smtpc_session_ready(struct smtp_client *c)
{
	c->state = SMTPC_IDLE;
	ev_timer_stop(c->loop, &c->timer);
	c->st.failure = SMTPC_OK;
	c->st.reply = c->parser.reply;
	smtpc_schedule(c, SMTPC_PENDING_READY);
}

/* Fails a session step by the class of the server's reply. */
static void
session_fail_reply(struct smtp_client *c, const struct smtp_client_reply *r)
{
	struct smtp_client_reply unexpected;

	if (r->code / 100 == 5) {
		smtpc_session_fail(c, SMTPC_PERMFAIL, r);
	} else if (r->code / 100 == 4) {
		smtpc_session_fail(c, SMTPC_TEMPFAIL, r);
	} else {
		smtpc_set_reply(&unexpected, 0, "4.5.0",
				"unexpected reply to %s: %d %s", c->st.stage,
				r->code, r->text);
		smtpc_session_fail(c, SMTPC_TEMPFAIL, &unexpected);
	}
}

/*
 * Ends the connection after it was lost, timed out or sent a garbled
 * reply; reason has code 0. What follows depends on the state.
 */
static void
connection_lost(struct smtp_client *c, const struct smtp_client_reply *reason)
{
	switch (c->state) {
	case SMTPC_IDLE:
		log_debug("smtp client %s: %s", c->st.remote, reason->text);
		smtpc_close_socket(c, false);
		break;
	case SMTPC_QUIT:
		smtpc_close_socket(c, false);
		c->free_after_callback = true;
		smtpc_schedule(c, SMTPC_PENDING_NONE);
		break;
	case SMTPC_TXN:
	case SMTPC_BODY:
	case SMTPC_DOT:
	case SMTPC_RSET:
		smtpc_txn_lost(c, reason);
		break;
	case SMTPC_CLOSED:
		break;
	default:
		smtpc_session_fail(c, SMTPC_UNREACHABLE, reason);
		break;
	}
}

static const char *
current_stage(const struct smtp_client *c)
{
	return c->state < SMTPC_IDLE ? c->st.stage : c->txn_st.stage;
}

void
smtpc_lost(struct smtp_client *c, const char *why)
{
	struct smtp_client_reply r;

	if (why == NULL)
		smtpc_set_reply(&r, 0, "4.4.2",
				"connection closed by %s during %s",
				c->st.remote, current_stage(c));
	else
		smtpc_set_reply(&r, 0, "4.4.2",
				"lost connection with %s during %s: %s",
				c->st.remote, current_stage(c), why);
	connection_lost(c, &r);
}

/* Continues after EHLO or HELO: STARTTLS, then AUTH, then ready. */
static void
after_ehlo(struct smtp_client *c)
{
	struct smtp_client_reply r;

	if (c->ssl == NULL && c->tls_policy != SMTPC_TLS_NONE &&
	    !c->tls_skip) {
		if (c->esmtp && c->ehlo.starttls && c->tls_ctx != NULL) {
			smtpc_send_line(c, "STARTTLS");
			smtpc_await_reply(c, SMTPC_STARTTLS, "STARTTLS");
			return;
		}
		if (c->tls_policy != SMTPC_TLS_MAY) {
			snprintf(c->st.stage, sizeof(c->st.stage), "STARTTLS");
			if (c->tls_ctx == NULL)
				smtpc_set_reply(&r, 0, "4.7.4",
						"the TLS policy requires TLS "
						"but no TLS client context is "
						"configured");
			else
				smtpc_set_reply(&r, 0, "4.7.4",
						"the TLS policy requires TLS "
						"but %s does not offer "
						"STARTTLS",
						c->st.remote);
			smtpc_session_fail(c, SMTPC_TEMPFAIL, &r);
			return;
		}
	}
	if (c->auth_user != NULL) {
		smtpc_auth_start(c);
		return;
	}
	smtpc_session_ready(c);
}

static void
starttls_reply(struct smtp_client *c, const struct smtp_client_reply *r)
{
	struct smtp_client_reply why;

	if (r->code / 100 == 2) {
		smtpc_start_tls(c);
		return;
	}
	if (c->tls_policy == SMTPC_TLS_MAY) {
		/* The server still expects commands in plain text. */
		c->tls_skip = true;
		after_ehlo(c);
		return;
	}
	smtpc_set_reply(&why, 0, "4.7.4",
			"the TLS policy requires TLS but %s rejected "
			"STARTTLS: %d %s",
			c->st.remote, r->code, r->text);
	smtpc_session_fail(c, SMTPC_TEMPFAIL, &why);
}

/*
 * Fails the session when the server names itself with our own host name
 * in its greeting or EHLO reply: the connection came back to this host
 * or to another one that calls itself the same, so the mail would loop.
 */
static bool
greeted_by_myself(struct smtp_client *c, const struct smtp_client_reply *r)
{
	size_t len = strcspn(r->text, " ");
	struct smtp_client_reply loop;

	if (len == 0 || len != strlen(c->helo) ||
	    strncasecmp(r->text, c->helo, len) != 0)
		return false;
	smtpc_set_reply(&loop, 0, "4.4.6",
			"mail loops back to myself: %s greeted me with my own "
			"host name %s",
			c->st.remote, c->helo);
	smtpc_session_fail(c, SMTPC_TEMPFAIL, &loop);
	return true;
}

static void
handle_reply(struct smtp_client *c)
{
	const struct smtp_client_reply *r = &c->parser.reply;

	log_debug("smtp client %s: reply to %s: %d %s", c->st.remote,
		  current_stage(c), r->code, r->text);
	switch (c->state) {
	case SMTPC_GREETING:
		if (r->code / 100 != 2) {
			session_fail_reply(c, r);
			break;
		}
		if (greeted_by_myself(c, r))
			break;
		smtpc_send_line(c, "EHLO %s", c->helo);
		smtpc_await_reply(c, SMTPC_EHLO, "EHLO");
		break;
	case SMTPC_EHLO:
		if (r->code / 100 == 2 && greeted_by_myself(c, r))
			break;
		if (r->code / 100 == 2) {
			c->esmtp = true;
			smtp_ehlo_parse(&c->parser, &c->ehlo);
			after_ehlo(c);
		} else if (r->code / 100 == 5) {
			smtpc_send_line(c, "HELO %s", c->helo);
			smtpc_await_reply(c, SMTPC_HELO, "HELO");
		} else {
			session_fail_reply(c, r);
		}
		break;
	case SMTPC_HELO:
		if (r->code / 100 != 2) {
			session_fail_reply(c, r);
			break;
		}
		c->esmtp = false;
		memset(&c->ehlo, 0, sizeof(c->ehlo));
		after_ehlo(c);
		break;
	case SMTPC_STARTTLS:
		starttls_reply(c, r);
		break;
	case SMTPC_AUTH:
		smtpc_auth_reply(c, r);
		break;
	case SMTPC_TXN:
		smtpc_txn_reply(c, r);
		break;
	case SMTPC_BODY:
	case SMTPC_DOT:
		smtpc_txn_dot_reply(c, r);
		break;
	case SMTPC_RSET:
		smtpc_txn_rset_reply(c, r);
		break;
	case SMTPC_QUIT:
		smtpc_close_socket(c, false);
		c->free_after_callback = true;
		smtpc_schedule(c, SMTPC_PENDING_NONE);
		break;
	default:
		break;
	}
}

/*
 * True while replies are read. Handling one may start the TLS handshake
 * or, after a failed handshake, a new connection, and then the loops
 * below must stop: the new socket's bytes belong to the new state.
 */
static bool
reading(const struct smtp_client *c)
{
	return c->fd >= 0 && c->state != SMTPC_CONNECT &&
	       c->state != SMTPC_HANDSHAKE && c->state != SMTPC_CLOSED;
}

/* Parses the replies in c->in and acts on each. */
static void
process_input(struct smtp_client *c)
{
	while (reading(c) && c->in.len > 0) {
		struct smtp_client_reply r;
		enum smtp_reply_status st;
		size_t used;

		if (c->state == SMTPC_IDLE) {
			/* Typically "421 timeout" before a close. */
			smtpc_set_reply(&r, 0, "4.4.2",
					"unexpected data from %s while idle",
					c->st.remote);
			connection_lost(c, &r);
			return;
		}
		st = smtp_reply_parse(&c->parser, c->in.data, c->in.len,
				      &used);
		if (st == SMTP_REPLY_GARBLED) {
			smtpc_set_reply(&r, 0, "4.5.0",
					"garbled reply from %s to %s: %s",
					c->st.remote, current_stage(c),
					c->parser.error);
			connection_lost(c, &r);
			return;
		}
		buf_consume(&c->in, used);
		if (st == SMTP_REPLY_INCOMPLETE)
			return;
		handle_reply(c);
		/* The next pipelined reply gets its own timeout. */
		if (reading(c) && smtpc_waiting(c))
			smtpc_restart_timer(c, c->timeout);
	}
}

static void
on_readable(struct smtp_client *c)
{
	char chunk[READ_CHUNK], why[256];

	while (reading(c)) {
		ssize_t n = smtpc_read_some(c, chunk, sizeof(chunk), why,
				      sizeof(why));

		if (n == 0)
			return;
		if (n < 0) {
			smtpc_lost(c, n == -2 ? NULL : why);
			return;
		}
		buf_append(&c->in, chunk, (size_t)n);
		process_input(c);
	}
}

static void
connect_done(struct smtp_client *c)
{
	struct smtp_client_reply r;
	socklen_t len = sizeof(int);
	int err = 0;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == EINPROGRESS || err == EINTR)
		return;
	if (err != 0) {
		smtpc_set_reply(&r, 0, "4.4.1", "connect to %s failed: %s",
				c->st.remote, strerror(err));
		smtpc_session_fail(c, SMTPC_UNREACHABLE, &r);
		return;
	}
	/* Commands are written whole or in pipelined groups, so Nagle's
	 * algorithm would only delay them. */
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &(int){1},
		       sizeof(int)) < 0)
		log_debug("smtp client %s: setsockopt(TCP_NODELAY) failed: %m",
			  c->st.remote);
	ev_io_stop(c->loop, &c->wio);
	ev_io_start(c->loop, &c->rio);
	smtpc_await_reply(c, SMTPC_GREETING, "greeting");
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct smtp_client *c = w->data;

	if (c->state == SMTPC_CONNECT) {
		connect_done(c);
		return;
	}
	if (c->state == SMTPC_HANDSHAKE) {
		smtpc_handshake(c);
		return;
	}
	if (w == &c->wio) {
		if (c->ssl_read_wants_write) {
			c->ssl_read_wants_write = false;
			on_readable(c);
		}
		if (reading(c))
			smtpc_flush(c);
		return;
	}
	on_readable(c);
	/* An SSL_write that waited for input can go on now. */
	if (reading(c) && c->out.len > 0)
		smtpc_flush(c);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct smtp_client *c = w->data;
	struct smtp_client_reply r;

	switch (c->state) {
	case SMTPC_CONNECT:
		smtpc_set_reply(&r, 0, "4.4.1", "connect to %s timed out",
				c->st.remote);
		break;
	case SMTPC_HANDSHAKE:
		smtpc_set_reply(&r, 0, "4.4.2", "TLS handshake with %s timed out",
				c->st.remote);
		break;
	case SMTPC_BODY:
		smtpc_set_reply(&r, 0, "4.4.2",
				"timed out sending the message to %s",
				c->st.remote);
		break;
	default:
		smtpc_set_reply(&r, 0, "4.4.2",
				"timed out waiting for the reply to %s from %s",
				current_stage(c), c->st.remote);
		break;
	}
	connection_lost(c, &r);
}

static void
defer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct smtp_client *c = w->data;
	enum smtpc_pending pending = c->pending;
	bool free_after = c->free_after_callback;

	c->pending = SMTPC_PENDING_NONE;
	/*
	 * The callback may close c or start the next transaction, which
	 * resets c's status: pass copies, and touch c afterwards only when
	 * the module frees it.
	 */
	if (pending == SMTPC_PENDING_READY && c->ready_cb != NULL) {
		struct smtp_client_status st = c->st;

		c->ready_cb(c->ready_arg, c, &st);
	} else if (pending == SMTPC_PENDING_TXN && c->txn_cb != NULL) {
		struct smtp_client_status st = c->txn_st;
		struct smtp_client_reply *replies = c->txn.replies;

		c->txn.replies = NULL;
		c->txn_cb(c->txn_arg, c, &st, replies);
		free(replies);
	}
	if (free_after)
		client_free(c);
}

void
smtpc_start_connect(struct smtp_client *c)
{
	struct smtp_client_reply r;
	int fd;

	snprintf(c->st.stage, sizeof(c->st.stage), "connect");
	c->state = SMTPC_CONNECT;
	fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		smtpc_set_reply(&r, 0, "4.3.0", "socket() failed: %s",
				strerror(errno));
		smtpc_session_fail(c, SMTPC_TEMPFAIL, &r);
		return;
	}
	c->fd = fd;
	ev_io_set(&c->rio, fd, EV_READ);
	ev_io_set(&c->wio, fd, EV_WRITE);
	if (connect(fd, (struct sockaddr *)&c->addr, c->addrlen) < 0 &&
	    errno != EINPROGRESS) {
		smtpc_set_reply(&r, 0, "4.4.1", "connect to %s failed: %s",
				c->st.remote, strerror(errno));
		smtpc_session_fail(c, SMTPC_UNREACHABLE, &r);
		return;
	}
	ev_io_start(c->loop, &c->wio);
	smtpc_restart_timer(c, c->connect_timeout);
}

/* Formats "host[address]:port" for logs and results. */
static void
format_remote(struct smtp_client *c)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (c->addr.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (void *)&c->addr;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		port = ntohs(sin->sin_port);
	} else if (c->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (void *)&c->addr;

		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		port = ntohs(sin6->sin6_port);
	}
	snprintf(c->st.remote, sizeof(c->st.remote), "%s[%s]:%u", c->host, ip,
		 port);
}

static char *
copy_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

struct smtp_client *
smtp_client_open(struct ev_loop *loop, const struct smtp_client_params *p,
		 const struct sockaddr *addr, socklen_t addrlen,
		 const char *host, smtp_client_ready_cb *cb, void *arg)
{
	struct smtp_client *c = xcalloc(1, sizeof(*c));
	struct smtp_client_reply r;

	c->loop = loop;
	c->fd = -1;
	c->helo = xstrdup(p->helo != NULL ? p->helo : "localhost");
	c->tls_policy = p->tls;
	c->tls_ctx = p->tls_ctx;
	c->tls_servername = copy_or_null(p->tls_servername);
	c->auth_user = copy_or_null(p->auth_user);
	c->auth_password = xstrdup(p->auth_password != NULL ? p->auth_password
							    : "");
	c->connect_timeout = p->connect_timeout > 0 ? p->connect_timeout : 30;
	c->timeout = p->timeout > 0 ? p->timeout : 300;
	snprintf(c->host, sizeof(c->host), "%s", host != NULL ? host : "");
	c->ready_cb = cb;
	c->ready_arg = arg;
	buf_init(&c->in);
	buf_init(&c->out);
	smtp_reply_init(&c->parser);
	ev_init(&c->rio, io_cb);
	ev_init(&c->wio, io_cb);
	ev_init(&c->timer, timer_cb);
	ev_init(&c->defer, defer_cb);
	c->rio.data = c->wio.data = c->timer.data = c->defer.data = c;
	c->txn.msg_fd = -1;

	if (addrlen > sizeof(c->addr) ||
	    (addr->sa_family != AF_INET && addr->sa_family != AF_INET6)) {
		snprintf(c->st.remote, sizeof(c->st.remote), "%s", c->host);
		snprintf(c->st.stage, sizeof(c->st.stage), "connect");
		smtpc_set_reply(&r, 0, "4.4.1", "unsupported address for %s",
				c->host);
		smtpc_session_fail(c, SMTPC_UNREACHABLE, &r);
		return c;
	}
	memcpy(&c->addr, addr, addrlen);
	c->addrlen = addrlen;
	format_remote(c);
	smtpc_start_connect(c);
	return c;
}

int
smtp_client_send(struct smtp_client *c, const struct smtp_client_txn *t,
		 smtp_client_txn_cb *cb, void *arg)
{
	if (!smtp_client_reusable(c) || t->nrcpts == 0 || t->sender == NULL)
		return -1;
	c->txn_cb = cb;
	c->txn_arg = arg;
	return smtpc_txn_start(c, t);
}

bool
smtp_client_reusable(const struct smtp_client *c)
{
	return c->state == SMTPC_IDLE && c->fd >= 0 &&
	       c->pending == SMTPC_PENDING_NONE && !c->free_after_callback;
}

size_t
smtp_client_max_size(const struct smtp_client *c)
{
	return c->esmtp ? c->ehlo.size_max : 0;
}

static void
client_free(struct smtp_client *c)
{
	ev_timer_stop(c->loop, &c->defer);
	smtpc_close_socket(c, false);
	buf_free(&c->in);
	buf_free(&c->out);
	smtp_reply_free(&c->parser);
	smtpc_txn_free(&c->txn);
	free(c->helo);
	free(c->tls_servername);
	free(c->auth_user);
	if (c->auth_password != NULL) {
		OPENSSL_cleanse(c->auth_password, strlen(c->auth_password));
		free(c->auth_password);
	}
	free(c);
}

void
smtp_client_close(struct smtp_client *c)
{
	if (c == NULL || c->free_after_callback)
		return;
	ev_timer_stop(c->loop, &c->defer);
	c->pending = SMTPC_PENDING_NONE;
	c->ready_cb = NULL;
	c->txn_cb = NULL;
	if (c->state == SMTPC_IDLE && c->fd >= 0 && c->out.len == 0) {
		/* Wait briefly for the reply, then free c from the loop. */
		smtpc_send_line(c, "QUIT");
		c->state = SMTPC_QUIT;
		smtpc_restart_timer(c, c->timeout < QUIT_TIMEOUT ? c->timeout
							   : QUIT_TIMEOUT);
		return;
	}
	client_free(c);
}
