/*
 * Unit tests for the control socket: the request and response parsers,
 * and the server on a real unix socket with good, bad, overlong and
 * half-closed requests.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "control.h"

static void
control_parse_accepts_status(void **state)
{
	static const struct {
		const char *line;
		enum control_command cmd;
	} cases[] = {
	    {"status", CONTROL_STATUS_TEXT},
	    {"status\r", CONTROL_STATUS_TEXT},
	    {"  status\t", CONTROL_STATUS_TEXT},
	    {"STATUS", CONTROL_STATUS_TEXT},
	    {"status json", CONTROL_STATUS_JSON},
	    {"status   JSON\r", CONTROL_STATUS_JSON},
	    {"\tstatus json ", CONTROL_STATUS_JSON},
	    {"promote", CONTROL_PROMOTE},
	    {"Promote  FORCE\r", CONTROL_PROMOTE_FORCE},
	    {"demote", CONTROL_DEMOTE},
	    {" announce ", CONTROL_ANNOUNCE},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum control_command cmd = (enum control_command) - 1;
		char err[128] = "";

		if (control_parse_request(cases[i].line, strlen(cases[i].line),
					  &cmd, err, sizeof(err)) != 0)
			fail_msg("case %zu rejected: %s", i, err);
		assert_int_equal(cmd, cases[i].cmd);
	}
}

static void
control_parse_rejects_bad_requests(void **state)
{
	static const struct {
		const char *line;
		const char *expect;
	} cases[] = {
	    {"", "empty request"},
	    {"   \r", "empty request"},
	    {"stat", "unknown command"},
	    {"statusjson", "unknown command"},
	    {"stop", "unknown command"},
	    {"json status", "unknown command"},
	    {"status xml", "invalid argument"},
	    {"status json extra", "invalid argument"},
	    {"status json a b", "too many words"},
	    {"status\r\r", "unknown command"},
	    {"status \x01", "invalid argument"},
	    {"promote now", "promote takes only force"},
	    {"promote force please", "promote takes only force"},
	    {"demote force", "demote takes none"},
	    {"announce 7", "announce takes none"},
	    {"force promote", "unknown command"},
	    {"promoteforce", "unknown command"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum control_command cmd;
		char err[128] = "";

		assert_int_equal(control_parse_request(cases[i].line,
						       strlen(cases[i].line),
						       &cmd, err, sizeof(err)),
				 -1);
		if (strstr(err, cases[i].expect) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err,
				 cases[i].expect);
	}
}

static void
control_parse_rejects_nul_byte(void **state)
{
	enum control_command cmd;
	char err[128] = "";

	assert_int_equal(
	    control_parse_request("status\0json", 11, &cmd, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "NUL"));
}

static void
control_response_header_parsed(void **state)
{
	enum health_state healthy = HEALTH_FAILED;
	char err[128] = "";

	assert_int_equal(
	    control_parse_response("+OK healthy", &healthy, err, sizeof(err)),
	    0);
	assert_int_equal(healthy, HEALTH_OK);
	assert_int_equal(
	    control_parse_response("+OK unhealthy", &healthy, err, sizeof(err)),
	    0);
	assert_int_equal(healthy, HEALTH_FAILED);
	assert_int_equal(
	    control_parse_response("+OK unchecked", &healthy, err, sizeof(err)),
	    0);
	assert_int_equal(healthy, HEALTH_UNCHECKED);
	assert_int_equal(control_parse_response("+OK unchecked ", &healthy, err,
						sizeof(err)),
			 -1);
	assert_int_equal(
	    control_parse_response("-ERR busy", &healthy, err, sizeof(err)),
	    -1);
	assert_string_equal(err, "busy");
	assert_int_equal(control_parse_response("-ERR bad\x1b[0m", &healthy,
						err, sizeof(err)),
			 -1);
	assert_string_equal(err, "bad?[0m");
	assert_int_equal(
	    control_parse_response("-ERR ", &healthy, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid response"));
	assert_int_equal(
	    control_parse_response("+OK", &healthy, err, sizeof(err)), -1);
	assert_int_equal(control_parse_response("HTTP/1.1 200 OK", &healthy,
						err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "invalid response"));
}

static void
control_action_reply_parsed(void **state)
{
	char text[64];

	assert_int_equal(
	    control_parse_action_reply("+OK announced", text, sizeof(text)), 0);
	assert_string_equal(text, "announced");
	assert_int_equal(control_parse_action_reply("+OK", text, sizeof(text)),
			 0);
	assert_string_equal(text, "");
	assert_int_equal(
	    control_parse_action_reply("-ERR timeout", text, sizeof(text)), -1);
	assert_string_equal(text, "timeout");
	assert_int_equal(
	    control_parse_action_reply("+OKAY", text, sizeof(text)), -1);
	assert_non_null(strstr(text, "invalid response"));
	assert_int_equal(
	    control_parse_action_reply("-ERR ", text, sizeof(text)), -1);
	assert_non_null(strstr(text, "invalid response"));
	assert_int_equal(
	    control_parse_action_reply("+OK a\x1b[0m", text, sizeof(text)), 0);
	assert_string_equal(text, "a?[0m");
}

static void
control_command_names_parse_back(void **state)
{
	static const enum control_command all[] = {
	    CONTROL_STATUS_TEXT,   CONTROL_STATUS_JSON, CONTROL_PROMOTE,
	    CONTROL_PROMOTE_FORCE, CONTROL_DEMOTE,	CONTROL_ANNOUNCE,
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const char *name = control_command_name(all[i]);
		enum control_command cmd;
		char err[128] = "";

		if (control_parse_request(name, strlen(name), &cmd, err,
					  sizeof(err)) != 0)
			fail_msg("%s rejected: %s", name, err);
		assert_int_equal(cmd, all[i]);
	}
}

/* A server in a temporary directory and a loop to drive it. */
struct fixture {
	char dir[64];
	char path[128];
	struct ev_loop *loop;
	struct control_server *server;
	unsigned renders;
	bool unchecked; /* render reports HEALTH_UNCHECKED */
	unsigned actions;
	uint64_t deferred_id; /* a promote waiting for its answer */
	uint64_t last_id;
	double bound; /* what action() returns for a deferred one */
};

/* JSON is healthy, text unhealthy, both unchecked when f->unchecked. */
static enum health_state
render(enum control_command cmd, struct buf *body, void *arg)
{
	struct fixture *f = arg;

	f->renders++;
	buf_puts(body, cmd == CONTROL_STATUS_JSON ? "{\"x\":1}\n" : "text\n");
	if (f->unchecked)
		return HEALTH_UNCHECKED;
	return cmd == CONTROL_STATUS_JSON ? HEALTH_OK : HEALTH_FAILED;
}

/*
 * demote answers at once, announce answers at once with an error, and
 * promote is deferred: the test answers it through control_reply().
 */
static double
action(enum control_command cmd, uint64_t id, void *arg)
{
	struct fixture *f = arg;

	f->actions++;
	f->last_id = id;
	switch (cmd) {
	case CONTROL_DEMOTE:
		control_reply(f->server, id, "+OK standby");
		return 0;
	case CONTROL_ANNOUNCE:
		control_reply(f->server, id, "-ERR cluster unavailable");
		return 0;
	default:
		f->deferred_id = id;
		return f->bound;
	}
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256] = "";

	strcpy(f->dir, "/tmp/hapost-test-control-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir,
		 CONTROL_SOCKET_NAME);
	f->loop = ev_loop_new(EVFLAG_AUTO);
	f->bound = 5.0;
	f->server = control_server_open(f->loop, f->path, render, action, f,
					err, sizeof(err));
	if (f->server == NULL)
		fail_msg("%s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	control_server_close(&f->server);
	assert_int_equal(access(f->path, F_OK), -1);
	ev_loop_destroy(f->loop);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int
connect_to(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	strcpy(sa.sun_path, path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Sends request (len bytes), runs the loop and returns all it gets. */
static char *
exchange(struct fixture *f, const char *request, size_t len, bool half_close)
{
	struct buf out = BUF_INIT;
	int fd = connect_to(f->path);
	char *text;

	assert_int_equal(write(fd, request, len), (ssize_t)len);
	if (half_close)
		shutdown(fd, SHUT_WR);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (int rounds = 0; rounds < 1000; rounds++) {
		char chunk[512];
		ssize_t n;

		ev_run(f->loop, EVRUN_NOWAIT);
		n = read(fd, chunk, sizeof(chunk));
		if (n == 0)
			break;
		if (n > 0)
			buf_append(&out, chunk, (size_t)n);
		else if (errno == EAGAIN)
			poll(NULL, 0, 2);
		else
			break;
	}
	close(fd);
	text = strdup(buf_cstr(&out));
	buf_free(&out);
	return text;
}

static void
control_server_answers_status(void **state)
{
	struct fixture *f = *state;
	char *text = exchange(f, "status\n", 7, false);

	assert_string_equal(text, "+OK unhealthy\ntext\n");
	free(text);
	text = exchange(f, "status json\r\n", 13, false);
	assert_string_equal(text, "+OK healthy\n{\"x\":1}\n");
	free(text);
	assert_int_equal(f->renders, 2);
}

static void
control_server_sends_unchecked_header(void **state)
{
	struct fixture *f = *state;
	char *text;

	f->unchecked = true;
	text = exchange(f, "status\n", 7, false);
	assert_string_equal(text, "+OK unchecked\ntext\n");
	free(text);
}

static void
control_server_rejects_unknown_command(void **state)
{
	struct fixture *f = *state;
	char *text = exchange(f, "shutdown now\n", 13, false);

	assert_string_equal(text, "-ERR unknown command: send status, status "
				  "json, promote, promote force, demote or "
				  "announce\n");
	assert_int_equal(f->renders, 0);
	free(text);
}

static void
control_server_rejects_overlong_request(void **state)
{
	struct fixture *f = *state;
	char request[CONTROL_REQUEST_MAX + 50];
	char *text;

	memset(request, 's', sizeof(request));
	text = exchange(f, request, sizeof(request), false);
	assert_string_equal(text, "-ERR request too long\n");
	free(text);
	/* An LF past the limit does not make it acceptable either. */
	request[sizeof(request) - 1] = '\n';
	text = exchange(f, request, sizeof(request), false);
	assert_string_equal(text, "-ERR request too long\n");
	assert_int_equal(f->renders, 0);
	free(text);
}

static void
control_server_accepts_half_close(void **state)
{
	struct fixture *f = *state;
	char *text = exchange(f, "status json", 11, true);

	assert_string_equal(text, "+OK healthy\n{\"x\":1}\n");
	free(text);
}

static void
control_server_closes_empty_client(void **state)
{
	struct fixture *f = *state;
	char *text = exchange(f, "", 0, true);

	assert_string_equal(text, "");
	assert_int_equal(f->renders, 0);
	free(text);
}

static void
control_socket_mode_is_0660(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
}

static void
control_open_replaces_stale_socket(void **state)
{
	struct fixture *f = *state;
	struct control_server *again;
	char err[256] = "";
	char *text;

	/* A second server takes over the path, as after a crash. */
	again = control_server_open(f->loop, f->path, render, action, f, err,
				    sizeof(err));
	assert_non_null(again);
	text = exchange(f, "status\n", 7, false);
	assert_string_equal(text, "+OK unhealthy\ntext\n");
	free(text);
	/* Closing the older server must leave the newer one's file. */
	control_server_close(&f->server);
	assert_int_equal(access(f->path, F_OK), 0);
	f->server = again;
}

static void
control_open_keeps_other_files(void **state)
{
	char dir[] = "/tmp/hapost-test-control-XXXXXX", path[128];
	char err[256] = "";
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/control.sock", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_null(control_server_open(loop, path, render, NULL, NULL, err,
					sizeof(err)));
	assert_non_null(strstr(err, "is not a socket"));
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
	rmdir(dir);
	ev_loop_destroy(loop);
}

static void
control_server_answers_action_at_once(void **state)
{
	struct fixture *f = *state;
	char *text = exchange(f, "demote\n", 7, false);

	assert_string_equal(text, "+OK standby\n");
	free(text);
	text = exchange(f, "announce\n", 9, false);
	assert_string_equal(text, "-ERR cluster unavailable\n");
	free(text);
	assert_int_equal(f->actions, 2);
	assert_int_equal(f->renders, 0);
}

/* Runs the loop until fd has an answer and EOF; returns the answer. */
static char *
read_answer(struct fixture *f, int fd)
{
	struct buf out = BUF_INIT;
	char *text;

	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (int rounds = 0; rounds < 1000; rounds++) {
		char chunk[512];
		ssize_t n;

		ev_run(f->loop, EVRUN_NOWAIT);
		n = read(fd, chunk, sizeof(chunk));
		if (n == 0)
			break;
		if (n > 0)
			buf_append(&out, chunk, (size_t)n);
		else if (errno == EAGAIN)
			poll(NULL, 0, 2);
		else
			break;
	}
	text = strdup(buf_cstr(&out));
	buf_free(&out);
	return text;
}

static void
control_server_answers_action_later(void **state)
{
	struct fixture *f = *state;
	int fd = connect_to(f->path);
	char *text;

	assert_int_equal(write(fd, "promote force\n", 14), 14);
	for (int rounds = 0; rounds < 200 && f->deferred_id == 0; rounds++) {
		ev_run(f->loop, EVRUN_NOWAIT);
		poll(NULL, 0, 2);
	}
	assert_true(f->deferred_id != 0);
	/* A wrong id reaches nobody. */
	control_reply(f->server, f->deferred_id + 100, "+OK wrong");
	control_reply(f->server, f->deferred_id, "+OK active");
	text = read_answer(f, fd);
	assert_string_equal(text, "+OK active\n");
	free(text);
	close(fd);
}

static void
control_server_drops_answer_for_gone_client(void **state)
{
	struct fixture *f = *state;
	int fd = connect_to(f->path);
	char *text;

	assert_int_equal(write(fd, "promote\n", 8), 8);
	for (int rounds = 0; rounds < 200 && f->deferred_id == 0; rounds++) {
		ev_run(f->loop, EVRUN_NOWAIT);
		poll(NULL, 0, 2);
	}
	assert_true(f->deferred_id != 0);
	close(fd);
	/* The server notices only when it writes; the answer goes nowhere. */
	control_reply(f->server, f->deferred_id, "+OK active");
	for (int rounds = 0; rounds < 20; rounds++)
		ev_run(f->loop, EVRUN_NOWAIT);
	control_reply(f->server, f->deferred_id, "+OK again");
	/* The server still serves others. */
	text = exchange(f, "status\n", 7, false);
	assert_string_equal(text, "+OK unhealthy\ntext\n");
	free(text);
}

static void
control_server_times_out_unanswered_action(void **state)
{
	struct fixture *f = *state;
	int fd = connect_to(f->path);
	char *text;

	/* A negative bound leaves the CONTROL_TIMEOUT margin only. */
	f->bound = -CONTROL_TIMEOUT + 0.05;
	assert_int_equal(write(fd, "promote\n", 8), 8);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	text = NULL;
	for (int rounds = 0; rounds < 2000; rounds++) {
		char c;
		ssize_t n;

		ev_run(f->loop, EVRUN_NOWAIT);
		n = read(fd, &c, 1);
		if (n == 0) {
			text = strdup("");
			break;
		}
		if (n > 0) {
			text = strdup("data");
			break;
		}
		poll(NULL, 0, 2);
	}
	assert_non_null(text);
	assert_string_equal(text, "");
	free(text);
	close(fd);
	/* The late answer finds nobody. */
	control_reply(f->server, f->deferred_id, "+OK late");
}

static void
control_server_without_actions_rejects_them(void **state)
{
	char dir[] = "/tmp/hapost-test-control-XXXXXX", path[128];
	char err[256] = "";
	struct fixture f;
	char *text;

	memset(&f, 0, sizeof(f));
	assert_non_null(mkdtemp(dir));
	snprintf(f.path, sizeof(f.path), "%s/control.sock", dir);
	strcpy(path, f.path);
	f.loop = ev_loop_new(EVFLAG_AUTO);
	f.server = control_server_open(f.loop, f.path, render, NULL, &f, err,
				       sizeof(err));
	assert_non_null(f.server);
	text = exchange(&f, "announce\n", 9, false);
	assert_string_equal(text, "-ERR not supported by this server\n");
	free(text);
	control_server_close(&f.server);
	ev_loop_destroy(f.loop);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(control_parse_accepts_status),
	    cmocka_unit_test(control_parse_rejects_bad_requests),
	    cmocka_unit_test(control_parse_rejects_nul_byte),
	    cmocka_unit_test(control_response_header_parsed),
	    cmocka_unit_test(control_action_reply_parsed),
	    cmocka_unit_test(control_command_names_parse_back),
	    cmocka_unit_test_setup_teardown(control_server_answers_status,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		control_server_sends_unchecked_header, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		control_server_rejects_unknown_command, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		control_server_rejects_overlong_request, setup, teardown),
	    cmocka_unit_test_setup_teardown(control_server_accepts_half_close,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(control_server_closes_empty_client,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(control_socket_mode_is_0660, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(control_open_replaces_stale_socket,
					    setup, teardown),
	    cmocka_unit_test(control_open_keeps_other_files),
	    cmocka_unit_test_setup_teardown(
		control_server_answers_action_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(control_server_answers_action_later,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		control_server_drops_answer_for_gone_client, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		control_server_times_out_unanswered_action, setup, teardown),
	    cmocka_unit_test(control_server_without_actions_rejects_them),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
