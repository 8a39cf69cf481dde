/*
 * conn - buffered, non-blocking client connection on a libev loop
 *
 * The contract is in conn.h. Reads go straight into c->in (at most
 * CONN_READ_CHUNK per read call, and the input handler runs after each),
 * writes are queued in c->out and sent as the socket allows. A conn that
 * is closing stops reading, sends what is queued, and gives the peer
 * CONN_LINGER seconds to take it before the socket is closed anyway.
 *
 * Freeing is deferred while a protocol callback runs (c->in_callback), so
 * a protocol may call conn_close() from inside its own input handler.
 *
 * TLS: with c->ssl set, reads and writes go through SSL_read and
 * SSL_write on the same non-blocking socket. When OpenSSL needs the other
 * direction (SSL_ERROR_WANT_WRITE from a read, WANT_READ from a write) the
 * matching watcher runs the operation again. Decrypted bytes OpenSSL
 * still keeps (SSL_pending) are picked up from an ev_idle, because the
 * socket will not become readable for them. During the handshake the
 * idle timer runs with tls_handshake_timeout and input does not restart
 * it, so a client cannot keep a half-done handshake open.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conn.h"
#include "conn_private.h"
#include "log.h"
#include "tls.h"
#include "worker.h"
#include "xalloc.h"

#define CONN_READ_CHUNK 16384
#define CONN_LINGER 5.0
/* Emptied buffers up to this size are kept for the next use. */
#define CONN_KEEP_BUFFER 4096
/* Input beyond this is not read until the protocol consumes some. */
#define CONN_INPUT_MAX (1024 * 1024)
/* Bytes per SSL_write call; kept fixed so a retry never passes fewer. */
#define CONN_TLS_WRITE_MAX (64 * 1024)

static void conn_finish(struct conn *c);
static void conn_read(struct conn *c);
static void conn_handshake(struct conn *c);
static void conn_handshake_begin(struct conn *c);

static char read_chunk[CONN_READ_CHUNK];

/* Frees an emptied buffer that grew large, so idle sessions stay small. */
static void
buf_trim(struct buf *b)
{
	if (b->len == 0 && b->cap > CONN_KEEP_BUFFER)
		buf_free(b);
}

/* Ends c with "what: strerror(errno)" as the reason. */
static void
conn_kill_errno(struct conn *c, const char *what)
{
	char reason[128];

	snprintf(reason, sizeof(reason), "%s: %s", what, strerror(errno));
	conn_kill(c, reason);
}

/* Formats "what: reason" for an SSL_get_error() result. */
static void
ssl_failure(char *out, size_t len, const char *what, int ssl_error)
{
	char why[400];

	if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		if (errno == 0)
			snprintf(why, sizeof(why), "connection closed");
		else
			snprintf(why, sizeof(why), "%s", strerror(errno));
	} else {
		tls_error_string(why, sizeof(why));
	}
	snprintf(out, len, "%s: %s", what, why);
}

/* Ends c with "what: OpenSSL's reason" as the reason. */
static void
conn_kill_ssl(struct conn *c, const char *what, int ssl_error)
{
	char reason[512];

	ssl_failure(reason, sizeof(reason), what, ssl_error);
	conn_kill(c, reason);
}

static void
conn_update_write_watcher(struct conn *c)
{
	bool want;

	/* The handshake drives both watchers itself. */
	if (c->dead || c->tls == CONN_TLS_HANDSHAKE)
		return;
	want = (c->out.len > 0 && !c->ssl_write_wants_read) ||
	       c->ssl_read_wants_write;
	if (want && !ev_is_active(&c->wio))
		ev_io_start(c->loop, &c->wio);
	else if (!want && ev_is_active(&c->wio))
		ev_io_stop(c->loop, &c->wio);
}

/* Runs a protocol callback; frees c afterwards if it died meanwhile. */
static void
conn_call(struct conn *c, void (*fn)(struct conn *))
{
	bool outer = c->in_callback;

	if (fn == NULL || c->dead)
		return;
	c->in_callback = true;
	fn(c);
	c->in_callback = outer;
	if (!outer && c->dead)
		conn_finish(c);
}

/*
 * Sends what it can of c->out through TLS. Returns the bytes sent, 0 when
 * the socket is full or OpenSSL waits for input, or -1 after killing c.
 */
static ssize_t
conn_ssl_send(struct conn *c)
{
	size_t len = c->out.len < CONN_TLS_WRITE_MAX ? c->out.len
						     : CONN_TLS_WRITE_MAX;
	int n, e;

	ERR_clear_error();
	errno = 0;
	n = SSL_write(c->ssl, c->out.data, (int)len);
	if (n > 0)
		return n;
	e = SSL_get_error(c->ssl, n);
	if (e == SSL_ERROR_WANT_WRITE)
		return 0;
	if (e == SSL_ERROR_WANT_READ) {
		c->ssl_write_wants_read = true;
		ev_io_start(c->loop, &c->rio);
		return 0;
	}
	conn_kill_ssl(c, "write error", e);
	return -1;
}

static void
conn_flush(struct conn *c)
{
	if (c->tls == CONN_TLS_HANDSHAKE)
		return;
	while (c->out.len > 0 && !c->ssl_write_wants_read) {
		ssize_t n;

		if (c->ssl != NULL) {
			n = conn_ssl_send(c);
			if (n < 0)
				return;
			if (n == 0)
				break;
			buf_consume(&c->out, (size_t)n);
			continue;
		}
		n = send(c->fd, c->out.data, c->out.len,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			conn_kill_errno(c, "write error");
			return;
		}
		buf_consume(&c->out, (size_t)n);
	}
	buf_trim(&c->out);
	conn_update_write_watcher(c);
	if (c->out.len > 0)
		return;
	if (c->closing) {
		/* One close_notify, without waiting for the client's. */
		if (c->ssl != NULL && c->tls == CONN_TLS_ON)
			SSL_shutdown(c->ssl);
		/* No shutdown(SHUT_WR) here: the client must not see the
		 * end of the stream before ops->free has released what the
		 * session holds (a POP3 maildrop lock), which conn_finish
		 * does before it closes the socket. */
		conn_kill(c, NULL);
		return;
	}
	if (c->tls == CONN_TLS_WAIT_FLUSH) {
		conn_handshake_begin(c);
		return;
	}
	conn_call(c, c->ops->drained);
}

/*
 * Reads up to CONN_READ_CHUNK decrypted bytes into read_chunk. Returns the
 * count, 0 when nothing is available yet, or -1 after killing c.
 */
static ssize_t
conn_ssl_recv(struct conn *c)
{
	int n, e;

	ERR_clear_error();
	errno = 0;
	n = SSL_read(c->ssl, read_chunk, sizeof(read_chunk));
	if (n > 0)
		return n;
	e = SSL_get_error(c->ssl, n);
	switch (e) {
	case SSL_ERROR_WANT_READ:
		return 0;
	case SSL_ERROR_WANT_WRITE:
		c->ssl_read_wants_write = true;
		conn_update_write_watcher(c);
		return 0;
	case SSL_ERROR_ZERO_RETURN:
		conn_kill(c, "client closed the connection");
		return -1;
	default:
		conn_kill_ssl(c, "read error", e);
		return -1;
	}
}

static void
conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	if (c->tls == CONN_TLS_HANDSHAKE) {
		conn_handshake(c);
		return;
	}
	if (c->ssl_write_wants_read) {
		c->ssl_write_wants_read = false;
		conn_flush(c);
		if (c->dead)
			return;
		if (c->read_paused || c->closing) {
			ev_io_stop(loop, w);
			return;
		}
	}
	conn_read(c);
}

static void
conn_read(struct conn *c)
{
	ssize_t n;

	if (c->closing || c->read_paused || c->tls == CONN_TLS_WAIT_FLUSH)
		return;
	if (c->in.len >= CONN_INPUT_MAX) {
		/* Protocols bound their lines and literals, so this is a
		 * protocol that stopped consuming without pausing. */
		conn_kill(c, "input buffer overflow");
		return;
	}
	/* Read into a buffer shared by all conns of the process, so an
	 * idle session holds no read buffer of its own. */
	if (c->ssl != NULL) {
		n = conn_ssl_recv(c);
		if (n <= 0)
			return;
		goto got;
	}
	n = recv(c->fd, read_chunk, sizeof(read_chunk), 0);
	if (n < 0) {
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		conn_kill_errno(c, "read error");
		return;
	}
	if (n == 0) {
		conn_kill(c, "client closed the connection");
		return;
	}
got:
	buf_append(&c->in, read_chunk, (size_t)n);
	ev_timer_again(c->loop, &c->idle);
	conn_call(c, c->ops->input);
	if (c->dead)
		return;
	buf_trim(&c->in);
	/* OpenSSL may hold decrypted bytes the socket will not signal. */
	if (c->ssl != NULL && c->tls == CONN_TLS_ON && !c->read_paused &&
	    !c->closing && SSL_pending(c->ssl) > 0)
		ev_idle_start(c->loop, &c->pending);
}

static void
conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;

	if (c->tls == CONN_TLS_HANDSHAKE) {
		conn_handshake(c);
		return;
	}
	if (c->ssl_read_wants_write) {
		c->ssl_read_wants_write = false;
		conn_read(c);
		if (c->dead)
			return;
	}
	conn_flush(c);
}

static void
conn_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

	if (c->tls == CONN_TLS_HANDSHAKE) {
		log_info("conn=%lu TLS handshake timed out ip=%s", c->id,
			 c->peer_ip);
		conn_kill(c, "TLS handshake timed out");
		return;
	}
	if (c->closing)
		return;
	if (c->ops->timeout != NULL)
		conn_call(c, c->ops->timeout);
	else
		conn_close(c, "idle timeout");
	if (!c->dead && !c->closing)
		conn_close(c, "idle timeout");
}

static void
conn_linger_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	conn_kill(w->data, NULL);
}

/* Runs the input handler again for bytes left in c->in after a resume. */
static void
conn_pending_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct conn *c = w->data;

	ev_idle_stop(loop, w);
	if (c->closing || c->read_paused || c->tls == CONN_TLS_HANDSHAKE ||
	    c->tls == CONN_TLS_WAIT_FLUSH)
		return;
	if (c->ssl != NULL && SSL_pending(c->ssl) > 0)
		conn_read(c); /* runs the input handler on c->in too */
	else if (c->in.len > 0)
		conn_call(c, c->ops->input);
}

/* Creates c->ssl and starts the handshake once c->out is empty. */
static void
conn_handshake_begin(struct conn *c)
{
	struct tls_server *t = c->worker->tls;
	char why[400];

	ERR_clear_error();
	c->ssl = t != NULL ? tls_server_ssl_new(t) : NULL;
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		tls_error_string(why, sizeof(why));
		log_error("conn=%lu TLS setup failed: %s", c->id, why);
		conn_kill(c, "TLS setup failed");
		return;
	}
	/* The reply after the handshake is a small write behind the server's
	 * last flight, which the client does not acknowledge at once. With
	 * Nagle's algorithm on, the kernel held that reply for the client's
	 * delayed ACK (about 40 ms on Linux), which capped a client at 25
	 * handshakes a second. c->out is sent in large writes anyway. */
	if (setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &(int){1},
		       sizeof(int)) < 0)
		log_debug("conn=%lu setsockopt(TCP_NODELAY) failed: %m",
			  c->id);
	SSL_set_accept_state(c->ssl);
	c->tls = CONN_TLS_HANDSHAKE;
	ev_idle_stop(c->loop, &c->pending);
	c->idle.repeat = c->worker->cfg->tls_handshake_timeout;
	ev_timer_again(c->loop, &c->idle);
	conn_handshake(c);
}

static void
conn_handshake_done(struct conn *c)
{
	const char *sni = SSL_get_servername(c->ssl,
					     TLSEXT_NAMETYPE_host_name);
	char host[128];

	c->tls = CONN_TLS_ON;
	log_info("conn=%lu TLS ip=%s version=%s cipher=%s sni=%s", c->id,
		 c->peer_ip, SSL_get_version(c->ssl),
		 SSL_get_cipher_name(c->ssl),
		 sni != NULL ? log_printable(host, sizeof(host), sni,
					     strlen(sni))
			     : "-");
	ev_io_stop(c->loop, &c->wio);
	c->idle.repeat = c->idle_timeout;
	ev_timer_again(c->loop, &c->idle);
	if (c->read_paused)
		ev_io_stop(c->loop, &c->rio);
	else
		ev_io_start(c->loop, &c->rio);
	if (c->start_after_handshake) {
		c->start_after_handshake = false;
		conn_call(c, c->ops->start);
		if (c->dead)
			return;
	}
	conn_update_write_watcher(c);
	if (!c->read_paused && SSL_pending(c->ssl) > 0)
		ev_idle_start(c->loop, &c->pending);
}

/* Runs one step of the handshake; the watchers bring the next one. */
static void
conn_handshake(struct conn *c)
{
	char reason[512];
	int r, e;

	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		conn_handshake_done(c);
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		ev_io_stop(c->loop, &c->wio);
		ev_io_start(c->loop, &c->rio);
		return;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		ev_io_stop(c->loop, &c->rio);
		ev_io_start(c->loop, &c->wio);
		return;
	}
	ssl_failure(reason, sizeof(reason), "TLS handshake failed", e);
	log_info("conn=%lu %s ip=%s", c->id, reason, c->peer_ip);
	conn_kill(c, reason);
}

struct conn *
conn_new(struct worker *wk, struct ev_loop *loop, int fd, enum service svc,
	 const struct proto_ops *ops, unsigned long id)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->id = id;
	c->fd = fd;
	c->service = svc;
	c->loop = loop;
	c->worker = wk;
	c->ops = ops;
	buf_init(&c->in);
	buf_init(&c->out);
	ev_io_init(&c->rio, conn_read_cb, fd, EV_READ);
	ev_io_init(&c->wio, conn_write_cb, fd, EV_WRITE);
	ev_init(&c->idle, conn_idle_cb);
	ev_timer_init(&c->linger, conn_linger_cb, CONN_LINGER, 0.);
	ev_idle_init(&c->pending, conn_pending_cb);
	c->rio.data = c->wio.data = c->idle.data = c->linger.data = c;
	c->pending.data = c;
	c->idle_timeout = 300;
	return c;
}

void
conn_start(struct conn *c)
{
	c->idle.repeat = c->idle_timeout;
	ev_timer_again(c->loop, &c->idle);
	ev_io_start(c->loop, &c->rio);
	conn_call(c, c->ops->start);
}

void
conn_start_tls(struct conn *c)
{
	c->start_after_handshake = true;
	conn_handshake_begin(c);
}

void
conn_set_idle_timeout(struct conn *c, double seconds)
{
	c->idle_timeout = seconds;
	if (c->tls == CONN_TLS_HANDSHAKE)
		return;
	c->idle.repeat = seconds;
	if (!c->dead && !c->closing)
		ev_timer_again(c->loop, &c->idle);
}

bool
conn_tls_available(const struct conn *c)
{
	return c->worker->tls != NULL && c->tls == CONN_TLS_NONE;
}

bool
conn_tls_active(const struct conn *c)
{
	return c->tls == CONN_TLS_ON;
}

int
conn_starttls(struct conn *c)
{
	if (!conn_tls_available(c) || c->dead || c->closing)
		return -1;
	/* Bytes after the STARTTLS line came in plain text: drop them. */
	if (c->in.len > 0)
		log_info("conn=%lu discarded %zu bytes sent after STARTTLS "
			 "ip=%s",
			 c->id, c->in.len, c->peer_ip);
	buf_reset(&c->in);
	buf_trim(&c->in);
	c->tls = CONN_TLS_WAIT_FLUSH;
	c->read_paused = false;
	ev_io_stop(c->loop, &c->rio);
	ev_idle_stop(c->loop, &c->pending);
	/* conn_flush starts the handshake once the reply is out. */
	if (!ev_is_active(&c->wio))
		ev_io_start(c->loop, &c->wio);
	return 0;
}

bool
conn_plaintext_auth_allowed(const struct conn *c)
{
	const struct cfg *cfg = c->worker->cfg;

	if (c->tls == CONN_TLS_ON || !cfg->require_tls_for_auth)
		return true;
	return c->peer_is_loopback && cfg->allow_plaintext_auth_on_loopback;
}

void
conn_write(struct conn *c, const void *data, size_t len)
{
	if (c->dead)
		return;
	buf_append(&c->out, data, len);
	conn_update_write_watcher(c);
}

void
conn_puts(struct conn *c, const char *s)
{
	conn_write(c, s, strlen(s));
}

void
conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	if (c->dead)
		return;
	va_start(ap, fmt);
	buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	conn_update_write_watcher(c);
}

void
conn_pause_read(struct conn *c)
{
	c->read_paused = true;
	/* The handshake needs the read watcher, so only the flag pauses
	 * input, from the end of the handshake on. */
	if (!c->dead && c->tls != CONN_TLS_HANDSHAKE)
		ev_io_stop(c->loop, &c->rio);
}

void
conn_resume_read(struct conn *c)
{
	if (c->dead || c->closing)
		return;
	c->read_paused = false;
	if (c->tls == CONN_TLS_HANDSHAKE || c->tls == CONN_TLS_WAIT_FLUSH)
		return;
	ev_io_start(c->loop, &c->rio);
	if (c->in.len > 0 || (c->ssl != NULL && SSL_pending(c->ssl) > 0))
		ev_idle_start(c->loop, &c->pending);
}

void
conn_close(struct conn *c, const char *reason)
{
	if (c->dead || c->closing)
		return;
	c->closing = true;
	if (reason != NULL && c->close_reason == NULL)
		c->close_reason = xstrdup(reason);
	ev_io_stop(c->loop, &c->rio);
	ev_timer_stop(c->loop, &c->idle);
	ev_idle_stop(c->loop, &c->pending);
	ev_timer_start(c->loop, &c->linger);
	/* Send from the loop, so replies queued after this call go too. */
	if (!ev_is_active(&c->wio))
		ev_io_start(c->loop, &c->wio);
}

void
conn_shutdown(struct conn *c)
{
	if (c->dead || c->closing)
		return;
	/* Mid-switch there is no channel for a goodbye. */
	if (c->tls == CONN_TLS_HANDSHAKE || c->tls == CONN_TLS_WAIT_FLUSH) {
		conn_kill(c, "server shutting down");
		return;
	}
	conn_call(c, c->ops->shutdown);
	if (!c->dead)
		conn_close(c, "server shutting down");
}

void
conn_kill(struct conn *c, const char *reason)
{
	if (c->dead)
		return;
	if (reason != NULL && c->close_reason == NULL)
		c->close_reason = xstrdup(reason);
	c->dead = true;
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	ev_timer_stop(c->loop, &c->idle);
	ev_timer_stop(c->loop, &c->linger);
	ev_idle_stop(c->loop, &c->pending);
	if (!c->in_callback)
		conn_finish(c);
}

static void
conn_finish(struct conn *c)
{
	if (c->ops->free != NULL)
		c->ops->free(c);
	c->session = NULL;
	SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	worker_conn_closed(c->worker, c);
	log_info("conn=%lu disconnect ip=%s service=%s reason=\"%s\"", c->id,
		 c->peer_ip, c->ops->name,
		 c->close_reason ? c->close_reason : "closed");
	free(c->close_reason);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}
