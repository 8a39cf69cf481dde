/*
 * repl_state - the replicator's durable node state and the generation
 * announce
 *
 * DATA_DIR/generation contains the data generation as a decimal number,
 * and DATA_DIR/replication/state contains "complete" or "incomplete".
 * Both are replaced with write_file_atomic(), so a crash leaves the old
 * or the new content. A missing generation file reads as 0 and a missing state
 * file as incomplete: a node never assumes its data is whole.
 *
 * The announce asks the cluster process (RUN_DIR/control.sock, line
 * "announce") to spread a new generation before the first change after
 * a bump is acknowledged. It runs on the event loop: commits wait in
 * the held queue meanwhile, and after "+OK announced", "-ERR ...", an
 * I/O error or ANNOUNCE_TIMEOUT seconds the held commits go on.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "replicator_int.h"
#include "xalloc.h"

#define ANNOUNCE_TIMEOUT 2.0
#define ANNOUNCE_REQUEST "announce\n"
#define ANNOUNCE_OK "+OK announced"
#define STATE_COMPLETE "complete\n"
#define STATE_INCOMPLETE "incomplete\n"

struct announce {
	struct replicator *rp;
	int fd;
	ev_io io;
	ev_timer timer;
	size_t sent;
	char reply[256];
	size_t got;
	uint64_t generation;
};

static char *
data_path(struct replicator *rp, const char *rel)
{
	return xasprintf("%s/%s", rp->cfg->data_dir, rel);
}

int
rp_state_load(struct replicator *rp, char *err, size_t errlen)
{
	struct buf text = BUF_INIT;
	char *path, *end;
	unsigned long long v;
	int ret = -1;

	path = data_path(rp, "generation");
	rp->generation = 0;
	if (read_file(path, &text, 64) < 0) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
	} else {
		errno = 0;
		v = strtoull(buf_cstr(&text), &end, 10);
		while (*end == '\n' || *end == ' ')
			end++;
		if (errno != 0 || end == text.data || *end != '\0') {
			snprintf(err, errlen, "%s: not a decimal number", path);
			goto out;
		}
		rp->generation = v;
	}
	free(path);
	buf_reset(&text);
	path = data_path(rp, "replication/state");
	rp->complete = false;
	if (read_file(path, &text, 64) < 0) {
		if (errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
	} else {
		rp->complete = strcmp(buf_cstr(&text), STATE_COMPLETE) == 0;
	}
	ret = 0;
out:
	free(path);
	buf_free(&text);
	return ret;
}

int
rp_write_generation(struct replicator *rp, uint64_t generation)
{
	char *path = data_path(rp, "generation");
	char text[32];
	int n, ret;

	n = snprintf(text, sizeof(text), "%" PRIu64 "\n", generation);
	ret = write_file_atomic(path, text, (size_t)n, 0644);
	if (ret < 0) {
		log_error("cannot write %s: %s", path, strerror(errno));
		snprintf(rp->last_error, sizeof(rp->last_error),
			 "cannot write %s: %s", path, strerror(errno));
	} else {
		rp->generation = generation;
	}
	free(path);
	return ret;
}

int
rp_write_complete(struct replicator *rp, bool complete)
{
	char *dir = data_path(rp, "replication");
	char *path = data_path(rp, "replication/state");
	const char *text = complete ? STATE_COMPLETE : STATE_INCOMPLETE;
	int ret = -1;

	if (mkdir_p(dir, 0700) < 0 ||
	    write_file_atomic(path, text, strlen(text), 0600) < 0) {
		log_error("cannot write %s: %s", path, strerror(errno));
		snprintf(rp->last_error, sizeof(rp->last_error),
			 "cannot write %s: %s", path, strerror(errno));
	} else {
		rp->complete = complete;
		ret = 0;
	}
	free(dir);
	free(path);
	return ret;
}

void
rp_announce_free(struct replicator *rp)
{
	struct announce *a = rp->announce;

	if (a == NULL)
		return;
	ev_io_stop(rp->loop, &a->io);
	ev_timer_stop(rp->loop, &a->timer);
	if (a->fd >= 0)
		close(a->fd);
	free(a);
	rp->announce = NULL;
}

static void
announce_finish(struct replicator *rp, const char *error)
{
	uint64_t generation = rp->announce->generation;

	rp_announce_free(rp);
	if (error == NULL)
		log_info("generation %" PRIu64 " announced", generation);
	else
		log_notice("generation %" PRIu64 " not announced: %s",
			   generation, error);
	rp->announcing = false;
	rp_release_held(rp);
}

static void
announce_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct announce *a = w->data;

	announce_finish(a->rp, "the cluster process did not answer within "
			       "2 s");
}

static void
announce_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct announce *a = w->data;
	char why[300], *lf;
	ssize_t n;

	if (a->sent < strlen(ANNOUNCE_REQUEST)) {
		n = send(a->fd, ANNOUNCE_REQUEST + a->sent,
			 strlen(ANNOUNCE_REQUEST) - a->sent,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			snprintf(why, sizeof(why), "send: %s", strerror(errno));
			announce_finish(a->rp, why);
			return;
		}
		if (n > 0)
			a->sent += (size_t)n;
		if (a->sent < strlen(ANNOUNCE_REQUEST))
			return;
		ev_io_stop(loop, &a->io);
		ev_io_set(&a->io, a->fd, EV_READ);
		ev_io_start(loop, &a->io);
		return;
	}
	n = recv(a->fd, a->reply + a->got, sizeof(a->reply) - 1 - a->got,
		 MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		snprintf(why, sizeof(why), "%s",
			 n == 0 ? "the cluster process closed the connection"
				: strerror(errno));
		announce_finish(a->rp, why);
		return;
	}
	a->got += (size_t)n;
	a->reply[a->got] = '\0';
	lf = strchr(a->reply, '\n');
	if (lf == NULL && a->got < sizeof(a->reply) - 1)
		return;
	if (lf != NULL)
		*lf = '\0';
	if (lf != NULL && lf > a->reply && lf[-1] == '\r')
		lf[-1] = '\0';
	if (strcmp(a->reply, ANNOUNCE_OK) == 0) {
		announce_finish(a->rp, NULL);
		return;
	}
	log_printable(why, sizeof(why), a->reply, strlen(a->reply));
	announce_finish(a->rp, why);
}

/* Starts the announce; commits wait until it finishes. */
static void
announce_start(struct replicator *rp)
{
	struct announce *a;
	struct sockaddr_un sun;
	char why[300];
	int fd;

	rp_announce_free(rp);
	a = xcalloc(1, sizeof(*a));
	a->rp = rp;
	a->fd = -1;
	a->generation = rp->generation;
	rp->announce = a;
	rp->announcing = true;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if ((size_t)snprintf(sun.sun_path, sizeof(sun.sun_path),
			     "%s/control.sock",
			     rp->cfg->run_dir) >= sizeof(sun.sun_path)) {
		announce_finish(rp, "control socket path too long");
		return;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 &&
		       errno != EINPROGRESS && errno != EAGAIN)) {
		snprintf(why, sizeof(why), "cannot connect to %s: %s",
			 sun.sun_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		announce_finish(rp, why);
		return;
	}
	a->fd = fd;
	ev_io_init(&a->io, announce_io_cb, fd, EV_WRITE);
	a->io.data = a;
	ev_io_start(rp->loop, &a->io);
	ev_timer_init(&a->timer, announce_timeout_cb, ANNOUNCE_TIMEOUT, 0);
	a->timer.data = a;
	ev_timer_start(rp->loop, &a->timer);
}

int
rp_bump_generation(struct replicator *rp, const char *why)
{
	if (rp_write_generation(rp, rp->generation + 1) < 0)
		return -1;
	rp->bumped = true;
	log_notice("generation %" PRIu64 ": %s", rp->generation, why);
	announce_start(rp);
	return 0;
}
