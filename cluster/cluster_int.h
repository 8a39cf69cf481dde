/*
 * cluster_int - the cluster process's state, shared by cluster.c (health,
 * heartbeats, status) and cluster_actions.c (promote, demote, announce)
 */
#ifndef HAPOST_CLUSTER_CLUSTER_INT_H
#define HAPOST_CLUSTER_CLUSTER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "buf.h"
#include "cluster.h"
#include "control.h"
#include "heartbeat.h"
#include "membership.h"
#include "promotion.h"
#include "repl_poll.h"
#include "report.h"

struct peer {
	enum peer_state state;
	uint32_t nodeid;
	uint32_t pid;
	struct node_health health;
	double last_seen; /* ev_time() of the last heartbeat */
};

/* A "promote" or "demote" that waits for the master. */
struct role_change {
	uint64_t id; /* control request; 0 when none runs */
	enum control_command cmd;
	bool needs_status;	    /* waits for a fresh replicator status */
	unsigned long status_after; /* ... one after this many attempts */
	bool sent;		    /* the master has the request */
	unsigned seq;		    /* role_seq when it was sent */
	double deadline;	    /* ev_time() */
	ev_timer poll;
};

/* An "announce" that waits for its heartbeat to come back. */
struct announce {
	uint64_t id;
	uint64_t seq; /* of the heartbeat sent for it */
	ev_timer timeout;
	struct cluster *c;
	struct announce *next;
};

struct listener_probe;

struct cluster {
	struct cfg *cfg;
	const struct cluster_env *env;
	struct ev_loop *loop;
	struct cpg_link *link;
	struct control_server *control;
	struct listener_probe *probes[HEARTBEAT_LISTENERS_MAX];
	size_t nprobes;
	bool listener_checked[HEARTBEAT_LISTENERS_MAX];
	struct node_health self;
	bool have_self;		/* self contains the results of one tick */
	bool listeners_checked; /* every listener has a result */
	/* storage_mode = replicated */
	bool replicated;
	/*
	 * This hapostd serves clients: always in shared storage mode, and in
	 * replicated mode while the master runs workers (see
	 * node_role_decide()). Listeners are checked only then.
	 */
	bool serving;
	struct membership members;
	char nodelist_error[256];
	enum ring_state peer_ring; /* last logged ring state of the peer */
	char data_dir_error[256];
	char generation_error[256];
	char queue_error[256];
	char repl_error[256]; /* last logged replicator problem */
	double started_at;    /* ev_time() at start */
	bool repl_answered;   /* the replicator answered a STATUS once */
	double checked_at;    /* ev_time() of the last probe round; -1: none */
	double next_probe;
	struct peer peer;
	bool third_node_logged;
	unsigned long bad_messages;
	uint64_t heartbeat_seq; /* of the last heartbeat sent */
	struct buf msg;
	struct repl_poll *repl; /* replicated mode only */
	struct repl_poll_result repl_last;
	struct role_change role_change;
	struct announce *announces;
	ev_timer tick;
	ev_timer first_round;
	ev_signal sig_term;
	ev_signal sig_int;
	ev_signal sig_hup;
};

/* cluster.c */
/* Refreshes every fact of self that is due, and the role. */
void cluster_update_self(struct cluster *c, double now);
/*
 * Multicasts self with a new sequence number and returns it; 0 when the
 * link is down or, unless force is set, while the first listener checks
 * of this role or the replicator's first status are outstanding.
 */
uint64_t cluster_send_heartbeat(struct cluster *c, bool force);
/* Rereads the data generation into self. */
void cluster_read_generation(struct cluster *c);
/* Fills out from the last replicator status; false when there is none. */
bool cluster_promotion(struct cluster *c, struct promotion *out);

/* cluster_actions.c */
void cluster_actions_init(struct cluster *c);
double cluster_action(enum control_command cmd, uint64_t id, void *arg);
/* This process's heartbeat seq came back through CPG. */
void cluster_actions_delivered(struct cluster *c, uint64_t seq);
/* The CPG link went down: pending announces fail. */
void cluster_actions_link_down(struct cluster *c);
/* A replicator status attempt finished. */
void cluster_actions_status_done(struct cluster *c);
/* Sends an error to every pending action's client and frees them. */
void cluster_actions_free(struct cluster *c);

#endif
