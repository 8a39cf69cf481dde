/*
 * cpg_link - membership of one Corosync CPG group on a libev loop
 *
 * The link connects with cpg_model_initialize (CPG_MODEL_V1, with totem
 * membership callbacks), checks that the process at the other end of the
 * IPC socket runs as root (as Pacemaker does, so a local user cannot
 * pose as corosync), joins the group and watches the CPG file descriptor
 * with an ev_io that dispatches CS_DISPATCH_ALL. CS_ERR_TRY_AGAIN from
 * initialize or join is retried after 0.1 s, doubling up to 2 s. Any
 * other failure, and a dispatch failure once connected (corosync stopped
 * or restarted), finalizes the handle and tries again every
 * CPG_RECONNECT_INTERVAL seconds. The link logs a new reason for being
 * disconnected once at notice and repeats of it at debug.
 */
#ifndef HAPOST_CLUSTER_CPG_LINK_H
#define HAPOST_CLUSTER_CPG_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#define CPG_RECONNECT_INTERVAL 5.0

struct cpg_link_ops {
	/* A message from any member, this process included. */
	void (*deliver)(uint32_t nodeid, uint32_t pid, const void *msg,
			size_t len, void *arg);
	/* A process joined the group (not called for this process). */
	void (*joined)(uint32_t nodeid, uint32_t pid, void *arg);
	/* A process left; reason is a CPG_REASON_* value. */
	void (*left)(uint32_t nodeid, uint32_t pid, uint32_t reason, void *arg);
	/* The link joined the group, or lost it (connected false). */
	void (*state)(bool connected, void *arg);
	/*
	 * Corosync formed a new membership (ring): nodeids lists the n
	 * nodes in it, this node included. Also called once with the
	 * membership at the time of the first dispatch after connecting.
	 */
	void (*ring)(const uint32_t *nodeids, size_t n, void *arg);
};

struct cpg_link;

/* Creates the link and starts connecting at once. */
struct cpg_link *cpg_link_new(struct ev_loop *loop, const char *group,
			      const struct cpg_link_ops *ops, void *arg);
/*
 * Multicasts len bytes to the group (CPG_TYPE_AGREED). Returns 0, or -1
 * when not connected or corosync asks to try again later (the caller
 * skips this message; its next heartbeat replaces it).
 */
int cpg_link_send(struct cpg_link *l, const void *data, size_t len);
bool cpg_link_connected(const struct cpg_link *l);
/* Why the link is not connected, for status output. */
const char *cpg_link_reason(const struct cpg_link *l);
/* This node's corosync node id; 0 before the first connection. */
uint32_t cpg_link_nodeid(const struct cpg_link *l);
/* Processes in the group and nodes in the membership; 0 when down. */
unsigned cpg_link_members(const struct cpg_link *l);
unsigned cpg_link_nodes(const struct cpg_link *l);
/*
 * Returns true when a process on node nodeid is a member of the group at
 * the last membership change. Returns false while the link is down.
 */
bool cpg_link_node_in_group(const struct cpg_link *l, uint32_t nodeid);
/*
 * Checks that the process at the other end of the corosync IPC socket fd
 * runs as root. Returns 0, or -1 with the reason in err.
 */
int corosync_check_provider(int fd, char *err, size_t errlen);
/* Names a CPG_REASON_* value ("leave", "node down", ...). */
const char *cpg_reason_name(uint32_t reason);
/* Leaves the group, finalizes, frees the link and sets *lp to NULL. */
void cpg_link_free(struct cpg_link **lp);

#endif
