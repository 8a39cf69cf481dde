/*
 * replicator_int - the replicator's shared state and the peer protocol
 *
 * Peer frames (repl_wire frames on the TLS link; integers big-endian):
 *
 *   both ways   HELLO     "hapost-replication 1 ROLE GENERATION COMPLETE"
 *                         sent by both ends as soon as the handshake ends
 *   active ->   RECORDS   repl_op records, applied in order
 *               SYNC      u64 sequence: make everything durable, then ACK
 *               PING      keeps the link checked while it is idle
 *               CATCHUP   catch-up starts: the standby records
 *                         "incomplete" durably before anything else
 *               MANIFEST? request for the standby's manifest
 *               SIG?      path: request for the signature of that file
 *               INSYNC    u64 generation: the standby matches the active;
 *                         it syncs, stores the generation and "complete"
 *   standby ->  ACK       u64 sequence of the SYNC it made durable
 *               PONG      the reply to PING
 *               MANIFEST  flags byte, then a piece of the encoded manifest
 *               SIG       flags byte, then a piece of the signature
 *               INSYNCED  u64 generation stored
 *               ERROR     text: why the standby drops the link
 *
 * MANIFEST and SIG answers come in pieces of at most REPL_CHUNK bytes;
 * PIECE_LAST marks the last piece, PIECE_NONE a file the standby cannot
 * read (the active sends it whole).
 */
#ifndef HAPOST_REPLICATOR_INT_H
#define HAPOST_REPLICATOR_INT_H

#include <ev.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "cfg.h"
#include "repl_link.h"
#include "repl_wire.h"

enum peer_frame {
	PEER_HELLO = 'H',
	PEER_RECORDS = 'R',
	PEER_SYNC = 'S',
	PEER_PING = 'P',
	PEER_CATCHUP = 'B',
	PEER_MANIFEST_REQUEST = 'M',
	PEER_SIG_REQUEST = 'G',
	PEER_INSYNC = 'I',
	PEER_ACK = 'A',
	PEER_PONG = 'p',
	PEER_MANIFEST = 'm',
	PEER_SIG = 'g',
	PEER_INSYNCED = 'i',
	PEER_ERROR = 'E',
};

#define PIECE_LAST 1
#define PIECE_NONE 2

#define HELLO_MAGIC "hapost-replication 1"
/*
 * During a catch-up both sides list whole data_dirs and compute deltas,
 * which blocks the loop, so silence is tolerated this long (seconds)
 * instead of replication_timeout. No commit waits on the peer then.
 */
#define CATCHUP_SILENCE_MAX 300.0
/* A RECORDS frame is closed once its body passes this size. */
#define RECORDS_BODY_TARGET ((size_t)4 << 20)

enum rp_role { ROLE_STANDBY, ROLE_ACTIVE };

enum rp_state {
	STATE_DISCONNECTED, /* standby without a link */
	STATE_DEGRADED,	    /* active without a peer */
	STATE_CATCHING_UP,
	STATE_IN_SYNC,
};

struct rp_client;
struct catchup;

/* One committed batch, as peer RECORDS frames ready to send. */
struct rp_batch {
	struct rp_batch *next;
	struct rp_client *client; /* NULL once the client went away */
	struct buf frames;
	size_t changes;
	double committed_at;
	uint64_t seq; /* the SYNC that carries it */
};

struct rp_queue {
	struct rp_batch *head, *tail;
	size_t n;
	size_t bytes;
};

struct replicator {
	struct cfg *cfg;
	struct ev_loop *loop;
	enum rp_role role;
	enum rp_state state;
	double state_since;
	char last_error[256];

	/* Durable node state (repl_state.c). */
	uint64_t generation;
	bool complete;
	uint64_t peer_generation;
	bool peer_seen; /* a peer's HELLO arrived since the process started */
	bool bumped;	/* bumped since the peer was last in sync */

	/* Local clients (repl_clients.c). */
	int local_fd;
	ev_io local_io;
	char *local_path;
	struct rp_client *clients;
	unsigned nclients;
	unsigned owing_done; /* clients that got "ok" and owe "done" */

	/* The peer link. */
	SSL_CTX *client_ctx, *server_ctx;
	int listen_fd;
	ev_io listen_io;
	struct pending_peer *accepting; /* handshakes on the listener */
	unsigned naccepting;
	double rejected_logged_at;
	unsigned rejected_unlogged;
	struct repl_link *link;
	bool link_ready;   /* HELLO exchanged */
	bool link_closing; /* standby: ERROR sent, closing */
	char peer_name[300];
	struct listen_addr peer_addr;
	/* The local end of the last connection to the peer, to recognize
	 * it on the own listener when replication_peer names this node. */
	struct sockaddr_storage link_local;
	bool self_connected; /* that connection reached the own listener */
	ev_timer connect_timer;
	double backoff;
	ev_timer watchdog;
	double link_started;
	double last_received;
	double last_ping;
	unsigned outstanding; /* requests to the peer not answered yet */
	double outstanding_since;

	/* Active: commit paths. */
	struct rp_queue held;	  /* waiting for announce or catch-up end */
	struct rp_queue pending;  /* in sync: waiting for the next SYNC */
	struct rp_queue inflight; /* in sync: sent, SYNC not acknowledged */
	struct rp_queue forward;  /* catching up: answered, not yet sent */
	uint64_t seq;
	uint64_t stage;
	uint64_t syncs;
	uint64_t commits;
	bool announcing;
	struct announce *announce;
	struct catchup *catchup;
	uint64_t cu_files_total, cu_files_done, cu_bytes, cu_deltas;

	/* Standby: applying. */
	struct repl_apply *apply;
	bool applying_catchup;
	uint64_t apply_errors;
	uint64_t round_errors; /* failed since the last MANIFEST? request */
	char round_error[200]; /* the first of them */

	ev_signal sig_term, sig_int;
};

/* replicator.c */
void rp_set_state(struct replicator *rp, enum rp_state state);
const char *rp_state_name(enum rp_state state);
void rp_admin(struct replicator *rp, const char *request, struct buf *reply);
void rp_send_hello(struct replicator *rp, struct repl_link *l);
/* Parses a HELLO body; returns 0 with the peer's role and generation. */
int rp_parse_hello(const void *body, size_t len, enum rp_role *role,
		   uint64_t *generation, bool *complete);

/* repl_clients.c: the local socket. */
int rp_clients_open(struct replicator *rp, char *err, size_t errlen);
void rp_clients_close(struct replicator *rp);
/* Sends the reply to the batch's client, if it is still there. */
void rp_answer(struct replicator *rp, struct rp_batch *b, const char *text);
void rp_batch_free(struct rp_batch *b);
void rp_queue_push(struct rp_queue *q, struct rp_batch *b);
struct rp_batch *rp_queue_pop(struct rp_queue *q);
/* Answers every batch of q with text and frees them. */
void rp_queue_answer_all(struct replicator *rp, struct rp_queue *q,
			 const char *text);
/* Adds a records frame body to frames as a PEER_RECORDS frame. */
void rp_records_flush(struct buf *frames, struct buf *body);
/* Encodes op into body, closing the frame first when it is full. */
void rp_records_add(struct buf *frames, struct buf *body,
		    const struct repl_op *op);

/* repl_active.c: the active's link and commit paths. */
void rp_active_start(struct replicator *rp);
void rp_active_stop(struct replicator *rp, const char *why);
void rp_commit(struct replicator *rp, struct rp_batch *b);
/* True when ss is the local end of the last connection to the peer. */
bool rp_own_connection(const struct replicator *rp,
		       const struct sockaddr_storage *ss);
/* True when that connection waits on this node's own listener. */
bool rp_own_accepting(const struct replicator *rp);
/* The link failed or timed out: drop it and serve without the peer. */
void rp_degrade(struct replicator *rp, const char *reason);
void rp_release_held(struct replicator *rp);
void rp_active_frame(struct replicator *rp, uint8_t type, const void *body,
		     size_t len);
void rp_send_groups(struct replicator *rp);
/* Notes a request that the peer must answer within the timeout. */
void rp_expect_reply(struct replicator *rp);
void rp_active_tick(struct replicator *rp, double now);
void rp_link_send_batch(struct replicator *rp, struct rp_batch *b);
/* The last client that owed "done" said it (or went away). */
void rp_all_done(struct replicator *rp);

/* repl_catchup.c */
void rp_catchup_start(struct replicator *rp);
void rp_catchup_free(struct replicator *rp);
void rp_catchup_pump(struct replicator *rp);
void rp_catchup_frame(struct replicator *rp, uint8_t type, const void *body,
		      size_t len);
void rp_catchup_all_done(struct replicator *rp);
void rp_catchup_tick(struct replicator *rp, double now);
/* True while commits are held for the last round. */
bool rp_catchup_holding(const struct replicator *rp);
/* The catch-up's step for STATUS: "none" when no catch-up runs. */
const char *rp_catchup_phase(const struct replicator *rp);

/* repl_standby.c */
int rp_listen_open(struct replicator *rp, char *err, size_t errlen);
void rp_listen_close(struct replicator *rp);
void rp_standby_frame(struct replicator *rp, uint8_t type, const void *body,
		      size_t len);
/* Drops the link from the active (standby role). */
void rp_standby_drop(struct replicator *rp, const char *why);
void rp_standby_tick(struct replicator *rp, double now);

/* repl_state.c */
int rp_state_load(struct replicator *rp, char *err, size_t errlen);
int rp_write_generation(struct replicator *rp, uint64_t generation);
int rp_write_complete(struct replicator *rp, bool complete);
/* Bumps the generation durably and starts the announce. */
int rp_bump_generation(struct replicator *rp, const char *why);
void rp_announce_free(struct replicator *rp);

/* Helpers. */
double rp_now(struct replicator *rp);
void put_u64(uint8_t *p, uint64_t v);
uint64_t get_u64(const uint8_t *p);

#endif
