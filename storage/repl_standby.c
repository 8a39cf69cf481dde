/*
 * repl_standby - the peer listener and the standby's side of the stream
 *
 * The listener on replication_listen stays open in both roles. Every
 * connection must finish the TLS handshake and send HELLO within
 * replication_timeout; one that fails the handshake (no key, the wrong
 * key, not TLS at all) is logged at warning and dropped. On a standby,
 * a HELLO from an active becomes the link (replacing an older one, whose
 * active may be gone without a FIN). A node in active role takes no
 * link: a HELLO from another active is split brain and logged at error,
 * anything else at warning. A standby whose data is complete refuses an
 * active whose generation is not above its own (refuse_diverged()).
 *
 * At most PENDING_MAX connections may be in the handshake at once. Past
 * it a new one is dropped, unless it comes from replication_peer's IP
 * address: then the oldest one from another address makes room, so
 * connections that others keep open cannot lock the peer out.
 *
 * Applying: records are applied in stream order as they arrive. A
 * failed record breaks the link (ERROR, then close), so the active
 * degrades and starts a catch-up on the next connection; during a
 * catch-up failures are only counted, because forwarded batches may
 * touch files the standby does not have yet and the rounds repair
 * whatever a failure left. CATCHUP stores "incomplete" before anything
 * of the catch-up is applied, and INSYNC stores the active's generation
 * and "complete" after a sync, so a standby that stops in between is
 * never taken for complete. INSYNC is refused when a record failed
 * after the last manifest request: that round runs with every writer
 * held, so a failure there means the copy is not whole.
 */
#include "config.h"

#include <arpa/inet.h>
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

#define PENDING_MAX 8
#define WARN_INTERVAL 10.0

struct pending_peer {
	struct replicator *rp;
	struct repl_link *link;
	ev_timer timer;
	char name[INET6_ADDRSTRLEN + 16];
	struct sockaddr_storage addr;
	bool from_peer; /* from the host of replication_peer */
	bool closing;	/* rejected; freed once its HELLO is written */
	struct pending_peer *next;
};

/* At most one warning about rejected connections per WARN_INTERVAL. */
static void
warn_rejected(struct replicator *rp, const char *name, const char *why)
{
	double now = rp_now(rp);

	if (now - rp->rejected_logged_at < WARN_INTERVAL) {
		rp->rejected_unlogged++;
		return;
	}
	if (rp->rejected_unlogged > 0)
		log_warning("peer connection from %s rejected: %s (and %u "
			    "more since the last warning)",
			    name, why, rp->rejected_unlogged);
	else
		log_warning("peer connection from %s rejected: %s", name, why);
	rp->rejected_logged_at = now;
	rp->rejected_unlogged = 0;
}

static void
pending_free(struct pending_peer *p, bool with_link)
{
	struct replicator *rp = p->rp;
	struct pending_peer **pp;

	for (pp = &rp->accepting; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	rp->naccepting--;
	ev_timer_stop(rp->loop, &p->timer);
	if (with_link)
		repl_link_free(&p->link);
	free(p);
}

/*
 * Rejects p once this node's HELLO is written, because the peer reads
 * the reason (this node's role and generation) from it.
 */
static void
pending_reject(struct pending_peer *p)
{
	if (repl_link_pending(p->link) == 0) {
		pending_free(p, true);
		return;
	}
	p->closing = true;
}

/* The main link. */

static void
fail_link(struct replicator *rp, const char *why)
{
	log_warning("replication link from %s dropped: %s", rp->peer_name, why);
	snprintf(rp->last_error, sizeof(rp->last_error), "%s", why);
	repl_link_send(rp->link, PEER_ERROR, why, strlen(why));
	rp->link_closing = true;
}

void
rp_standby_drop(struct replicator *rp, const char *why)
{
	if (rp->link == NULL)
		return;
	log_notice("replication link from %s closed: %s", rp->peer_name, why);
	repl_link_free(&rp->link);
	rp->link_ready = false;
	rp->link_closing = false;
	rp->applying_catchup = false;
	if (rp->role == ROLE_STANDBY)
		rp_set_state(rp, STATE_DISCONNECTED);
}

static void
apply_records(struct replicator *rp, const void *body, size_t len)
{
	struct repl_op op;
	size_t pos = 0;
	char err[400];
	int r;

	while ((r = repl_op_decode(body, len, &pos, &op, err, sizeof(err))) >
	       0) {
		if (repl_apply_op(rp->apply, &op, err, sizeof(err)) == 0)
			continue;
		if (!rp->applying_catchup) {
			fail_link(rp, err);
			return;
		}
		rp->apply_errors++;
		if (rp->round_errors++ == 0)
			snprintf(rp->round_error, sizeof(rp->round_error),
				 "%.150s", err);
		log_debug("catch-up: %s", err);
	}
	if (r < 0)
		fail_link(rp, err);
}

/* Sends body in PIECE frames of at most REPL_CHUNK bytes. */
static void
send_pieces(struct replicator *rp, uint8_t type, const struct buf *body)
{
	size_t off = 0, n;
	uint8_t flags;

	do {
		n = body->len - off < REPL_CHUNK ? body->len - off : REPL_CHUNK;
		flags = off + n == body->len ? PIECE_LAST : 0;
		repl_link_send2(rp->link, type, &flags, 1, body->data + off, n);
		off += n;
	} while (off < body->len);
}

static void
send_manifest(struct replicator *rp)
{
	struct repl_manifest m = {0};
	struct buf out = BUF_INIT;
	char err[300], why[400];

	if (repl_manifest_build_standby(rp->cfg->data_dir, &m, err,
					sizeof(err)) < 0) {
		snprintf(why, sizeof(why), "manifest failed: %s", err);
		fail_link(rp, why);
		return;
	}
	repl_manifest_encode(&m, &out);
	send_pieces(rp, PEER_MANIFEST, &out);
	repl_manifest_free(&m);
	buf_free(&out);
}

static void
send_signature(struct replicator *rp, const char *body, size_t len)
{
	char rel[REPL_PATH_MAX + 1], err[300], *path;
	struct buf sig = BUF_INIT;
	uint8_t none = PIECE_NONE | PIECE_LAST;

	if (len == 0 || len > REPL_PATH_MAX || memchr(body, '\0', len)) {
		fail_link(rp, "invalid signature request");
		return;
	}
	memcpy(rel, body, len);
	rel[len] = '\0';
	if (!repl_path_ok(rel)) {
		fail_link(rp, "invalid signature request");
		return;
	}
	path = xasprintf("%s/%s", rp->cfg->data_dir, rel);
	if (repl_signature(path, &sig, err, sizeof(err)) < 0) {
		log_debug("catch-up: no signature of %s: %s", rel, err);
		repl_link_send(rp->link, PEER_SIG, &none, 1);
	} else {
		send_pieces(rp, PEER_SIG, &sig);
	}
	buf_free(&sig);
	free(path);
}

static void
got_insync(struct replicator *rp, const void *body, size_t len)
{
	char err[300], why[400];
	uint64_t generation;

	if (len != 8) {
		fail_link(rp, "invalid INSYNC");
		return;
	}
	generation = get_u64(body);
	if (rp->round_errors > 0) {
		/* The last round ran with every writer held, so no record of
		 * it may fail: this data_dir is not a copy of the active's. */
		snprintf(why, sizeof(why),
			 "%" PRIu64 " records of the last catch-up round "
			 "failed, the first: %s",
			 rp->round_errors, rp->round_error);
		fail_link(rp, why);
		return;
	}
	if (repl_apply_sync(rp->apply, err, sizeof(err)) < 0) {
		snprintf(why, sizeof(why), "sync failed: %s", err);
		fail_link(rp, why);
		return;
	}
	if (rp_write_generation(rp, generation) < 0 ||
	    rp_write_complete(rp, true) < 0) {
		fail_link(rp, rp->last_error);
		return;
	}
	rp->applying_catchup = false;
	rp->peer_generation = generation;
	rp_set_state(rp, STATE_IN_SYNC);
	log_notice("in sync with %s at generation %" PRIu64 " (%" PRIu64
		   " records failed during the catch-up)",
		   rp->peer_name, generation, rp->apply_errors);
	repl_link_send(rp->link, PEER_INSYNCED, body, len);
}

void
rp_standby_frame(struct replicator *rp, uint8_t type, const void *body,
		 size_t len)
{
	char err[300], why[400];

	if (rp->link_closing)
		return;
	rp->last_received = rp_now(rp);
	switch (type) {
	case PEER_RECORDS:
		apply_records(rp, body, len);
		return;
	case PEER_SYNC:
		if (len != 8) {
			fail_link(rp, "invalid SYNC");
			return;
		}
		if (repl_apply_sync(rp->apply, err, sizeof(err)) < 0) {
			snprintf(why, sizeof(why), "sync failed: %s", err);
			fail_link(rp, why);
			return;
		}
		rp->syncs++;
		repl_link_send(rp->link, PEER_ACK, body, len);
		return;
	case PEER_PING:
		repl_link_send(rp->link, PEER_PONG, NULL, 0);
		return;
	case PEER_CATCHUP:
		if (rp_write_complete(rp, false) < 0) {
			fail_link(rp, rp->last_error);
			return;
		}
		rp->applying_catchup = true;
		rp->apply_errors = 0;
		rp_set_state(rp, STATE_CATCHING_UP);
		log_notice("catch-up from %s started", rp->peer_name);
		return;
	case PEER_MANIFEST_REQUEST:
		rp->round_errors = 0;
		send_manifest(rp);
		/* The listing may take long: that is not the active's silence. */
		rp->last_received = rp_now(rp);
		return;
	case PEER_SIG_REQUEST:
		send_signature(rp, body, len);
		rp->last_received = rp_now(rp);
		return;
	case PEER_INSYNC:
		got_insync(rp, body, len);
		return;
	default:
		fail_link(rp, "unexpected frame from the active");
		return;
	}
}

static void
link_frame(struct repl_link *l, uint8_t type, const void *body, size_t len,
	   void *arg)
{
	rp_standby_frame(arg, type, body, len);
}

static void
link_closed(struct repl_link *l, const char *reason, bool in_handshake,
	    void *arg)
{
	rp_standby_drop(arg, reason);
}

static void
link_drained(struct repl_link *l, void *arg)
{
	struct replicator *rp = arg;

	if (rp->link_closing && repl_link_pending(l) == 0)
		rp_standby_drop(rp, "after an error");
}

static const struct repl_link_ops standby_ops = {
    .ready = NULL,
    .frame = link_frame,
    .closed = link_closed,
    .drained = link_drained,
};

/* Connections being accepted. */

static void
pending_ready(struct repl_link *l, void *arg)
{
	struct pending_peer *p = arg;

	rp_send_hello(p->rp, l);
}

static void
adopt(struct pending_peer *p, uint64_t generation)
{
	struct replicator *rp = p->rp;

	if (rp->link != NULL)
		rp_standby_drop(rp, "a new connection from the active");
	rp->link = p->link;
	p->link = NULL;
	repl_link_set_ops(rp->link, &standby_ops, rp);
	snprintf(rp->peer_name, sizeof(rp->peer_name), "%s", p->name);
	rp->link_ready = true;
	rp->link_closing = false;
	rp->applying_catchup = false;
	rp->last_received = rp_now(rp);
	rp->peer_generation = generation;
	repl_apply_reset(rp->apply);
	rp_set_state(rp, STATE_CATCHING_UP);
	log_notice("active %s connected (generation %" PRIu64 ")", p->name,
		   generation);
	pending_free(p, false);
}

/*
 * An active whose generation is not above this node's complete one did
 * not take over from this node's data: it was promoted from an older
 * copy while this node went on alone (or both went on alone). A
 * catch-up would delete what only this node holds, so the link is
 * refused until an administrator decides which data wins.
 */
static void
refuse_diverged(struct replicator *rp, struct pending_peer *p,
		uint64_t generation)
{
	char why[sizeof(rp->last_error)];

	snprintf(why, sizeof(why),
		 "active %s at generation %" PRIu64
		 " is not above this node's complete generation %" PRIu64
		 ": refused, its catch-up would delete data only this node "
		 "holds",
		 p->name, generation, rp->generation);
	if (strcmp(rp->last_error, why) != 0)
		log_error("%s; to discard this node's data and copy the "
			  "active's, remove %s/replication/state here and "
			  "restart hapostd",
			  why, rp->cfg->data_dir);
	snprintf(rp->last_error, sizeof(rp->last_error), "%s", why);
	/* No ERROR frame: the active makes the same check on our HELLO. */
	pending_reject(p);
}

static void
pending_frame(struct repl_link *l, uint8_t type, const void *body, size_t len,
	      void *arg)
{
	struct pending_peer *p = arg;
	struct replicator *rp = p->rp;
	enum rp_role role;
	uint64_t generation;
	bool complete;

	if (p->closing)
		return;
	if (type != PEER_HELLO ||
	    rp_parse_hello(body, len, &role, &generation, &complete) < 0) {
		warn_rejected(rp, p->name, "no valid HELLO");
		pending_free(p, true);
		return;
	}
	if (rp_own_connection(rp, &p->addr)) {
		/* replication_peer names this node: the active side logs it. */
		rp->self_connected = true;
		pending_reject(p);
		return;
	}
	rp->peer_seen = true;
	if (rp->role == ROLE_ACTIVE) {
		if (role == ROLE_ACTIVE)
			log_error("split brain: active peer %s connected while "
				  "this node is active; connection refused",
				  p->name);
		else
			warn_rejected(rp, p->name, "this node is active");
		pending_reject(p);
		return;
	}
	if (role != ROLE_ACTIVE) {
		warn_rejected(rp, p->name, "the peer is not active");
		pending_reject(p);
		return;
	}
	if (rp->complete && generation <= rp->generation) {
		refuse_diverged(rp, p, generation);
		return;
	}
	adopt(p, generation);
}

static void
pending_closed(struct repl_link *l, const char *reason, bool in_handshake,
	       void *arg)
{
	struct pending_peer *p = arg;
	char why[600];

	snprintf(why, sizeof(why), "%s%s", reason,
		 in_handshake ? " (a peer needs the same "
				"replication_key_file)"
			      : "");
	if (!p->closing)
		warn_rejected(p->rp, p->name, why);
	pending_free(p, true);
}

static void
pending_drained(struct repl_link *l, void *arg)
{
	struct pending_peer *p = arg;

	if (p->closing && repl_link_pending(l) == 0)
		pending_free(p, true);
}

static const struct repl_link_ops pending_ops = {
    .ready = pending_ready,
    .frame = pending_frame,
    .closed = pending_closed,
    .drained = pending_drained,
};

static void
pending_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pending_peer *p = w->data;

	if (!p->closing)
		warn_rejected(p->rp, p->name, "no handshake and HELLO in time");
	pending_free(p, true);
}

static void
format_addr(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, len, "%s:%u", host, ntohs(in->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, len, "[%s]:%u", host, ntohs(in6->sin6_port));
	} else {
		snprintf(out, len, "unknown");
	}
}

/* True when ss has the same IP address as replication_peer. */
static bool
same_host(const struct sockaddr_storage *ss, const struct listen_addr *peer)
{
	const struct sockaddr_in *a4 = (const void *)ss;
	const struct sockaddr_in *b4 = (const void *)&peer->ss;
	const struct sockaddr_in6 *a6 = (const void *)ss;
	const struct sockaddr_in6 *b6 = (const void *)&peer->ss;

	if (ss->ss_family != peer->ss.ss_family)
		return false;
	if (ss->ss_family == AF_INET)
		return a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	if (ss->ss_family == AF_INET6)
		return memcmp(&a6->sin6_addr, &b6->sin6_addr,
			      sizeof(a6->sin6_addr)) == 0;
	return false;
}

/*
 * Makes room for a connection from the peer's host when every handshake
 * slot is taken: the oldest connection from another host goes. Returns
 * false when all of them come from the peer's host.
 */
static bool
evict_stranger(struct replicator *rp)
{
	struct pending_peer *p, *oldest = NULL;

	/* New connections go to the head, so the last match is the oldest. */
	for (p = rp->accepting; p != NULL; p = p->next)
		if (!p->from_peer)
			oldest = p;
	if (oldest == NULL)
		return false;
	warn_rejected(rp, oldest->name,
		      "dropped for a connection from the peer's address");
	pending_free(oldest, true);
	return true;
}

static void
listen_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct replicator *rp = w->data;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct pending_peer *p;
	int fd;

	fd = accept4(rp->listen_fd, (struct sockaddr *)&ss, &sslen,
		     SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warning("accept on replication_listen: %s",
				    strerror(errno));
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->rp = rp;
	format_addr(&ss, p->name, sizeof(p->name));
	p->addr = ss;
	p->from_peer = same_host(&ss, &rp->peer_addr);
	if (rp->naccepting >= PENDING_MAX &&
	    !(p->from_peer && evict_stranger(rp))) {
		warn_rejected(rp, p->name, "too many handshakes at once");
		close(fd);
		free(p);
		return;
	}
	p->next = rp->accepting;
	rp->accepting = p;
	rp->naccepting++;
	ev_timer_init(&p->timer, pending_timeout_cb,
		      rp->cfg->replication_timeout, 0);
	p->timer.data = p;
	ev_timer_start(loop, &p->timer);
	p->link = repl_link_new(loop, rp->server_ctx, fd, false, p->name,
				&pending_ops, p);
}

int
rp_listen_open(struct replicator *rp, char *err, size_t errlen)
{
	const struct listen_addr *a = &rp->cfg->replication_listen.v[0];
	int fd, on = 1;

	fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    bind(fd, (const struct sockaddr *)&a->ss, a->sslen) < 0 ||
	    listen(fd, 16) < 0) {
		snprintf(err, errlen, "replication_listen %s: %s", a->text,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rp->listen_fd = fd;
	ev_io_init(&rp->listen_io, listen_cb, fd, EV_READ);
	rp->listen_io.data = rp;
	ev_io_start(rp->loop, &rp->listen_io);
	return 0;
}

void
rp_listen_close(struct replicator *rp)
{
	while (rp->accepting != NULL)
		pending_free(rp->accepting, true);
	if (rp->listen_fd >= 0) {
		ev_io_stop(rp->loop, &rp->listen_io);
		close(rp->listen_fd);
		rp->listen_fd = -1;
	}
}

bool
rp_own_accepting(const struct replicator *rp)
{
	for (const struct pending_peer *p = rp->accepting; p != NULL;
	     p = p->next)
		if (rp_own_connection(rp, &p->addr))
			return true;
	return false;
}

/* Drops a link from an active that went silent. */
void
rp_standby_tick(struct replicator *rp, double now)
{
	double limit = 2.0 * rp->cfg->replication_timeout + 1.0;
	char why[200];

	if (rp->link == NULL)
		return;
	if (rp->applying_catchup && limit < CATCHUP_SILENCE_MAX)
		limit = CATCHUP_SILENCE_MAX;
	if (rp->link_closing && now - rp->last_received > 2.0) {
		rp_standby_drop(rp, "after an error");
		return;
	}
	if (now - rp->last_received > limit) {
		snprintf(why, sizeof(why), "nothing received for %.0f s",
			 limit);
		rp_standby_drop(rp, why);
	}
}
