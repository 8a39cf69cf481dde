/*
 * repl_local - the client side of RUN_DIR/repl.sock: connect, send with a
 * deadline, read one reply frame
 *
 * The socket stays blocking, and poll(2) bounds every wait by the
 * caller's deadline. send() uses MSG_NOSIGNAL, so a replicator that went
 * away gives EPIPE rather than a signal.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "repl_local.h"
#include "repl_wire.h"

double
repl_local_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
repl_local_connect(const char *run_dir, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	int fd, n;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", run_dir,
		     REPL_SOCKET_NAME);
	if (n < 0 || (size_t)n >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s/%s", run_dir,
			 REPL_SOCKET_NAME);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		snprintf(err, errlen, "cannot connect to %s: %s", sun.sun_path,
			 strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Waits until fd is ready for events or deadline passes. */
static int
wait_fd(int fd, short events, double deadline, char *err, size_t errlen)
{
	struct pollfd p = {.fd = fd, .events = events};
	double left;
	int r;

	for (;;) {
		left = deadline - repl_local_now();
		if (left <= 0) {
			snprintf(err, errlen, "replicator timed out");
			return -1;
		}
		r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
	}
}

int
repl_local_send(int fd, const void *data, size_t len, double deadline,
		char *err, size_t errlen)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		if (wait_fd(fd, POLLOUT, deadline, err, errlen) < 0)
			return -1;
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(err, errlen, "send to the replicator: %s",
				 strerror(errno));
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
repl_local_read_reply(int fd, struct buf *reply, double deadline, char *err,
		      size_t errlen)
{
	struct buf in = BUF_INIT;
	const void *body;
	size_t body_len;
	uint8_t type;
	ssize_t used, n;
	int ret = -1;

	for (;;) {
		used =
		    repl_frame_next(in.data, in.len, &type, &body, &body_len);
		if (used < 0 ||
		    (used > 0 && (type != REPL_LOCAL_REPLY ||
				  body_len > REPL_LOCAL_REPLY_MAX))) {
			snprintf(err, errlen,
				 "invalid reply from the "
				 "replicator");
			break;
		}
		if (used > 0) {
			buf_append(reply, body, body_len);
			ret = 0;
			break;
		}
		if (in.len > REPL_LOCAL_REPLY_MAX + 16) {
			snprintf(err, errlen,
				 "reply from the replicator is "
				 "too long");
			break;
		}
		if (wait_fd(fd, POLLIN, deadline, err, errlen) < 0)
			break;
		buf_reserve(&in, 4096);
		n = recv(fd, in.data + in.len, 4096, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			snprintf(err, errlen, "receive from the replicator: %s",
				 strerror(errno));
			break;
		}
		if (n == 0) {
			snprintf(err, errlen,
				 "the replicator closed the "
				 "connection");
			break;
		}
		in.len += (size_t)n;
	}
	buf_free(&in);
	return ret;
}
