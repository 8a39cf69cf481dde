/*
 * Unit tests for the replicator status parser and the promotion rule
 * (promotion.h): every branch of promotable and of the score, and status
 * text that must be rejected.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "promotion.h"

#define STATUS_IN_SYNC                                                         \
	"role=standby\nstate=in-sync\nconnected=1\npeer=10.0.0.2:7025\n"       \
	"generation=4\npeer_generation=4\ncomplete=1\nlag_changes=0\n"         \
	"lag_seconds=0.000\ncatch_up_files_total=10\ncatch_up_files_done=10\n" \
	"catch_up_bytes=123456\nsince=12.5\nlast_error=\nsyncs=7\n"         \
	"peer_seen=1\n"

static void
status_parse_reads_every_key(void **state)
{
	struct repl_status st;
	char err[128] = "";

	assert_int_equal(repl_status_parse(STATUS_IN_SYNC,
					   strlen(STATUS_IN_SYNC), &st, err,
					   sizeof(err)),
			 0);
	assert_false(st.active);
	assert_int_equal(st.state, REPL_IN_SYNC);
	assert_true(st.connected);
	assert_string_equal(st.peer, "10.0.0.2:7025");
	assert_int_equal(st.generation, 4);
	assert_int_equal(st.peer_generation, 4);
	assert_true(st.complete);
	assert_true(st.peer_seen);
	assert_int_equal(st.lag_changes, 0);
	assert_true(st.lag_seconds == 0.0);
	assert_int_equal(st.catch_up_files_total, 10);
	assert_int_equal(st.catch_up_files_done, 10);
	assert_int_equal(st.catch_up_bytes, 123456);
	assert_true(st.since == 12.5);
	assert_string_equal(st.last_error, "");
}

static void
status_parse_active_with_error(void **state)
{
	static const char text[] =
	    "role=active\r\nstate=degraded\r\nconnected=0\r\ngeneration=9\r\n"
	    "complete=1\r\nlast_error=connect to 10.0.0.2:7025: refused\r\n";
	struct repl_status st;
	char err[128] = "";

	assert_int_equal(
	    repl_status_parse(text, strlen(text), &st, err, sizeof(err)), 0);
	assert_true(st.active);
	assert_int_equal(st.state, REPL_DEGRADED);
	assert_false(st.connected);
	assert_int_equal(st.peer_generation, 0);
	assert_string_equal(st.last_error, "connect to 10.0.0.2:7025: refused");
}

static void
status_parse_rejects_bad_text(void **state)
{
	static const struct {
		const char *text;
		const char *expect;
	} cases[] = {
	    {"state=in-sync\ngeneration=1\ncomplete=1\n", "role missing"},
	    {"role=standby\ngeneration=1\ncomplete=1\n", "state missing"},
	    {"role=standby\nstate=in-sync\ncomplete=1\n", "generation missing"},
	    {"role=standby\nstate=in-sync\ngeneration=1\n", "complete missing"},
	    {"role=primary\nstate=in-sync\ngeneration=1\ncomplete=1\n",
	     "invalid value for role"},
	    {"role=standby\nstate=unknown\ngeneration=1\ncomplete=1\n",
	     "invalid value for state"},
	    {"role=standby\nstate=in-sync\ngeneration=-1\ncomplete=1\n",
	     "invalid value for generation"},
	    {"role=standby\nstate=in-sync\ngeneration=1\ncomplete=yes\n",
	     "invalid value for complete"},
	    {"role=standby\nstate=in-sync\ngeneration=1\ncomplete=1\n"
	     "peer_seen=yes\n",
	     "invalid value for peer_seen"},
	    {"role=standby\nstate=in-sync\ngeneration=1\ncomplete=1\n"
	     "lag_seconds=nan\n",
	     "invalid value for lag_seconds"},
	    {"role=standby\nstate=in-sync\ngeneration=1\ncomplete=1\n"
	     "generation=18446744073709551616\n",
	     "invalid value for generation"},
	    {"role=standby\nstate\n", "without '='"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct repl_status st;
		char err[128] = "";

		if (repl_status_parse(cases[i].text, strlen(cases[i].text), &st,
				      err, sizeof(err)) != -1)
			fail_msg("case %zu: accepted", i);
		if (strstr(err, cases[i].expect) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err,
				 cases[i].expect);
	}
}

static void
status_parse_masks_control_bytes(void **state)
{
	static const char text[] = "role=standby\nstate=disconnected\n"
				   "generation=2\ncomplete=0\n"
				   "last_error=bad\x1b[31m\n";
	struct repl_status st;
	char err[128] = "";

	assert_int_equal(
	    repl_status_parse(text, strlen(text), &st, err, sizeof(err)), 0);
	assert_string_equal(st.last_error, "bad?[31m");
}

/* A standby status for the rule table. */
static void
standby(struct repl_status *st, enum repl_state state, bool connected,
	bool complete, uint64_t generation, uint64_t peer_generation)
{
	memset(st, 0, sizeof(*st));
	st->state = state;
	st->connected = connected;
	st->complete = complete;
	st->generation = generation;
	st->peer_generation = peer_generation;
}

static void
promotion_rule_table(void **state)
{
	static const struct {
		const char *name;
		enum repl_state state;
		bool connected, complete, serving, healthy;
		uint64_t generation, repl_peer_gen, heartbeat_peer_gen;
		bool promotable;
		unsigned score;
	} cases[] = {
	    {"in-sync standby", REPL_IN_SYNC, true, true, false, true, 5, 5, 5,
	     true, 100},
	    {"active gone, complete", REPL_DISCONNECTED, false, true, false,
	     true, 5, 5, 5, true, 50},
	    {"no peer heard of", REPL_DISCONNECTED, false, true, false, true, 5,
	     0, 0, false, 0},
	    {"catching up", REPL_CATCHING_UP, true, true, false, true, 5, 5, 5,
	     true, 0},
	    {"never complete", REPL_DISCONNECTED, false, false, false, true, 5,
	     0, 0, false, 0},
	    {"stale by heartbeat", REPL_DISCONNECTED, false, true, false, true,
	     5, 0, 6, false, 0},
	    {"stale by replicator", REPL_DISCONNECTED, false, true, false, true,
	     5, 6, 0, false, 0},
	    {"in sync but stale", REPL_IN_SYNC, true, true, false, true, 5, 5,
	     7, false, 0},
	    {"unhealthy standby", REPL_IN_SYNC, true, true, false, false, 5, 5,
	     5, true, 0},
	    {"healthy active", REPL_DEGRADED, false, true, true, true, 8, 0, 7,
	     true, 100},
	    {"unhealthy active", REPL_IN_SYNC, true, true, true, false, 8, 8, 8,
	     true, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct repl_status st;
		struct promotion p;

		standby(&st, cases[i].state, cases[i].connected,
			cases[i].complete, cases[i].generation,
			cases[i].repl_peer_gen);
		st.active = cases[i].serving;
		promotion_decide(&st, cases[i].serving, cases[i].healthy,
				 cases[i].heartbeat_peer_gen, &p);
		if (p.promotable != cases[i].promotable)
			fail_msg("%s: promotable %d, expected %d",
				 cases[i].name, p.promotable,
				 cases[i].promotable);
		if (p.score != cases[i].score)
			fail_msg("%s: score %u, expected %u", cases[i].name,
				 p.score, cases[i].score);
		if (p.score == 0 && p.reason[0] == '\0')
			fail_msg("%s: score 0 without a reason", cases[i].name);
		if (p.score > 0 && p.reason[0] != '\0')
			fail_msg("%s: reason '%s' with score %u", cases[i].name,
				 p.reason, p.score);
	}
}

static void
promotion_peer_generation_is_larger(void **state)
{
	struct repl_status st;
	struct promotion p;

	standby(&st, REPL_DISCONNECTED, false, true, 5, 3);
	promotion_decide(&st, false, true, 4, &p);
	assert_int_equal(p.peer_generation, 4);
	promotion_decide(&st, false, true, 2, &p);
	assert_int_equal(p.peer_generation, 3);
}

/* A standby that heard nothing of its peer since it started may have
 * missed a newer generation; a HELLO or heartbeat at generation 0 counts. */
static void
promotion_needs_news_of_peer(void **state)
{
	struct repl_status st;
	struct promotion p;

	standby(&st, REPL_DISCONNECTED, false, true, 5, 0);
	promotion_decide(&st, false, true, 0, &p);
	assert_false(p.promotable);
	assert_int_equal(p.score, 0);
	assert_non_null(strstr(p.reason, "nothing heard from the peer"));
	st.peer_seen = true;
	promotion_decide(&st, false, true, 0, &p);
	assert_true(p.promotable);
	assert_int_equal(p.score, 50);
	st.peer_seen = false;
	promotion_decide(&st, true, true, 0, &p);
	assert_true(p.promotable);
	assert_int_equal(p.score, 100);
}

static void
promotion_without_replicator(void **state)
{
	struct promotion p;

	promotion_decide(NULL, false, true, 3, &p);
	assert_false(p.promotable);
	assert_int_equal(p.score, 0);
	assert_int_equal(p.peer_generation, 3);
	assert_non_null(strstr(p.reason, "does not answer"));
	promotion_decide(NULL, true, true, 0, &p);
	assert_int_equal(p.score, 0);
}

static void
promotion_reasons_name_the_cause(void **state)
{
	struct repl_status st;
	struct promotion p;

	standby(&st, REPL_DISCONNECTED, false, false, 5, 0);
	promotion_decide(&st, false, true, 0, &p);
	assert_non_null(strstr(p.reason, "not complete"));
	standby(&st, REPL_DISCONNECTED, false, true, 5, 0);
	promotion_decide(&st, false, true, 9, &p);
	assert_non_null(strstr(p.reason, "stale"));
	assert_non_null(strstr(p.reason, "9"));
	standby(&st, REPL_CATCHING_UP, true, true, 5, 5);
	promotion_decide(&st, false, true, 5, &p);
	assert_non_null(strstr(p.reason, "catching-up"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(status_parse_reads_every_key),
	    cmocka_unit_test(status_parse_active_with_error),
	    cmocka_unit_test(status_parse_rejects_bad_text),
	    cmocka_unit_test(status_parse_masks_control_bytes),
	    cmocka_unit_test(promotion_rule_table),
	    cmocka_unit_test(promotion_peer_generation_is_larger),
	    cmocka_unit_test(promotion_needs_news_of_peer),
	    cmocka_unit_test(promotion_without_replicator),
	    cmocka_unit_test(promotion_reasons_name_the_cause),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
