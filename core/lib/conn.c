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
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "conn_private.h"
#include "log.h"
#include "xalloc.h"

#define CONN_READ_CHUNK 16384
#define CONN_LINGER 5.0
/* Emptied buffers up to this size are kept for the next use. */
#define CONN_KEEP_BUFFER 4096
/* Input beyond this is not read until the protocol consumes some. */
#define CONN_INPUT_MAX (1024 * 1024)

static void conn_finish(struct conn *c);

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

static void
conn_update_write_watcher(struct conn *c)
{
	if (c->dead)
		return;
	if (c->out.len > 0 && !ev_is_active(&c->wio))
		ev_io_start(c->loop, &c->wio);
	else if (c->out.len == 0 && ev_is_active(&c->wio))
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

static void
conn_flush(struct conn *c)
{
	while (c->out.len > 0) {
		ssize_t n = send(c->fd, c->out.data, c->out.len,
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
		shutdown(c->fd, SHUT_WR);
		conn_kill(c, NULL);
		return;
	}
	conn_call(c, c->ops->drained);
}

static void
conn_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	ssize_t n;

	if (c->closing || c->read_paused)
		return;
	if (c->in.len >= CONN_INPUT_MAX) {
		/* Protocols bound their lines and literals, so this is a
		 * protocol that stopped consuming without pausing. */
		conn_kill(c, "input buffer overflow");
		return;
	}
	/* Read into a buffer shared by all conns of the process, so an
	 * idle session holds no read buffer of its own. */
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
	buf_append(&c->in, read_chunk, (size_t)n);
	ev_timer_again(loop, &c->idle);
	conn_call(c, c->ops->input);
	if (!c->dead)
		buf_trim(&c->in);
}

static void
conn_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	conn_flush(w->data);
}

static void
conn_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct conn *c = w->data;

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
	if (!c->closing && !c->read_paused && c->in.len > 0)
		conn_call(c, c->ops->input);
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
conn_set_idle_timeout(struct conn *c, double seconds)
{
	c->idle_timeout = seconds;
	c->idle.repeat = seconds;
	if (!c->dead && !c->closing)
		ev_timer_again(c->loop, &c->idle);
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
	if (!c->dead)
		ev_io_stop(c->loop, &c->rio);
}

void
conn_resume_read(struct conn *c)
{
	if (c->dead || c->closing)
		return;
	c->read_paused = false;
	ev_io_start(c->loop, &c->rio);
	if (c->in.len > 0)
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
