/*
 * promotion - the local replicator's status and the rule that decides
 * whether this node may be promoted to active
 *
 * The cluster process asks the replicator "STATUS" over RUN_DIR/repl.sock
 * (repl_admin()) and parses the "key=value" lines into struct
 * repl_status. promotion_decide() then combines that status with the
 * generation the peer announced in its heartbeats. It is the only place
 * that decides promotability and the promotion score, so "hapostctl
 * promote", the status report and the OCF agent, which reads the score
 * from the status, all follow one rule:
 *
 *   promotable = the replicator answers, complete = 1, the peer was
 *                heard of since this node started (a heartbeat, or a
 *                HELLO on the replication link), and the peer's
 *                generation (the larger of the one in its heartbeats and
 *                the one the replicator reports, 0 when neither is known)
 *                is not above this node's generation
 *   score      = 0 when this node is unhealthy or not promotable;
 *                otherwise 100 for the active node, 100 for a standby
 *                that is in sync and connected, 50 for a standby whose
 *                link is down (the active is gone), 0 for any other
 *                standby (catching up)
 *
 * So a stale node (the peer took changes it lacks) or one that is still
 * catching up is never promoted automatically; "hapostctl promote
 * --force" still can. Nor is a node that has heard nothing of its peer
 * since it started: the peer may have taken changes while this node was
 * down, and a generation is known only from a live peer (heartbeats and
 * HELLOs are not stored).
 */
#ifndef HAPOST_CLUSTER_PROMOTION_H
#define HAPOST_CLUSTER_PROMOTION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "heartbeat.h"

#define REPL_STATUS_TEXT_MAX 256

/* The replicator's answer to "STATUS". */
struct repl_status {
	bool active; /* role=active; false for role=standby */
	enum repl_state state;
	bool connected;
	char peer[REPL_STATUS_TEXT_MAX];
	uint64_t generation;
	uint64_t peer_generation; /* 0: unknown */
	bool complete;
	/* The replicator exchanged HELLO with a peer since it started, or
	 * (set by the cluster process) a peer heartbeat arrived. */
	bool peer_seen;
	uint64_t lag_changes;
	double lag_seconds;
	uint64_t catch_up_files_total;
	uint64_t catch_up_files_done;
	uint64_t catch_up_bytes;
	double since;
	char last_error[REPL_STATUS_TEXT_MAX]; /* "" when none */
};

/*
 * Parses the STATUS reply (len bytes of "key=value" lines). Unknown keys
 * are skipped; role, state, generation and complete are required.
 * Control bytes in text values become '?'. Returns 0, or -1 with the
 * reason in err.
 */
int repl_status_parse(const char *text, size_t len, struct repl_status *out,
		      char *err, size_t errlen);

struct promotion {
	bool promotable;
	unsigned score;		  /* 0, 50 or 100 */
	uint64_t peer_generation; /* the one the rule compared with */
	/* Why the node is not promotable or scores 0; "" otherwise. */
	char reason[160];
};

/*
 * Applies the rule above. rs is NULL when the replicator did not answer.
 * serving: this node is active. healthy: node_health_ok() of this node.
 * heartbeat_peer_generation: from the peer's last heartbeat, 0 if none.
 */
void promotion_decide(const struct repl_status *rs, bool serving, bool healthy,
		      uint64_t heartbeat_peer_generation,
		      struct promotion *out);

#endif
