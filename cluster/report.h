/*
 * report - the state shown by "hapostctl status", as text or JSON
 *
 * The cluster process fills a status_report and renders it for a control
 * socket client. The JSON object has these members; a later replication
 * module adds a "replication" object beside them, and clients must ignore
 * members they do not know:
 *
 *   node, role, healthy, generation, data_dir, data_dir_writable,
 *   data_dir_error, qmgr_alive, qmgr_pid, checked_age,
 *   listeners [{service, address, healthy, error}],
 *   queue {size, oldest_age}, peer (object or null),
 *   cluster {connected, reason, group, nodeid, members, nodes}
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
 *   qmgr_alive, time_ms, queue, listeners [{service, address, healthy}]
 *
 * Strings are escaped as RFC 8259 requires; invalid UTF-8 bytes become
 * U+FFFD, so the output is always valid JSON.
 */
#ifndef HAPOST_CLUSTER_REPORT_H
#define HAPOST_CLUSTER_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "heartbeat.h"
#include "membership.h"

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

struct status_report {
	struct local_status local;
	struct peer_status peer;
	struct cluster_status cluster;
};

const char *peer_state_name(enum peer_state state);
/* Appends s as a JSON string, quotes included. */
void json_put_string(struct buf *out, const char *s);
/* Replaces out's contents with the report. */
void report_text(const struct status_report *r, struct buf *out);
void report_json(const struct status_report *r, struct buf *out);

#endif
