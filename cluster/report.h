/*
 * report - the state shown by "hapostctl status", as text or JSON
 *
 * The cluster process fills a status_report and renders it for a control
 * socket client. The JSON object has these members, and clients must
 * ignore members they do not know:
 *
 *   node, role, healthy, generation, data_dir, data_dir_writable,
 *   data_dir_error, qmgr_alive, qmgr_pid, checked_age,
 *   listeners [{service, address, healthy, error}],
 *   queue {size, oldest_age}, peer (object or null),
 *   cluster {connected, reason, group, nodeid, members, nodes},
 *   replication (object, or null in shared storage mode)
 *
 * "role" is "active", "standby" or (shared mode without corosync)
 * "standalone". A standby in replicated mode runs no listeners and no
 * queue manager: its "listeners" is empty, "qmgr_alive" false, and it is
 * healthy when data_dir is writable and its replicator runs and answers.
 *
 * "replication" has these members:
 *
 *   state            "in-sync", "catching-up", "degraded", "disconnected"
 *                    as the replicator reports it, or "unknown" while it
 *                    does not answer
 *   role             the replicator's role, "active" or "standby"; null
 *                    while it does not answer
 *   connected        the link to the peer's replicator is up (boolean)
 *   peer             the peer's address (string or null)
 *   lag_changes      batches sent but not acknowledged (integer or null)
 *   lag_seconds      age of the oldest of them (number or null)
 *   generation       this node's data generation (integer)
 *   peer_generation  the larger of the peer's generation in its
 *                    heartbeats and the one the replicator has; 0 when
 *                    unknown (integer)
 *   complete         this node's data was complete at its generation
 *   promotable       promotion.h's rule (boolean)
 *   promotion_score  0, 50 or 100 (integer): what the OCF agent gives
 *                    Pacemaker as this node's promotion preference
 *   promotion_reason why the node is not promotable or scores 0; null
 *                    otherwise
 *   catch_up         {files_total, files_done, bytes} (integers), or null
 *                    while the replicator does not answer
 *   since            seconds in this state (number or null)
 *   last_error       the replicator's last error (string or null)
 *   replicator_pid   (integer, or null when it does not run)
 *
 * "healthy" is null, not false, while no check failed but a listener has
 * not been checked yet, just after start. That listener's "healthy" is
 * null too. "peer" is null when no other node is known, and otherwise
 * has these members:
 *
 *   node, nodeid, ring ("online", "offline" or null while the cluster is
 *   unavailable), hapost_running (a hapostd of that node is in the CPG
 *   group; null while the cluster is unavailable), state (of its
 *   heartbeats: "none", "alive", "stale" or "left"), and from its last
 *   heartbeat, all null (listeners empty) when state is "none":
 *   last_seen_age, role, healthy, generation, data_dir_writable,
 *   qmgr_alive, time_ms, queue, listeners [{service, address, healthy}],
 *   replication_state and complete (null unless the peer runs in
 *   replicated mode)
 *
 * Strings are escaped as RFC 8259 requires; invalid UTF-8 bytes become
 * U+FFFD, so the output is always valid JSON.
 *
 * The role changes that go with this report (replicated mode), as
 * control.h and ctl_status.c define them:
 *
 *   hapostctl promote          exit 0 once the node is active (listeners
 *                              bound, workers and queue manager started),
 *                              1 when it is refused (not promotable, as
 *                              promotion_reason says) or fails
 *   hapostctl promote --force  the same without the promotability check
 *   hapostctl demote           exit 0 once the node is standby: its
 *                              sessions got 421, BYE or -ERR and ended
 *                              within shutdown_timeout
 *
 * Both print the cluster process's response line without "+OK" or
 * "-ERR"; "already active" and "already standby" count as success.
 */
#ifndef HAPOST_CLUSTER_REPORT_H
#define HAPOST_CLUSTER_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "heartbeat.h"
#include "membership.h"
#include "promotion.h"

struct local_status {
	struct node_health health;
	/* Why a listener failed its last check; NULL when it passed. */
	const char *listener_error[HEARTBEAT_LISTENERS_MAX];
	const char *data_dir;
	const char *data_dir_error; /* NULL when the probe file worked */
	long qmgr_pid;		    /* 0 when no queue manager runs */
	double checked_age; /* seconds since the last check; -1: none yet */
};

enum peer_state {
	PEER_NONE,  /* no heartbeat from another node yet */
	PEER_ALIVE, /* heartbeats arrive */
	PEER_STALE, /* three heartbeats missed */
	PEER_LEFT,  /* it left the CPG group */
};

/* The peer node: from Corosync's membership and from its heartbeats. */
struct peer_status {
	uint32_t nodeid;       /* 0 when no peer is known */
	const char *name;      /* corosync's name; NULL or "" when unknown */
	enum ring_state ring;  /* in the Corosync membership or not */
	bool hapost_running;   /* a hapostd of the node is in the CPG group */
	enum peer_state state; /* of its heartbeats */
	struct node_health health; /* the last heartbeat received */
	double last_seen_age;	   /* seconds since that heartbeat */
};

struct cluster_status {
	bool connected;
	const char *reason; /* why it is not connected */
	const char *group;
	uint32_t nodeid;  /* this node's corosync node id; 0 when unknown */
	unsigned members; /* processes in the CPG group, this one included */
	unsigned nodes;	  /* nodes in the corosync membership */
};

struct replication_report {
	bool available;	   /* the replicator answered its last STATUS */
	const char *error; /* why not, when !available */
	/* When !available only generation is set (from DATA_DIR). */
	struct repl_status status;
	const char *configured_peer; /* replication_peer; may be NULL */
	long pid;		     /* the replicator's; 0 when none runs */
	struct promotion promotion;
};

struct status_report {
	struct local_status local;
	struct peer_status peer;
	struct cluster_status cluster;
	/* NULL in shared storage mode. */
	const struct replication_report *replication;
};

const char *peer_state_name(enum peer_state state);
/* Appends s as a JSON string, quotes included. */
void json_put_string(struct buf *out, const char *s);
/* Replaces out's contents with the report. */
void report_text(const struct status_report *r, struct buf *out);
void report_json(const struct status_report *r, struct buf *out);

#endif
