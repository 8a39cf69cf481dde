/*
 * Unit tests for the status report: JSON string escaping and the members
 * of the JSON and text reports.
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
#include "report.h"

static void
json_string_escapes_table(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} cases[] = {
	    {"", "\"\""},
	    {"plain", "\"plain\""},
	    {"a\"b", "\"a\\\"b\""},
	    {"a\\b", "\"a\\\\b\""},
	    {"l1\nl2\r\t", "\"l1\\nl2\\r\\t\""},
	    {"\x01\x1f", "\"\\u0001\\u001f\""},
	    {"del\x7f", "\"del\\u007f\""},
	    {"caf\xc3\xa9", "\"caf\xc3\xa9\""},
	    {"\xe2\x82\xac", "\"\xe2\x82\xac\""},
	    {"\xf0\x9f\x93\xa7", "\"\xf0\x9f\x93\xa7\""},
	    {"\xff", "\"\\ufffd\""},
	    {"\xc0\xaf", "\"\\ufffd\\ufffd\""},
	    {"\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\""},
	    {"\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\""},
	    {"\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""},
	    {"\xe2\x82", "\"\\ufffd\\ufffd\""},
	    {"a\xc3", "\"a\\ufffd\""},
	    {"</script>", "\"</script>\""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b = BUF_INIT;

		json_put_string(&b, cases[i].in);
		if (strcmp(buf_cstr(&b), cases[i].out) != 0)
			fail_msg("case %zu: got %s, expected %s", i,
				 buf_cstr(&b), cases[i].out);
		buf_free(&b);
	}
}

static void
sample(struct status_report *r)
{
	struct node_health *h = &r->local.health;

	memset(r, 0, sizeof(*r));
	strcpy(h->name, "mx1");
	h->role = ROLE_STANDALONE;
	h->generation = 4;
	h->data_dir_writable = true;
	h->qmgr_alive = true;
	h->queue_size = 3;
	h->queue_oldest_age = 42;
	h->nlisteners = 2;
	strcpy(h->listeners[0].service, "smtp");
	strcpy(h->listeners[0].address, "127.0.0.1:25");
	h->listeners[0].healthy = true;
	strcpy(h->listeners[1].service, "imap");
	strcpy(h->listeners[1].address, "127.0.0.1:143");
	h->listeners[1].healthy = false;
	r->local.listener_error[1] = "connect failed: Connection refused";
	r->local.data_dir = "/srv/\"hapost\"";
	r->local.qmgr_pid = 1234;
	r->local.checked_age = 0.5;
	r->peer.state = PEER_NONE;
	r->cluster.connected = false;
	r->cluster.reason = "corosync is not running";
	r->cluster.group = "hapost";
}

static void
assert_contains(const char *text, const char *part)
{
	if (strstr(text, part) == NULL)
		fail_msg("'%s' not found in:\n%s", part, text);
}

static void
report_json_local_members(void **state)
{
	struct status_report r;
	struct buf b = BUF_INIT;
	const char *s;

	sample(&r);
	report_json(&r, &b);
	s = buf_cstr(&b);
	assert_true(s[0] == '{');
	assert_contains(s, "}\n");
	assert_contains(s, "\"node\":\"mx1\"");
	assert_contains(s, "\"role\":\"standalone\"");
	assert_contains(s, "\"healthy\":false,\"generation\":4");
	assert_contains(s, "\"data_dir\":\"/srv/\\\"hapost\\\"\"");
	assert_contains(s, "\"data_dir_writable\":true");
	assert_contains(s, "\"data_dir_error\":null");
	assert_contains(s, "\"qmgr_alive\":true,\"qmgr_pid\":1234");
	assert_contains(s, "\"checked_age\":0.5");
	assert_contains(s, "{\"service\":\"smtp\",\"address\":\"127.0.0.1:25\","
			   "\"healthy\":true,\"error\":null}");
	assert_contains(s, "\"healthy\":false,\"error\":\"connect failed: "
			   "Connection refused\"}");
	assert_contains(s, "\"queue\":{\"size\":3,\"oldest_age\":42}");
	assert_contains(s, "\"peer\":null");
	assert_contains(s, "\"cluster\":{\"connected\":false,\"reason\":"
			   "\"corosync is not running\",\"group\":\"hapost\","
			   "\"nodeid\":null,\"members\":0,\"nodes\":0}");
	buf_free(&b);
}

static void
report_json_peer_and_cluster(void **state)
{
	struct status_report r;
	struct buf b = BUF_INIT;
	const char *s;

	sample(&r);
	r.local.health.queue_oldest_age = -1;
	r.local.qmgr_pid = 0;
	r.local.health.qmgr_alive = false;
	r.local.checked_age = -1;
	r.peer.state = PEER_STALE;
	r.peer.nodeid = 2;
	r.peer.name = "node2";
	r.peer.ring = RING_ONLINE;
	r.peer.hapost_running = true;
	r.peer.last_seen_age = 3.25;
	strcpy(r.peer.health.name, "mx2");
	r.peer.health.role = ROLE_ACTIVE;
	r.peer.health.generation = 9;
	r.peer.health.queue_oldest_age = -1;
	r.cluster.connected = true;
	r.cluster.nodeid = 1;
	r.cluster.members = 2;
	r.cluster.nodes = 2;
	report_json(&r, &b);
	s = buf_cstr(&b);
	assert_contains(s, "\"qmgr_alive\":false,\"qmgr_pid\":null");
	assert_contains(s, "\"checked_age\":null");
	assert_contains(s, "\"queue\":{\"size\":3,\"oldest_age\":null}");
	/* The heartbeat's name wins over corosync's. */
	assert_contains(s, "\"peer\":{\"node\":\"mx2\",\"nodeid\":2,"
			   "\"ring\":\"online\",\"hapost_running\":true,"
			   "\"state\":\"stale\",\"last_seen_age\":3.2");
	assert_contains(s, "\"role\":\"active\",\"healthy\":false,"
			   "\"generation\":9");
	assert_contains(s, "\"listeners\":[],\"replication_state\":null,"
			   "\"complete\":null}");
	assert_contains(s, "\"cluster\":{\"connected\":true,\"reason\":null,"
			   "\"group\":\"hapost\",\"nodeid\":1,\"members\":2,"
			   "\"nodes\":2}");
	assert_contains(s, "\"replication\":null}\n");
	/* A peer in replicated mode reports its state and complete flag. */
	r.peer.health.replicated = true;
	r.peer.health.repl_state = REPL_IN_SYNC;
	r.peer.health.complete = true;
	report_json(&r, &b);
	assert_contains(buf_cstr(&b), "\"listeners\":[],"
				      "\"replication_state\":\"in-sync\","
				      "\"complete\":true}");
	buf_free(&b);
}

static void
report_text_shows_failures(void **state)
{
	struct status_report r;
	struct buf b = BUF_INIT;
	const char *s;

	sample(&r);
	report_text(&r, &b);
	s = buf_cstr(&b);
	assert_contains(s, "name:           mx1\n");
	assert_contains(s, "role:           standalone\n");
	assert_contains(s, "health:         UNHEALTHY\n");
	assert_contains(s, "generation:     4\n");
	assert_contains(s, "FAILED (connect failed: Connection refused)");
	assert_contains(s, "queue manager:  running (pid 1234)\n");
	assert_contains(s, "queue:          3 messages, oldest 42 s\n");
	assert_contains(s, "Peer\n  none seen\n");
	assert_contains(s, "unavailable (corosync is not running)");
	buf_free(&b);
}

/* The standby of shared storage mode: online, no hapostd, no heartbeat. */
static void
peer_standby(struct status_report *r)
{
	sample(r);
	r->cluster.connected = true;
	r->cluster.nodeid = 1;
	r->cluster.members = 1;
	r->cluster.nodes = 2;
	r->peer.nodeid = 2;
	r->peer.name = "node2";
	r->peer.ring = RING_ONLINE;
	r->peer.hapost_running = false;
	r->peer.state = PEER_NONE;
}

static void
report_json_peer_without_heartbeat(void **state)
{
	struct status_report r;
	struct buf b = BUF_INIT;
	const char *s;

	peer_standby(&r);
	report_json(&r, &b);
	s = buf_cstr(&b);
	assert_contains(s, "\"peer\":{\"node\":\"node2\",\"nodeid\":2,"
			   "\"ring\":\"online\",\"hapost_running\":false,"
			   "\"state\":\"none\",\"last_seen_age\":null,"
			   "\"role\":null,\"healthy\":null,"
			   "\"generation\":null,\"data_dir_writable\":null,"
			   "\"qmgr_alive\":null,\"time_ms\":null,"
			   "\"queue\":null,\"listeners\":[],"
			   "\"replication_state\":null,\"complete\":null},"
			   "\"cluster\":");
	/* Offline, and unknown without a name while corosync is away. */
	r.peer.ring = RING_OFFLINE;
	report_json(&r, &b);
	assert_contains(buf_cstr(&b), "\"ring\":\"offline\","
				      "\"hapost_running\":false,");
	r.peer.ring = RING_UNKNOWN;
	r.peer.name = "";
	report_json(&r, &b);
	assert_contains(buf_cstr(&b), "\"peer\":{\"node\":null,\"nodeid\":2,"
				      "\"ring\":null,"
				      "\"hapost_running\":null,");
	buf_free(&b);
}

static void
report_text_peer_ring_table(void **state)
{
	static const struct {
		enum ring_state ring;
		bool hapost_running;
		enum peer_state peer;
		const char *ring_line;
		const char *hapost_line;
	} cases[] = {
	    {RING_ONLINE, false, PEER_NONE, "online",
	     "no hapost running (standby)"},
	    {RING_ONLINE, true, PEER_NONE, "online",
	     "running, no heartbeat yet"},
	    {RING_ONLINE, false, PEER_LEFT, "online",
	     "no hapost running (standby)"},
	    {RING_OFFLINE, false, PEER_LEFT, "offline",
	     "not running (node offline)"},
	    {RING_OFFLINE, false, PEER_NONE, "offline",
	     "not running (node offline)"},
	    {RING_UNKNOWN, false, PEER_NONE, "unknown (cluster unavailable)",
	     "unknown (cluster unavailable)"},
	    {RING_ONLINE, true, PEER_ALIVE, "online",
	     "running, last heartbeat 0.4 s ago"},
	    {RING_ONLINE, true, PEER_STALE, "online",
	     "heartbeats STALE, last one 0.4 s ago"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct status_report r;
		struct buf b = BUF_INIT;
		char want[128];
		const char *s, *peer;
		bool details;

		peer_standby(&r);
		r.peer.ring = cases[i].ring;
		r.peer.hapost_running = cases[i].hapost_running;
		r.peer.state = cases[i].peer;
		r.peer.last_seen_age = 0.4;
		strcpy(r.peer.health.name, "node2");
		report_text(&r, &b);
		s = buf_cstr(&b);
		snprintf(want, sizeof(want),
			 "Peer\n  name:           node2 (node id 2)\n"
			 "  ring:           %s\n  hapost:         %s\n",
			 cases[i].ring_line, cases[i].hapost_line);
		if (strstr(s, want) == NULL)
			fail_msg("case %zu: '%s' not found in:\n%s", i, want,
				 s);
		/* Heartbeat details only while heartbeats are alive or
		 * stale. */
		peer = strstr(s, "Peer\n");
		assert_non_null(peer);
		details = strstr(peer, "  role:") != NULL;
		if (details != (cases[i].peer == PEER_ALIVE ||
				cases[i].peer == PEER_STALE))
			fail_msg("case %zu: wrong peer details in:\n%s", i, s);
		buf_free(&b);
	}
}

static void
report_text_peer_name_unknown(void **state)
{
	struct status_report r;
	struct buf b = BUF_INIT;

	peer_standby(&r);
	r.peer.name = NULL;
	report_text(&r, &b);
	assert_contains(buf_cstr(&b),
			"  name:           unknown (node id 2)\n");
	buf_free(&b);
}

/* Every listener checked except one: not checked yet, never unhealthy. */
static void
unchecked(struct status_report *r)
{
	sample(r);
	r->local.health.listeners[1].healthy = false;
	r->local.health.listeners[1].unchecked = true;
	r->local.listener_error[1] = "not checked yet";
}

static void
report_json_unchecked_listener_null(void **state)
{
	struct status_report r;
	struct buf b = BUF_INIT;
	const char *s;

	unchecked(&r);
	report_json(&r, &b);
	s = buf_cstr(&b);
	assert_contains(s, "\"role\":\"standalone\",\"healthy\":null,");
	assert_contains(s, "{\"service\":\"imap\",\"address\":"
			   "\"127.0.0.1:143\",\"healthy\":null,"
			   "\"error\":null}");
	assert_contains(s, "{\"service\":\"smtp\",\"address\":\"127.0.0.1:25\","
			   "\"healthy\":true,\"error\":null}");
	/* A real failure still makes the node unhealthy. */
	r.local.health.qmgr_alive = false;
	report_json(&r, &b);
	assert_contains(buf_cstr(&b),
			"\"role\":\"standalone\",\"healthy\":false,");
	buf_free(&b);
}

static void
report_text_unchecked_not_unhealthy(void **state)
{
	struct status_report r;
	struct buf b = BUF_INIT;
	const char *s;

	unchecked(&r);
	report_text(&r, &b);
	s = buf_cstr(&b);
	assert_contains(s, "health:         not checked yet\n");
	assert_null(strstr(s, "UNHEALTHY"));
	assert_null(strstr(s, "FAILED"));
	assert_contains(s, "imap       127.0.0.1:143            not checked "
			   "yet\n");
	buf_free(&b);
}

static void
ring_state_names_table(void **state)
{
	assert_string_equal(ring_state_name(RING_ONLINE), "online");
	assert_string_equal(ring_state_name(RING_OFFLINE), "offline");
	assert_string_equal(ring_state_name(RING_UNKNOWN), "unknown");
	assert_string_equal(ring_state_name((enum ring_state)42), "unknown");
}

static void
peer_state_names_table(void **state)
{
	assert_string_equal(peer_state_name(PEER_NONE), "none");
	assert_string_equal(peer_state_name(PEER_ALIVE), "alive");
	assert_string_equal(peer_state_name(PEER_STALE), "stale");
	assert_string_equal(peer_state_name(PEER_LEFT), "left");
}

/* A standby in sync in replicated mode, with its replication report. */
static void
replicated_standby(struct status_report *r, struct replication_report *rr)
{
	struct repl_status *st = &rr->status;

	sample(r);
	r->local.health.role = ROLE_STANDBY;
	r->local.health.replicated = true;
	r->local.health.repl_alive = true;
	r->local.health.repl_state = REPL_IN_SYNC;
	r->local.health.complete = true;
	r->local.health.qmgr_alive = false;
	r->local.health.nlisteners = 0;
	r->local.qmgr_pid = 0;
	memset(rr, 0, sizeof(*rr));
	rr->available = true;
	st->state = REPL_IN_SYNC;
	st->connected = true;
	strcpy(st->peer, "10.0.0.2:7025");
	st->generation = 4;
	st->peer_generation = 4;
	st->complete = true;
	st->lag_changes = 2;
	st->lag_seconds = 0.25;
	st->catch_up_files_total = 10;
	st->catch_up_files_done = 7;
	st->catch_up_bytes = 4096;
	st->since = 12.5;
	rr->pid = 4321;
	rr->configured_peer = "10.0.0.2:7025";
	promotion_decide(st, false, true, 4, &rr->promotion);
	r->replication = rr;
}

static void
report_json_replication_members(void **state)
{
	struct status_report r;
	struct replication_report rr;
	struct buf b = BUF_INIT;
	const char *s;

	replicated_standby(&r, &rr);
	report_json(&r, &b);
	s = buf_cstr(&b);
	assert_contains(s, "\"role\":\"standby\",\"healthy\":true,");
	assert_contains(s, "\"listeners\":[],");
	assert_contains(
	    s, "\"replication\":{\"state\":\"in-sync\",\"role\":\"standby\","
	       "\"connected\":true,\"peer\":\"10.0.0.2:7025\","
	       "\"lag_changes\":2,\"lag_seconds\":0.2,\"generation\":4,"
	       "\"peer_generation\":4,\"complete\":true,"
	       "\"promotable\":true,\"promotion_score\":100,"
	       "\"promotion_reason\":null,"
	       "\"catch_up\":{\"files_total\":10,\"files_done\":7,"
	       "\"bytes\":4096},\"since\":12.5,\"last_error\":null,"
	       "\"replicator_pid\":4321}}\n");
	buf_free(&b);
}

static void
report_json_replicator_unavailable(void **state)
{
	struct status_report r;
	struct replication_report rr;
	struct buf b = BUF_INIT;
	const char *s;

	replicated_standby(&r, &rr);
	r.local.health.repl_alive = false;
	memset(&rr.status, 0, sizeof(rr.status));
	rr.status.generation = 4;
	rr.available = false;
	rr.error = "the replicator does not answer: connection refused";
	rr.pid = 0;
	promotion_decide(NULL, false, false, 0, &rr.promotion);
	report_json(&r, &b);
	s = buf_cstr(&b);
	assert_contains(s, "\"role\":\"standby\",\"healthy\":false,");
	assert_contains(
	    s, "\"replication\":{\"state\":\"unknown\",\"role\":null,"
	       "\"connected\":false,\"peer\":\"10.0.0.2:7025\","
	       "\"lag_changes\":null,\"lag_seconds\":null,"
	       "\"generation\":4,\"peer_generation\":0,"
	       "\"complete\":false,\"promotable\":false,"
	       "\"promotion_score\":0,"
	       "\"promotion_reason\":\"the replicator does not answer\","
	       "\"catch_up\":null,\"since\":null,"
	       "\"last_error\":\"the replicator does not answer: "
	       "connection refused\",\"replicator_pid\":null}}\n");
	buf_free(&b);
}

static void
report_text_replication_section(void **state)
{
	struct status_report r;
	struct replication_report rr;
	struct buf b = BUF_INIT;
	const char *s;

	replicated_standby(&r, &rr);
	strcpy(rr.status.last_error, "peer closed the link");
	report_text(&r, &b);
	s = buf_cstr(&b);
	assert_contains(s, "role:           standby\n");
	assert_contains(s, "health:         healthy\n");
	assert_contains(s, "listeners:      none (standby)\n");
	assert_contains(s, "queue manager:  none (standby)\n");
	assert_contains(s,
			"Replication\n  state:          in-sync for 12.5 s\n");
	assert_contains(s, "peer:           10.0.0.2:7025, connected\n");
	assert_contains(s, "generation:     4 (peer 4), complete\n");
	assert_contains(s, "lag:            2 changes, 0.2 s\n");
	assert_contains(s, "catch-up:       7 of 10 files, 4096 bytes\n");
	assert_contains(s, "last error:     peer closed the link\n");
	assert_contains(s, "promotion:      promotable, score 100\n");
	/* Shared mode has no section. */
	r.replication = NULL;
	report_text(&r, &b);
	assert_null(strstr(buf_cstr(&b), "Replication"));
	buf_free(&b);
}

static void
report_text_not_promotable_reason(void **state)
{
	struct status_report r;
	struct replication_report rr;
	struct buf b = BUF_INIT;

	replicated_standby(&r, &rr);
	rr.status.complete = false;
	promotion_decide(&rr.status, false, true, 4, &rr.promotion);
	report_text(&r, &b);
	assert_contains(buf_cstr(&b), "promotion:      NOT promotable, score 0 "
				      "(this node's data is not complete");
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(json_string_escapes_table),
	    cmocka_unit_test(report_json_local_members),
	    cmocka_unit_test(report_json_peer_and_cluster),
	    cmocka_unit_test(report_text_shows_failures),
	    cmocka_unit_test(report_json_peer_without_heartbeat),
	    cmocka_unit_test(report_text_peer_ring_table),
	    cmocka_unit_test(report_text_peer_name_unknown),
	    cmocka_unit_test(report_json_unchecked_listener_null),
	    cmocka_unit_test(report_text_unchecked_not_unhealthy),
	    cmocka_unit_test(ring_state_names_table),
	    cmocka_unit_test(peer_state_names_table),
	    cmocka_unit_test(report_json_replication_members),
	    cmocka_unit_test(report_json_replicator_unavailable),
	    cmocka_unit_test(report_text_replication_section),
	    cmocka_unit_test(report_text_not_promotable_reason),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
