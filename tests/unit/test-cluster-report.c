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
	assert_contains(s, "\"peer\":{\"node\":\"mx2\",\"nodeid\":2,"
			   "\"state\":\"stale\",\"last_seen_age\":3.2");
	assert_contains(s, "\"role\":\"active\",\"healthy\":false,"
			   "\"generation\":9");
	assert_contains(s, "\"listeners\":[]}");
	assert_contains(s, "\"cluster\":{\"connected\":true,\"reason\":null,"
			   "\"group\":\"hapost\",\"nodeid\":1,\"members\":2,"
			   "\"nodes\":2}");
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

static void
peer_state_names_table(void **state)
{
	assert_string_equal(peer_state_name(PEER_NONE), "none");
	assert_string_equal(peer_state_name(PEER_ALIVE), "alive");
	assert_string_equal(peer_state_name(PEER_STALE), "stale");
	assert_string_equal(peer_state_name(PEER_LEFT), "left");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(json_string_escapes_table),
	    cmocka_unit_test(report_json_local_members),
	    cmocka_unit_test(report_json_peer_and_cluster),
	    cmocka_unit_test(report_text_shows_failures),
	    cmocka_unit_test(peer_state_names_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
