/*
 * repl_active - the active node's side: the link to the standby, group
 * commit and the degraded mode
 *
 * Group commit: while the peer is in sync, committed batches wait in
 * the pending queue. When no SYNC is in flight, everything pending goes
 * to the link as one run of RECORDS frames followed by one SYNC, and the
 * batches move to the in-flight queue. The standby's ACK of that SYNC
 * releases all of them with "ok", and the next run leaves at once. One
 * round trip and one sync on the standby serve every session whose
 * batch came in meanwhile.
 *
 * Degraded: the link is dropped in four cases. It failed, the standby
 * sent ERROR, a commit was not acknowledged within replication_timeout
 * of its arrival, or the peer was silent for replication_timeout while
 * a request (SYNC, PING, a catch-up request) waited. The node then
 * bumps its generation once (until the peer is in sync again),
 * announces it, and replies to commits at once: "ok", or "refused no
 * peer in sync" with replication_require_peer. Batches in flight or
 * pending get the same reply. A new connection is tried after
 * CONNECT_BACKOFF_MIN seconds, doubling up to CONNECT_BACKOFF_MAX.
 *
 * Every catch-up makes the standby a copy of the active, deleting what
 * only the standby holds. So a peer that reports complete data at a
 * generation not below this node's is not caught up: it went on without
 * this node (this node was promoted from an older copy), and the link
 * is dropped with an error until an administrator decides.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "replicator_int.h"
#include "xalloc.h"

#define CONNECT_BACKOFF_MIN 1.0
#define CONNECT_BACKOFF_MAX 5.0
#define REFUSED_NO_PEER "refused no peer in sync"
/*
 * Bytes of answered batches that wait to be forwarded during a catch-up.
 * Past it batches are not forwarded: the next catch-up round finds their
 * changes anyway, so a slow link costs rounds, not memory.
 */
#define FORWARD_MAX ((size_t)256 << 20)

static void connect_cb(struct ev_loop *loop, ev_timer *w, int revents);

static void
active_ready(struct repl_link *l, void *arg)
{
	struct replicator *rp = arg;

	rp_send_hello(rp, l);
}

static void
drop_link(struct replicator *rp)
{
	repl_link_free(&rp->link);
	rp->link_ready = false;
	rp->outstanding = 0;
	rp_catchup_free(rp);
}

static void
schedule_connect(struct replicator *rp)
{
	if (rp->role != ROLE_ACTIVE || ev_is_active(&rp->connect_timer))
		return;
	ev_timer_set(&rp->connect_timer, rp->backoff, 0);
	ev_timer_start(rp->loop, &rp->connect_timer);
	rp->backoff *= 2;
	if (rp->backoff > CONNECT_BACKOFF_MAX)
		rp->backoff = CONNECT_BACKOFF_MAX;
}

/* Answers a batch as the node does without an in-sync peer. */
static void
answer_without_peer(struct replicator *rp, struct rp_batch *b)
{
	rp_answer(rp, b,
		  rp->cfg->replication_require_peer ? REFUSED_NO_PEER : "ok");
}

void
rp_degrade(struct replicator *rp, const char *reason)
{
	struct rp_batch *b;
	struct rp_queue unanswered = {0};

	drop_link(rp);
	if (rp->state == STATE_IN_SYNC || rp->state == STATE_CATCHING_UP)
		log_notice("replication degraded: %s", reason);
	else if (strcmp(rp->last_error, reason) != 0)
		log_info("peer %s not connected: %s", rp->peer_name, reason);
	snprintf(rp->last_error, sizeof(rp->last_error), "%s", reason);
	rp_set_state(rp, STATE_DEGRADED);
	/* Batches sent or pending lose their peer: answer them as degraded,
	 * after the held ones (those came later in the stream). */
	while ((b = rp_queue_pop(&rp->inflight)) != NULL)
		rp_queue_push(&unanswered, b);
	while ((b = rp_queue_pop(&rp->pending)) != NULL)
		rp_queue_push(&unanswered, b);
	while ((b = rp_queue_pop(&rp->held)) != NULL)
		rp_queue_push(&unanswered, b);
	rp->held = unanswered;
	while ((b = rp_queue_pop(&rp->forward)) != NULL)
		rp_batch_free(b);
	if (!rp->bumped)
		rp_bump_generation(rp, "serving without an in-sync peer");
	schedule_connect(rp);
	rp_release_held(rp);
}

void
rp_release_held(struct replicator *rp)
{
	struct rp_queue held = rp->held;
	struct rp_batch *b;

	if (rp->announcing || rp_catchup_holding(rp))
		return;
	memset(&rp->held, 0, sizeof(rp->held));
	while ((b = rp_queue_pop(&held)) != NULL)
		rp_commit(rp, b);
}

void
rp_link_send_batch(struct replicator *rp, struct rp_batch *b)
{
	/* The frames are complete RECORDS frames: copy them through. */
	size_t off = 0, len;
	const void *body;
	uint8_t type;
	ssize_t used;

	while (off < b->frames.len) {
		used = repl_frame_next(b->frames.data + off,
				       b->frames.len - off, &type, &body, &len);
		if (used <= 0)
			break;
		repl_link_send(rp->link, type, body, len);
		off += (size_t)used;
	}
}

void
rp_expect_reply(struct replicator *rp)
{
	if (rp->outstanding++ == 0)
		rp->outstanding_since = rp_now(rp);
}

static void
got_reply(struct replicator *rp)
{
	if (rp->outstanding > 0)
		rp->outstanding--;
}

void
rp_send_groups(struct replicator *rp)
{
	struct rp_batch *b;
	uint8_t seq[8];

	if (rp->state != STATE_IN_SYNC || rp->link == NULL ||
	    rp->inflight.n > 0 || rp->pending.n == 0)
		return;
	rp->seq++;
	while ((b = rp_queue_pop(&rp->pending)) != NULL) {
		b->seq = rp->seq;
		rp_link_send_batch(rp, b);
		rp_queue_push(&rp->inflight, b);
	}
	put_u64(seq, rp->seq);
	repl_link_send(rp->link, PEER_SYNC, seq, sizeof(seq));
	rp_expect_reply(rp);
}

void
rp_commit(struct replicator *rp, struct rp_batch *b)
{
	if (rp->role != ROLE_ACTIVE) {
		rp_answer(rp, b, "refused this node is not active");
		rp_batch_free(b);
		return;
	}
	if (rp->announcing || rp_catchup_holding(rp)) {
		rp_queue_push(&rp->held, b);
		return;
	}
	if (rp->state == STATE_IN_SYNC) {
		rp_queue_push(&rp->pending, b);
		rp_send_groups(rp);
		return;
	}
	if (!rp->bumped &&
	    rp_bump_generation(rp, "serving without an in-sync peer") == 0) {
		/* The announce runs now: the batch waits for it. */
		rp_queue_push(&rp->held, b);
		rp_release_held(rp);
		return;
	}
	if (!rp->bumped) {
		rp_answer(rp, b, "refused the generation could not be stored");
		rp_batch_free(b);
		return;
	}
	if (rp->cfg->replication_require_peer) {
		/* Refused: it must never reach the peer. */
		rp_answer(rp, b, REFUSED_NO_PEER);
		rp_batch_free(b);
		return;
	}
	answer_without_peer(rp, b);
	if (rp->state == STATE_CATCHING_UP && rp->link != NULL &&
	    rp->forward.bytes + b->frames.len <= FORWARD_MAX) {
		rp_queue_push(&rp->forward, b);
		rp_catchup_pump(rp);
		return;
	}
	rp_batch_free(b);
}

static void
got_ack(struct replicator *rp, const void *body, size_t len)
{
	uint64_t seq;

	if (len != 8 || rp->inflight.n == 0 ||
	    (seq = get_u64(body)) != rp->seq) {
		rp_degrade(rp, "unexpected ACK from the peer");
		return;
	}
	got_reply(rp);
	rp->syncs++;
	rp_queue_answer_all(rp, &rp->inflight, "ok");
	rp_send_groups(rp);
}

/* Drops a link that reached this node's own listener. */
static void
degrade_self_connected(struct replicator *rp)
{
	char why[700];

	snprintf(why, sizeof(why),
		 "replication_peer %s is this node's own replication_listen: "
		 "set it to the other node's address",
		 rp->peer_name);
	if (strcmp(rp->last_error, why) != 0)
		log_error("%s", why);
	rp_degrade(rp, why);
}

static void
got_hello(struct replicator *rp, const void *body, size_t len)
{
	enum rp_role role;
	uint64_t generation;
	bool complete;
	char why[700];

	if (rp_parse_hello(body, len, &role, &generation, &complete) < 0) {
		rp_degrade(rp, "invalid HELLO from the peer");
		return;
	}
	got_reply(rp);
	if (role == ROLE_ACTIVE && (rp->self_connected || rp_own_accepting(rp))) {
		degrade_self_connected(rp);
		return;
	}
	rp->peer_seen = true;
	if (role == ROLE_ACTIVE) {
		log_error("split brain: peer %s is active too; not replicating "
			  "to it",
			  rp->peer_name);
		snprintf(why, sizeof(why), "split brain: peer %s is active",
			 rp->peer_name);
		rp_degrade(rp, why);
		return;
	}
	if (complete && generation >= rp->generation) {
		/* The standby refuses this link too (repl_standby.c). */
		snprintf(why, sizeof(why),
			 "peer %s holds complete data at generation %" PRIu64
			 ", not older than this node's %" PRIu64
			 ": not replicating to it, because its catch-up would "
			 "delete changes only the peer holds",
			 rp->peer_name, generation, rp->generation);
		if (strcmp(rp->last_error, why) != 0)
			log_error("%s; to discard the peer's data and copy this "
				  "node's, remove replication/state in the "
				  "peer's data_dir and restart its hapostd",
				  why);
		rp_degrade(rp, why);
		return;
	}
	rp->link_ready = true;
	rp->backoff = CONNECT_BACKOFF_MIN;
	rp->peer_generation = generation;
	log_notice("peer %s connected (generation %" PRIu64 ", %s)",
		   rp->peer_name, generation,
		   complete ? "complete" : "incomplete");
	rp_catchup_start(rp);
}

bool
rp_own_connection(const struct replicator *rp,
		  const struct sockaddr_storage *ss)
{
	const struct sockaddr_storage *own = &rp->link_local;

	if (own->ss_family != ss->ss_family)
		return false;
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)ss;
		const struct sockaddr_in *b = (const void *)own;

		return a->sin_port == b->sin_port &&
		       a->sin_addr.s_addr == b->sin_addr.s_addr;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;
		const struct sockaddr_in6 *b = (const void *)own;

		return a->sin6_port == b->sin6_port &&
		       memcmp(&a->sin6_addr, &b->sin6_addr,
			      sizeof(a->sin6_addr)) == 0;
	}
	return false;
}

static void
active_frame(struct repl_link *l, uint8_t type, const void *body, size_t len,
	     void *arg)
{
	struct replicator *rp = arg;
	char text[300], why[700];

	rp->last_received = rp_now(rp);
	if (!rp->link_ready) {
		if (type != PEER_HELLO) {
			rp_degrade(rp, "the peer did not start with HELLO");
			return;
		}
		got_hello(rp, body, len);
		return;
	}
	switch (type) {
	case PEER_ACK:
		got_ack(rp, body, len);
		return;
	case PEER_PONG:
		got_reply(rp);
		return;
	case PEER_MANIFEST:
	case PEER_SIG:
	case PEER_INSYNCED:
		if (type == PEER_INSYNCED ||
		    (len > 0 && (((const uint8_t *)body)[0] & PIECE_LAST)))
			got_reply(rp);
		rp_catchup_frame(rp, type, body, len);
		return;
	case PEER_ERROR:
		log_printable(text, sizeof(text), body, len);
		snprintf(why, sizeof(why), "peer %s reported an error: %s",
			 rp->peer_name, text);
		rp_degrade(rp, why);
		return;
	default:
		rp_degrade(rp, "unknown frame from the peer");
		return;
	}
}

static void
active_closed(struct repl_link *l, const char *reason, bool in_handshake,
	      void *arg)
{
	struct replicator *rp = arg;
	char why[600];

	/* The own listener may close before its HELLO goes out. */
	if (rp->self_connected) {
		degrade_self_connected(rp);
		return;
	}
	snprintf(why, sizeof(why), "link to %s: %s", rp->peer_name, reason);
	/* Logged once per new reason: the next attempts fail the same way. */
	if (in_handshake && strcmp(why, rp->last_error) != 0)
		log_warning("replication link to %s failed in the handshake "
			    "(is replication_peer the other node's "
			    "replication_listen, with the same "
			    "replication_key_file?): %s",
			    rp->peer_name, reason);
	rp_degrade(rp, why);
}

static void
active_drained(struct repl_link *l, void *arg)
{
	rp_catchup_pump(arg);
}

static const struct repl_link_ops active_ops = {
    .ready = active_ready,
    .frame = active_frame,
    .closed = active_closed,
    .drained = active_drained,
};

static void
connect_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct replicator *rp = w->data;
	struct listen_addr *peer = &rp->peer_addr;
	socklen_t len;
	char why[300];
	int fd;

	if (rp->role != ROLE_ACTIVE || rp->link != NULL)
		return;
	fd = socket(peer->ss.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    (connect(fd, (struct sockaddr *)&peer->ss, peer->sslen) < 0 &&
	     errno != EINPROGRESS)) {
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		rp_degrade(rp, why);
		return;
	}
	rp->self_connected = false;
	memset(&rp->link_local, 0, sizeof(rp->link_local));
	len = sizeof(rp->link_local);
	getsockname(fd, (struct sockaddr *)&rp->link_local, &len);
	rp->link = repl_link_new(rp->loop, rp->client_ctx, fd, true,
				 rp->peer_name, &active_ops, rp);
	rp->link_ready = false;
	rp->link_started = rp_now(rp);
	rp->last_received = rp->link_started;
	rp->outstanding = 0;
	rp_expect_reply(rp); /* the HELLO */
}

/* Periodic checks: handshake and answer timeouts, pings, catch-up. */
void
rp_active_tick(struct replicator *rp, double now)
{
	double timeout = rp->cfg->replication_timeout, since;
	uint8_t none = 0;
	char why[400];

	if (rp->link == NULL)
		return;
	if (rp->inflight.head != NULL &&
	    now - rp->inflight.head->committed_at > timeout) {
		snprintf(why, sizeof(why),
			 "peer %s did not acknowledge a commit within %u s",
			 rp->peer_name, rp->cfg->replication_timeout);
		rp_degrade(rp, why);
		return;
	}
	if (rp->outstanding > 0) {
		since = rp->last_received > rp->outstanding_since
			    ? rp->last_received
			    : rp->outstanding_since;
		if (now - since > timeout) {
			snprintf(why, sizeof(why),
				 "peer %s did not answer within %u s",
				 rp->peer_name, rp->cfg->replication_timeout);
			rp_degrade(rp, why);
			return;
		}
	} else if (rp->link_ready && now - rp->last_ping > timeout / 3) {
		repl_link_send(rp->link, PEER_PING, &none, 0);
		rp->last_ping = now;
		rp_expect_reply(rp);
	}
	rp_catchup_tick(rp, now);
}

void
rp_active_start(struct replicator *rp)
{
	rp->role = ROLE_ACTIVE;
	rp->backoff = CONNECT_BACKOFF_MIN;
	rp_set_state(rp, STATE_DEGRADED);
	ev_timer_init(&rp->connect_timer, connect_cb, 0, 0);
	rp->connect_timer.data = rp;
	ev_timer_start(rp->loop, &rp->connect_timer);
}

void
rp_active_stop(struct replicator *rp, const char *why)
{
	char text[300];

	ev_timer_stop(rp->loop, &rp->connect_timer);
	drop_link(rp);
	snprintf(text, sizeof(text), "refused %s", why);
	rp_queue_answer_all(rp, &rp->inflight, text);
	rp_queue_answer_all(rp, &rp->pending, text);
	rp_queue_answer_all(rp, &rp->held, text);
	while (rp->forward.head != NULL)
		rp_batch_free(rp_queue_pop(&rp->forward));
	rp_announce_free(rp);
	rp->announcing = false;
}
