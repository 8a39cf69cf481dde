/*
 * listener_probe - non-blocking greeting check of one listener
 *
 * States: idle, connecting (waiting for the socket to become writable),
 * reading (waiting for the first line) and quitting (passed, waiting for
 * the server to close after the quit command). One timer covers all.
 * The first line may arrive in pieces. The probe reads at most
 * PROBE_LINE_MAX bytes and judges what it has when a LF arrives, the
 * buffer fills or the peer closes.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cfg.h"
#include "listener_probe.h"
#include "xalloc.h"

#define PROBE_LINE_MAX 512
#define PROBE_DRAIN_MAX 4096

struct listener_probe {
	struct ev_loop *loop;
	char *service;
	char *address;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int fd;
	double timeout; /* seconds */
	bool running;
	bool quitting; /* passed; waiting for the server to close */
	size_t drained;
	bool checked;
	bool healthy;
	char error[160];
	char line[PROBE_LINE_MAX];
	size_t len;
	ev_io io;
	ev_timer timer;
};

/*
 * The worker's answer when sessions_per_ip is reached for the probe's
 * own address (loopback, shared with local clients such as webmail): the
 * listener and its worker are alive, only saturated, so it counts as a
 * working listener rather than a failure Pacemaker would act on.
 */
#define BUSY_TEXT "too many connections from your IP"

bool
greeting_ok(const char *service, const char *line, size_t len)
{
	const char *want;
	size_t wlen;

	if (len >= sizeof(BUSY_TEXT) - 1 &&
	    memmem(line, len, BUSY_TEXT, sizeof(BUSY_TEXT) - 1) != NULL &&
	    ((len >= 4 && memcmp(line, "421 ", 4) == 0) ||
	     (len >= 16 && memcmp(line, "-ERR [SYS/TEMP] ", 16) == 0) ||
	     (len >= 6 && memcmp(line, "* BYE ", 6) == 0)))
		return true;

	if (strcmp(service, "smtp") == 0 || strcmp(service, "submission") == 0)
		want = "220";
	else if (strcmp(service, "pop3") == 0)
		want = "+OK";
	else if (strcmp(service, "imap") == 0)
		want = "* OK";
	else
		return false;
	wlen = strlen(want);
	/* "220 host" or the first line of a multi-line "220-host". */
	if (len < wlen || memcmp(line, want, wlen) != 0)
		return false;
	if (len == wlen)
		return true;
	if (strcmp(want, "220") == 0)
		return line[wlen] == ' ' || line[wlen] == '-' ||
		       line[wlen] == '\r';
	return line[wlen] == ' ' || line[wlen] == '\r';
}

static const char *
quit_command(const char *service)
{
	return strcmp(service, "imap") == 0 ? "hp LOGOUT\r\n" : "QUIT\r\n";
}

static void probe_finish(struct listener_probe *p, bool healthy,
			 const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
probe_close(struct listener_probe *p)
{
	ev_io_stop(p->loop, &p->io);
	ev_timer_stop(p->loop, &p->timer);
	if (p->fd >= 0) {
		close(p->fd);
		p->fd = -1;
	}
	p->running = false;
	p->quitting = false;
}

/* Records the result of a check. */
static void
probe_set_result(struct listener_probe *p, bool healthy, const char *fmt,
		 va_list ap)
{
	p->checked = true;
	p->healthy = healthy;
	p->error[0] = '\0';
	if (fmt != NULL)
		vsnprintf(p->error, sizeof(p->error), fmt, ap);
}

static void
probe_finish(struct listener_probe *p, bool healthy, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	probe_set_result(p, healthy, fmt, ap);
	va_end(ap);
	probe_close(p);
}

/*
 * Reads and discards the reply to the quit command until the server
 * closes. Closing first would reset the connection under the server's
 * reply, and the server would log a read error for each check.
 */
static void
quit_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener_probe *p = w->data;
	char scratch[512];
	ssize_t n = recv(p->fd, scratch, sizeof(scratch), 0);

	if (n < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n > 0) {
		p->drained += (size_t)n;
		if (p->drained <= PROBE_DRAIN_MAX)
			return;
	}
	probe_close(p);
}

/* Passes the check, sends the quit command and waits for the close. */
static void
probe_pass(struct listener_probe *p)
{
	const char *quit = quit_command(p->service);

	p->checked = true;
	p->healthy = true;
	p->error[0] = '\0';
	if (send(p->fd, quit, strlen(quit), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		probe_close(p);
		return;
	}
	p->quitting = true;
	p->drained = 0;
	ev_io_stop(p->loop, &p->io);
	ev_set_cb(&p->io, quit_read_cb);
	ev_io_start(p->loop, &p->io);
}

static void
judge_line(struct listener_probe *p)
{
	size_t len = p->len;
	char shown[64];

	for (size_t i = 0; i < p->len; i++) {
		if (p->line[i] == '\n') {
			len = i;
			break;
		}
	}
	if (greeting_ok(p->service, p->line, len)) {
		probe_pass(p);
		return;
	}
	/* The greeting is server text, but keep control bytes out. */
	for (size_t i = 0; i < len && i + 1 < sizeof(shown); i++)
		shown[i] =
		    (p->line[i] >= ' ' && p->line[i] <= '~') ? p->line[i] : '?';
	shown[len < sizeof(shown) - 1 ? len : sizeof(shown) - 1] = '\0';
	probe_finish(p, false, "unexpected greeting \"%s\"", shown);
}

static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener_probe *p = w->data;
	ssize_t n;

	n = recv(p->fd, p->line + p->len, sizeof(p->line) - p->len, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		probe_finish(p, false, "recv failed: %s", strerror(errno));
		return;
	}
	if (n == 0) {
		if (p->len == 0)
			probe_finish(p, false, "closed without a greeting");
		else
			judge_line(p);
		return;
	}
	p->len += (size_t)n;
	if (memchr(p->line, '\n', p->len) != NULL || p->len == sizeof(p->line))
		judge_line(p);
}

static void
connect_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener_probe *p = w->data;
	int soerr = 0;
	socklen_t slen = sizeof(soerr);

	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) < 0)
		soerr = errno;
	if (soerr != 0) {
		probe_finish(p, false, "connect failed: %s", strerror(soerr));
		return;
	}
	ev_io_stop(loop, &p->io);
	ev_io_set(&p->io, p->fd, EV_READ);
	ev_set_cb(&p->io, read_cb);
	ev_io_start(loop, &p->io);
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct listener_probe *p = w->data;

	/* After a passed check, the timer only bounds the wait for close. */
	if (p->quitting)
		probe_close(p);
	else
		probe_finish(p, false, "no greeting within %.1f s", p->timeout);
}

/* Maps a wildcard address to the loopback address of its family. */
static void
wildcard_to_loopback(struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (sin->sin_addr.s_addr == htonl(INADDR_ANY))
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (ss->ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))
			sin6->sin6_addr = in6addr_loopback;
	}
}

struct listener_probe *
listener_probe_new(struct ev_loop *loop, const char *service,
		   const char *address, char *err, size_t errlen)
{
	struct listener_probe *p;
	struct listen_addr la;

	if (cfg_parse_addr(address, &la, err, errlen) < 0)
		return NULL;
	p = xcalloc(1, sizeof(*p));
	p->loop = loop;
	p->service = xstrdup(service);
	p->address = la.text;
	p->ss = la.ss;
	p->sslen = la.sslen;
	wildcard_to_loopback(&p->ss);
	p->fd = -1;
	snprintf(p->error, sizeof(p->error), "not checked yet");
	ev_init(&p->io, connect_cb);
	ev_init(&p->timer, timeout_cb);
	p->io.data = p;
	p->timer.data = p;
	return p;
}

void
listener_probe_start(struct listener_probe *p, double timeout)
{
	int fd;

	if (p->running)
		return;
	p->len = 0;
	fd = socket(p->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		probe_finish(p, false, "socket failed: %s", strerror(errno));
		return;
	}
	p->fd = fd;
	p->timeout = timeout;
	p->running = true;
	ev_timer_set(&p->timer, timeout, 0.);
	ev_timer_start(p->loop, &p->timer);
	if (connect(fd, (struct sockaddr *)&p->ss, p->sslen) < 0 &&
	    errno != EINPROGRESS) {
		probe_finish(p, false, "connect failed: %s", strerror(errno));
		return;
	}
	/* Connected at once or in progress: writable means settled. */
	ev_io_set(&p->io, fd, EV_WRITE);
	ev_set_cb(&p->io, connect_cb);
	ev_io_start(p->loop, &p->io);
}

bool
listener_probe_result(const struct listener_probe *p, const char **error)
{
	*error = p->healthy ? NULL : p->error;
	return p->healthy;
}

bool
listener_probe_checked(const struct listener_probe *p)
{
	return p->checked;
}

void
listener_probe_free(struct listener_probe **pp)
{
	struct listener_probe *p = *pp;

	if (p == NULL)
		return;
	probe_close(p);
	free(p->service);
	free(p->address);
	free(p);
	*pp = NULL;
}
