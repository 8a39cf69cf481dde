/*
 * Unit tests for the cluster process's local checks: data generation,
 * queue statistics, the data_dir probe, process liveness and listener
 * greetings.
 */
#include "config.h"

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "listener_probe.h"
#include "local_checks.h"

static int
setup(void **state)
{
	char *dir = strdup("/tmp/hapost-test-checks-XXXXXX");

	assert_non_null(mkdtemp(dir));
	*state = dir;
	return 0;
}

static int
teardown(void **state)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
	assert_int_equal(system(cmd), 0);
	free(*state);
	return 0;
}

static void
write_text(const char *dir, const char *name, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
generation_missing_file_created(void **state)
{
	const char *dir = *state;
	char path[512], text[16] = "";
	uint64_t gen = 0;
	char err[256] = "";
	FILE *f;

	assert_int_equal(generation_read(dir, &gen, err, sizeof(err)), 0);
	assert_int_equal(gen, 1);
	snprintf(path, sizeof(path), "%s/generation", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	assert_string_equal(text, "1\n");
}

static void
generation_existing_file_read(void **state)
{
	const char *dir = *state;
	uint64_t gen = 0;
	char err[256] = "";

	write_text(dir, "generation", "18446744073709551615\n");
	assert_int_equal(generation_read(dir, &gen, err, sizeof(err)), 0);
	assert_true(gen == UINT64_MAX);
	write_text(dir, "generation", "7");
	assert_int_equal(generation_read(dir, &gen, err, sizeof(err)), 0);
	assert_int_equal(gen, 7);
}

static void
generation_bad_contents_rejected(void **state)
{
	static const char *const bad[] = {
	    "",	    "0\n",  "abc\n", "-1\n",
	    " 5\n", "5 \n", "5\n\n", "18446744073709551616\n",
	    "5\nx",
	};
	const char *dir = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t gen = 0;
		char err[256] = "";

		write_text(dir, "generation", bad[i]);
		if (generation_read(dir, &gen, err, sizeof(err)) != -1)
			fail_msg("case %zu accepted", i);
		assert_non_null(strstr(err, "does not hold a generation"));
	}
}

static void
generation_peek_never_creates(void **state)
{
	const char *dir = *state;
	char path[512];
	uint64_t gen = 99;
	char err[256] = "";

	assert_int_equal(generation_peek(dir, &gen, err, sizeof(err)), 0);
	assert_int_equal(gen, 0);
	snprintf(path, sizeof(path), "%s/generation", dir);
	assert_int_equal(access(path, F_OK), -1);
	write_text(dir, "generation", "0\n");
	assert_int_equal(generation_peek(dir, &gen, err, sizeof(err)), 0);
	assert_int_equal(gen, 0);
	write_text(dir, "generation", "12\n");
	assert_int_equal(generation_peek(dir, &gen, err, sizeof(err)), 0);
	assert_int_equal(gen, 12);
	write_text(dir, "generation", "twelve\n");
	assert_int_equal(generation_peek(dir, &gen, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not hold a generation"));
}

static void
queue_stats_missing_dir_is_empty(void **state)
{
	uint64_t size = 99;
	int64_t age = 99;
	char err[256] = "";

	assert_int_equal(
	    queue_stats(*state, time(NULL), &size, &age, err, sizeof(err)), 0);
	assert_int_equal(size, 0);
	assert_int_equal(age, -1);
}

static void
queue_stats_counts_and_ages(void **state)
{
	const char *dir = *state;
	char path[512];
	struct timeval times[2];
	uint64_t size = 0;
	int64_t age = 0;
	char err[256] = "";
	time_t now = time(NULL);

	snprintf(path, sizeof(path), "%s/queue", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/queue/messages", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(queue_stats(dir, now, &size, &age, err, sizeof(err)),
			 0);
	assert_int_equal(size, 0);
	assert_int_equal(age, -1);

	write_text(dir, "queue/messages/00000000000A0001", "x");
	write_text(dir, "queue/messages/0000000000090001", "x");
	/* Not queue IDs: skipped. */
	write_text(dir, "queue/messages/.hidden", "x");
	write_text(dir, "queue/messages/0000000000090001.tmp", "x");
	write_text(dir, "queue/messages/000000000009000g", "x");
	times[0].tv_sec = now - 100;
	times[0].tv_usec = 0;
	times[1] = times[0];
	snprintf(path, sizeof(path), "%s/queue/messages/0000000000090001", dir);
	assert_int_equal(utimes(path, times), 0);
	assert_int_equal(queue_stats(dir, now, &size, &age, err, sizeof(err)),
			 0);
	assert_int_equal(size, 2);
	assert_int_equal(age, 100);
	/* A clock that went back gives age 0, not a negative age. */
	assert_int_equal(
	    queue_stats(dir, now - 1000, &size, &age, err, sizeof(err)), 0);
	assert_int_equal(age, 0);
}

static void
data_dir_probe_leaves_nothing(void **state)
{
	const char *dir = *state;
	char err[256] = "", cmd[512];

	assert_int_equal(data_dir_probe(dir, err, sizeof(err)), 0);
	snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s')\"", dir);
	assert_int_equal(system(cmd), 0);
}

static void
data_dir_probe_missing_dir_fails(void **state)
{
	char path[512], err[256] = "";

	snprintf(path, sizeof(path), "%s/missing", (char *)*state);
	assert_int_equal(data_dir_probe(path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "open("));
	assert_non_null(strstr(err, "No such file"));
}

static void
process_alive_zombie_is_dead(void **state)
{
	pid_t child;
	char path[64];
	int status;

	assert_true(process_alive(getpid()));
	assert_false(process_alive(0));
	assert_false(process_alive(-1));
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(0);
	/* Wait until the child is a zombie, without reaping it. */
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)child);
	for (int i = 0; i < 500 && process_alive(child); i++)
		usleep(10000);
	assert_false(process_alive(child));
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_false(process_alive(child));
}

static void
greeting_ok_table(void **state)
{
	static const struct {
		const char *service;
		const char *line;
		bool ok;
	} cases[] = {
	    {"smtp", "220 mx.example.test ESMTP\r\n", true},
	    {"smtp", "220-mx.example.test first line\r\n", true},
	    {"submission", "220 mx ESMTP", true},
	    {"smtp", "220\r\n", true},
	    {"smtp", "220", true},
	    {"smtp", "2200 x", false},
	    {"smtp", "421 4.3.2 busy\r\n", false},
	    {"smtp", "", false},
	    {"pop3", "+OK ready\r\n", true},
	    {"pop3", "+OK", true},
	    {"pop3", "+OKAY", false},
	    {"pop3", "-ERR busy", false},
	    {"imap", "* OK [CAPABILITY IMAP4rev1] ready\r\n", true},
	    {"imap", "* PREAUTH ready", false},
	    {"imap", "* BYE busy", false},
	    {"imap", "* OKish", false},
	    {"ftp", "220 ftp", false},
	    /* sessions_per_ip reached: saturated, not dead. */
	    {"smtp", "421 4.7.0 too many connections from your IP\r\n", true},
	    {"pop3", "-ERR [SYS/TEMP] too many connections from your IP\r\n",
	     true},
	    {"imap", "* BYE too many connections from your IP\r\n", true},
	    {"imap", "* BYE server shutting down\r\n", false},
	    {"smtp", "554 too many connections from your IP", false},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (greeting_ok(cases[i].service, cases[i].line,
				strlen(cases[i].line)) != cases[i].ok)
			fail_msg("case %zu: %s '%s' expected %d", i,
				 cases[i].service, cases[i].line, cases[i].ok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(generation_missing_file_created,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(generation_existing_file_read,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(generation_bad_contents_rejected,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(generation_peek_never_creates,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_stats_missing_dir_is_empty,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(queue_stats_counts_and_ages, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(data_dir_probe_leaves_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(data_dir_probe_missing_dir_fails,
					    setup, teardown),
	    cmocka_unit_test(process_alive_zombie_is_dead),
	    cmocka_unit_test(greeting_ok_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
