/*
 * Unit tests for the mail queue: writer, loader, status log, IDs,
 * cleanup, and hostile or damaged files.
 */
#include "config.h"

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
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "fsutil.h"
#include "queue.h"
#include "queue_format.h"

#define VALID_ID "0190A3F2C4D51A2B"
#define MESSAGE "Subject: hi\r\n\r\nbody\r\n"

struct fixture {
	char dir[64];
	char err[512];
};

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	strcpy(fx->dir, "/tmp/hapost-test-queue-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	if (queue_init(fx->dir, fx->err, sizeof(fx->err)) < 0)
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	nftw(fx->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static char *
path_in(struct fixture *fx, const char *sub, const char *name)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/queue/%s/%s", fx->dir, sub, name);
	return path;
}

static size_t
count_files(struct fixture *fx, const char *sub)
{
	char cmd[PATH_MAX + 64];
	FILE *p;
	size_t n = 0;
	int c;

	snprintf(cmd, sizeof(cmd), "ls -A %s/queue/%s", fx->dir, sub);
	p = popen(cmd, "r");
	while ((c = fgetc(p)) != EOF)
		if (c == '\n')
			n++;
	pclose(p);
	return n;
}

static void
write_raw(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, data, len), 0);
	close(fd);
}

/* Builds an envelope with two recipients; strings are not owned. */
static void
sample_envelope(struct queue_envelope *env, struct queue_rcpt *rcpts)
{
	memset(env, 0, sizeof(*env));
	memset(rcpts, 0, 2 * sizeof(*rcpts));
	rcpts[0].address = "bob@example.org";
	rcpts[0].orig = "Bob@Example.ORG";
	rcpts[1].address = "carol@example.org";
	rcpts[1].orig = "carol@example.org";
	env->sender = "alice@example.net";
	env->client_ip = "192.0.2.7";
	env->helo = "mail.example.net";
	env->auth_user = NULL;
	env->rcpts = rcpts;
	env->nrcpts = 2;
}

/* Commits an entry with the sample envelope and data; returns its ID. */
static void
commit_entry(struct fixture *fx, struct queue_envelope *env, const void *data,
	     size_t len, char *id)
{
	struct queue_writer *w;

	w = queue_writer_open(fx->dir, env, fx->err, sizeof(fx->err));
	assert_non_null(w);
	assert_int_equal(queue_writer_write(w, data, len), 0);
	assert_int_equal(queue_writer_size(w), len);
	assert_int_equal(queue_writer_commit(w, fx->err, sizeof(fx->err)), 0);
	memcpy(id, env->id, QUEUE_ID_LEN + 1);
}

static void
read_message(struct fixture *fx, const struct queue_envelope *env,
	     struct buf *out)
{
	int fd = queue_open_message(fx->dir, env->id);
	ssize_t n;

	assert_true(fd >= 0);
	buf_reserve(out, env->msg_size + 1);
	n = pread(fd, out->data, env->msg_size + 1, env->msg_offset);
	assert_int_equal(n, (ssize_t)env->msg_size);
	out->len = (size_t)n;
	close(fd);
}

static void
queue_id_validation_table(void **state)
{
	static const struct {
		const char *id;
		bool valid;
	} cases[] = {
	    {"0123456789ABCDEF", true},	  {"FFFFFFFFFFFFFFFF", true},
	    {"0123456789abcdef", false},  {"0123456789ABCDE", false},
	    {"0123456789ABCDEF0", false}, {"", false},
	    {"0123456789ABCDEG", false},  {"../../etc/passwd", false},
	    {"0123456789ABCD/F", false},  {"0123456789ABCDE ", false},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(queue_id_valid(cases[i].id), cases[i].valid);
	assert_false(queue_id_valid(NULL));
}

static void
queue_writer_roundtrip_fields(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env, loaded;
	struct queue_rcpt rcpts[2];
	struct buf msg = BUF_INIT;
	char id[QUEUE_ID_LEN + 1];
	char **ids;
	size_t n;
	time_t before = time(NULL);

	sample_envelope(&env, rcpts);
	env.auth_user = "alice";
	env.body_8bit = true;
	commit_entry(fx, &env, MESSAGE, strlen(MESSAGE), id);
	assert_true(queue_id_valid(id));
	assert_true(env.arrival >= before);

	assert_int_equal(
	    queue_list(fx->dir, &ids, &n, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], id);
	queue_list_free(ids, n);
	assert_int_equal(count_files(fx, "tmp"), 0);

	assert_int_equal(
	    queue_load(fx->dir, id, &loaded, fx->err, sizeof(fx->err)), 0);
	assert_string_equal(loaded.id, id);
	assert_int_equal(loaded.arrival, env.arrival);
	assert_string_equal(loaded.sender, "alice@example.net");
	assert_string_equal(loaded.client_ip, "192.0.2.7");
	assert_string_equal(loaded.helo, "mail.example.net");
	assert_string_equal(loaded.auth_user, "alice");
	assert_true(loaded.body_8bit);
	assert_false(loaded.smtputf8);
	assert_int_equal(loaded.nrcpts, 2);
	assert_string_equal(loaded.rcpts[0].address, "bob@example.org");
	assert_string_equal(loaded.rcpts[0].orig, "Bob@Example.ORG");
	assert_string_equal(loaded.rcpts[1].address, "carol@example.org");
	assert_int_equal(loaded.rcpts[0].state, QUEUE_RCPT_PENDING);
	assert_int_equal(loaded.rcpts[1].attempts, 0);
	assert_null(loaded.rcpts[1].last_error);
	assert_int_equal(loaded.msg_size, strlen(MESSAGE));

	read_message(fx, &loaded, &msg);
	assert_memory_equal(msg.data, MESSAGE, strlen(MESSAGE));
	buf_free(&msg);
	queue_envelope_free(&loaded);
}

static void
queue_writer_hostile_bytes_survive(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env, loaded;
	struct queue_rcpt rcpts[2];
	char id[QUEUE_ID_LEN + 1];
	char odd[] = "a b%20c\t\x01\x7f\xc3\xa9%%@x";

	sample_envelope(&env, rcpts);
	env.sender = odd;
	env.helo = "";
	env.client_ip = "end %";
	rcpts[1].address = "\xe2\x82\xac@example.org";
	rcpts[1].orig = "";
	commit_entry(fx, &env, "", 0, id);

	assert_int_equal(
	    queue_load(fx->dir, id, &loaded, fx->err, sizeof(fx->err)), 0);
	assert_string_equal(loaded.sender, odd);
	assert_string_equal(loaded.helo, "");
	assert_string_equal(loaded.client_ip, "end %");
	assert_null(loaded.auth_user);
	assert_string_equal(loaded.rcpts[1].address,
			    "\xe2\x82\xac@example.org");
	assert_string_equal(loaded.rcpts[1].orig, "");
	assert_int_equal(loaded.msg_size, 0);
	queue_envelope_free(&loaded);
}

static void
queue_writer_null_sender_kept(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env, loaded;
	struct queue_rcpt rcpts[2];
	char id[QUEUE_ID_LEN + 1];

	sample_envelope(&env, rcpts);
	env.sender = "";
	commit_entry(fx, &env, MESSAGE, strlen(MESSAGE), id);
	assert_int_equal(
	    queue_load(fx->dir, id, &loaded, fx->err, sizeof(fx->err)), 0);
	assert_string_equal(loaded.sender, "");
	queue_envelope_free(&loaded);
}

static void
queue_writer_large_message_chunks(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env, loaded;
	struct queue_rcpt rcpts[2];
	struct queue_writer *w;
	struct buf msg = BUF_INIT;
	size_t total = 300 * 1024 + 17, i;
	char *data = malloc(total);

	for (i = 0; i < total; i++)
		data[i] = (char)(i * 7 + (i >> 9));
	sample_envelope(&env, rcpts);
	w = queue_writer_open(fx->dir, &env, fx->err, sizeof(fx->err));
	assert_non_null(w);
	/* Small pieces, then one piece larger than the write buffer. */
	for (i = 0; i < 1000; i++)
		assert_int_equal(queue_writer_write(w, data + i * 100, 100), 0);
	assert_int_equal(queue_writer_write(w, data + 100000, total - 100000),
			 0);
	assert_int_equal(queue_writer_size(w), total);
	assert_int_equal(queue_writer_commit(w, fx->err, sizeof(fx->err)), 0);

	assert_int_equal(
	    queue_load(fx->dir, env.id, &loaded, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(loaded.msg_size, total);
	read_message(fx, &loaded, &msg);
	assert_memory_equal(msg.data, data, total);
	buf_free(&msg);
	queue_envelope_free(&loaded);
	free(data);
}

static void
queue_writer_rejects_line_ends(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct queue_rcpt rcpts[2];
	struct queue_writer *w;
	int i;

	for (i = 0; i < 6; i++) {
		sample_envelope(&env, rcpts);
		switch (i) {
		case 0:
			env.sender = "a@b\r\nrcpt evil@x";
			break;
		case 1:
			rcpts[1].address = "x@y\nend";
			break;
		case 2:
			rcpts[0].orig = "x\r";
			break;
		case 3:
			env.helo = "helo\n";
			break;
		case 4:
			env.nrcpts = 0;
			break;
		case 5:
			rcpts[0].address = "";
			break;
		}
		fx->err[0] = '\0';
		w = queue_writer_open(fx->dir, &env, fx->err, sizeof(fx->err));
		assert_null(w);
		assert_true(fx->err[0] != '\0');
	}
	assert_int_equal(count_files(fx, "tmp"), 0);
	assert_int_equal(count_files(fx, "messages"), 0);
}

static void
queue_writer_abort_leaves_nothing(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct queue_rcpt rcpts[2];
	struct queue_writer *w;

	sample_envelope(&env, rcpts);
	w = queue_writer_open(fx->dir, &env, fx->err, sizeof(fx->err));
	assert_non_null(w);
	assert_int_equal(queue_writer_write(w, MESSAGE, strlen(MESSAGE)), 0);
	assert_int_equal(count_files(fx, "tmp"), 1);
	queue_writer_abort(w);
	assert_int_equal(count_files(fx, "tmp"), 0);
	assert_int_equal(count_files(fx, "messages"), 0);
}

static void
queue_writer_ids_unique_sorted(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct queue_rcpt rcpts[2];
	char seen[200][QUEUE_ID_LEN + 1];
	char **ids;
	size_t n, i, j;

	for (i = 0; i < 200; i++) {
		sample_envelope(&env, rcpts);
		commit_entry(fx, &env, "x", 1, seen[i]);
		for (j = 0; j < i; j++)
			assert_string_not_equal(seen[i], seen[j]);
	}
	assert_int_equal(
	    queue_list(fx->dir, &ids, &n, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(n, 200);
	for (i = 1; i < n; i++)
		assert_true(strcmp(ids[i - 1], ids[i]) < 0);
	/* The time part (first 12 digits) never goes backwards. */
	for (i = 1; i < 200; i++)
		assert_true(strncmp(seen[i - 1], seen[i], 12) <= 0);
	queue_list_free(ids, n);
}

static void
queue_list_skips_foreign_names(void **state)
{
	struct fixture *fx = *state;
	char **ids;
	size_t n;

	write_raw(path_in(fx, "messages", "README"), "x", 1);
	write_raw(path_in(fx, "messages", "0123456789abcdef"), "x", 1);
	assert_int_equal(
	    queue_list(fx->dir, &ids, &n, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(n, 0);
	queue_list_free(ids, n);
}

static void
queue_list_missing_dir_fails(void **state)
{
	char err[256] = "";
	char **ids;
	size_t n;

	assert_int_equal(
	    queue_list("/nonexistent/hapost", &ids, &n, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "opendir"));
}

/* A well-formed header for VALID_ID with one recipient and size 4. */
#define GOOD_HEADER                                                            \
	"hapost-queue 1\nid " VALID_ID "\narrival 1700000000\n"                \
	"sender a@b\nclient-ip 192.0.2.1\nhelo h\nbody-8bit 0\n"               \
	"smtputf8 0\nrcpt c@d c@d\nsize 00000000000000000004\nend\n\n"

static void
queue_load_good_raw_file(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	const char *file = GOOD_HEADER "ab\r\n";

	write_raw(path_in(fx, "messages", VALID_ID), file, strlen(file));
	assert_int_equal(
	    queue_load(fx->dir, VALID_ID, &env, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(env.arrival, 1700000000);
	assert_int_equal(env.msg_offset, strlen(GOOD_HEADER));
	assert_int_equal(env.msg_size, 4);
	queue_envelope_free(&env);
}

static void
queue_load_rejects_corrupt_files(void **state)
{
	struct fixture *fx = *state;
	static const struct {
		const char *name;
		const char *data;
		size_t len; /* 0: strlen(data) */
		const char *reason;
	} cases[] = {
	    {"empty file", "", 0, "truncated"},
	    {"bad magic", "hapost-queue 2\n", 0, "not a queue file"},
	    {"header cut mid-line", "hapost-queue 1\nid 0190", 0, "truncated"},
	    {"header without end", "hapost-queue 1\nid " VALID_ID "\n", 0,
	     "truncated"},
	    {"message truncated", GOOD_HEADER "ab", 0, "truncated"},
	    {"message too long", GOOD_HEADER "abcdef", 0, "truncated"},
	    {"id of another entry", "hapost-queue 1\nid 0000000000000000\n", 0,
	     "not the file"},
	    {"unknown field", "hapost-queue 1\nflavour mint\n", 0,
	     "unknown header field"},
	    {"repeated field", "hapost-queue 1\narrival 1\narrival 2\n", 0,
	     "repeated"},
	    {"field without value", "hapost-queue 1\narrival\n", 0, "invalid"},
	    {"arrival not a number", "hapost-queue 1\narrival 12x\n", 0,
	     "invalid"},
	    {"arrival absurd", "hapost-queue 1\narrival 99999999999999999999\n",
	     0, "invalid"},
	    {"bool out of range", "hapost-queue 1\nbody-8bit 2\n", 0,
	     "invalid"},
	    {"short escape", "hapost-queue 1\nsender a%4\n", 0, "invalid"},
	    {"non-hex escape", "hapost-queue 1\nsender a%ZZ\n", 0, "invalid"},
	    {"escape decodes to CR", "hapost-queue 1\nsender a%0D\n", 0,
	     "invalid"},
	    {"escape decodes to NUL", "hapost-queue 1\nsender a%00b\n", 0,
	     "invalid"},
	    {"raw 8-bit byte", "hapost-queue 1\nsender \xc3\xa9\n", 0,
	     "invalid"},
	    {"raw NUL byte", "hapost-queue 1\nsender a\0b\n", 26, "NUL or CR"},
	    {"raw CR byte", "hapost-queue 1\nsender a\r\n", 0, "NUL or CR"},
	    {"rcpt without orig", "hapost-queue 1\nrcpt a@b\n", 0, "invalid"},
	    {"rcpt empty address", "hapost-queue 1\nrcpt  a@b\n", 0, "invalid"},
	    {"size too narrow", "hapost-queue 1\nsize 4\n", 0, "invalid"},
	    {"no empty line after end", "hapost-queue 1\nend\nx\n", 0,
	     "missing empty line"},
	    {"missing sender",
	     "hapost-queue 1\nid " VALID_ID "\narrival 1\n"
	     "client-ip i\nhelo h\nbody-8bit 0\nsmtputf8 0\n"
	     "rcpt c@d c@d\nsize 00000000000000000000\nend\n\n",
	     0, "required"},
	    {"no recipient",
	     "hapost-queue 1\nid " VALID_ID "\narrival 1\nsender s\n"
	     "client-ip i\nhelo h\nbody-8bit 0\nsmtputf8 0\n"
	     "size 00000000000000000000\nend\n\n",
	     0, "no recipient"},
	};
	struct queue_envelope env;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len =
		    cases[i].len ? cases[i].len : strlen(cases[i].data);

		write_raw(path_in(fx, "messages", VALID_ID), cases[i].data,
			  len);
		fx->err[0] = '\0';
		if (queue_load(fx->dir, VALID_ID, &env, fx->err,
			       sizeof(fx->err)) != -1)
			fail_msg("case \"%s\" was accepted", cases[i].name);
		if (strstr(fx->err, cases[i].reason) == NULL)
			fail_msg("case \"%s\": error \"%s\" lacks \"%s\"",
				 cases[i].name, fx->err, cases[i].reason);
		assert_null(env.rcpts);
		assert_null(env.sender);
	}
}

static void
queue_load_missing_entry_enoent(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;

	assert_int_equal(
	    queue_load(fx->dir, VALID_ID, &env, fx->err, sizeof(fx->err)), -1);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(fx->err, "not found"));
}

static void
queue_load_rejects_bad_id(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;

	assert_int_equal(queue_load(fx->dir, "../../etc/passwd", &env, fx->err,
				    sizeof(fx->err)),
			 -1);
	assert_non_null(strstr(fx->err, "invalid queue ID"));
	assert_int_equal(queue_open_message(fx->dir, "../x"), -1);
}

static void
queue_mark_last_record_wins(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env, loaded;
	struct queue_rcpt rcpts[2];
	char id[QUEUE_ID_LEN + 1];

	sample_envelope(&env, rcpts);
	commit_entry(fx, &env, MESSAGE, strlen(MESSAGE), id);
	assert_int_equal(queue_mark(fx->dir, id, 1, QUEUE_RCPT_PENDING, 1234,
				    "disk full", fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(queue_mark(fx->dir, id, 1, QUEUE_RCPT_PENDING, 5678,
				    "quota\r\nexceeded %", fx->err,
				    sizeof(fx->err)),
			 0);
	assert_int_equal(queue_mark(fx->dir, id, 0, QUEUE_RCPT_DELIVERED, 0,
				    NULL, fx->err, sizeof(fx->err)),
			 0);

	assert_int_equal(
	    queue_load(fx->dir, id, &loaded, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(loaded.rcpts[0].state, QUEUE_RCPT_DELIVERED);
	assert_int_equal(loaded.rcpts[0].attempts, 1);
	assert_null(loaded.rcpts[0].last_error);
	assert_int_equal(loaded.rcpts[1].state, QUEUE_RCPT_PENDING);
	assert_int_equal(loaded.rcpts[1].attempts, 2);
	assert_int_equal(loaded.rcpts[1].next_attempt, 5678);
	assert_string_equal(loaded.rcpts[1].last_error, "quota  exceeded %");
	queue_envelope_free(&loaded);

	assert_int_equal(queue_mark(fx->dir, id, 1, QUEUE_RCPT_FAILED, 0,
				    "no such account", fx->err,
				    sizeof(fx->err)),
			 0);
	assert_int_equal(
	    queue_load(fx->dir, id, &loaded, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(loaded.rcpts[1].state, QUEUE_RCPT_FAILED);
	assert_string_equal(loaded.rcpts[1].last_error, "no such account");
	queue_envelope_free(&loaded);
}

static void
queue_status_torn_record_ignored(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env, loaded;
	struct queue_rcpt rcpts[2];
	char id[QUEUE_ID_LEN + 1];
	struct buf data = BUF_INIT;
	const char *torn = "0 delivered 0\n1 deliv";

	sample_envelope(&env, rcpts);
	commit_entry(fx, &env, MESSAGE, strlen(MESSAGE), id);
	write_raw(path_in(fx, "status", id), torn, strlen(torn));

	assert_int_equal(
	    queue_load(fx->dir, id, &loaded, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(loaded.rcpts[0].state, QUEUE_RCPT_DELIVERED);
	assert_int_equal(loaded.rcpts[1].state, QUEUE_RCPT_PENDING);
	assert_int_equal(loaded.rcpts[1].attempts, 0);
	queue_envelope_free(&loaded);

	/* The next record replaces the torn bytes. */
	assert_int_equal(queue_mark(fx->dir, id, 1, QUEUE_RCPT_FAILED, 0,
				    "gone", fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(read_file(path_in(fx, "status", id), &data, 4096), 0);
	assert_string_equal(buf_cstr(&data),
			    "0 delivered 0\n1 failed 0 gone\n");
	buf_free(&data);
	assert_int_equal(
	    queue_load(fx->dir, id, &loaded, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(loaded.rcpts[1].state, QUEUE_RCPT_FAILED);
	queue_envelope_free(&loaded);
}

static void
queue_status_torn_only_record(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct queue_rcpt rcpts[2];
	char id[QUEUE_ID_LEN + 1];
	struct buf data = BUF_INIT;

	sample_envelope(&env, rcpts);
	commit_entry(fx, &env, MESSAGE, strlen(MESSAGE), id);
	write_raw(path_in(fx, "status", id), "0 deli", 6);
	assert_int_equal(queue_mark(fx->dir, id, 0, QUEUE_RCPT_DELIVERED, 0,
				    NULL, fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(read_file(path_in(fx, "status", id), &data, 4096), 0);
	assert_string_equal(buf_cstr(&data), "0 delivered 0\n");
	buf_free(&data);
}

static void
queue_status_rejects_bad_records(void **state)
{
	struct fixture *fx = *state;
	static const char *const records[] = {
	    "0 lost 0\n",	   /* unknown state */
	    "2 delivered 0\n",	   /* index past the recipients */
	    "x delivered 0\n",	   /* index not a number */
	    "0 delivered\n",	   /* next attempt missing */
	    "0 delivered 0 a b\n", /* too many fields */
	    "0  delivered 0\n",	   /* empty field */
	    "0 delivered 0 \n",	   /* trailing space */
	    "\n",		   /* empty line */
	    "0 delivered 0 %0A\n", /* error decodes to LF */
	    "0 deferred -5\n",	   /* negative time */
	    "0 delivered 0\n1 nope 0\n0 failed 0\n", /* bad middle line */
	};
	struct queue_envelope env, loaded;
	struct queue_rcpt rcpts[2];
	char id[QUEUE_ID_LEN + 1];
	size_t i;

	sample_envelope(&env, rcpts);
	commit_entry(fx, &env, MESSAGE, strlen(MESSAGE), id);
	for (i = 0; i < sizeof(records) / sizeof(records[0]); i++) {
		write_raw(path_in(fx, "status", id), records[i],
			  strlen(records[i]));
		fx->err[0] = '\0';
		if (queue_load(fx->dir, id, &loaded, fx->err,
			       sizeof(fx->err)) != -1)
			fail_msg("record \"%s\" was accepted", records[i]);
		assert_non_null(strstr(fx->err, "invalid status record"));
	}
	write_raw(path_in(fx, "status", id), "0 delivered 0\0\n", 15);
	assert_int_equal(
	    queue_load(fx->dir, id, &loaded, fx->err, sizeof(fx->err)), -1);
}

static void
queue_mark_missing_entry_fails(void **state)
{
	struct fixture *fx = *state;

	assert_int_equal(queue_mark(fx->dir, VALID_ID, 0, QUEUE_RCPT_DELIVERED,
				    0, NULL, fx->err, sizeof(fx->err)),
			 -1);
	assert_non_null(strstr(fx->err, "not found"));
	assert_int_equal(count_files(fx, "status"), 0);
	assert_int_equal(queue_mark(fx->dir, "bad", 0, QUEUE_RCPT_DELIVERED, 0,
				    NULL, fx->err, sizeof(fx->err)),
			 -1);
}

static void
queue_remove_deletes_both(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct queue_rcpt rcpts[2];
	char id[QUEUE_ID_LEN + 1];

	sample_envelope(&env, rcpts);
	commit_entry(fx, &env, MESSAGE, strlen(MESSAGE), id);
	assert_int_equal(queue_mark(fx->dir, id, 0, QUEUE_RCPT_DELIVERED, 0,
				    NULL, fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(count_files(fx, "status"), 1);
	assert_int_equal(queue_remove(fx->dir, id, fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(count_files(fx, "messages"), 0);
	assert_int_equal(count_files(fx, "status"), 0);

	assert_int_equal(queue_remove(fx->dir, id, fx->err, sizeof(fx->err)),
			 -1);
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(fx->err, "not found"));
	assert_int_equal(
	    queue_remove(fx->dir, "../status", fx->err, sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "invalid queue ID"));
}

/* Opens a writer for the sample envelope with MESSAGE written. */
static struct queue_writer *
open_writer(struct fixture *fx, struct queue_envelope *env,
	    struct queue_rcpt *rcpts)
{
	struct queue_writer *w;

	sample_envelope(env, rcpts);
	w = queue_writer_open(fx->dir, env, fx->err, sizeof(fx->err));
	assert_non_null(w);
	assert_int_equal(queue_writer_write(w, MESSAGE, strlen(MESSAGE)), 0);
	return w;
}

static void
queue_commit_many_all_durable(void **state)
{
	struct fixture *fx = *state;
	static const bool modes[] = {true, false};
	struct queue_envelope env[3], loaded;
	struct queue_rcpt rcpts[3][2];
	struct queue_commit v[3];
	struct buf data = BUF_INIT;
	size_t i, m;

	for (m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
		for (i = 0; i < 3; i++) {
			memset(&v[i], 0, sizeof(v[i]));
			v[i].writer = open_writer(fx, &env[i], rcpts[i]);
		}
		queue_writer_commit_many(v, 3, modes[m]);
		for (i = 0; i < 3; i++) {
			assert_int_equal(v[i].error, 0);
			assert_null(v[i].writer);
			assert_int_equal(queue_load(fx->dir, env[i].id, &loaded,
						    fx->err, sizeof(fx->err)),
					 0);
			assert_int_equal(loaded.msg_size, strlen(MESSAGE));
			read_message(fx, &loaded, &data);
			assert_memory_equal(data.data, MESSAGE, data.len);
			buf_reset(&data);
			queue_envelope_free(&loaded);
		}
	}
	buf_free(&data);
	assert_int_equal(count_files(fx, "messages"), 6);
	assert_int_equal(count_files(fx, "tmp"), 0);
	queue_writer_commit_many(v, 0, true);
}

static void
queue_commit_many_failure_alone(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env[3], loaded;
	struct queue_rcpt rcpts[3][2];
	struct queue_commit v[3];
	size_t i;

	for (i = 0; i < 3; i++) {
		memset(&v[i], 0, sizeof(v[i]));
		v[i].writer = open_writer(fx, &env[i], rcpts[i]);
	}
	/* The second entry's file vanishes, so its rename fails. */
	assert_int_equal(unlink(path_in(fx, "tmp", env[1].id)), 0);
	queue_writer_commit_many(v, 3, true);
	assert_int_equal(v[0].error, 0);
	assert_int_equal(v[1].error, ENOENT);
	assert_non_null(strstr(v[1].reason, "rename("));
	assert_non_null(strstr(v[1].reason, env[1].id));
	assert_int_equal(v[2].error, 0);
	assert_null(v[1].writer);
	assert_int_equal(count_files(fx, "messages"), 2);
	assert_int_equal(count_files(fx, "tmp"), 0);
	assert_int_equal(
	    queue_load(fx->dir, env[1].id, &loaded, fx->err, sizeof(fx->err)),
	    -1);
	assert_int_equal(errno, ENOENT);
}

static void
queue_marks_many_entries_durable(void **state)
{
	struct fixture *fx = *state;
	static const bool modes[] = {true, false};
	struct queue_envelope env, loaded;
	struct queue_rcpt rcpts[2];
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];
	struct queue_marks *m;
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		sample_envelope(&env, rcpts);
		commit_entry(fx, &env, MESSAGE, strlen(MESSAGE), a);
		sample_envelope(&env, rcpts);
		commit_entry(fx, &env, MESSAGE, strlen(MESSAGE), b);

		m = queue_marks_new(fx->dir, modes[i]);
		queue_marks_add(m, a, 0, QUEUE_RCPT_DELIVERED, 0, NULL);
		queue_marks_add(m, b, 1, QUEUE_RCPT_FAILED, 0,
				"no such account");
		queue_marks_add(m, a, 1, QUEUE_RCPT_PENDING, 4321, "disk full");
		assert_int_equal(queue_marks_commit(m), 0);
		assert_int_equal(
		    queue_marks_result(m, a, fx->err, sizeof(fx->err)), 0);
		assert_int_equal(
		    queue_marks_result(m, b, fx->err, sizeof(fx->err)), 0);
		queue_marks_free(m);

		assert_int_equal(
		    queue_load(fx->dir, a, &loaded, fx->err, sizeof(fx->err)),
		    0);
		assert_int_equal(loaded.rcpts[0].state, QUEUE_RCPT_DELIVERED);
		assert_int_equal(loaded.rcpts[1].state, QUEUE_RCPT_PENDING);
		assert_int_equal(loaded.rcpts[1].attempts, 1);
		assert_int_equal(loaded.rcpts[1].next_attempt, 4321);
		assert_string_equal(loaded.rcpts[1].last_error, "disk full");
		queue_envelope_free(&loaded);
		assert_int_equal(
		    queue_load(fx->dir, b, &loaded, fx->err, sizeof(fx->err)),
		    0);
		assert_int_equal(loaded.rcpts[0].state, QUEUE_RCPT_PENDING);
		assert_int_equal(loaded.rcpts[0].attempts, 0);
		assert_int_equal(loaded.rcpts[1].state, QUEUE_RCPT_FAILED);
		queue_envelope_free(&loaded);
	}
}

static void
queue_marks_bad_entry_fails_alone(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env, loaded;
	struct queue_rcpt rcpts[2];
	char id[QUEUE_ID_LEN + 1];
	struct queue_marks *m;

	sample_envelope(&env, rcpts);
	commit_entry(fx, &env, MESSAGE, strlen(MESSAGE), id);
	m = queue_marks_new(fx->dir, true);
	queue_marks_add(m, VALID_ID, 0, QUEUE_RCPT_DELIVERED, 0, NULL);
	queue_marks_add(m, id, 0, QUEUE_RCPT_DELIVERED, 0, NULL);
	queue_marks_add(m, "../messages/x", 0, QUEUE_RCPT_DELIVERED, 0, NULL);
	queue_marks_add(m, "0190A3F2C4D51A2G", 0, QUEUE_RCPT_DELIVERED, 0,
			NULL);
	assert_int_equal(queue_marks_commit(m), 3);

	assert_int_equal(queue_marks_result(m, id, fx->err, sizeof(fx->err)),
			 0);
	assert_int_equal(
	    queue_marks_result(m, VALID_ID, fx->err, sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "not found"));
	assert_int_equal(
	    queue_marks_result(m, "../messages/x", fx->err, sizeof(fx->err)),
	    -1);
	assert_non_null(strstr(fx->err, "invalid queue ID"));
	assert_int_equal(
	    queue_marks_result(m, "0190A3F2C4D51A2G", fx->err, sizeof(fx->err)),
	    -1);
	assert_non_null(strstr(fx->err, "invalid queue ID"));
	assert_int_equal(
	    queue_marks_result(m, "0000000000000000", fx->err, sizeof(fx->err)),
	    -1);
	queue_marks_free(m);

	/* Only the entry that exists got a status file. */
	assert_int_equal(count_files(fx, "status"), 1);
	assert_int_equal(access(path_in(fx, "status", VALID_ID), F_OK), -1);
	assert_int_equal(
	    queue_load(fx->dir, id, &loaded, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(loaded.rcpts[0].state, QUEUE_RCPT_DELIVERED);
	queue_envelope_free(&loaded);
}

static void
queue_marks_cut_torn_record(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct queue_rcpt rcpts[2];
	char id[QUEUE_ID_LEN + 1];
	struct buf data = BUF_INIT;
	struct queue_marks *m;

	sample_envelope(&env, rcpts);
	commit_entry(fx, &env, MESSAGE, strlen(MESSAGE), id);
	write_raw(path_in(fx, "status", id), "0 delivered 0\n1 fai", 19);
	m = queue_marks_new(fx->dir, true);
	queue_marks_add(m, id, 1, QUEUE_RCPT_FAILED, 0, "gone");
	queue_marks_add(m, id, 0, QUEUE_RCPT_DELIVERED, 0, NULL);
	assert_int_equal(queue_marks_commit(m), 0);
	queue_marks_free(m);
	assert_int_equal(read_file(path_in(fx, "status", id), &data, 4096), 0);
	assert_string_equal(buf_cstr(&data), "0 delivered 0\n1 failed 0 gone\n"
					     "0 delivered 0\n");
	buf_free(&data);
}

static void
queue_remove_many_mixed_entries(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct queue_rcpt rcpts[2];
	char a[QUEUE_ID_LEN + 1], b[QUEUE_ID_LEN + 1];
	struct queue_removal v[4];

	sample_envelope(&env, rcpts);
	commit_entry(fx, &env, MESSAGE, strlen(MESSAGE), a);
	sample_envelope(&env, rcpts);
	commit_entry(fx, &env, MESSAGE, strlen(MESSAGE), b);
	assert_int_equal(queue_mark(fx->dir, a, 0, QUEUE_RCPT_DELIVERED, 0,
				    NULL, fx->err, sizeof(fx->err)),
			 0);
	/* An orphan status file of an entry already gone is removed too. */
	write_raw(path_in(fx, "status", VALID_ID), "0 delivered 0\n", 14);

	memset(v, 0, sizeof(v));
	v[0].id = a;
	v[1].id = VALID_ID;
	v[2].id = "../status/x";
	v[3].id = b;
	queue_remove_many(fx->dir, v, 4);
	assert_int_equal(v[0].error, 0);
	assert_int_equal(v[1].error, ENOENT);
	assert_non_null(strstr(v[1].reason, "not found"));
	assert_int_equal(v[2].error, EINVAL);
	assert_non_null(strstr(v[2].reason, "invalid queue ID"));
	assert_int_equal(v[3].error, 0);
	assert_int_equal(count_files(fx, "messages"), 0);
	assert_int_equal(count_files(fx, "status"), 0);

	queue_remove_many(fx->dir, v, 0);
}

static void
queue_cleanup_stale_and_orphans(void **state)
{
	struct fixture *fx = *state;
	struct queue_envelope env;
	struct queue_rcpt rcpts[2];
	char id[QUEUE_ID_LEN + 1];
	struct timeval old[2] = {{time(NULL) - 7200, 0},
				 {time(NULL) - 7200, 0}};

	sample_envelope(&env, rcpts);
	commit_entry(fx, &env, MESSAGE, strlen(MESSAGE), id);
	assert_int_equal(queue_mark(fx->dir, id, 0, QUEUE_RCPT_DELIVERED, 0,
				    NULL, fx->err, sizeof(fx->err)),
			 0);
	write_raw(path_in(fx, "tmp", "0000000000000001"), "x", 1);
	assert_int_equal(utimes(path_in(fx, "tmp", "0000000000000001"), old),
			 0);
	write_raw(path_in(fx, "tmp", "0000000000000002"), "x", 1);
	write_raw(path_in(fx, "status", "0000000000000003"), "x", 1);

	queue_cleanup(fx->dir);
	assert_int_equal(access(path_in(fx, "tmp", "0000000000000001"), F_OK),
			 -1);
	assert_int_equal(access(path_in(fx, "tmp", "0000000000000002"), F_OK),
			 0);
	assert_int_equal(
	    access(path_in(fx, "status", "0000000000000003"), F_OK), -1);
	assert_int_equal(access(path_in(fx, "status", id), F_OK), 0);
	assert_int_equal(access(path_in(fx, "messages", id), F_OK), 0);
}

static void
queue_unescape_table(void **state)
{
	static const struct {
		const char *in;
		const char *out; /* NULL: rejected */
	} cases[] = {
	    {"", ""},		{"abc", "abc"},		{"%25", "%"},
	    {"%20x%7e", " x~"}, {"%C3%A9", "\xc3\xa9"}, {"%", NULL},
	    {"%2", NULL},	{"%G0", NULL},		{"%0a", NULL},
	    {"%0D", NULL},	{"%00", NULL},		{"a b", NULL},
	    {"\t", NULL},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = queue_unescape(cases[i].in, strlen(cases[i].in));

		if (cases[i].out == NULL) {
			assert_null(got);
		} else {
			assert_non_null(got);
			assert_string_equal(got, cases[i].out);
		}
		free(got);
	}
}

static void
queue_escape_roundtrip_all_bytes(void **state)
{
	char all[256];
	struct buf b = BUF_INIT;
	char *back;
	size_t i;

	for (i = 1; i < 256; i++)
		all[i - 1] = (char)i;
	all[255] = '\0';
	/* CR and LF are escaped but the decoder rejects them: skip both. */
	all['\n' - 1] = 'n';
	all['\r' - 1] = 'r';
	queue_escape(&b, all);
	assert_null(memchr(b.data, ' ', b.len));
	assert_null(memchr(b.data, '\n', b.len));
	back = queue_unescape(b.data, b.len);
	assert_non_null(back);
	assert_string_equal(back, all);
	free(back);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(queue_id_validation_table),
	    cmocka_unit_test_setup_teardown(queue_writer_roundtrip_fields,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_writer_hostile_bytes_survive,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_writer_null_sender_kept,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_writer_large_message_chunks,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_writer_rejects_line_ends,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_writer_abort_leaves_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_writer_ids_unique_sorted,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_list_skips_foreign_names,
					    setup, teardown),
	    cmocka_unit_test(queue_list_missing_dir_fails),
	    cmocka_unit_test_setup_teardown(queue_load_good_raw_file, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(queue_load_rejects_corrupt_files,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_load_missing_entry_enoent,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_load_rejects_bad_id, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(queue_mark_last_record_wins, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(queue_status_torn_record_ignored,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_status_torn_only_record,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_status_rejects_bad_records,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_mark_missing_entry_fails,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_commit_many_all_durable,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_commit_many_failure_alone,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_marks_many_entries_durable,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_marks_bad_entry_fails_alone,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_marks_cut_torn_record, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(queue_remove_many_mixed_entries,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_remove_deletes_both, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(queue_cleanup_stale_and_orphans,
					    setup, teardown),
	    cmocka_unit_test(queue_unescape_table),
	    cmocka_unit_test(queue_escape_roundtrip_all_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
