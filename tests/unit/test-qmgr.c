/*
 * Unit tests for local delivery, the per-entry delivery job and batches:
 * Maildir names, prefixes, failures, retries, expiry, the staged Maildir
 * delivery, and the exactly-once rule across a crash at each step of a
 * batch. A test "crashes" by freeing the batch, which leaves the files as
 * they are.
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
#include <sys/utsname.h>
#include <unistd.h>

#include <cmocka.h>

#include "batch.h"
#include "buf.h"
#include "directory.h"
#include "fsutil.h"
#include "job.h"
#include "local.h"
#include "maildir.h"
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
			       "Delivered-To: bob@example.org\r\n" MESSAGE;
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
	time_t next;

	enqueue(fx, rcpts, 3, &env);
	/*
	 * Local delivery alone: the recipient of another domain is left
	 * for remote delivery (deferred here), the unknown account fails.
	 */
	next = delivery_run_entry(&fx->ctx, env.id, false, false, time(NULL),
				  fx->err, sizeof(fx->err));
	assert_true(next > 0);
	assert_int_equal(copies(fx, "bob"), 1);
	assert_int_equal(copies(fx, "nobody"), 0);
	assert_int_equal(access(maildir_of(fx, "nobody"), F_OK), -1);
	assert_int_equal(queued_entries(fx), 1);
	assert_int_equal(
	    queue_load(fx->dir, env.id, &loaded, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(loaded.rcpts[0].state, QUEUE_RCPT_DELIVERED);
	assert_int_equal(loaded.rcpts[1].state, QUEUE_RCPT_FAILED);
	assert_int_equal(loaded.rcpts[2].state, QUEUE_RCPT_PENDING);
	queue_envelope_free(&loaded);
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

/* --- the staged Maildir delivery --- */

#define BASE "1700000000.Q0190A3F2C4D51A2B_R0.mx,S=29"

/* Opens a file holding MESSAGE for maildir_deliver_stage() to copy. */
static int
message_fd(struct fixture *fx)
{
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/message", fx->dir);
	assert_int_equal(
	    write_file_atomic(path, MESSAGE, strlen(MESSAGE), 0600), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	return fd;
}

static void
stage_publish_roundtrip(void **state)
{
	struct fixture *fx = *state;
	struct maildir_stage st;
	struct buf data = BUF_INIT;
	char name[NAME_MAX + 1];
	int fd = message_fd(fx);

	assert_int_equal(maildir_deliver_stage(maildir_of(fx, "bob"), BASE,
					       "P: 1\r\n", 6, fd, 0,
					       strlen(MESSAGE), false, &st,
					       fx->err, sizeof(fx->err)),
			 1);
	assert_true(st.fd >= 0);
	assert_int_equal(count_in(maildir_of(fx, "bob"), "tmp"), 1);
	assert_int_equal(count_in(maildir_of(fx, "bob"), "new"), 0);
	assert_int_equal(maildir_stage_fsync(&st, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(maildir_deliver_publish(&st, fx->err, sizeof(fx->err)),
			 1);
	assert_int_equal(st.fd, -1);
	assert_int_equal(fsync_dir(st.new_dir), 0);
	maildir_stage_free(&st);

	assert_int_equal(count_in(maildir_of(fx, "bob"), "tmp"), 0);
	read_new_file(fx, "bob", &data, name, sizeof(name));
	assert_string_equal(name, BASE);
	assert_int_equal(data.len, 6 + strlen(MESSAGE));
	assert_memory_equal(data.data, "P: 1\r\n" MESSAGE, data.len);
	buf_free(&data);
	close(fd);
}

static void
stage_finds_earlier_copies(void **state)
{
	struct fixture *fx = *state;
	struct maildir_stage st;
	char path[PATH_MAX * 2];
	int fd = message_fd(fx);

	assert_int_equal(maildir_deliver(maildir_of(fx, "bob"), BASE, NULL, 0,
					 fd, 0, strlen(MESSAGE), false, fx->err,
					 sizeof(fx->err)),
			 1);
	/* In new/: found with or without check_existing. */
	assert_int_equal(maildir_deliver_stage(maildir_of(fx, "bob"), BASE,
					       NULL, 0, fd, 0, strlen(MESSAGE),
					       false, &st, fx->err,
					       sizeof(fx->err)),
			 0);
	assert_int_equal(st.fd, -1);
	assert_null(st.tmp_path);

	/* In cur/ with flags: found only with check_existing. */
	snprintf(path, sizeof(path), "%s/new/%s", maildir_of(fx, "bob"), BASE);
	{
		char to[PATH_MAX * 2];

		snprintf(to, sizeof(to), "%s/cur/%s:2,S", maildir_of(fx, "bob"),
			 BASE);
		assert_int_equal(rename(path, to), 0);
	}
	assert_int_equal(maildir_deliver_stage(maildir_of(fx, "bob"), BASE,
					       NULL, 0, fd, 0, strlen(MESSAGE),
					       true, &st, fx->err,
					       sizeof(fx->err)),
			 0);
	assert_int_equal(maildir_deliver_stage(maildir_of(fx, "bob"), BASE,
					       NULL, 0, fd, 0, strlen(MESSAGE),
					       false, &st, fx->err,
					       sizeof(fx->err)),
			 1);
	maildir_stage_abort(&st);
	assert_int_equal(count_in(maildir_of(fx, "bob"), "tmp"), 0);
	assert_int_equal(count_in(maildir_of(fx, "bob"), "new"), 0);
	close(fd);
}

static void
publish_existing_keeps_first(void **state)
{
	struct fixture *fx = *state;
	struct maildir_stage st;
	struct buf data = BUF_INIT;
	char path[PATH_MAX * 2], name[NAME_MAX + 1];
	int fd = message_fd(fx);

	assert_int_equal(maildir_deliver_stage(maildir_of(fx, "bob"), BASE,
					       NULL, 0, fd, 0, strlen(MESSAGE),
					       false, &st, fx->err,
					       sizeof(fx->err)),
			 1);
	/* Another attempt published the same name meanwhile. */
	snprintf(path, sizeof(path), "%s/new/%s", maildir_of(fx, "bob"), BASE);
	assert_int_equal(write_file_atomic(path, "first", 5, 0600), 0);
	assert_int_equal(maildir_deliver_publish(&st, fx->err, sizeof(fx->err)),
			 0);
	maildir_stage_free(&st);
	assert_int_equal(count_in(maildir_of(fx, "bob"), "tmp"), 0);
	read_new_file(fx, "bob", &data, name, sizeof(name));
	assert_string_equal(buf_cstr(&data), "first");
	buf_free(&data);
	close(fd);
}

static void
stage_rejects_bad_names(void **state)
{
	struct fixture *fx = *state;
	static const char *const bases[] = {"", ".hidden", "a/b", "a:2,S"};
	struct maildir_stage st;
	char long_dir[PATH_MAX + 8];
	size_t i;
	int fd = message_fd(fx);

	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		fx->err[0] = '\0';
		assert_int_equal(
		    maildir_deliver_stage(maildir_of(fx, "bob"), bases[i], NULL,
					  0, fd, 0, strlen(MESSAGE), false, &st,
					  fx->err, sizeof(fx->err)),
		    -1);
		assert_non_null(strstr(fx->err, "invalid maildir file name"));
		assert_int_equal(st.fd, -1);
	}
	memset(long_dir, 'd', sizeof(long_dir) - 1);
	long_dir[0] = '/';
	long_dir[sizeof(long_dir) - 1] = '\0';
	assert_int_equal(maildir_deliver_stage(long_dir, BASE, NULL, 0, fd, 0,
					       strlen(MESSAGE), false, &st,
					       fx->err, sizeof(fx->err)),
			 -1);
	assert_non_null(strstr(fx->err, "too long"));
	/* A message shorter than its recorded size leaves no file. */
	assert_int_equal(maildir_deliver_stage(maildir_of(fx, "bob"), BASE,
					       NULL, 0, fd, 0,
					       strlen(MESSAGE) + 1, false, &st,
					       fx->err, sizeof(fx->err)),
			 -1);
	assert_non_null(strstr(fx->err, "shorter"));
	assert_int_equal(count_in(maildir_of(fx, "bob"), "tmp"), 0);
	close(fd);
}

/* --- batches --- */

enum crash_point {
	CRASH_AFTER_STAGE,
	CRASH_AFTER_SYNC,
	CRASH_AFTER_PUBLISH,
	CRASH_AFTER_RECORD,
};

/*
 * Queues three entries (bob and carol; bob; carol) and runs one batch
 * over all of them up to the crash point. The batch is then freed
 * without the remaining steps, as a crash would leave it.
 */
static void
batch_until(struct fixture *fx, enum crash_point at, char ids[3][32])
{
	const char *first[] = {"bob@example.org", "carol@example.org"};
	const char *second[] = {"bob@example.org"};
	const char *third[] = {"carol@example.org"};
	struct queue_envelope env;
	struct delivery_job jobs[3];
	struct delivery_batch b;
	size_t i;

	enqueue(fx, first, 2, &env);
	snprintf(ids[0], 32, "%s", env.id);
	enqueue(fx, second, 1, &env);
	snprintf(ids[1], 32, "%s", env.id);
	enqueue(fx, third, 1, &env);
	snprintf(ids[2], 32, "%s", env.id);

	delivery_batch_init(&b, &fx->ctx, time(NULL));
	for (i = 0; i < 3; i++) {
		assert_int_equal(delivery_job_open(&fx->ctx, ids[i], false,
						   false, &jobs[i], fx->err,
						   sizeof(fx->err)),
				 0);
		assert_int_equal(delivery_batch_take(&b, &jobs[i],
						     DELIVERY_BATCH_RCPTS,
						     DELIVERY_BATCH_BYTES),
				 i == 0 ? 2 : 1);
	}
	delivery_batch_stage(&b);
	if (at >= CRASH_AFTER_SYNC)
		delivery_batch_sync(&b);
	if (at >= CRASH_AFTER_PUBLISH)
		delivery_batch_publish(&b);
	if (at >= CRASH_AFTER_RECORD)
		delivery_batch_record(&b);
	delivery_batch_free(&b);
	for (i = 0; i < 3; i++)
		delivery_job_close(&jobs[i]);
}

/* Checks that every copy in new/ and cur/ is whole: its size is S=. */
static void
assert_copies_whole(struct fixture *fx, const char *local)
{
	static const char *const subs[] = {"new", "cur"};
	char dir[PATH_MAX + 8], path[PATH_MAX * 2];
	struct dirent *de;
	struct stat st;
	size_t i;
	DIR *d;

	for (i = 0; i < 2; i++) {
		snprintf(dir, sizeof(dir), "%s/%s", maildir_of(fx, local),
			 subs[i]);
		d = opendir(dir);
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			const char *size;

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			assert_int_equal(stat(path, &st), 0);
			size = strstr(de->d_name, ",S=");
			assert_non_null(size);
			assert_int_equal(st.st_size, atol(size + 3));
		}
		closedir(d);
	}
}

/* The restart: every entry is run again with check_existing set. */
static void
recover(struct fixture *fx, char ids[3][32])
{
	size_t i;

	for (i = 0; i < 3; i++)
		assert_int_equal(delivery_run_entry(&fx->ctx, ids[i], true,
						    false, time(NULL), fx->err,
						    sizeof(fx->err)),
				 0);
}

static void
assert_one_copy_each(struct fixture *fx)
{
	/* bob is a recipient of two entries, carol of two. */
	assert_int_equal(copies(fx, "bob"), 2);
	assert_int_equal(copies(fx, "carol"), 2);
	assert_int_equal(count_in(maildir_of(fx, "bob"), "tmp"), 0);
	assert_int_equal(count_in(maildir_of(fx, "carol"), "tmp"), 0);
	assert_copies_whole(fx, "bob");
	assert_copies_whole(fx, "carol");
	assert_int_equal(queued_entries(fx), 0);
}

static void
batch_crash_after_stage(void **state)
{
	struct fixture *fx = *state;
	char ids[3][32];

	batch_until(fx, CRASH_AFTER_STAGE, ids);
	assert_int_equal(count_in(maildir_of(fx, "bob"), "tmp"), 2);
	assert_int_equal(copies(fx, "bob"), 0);
	recover(fx, ids);
	assert_one_copy_each(fx);
}

/* Unsynced data may be lost in a crash: the retry writes it whole. */
static void
batch_crash_torn_tmp_file(void **state)
{
	struct fixture *fx = *state;
	char ids[3][32], dir[PATH_MAX + 8], path[PATH_MAX * 2];
	struct dirent *de;
	DIR *d;

	batch_until(fx, CRASH_AFTER_STAGE, ids);
	snprintf(dir, sizeof(dir), "%s/tmp", maildir_of(fx, "bob"));
	d = opendir(dir);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		assert_int_equal(truncate(path, 7), 0);
	}
	closedir(d);
	recover(fx, ids);
	assert_one_copy_each(fx);
}

static void
batch_crash_after_sync(void **state)
{
	struct fixture *fx = *state;
	char ids[3][32];

	batch_until(fx, CRASH_AFTER_SYNC, ids);
	assert_int_equal(count_in(maildir_of(fx, "carol"), "tmp"), 2);
	assert_int_equal(copies(fx, "carol"), 0);
	recover(fx, ids);
	assert_one_copy_each(fx);
}

/* The crash came after some renames: those copies are found. */
static void
batch_crash_mid_publish(void **state)
{
	struct fixture *fx = *state;
	char ids[3][32], from[PATH_MAX * 2], to[PATH_MAX * 2];
	struct dirent *de;
	DIR *d;

	batch_until(fx, CRASH_AFTER_SYNC, ids);
	snprintf(from, sizeof(from), "%s/tmp", maildir_of(fx, "bob"));
	d = opendir(from);
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			break;
	assert_non_null(de);
	snprintf(from, sizeof(from), "%s/tmp/%s", maildir_of(fx, "bob"),
		 de->d_name);
	snprintf(to, sizeof(to), "%s/new/%s", maildir_of(fx, "bob"),
		 de->d_name);
	closedir(d);
	assert_int_equal(rename(from, to), 0);

	recover(fx, ids);
	assert_one_copy_each(fx);
}

static void
batch_crash_after_publish(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope loaded;
	char ids[3][32];

	batch_until(fx, CRASH_AFTER_PUBLISH, ids);
	assert_int_equal(copies(fx, "bob"), 2);
	assert_int_equal(count_in(maildir_of(fx, "bob"), "tmp"), 0);
	/* Nothing is recorded yet. */
	load(fx, ids[0], &loaded);
	assert_int_equal(loaded.rcpts[0].state, QUEUE_RCPT_PENDING);
	assert_int_equal(loaded.rcpts[0].attempts, 0);
	queue_envelope_free(&loaded);
	recover(fx, ids);
	assert_one_copy_each(fx);
}

static void
batch_crash_after_record(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope loaded;
	struct buf data = BUF_INIT;
	char ids[3][32], name[NAME_MAX + 1], path[PATH_MAX * 2];

	batch_until(fx, CRASH_AFTER_RECORD, ids);
	assert_int_equal(queued_entries(fx), 3);
	load(fx, ids[0], &loaded);
	assert_int_equal(loaded.rcpts[0].state, QUEUE_RCPT_DELIVERED);
	assert_int_equal(loaded.rcpts[1].state, QUEUE_RCPT_DELIVERED);
	queue_envelope_free(&loaded);

	/* The user expunged a copy: the records keep it from coming back. */
	read_new_file(fx, "bob", &data, name, sizeof(name));
	buf_free(&data);
	snprintf(path, sizeof(path), "%s/new/%s", maildir_of(fx, "bob"), name);
	assert_int_equal(unlink(path), 0);
	recover(fx, ids);
	assert_int_equal(copies(fx, "bob"), 1);
	assert_int_equal(copies(fx, "carol"), 2);
	assert_copies_whole(fx, "carol");
	assert_int_equal(queued_entries(fx), 0);
}

/* One entry's bad recipients do not hold back the rest of the batch. */
static void
batch_failure_spares_others(void **state)
{
	struct fixture *fx = *state;
	const char *first[] = {"nobody@example.org", "bob@example.org",
			       "carol@example.org"};
	const char *second[] = {"carol@example.org"};
	struct queue_envelope a, b, loaded;
	struct delivery_job jobs[2];
	struct delivery_job *list[2] = {&jobs[0], &jobs[1]};
	struct delivery_batch batch;
	time_t now = time(NULL), next[2];

	enqueue(fx, first, 3, &a);
	enqueue(fx, second, 1, &b);
	block_maildir(fx, "bob");
	assert_int_equal(delivery_job_open(&fx->ctx, a.id, false, false,
					   &jobs[0], fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(delivery_job_open(&fx->ctx, b.id, false, false,
					   &jobs[1], fx->err, sizeof(fx->err)),
			 0);
	delivery_batch_init(&batch, &fx->ctx, now);
	assert_int_equal(delivery_batch_take(&batch, &jobs[0],
					     DELIVERY_BATCH_RCPTS,
					     DELIVERY_BATCH_BYTES),
			 3);
	assert_int_equal(delivery_batch_take(&batch, &jobs[1],
					     DELIVERY_BATCH_RCPTS,
					     DELIVERY_BATCH_BYTES),
			 1);
	delivery_batch_run(&batch);
	delivery_batch_free(&batch);
	assert_int_equal(delivery_job_due(&jobs[0], now), 0);
	delivery_jobs_finish(&fx->ctx, list, 2, now, next);
	assert_int_equal(next[0], now + RETRY_MIN);
	assert_int_equal(next[1], 0);
	delivery_job_close(&jobs[0]);
	delivery_job_close(&jobs[1]);

	assert_int_equal(copies(fx, "carol"), 2);
	assert_int_equal(queued_entries(fx), 1);
	load(fx, a.id, &loaded);
	assert_int_equal(loaded.rcpts[0].state, QUEUE_RCPT_FAILED);
	assert_string_equal(loaded.rcpts[0].last_error, "no such account");
	assert_int_equal(loaded.rcpts[1].state, QUEUE_RCPT_PENDING);
	assert_int_equal(loaded.rcpts[1].attempts, 1);
	assert_int_equal(loaded.rcpts[1].next_attempt, now + RETRY_MIN);
	assert_non_null(strstr(loaded.rcpts[1].last_error, "maildir"));
	assert_int_equal(loaded.rcpts[2].state, QUEUE_RCPT_DELIVERED);
	queue_envelope_free(&loaded);
}

/* Two recipients with one address share the first one's result. */
static void
batch_duplicate_shares_result(void **state)
{
	struct fixture *fx = *state;
	const char *rcpts[] = {"bob@example.org", "bob@example.org"};
	struct queue_envelope env, loaded;
	time_t now = time(NULL);

	enqueue(fx, rcpts, 2, &env);
	block_maildir(fx, "bob");
	assert_int_equal(delivery_run_entry(&fx->ctx, env.id, false, false, now,
					    fx->err, sizeof(fx->err)),
			 now + RETRY_MIN);
	load(fx, env.id, &loaded);
	assert_int_equal(loaded.rcpts[0].state, QUEUE_RCPT_PENDING);
	assert_int_equal(loaded.rcpts[1].state, QUEUE_RCPT_PENDING);
	assert_int_equal(loaded.rcpts[1].attempts, 1);
	assert_string_equal(loaded.rcpts[0].last_error,
			    loaded.rcpts[1].last_error);
	queue_envelope_free(&loaded);

	assert_int_equal(unlink(maildir_of(fx, "bob")), 0);
	assert_int_equal(delivery_run_entry(&fx->ctx, env.id, false, true,
					    now + 1, fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(copies(fx, "bob"), 1);
}

static void
batch_take_respects_limits(void **state)
{
	struct fixture *fx = *state;
	const char *rcpts[] = {"bob@example.org", "carol@example.org",
			       "nobody@example.org"};
	struct queue_envelope env;
	struct delivery_job job;
	struct delivery_batch b;
	time_t now = time(NULL);

	enqueue(fx, rcpts, 3, &env);
	assert_int_equal(delivery_job_open(&fx->ctx, env.id, false, false, &job,
					   fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(delivery_job_due(&job, now), 3);

	delivery_batch_init(&b, &fx->ctx, now);
	assert_int_equal(delivery_batch_take(&b, &job, 2, DELIVERY_BATCH_BYTES),
			 2);
	assert_true(delivery_batch_full(&b, 2, DELIVERY_BATCH_BYTES));
	assert_int_equal(delivery_batch_take(&b, &job, 2, DELIVERY_BATCH_BYTES),
			 0);
	assert_int_equal(delivery_job_due(&job, now), 1);
	delivery_batch_run(&b);
	delivery_batch_free(&b);
	assert_int_equal(copies(fx, "bob"), 1);
	assert_int_equal(copies(fx, "carol"), 1);

	/* A byte limit below one message still takes one recipient. */
	delivery_batch_init(&b, &fx->ctx, now);
	assert_int_equal(delivery_batch_take(&b, &job, 64, 1), 1);
	assert_int_equal(delivery_job_due(&job, now), 0);
	delivery_batch_run(&b);
	delivery_batch_free(&b);
	assert_int_equal(delivery_job_finish(&fx->ctx, &job, now), 0);
	delivery_job_close(&job);
	assert_int_equal(queued_entries(fx), 0);
}

/* Where syncfs does not report errors every file is fsync'd instead. */
static void
batch_fsync_each_delivers(void **state)
{
	struct fixture *fx = *state;
	const char *rcpts[] = {"bob@example.org", "carol@example.org"};
	struct queue_envelope env;

	fx->ctx.fsync_each = true;
	enqueue(fx, rcpts, 2, &env);
	assert_int_equal(delivery_run_entry(&fx->ctx, env.id, false, false,
					    time(NULL), fx->err,
					    sizeof(fx->err)),
			 0);
	assert_int_equal(copies(fx, "bob"), 1);
	assert_int_equal(copies(fx, "carol"), 1);
	assert_int_equal(count_in(maildir_of(fx, "bob"), "tmp"), 0);
	assert_int_equal(queued_entries(fx), 0);
}

static void
syncfs_check_matches_kernel(void **state)
{
	struct utsname u;
	unsigned major = 0, minor = 0;

	assert_int_equal(uname(&u), 0);
	assert_int_equal(sscanf(u.release, "%u.%u", &major, &minor), 2);
	assert_int_equal(delivery_syncfs_reports_errors(),
			 major > 5 || (major == 5 && minor >= 8));
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
	    FX_TEST(stage_publish_roundtrip),
	    FX_TEST(stage_finds_earlier_copies),
	    FX_TEST(publish_existing_keeps_first),
	    FX_TEST(stage_rejects_bad_names),
	    FX_TEST(batch_crash_after_stage),
	    FX_TEST(batch_crash_torn_tmp_file),
	    FX_TEST(batch_crash_after_sync),
	    FX_TEST(batch_crash_mid_publish),
	    FX_TEST(batch_crash_after_publish),
	    FX_TEST(batch_crash_after_record),
	    FX_TEST(batch_failure_spares_others),
	    FX_TEST(batch_duplicate_shares_result),
	    FX_TEST(batch_take_respects_limits),
	    FX_TEST(batch_fsync_each_delivers),
	    cmocka_unit_test(syncfs_check_matches_kernel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
