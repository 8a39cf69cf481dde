/*
 * Unit tests for the storage writers in replicated mode: which records
 * each change sends, that they arrive before the change is published,
 * and that a refused commit leaves nothing published.
 *
 * A forked child plays the replicator on RUN_DIR/repl.sock. For every
 * record of a batch it writes one line to a log file, noting when the
 * change it describes is already visible in data_dir (which would break
 * "replicate, then publish"), and then replies to the commit with "ok", or
 * with "refused" while the file REFUSE exists in the test directory.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "cfg.h"
#include "directory.h"
#include "fsutil.h"
#include "maildir.h"
#include "queue.h"
#include "repl.h"
#include "repl_local.h"
#include "repl_wire.h"
#include "repl_write.h"

#define MESSAGE "Subject: hi\r\n\r\nbody\r\n"
#define MAILDIR_REL "mail/example.test/alice"

struct fixture {
	char dir[64];
	char data_dir[80];
	char run_dir[80];
	char log[80];
	char done_log[80];
	char refuse[80];
	char maildir[128];
	pid_t child;
	char err[512];
};

/* --- the fake replicator (child process) --- */

static const char *child_data_dir;
static const char *child_log;
static const char *child_done_log;
static const char *child_refuse;

static void
log_line(const char *fmt, ...)
{
	char line[PATH_MAX * 2 + 64];
	va_list ap;
	size_t len;
	int fd;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	/* One write per line: connections log from processes of their own. */
	len = strlen(line);
	line[len++] = '\n';
	fd = open(child_log, O_WRONLY | O_APPEND | O_CREAT, 0600);
	if (fd < 0)
		_exit(2);
	if (write_full(fd, line, len) < 0)
		_exit(2);
	close(fd);
}

static bool
exists(const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", child_data_dir, rel);
	return access(path, F_OK) == 0;
}

/* Returns true when the local file rel already ends with data. */
static bool
ends_with(const char *rel, const void *data, size_t len)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT;
	bool ret;

	snprintf(path, sizeof(path), "%s/%s", child_data_dir, rel);
	if (read_file(path, &b, (size_t)64 << 20) < 0) {
		buf_free(&b);
		return false;
	}
	ret = b.len >= len && memcmp(b.data + b.len - len, data, len) == 0;
	buf_free(&b);
	return ret;
}

static void
log_record(const struct repl_op *op)
{
	switch (op->type) {
	case REPL_OP_APPEND:
		log_line("APPEND %s%s", op->path,
			 ends_with(op->path, op->data, op->len) ? " EARLY"
								 : "");
		break;
	case REPL_OP_RENAME:
		log_line("RENAME %s %s%s", op->path, op->path2,
			 !exists(op->path) ? " EARLY" : "");
		break;
	case REPL_OP_UNLINK:
		log_line("UNLINK %s%s", op->path,
			 !exists(op->path) ? " EARLY" : "");
		break;
	case REPL_OP_MKDIR:
		log_line("MKDIR %s %04o%s", op->path, (unsigned)op->mode,
			 exists(op->path) ? " EARLY" : "");
		break;
	case REPL_OP_RMTREE:
		log_line("RMTREE %s%s", op->path,
			 !exists(op->path) ? " EARLY" : "");
		break;
	default:
		log_line("OP %d %s", (int)op->type, op->path);
		break;
	}
}

/* Logs one frame of a batch and replies to COMMIT. Returns -1 to hang up. */
static int
serve_frame(int fd, uint8_t type, const char *body, size_t len)
{
	struct repl_op op;
	struct buf out = BUF_INIT;
	const char *reply;
	char err[256];
	size_t pos = 0;
	int r;

	switch (type) {
	case REPL_LOCAL_RECORDS:
		while ((r = repl_op_decode(body, len, &pos, &op, err,
					   sizeof(err))) > 0)
			log_record(&op);
		if (r < 0)
			log_line("BAD RECORDS %s", err);
		return 0;
	case REPL_LOCAL_FILE: {
		const char *rel = body, *local = body + strlen(body) + 1;

		/* The local file must still be there for the replicator to
		 * read: after the publish (a rename) it is gone. */
		log_line("FILE %s%s", rel,
			 access(local, F_OK) < 0 ? " EARLY" : "");
		return 0;
	}
	case REPL_LOCAL_DATA:
		log_line("DATA %s", body + 4);
		return 0;
	case REPL_LOCAL_COMMIT:
		reply = access(child_refuse, F_OK) == 0 ? "refused test refusal"
							: "ok";
		log_line("COMMIT %s", reply[0] == 'o' ? "ok" : "refused");
		repl_frame_begin(&out, REPL_LOCAL_REPLY, strlen(reply));
		buf_append(&out, reply, strlen(reply));
		r = write_full(fd, out.data, out.len);
		buf_free(&out);
		return r;
	case REPL_LOCAL_DONE: {
		/* A separate log: DONE arrives after the writer's reply. */
		int log_fd = open(child_done_log,
				  O_WRONLY | O_APPEND | O_CREAT, 0600);

		if (log_fd < 0 || write(log_fd, "D", 1) != 1)
			_exit(2);
		close(log_fd);
		return 0;
	}
	default:
		log_line("BAD FRAME %c", type);
		return -1;
	}
}

static void
serve(int fd)
{
	struct buf in = BUF_INIT;

	for (;;) {
		const void *body;
		size_t body_len;
		uint8_t type;
		ssize_t used, n;

		buf_reserve(&in, 65536);
		n = read(fd, in.data + in.len, in.cap - in.len - 1);
		if (n <= 0)
			break;
		in.len += (size_t)n;
		while ((used = repl_frame_next(in.data, in.len, &type, &body,
					       &body_len)) > 0) {
			char *copy = malloc(body_len + 1);

			memcpy(copy, body, body_len);
			copy[body_len] = '\0';
			if (serve_frame(fd, type, copy, body_len) < 0) {
				free(copy);
				goto out;
			}
			free(copy);
			memmove(in.data, in.data + used, in.len - (size_t)used);
			in.len -= (size_t)used;
		}
		if (used < 0)
			break;
	}
out:
	buf_free(&in);
}

/* Serves each connection in a process of its own, so several at once. */
static void
run_replicator(int listen_fd)
{
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int fd = accept(listen_fd, NULL, NULL);
		pid_t pid;

		if (fd < 0)
			_exit(errno == EINTR ? 0 : 3);
		pid = fork();
		if (pid == 0) {
			close(listen_fd);
			serve(fd);
			_exit(0);
		}
		close(fd);
	}
}

/* --- fixture --- */

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct cfg cfg;
	int fd;

	strcpy(fx->dir, "/tmp/hapost-test-repl-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->data_dir, sizeof(fx->data_dir), "%s/data", fx->dir);
	snprintf(fx->run_dir, sizeof(fx->run_dir), "%s/run", fx->dir);
	snprintf(fx->log, sizeof(fx->log), "%s/log", fx->dir);
	snprintf(fx->done_log, sizeof(fx->done_log), "%s/done", fx->dir);
	snprintf(fx->refuse, sizeof(fx->refuse), "%s/REFUSE", fx->dir);
	snprintf(fx->maildir, sizeof(fx->maildir), "%s/%s", fx->data_dir,
		 MAILDIR_REL);
	if (mkdir(fx->data_dir, 0700) < 0 || mkdir(fx->run_dir, 0700) < 0)
		return -1;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", fx->run_dir,
		 REPL_SOCKET_NAME);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(fd, 8) < 0)
		return -1;
	child_data_dir = fx->data_dir;
	child_log = fx->log;
	child_done_log = fx->done_log;
	child_refuse = fx->refuse;
	fx->child = fork();
	if (fx->child < 0)
		return -1;
	if (fx->child == 0)
		run_replicator(fd);
	close(fd);

	cfg_defaults(&cfg);
	free(cfg.storage_mode);
	free(cfg.data_dir);
	free(cfg.run_dir);
	cfg.storage_mode = strdup("replicated");
	cfg.data_dir = strdup(fx->data_dir);
	cfg.run_dir = strdup(fx->run_dir);
	cfg.replication_timeout = 5;
	repl_init(&cfg);
	cfg_free(&cfg);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;
	struct cfg cfg;

	/* Back to shared mode: closes the connection. */
	cfg_defaults(&cfg);
	repl_init(&cfg);
	cfg_free(&cfg);
	kill(fx->child, SIGKILL);
	waitpid(fx->child, NULL, 0);
	nftw(fx->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* Returns the log so far and starts a new one. */
static char *
take_log(struct fixture *fx)
{
	static char text[65536];
	struct buf b = BUF_INIT;

	text[0] = '\0';
	if (read_file(fx->log, &b, sizeof(text) - 1) == 0 && b.len > 0)
		snprintf(text, sizeof(text), "%.*s", (int)b.len, b.data);
	buf_free(&b);
	unlink(fx->log);
	return text;
}

/* Waits up to 10 s for the child to count n DONE frames in all. */
static bool
wait_done(struct fixture *fx, size_t n)
{
	for (int i = 0; i < 1000; i++) {
		struct stat st;

		if (stat(fx->done_log, &st) == 0 && (size_t)st.st_size >= n)
			return (size_t)st.st_size == n;
		usleep(10000);
	}
	return false;
}

static void
set_refuse(struct fixture *fx, bool on)
{
	if (on)
		assert_int_equal(write_file_atomic(fx->refuse, "", 0, 0600), 0);
	else
		unlink(fx->refuse);
}

static bool
data_exists(struct fixture *fx, const char *fmt, ...)
{
	char rel[PATH_MAX], path[PATH_MAX * 2];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", fx->data_dir, rel);
	return access(path, F_OK) == 0;
}

static size_t
count_entries(const char *dir)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d = opendir(dir);

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Opens a queue entry with one recipient and its message. */
static struct queue_writer *
open_entry(struct fixture *fx, struct queue_envelope *env,
	   struct queue_rcpt *rcpt)
{
	struct queue_writer *w;

	memset(env, 0, sizeof(*env));
	memset(rcpt, 0, sizeof(*rcpt));
	rcpt->address = "alice@example.test";
	rcpt->orig = "alice@example.test";
	env->sender = "bob@example.test";
	env->client_ip = "127.0.0.1";
	env->helo = "client.example.test";
	env->rcpts = rcpt;
	env->nrcpts = 1;
	w = queue_writer_open(fx->data_dir, env, fx->err, sizeof(fx->err));
	assert_non_null(w);
	assert_int_equal(queue_writer_write(w, MESSAGE, strlen(MESSAGE)), 0);
	return w;
}

static void
init_queue(struct fixture *fx)
{
	assert_int_equal(queue_init(fx->data_dir, fx->err, sizeof(fx->err)),
			 0);
	assert_string_equal(take_log(fx), "MKDIR queue 0700\n"
					  "MKDIR queue/messages 0700\n"
					  "MKDIR queue/status 0700\n"
					  "COMMIT ok\n");
}

/* --- tests --- */

static void
shared_mode_sends_nothing(void **state)
{
	struct fixture *fx = *state;
	struct cfg cfg;

	cfg_defaults(&cfg);
	repl_init(&cfg);
	cfg_free(&cfg);
	assert_int_equal(queue_init(fx->data_dir, fx->err, sizeof(fx->err)),
			 0);
	assert_true(data_exists(fx, "queue/messages"));
	assert_string_equal(take_log(fx), "");
	assert_null(repl_write_rel(fx->data_dir));
}

static void
rel_skips_excluded_paths(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX * 2];

	snprintf(path, sizeof(path), "%s/queue/messages/X", fx->data_dir);
	assert_string_equal(repl_write_rel(path), "queue/messages/X");
	snprintf(path, sizeof(path), "%s/queue/tmp/X", fx->data_dir);
	assert_null(repl_write_rel(path));
	snprintf(path, sizeof(path), "%s/tmp/X", fx->maildir);
	assert_null(repl_write_rel(path));
	snprintf(path, sizeof(path), "%s/.Sent/tmp/X", fx->maildir);
	assert_null(repl_write_rel(path));
	assert_null(repl_write_rel("/elsewhere/file"));
}

static void
queue_init_refused_still_creates(void **state)
{
	struct fixture *fx = *state;

	set_refuse(fx, true);
	assert_int_equal(queue_init(fx->data_dir, fx->err, sizeof(fx->err)),
			 0);
	assert_string_equal(take_log(fx), "MKDIR queue 0700\n"
					  "MKDIR queue/messages 0700\n"
					  "MKDIR queue/status 0700\n"
					  "COMMIT refused\n");
	assert_true(data_exists(fx, "queue/tmp"));
	assert_true(data_exists(fx, "queue/messages"));
	assert_true(data_exists(fx, "queue/status"));
}

static void
queue_entry_replicated_before_rename(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct queue_rcpt rcpt;
	struct queue_writer *w;
	char expected[256];

	init_queue(fx);
	w = open_entry(fx, &env, &rcpt);
	assert_int_equal(queue_writer_commit(w, fx->err, sizeof(fx->err)), 0);
	snprintf(expected, sizeof(expected),
		 "FILE queue/messages/%s\nCOMMIT ok\n", env.id);
	assert_string_equal(take_log(fx), expected);
	assert_true(data_exists(fx, "queue/messages/%s", env.id));
}

static void
done_follows_each_publish(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct queue_rcpt rcpt;
	struct queue_writer *w;
	char path[PATH_MAX];

	init_queue(fx);
	assert_true(wait_done(fx, 1));
	w = open_entry(fx, &env, &rcpt);
	assert_int_equal(queue_writer_commit(w, fx->err, sizeof(fx->err)), 0);
	assert_true(wait_done(fx, 2));

	/* A publish that fails after the commit still ends with DONE, or
	 * the replicator's catch-up would wait for this writer. */
	w = open_entry(fx, &env, &rcpt);
	snprintf(path, sizeof(path), "%s/queue/messages/%s", fx->data_dir,
		 env.id);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(mkdir(strcat(path, "/x"), 0700), 0);
	assert_int_equal(queue_writer_commit(w, fx->err, sizeof(fx->err)),
			 -1);
	assert_non_null(strstr(fx->err, "rename"));
	assert_true(wait_done(fx, 3));
}

static void
queue_entry_refused_not_published(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct queue_rcpt rcpt;
	struct queue_writer *w;
	char expected[256];

	init_queue(fx);
	set_refuse(fx, true);
	w = open_entry(fx, &env, &rcpt);
	errno = 0;
	assert_int_equal(queue_writer_commit(w, fx->err, sizeof(fx->err)),
			 -1);
	assert_int_equal(errno, EAGAIN);
	assert_non_null(strstr(fx->err, "replication refused"));
	assert_true(repl_write_refused());
	snprintf(expected, sizeof(expected),
		 "FILE queue/messages/%s\nCOMMIT refused\n", env.id);
	assert_string_equal(take_log(fx), expected);
	assert_false(data_exists(fx, "queue/messages/%s", env.id));
	assert_false(data_exists(fx, "queue/tmp/%s", env.id));
}

static void
queue_group_commit_one_batch(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env[3];
	struct queue_rcpt rcpt[3];
	struct queue_commit v[3];
	char expected[512];
	size_t i;

	init_queue(fx);
	memset(v, 0, sizeof(v));
	for (i = 0; i < 3; i++)
		v[i].writer = open_entry(fx, &env[i], &rcpt[i]);
	queue_writer_commit_many(v, 3, true);
	snprintf(expected, sizeof(expected),
		 "FILE queue/messages/%s\nFILE queue/messages/%s\n"
		 "FILE queue/messages/%s\nCOMMIT ok\n",
		 env[0].id, env[1].id, env[2].id);
	assert_string_equal(take_log(fx), expected);
	for (i = 0; i < 3; i++) {
		assert_int_equal(v[i].error, 0);
		assert_true(data_exists(fx, "queue/messages/%s", env[i].id));
	}

	/* A refused group fails every entry of it. */
	set_refuse(fx, true);
	for (i = 0; i < 3; i++)
		v[i].writer = open_entry(fx, &env[i], &rcpt[i]);
	queue_writer_commit_many(v, 3, true);
	for (i = 0; i < 3; i++) {
		assert_int_equal(v[i].error, EAGAIN);
		assert_false(data_exists(fx, "queue/messages/%s", env[i].id));
		assert_false(data_exists(fx, "queue/tmp/%s", env[i].id));
	}
}

static void
queue_commit_halves(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct queue_rcpt rcpt;
	struct queue_commit v[1];
	struct repl_batch *b;
	struct pollfd pfd;
	char expected[256];

	init_queue(fx);
	memset(v, 0, sizeof(v));
	v[0].writer = open_entry(fx, &env, &rcpt);
	queue_commit_start(v, 1, true);
	pfd.fd = queue_commit_fd();
	pfd.events = POLLIN;
	assert_true(pfd.fd >= 0);
	assert_true(repl_commit_remaining() > 0);
	assert_false(data_exists(fx, "queue/messages/%s", env.id));

	/* One commit at a time: a second send before the wait fails. */
	b = repl_batch_new();
	repl_add_unlink(b, "queue/messages/0000000000000000");
	assert_int_equal(repl_commit_send(b, fx->err, sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "already waiting"));

	assert_int_equal(poll(&pfd, 1, 10000), 1);
	queue_commit_finish(v, 1);
	assert_int_equal(v[0].error, 0);
	assert_true(data_exists(fx, "queue/messages/%s", env.id));
	snprintf(expected, sizeof(expected),
		 "FILE queue/messages/%s\nCOMMIT ok\n", env.id);
	assert_string_equal(take_log(fx), expected);
	assert_int_equal(queue_commit_fd(), -1);

	/* A wait with nothing sent fails. */
	assert_int_equal(repl_commit_wait(fx->err, sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "no commit"));
}

/*
 * While the reply to a split commit is awaited, the same process still
 * commits other changes (an IMAP session in the worker of an SMTP
 * batch).
 */
static void
commit_while_split_waits(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct queue_rcpt rcpt;
	struct queue_commit v[1];
	struct repl_batch *b;
	struct pollfd pfd;
	char expected[256];
	const char *log, *second;

	init_queue(fx);
	memset(v, 0, sizeof(v));
	v[0].writer = open_entry(fx, &env, &rcpt);
	queue_commit_start(v, 1, true);
	b = repl_batch_new();
	repl_add_mkdir(b, "mail/other", 0700);
	assert_int_equal(repl_commit(b, fx->err, sizeof(fx->err)), 0);
	repl_done();

	pfd.fd = queue_commit_fd();
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	queue_commit_finish(v, 1);
	assert_int_equal(v[0].error, 0);
	assert_true(data_exists(fx, "queue/messages/%s", env.id));

	/* Two connections log in any order, so each line is looked up. */
	log = take_log(fx);
	snprintf(expected, sizeof(expected), "FILE queue/messages/%s\n",
		 env.id);
	if (strstr(log, expected) == NULL)
		fail_msg("no %s in the log:\n%s", expected, log);
	assert_non_null(strstr(log, "MKDIR mail/other 0700\n"));
	second = strstr(log, "COMMIT ok\n");
	assert_non_null(second);
	assert_non_null(strstr(second + 1, "COMMIT ok\n"));
}

static void
queue_status_appended_after_commit(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env, loaded;
	struct queue_rcpt rcpt;
	struct queue_marks *m;
	char expected[256];

	init_queue(fx);
	assert_int_equal(queue_writer_commit(open_entry(fx, &env, &rcpt),
					     fx->err, sizeof(fx->err)),
			 0);
	take_log(fx);
	assert_int_equal(queue_mark(fx->data_dir, env.id, 0,
				    QUEUE_RCPT_PENDING, 100, "busy", fx->err,
				    sizeof(fx->err)),
			 0);
	snprintf(expected, sizeof(expected),
		 "APPEND queue/status/%s\nCOMMIT ok\n", env.id);
	assert_string_equal(take_log(fx), expected);
	assert_true(data_exists(fx, "queue/status/%s", env.id));

	set_refuse(fx, true);
	m = queue_marks_new(fx->data_dir, true);
	queue_marks_add(m, env.id, 0, QUEUE_RCPT_DELIVERED, 0, NULL);
	assert_int_equal(queue_marks_commit(m), 1);
	assert_int_equal(queue_marks_result(m, env.id, fx->err,
					    sizeof(fx->err)),
			 -1);
	assert_non_null(strstr(fx->err, "replication"));
	queue_marks_free(m);
	snprintf(expected, sizeof(expected),
		 "APPEND queue/status/%s\nCOMMIT refused\n", env.id);
	assert_string_equal(take_log(fx), expected);
	/* The refused record is not in the local file either. */
	assert_int_equal(queue_load(fx->data_dir, env.id, &loaded, fx->err,
				    sizeof(fx->err)),
			 0);
	assert_int_equal(loaded.rcpts[0].state, QUEUE_RCPT_PENDING);
	queue_envelope_free(&loaded);
}

static void
queue_removal_one_batch(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env[2];
	struct queue_rcpt rcpt[2];
	struct queue_removal v[2];
	char expected[512];
	size_t i;

	init_queue(fx);
	for (i = 0; i < 2; i++) {
		assert_int_equal(
		    queue_writer_commit(open_entry(fx, &env[i], &rcpt[i]),
					fx->err, sizeof(fx->err)),
		    0);
		assert_int_equal(queue_mark(fx->data_dir, env[i].id, 0,
					    QUEUE_RCPT_DELIVERED, 0, NULL,
					    fx->err, sizeof(fx->err)),
				 0);
	}
	take_log(fx);

	set_refuse(fx, true);
	memset(v, 0, sizeof(v));
	v[0].id = env[0].id;
	v[1].id = env[1].id;
	queue_remove_many(fx->data_dir, v, 2);
	assert_int_equal(v[0].error, EAGAIN);
	assert_int_equal(v[1].error, EAGAIN);
	assert_true(data_exists(fx, "queue/messages/%s", env[0].id));
	take_log(fx);

	set_refuse(fx, false);
	queue_remove_many(fx->data_dir, v, 2);
	snprintf(expected, sizeof(expected),
		 "UNLINK queue/messages/%s\nUNLINK queue/messages/%s\n"
		 "UNLINK queue/status/%s\nUNLINK queue/status/%s\n"
		 "COMMIT ok\n",
		 env[0].id, env[1].id, env[0].id, env[1].id);
	assert_string_equal(take_log(fx), expected);
	for (i = 0; i < 2; i++) {
		assert_int_equal(v[i].error, 0);
		assert_false(data_exists(fx, "queue/messages/%s", env[i].id));
		assert_false(data_exists(fx, "queue/status/%s", env[i].id));
	}
}

static void
maildir_delivery_replicated_first(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/msg", fx->dir);
	assert_int_equal(write_file_atomic(path, MESSAGE, strlen(MESSAGE), 0600),
			 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);

	set_refuse(fx, true);
	assert_int_equal(maildir_deliver(fx->maildir, "1.Q1_R0.mx,S=21", NULL,
					 0, fd, 0, strlen(MESSAGE), true,
					 fx->err, sizeof(fx->err)),
			 -1);
	assert_string_equal(take_log(fx), "MKDIR mail 0700\n"
					  "MKDIR mail/example.test 0700\n"
					  "MKDIR " MAILDIR_REL " 0700\n"
					  "MKDIR " MAILDIR_REL "/cur 0700\n"
					  "MKDIR " MAILDIR_REL "/new 0700\n"
					  "COMMIT refused\n");
	assert_false(data_exists(fx, MAILDIR_REL));

	set_refuse(fx, false);
	assert_int_equal(maildir_deliver(fx->maildir, "1.Q1_R0.mx,S=21", NULL,
					 0, fd, 0, strlen(MESSAGE), true,
					 fx->err, sizeof(fx->err)),
			 1);
	assert_string_equal(take_log(fx),
			    "MKDIR mail 0700\n"
			    "MKDIR mail/example.test 0700\n"
			    "MKDIR " MAILDIR_REL " 0700\n"
			    "MKDIR " MAILDIR_REL "/cur 0700\n"
			    "MKDIR " MAILDIR_REL "/new 0700\n"
			    "COMMIT ok\n"
			    "FILE " MAILDIR_REL "/new/1.Q1_R0.mx,S=21\n"
			    "COMMIT ok\n");
	assert_true(data_exists(fx, MAILDIR_REL "/new/1.Q1_R0.mx,S=21"));

	/* A refused copy is not published and its tmp/ file is gone. */
	set_refuse(fx, true);
	assert_int_equal(maildir_deliver(fx->maildir, "2.Q1_R1.mx,S=21", NULL,
					 0, fd, 0, strlen(MESSAGE), true,
					 fx->err, sizeof(fx->err)),
			 -1);
	assert_string_equal(take_log(fx),
			    "FILE " MAILDIR_REL "/new/2.Q1_R1.mx,S=21\n"
			    "COMMIT refused\n");
	assert_false(data_exists(fx, MAILDIR_REL "/new/2.Q1_R1.mx,S=21"));
	assert_false(data_exists(fx, MAILDIR_REL "/tmp/2.Q1_R1.mx,S=21"));
	close(fd);
}

/* Creates the Maildir and stores one message with APPEND. */
static void
append_one(struct fixture *fx, uint32_t *uid)
{
	uint32_t uidvalidity;

	assert_int_equal(maildir_create(fx->maildir, false, fx->err,
					sizeof(fx->err)),
			 0);
	take_log(fx);
	assert_int_equal(mailbox_append(fx->maildir, "INBOX", MESSAGE,
					strlen(MESSAGE), "", 0, &uidvalidity,
					uid, fx->err, sizeof(fx->err)),
			 0);
}

static void
append_replicates_file_then_list(void **state)
{
	struct fixture *fx = *state;
	char cur[PATH_MAX + 8], tmp[PATH_MAX + 8], *log;
	uint32_t uid, uidvalidity;

	snprintf(cur, sizeof(cur), "%s/cur", fx->maildir);
	snprintf(tmp, sizeof(tmp), "%s/tmp", fx->maildir);
	append_one(fx, &uid);
	log = take_log(fx);
	/* The message, the new lock file, the UIDVALIDITY counter, then the
	 * uidlist that gives the message its UID. */
	assert_non_null(strstr(log, "FILE " MAILDIR_REL "/cur/"));
	assert_null(strstr(log, "EARLY"));
	assert_non_null(strstr(log, "FILE " MAILDIR_REL
				    "/hapost-uidlist.lock\n"));
	assert_non_null(strstr(log, "FILE " MAILDIR_REL
				    "/hapost-uidvalidity\n"));
	assert_non_null(strstr(log, "FILE " MAILDIR_REL "/hapost-uidlist\n"));
	assert_true(strstr(log, "/cur/") < strstr(log, "/hapost-uidlist\n"));

	set_refuse(fx, true);
	assert_int_equal(mailbox_append(fx->maildir, "INBOX", MESSAGE,
					strlen(MESSAGE), "S", 0, &uidvalidity,
					&uid, fx->err, sizeof(fx->err)),
			 -1);
	assert_true(repl_write_refused());
	take_log(fx);
	assert_int_equal(count_entries(cur), 1);
	assert_int_equal(count_entries(tmp), 0);
}

static void
flags_and_expunge_replicated_first(void **state)
{
	struct fixture *fx = *state;
	struct mailbox *mb;
	char expected[1024];
	uint32_t uid;
	char *log;

	append_one(fx, &uid);
	assert_int_equal(mailbox_open(fx->maildir, "INBOX", false, &mb,
				      fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(mb->count, 1);
	take_log(fx);

	set_refuse(fx, true);
	assert_int_equal(mailbox_set_flags(mb, 0, "S", fx->err,
					   sizeof(fx->err)),
			 -1);
	take_log(fx);
	assert_int_equal(mailbox_sync(mb, NULL, fx->err, sizeof(fx->err)), 0);
	assert_string_equal(mb->msgs[0].flags, "");

	set_refuse(fx, false);
	assert_int_equal(mailbox_set_flags(mb, 0, "S", fx->err,
					   sizeof(fx->err)),
			 0);
	log = take_log(fx);
	snprintf(expected, sizeof(expected),
		 "RENAME " MAILDIR_REL "/cur/%s:2, " MAILDIR_REL
		 "/cur/%s:2,S\nCOMMIT ok\n",
		 mb->msgs[0].base, mb->msgs[0].base);
	assert_string_equal(log, expected);

	set_refuse(fx, true);
	assert_int_equal(mailbox_expunge_msgs(mb, (size_t[]){0}, 1, fx->err,
					      sizeof(fx->err)),
			 -1);
	take_log(fx);
	assert_true(data_exists(fx, MAILDIR_REL "/cur/%s:2,S",
				mb->msgs[0].base));

	set_refuse(fx, false);
	assert_int_equal(mailbox_expunge_msgs(mb, (size_t[]){0}, 1, fx->err,
					      sizeof(fx->err)),
			 0);
	snprintf(expected, sizeof(expected),
		 "UNLINK " MAILDIR_REL "/cur/%s:2,S\nCOMMIT ok\n",
		 mb->msgs[0].base);
	assert_string_equal(take_log(fx), expected);
	assert_false(data_exists(fx, MAILDIR_REL "/cur/%s:2,S",
				 mb->msgs[0].base));
	mailbox_close(mb);
}

static void
sync_moves_new_with_uidlist(void **state)
{
	struct fixture *fx = *state;
	struct mailbox *mb;
	char path[PATH_MAX], *log;
	int fd;

	assert_int_equal(maildir_create(fx->maildir, false, fx->err,
					sizeof(fx->err)),
			 0);
	snprintf(path, sizeof(path), "%s/msg", fx->dir);
	assert_int_equal(write_file_atomic(path, MESSAGE, strlen(MESSAGE), 0600),
			 0);
	fd = open(path, O_RDONLY);
	assert_int_equal(maildir_deliver(fx->maildir, "1.Q1_R0.mx,S=21", NULL,
					 0, fd, 0, strlen(MESSAGE), true,
					 fx->err, sizeof(fx->err)),
			 1);
	close(fd);
	/* The lock file and the UIDVALIDITY counter come first. */
	assert_int_equal(mailbox_open(fx->maildir, "INBOX", true, &mb, fx->err,
				      sizeof(fx->err)),
			 0);
	mailbox_close(mb);
	take_log(fx);

	set_refuse(fx, true);
	assert_int_equal(mailbox_open(fx->maildir, "INBOX", false, &mb,
				      fx->err, sizeof(fx->err)),
			 -1);
	assert_true(data_exists(fx, MAILDIR_REL "/new/1.Q1_R0.mx,S=21"));
	take_log(fx);

	set_refuse(fx, false);
	assert_int_equal(mailbox_open(fx->maildir, "INBOX", false, &mb,
				      fx->err, sizeof(fx->err)),
			 0);
	log = take_log(fx);
	assert_string_equal(log, "RENAME " MAILDIR_REL
				 "/new/1.Q1_R0.mx,S=21 " MAILDIR_REL
				 "/cur/1.Q1_R0.mx,S=21:2,\n"
				 "COMMIT ok\n");
	assert_true(data_exists(fx, MAILDIR_REL "/cur/1.Q1_R0.mx,S=21:2,"));
	mailbox_close(mb);
}

static void
folder_changes_replicated_first(void **state)
{
	struct fixture *fx = *state;
	char *log;

	assert_int_equal(maildir_create(fx->maildir, false, fx->err,
					sizeof(fx->err)),
			 0);
	take_log(fx);

	set_refuse(fx, true);
	assert_int_equal(maildir_folder_create(fx->maildir, "Sent", fx->err,
					       sizeof(fx->err)),
			 -1);
	assert_false(data_exists(fx, MAILDIR_REL "/.Sent"));
	take_log(fx);

	set_refuse(fx, false);
	assert_int_equal(maildir_folder_create(fx->maildir, "Sent", fx->err,
					       sizeof(fx->err)),
			 0);
	log = take_log(fx);
	assert_non_null(strstr(log, "MKDIR " MAILDIR_REL "/.Sent 0700\n"
				    "MKDIR " MAILDIR_REL "/.Sent/cur 0700\n"
				    "MKDIR " MAILDIR_REL "/.Sent/new 0700\n"
				    "FILE " MAILDIR_REL
				    "/.Sent/maildirfolder\n"
				    "FILE " MAILDIR_REL
				    "/.Sent/hapost-uidlist\n"
				    "COMMIT ok\n"));
	assert_null(strstr(log, "EARLY"));
	assert_null(strstr(log, "/tmp/"));

	assert_int_equal(maildir_folder_rename(fx->maildir, "Sent", "Old",
					       fx->err, sizeof(fx->err)),
			 0);
	log = take_log(fx);
	assert_non_null(strstr(log, "RENAME " MAILDIR_REL "/.Sent " MAILDIR_REL
				    "/.Old\nCOMMIT ok\n"));
	assert_non_null(strstr(log, "FILE " MAILDIR_REL
				    "/.Old/hapost-uidlist\n"));
	assert_null(strstr(log, "EARLY"));

	set_refuse(fx, true);
	assert_int_equal(maildir_folder_delete(fx->maildir, "Old", fx->err,
					       sizeof(fx->err)),
			 -1);
	assert_true(data_exists(fx, MAILDIR_REL "/.Old"));
	take_log(fx);
	set_refuse(fx, false);
	assert_int_equal(maildir_folder_delete(fx->maildir, "Old", fx->err,
					       sizeof(fx->err)),
			 0);
	assert_string_equal(take_log(fx),
			    "RMTREE " MAILDIR_REL "/.Old\nCOMMIT ok\n");
	assert_false(data_exists(fx, MAILDIR_REL "/.Old"));

	assert_int_equal(maildir_subscribe(fx->maildir, "Old", true, fx->err,
					   sizeof(fx->err)),
			 0);
	log = take_log(fx);
	assert_non_null(strstr(log, "FILE " MAILDIR_REL "/subscriptions\n"
				    "COMMIT ok\n"));
}

static void
account_add_replicates_tables(void **state)
{
	struct fixture *fx = *state;
	struct directory *d = directory_open_file(fx->data_dir);
	char *log;

	assert_non_null(d);
	assert_int_equal(directory_domain_add(d, "example.test", fx->err,
					      sizeof(fx->err)),
			 0);
	log = take_log(fx);
	assert_non_null(strstr(log, "MKDIR directory 0750\nCOMMIT ok\n"));
	assert_non_null(strstr(log, "FILE directory/.lock\nCOMMIT ok\n"));
	assert_non_null(strstr(log, "FILE directory/domains\nCOMMIT ok\n"));

	set_refuse(fx, true);
	assert_int_equal(directory_account_add(d, "alice@example.test",
					       "secret-1", fx->err,
					       sizeof(fx->err)),
			 -1);
	assert_false(data_exists(fx, MAILDIR_REL));
	assert_false(data_exists(fx, "directory/accounts"));
	take_log(fx);

	set_refuse(fx, false);
	assert_int_equal(directory_account_add(d, "alice@example.test",
					       "secret-1", fx->err,
					       sizeof(fx->err)),
			 0);
	assert_string_equal(take_log(fx), "MKDIR mail 0700\n"
					  "MKDIR mail/example.test 0700\n"
					  "MKDIR " MAILDIR_REL " 0700\n"
					  "MKDIR " MAILDIR_REL "/cur 0700\n"
					  "MKDIR " MAILDIR_REL "/new 0700\n"
					  "COMMIT ok\n"
					  "FILE directory/accounts\n"
					  "COMMIT ok\n");
	directory_close(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(shared_mode_sends_nothing, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(rel_skips_excluded_paths, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(queue_init_refused_still_creates,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		queue_entry_replicated_before_rename, setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_entry_refused_not_published,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(done_follows_each_publish, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(queue_group_commit_one_batch,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_commit_halves, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(commit_while_split_waits, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(queue_status_appended_after_commit,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_removal_one_batch, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(maildir_delivery_replicated_first,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(append_replicates_file_then_list,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(flags_and_expunge_replicated_first,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(sync_moves_new_with_uidlist, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(folder_changes_replicated_first,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(account_add_replicates_tables,
					    setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	/* The expected MKDIR modes are those mkdir(2) gives under 022. */
	umask(022);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
