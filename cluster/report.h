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
 * Strings are escaped as RFC 8259 requires; invalid UTF-8 bytes become
 * U+FFFD, so the output is always valid JSON.
 */
#ifndef HAPOST_CLUSTER_REPORT_H
#define HAPOST_CLUSTER_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "heartbeat.h"

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

struct peer_status {
	enum peer_state state;
	uint32_t nodeid;
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
