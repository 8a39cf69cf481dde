/*
 * Unit tests for the pieces of outbound delivery that need no network:
 * the status records of remote results and notices, the retry schedule,
 * the status codes of reports, route descriptions and the config check.
 * The SMTP and DNS paths are tested end to end in
 * tests/proto/test_remote.py.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bounce.h"
#include "buf.h"
#include "cfg.h"
#include "job.h"
#include "queue.h"
#include "queue_format.h"
#include "remote.h"
#include "remote_int.h"
#include "route.h"

/* An envelope with n recipients and no records applied yet. */
static void
make_env(struct queue_envelope *env, size_t n)
{
	size_t i;

	memset(env, 0, sizeof(*env));
	env->rcpts = calloc(n, sizeof(*env->rcpts));
	assert_non_null(env->rcpts);
	for (i = 0; i < n; i++) {
		env->rcpts[i].address = strdup("rcpt@example.org");
		env->rcpts[i].orig = strdup("rcpt@example.org");
	}
	env->nrcpts = n;
}

static void
apply(struct queue_envelope *env, const struct buf *b)
{
	char err[256];

	assert_int_equal(queue_apply_status(env, b->data, b->len, err,
					    sizeof(err)),
			 0);
}

static void
result_record_roundtrip(void **state)
{
	struct queue_envelope env;
	struct buf b = BUF_INIT;

	make_env(&env, 2);
	queue_format_result(&b, 1, QUEUE_RCPT_PENDING, 1700000000,
			    "450 4.2.0 Greylisted (in reply to RCPT TO)",
			    "4.2.0", "mx.example.org[192.0.2.1]:25");
	apply(&env, &b);
	assert_int_equal(env.rcpts[1].state, QUEUE_RCPT_PENDING);
	assert_int_equal(env.rcpts[1].attempts, 1);
	assert_int_equal(env.rcpts[1].next_attempt, 1700000000);
	assert_string_equal(env.rcpts[1].last_error,
			    "450 4.2.0 Greylisted (in reply to RCPT TO)");
	assert_string_equal(env.rcpts[1].dsn, "4.2.0");
	assert_string_equal(env.rcpts[1].relay,
			    "mx.example.org[192.0.2.1]:25");
	assert_null(env.rcpts[0].dsn);
	buf_free(&b);
	queue_envelope_free(&env);
}

static void
result_without_error_drops_details(void **state)
{
	struct buf b = BUF_INIT;

	queue_format_result(&b, 0, QUEUE_RCPT_DELIVERED, 0, NULL, "2.0.0",
			    "mx.example.org[192.0.2.1]:25");
	assert_string_equal(buf_cstr(&b), "0 delivered 0\n");
	buf_free(&b);
}

static void
result_relay_none_reads_as_null(void **state)
{
	struct queue_envelope env;
	struct buf b = BUF_INIT;

	make_env(&env, 1);
	queue_format_result(&b, 0, QUEUE_RCPT_FAILED, 0, "not found",
			    "5.1.2", NULL);
	assert_non_null(strstr(buf_cstr(&b), " 5.1.2 -\n"));
	apply(&env, &b);
	assert_string_equal(env.rcpts[0].dsn, "5.1.2");
	assert_null(env.rcpts[0].relay);
	buf_free(&b);
	queue_envelope_free(&env);
}

static void
later_plain_record_clears_details(void **state)
{
	struct queue_envelope env;
	struct buf b = BUF_INIT;

	make_env(&env, 1);
	queue_format_result(&b, 0, QUEUE_RCPT_PENDING, 5, "451 busy",
			    "4.0.0", "a[192.0.2.1]:25");
	queue_format_status(&b, 0, QUEUE_RCPT_PENDING, 9, "disk full");
	apply(&env, &b);
	assert_int_equal(env.rcpts[0].attempts, 2);
	assert_string_equal(env.rcpts[0].last_error, "disk full");
	assert_null(env.rcpts[0].dsn);
	assert_null(env.rcpts[0].relay);
	buf_free(&b);
	queue_envelope_free(&env);
}

static void
notices_set_flags_not_attempts(void **state)
{
	struct queue_envelope env;
	struct buf b = BUF_INIT;

	make_env(&env, 2);
	queue_format_status(&b, 0, QUEUE_RCPT_FAILED, 0, "no such account");
	queue_format_notice(&b, 0, QUEUE_NOTICE_REPORTED);
	queue_format_notice(&b, 1, QUEUE_NOTICE_WARNED);
	assert_non_null(strstr(buf_cstr(&b), "0 reported 0\n1 warned 0\n"));
	apply(&env, &b);
	assert_int_equal(env.rcpts[0].state, QUEUE_RCPT_FAILED);
	assert_int_equal(env.rcpts[0].attempts, 1);
	assert_true(env.rcpts[0].reported);
	assert_false(env.rcpts[0].warned);
	assert_int_equal(env.rcpts[1].state, QUEUE_RCPT_PENDING);
	assert_int_equal(env.rcpts[1].attempts, 0);
	assert_true(env.rcpts[1].warned);
	assert_false(env.rcpts[1].reported);
	buf_free(&b);
	queue_envelope_free(&env);
}

static void
bad_records_rejected(void **state)
{
	static const char *const bad[] = {
	    "0 reported 0 extra\n",	  /* a notice takes no reason */
	    "0 deferred 5 why 4.0.0\n",	  /* a code without a relay */
	    "0 warned\n",		  /* too few fields */
	    "0 deferred 5 why 4.0.0 r x\n", /* too many fields */
	    "0 noticed 0\n",		  /* unknown kind */
	};
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct queue_envelope env;

		make_env(&env, 1);
		assert_int_equal(queue_apply_status(&env, bad[i],
						    strlen(bad[i]), err,
						    sizeof(err)),
				 -1);
		queue_envelope_free(&env);
	}
}

static void
backoff_doubles_to_max(void **state)
{
	assert_int_equal(delivery_backoff(60, 600, 0), 60);
	assert_int_equal(delivery_backoff(60, 600, 1), 120);
	assert_int_equal(delivery_backoff(60, 600, 3), 480);
	assert_int_equal(delivery_backoff(60, 600, 4), 600);
	assert_int_equal(delivery_backoff(60, 600, 100), 600);
	assert_int_equal(delivery_backoff(900, 300, 0), 300);
}

static void
report_status_by_source(void **state)
{
	struct queue_rcpt r;
	char buf[16];

	memset(&r, 0, sizeof(r));
	r.state = QUEUE_RCPT_FAILED;
	r.dsn = (char *)"5.7.1";
	r.last_error = (char *)"550 5.1.1 other";
	assert_string_equal(bounce_rcpt_status(&r, buf, sizeof(buf)),
			    "5.7.1");
	r.dsn = NULL;
	assert_string_equal(bounce_rcpt_status(&r, buf, sizeof(buf)),
			    "5.1.1");
	r.last_error = (char *)"no such account";
	assert_string_equal(bounce_rcpt_status(&r, buf, sizeof(buf)),
			    "5.1.1");
	r.last_error = (char *)"expired after 432000 s in the queue: x";
	assert_string_equal(bounce_rcpt_status(&r, buf, sizeof(buf)),
			    "4.4.7");
	r.last_error = (char *)"550 no enhanced code";
	assert_string_equal(bounce_rcpt_status(&r, buf, sizeof(buf)),
			    "5.0.0");
	r.state = QUEUE_RCPT_PENDING;
	r.last_error = (char *)"connect to x: refused";
	assert_string_equal(bounce_rcpt_status(&r, buf, sizeof(buf)),
			    "4.0.0");
}

static void
route_text_forms(void **state)
{
	static const char table[] =
	    "* [192.0.2.5]:2525\n"
	    "example.net relay.example.net\n";
	struct route_table *t;
	char err[256], out[256];

	assert_int_equal(route_table_parse(table, strlen(table), "gateways",
					   &t, err, sizeof(err)),
			 0);
	remote_route_text(NULL, "bob@Example.org", out, sizeof(out));
	assert_string_equal(out, "mx:Example.org");
	remote_route_text(route_lookup(t, "bob@example.org"),
			  "bob@example.org", out, sizeof(out));
	assert_string_equal(out, "gateway:*->[192.0.2.5]:2525");
	remote_route_text(route_lookup(t, "bob@example.net"),
			  "bob@example.net", out, sizeof(out));
	assert_string_equal(out, "gateway:example.net->relay.example.net");
	route_table_free(t);
}

static void
config_check_rejects_bad_window(void **state)
{
	struct cfg cfg;
	char err[512];

	cfg_defaults(&cfg);
	assert_int_equal(remote_check_config(&cfg, err, sizeof(err)), 0);
	/* cfg_set() checks the window too; this covers a config built
	 * another way. */
	free(cfg.delivery_window);
	cfg.delivery_window = strdup("Mon 25:00-26:00");
	assert_int_equal(remote_check_config(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "delivery_window"));
	cfg_free(&cfg);
}

static void
config_check_names_table_line(void **state)
{
	char path[] = "/tmp/test-remote-XXXXXX";
	const char text[] = "# routes\nexample.org [192.0.2.1] tls=bogus\n";
	struct cfg cfg;
	char err[512];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	cfg_defaults(&cfg);
	assert_int_equal(cfg_set(&cfg, "gateway_table", path, err,
				 sizeof(err)),
			 0);
	assert_int_equal(remote_check_config(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ":2:"));
	unlink(path);
	cfg_free(&cfg);
}

static void
set_reply(struct smtp_client_reply *r, int code, const char *enhanced,
	  const char *text)
{
	memset(r, 0, sizeof(*r));
	r->code = code;
	snprintf(r->enhanced, sizeof(r->enhanced), "%s", enhanced);
	snprintf(r->text, sizeof(r->text), "%s", text);
}

static void
result_success_needs_ok_transaction(void **state)
{
	struct smtp_client_status st;
	struct smtp_client_reply reply;
	struct remote_result res;

	memset(&st, 0, sizeof(st));
	snprintf(st.remote, sizeof(st.remote), "mx.example.org[192.0.2.1]:25");
	snprintf(st.stage, sizeof(st.stage), "end of data");
	set_reply(&reply, 250, "2.0.0", "queued");
	st.failure = SMTPC_OK;
	st.reply = reply;
	remote_result_rcpt(&res, &st, &reply);
	assert_int_equal(res.status, DELIVERY_DELIVERED);
	assert_string_equal(res.dsn, "2.0.0");

	/* A 250 carried by a failed transaction is no delivery. */
	st.failure = SMTPC_TEMPFAIL;
	remote_result_rcpt(&res, &st, &reply);
	assert_int_equal(res.status, DELIVERY_DEFERRED);
	assert_string_equal(res.dsn, "4.5.0");

	/* Nor is a 354 to RCPT TO in a transaction that succeeded. */
	st.failure = SMTPC_OK;
	set_reply(&reply, 354, "", "go ahead");
	remote_result_rcpt(&res, &st, &reply);
	assert_int_equal(res.status, DELIVERY_DEFERRED);
	assert_string_equal(res.dsn, "4.5.0");

	set_reply(&reply, 550, "5.1.1", "no such user");
	remote_result_rcpt(&res, &st, &reply);
	assert_int_equal(res.status, DELIVERY_FAILED);
	assert_string_equal(res.dsn, "5.1.1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(result_record_roundtrip),
	    cmocka_unit_test(result_without_error_drops_details),
	    cmocka_unit_test(result_relay_none_reads_as_null),
	    cmocka_unit_test(later_plain_record_clears_details),
	    cmocka_unit_test(notices_set_flags_not_attempts),
	    cmocka_unit_test(bad_records_rejected),
	    cmocka_unit_test(backoff_doubles_to_max),
	    cmocka_unit_test(report_status_by_source),
	    cmocka_unit_test(route_text_forms),
	    cmocka_unit_test(config_check_rejects_bad_window),
	    cmocka_unit_test(config_check_names_table_line),
	    cmocka_unit_test(result_success_needs_ok_transaction),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
