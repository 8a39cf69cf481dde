/*
 * Unit tests for local delivery and the per-entry delivery job: Maildir
 * names, prefixes, failures, retries, expiry and the exactly-once rule
 * across a crash between the Maildir write and the status record.
 *
 * Each test gets a fresh data_dir with a file-backend directory holding
 * domain example.org and accounts bob and carol.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "directory.h"
#include "fsutil.h"
#include "job.h"
#include "local.h"
#include "queue.h"

#define MESSAGE "Subject: test\r\n\r\nHello.\r\n"
#define SENDER "alice@example.net"
#define HOSTNAME "mx.example.org"
#define RETRY_MIN 300
#define RETRY_MAX 3600
#define LIFETIME 86400

struct fixture {
	char dir[64];
	char err[512];
	struct delivery_ctx ctx;
};

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
write_table(struct fixture *fx, const char *name, const char *text)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/directory/%s", fx->dir, name);
	assert_int_equal(write_file_atomic(path, text, strlen(text), 0600), 0);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char path[PATH_MAX];

	strcpy(fx->dir, "/tmp/hapost-test-qmgr-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	if (queue_init(fx->dir, fx->err, sizeof(fx->err)) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/directory", fx->dir);
	if (mkdir_p(path, 0700) < 0)
		return -1;
	write_table(fx, "domains", "example.org\n");
	write_table(fx, "accounts",
		    "bob@example.org:$6$salt$hash:\n"
		    "carol@example.org:$6$salt$hash:imap=no\n");
	fx->ctx.data_dir = fx->dir;
	fx->ctx.hostname = HOSTNAME;
	fx->ctx.dir = directory_open_file(fx->dir);
	fx->ctx.retry_min = RETRY_MIN;
	fx->ctx.retry_max = RETRY_MAX;
	fx->ctx.lifetime = LIFETIME;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	directory_close(fx->ctx.dir);
	nftw(fx->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

/* Queues MESSAGE for the given recipients; returns envelope and ID. */
static void
enqueue(struct fixture *fx, const char *const *rcpts, size_t n,
	struct queue_envelope *env)
{
	struct queue_rcpt r[8];
	struct queue_writer *w;
	size_t i;

	assert_true(n <= 8);
	memset(env, 0, sizeof(*env));
	memset(r, 0, sizeof(r));
	for (i = 0; i < n; i++) {
		r[i].address = (char *)rcpts[i];
		r[i].orig = (char *)rcpts[i];
	}
	env->sender = SENDER;
	env->client_ip = "192.0.2.1";
	env->helo = "client.example.net";
	env->rcpts = r;
	env->nrcpts = n;
	w = queue_writer_open(fx->dir, env, fx->err, sizeof(fx->err));
	assert_non_null(w);
	assert_int_equal(queue_writer_write(w, MESSAGE, strlen(MESSAGE)), 0);
	assert_int_equal(queue_writer_commit(w, fx->err, sizeof(fx->err)), 0);
	env->rcpts = NULL;
	env->nrcpts = 0;
}

static char *
maildir_of(struct fixture *fx, const char *local)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/mail/example.org/%s", fx->dir, local);
	return path;
}

/* Counts the files in MAILDIR/sub; 0 when the directory is missing. */
static size_t
count_in(const char *maildir, const char *sub)
{
	char path[PATH_MAX + 16];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", maildir, sub);
	d = opendir(path);
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static size_t
copies(struct fixture *fx, const char *local)
{
	return count_in(maildir_of(fx, local), "new") +
	       count_in(maildir_of(fx, local), "cur");
}

/* Reads the single file in MAILDIR/new; name receives its name. */
static void
read_new_file(struct fixture *fx, const char *local, struct buf *out,
	      char *name, size_t namelen)
{
	char path[PATH_MAX * 2];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/new", maildir_of(fx, local));
	d = opendir(path);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			break;
	assert_non_null(de);
	snprintf(name, namelen, "%s", de->d_name);
	closedir(d);
	snprintf(path, sizeof(path), "%s/new/%s", maildir_of(fx, local), name);
	assert_int_equal(read_file(path, out, 1 << 20), 0);
}

static size_t
queued_entries(struct fixture *fx)
{
	char **ids;
	size_t n;

	assert_int_equal(
	    queue_list(fx->dir, &ids, &n, fx->err, sizeof(fx->err)), 0);
	queue_list_free(ids, n);
	return n;
}

static void
load(struct fixture *fx, const char *id, struct queue_envelope *env)
{
	assert_int_equal(queue_load(fx->dir, id, env, fx->err, sizeof(fx->err)),
			 0);
}

static void
local_base_format_and_escapes(void **state)
{
	struct queue_envelope env;
	char long_host[300];
	char *base;

	memset(&env, 0, sizeof(env));
	env.arrival = 1700000000;
	strcpy(env.id, "0190A3F2C4D51A2B");

	base = local_maildir_base(&env, 2, "mx.example.org", 123);
	assert_string_equal(base,
			    "1700000000.Q0190A3F2C4D51A2B_R2.mx.example.org,"
			    "S=123");
	free(base);

	base = local_maildir_base(&env, 0, "a/b:c,d\\ e", 1);
	assert_string_equal(base, "1700000000.Q0190A3F2C4D51A2B_R0."
				  "a\\057b\\072c\\054d\\134\\040e,S=1");
	free(base);

	base = local_maildir_base(&env, 0, "", 1);
	assert_string_equal(base,
			    "1700000000.Q0190A3F2C4D51A2B_R0.localhost,S=1");
	free(base);

	memset(long_host, 'h', sizeof(long_host) - 1);
	long_host[sizeof(long_host) - 1] = '\0';
	base = local_maildir_base(&env, 0, long_host, 1);
	assert_true(strlen(base) < 128);
	assert_non_null(strstr(base, ",S=1"));
	free(base);
}

static void
local_base_same_on_retry(void **state)
{
	struct queue_envelope env;
	char *first, *second, *other;

	memset(&env, 0, sizeof(env));
	env.arrival = 1700000000;
	strcpy(env.id, "0190A3F2C4D51A2B");
	first = local_maildir_base(&env, 1, HOSTNAME, 99);
	second = local_maildir_base(&env, 1, HOSTNAME, 99);
	other = local_maildir_base(&env, 0, HOSTNAME, 99);
	assert_string_equal(first, second);
	assert_string_not_equal(first, other);
	free(first);
	free(second);
	free(other);
}

static void
delivery_stores_with_prefix(void **state)
{
	struct fixture *fx = *state;
	const char *rcpts[] = {"bob@example.org"};
	const char *expected = "Return-Path: <" SENDER ">\r\n"
			       "Delivered-To: <bob@example.org>\r\n" MESSAGE;
	struct queue_envelope env;
	struct buf data = BUF_INIT;
	char name[NAME_MAX + 1], size_tag[32];

	enqueue(fx, rcpts, 1, &env);
	assert_int_equal(delivery_run_entry(&fx->ctx, env.id, false, false,
					    time(NULL), fx->err,
					    sizeof(fx->err)),
			 0);
	assert_int_equal(queued_entries(fx), 0);
	assert_int_equal(copies(fx, "bob"), 1);
	assert_int_equal(count_in(maildir_of(fx, "bob"), "tmp"), 0);

	read_new_file(fx, "bob", &data, name, sizeof(name));
	assert_int_equal(data.len, strlen(expected));
	assert_memory_equal(data.data, expected, data.len);
	snprintf(size_tag, sizeof(size_tag), ",S=%zu", strlen(expected));
	assert_non_null(strstr(name, size_tag));
	assert_non_null(strstr(name, env.id));
	buf_free(&data);
}

static void
delivery_null_sender_prefix(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct queue_rcpt r = {.address = "carol@example.org"};
	struct queue_writer *w;
	struct buf data = BUF_INIT;
	char name[NAME_MAX + 1];

	memset(&env, 0, sizeof(env));
	env.sender = "";
	env.rcpts = &r;
	env.nrcpts = 1;
	w = queue_writer_open(fx->dir, &env, fx->err, sizeof(fx->err));
	assert_non_null(w);
	assert_int_equal(queue_writer_write(w, MESSAGE, strlen(MESSAGE)), 0);
	assert_int_equal(queue_writer_commit(w, fx->err, sizeof(fx->err)), 0);

	assert_int_equal(delivery_run_entry(&fx->ctx, env.id, false, false,
					    time(NULL), fx->err,
					    sizeof(fx->err)),
			 0);
	read_new_file(fx, "carol", &data, name, sizeof(name));
	assert_int_equal(strncmp(buf_cstr(&data), "Return-Path: <>\r\n", 17),
			 0);
	buf_free(&data);
}

static void
delivery_unknown_account_fails(void **state)
{
	struct fixture *fx = *state;
	const char *rcpts[] = {"bob@example.org", "nobody@example.org",
			       "someone@elsewhere.example"};
	struct queue_envelope env;
	struct queue_envelope loaded;

	enqueue(fx, rcpts, 3, &env);
	assert_int_equal(delivery_run_entry(&fx->ctx, env.id, false, false,
					    time(NULL), fx->err,
					    sizeof(fx->err)),
			 0);
	assert_int_equal(copies(fx, "bob"), 1);
	assert_int_equal(copies(fx, "nobody"), 0);
	assert_int_equal(access(maildir_of(fx, "nobody"), F_OK), -1);
	assert_int_equal(queued_entries(fx), 0);
	assert_int_equal(
	    queue_load(fx->dir, env.id, &loaded, fx->err, sizeof(fx->err)), -1);
}

static void
delivery_failed_states_recorded(void **state)
{
	struct fixture *fx = *state;
	const char *rcpts[] = {"nobody@example.org", "bob@example.org"};
	struct queue_envelope env, loaded;
	struct delivery_job job;
	time_t now = time(NULL);

	enqueue(fx, rcpts, 2, &env);
	assert_int_equal(delivery_job_open(&fx->ctx, env.id, false, false, &job,
					   fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(delivery_job_step(&fx->ctx, &job, now), 1);
	delivery_job_close(&job);

	load(fx, env.id, &loaded);
	assert_int_equal(loaded.rcpts[0].state, QUEUE_RCPT_FAILED);
	assert_string_equal(loaded.rcpts[0].last_error, "no such account");
	assert_int_equal(loaded.rcpts[1].state, QUEUE_RCPT_PENDING);
	assert_int_equal(loaded.rcpts[1].attempts, 0);
	queue_envelope_free(&loaded);
}

/* Puts a plain file where bob's Maildir should be, so mkdir fails. */
static void
block_maildir(struct fixture *fx, const char *local)
{
	char parent[PATH_MAX];
	int fd;

	snprintf(parent, sizeof(parent), "%s/mail/example.org", fx->dir);
	assert_int_equal(mkdir_p(parent, 0700), 0);
	fd = open(maildir_of(fx, local), O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
}

static void
delivery_io_error_defers(void **state)
{
	struct fixture *fx = *state;
	const char *rcpts[] = {"bob@example.org"};
	struct queue_envelope env, loaded;
	time_t now = time(NULL), next;

	enqueue(fx, rcpts, 1, &env);
	block_maildir(fx, "bob");

	next = delivery_run_entry(&fx->ctx, env.id, false, false, now, fx->err,
				  sizeof(fx->err));
	assert_int_equal(next, now + RETRY_MIN);
	assert_int_equal(queued_entries(fx), 1);
	load(fx, env.id, &loaded);
	assert_int_equal(loaded.rcpts[0].state, QUEUE_RCPT_PENDING);
	assert_int_equal(loaded.rcpts[0].attempts, 1);
	assert_int_equal(loaded.rcpts[0].next_attempt, now + RETRY_MIN);
	assert_non_null(strstr(loaded.rcpts[0].last_error, "maildir"));
	queue_envelope_free(&loaded);

	/* Not due yet: nothing happens and the due time stays. */
	next = delivery_run_entry(&fx->ctx, env.id, false, false, now + 10,
				  fx->err, sizeof(fx->err));
	assert_int_equal(next, now + RETRY_MIN);
	load(fx, env.id, &loaded);
	assert_int_equal(loaded.rcpts[0].attempts, 1);
	queue_envelope_free(&loaded);

	/* Due and still failing: the delay doubles. */
	next = delivery_run_entry(&fx->ctx, env.id, false, false,
				  now + RETRY_MIN, fx->err, sizeof(fx->err));
	assert_int_equal(next, now + RETRY_MIN + 2 * RETRY_MIN);

	/* The problem is fixed: the next due attempt delivers. */
	assert_int_equal(unlink(maildir_of(fx, "bob")), 0);
	next =
	    delivery_run_entry(&fx->ctx, env.id, false, false,
			       now + 3 * RETRY_MIN, fx->err, sizeof(fx->err));
	assert_int_equal(next, 0);
	assert_int_equal(copies(fx, "bob"), 1);
	assert_int_equal(queued_entries(fx), 0);
}

static void
delivery_flush_ignores_due_time(void **state)
{
	struct fixture *fx = *state;
	const char *rcpts[] = {"bob@example.org"};
	struct queue_envelope env;
	time_t now = time(NULL), next;

	enqueue(fx, rcpts, 1, &env);
	block_maildir(fx, "bob");
	next = delivery_run_entry(&fx->ctx, env.id, false, false, now, fx->err,
				  sizeof(fx->err));
	assert_int_equal(next, now + RETRY_MIN);
	assert_int_equal(unlink(maildir_of(fx, "bob")), 0);
	next = delivery_run_entry(&fx->ctx, env.id, false, true, now + 1,
				  fx->err, sizeof(fx->err));
	assert_int_equal(next, 0);
	assert_int_equal(copies(fx, "bob"), 1);
}

static void
delivery_expires_after_lifetime(void **state)
{
	struct fixture *fx = *state;
	const char *rcpts[] = {"bob@example.org"};
	struct queue_envelope env, loaded;
	struct delivery_job job;

	enqueue(fx, rcpts, 1, &env);
	block_maildir(fx, "bob");

	/* One second before the lifetime ends: still deferred. */
	assert_int_equal(delivery_job_open(&fx->ctx, env.id, false, false, &job,
					   fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(
	    delivery_job_step(&fx->ctx, &job, env.arrival + LIFETIME - 1), 1);
	delivery_job_close(&job);
	load(fx, env.id, &loaded);
	assert_int_equal(loaded.rcpts[0].state, QUEUE_RCPT_PENDING);
	queue_envelope_free(&loaded);

	/* At the lifetime: failed, with the last reason kept. */
	assert_int_equal(delivery_job_open(&fx->ctx, env.id, false, true, &job,
					   fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(
	    delivery_job_step(&fx->ctx, &job, env.arrival + LIFETIME), 1);
	delivery_job_close(&job);
	load(fx, env.id, &loaded);
	assert_int_equal(loaded.rcpts[0].state, QUEUE_RCPT_FAILED);
	assert_non_null(strstr(loaded.rcpts[0].last_error, "expired"));
	assert_non_null(strstr(loaded.rcpts[0].last_error, "maildir"));
	queue_envelope_free(&loaded);

	assert_int_equal(delivery_run_entry(&fx->ctx, env.id, false, false,
					    env.arrival + LIFETIME, fx->err,
					    sizeof(fx->err)),
			 0);
	assert_int_equal(queued_entries(fx), 0);
}

static void
delivery_retry_delay_doubles(void **state)
{
	static const struct {
		unsigned attempts;
		unsigned delay;
	} cases[] = {
	    {0, 300},  {1, 600},  {2, 1200},  {3, 2400},
	    {4, 3600}, {5, 3600}, {40, 3600}, {4000000000u, 3600},
	};
	struct delivery_ctx ctx = {.retry_min = 300, .retry_max = 3600};
	struct delivery_ctx odd = {.retry_min = 7, .retry_max = 7};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(delivery_retry_delay(&ctx, cases[i].attempts),
				 cases[i].delay);
	assert_int_equal(delivery_retry_delay(&odd, 0), 7);
	assert_int_equal(delivery_retry_delay(&odd, 3), 7);
}

static void
delivery_same_mailbox_once(void **state)
{
	struct fixture *fx = *state;
	const char *rcpts[] = {"bob@example.org", "carol@example.org",
			       "bob@example.org"};
	struct queue_envelope env;

	enqueue(fx, rcpts, 3, &env);
	assert_int_equal(delivery_run_entry(&fx->ctx, env.id, false, false,
					    time(NULL), fx->err,
					    sizeof(fx->err)),
			 0);
	assert_int_equal(copies(fx, "bob"), 1);
	assert_int_equal(copies(fx, "carol"), 1);
}

/*
 * The crash: the Maildir holds the copy but the status log does not say
 * so. Recovery at startup runs with check_existing set.
 */
static void
crash_before_record_one_copy(void **state)
{
	struct fixture *fx = *state;
	const char *rcpts[] = {"bob@example.org", "carol@example.org"};
	struct queue_envelope env;
	struct delivery_job job;
	char reason[256];

	enqueue(fx, rcpts, 2, &env);
	assert_int_equal(delivery_job_open(&fx->ctx, env.id, false, false, &job,
					   fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(local_deliver(fx->ctx.dir, HOSTNAME, &job.env, 0,
				       job.fd, false, reason, sizeof(reason)),
			 DELIVERY_DELIVERED);
	delivery_job_close(&job); /* crash: no queue_mark */
	assert_int_equal(copies(fx, "bob"), 1);

	assert_int_equal(delivery_run_entry(&fx->ctx, env.id, true, false,
					    time(NULL), fx->err,
					    sizeof(fx->err)),
			 0);
	assert_int_equal(copies(fx, "bob"), 1);
	assert_int_equal(copies(fx, "carol"), 1);
	assert_int_equal(queued_entries(fx), 0);
}

/* As above, but a reader already moved the copy to cur/ and flagged it. */
static void
crash_copy_moved_to_cur(void **state)
{
	struct fixture *fx = *state;
	const char *rcpts[] = {"bob@example.org"};
	struct queue_envelope env;
	struct delivery_job job;
	struct buf data = BUF_INIT;
	char reason[256], name[NAME_MAX + 1];
	char from[PATH_MAX * 2], to[PATH_MAX * 2];

	enqueue(fx, rcpts, 1, &env);
	assert_int_equal(delivery_job_open(&fx->ctx, env.id, false, false, &job,
					   fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(local_deliver(fx->ctx.dir, HOSTNAME, &job.env, 0,
				       job.fd, false, reason, sizeof(reason)),
			 DELIVERY_DELIVERED);
	delivery_job_close(&job);
	read_new_file(fx, "bob", &data, name, sizeof(name));
	buf_free(&data);
	snprintf(from, sizeof(from), "%s/new/%s", maildir_of(fx, "bob"), name);
	snprintf(to, sizeof(to), "%s/cur/%s:2,S", maildir_of(fx, "bob"), name);
	assert_int_equal(rename(from, to), 0);

	assert_int_equal(delivery_run_entry(&fx->ctx, env.id, true, false,
					    time(NULL), fx->err,
					    sizeof(fx->err)),
			 0);
	assert_int_equal(count_in(maildir_of(fx, "bob"), "new"), 0);
	assert_int_equal(count_in(maildir_of(fx, "bob"), "cur"), 1);
}

/* Without check_existing the cur/ scan is skipped: a second copy. */
static void
crash_without_check_duplicates(void **state)
{
	struct fixture *fx = *state;
	const char *rcpts[] = {"bob@example.org"};
	struct queue_envelope env;
	struct delivery_job job;
	struct buf data = BUF_INIT;
	char reason[256], name[NAME_MAX + 1];
	char from[PATH_MAX * 2], to[PATH_MAX * 2];

	enqueue(fx, rcpts, 1, &env);
	assert_int_equal(delivery_job_open(&fx->ctx, env.id, false, false, &job,
					   fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(local_deliver(fx->ctx.dir, HOSTNAME, &job.env, 0,
				       job.fd, false, reason, sizeof(reason)),
			 DELIVERY_DELIVERED);
	delivery_job_close(&job);
	read_new_file(fx, "bob", &data, name, sizeof(name));
	buf_free(&data);
	snprintf(from, sizeof(from), "%s/new/%s", maildir_of(fx, "bob"), name);
	snprintf(to, sizeof(to), "%s/cur/%s:2,S", maildir_of(fx, "bob"), name);
	assert_int_equal(rename(from, to), 0);

	assert_int_equal(delivery_run_entry(&fx->ctx, env.id, false, false,
					    time(NULL), fx->err,
					    sizeof(fx->err)),
			 0);
	assert_int_equal(copies(fx, "bob"), 2);
}

/* A crash after the record but before the removal: no second copy. */
static void
crash_before_remove_one_copy(void **state)
{
	struct fixture *fx = *state;
	const char *rcpts[] = {"bob@example.org"};
	struct queue_envelope env;
	struct delivery_job job;

	enqueue(fx, rcpts, 1, &env);
	assert_int_equal(delivery_job_open(&fx->ctx, env.id, false, false, &job,
					   fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(delivery_job_step(&fx->ctx, &job, time(NULL)), 1);
	delivery_job_close(&job); /* crash: no queue_remove */
	assert_int_equal(queued_entries(fx), 1);

	assert_int_equal(delivery_run_entry(&fx->ctx, env.id, true, false,
					    time(NULL), fx->err,
					    sizeof(fx->err)),
			 0);
	assert_int_equal(copies(fx, "bob"), 1);
	assert_int_equal(queued_entries(fx), 0);
}

/* The status record cannot be written after the copy is stored. */
static void
record_failure_then_one_copy(void **state)
{
	struct fixture *fx = *state;
	const char *rcpts[] = {"bob@example.org"};
	struct queue_envelope env;
	char status[PATH_MAX];
	time_t now = time(NULL), next;

	enqueue(fx, rcpts, 1, &env);
	snprintf(status, sizeof(status), "%s/queue/status/%s", fx->dir, env.id);
	/* A dangling symlink: readers see no records, appends fail. */
	assert_int_equal(symlink("/nonexistent/hapost/status", status), 0);

	next = delivery_run_entry(&fx->ctx, env.id, false, false, now, fx->err,
				  sizeof(fx->err));
	assert_int_equal(next, now + RETRY_MIN);
	assert_int_equal(copies(fx, "bob"), 1);
	assert_int_equal(queued_entries(fx), 1);

	assert_int_equal(unlink(status), 0);
	next = delivery_run_entry(&fx->ctx, env.id, true, false,
				  now + RETRY_MIN, fx->err, sizeof(fx->err));
	assert_int_equal(next, 0);
	assert_int_equal(copies(fx, "bob"), 1);
	assert_int_equal(queued_entries(fx), 0);
}

static void
run_entry_missing_or_corrupt(void **state)
{
	struct fixture *fx = *state;
	char path[PATH_MAX];

	assert_int_equal(delivery_run_entry(&fx->ctx, "0190A3F2C4D51A2B", false,
					    false, time(NULL), fx->err,
					    sizeof(fx->err)),
			 0);
	snprintf(path, sizeof(path), "%s/queue/messages/0190A3F2C4D51A2B",
		 fx->dir);
	assert_int_equal(write_file_atomic(path, "garbage\n", 8, 0600), 0);
	fx->err[0] = '\0';
	assert_int_equal(delivery_run_entry(&fx->ctx, "0190A3F2C4D51A2B", false,
					    false, time(NULL), fx->err,
					    sizeof(fx->err)),
			 -1);
	assert_non_null(strstr(fx->err, "not a queue file"));
	assert_int_equal(queued_entries(fx), 1);
}

#define FX_TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(local_base_format_and_escapes),
	    cmocka_unit_test(local_base_same_on_retry),
	    FX_TEST(delivery_stores_with_prefix),
	    FX_TEST(delivery_null_sender_prefix),
	    FX_TEST(delivery_unknown_account_fails),
	    FX_TEST(delivery_failed_states_recorded),
	    FX_TEST(delivery_io_error_defers),
	    FX_TEST(delivery_flush_ignores_due_time),
	    FX_TEST(delivery_expires_after_lifetime),
	    cmocka_unit_test(delivery_retry_delay_doubles),
	    FX_TEST(delivery_same_mailbox_once),
	    FX_TEST(crash_before_record_one_copy),
	    FX_TEST(crash_copy_moved_to_cur),
	    FX_TEST(crash_without_check_duplicates),
	    FX_TEST(crash_before_remove_one_copy),
	    FX_TEST(record_failure_then_one_copy),
	    FX_TEST(run_entry_missing_or_corrupt),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
