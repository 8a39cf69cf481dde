/*
 * membership - the Corosync nodes of the cluster and which are online
 *
 * Two sources fill it. The node list comes from corosync's configuration
 * through libcmap (nodelist.node.N.nodeid, and .name or else .ring0_addr
 * for the name). The ring, the nodes in the current Corosync membership,
 * comes from the CPG totem callback (cpg_link's ring operation). A node in
 * the ring but not in the node list is added without a name. This lets
 * the status report show the peer node even when it runs no hapostd, as
 * the standby does in shared storage mode.
 *
 * Failure: membership_load_nodelist() returns -1 with the reason when
 * corosync cannot be reached, denies access or is not run by root. The
 * list stays as it was. A name that is empty, longer than
 * HEARTBEAT_NAME_MAX or not a valid node name (node_name_valid()) is
 * dropped, and the node is shown by its id only.
 *
 * Limits: at most MEMBERSHIP_NODES_MAX nodes; more are ignored (hapost
 * runs as a pair). The cmap calls block on corosync's local IPC socket,
 * like every libcpg call.
 */
#ifndef HAPOST_CLUSTER_MEMBERSHIP_H
#define HAPOST_CLUSTER_MEMBERSHIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heartbeat.h"

#define MEMBERSHIP_NODES_MAX 16

enum ring_state {
	RING_UNKNOWN, /* the cluster is unavailable */
	RING_ONLINE,  /* in the current Corosync membership */
	RING_OFFLINE, /* configured but not in the membership */
};

struct corosync_node {
	uint32_t nodeid;
	char name[HEARTBEAT_NAME_MAX + 1]; /* "" when unknown */
	bool online;			   /* in the last ring */
	bool configured;		   /* in corosync's node list */
};

struct membership {
	struct corosync_node nodes[MEMBERSHIP_NODES_MAX];
	size_t nnodes;
	bool ring_known; /* a ring arrived since the link came up */
};

const char *ring_state_name(enum ring_state state);
/* Returns the node with this id, or NULL. */
const struct corosync_node *membership_find(const struct membership *m,
					    uint32_t nodeid);
/*
 * Records the ring: the n nodes in nodeids are online, all others
 * offline. Node id 0, which corosync never assigns, is skipped.
 */
void membership_set_ring(struct membership *m, const uint32_t *nodeids,
			 size_t n);
/* Forgets the ring when the link goes down: every state is unknown. */
void membership_clear_ring(struct membership *m);
/*
 * Replaces the node list with the configured nodes (name and id) and
 * keeps the ring state of the nodes that stay. A node that is in the ring
 * but no longer configured stays without a name.
 */
void membership_set_nodelist(struct membership *m,
			     const struct corosync_node *nodes, size_t n);
/* Returns the ring state of node nodeid. */
enum ring_state membership_ring_state(const struct membership *m,
				      uint32_t nodeid);
/*
 * Chooses the peer of node self, the node with the lowest id other than
 * self, and returns it; NULL when there is none. In a pair this is the
 * other node.
 */
const struct corosync_node *membership_peer(const struct membership *m,
					    uint32_t self);
/*
 * Reads the node list from corosync's cmap and stores it with
 * membership_set_nodelist(). Returns 0, or -1 with the reason in err.
 */
int membership_load_nodelist(struct membership *m, char *err, size_t errlen);

#endif
