/*
 * ctl_status - "hapostctl status [--json]", "promote [--force]" and
 * "demote": the commands that talk to the cluster process's control
 * socket
 *
 * Sends "status" or "status json" to RUN_DIR/control.sock, the socket of
 * the cluster process, and prints the report that follows the header
 * line. The OCF agent calls this from its monitor action, so the exit
 * status carries the result: 0 when this node is healthy, 1 when it is
 * not, when its first checks have not finished yet (the report shows "not
 * checked yet", never unhealthy) or when the answer is missing or
 * invalid, 2 on a usage error, 3
 * when hapostd is not running (no socket, or a socket no process listens on,
 * and no live master in RUN_DIR/hapostd.pid). When the master runs but
 * its socket does not answer (the cluster process is restarting), the
 * status is 1, not 3. The whole exchange is bounded by STATUS_TIMEOUT.
 *
 * promote and demote send "promote", "promote force" or "demote" and
 * print the one-line answer: the text after "+OK" on stdout with exit
 * status 0, or the reason after "-ERR" on stderr with exit status 1 (also
 * when hapostd does not run). The cluster process waits for the master
 * up to shutdown_timeout + 15 s (a demotion lets sessions end first), so
 * hapostctl waits up to shutdown_timeout + ROLE_WAIT_MARGIN seconds.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "control.h"
#include "ctl.h"
#include "fsutil.h"

#define STATUS_TIMEOUT_MS 10000
#define STATUS_RESPONSE_MAX (1 << 20)
/* Beyond shutdown_timeout: the cluster process's own margin (15 s),
 * its client timeout (5 s) and some slack. */
#define ROLE_WAIT_MARGIN 30

/* Returns the pid of a live master from RUN_DIR/hapostd.pid, or 0. */
static long
live_master_pid(const struct cfg *cfg)
{
	struct buf b = BUF_INIT;
	char path[4096];
	long pid = 0;

	snprintf(path, sizeof(path), "%s/hapostd.pid", cfg->run_dir);
	if (read_file(path, &b, 64) == 0 &&
	    sscanf(buf_cstr(&b), "%ld", &pid) == 1 && pid > 0 &&
	    (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
		buf_free(&b);
		return pid;
	}
	buf_free(&b);
	return 0;
}

static int
not_answering(const struct cfg *cfg, const char *path, int err)
{
	long master = live_master_pid(cfg);

	if (master > 0)
		return ctl_fail("status",
				"hapostd runs (pid %ld) but its control "
				"socket %s does not answer: %s",
				master, path, strerror(err));
	fprintf(stderr, "hapostctl: status: hapostd is not running (%s: %s)\n",
		path, strerror(err));
	return CTL_NOT_RUNNING;
}

static long
ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (deadline->tv_sec - now.tv_sec) * 1000 +
	       (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* Reads until EOF into out. Returns 0, or -1 with errno set. */
static int
read_all(int fd, struct buf *out, const struct timespec *deadline)
{
	char chunk[4096];

	for (;;) {
		struct pollfd pfd = {fd, POLLIN, 0};
		long left = ms_left(deadline);
		ssize_t n;

		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (poll(&pfd, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			return 0;
		if (out->len + (size_t)n > STATUS_RESPONSE_MAX) {
			errno = EFBIG;
			return -1;
		}
		buf_append(out, chunk, (size_t)n);
	}
}

/* Connects to path; returns the fd, or -1 with errno set. */
static int
connect_control(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static int
exchange(const struct cfg *cfg, const char *path, bool json)
{
	const char *request = json ? "status json\n" : "status\n";
	struct buf resp = BUF_INIT;
	struct timespec deadline;
	char reason[256];
	const char *text;
	char *lf;
	enum health_state health;
	int fd, ret;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += STATUS_TIMEOUT_MS / 1000;
	fd = connect_control(path);
	if (fd < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			return not_answering(cfg, path, errno);
		return ctl_fail("status", "connecting to %s failed: %s", path,
				strerror(errno));
	}
	if (write_full(fd, request, strlen(request)) < 0 ||
	    read_all(fd, &resp, &deadline) < 0) {
		ret =
		    ctl_fail("status", "reading the answer from %s failed: %s",
			     path, strerror(errno));
		goto out;
	}
	text = buf_cstr(&resp);
	lf = memchr(text, '\n', resp.len);
	if (resp.len == 0 || lf == NULL) {
		ret = ctl_fail("status", "%s closed without a complete answer",
			       path);
		goto out;
	}
	*lf = '\0';
	if (control_parse_response(text, &health, reason, sizeof(reason)) < 0) {
		ret = ctl_fail("status", "%s", reason);
		goto out;
	}
	fwrite(lf + 1, 1, resp.len - (size_t)(lf + 1 - text), stdout);
	if (fflush(stdout) != 0) {
		ret = ctl_fail("status", "writing the report failed: %s",
			       strerror(errno));
		goto out;
	}
	ret = health == HEALTH_OK ? CTL_OK : CTL_FAILED;
out:
	close(fd);
	buf_free(&resp);
	return ret;
}

/* Sends request, waits up to seconds and prints the response line. */
static int
action_exchange(const char *what, const char *path, const char *request,
		unsigned seconds)
{
	struct buf resp = BUF_INIT;
	struct timespec deadline;
	char text[512];
	char *lf;
	int fd, ret;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += seconds;
	fd = connect_control(path);
	if (fd < 0) {
		if (errno == ENOENT || errno == ECONNREFUSED)
			return ctl_fail(what,
					"hapostd is not running or its "
					"cluster process is restarting "
					"(%s: %s)",
					path, strerror(errno));
		return ctl_fail(what, "connecting to %s failed: %s", path,
				strerror(errno));
	}
	if (write_full(fd, request, strlen(request)) < 0 ||
	    read_all(fd, &resp, &deadline) < 0) {
		ret = ctl_fail(what, "reading the answer from %s failed: %s",
			       path, strerror(errno));
		goto out;
	}
	lf = memchr(buf_cstr(&resp), '\n', resp.len);
	if (lf == NULL) {
		ret =
		    ctl_fail(what, "%s closed without a complete answer", path);
		goto out;
	}
	*lf = '\0';
	if (control_parse_action_reply(buf_cstr(&resp), text, sizeof(text)) <
	    0) {
		ret = ctl_fail(what, "%s", text);
		goto out;
	}
	printf("%s\n", text);
	ret = fflush(stdout) == 0 ? CTL_OK
				  : ctl_fail(what,
					     "writing the answer "
					     "failed: %s",
					     strerror(errno));
out:
	close(fd);
	buf_free(&resp);
	return ret;
}

int
ctl_role_main(struct cfg *cfg, int argc, char **argv)
{
	bool promote = strcmp(argv[0], "promote") == 0;
	bool force = false;
	char path[4096], shown[128];

	for (int i = 1; i < argc; i++) {
		if (promote && strcmp(argv[i], "--force") == 0)
			force = true;
		else
			return ctl_usage_error(
			    "%s: unknown argument %s", argv[0],
			    ctl_printable(shown, sizeof(shown), argv[i]));
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(path, sizeof(path), "%s/%s", cfg->run_dir,
		 CONTROL_SOCKET_NAME);
	return action_exchange(argv[0], path,
			       !promote ? "demote\n"
			       : force	? "promote force\n"
					: "promote\n",
			       cfg->shutdown_timeout + ROLE_WAIT_MARGIN);
}

int
ctl_status_main(struct cfg *cfg, int argc, char **argv)
{
	char path[4096], shown[128];
	bool json = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else
			return ctl_usage_error(
			    "status: unknown argument %s",
			    ctl_printable(shown, sizeof(shown), argv[i]));
	}
	signal(SIGPIPE, SIG_IGN);
	snprintf(path, sizeof(path), "%s/%s", cfg->run_dir,
		 CONTROL_SOCKET_NAME);
	return exchange(cfg, path, json);
}
