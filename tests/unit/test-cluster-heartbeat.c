/*
 * Unit tests for the heartbeat message: round trips, versioning, and
 * truncated or hostile input that must be rejected.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "heartbeat.h"

#define HEAD "hapost-heartbeat 1\n"
#define BODY                                                                   \
	"node=mx1\nrole=active\ntime_ms=1700000000123\ngeneration=7\n"         \
	"data_dir_writable=1\nqmgr_alive=1\nqueue_size=3\n"                    \
	"queue_oldest_age=42\n"
#define VALID HEAD BODY "listener=smtp 127.0.0.1:25 1\nend\n"

static void
sample(struct node_health *h)
{
	memset(h, 0, sizeof(*h));
	strcpy(h->name, "mx1.example_test-2");
	h->role = ROLE_STANDBY;
	h->time_ms = 1700000000123;
	h->generation = UINT64_MAX;
	h->data_dir_writable = true;
	h->qmgr_alive = false;
	h->queue_size = 12345;
	h->queue_oldest_age = -1;
	h->nlisteners = 2;
	strcpy(h->listeners[0].service, "smtp");
	strcpy(h->listeners[0].address, "0.0.0.0:25");
	h->listeners[0].healthy = true;
	strcpy(h->listeners[1].service, "imap");
	strcpy(h->listeners[1].address, "[::1]:143");
	h->listeners[1].healthy = false;
}

static int
decode_text(const char *text, struct node_health *h, char *err)
{
	return heartbeat_decode(text, strlen(text), h, err, 128);
}

static void
heartbeat_round_trip_keeps_fields(void **state)
{
	struct node_health in, out;
	struct buf b = BUF_INIT;
	char err[128] = "";

	sample(&in);
	heartbeat_encode(&in, &b);
	assert_int_equal(
	    heartbeat_decode(b.data, b.len, &out, err, sizeof(err)), 0);
	assert_string_equal(out.name, in.name);
	assert_int_equal(out.role, ROLE_STANDBY);
	assert_true(out.time_ms == in.time_ms);
	assert_true(out.generation == UINT64_MAX);
	assert_true(out.data_dir_writable);
	assert_false(out.qmgr_alive);
	assert_int_equal(out.queue_size, 12345);
	assert_int_equal(out.queue_oldest_age, -1);
	assert_int_equal(out.nlisteners, 2);
	assert_string_equal(out.listeners[0].service, "smtp");
	assert_string_equal(out.listeners[0].address, "0.0.0.0:25");
	assert_true(out.listeners[0].healthy);
	assert_string_equal(out.listeners[1].address, "[::1]:143");
	assert_false(out.listeners[1].healthy);
	buf_free(&b);
}

static void
heartbeat_encode_caps_listeners(void **state)
{
	struct node_health in, out;
	struct buf b = BUF_INIT;
	char err[128] = "";

	sample(&in);
	in.nlisteners = HEARTBEAT_LISTENERS_MAX + 5;
	for (size_t i = 0; i < HEARTBEAT_LISTENERS_MAX; i++) {
		strcpy(in.listeners[i].service, "pop3");
		snprintf(in.listeners[i].address,
			 sizeof(in.listeners[i].address), "127.0.0.1:%zu",
			 1000 + i);
	}
	heartbeat_encode(&in, &b);
	assert_true(b.len <= HEARTBEAT_MAX_SIZE);
	assert_int_equal(
	    heartbeat_decode(b.data, b.len, &out, err, sizeof(err)), 0);
	assert_int_equal(out.nlisteners, HEARTBEAT_LISTENERS_MAX);
	buf_free(&b);
}

static void
heartbeat_valid_text_decodes(void **state)
{
	struct node_health h;
	char err[128] = "";

	assert_int_equal(decode_text(VALID, &h, err), 0);
	assert_string_equal(h.name, "mx1");
	assert_int_equal(h.role, ROLE_ACTIVE);
	assert_int_equal(h.generation, 7);
	assert_int_equal(h.queue_oldest_age, 42);
	assert_int_equal(h.nlisteners, 1);
}

static void
heartbeat_unknown_keys_are_skipped(void **state)
{
	struct node_health h;
	char err[128] = "";

	assert_int_equal(decode_text(HEAD BODY "replica_lag_ms=12\n"
					       "future=a b c\nend\n",
				     &h, err),
			 0);
	assert_int_equal(h.nlisteners, 0);
}

static void
heartbeat_other_versions_rejected(void **state)
{
	static const struct {
		const char *text;
		const char *expect;
	} cases[] = {
	    {"hapost-heartbeat 2\n" BODY "end\n", "unsupported version 2"},
	    {"hapost-heartbeat 0\n" BODY "end\n", "unsupported version 0"},
	    {"hapost-heartbeat 1x\n" BODY "end\n", "invalid version"},
	    {"hapost-heartbeat \n" BODY "end\n", "invalid version"},
	    {"hapost-heartbeat 99999999999999999999999\n" BODY "end\n",
	     "invalid version"},
	    {"hapost-heartbeat\n" BODY "end\n", "not a heartbeat"},
	    {"hapost-hb 1\n" BODY "end\n", "not a heartbeat"},
	    {BODY "end\n", "not a heartbeat"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct node_health h;
		char err[128] = "";

		assert_int_equal(decode_text(cases[i].text, &h, err), -1);
		if (strstr(err, cases[i].expect) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err,
				 cases[i].expect);
	}
}

/* Every proper prefix of a valid message must fail to decode. */
static void
heartbeat_truncated_messages_rejected(void **state)
{
	const char *text = VALID;
	size_t len = strlen(text);

	for (size_t n = 0; n < len; n++) {
		struct node_health h;
		char err[128] = "";

		if (heartbeat_decode(text, n, &h, err, sizeof(err)) != -1)
			fail_msg("prefix of %zu bytes decoded", n);
		assert_true(err[0] != '\0');
	}
}

static void
heartbeat_hostile_messages_rejected(void **state)
{
	static const struct {
		const char *text;
		const char *expect;
	} cases[] = {
	    {HEAD BODY "end\nnode=x\n", "data after end"},
	    {HEAD BODY "end\nend\n", "data after end"},
	    {HEAD BODY "no equals\nend\n", "expected key=value"},
	    {HEAD BODY "node=mx2\nend\n", "key node repeated"},
	    {HEAD "role=active\nend\n", "missing"},
	    {HEAD BODY "\x01=1\nend\n", "control or non-ASCII"},
	    {HEAD BODY "\tx=1\nend\n", "control or non-ASCII"},
	    {HEAD BODY "node2=\xc3\xa9\nend\n", "control or non-ASCII"},
	    {HEAD BODY "\r\nend\n", "control or non-ASCII"},
	    {HEAD "node=mx 1\nend\n", "invalid value for node"},
	    {HEAD "node=\nend\n", "invalid value for node"},
	    {HEAD "node=a/b\nend\n", "invalid value for node"},
	    {HEAD "node=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaa\nend\n",
	     "invalid value for node"},
	    {HEAD "role=primary\nend\n", "invalid value for role"},
	    {HEAD "role=\nend\n", "invalid value for role"},
	    {HEAD "generation=-1\nend\n", "invalid value for generation"},
	    {HEAD "generation=18446744073709551616\nend\n",
	     "invalid value for generation"},
	    {HEAD "generation=12a\nend\n", "invalid value for generation"},
	    {HEAD "generation= 1\nend\n", "invalid value for generation"},
	    {HEAD "generation=\nend\n", "invalid value for generation"},
	    {HEAD "time_ms=9223372036854775808\nend\n",
	     "invalid value for time_ms"},
	    {HEAD "queue_oldest_age=-2\nend\n",
	     "invalid value for queue_oldest_age"},
	    {HEAD "queue_oldest_age=--1\nend\n",
	     "invalid value for queue_oldest_age"},
	    {HEAD "qmgr_alive=2\nend\n", "invalid value for qmgr_alive"},
	    {HEAD "qmgr_alive=yes\nend\n", "invalid value for qmgr_alive"},
	    {HEAD "data_dir_writable=\nend\n",
	     "invalid value for data_dir_writable"},
	    {HEAD "listener=smtp\nend\n", "invalid value for listener"},
	    {HEAD "listener=smtp 127.0.0.1:25\nend\n",
	     "invalid value for listener"},
	    {HEAD "listener=smtp 127.0.0.1:25 yes\nend\n",
	     "invalid value for listener"},
	    {HEAD "listener=smtp  1\nend\n", "invalid value for listener"},
	    {HEAD "listener=SMTP 127.0.0.1:25 1\nend\n",
	     "invalid value for listener"},
	    {HEAD "listener=smtpsmtpsmtpsmtp 127.0.0.1:25 1\nend\n",
	     "invalid value for listener"},
	    {HEAD "listener=smtp 127.0.0.1:25 1 extra\nend\n",
	     "invalid value for listener"},
	    {HEAD "listener=smtp "
		  "1111111111111111111111111111111111111111111111111111111"
		  "111111111 1\nend\n",
	     "invalid value for listener"},
	    {"", "truncated"},
	    {"\n", "not a heartbeat"},
	    {HEAD BODY "end", "truncated"},
	    {HEAD BODY, "truncated"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct node_health h;
		char err[128] = "";

		assert_int_equal(decode_text(cases[i].text, &h, err), -1);
		if (strstr(err, cases[i].expect) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err,
				 cases[i].expect);
	}
}

static void
heartbeat_nul_byte_rejected(void **state)
{
	char text[] = VALID;
	struct node_health h;
	char err[128] = "";

	text[strlen(HEAD) + 3] = '\0';
	assert_int_equal(
	    heartbeat_decode(text, sizeof(text) - 1, &h, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "control or non-ASCII"));
}

static void
heartbeat_oversized_message_rejected(void **state)
{
	size_t len = HEARTBEAT_MAX_SIZE + 1;
	char *text = malloc(len);
	struct node_health h;
	char err[128] = "";

	memset(text, 'a', len);
	text[len - 1] = '\n';
	assert_int_equal(heartbeat_decode(text, len, &h, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than"));
	free(text);
}

static void
heartbeat_too_many_listeners_rejected(void **state)
{
	struct buf b = BUF_INIT;
	struct node_health h;
	char err[128] = "";

	buf_puts(&b, HEAD BODY);
	for (int i = 0; i <= HEARTBEAT_LISTENERS_MAX; i++)
		buf_printf(&b, "listener=imap 127.0.0.1:%d 1\n", 1000 + i);
	buf_puts(&b, "end\n");
	assert_int_equal(heartbeat_decode(b.data, b.len, &h, err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "invalid value for listener"));
	buf_free(&b);
}

static void
node_health_ok_needs_every_check(void **state)
{
	struct node_health h;

	sample(&h);
	h.listeners[1].healthy = true;
	h.qmgr_alive = true;
	assert_true(node_health_ok(&h));
	h.listeners[1].healthy = false;
	assert_false(node_health_ok(&h));
	h.listeners[1].healthy = true;
	h.data_dir_writable = false;
	assert_false(node_health_ok(&h));
	h.data_dir_writable = true;
	h.qmgr_alive = false;
	assert_false(node_health_ok(&h));
	h.qmgr_alive = true;
	h.nlisteners = 0;
	assert_true(node_health_ok(&h));
}

static void
node_health_state_unchecked_table(void **state)
{
	/* Listener 0 and 1 as (unchecked, healthy); data_dir; qmgr. */
	static const struct {
		bool unchecked0, healthy0, unchecked1, healthy1;
		bool data_dir, qmgr;
		enum health_state want;
	} cases[] = {
	    {false, true, false, true, true, true, HEALTH_OK},
	    {true, false, false, true, true, true, HEALTH_UNCHECKED},
	    {true, false, true, false, true, true, HEALTH_UNCHECKED},
	    /* An unchecked listener's healthy flag means nothing. */
	    {true, true, false, true, true, true, HEALTH_UNCHECKED},
	    /* A failure wins over a listener not checked yet. */
	    {true, false, false, false, true, true, HEALTH_FAILED},
	    {true, false, false, true, false, true, HEALTH_FAILED},
	    {true, false, false, true, true, false, HEALTH_FAILED},
	    {false, false, true, false, true, true, HEALTH_FAILED},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct node_health h;
		enum health_state got;

		sample(&h);
		h.listeners[0].unchecked = cases[i].unchecked0;
		h.listeners[0].healthy = cases[i].healthy0;
		h.listeners[1].unchecked = cases[i].unchecked1;
		h.listeners[1].healthy = cases[i].healthy1;
		h.data_dir_writable = cases[i].data_dir;
		h.qmgr_alive = cases[i].qmgr;
		got = node_health_state(&h);
		if (got != cases[i].want)
			fail_msg("case %zu: got %d, expected %d", i, got,
				 cases[i].want);
		if (node_health_ok(&h) != (cases[i].want == HEALTH_OK))
			fail_msg("case %zu: node_health_ok disagrees", i);
	}
}

static void
heartbeat_unchecked_listener_encoded_failed(void **state)
{
	struct node_health h, out;
	struct buf b = BUF_INIT;
	char err[128] = "";

	sample(&h);
	h.listeners[0].healthy = true;
	h.listeners[0].unchecked = true;
	heartbeat_encode(&h, &b);
	assert_non_null(strstr(buf_cstr(&b), "listener=smtp 0.0.0.0:25 0\n"));
	assert_int_equal(
	    heartbeat_decode(b.data, b.len, &out, err, sizeof(err)), 0);
	assert_false(out.listeners[0].healthy);
	assert_false(out.listeners[0].unchecked);
	assert_false(out.listeners[1].unchecked);
	buf_free(&b);
}

static void
node_role_names_round_trip(void **state)
{
	enum node_role r;

	assert_int_equal(node_role_parse("standalone", &r), 0);
	assert_int_equal(r, ROLE_STANDALONE);
	assert_int_equal(node_role_parse("active", &r), 0);
	assert_int_equal(r, ROLE_ACTIVE);
	assert_int_equal(node_role_parse("standby", &r), 0);
	assert_int_equal(r, ROLE_STANDBY);
	assert_int_equal(node_role_parse("Active", &r), -1);
	assert_string_equal(node_role_name(ROLE_STANDBY), "standby");
	assert_string_equal(node_role_name((enum node_role)42), "unknown");
}

static void
heartbeat_replication_keys_round_trip(void **state)
{
	struct node_health in, out;
	struct buf b = BUF_INIT;
	char err[128] = "";

	sample(&in);
	in.seq = 42;
	in.replicated = true;
	in.repl_alive = true;
	in.repl_state = REPL_CATCHING_UP;
	in.complete = false;
	heartbeat_encode(&in, &b);
	assert_non_null(strstr(buf_cstr(&b), "\nseq=42\n"));
	assert_non_null(strstr(buf_cstr(&b), "\nstorage=replicated\n"));
	assert_non_null(strstr(buf_cstr(&b), "\nrepl_state=catching-up\n"));
	assert_int_equal(
	    heartbeat_decode(b.data, b.len, &out, err, sizeof(err)), 0);
	assert_int_equal(out.seq, 42);
	assert_true(out.replicated);
	assert_true(out.repl_alive);
	assert_int_equal(out.repl_state, REPL_CATCHING_UP);
	assert_false(out.complete);
	/* An unchecked replicator goes out as not alive. */
	in.repl_unchecked = true;
	heartbeat_encode(&in, &b);
	assert_non_null(strstr(buf_cstr(&b), "\nrepl_alive=0\n"));
	assert_int_equal(
	    heartbeat_decode(b.data, b.len, &out, err, sizeof(err)), 0);
	assert_false(out.repl_alive);
	assert_false(out.repl_unchecked);
	in.repl_unchecked = false;
	in.repl_state = REPL_IN_SYNC;
	in.complete = true;
	heartbeat_encode(&in, &b);
	assert_int_equal(
	    heartbeat_decode(b.data, b.len, &out, err, sizeof(err)), 0);
	assert_int_equal(out.repl_state, REPL_IN_SYNC);
	assert_true(out.complete);
	buf_free(&b);
}

static void
heartbeat_shared_mode_has_no_replication_keys(void **state)
{
	struct node_health in, out;
	struct buf b = BUF_INIT;
	char err[128] = "";

	sample(&in);
	heartbeat_encode(&in, &b);
	assert_null(strstr(buf_cstr(&b), "storage="));
	assert_null(strstr(buf_cstr(&b), "repl_"));
	assert_null(strstr(buf_cstr(&b), "seq="));
	assert_int_equal(
	    heartbeat_decode(b.data, b.len, &out, err, sizeof(err)), 0);
	assert_false(out.replicated);
	assert_int_equal(out.seq, 0);
	/* The older format, without any optional key, still decodes. */
	assert_int_equal(decode_text(VALID, &out, err), 0);
	assert_false(out.replicated);
	buf_free(&b);
}

static void
heartbeat_bad_replication_keys_rejected(void **state)
{
	static const struct {
		const char *text;
		const char *expect;
	} cases[] = {
	    {HEAD BODY "storage=nfs\nend\n", "invalid value for storage"},
	    {HEAD BODY "repl_state=synced\nend\n",
	     "invalid value for repl_state"},
	    {HEAD BODY "complete=2\nend\n", "invalid value for complete"},
	    {HEAD BODY "repl_alive=yes\nend\n", "invalid value for repl_alive"},
	    {HEAD BODY "seq=-1\nend\n", "invalid value for seq"},
	    {HEAD BODY "seq=1\nseq=2\nend\n", "key seq repeated"},
	    {HEAD BODY "complete=1\ncomplete=1\nend\n",
	     "key complete repeated"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct node_health h;
		char err[128] = "";

		assert_int_equal(decode_text(cases[i].text, &h, err), -1);
		if (strstr(err, cases[i].expect) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err,
				 cases[i].expect);
	}
}

static void
node_health_replicated_table(void **state)
{
	/* The standby needs neither a queue manager nor listeners. */
	static const struct {
		enum node_role role;
		bool repl_alive, repl_unchecked, data_dir, qmgr, listener_ok;
		enum health_state want;
	} cases[] = {
	    {ROLE_STANDBY, true, false, true, false, false, HEALTH_OK},
	    {ROLE_STANDBY, false, false, true, false, false, HEALTH_FAILED},
	    {ROLE_STANDBY, true, false, false, false, false, HEALTH_FAILED},
	    /* A replicator that has not answered yet is no failure. */
	    {ROLE_STANDBY, false, true, true, false, false, HEALTH_UNCHECKED},
	    {ROLE_STANDBY, false, true, false, false, false, HEALTH_FAILED},
	    {ROLE_ACTIVE, true, false, true, true, true, HEALTH_OK},
	    {ROLE_ACTIVE, false, false, true, true, true, HEALTH_FAILED},
	    {ROLE_ACTIVE, true, false, true, false, true, HEALTH_FAILED},
	    {ROLE_ACTIVE, true, false, true, true, false, HEALTH_FAILED},
	    {ROLE_ACTIVE, false, true, true, true, true, HEALTH_UNCHECKED},
	    {ROLE_ACTIVE, false, true, true, false, true, HEALTH_FAILED},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct node_health h;
		enum health_state got;

		sample(&h);
		h.replicated = true;
		h.role = cases[i].role;
		h.repl_alive = cases[i].repl_alive;
		h.repl_unchecked = cases[i].repl_unchecked;
		h.data_dir_writable = cases[i].data_dir;
		h.qmgr_alive = cases[i].qmgr;
		h.listeners[0].healthy = cases[i].listener_ok;
		h.listeners[1].healthy = cases[i].listener_ok;
		got = node_health_state(&h);
		if (got != cases[i].want)
			fail_msg("case %zu: got %d, expected %d", i, got,
				 cases[i].want);
	}
}

static void
repl_state_names_round_trip(void **state)
{
	enum repl_state st;

	assert_int_equal(repl_state_parse("in-sync", &st), 0);
	assert_int_equal(st, REPL_IN_SYNC);
	assert_int_equal(repl_state_parse("catching-up", &st), 0);
	assert_int_equal(st, REPL_CATCHING_UP);
	assert_int_equal(repl_state_parse("degraded", &st), 0);
	assert_int_equal(st, REPL_DEGRADED);
	assert_int_equal(repl_state_parse("disconnected", &st), 0);
	assert_int_equal(st, REPL_DISCONNECTED);
	assert_int_equal(repl_state_parse("In-Sync", &st), -1);
	assert_string_equal(repl_state_name((enum repl_state)99), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(heartbeat_round_trip_keeps_fields),
	    cmocka_unit_test(heartbeat_encode_caps_listeners),
	    cmocka_unit_test(heartbeat_valid_text_decodes),
	    cmocka_unit_test(heartbeat_unknown_keys_are_skipped),
	    cmocka_unit_test(heartbeat_other_versions_rejected),
	    cmocka_unit_test(heartbeat_truncated_messages_rejected),
	    cmocka_unit_test(heartbeat_hostile_messages_rejected),
	    cmocka_unit_test(heartbeat_nul_byte_rejected),
	    cmocka_unit_test(heartbeat_oversized_message_rejected),
	    cmocka_unit_test(heartbeat_too_many_listeners_rejected),
	    cmocka_unit_test(node_health_ok_needs_every_check),
	    cmocka_unit_test(node_health_state_unchecked_table),
	    cmocka_unit_test(heartbeat_unchecked_listener_encoded_failed),
	    cmocka_unit_test(node_role_names_round_trip),
	    cmocka_unit_test(heartbeat_replication_keys_round_trip),
	    cmocka_unit_test(heartbeat_shared_mode_has_no_replication_keys),
	    cmocka_unit_test(heartbeat_bad_replication_keys_rejected),
	    cmocka_unit_test(node_health_replicated_table),
	    cmocka_unit_test(repl_state_names_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
