/*
 * Unit tests for the Corosync membership (node list and ring) and for the
 * role rule, node_role_decide().
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

#include "heartbeat.h"
#include "membership.h"

static void
role_rule_table(void **state)
{
	static const struct {
		bool cluster_available;
		bool replicated;
		bool serving;
		enum node_role want;
	} cases[] = {
	    {false, false, true, ROLE_STANDALONE},
	    {false, false, false, ROLE_STANDALONE},
	    {true, false, true, ROLE_ACTIVE},
	    {true, false, false, ROLE_STANDBY},
	    /* Replicated: the role does not depend on corosync. */
	    {false, true, true, ROLE_ACTIVE},
	    {false, true, false, ROLE_STANDBY},
	    {true, true, true, ROLE_ACTIVE},
	    {true, true, false, ROLE_STANDBY},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum node_role got =
		    node_role_decide(cases[i].cluster_available,
				     cases[i].replicated, cases[i].serving);

		if (got != cases[i].want)
			fail_msg("case %zu: got %s, expected %s", i,
				 node_role_name(got),
				 node_role_name(cases[i].want));
	}
}

/* Fills m with the configured nodes 1 "node1" and 2 "node2". */
static void
pair(struct membership *m)
{
	struct corosync_node list[2];

	memset(m, 0, sizeof(*m));
	memset(list, 0, sizeof(list));
	list[0].nodeid = 2;
	strcpy(list[0].name, "node2");
	list[1].nodeid = 1;
	strcpy(list[1].name, "node1");
	membership_set_nodelist(m, list, 2);
}

static void
membership_ring_unknown_before_ring(void **state)
{
	struct membership m;

	pair(&m);
	assert_int_equal(m.nnodes, 2);
	assert_int_equal(membership_ring_state(&m, 1), RING_UNKNOWN);
	assert_int_equal(membership_ring_state(&m, 2), RING_UNKNOWN);
	assert_string_equal(ring_state_name(RING_UNKNOWN), "unknown");
}

static void
membership_ring_online_offline(void **state)
{
	struct membership m;
	const uint32_t both[] = {1, 2};
	const uint32_t one[] = {1};

	pair(&m);
	membership_set_ring(&m, both, 2);
	assert_int_equal(membership_ring_state(&m, 1), RING_ONLINE);
	assert_int_equal(membership_ring_state(&m, 2), RING_ONLINE);
	membership_set_ring(&m, one, 1);
	assert_int_equal(membership_ring_state(&m, 1), RING_ONLINE);
	assert_int_equal(membership_ring_state(&m, 2), RING_OFFLINE);
	/* The configured node stays listed while offline. */
	assert_non_null(membership_find(&m, 2));
	assert_string_equal(membership_find(&m, 2)->name, "node2");
	assert_string_equal(ring_state_name(RING_ONLINE), "online");
	assert_string_equal(ring_state_name(RING_OFFLINE), "offline");
}

static void
membership_clear_ring_unknown(void **state)
{
	struct membership m;
	const uint32_t both[] = {1, 2};

	pair(&m);
	membership_set_ring(&m, both, 2);
	membership_clear_ring(&m);
	assert_int_equal(membership_ring_state(&m, 2), RING_UNKNOWN);
	assert_int_equal(m.nnodes, 2);
}

static void
membership_unlisted_node_in_ring(void **state)
{
	struct membership m;
	const uint32_t ring[] = {1, 7, 0};
	const uint32_t without[] = {1};

	pair(&m);
	membership_set_ring(&m, ring, 3);
	/* Node 7 is added without a name; node id 0 is never added. */
	assert_int_equal(m.nnodes, 3);
	assert_non_null(membership_find(&m, 7));
	assert_string_equal(membership_find(&m, 7)->name, "");
	assert_null(membership_find(&m, 0));
	assert_int_equal(membership_ring_state(&m, 7), RING_ONLINE);
	/* Once it leaves the ring, an unconfigured node is dropped. */
	membership_set_ring(&m, without, 1);
	assert_null(membership_find(&m, 7));
	assert_int_equal(membership_ring_state(&m, 7), RING_OFFLINE);
}

static void
membership_nodelist_keeps_ring(void **state)
{
	struct membership m;
	struct corosync_node list[1];
	const uint32_t both[] = {1, 2};

	pair(&m);
	membership_set_ring(&m, both, 2);
	/* A reload drops node 2 from the configuration. */
	memset(list, 0, sizeof(list));
	list[0].nodeid = 1;
	strcpy(list[0].name, "mx1");
	membership_set_nodelist(&m, list, 1);
	assert_string_equal(membership_find(&m, 1)->name, "mx1");
	assert_int_equal(membership_ring_state(&m, 1), RING_ONLINE);
	/* Node 2 is still in the ring, so it stays, without its name. */
	assert_non_null(membership_find(&m, 2));
	assert_string_equal(membership_find(&m, 2)->name, "");
	assert_int_equal(membership_ring_state(&m, 2), RING_ONLINE);
}

static void
membership_nodelist_hostile_names(void **state)
{
	struct membership m;
	struct corosync_node list[4];

	memset(&m, 0, sizeof(m));
	memset(list, 0, sizeof(list));
	list[0].nodeid = 1;
	strcpy(list[0].name, "bad name");
	list[1].nodeid = 2;
	strcpy(list[1].name, "esc\x1b[0m");
	list[2].nodeid = 3;
	strcpy(list[2].name, "");
	list[3].nodeid = 0; /* invalid: skipped */
	strcpy(list[3].name, "zero");
	membership_set_nodelist(&m, list, 4);
	assert_int_equal(m.nnodes, 3);
	assert_string_equal(membership_find(&m, 1)->name, "");
	assert_string_equal(membership_find(&m, 2)->name, "");
	assert_string_equal(membership_find(&m, 3)->name, "");
	assert_null(membership_find(&m, 0));
}

static void
membership_full_list_ignores_rest(void **state)
{
	struct membership m;
	uint32_t ring[MEMBERSHIP_NODES_MAX + 4];

	memset(&m, 0, sizeof(m));
	for (size_t i = 0; i < sizeof(ring) / sizeof(ring[0]); i++)
		ring[i] = (uint32_t)(100 - i);
	membership_set_ring(&m, ring, sizeof(ring) / sizeof(ring[0]));
	assert_int_equal(m.nnodes, MEMBERSHIP_NODES_MAX);
	/* Sorted by node id. */
	for (size_t i = 1; i < m.nnodes; i++)
		assert_true(m.nodes[i - 1].nodeid < m.nodes[i].nodeid);
}

static void
membership_peer_choice_table(void **state)
{
	static const struct {
		uint32_t self;
		uint32_t want; /* 0: no peer */
	} cases[] = {
	    {1, 2},
	    {2, 1},
	    {3, 1}, /* not in the list: the lowest id */
	    {0, 1}, /* not connected yet */
	};
	struct membership m;

	pair(&m);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct corosync_node *p =
		    membership_peer(&m, cases[i].self);
		uint32_t got = p != NULL ? p->nodeid : 0;

		if (got != cases[i].want)
			fail_msg("case %zu: got %u, expected %u", i, got,
				 cases[i].want);
	}
}

static void
membership_peer_alone_none(void **state)
{
	struct membership m;
	struct corosync_node list[1];

	memset(&m, 0, sizeof(m));
	assert_null(membership_peer(&m, 1));
	memset(list, 0, sizeof(list));
	list[0].nodeid = 1;
	strcpy(list[0].name, "node1");
	membership_set_nodelist(&m, list, 1);
	assert_null(membership_peer(&m, 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(role_rule_table),
	    cmocka_unit_test(membership_ring_unknown_before_ring),
	    cmocka_unit_test(membership_ring_online_offline),
	    cmocka_unit_test(membership_clear_ring_unknown),
	    cmocka_unit_test(membership_unlisted_node_in_ring),
	    cmocka_unit_test(membership_nodelist_keeps_ring),
	    cmocka_unit_test(membership_nodelist_hostile_names),
	    cmocka_unit_test(membership_full_list_ignores_rest),
	    cmocka_unit_test(membership_peer_choice_table),
	    cmocka_unit_test(membership_peer_alone_none),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
