/*
 * heartbeat - one node's health and its wire format
 *
 * Each node multicasts a heartbeat to the CPG group every
 * cluster_heartbeat_interval. The message is text, so it can be read in
 * a packet dump, and is versioned:
 *
 *     hapost-heartbeat 1
 *     node=mx1
 *     role=active
 *     time_ms=1700000000123
 *     generation=7
 *     data_dir_writable=1
 *     qmgr_alive=1
 *     queue_size=3
 *     queue_oldest_age=42
 *     listener=smtp 0.0.0.0:25 1
 *     seq=12
 *     storage=replicated
 *     repl_alive=1
 *     repl_state=in-sync
 *     complete=1
 *     end
 *
 * Optional keys, each at most once: seq numbers the heartbeats of one
 * cluster process from 1 (its "announce" waits for its own one to come
 * back); storage is "shared" (the default when missing) or "replicated";
 * the last three exist only in replicated mode: repl_alive says the
 * replicator process runs and answers, repl_state is its state
 * (repl_state_name()), complete its complete flag.
 *
 * The first line names the format version; a decoder rejects any version
 * other than HEARTBEAT_VERSION, because a new version may change the
 * meaning of existing keys. Within one version, a sender may add keys, and
 * a decoder skips keys it does not know. The "end" line makes a truncated
 * message fail to decode instead of losing its last lines. Every required
 * key must appear exactly once; values are checked for syntax and range,
 * so a decoded struct is always safe to print.
 *
 * Limits: at most HEARTBEAT_MAX_SIZE bytes and HEARTBEAT_LISTENERS_MAX
 * listeners; an encoder that has more lists only the first ones.
 */
#ifndef HAPOST_CLUSTER_HEARTBEAT_H
#define HAPOST_CLUSTER_HEARTBEAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

#define HEARTBEAT_VERSION 1
#define HEARTBEAT_MAGIC "hapost-heartbeat"
#define HEARTBEAT_MAX_SIZE 4096
#define HEARTBEAT_NAME_MAX 64
#define HEARTBEAT_LISTENERS_MAX 16
#define HEARTBEAT_SERVICE_MAX 15
#define HEARTBEAT_ADDRESS_MAX 63

/* This node's role; node_role_decide() states the rule. */
enum node_role {
	ROLE_STANDALONE, /* the cluster is unavailable: no corosync */
	ROLE_ACTIVE,	 /* this hapostd serves the mail service */
	ROLE_STANDBY,	 /* this hapostd runs but does not serve */
};

/*
 * The replicator's state (storage_mode = replicated): "unknown" while it
 * does not answer, and otherwise as it reports it. An active node is
 * in-sync, catching-up (its peer catches up) or degraded (no peer in
 * sync); a standby is in-sync, catching-up or disconnected.
 */
enum repl_state {
	REPL_UNKNOWN,
	REPL_IN_SYNC,
	REPL_CATCHING_UP,
	REPL_DEGRADED,
	REPL_DISCONNECTED,
};

/* The result of all of a node's checks, or of one listener's check. */
enum health_state {
	HEALTH_OK,
	HEALTH_FAILED,
	HEALTH_UNCHECKED, /* nothing failed, but a check has not finished */
};

struct listener_health {
	char service[HEARTBEAT_SERVICE_MAX + 1];
	char address[HEARTBEAT_ADDRESS_MAX + 1];
	bool healthy;
	/*
	 * No check has finished yet, so healthy carries no result. Never
	 * set in a decoded heartbeat: the cluster process sends none
	 * before its first probes finish, and the wire format has no such
	 * state.
	 */
	bool unchecked;
};

/* The facts one node reports about itself. */
struct node_health {
	char name[HEARTBEAT_NAME_MAX + 1];
	enum node_role role;
	int64_t time_ms; /* sender's wall clock, Unix milliseconds */
	uint64_t generation;
	bool data_dir_writable;
	bool qmgr_alive;
	uint64_t queue_size;
	int64_t queue_oldest_age; /* seconds; -1 when the queue is empty */
	size_t nlisteners;
	struct listener_health listeners[HEARTBEAT_LISTENERS_MAX];
	uint64_t seq; /* 0: the sender sent none */
	/* storage_mode = replicated; the three below only then. */
	bool replicated;
	bool repl_alive;
	/*
	 * The replicator has not answered yet just after start, so
	 * repl_alive carries no result. Never set in a decoded heartbeat,
	 * like a listener's unchecked.
	 */
	bool repl_unchecked;
	enum repl_state repl_state;
	bool complete;
};

const char *node_role_name(enum node_role role);
/* Parses "standalone", "active" or "standby"; returns 0 or -1. */
int node_role_parse(const char *text, enum node_role *out);
/* "unknown", "in-sync", "catching-up", "degraded" or "disconnected". */
const char *repl_state_name(enum repl_state state);
/* Parses one of the names above; returns 0 or -1. */
int repl_state_parse(const char *text, enum repl_state *out);
/*
 * Derives this node's role. Pacemaker decides which node serves; the
 * role only reports that decision:
 *
 * - in replicated storage mode, active when this hapostd serves and
 *   standby when it does not, with or without the cluster. There the
 *   role is what the node does with its data, set by "hapostctl
 *   promote" and "demote", so a standby without corosync is still a
 *   standby;
 * - in shared storage mode, standalone when the cluster is unavailable
 *   (this process is not joined to its CPG group, for example because
 *   corosync does not run), otherwise active when this hapostd serves
 *   and standby when it does not.
 *
 * In shared storage mode hapostd runs only where Pacemaker started it,
 * with the shared data_dir mounted, so a running hapostd serves and the
 * caller passes serving = true. The standby node runs no hapostd and so
 * reports nothing itself; its peer shows it from Corosync's membership.
 * In replicated mode the standby runs a hapostd that receives the data
 * without serving clients and passes serving = false.
 */
enum node_role node_role_decide(bool cluster_available, bool replicated,
				bool serving);
/*
 * Returns HEALTH_FAILED when a listener failed its last check, data_dir
 * is not writable or the queue manager does not run, and in replicated
 * mode when the replicator does not run. Otherwise returns
 * HEALTH_UNCHECKED when a listener or the replicator has not been
 * checked yet, and HEALTH_OK when every check passed. A standby in replicated
 * mode runs neither listeners nor a queue manager, so only data_dir and the
 * replicator count for it. The queue size, the replication state and
 * the peer do not count.
 */
enum health_state node_health_state(const struct node_health *h);
/* Returns true when node_health_state() is HEALTH_OK. */
bool node_health_ok(const struct node_health *h);
/*
 * Returns true when text is a valid node name: 1 to HEARTBEAT_NAME_MAX
 * letters, digits, '.', '-' or '_'.
 */
bool node_name_valid(const char *text);

/* Replaces out's contents with the encoded message. */
void heartbeat_encode(const struct node_health *h, struct buf *out);
/*
 * Decodes len bytes of data into out. Returns 0, or -1 with the reason in
 * err (the reason never quotes the input).
 */
int heartbeat_decode(const void *data, size_t len, struct node_health *out,
		     char *err, size_t errlen);

#endif
