/*
 * control - the control socket's request parser and server
 *
 * The protocol is described in control.h. Each client has a bounded input
 * buffer, a response buffer and one timer covering the whole exchange
 * (for an action, the bound its owner gives plus CONTROL_TIMEOUT). An
 * action's answer finds its client by request id, so an answer for a
 * client that has gone is dropped.
 * After the response the server shuts down its side and discards input
 * (up to DRAIN_MAX bytes) until the client closes. Closing with unread
 * input makes the kernel reset the connection, and the client could lose
 * the response. When accept() fails for lack of file
 * descriptors, the server stops accepting for a second instead of
 * spinning on the ready socket. Errors with one client end that client
 * only; the server never exits on them.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "log.h"
#include "xalloc.h"

#define ACCEPT_PAUSE 1.0
#define DRAIN_MAX 65536

struct control_client {
	struct control_server *server;
	int fd;
	uint64_t id;	/* of its action; 0 for none */
	bool in_action; /* the action callback runs */
	bool answered;	/* out holds the action's answer */
	struct buf in;
	struct buf out;
	size_t sent;
	size_t drained; /* bytes discarded after the response */
	ev_io io;
	ev_timer timeout;
	struct control_client *next;
};

struct control_server {
	struct ev_loop *loop;
	char *path;
	int fd;
	dev_t dev;
	ino_t ino;
	ev_io accept_io;
	ev_timer accept_pause;
	control_render_fn render;
	control_action_fn action;
	void *arg;
	struct control_client *clients;
	unsigned nclients;
	uint64_t next_id;
};

static bool
is_space(char c)
{
	return c == ' ' || c == '\t';
}

static const struct {
	const char *line;
	enum control_command cmd;
} commands[] = {
    {"status", CONTROL_STATUS_TEXT}, {"status json", CONTROL_STATUS_JSON},
    {"promote", CONTROL_PROMOTE},    {"promote force", CONTROL_PROMOTE_FORCE},
    {"demote", CONTROL_DEMOTE},	     {"announce", CONTROL_ANNOUNCE},
};

#define COMMAND_LIST                                                           \
	"status, status json, promote, promote force, demote or announce"

const char *
control_command_name(enum control_command cmd)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (commands[i].cmd == cmd)
			return commands[i].line;
	return "unknown";
}

/* Returns true when the n words match the command line cmd. */
static bool
words_match(const char *const *words, const size_t *lens, size_t n,
	    const char *cmd)
{
	for (size_t i = 0; i < n; i++) {
		size_t want;

		while (*cmd == ' ')
			cmd++;
		want = strcspn(cmd, " ");
		if (want != lens[i] || strncasecmp(words[i], cmd, want) != 0)
			return false;
		cmd += want;
	}
	while (*cmd == ' ')
		cmd++;
	return *cmd == '\0';
}

int
control_parse_request(const char *line, size_t len, enum control_command *cmd,
		      char *err, size_t errlen)
{
	const char *words[3];
	size_t lens[3], n = 0, i = 0;

	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (memchr(line, '\0', len) != NULL) {
		snprintf(err, errlen, "invalid request: NUL byte");
		return -1;
	}
	while (i < len) {
		size_t start;

		while (i < len && is_space(line[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && !is_space(line[i]))
			i++;
		if (n == 3) {
			snprintf(err, errlen, "too many words");
			return -1;
		}
		words[n] = line + start;
		lens[n] = i - start;
		n++;
	}
	if (n == 0) {
		snprintf(err, errlen, "empty request: send " COMMAND_LIST);
		return -1;
	}
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (words_match(words, lens, n, commands[k].line)) {
			*cmd = commands[k].cmd;
			return 0;
		}
	}
	if (lens[0] == 6 && strncasecmp(words[0], "status", 6) == 0) {
		snprintf(err, errlen,
			 "invalid argument: status takes only json");
		return -1;
	}
	if (lens[0] == 7 && strncasecmp(words[0], "promote", 7) == 0) {
		snprintf(err, errlen,
			 "invalid argument: promote takes only force");
		return -1;
	}
	if (n > 1 &&
	    ((lens[0] == 6 && strncasecmp(words[0], "demote", 6) == 0) ||
	     (lens[0] == 8 && strncasecmp(words[0], "announce", 8) == 0))) {
		snprintf(err, errlen, "invalid argument: %.*s takes none",
			 (int)lens[0], words[0]);
		return -1;
	}
	snprintf(err, errlen, "unknown command: send " COMMAND_LIST);
	return -1;
}

int
control_parse_response(const char *line, enum health_state *health, char *err,
		       size_t errlen)
{
	if (strcmp(line, CONTROL_HEALTHY) == 0) {
		*health = HEALTH_OK;
		return 0;
	}
	if (strcmp(line, CONTROL_UNHEALTHY) == 0) {
		*health = HEALTH_FAILED;
		return 0;
	}
	if (strcmp(line, CONTROL_UNCHECKED) == 0) {
		*health = HEALTH_UNCHECKED;
		return 0;
	}
	if (strncmp(line, "-ERR ", 5) == 0 && line[5] != '\0') {
		log_printable(err, errlen, line + 5, strlen(line + 5));
		return -1;
	}
	snprintf(err, errlen, "invalid response from the control socket");
	return -1;
}

int
control_parse_action_reply(const char *line, char *text, size_t textlen)
{
	if (strncmp(line, "+OK", 3) == 0 &&
	    (line[3] == '\0' || line[3] == ' ')) {
		const char *rest = line[3] == ' ' ? line + 4 : line + 3;

		log_printable(text, textlen, rest, strlen(rest));
		return 0;
	}
	if (strncmp(line, "-ERR ", 5) == 0 && line[5] != '\0') {
		log_printable(text, textlen, line + 5, strlen(line + 5));
		return -1;
	}
	snprintf(text, textlen, "invalid response from the control socket");
	return -1;
}

static void
client_close(struct control_client *c)
{
	struct control_server *s = c->server;
	struct control_client **pp;

	for (pp = &s->clients; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	s->nclients--;
	ev_io_stop(s->loop, &c->io);
	ev_timer_stop(s->loop, &c->timeout);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c);
}

/* Discards what the client still sends after the response. */
static void
client_drain_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control_client *c = w->data;
	char scratch[4096];
	ssize_t n = recv(c->fd, scratch, sizeof(scratch), 0);

	if (n < 0 &&
	    (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (n > 0) {
		c->drained += (size_t)n;
		if (c->drained <= DRAIN_MAX)
			return;
	}
	client_close(c);
}

static void
client_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control_client *c = w->data;

	while (c->sent < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->sent,
				 c->out.len - c->sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n < 0) {
			log_debug("control: send failed: %m");
			client_close(c);
			return;
		}
		c->sent += (size_t)n;
	}
	shutdown(c->fd, SHUT_WR);
	ev_io_stop(loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_READ);
	ev_set_cb(&c->io, client_drain_cb);
	ev_io_start(loop, &c->io);
}

/* Switches the client from reading to writing out. */
static void
client_respond(struct control_client *c)
{
	struct control_server *s = c->server;

	ev_io_stop(s->loop, &c->io);
	ev_io_set(&c->io, c->fd, EV_WRITE);
	ev_set_cb(&c->io, client_write_cb);
	ev_io_start(s->loop, &c->io);
	client_write_cb(s->loop, &c->io, EV_WRITE);
}

static void
client_error(struct control_client *c, const char *reason)
{
	char shown[CONTROL_REQUEST_MAX + 4];

	log_info("control request rejected: %s request=\"%s\"", reason,
		 log_printable(shown, sizeof(shown), c->in.data, c->in.len));
	buf_reset(&c->out);
	buf_printf(&c->out, "-ERR %s\n", reason);
	client_respond(c);
}

/* Runs an action; its answer comes now or later through control_reply(). */
static void
client_start_action(struct control_client *c, enum control_command cmd)
{
	struct control_server *s = c->server;
	double bound;

	if (s->action == NULL) {
		client_error(c, "not supported by this server");
		return;
	}
	c->id = ++s->next_id;
	/* Nothing more is read from the client while it waits. */
	ev_io_stop(s->loop, &c->io);
	log_debug("control: %s started", control_command_name(cmd));
	c->in_action = true;
	bound = s->action(cmd, c->id, s->arg);
	c->in_action = false;
	if (c->answered) {
		client_respond(c);
		return;
	}
	ev_timer_stop(s->loop, &c->timeout);
	ev_timer_set(&c->timeout, bound + CONTROL_TIMEOUT, 0.);
	ev_timer_start(s->loop, &c->timeout);
}

void
control_reply(struct control_server *s, uint64_t id, const char *line)
{
	struct control_client *c;

	for (c = s->clients; c != NULL; c = c->next)
		if (c->id == id && id != 0 && !c->answered)
			break;
	if (c == NULL)
		return;
	buf_reset(&c->out);
	buf_printf(&c->out, "%s\n", line);
	c->answered = true;
	log_debug("control: sent %s", line);
	/* Inside the action callback client_start_action() sends it. */
	if (!c->in_action)
		client_respond(c);
}

static void
client_handle(struct control_client *c, size_t line_len)
{
	struct control_server *s = c->server;
	enum control_command cmd;
	struct buf body = BUF_INIT;
	char err[128];
	const char *header;

	if (control_parse_request(c->in.data, line_len, &cmd, err,
				  sizeof(err)) < 0) {
		c->in.len = line_len;
		client_error(c, err);
		return;
	}
	if (cmd != CONTROL_STATUS_TEXT && cmd != CONTROL_STATUS_JSON) {
		client_start_action(c, cmd);
		return;
	}
	switch (s->render(cmd, &body, s->arg)) {
	case HEALTH_OK:
		header = CONTROL_HEALTHY;
		break;
	case HEALTH_UNCHECKED:
		header = CONTROL_UNCHECKED;
		break;
	default:
		header = CONTROL_UNHEALTHY;
		break;
	}
	buf_reset(&c->out);
	buf_printf(&c->out, "%s\n", header);
	buf_append(&c->out, body.data, body.len);
	buf_free(&body);
	log_debug("control: served %s", control_command_name(cmd));
	client_respond(c);
}

static void
client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct control_client *c = w->data;
	char chunk[CONTROL_REQUEST_MAX + 1];
	ssize_t n;
	long lf;

	n = recv(c->fd, chunk, sizeof(chunk), 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		log_debug("control: recv failed: %m");
		client_close(c);
		return;
	}
	if (n == 0) {
		/* A client may half-close instead of sending the LF. */
		if (c->in.len == 0) {
			client_close(c);
			return;
		}
		client_handle(c, c->in.len);
		return;
	}
	buf_append(&c->in, chunk, (size_t)n);
	lf = buf_find_lf(&c->in, 0);
	if (lf >= 0 && (size_t)lf <= CONTROL_REQUEST_MAX) {
		client_handle(c, (size_t)lf);
		return;
	}
	if (c->in.len > CONTROL_REQUEST_MAX) {
		c->in.len = CONTROL_REQUEST_MAX;
		client_error(c, "request too long");
	}
}

static void
client_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct control_client *c = w->data;

	log_info("control client timed out after %.0f s", CONTROL_TIMEOUT);
	client_close(c);
}

static void
accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct control_server *s = w->data;

	ev_io_start(loop, &s->accept_io);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	static const char busy[] = "-ERR busy: too many control clients\n";
	struct control_server *s = w->data;
	struct control_client *c;
	int fd;

	for (;;) {
		fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warning("accept(%s) failed: %m; pausing "
					    "for %.0f s",
					    s->path, ACCEPT_PAUSE);
				ev_io_stop(loop, &s->accept_io);
				ev_timer_set(&s->accept_pause, ACCEPT_PAUSE,
					     0.);
				ev_timer_start(loop, &s->accept_pause);
			} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
				log_error("accept(%s) failed: %m", s->path);
			}
			return;
		}
		if (s->nclients >= CONTROL_CLIENTS_MAX) {
			(void)!send(fd, busy, sizeof(busy) - 1,
				    MSG_NOSIGNAL | MSG_DONTWAIT);
			close(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (c == NULL) {
			close(fd);
			continue;
		}
		c->server = s;
		c->fd = fd;
		buf_init(&c->in);
		buf_init(&c->out);
		ev_io_init(&c->io, client_read_cb, fd, EV_READ);
		ev_timer_init(&c->timeout, client_timeout_cb, CONTROL_TIMEOUT,
			      0.);
		c->io.data = c;
		c->timeout.data = c;
		ev_io_start(loop, &c->io);
		ev_timer_start(loop, &c->timeout);
		c->next = s->clients;
		s->clients = c;
		s->nclients++;
	}
}

/* Removes a socket left at path by an earlier run; fails on other files. */
static int
remove_stale_socket(const char *path, char *err, size_t errlen)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "lstat(%s) failed: %s", path,
			 strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -1;
	}
	if (unlink(path) < 0) {
		snprintf(err, errlen, "unlink(%s) failed: %s", path,
			 strerror(errno));
		return -1;
	}
	return 0;
}

struct control_server *
control_server_open(struct ev_loop *loop, const char *path,
		    control_render_fn render, control_action_fn action,
		    void *arg, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct control_server *s;
	struct stat st;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path %s is longer than %zu bytes",
			 path, sizeof(sa.sun_path) - 1);
		return NULL;
	}
	strcpy(sa.sun_path, path);
	if (remove_stale_socket(path, err, errlen) < 0)
		return NULL;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket(AF_UNIX) failed: %s",
			 strerror(errno));
		return NULL;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0660) < 0 || listen(fd, 16) < 0 ||
	    stat(path, &st) < 0) {
		snprintf(err, errlen, "binding %s failed: %s", path,
			 strerror(errno));
		close(fd);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->loop = loop;
	s->path = xstrdup(path);
	s->fd = fd;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->render = render;
	s->action = action;
	s->arg = arg;
	ev_io_init(&s->accept_io, accept_cb, fd, EV_READ);
	ev_init(&s->accept_pause, accept_pause_cb);
	s->accept_io.data = s;
	s->accept_pause.data = s;
	ev_io_start(loop, &s->accept_io);
	return s;
}

void
control_server_close(struct control_server **sp)
{
	struct control_server *s = *sp;
	struct stat st;

	if (s == NULL)
		return;
	while (s->clients != NULL)
		client_close(s->clients);
	ev_io_stop(s->loop, &s->accept_io);
	ev_timer_stop(s->loop, &s->accept_pause);
	close(s->fd);
	/* A newer process may have bound the path already; keep its file. */
	if (stat(s->path, &st) == 0 && st.st_dev == s->dev &&
	    st.st_ino == s->ino)
		unlink(s->path);
	free(s->path);
	free(s);
	*sp = NULL;
}
