/*
 * cluster - the cluster process's main loop
 *
 * One timer fires every cluster_heartbeat_interval. Each tick refreshes
 * the cheap facts: queue manager and replicator alive, queue size and
 * age. It starts the listener probes and the data_dir probe when they are
 * due: every cluster_probe_interval while all is well, and every tick
 * while something failed, so a recovery shows quickly. Then it derives
 * this node's role and multicasts the heartbeat when the CPG link is up.
 *
 * Start-up: the first probes start before the loop runs. Until every
 * listener has a result, the report shows it as "not checked yet" (never
 * as failed) and no heartbeat goes out, so a peer never sees a starting
 * node as unhealthy. A short timer sends the first heartbeat as soon as
 * the probes finished, at most PROBE_TIMEOUT seconds after start. In
 * replicated mode the replicator counts the same way until its first
 * status, for at most REPL_FIRST_STATUS_WAIT seconds.
 *
 * Role (node_role_decide() in heartbeat.h): in shared storage mode a node
 * is standalone while the CPG link is down, for example without
 * corosync. Otherwise it is active, because hapostd runs only on the node
 * where Pacemaker started it. In replicated mode the shared page states
 * whether the master runs workers (serving): the node is then active,
 * else standby. The
 * listeners are checked only while the node serves; when it starts to
 * serve, the probes start afresh, as at start-up, and when it stops they
 * are dropped, so a standby shows no listeners rather than failed ones.
 *
 * Replication: in replicated mode a thread (repl_poll.c) fetches the
 * replicator's status every interval. The heartbeat carries its state and
 * complete flag, the generation comes from DATA_DIR/generation without
 * creating it (only the replicator writes it), and the status report gets
 * the replication object with the promotion rule's verdict
 * (promotion.h).
 *
 * Peer: the peer node comes from Corosync. Its name comes from the node
 * list in cmap, and whether it is online from the ring of the totem
 * callback. That way the standby shows even though it runs no hapostd.
 * Its hapostd, when one runs, adds heartbeats: the first node with
 * another node id that sends a valid heartbeat becomes the heartbeat
 * peer. That peer turns stale after three heartbeat intervals without
 * one and "left" when CPG reports it gone. Heartbeats from this node id
 * are ignored, except that this process's own ones, delivered back by
 * CPG, complete a pending "announce" (cluster_actions.c). A third node
 * is logged once and ignored, because hapost runs as a pair.
 *
 * Logging: peer joins, leaves and staleness, the peer node going online
 * or offline, role changes and the CPG link's state at notice; a local
 * check that starts failing at warning, and its recovery at notice;
 * invalid heartbeats at warning, the first and then every hundredth.
 */
#include "config.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "cluster_int.h"
#include "cpg_link.h"
#include "listener_probe.h"
#include "local_checks.h"
#include "log.h"
#include "xalloc.h"

#define STALE_AFTER 3 /* missed heartbeats */
#define PROBE_TIMEOUT 2.0
#define FIRST_ROUND_POLL 0.05 /* seconds between checks for first results */
/* How long a starting replicator may take to answer its first STATUS. */
#define REPL_FIRST_STATUS_WAIT 5.0
#define BAD_MESSAGE_LOG_EVERY 100

struct cluster_shared *
cluster_shared_create(void)
{
	void *p =
	    mmap(NULL, sizeof(struct cluster_shared), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static double
interval(const struct cluster *c)
{
	return (double)c->cfg->cluster_heartbeat_interval;
}

static pid_t
qmgr_pid(const struct cluster *c)
{
	pid_t pid = c->env->shared != NULL ? c->env->shared->qmgr_pid : 0;

	return process_alive(pid) ? pid : 0;
}

static pid_t
repl_pid(const struct cluster *c)
{
	pid_t pid = c->env->shared != NULL ? c->env->shared->repl_pid : 0;

	return process_alive(pid) ? pid : 0;
}

/* Marks the peer stale when its heartbeats stopped. */
static void
peer_refresh(struct cluster *c, double now)
{
	struct peer *p = &c->peer;

	if (p->state != PEER_ALIVE ||
	    now - p->last_seen <= STALE_AFTER * interval(c))
		return;
	p->state = PEER_STALE;
	log_notice("peer %s (node id %u) is stale: no heartbeat for %.1f s",
		   p->health.name, p->nodeid, now - p->last_seen);
}

/* Logs a check's change between failing (err set) and passing. */
static void
note_check(const char *what, char *saved, size_t savedlen, const char *err)
{
	if (err != NULL && strcmp(saved, err) != 0)
		log_warning("health check failed: %s: %s", what, err);
	else if (err == NULL && saved[0] != '\0')
		log_notice("health check passed again: %s", what);
	snprintf(saved, savedlen, "%s", err != NULL ? err : "");
}

void
cluster_read_generation(struct cluster *c)
{
	char err[256];
	uint64_t generation;
	int rc;

	if (c->replicated)
		rc = generation_peek(c->cfg->data_dir, &generation, err,
				     sizeof(err));
	else
		rc = generation_read(c->cfg->data_dir, &generation, err,
				     sizeof(err));
	if (rc == 0) {
		c->self.generation = generation;
		note_check("data generation", c->generation_error,
			   sizeof(c->generation_error), NULL);
	} else {
		/* Generation 0 means this node cannot read its generation. */
		c->self.generation = 0;
		note_check("data generation", c->generation_error,
			   sizeof(c->generation_error), err);
	}
}

static void
run_probes(struct cluster *c, double now)
{
	char err[256];

	for (size_t i = 0; i < c->nprobes; i++)
		listener_probe_start(c->probes[i], PROBE_TIMEOUT);
	c->self.data_dir_writable =
	    data_dir_probe(c->cfg->data_dir, err, sizeof(err)) == 0;
	note_check("data_dir writable", c->data_dir_error,
		   sizeof(c->data_dir_error),
		   c->self.data_dir_writable ? NULL : err);
	cluster_read_generation(c);
	c->checked_at = now;
}

/*
 * Copies the probes' last results into self. Returns true when every
 * listener has a result.
 */
static bool
collect_listeners(struct cluster *c)
{
	bool all = true;

	for (size_t i = 0; i < c->nprobes; i++) {
		const char *err;
		bool ok = listener_probe_result(c->probes[i], &err);
		struct listener_health *l = &c->self.listeners[i];

		/* The first result is no change; later ones may be. */
		if (!c->listener_checked[i]) {
			c->listener_checked[i] =
			    listener_probe_checked(c->probes[i]);
			if (!ok && c->listener_checked[i])
				log_warning("listener %s %s failed its "
					    "check: %s",
					    l->service, l->address, err);
		} else if (ok != l->healthy) {
			if (ok)
				log_notice("listener %s %s responds again",
					   l->service, l->address);
			else
				log_warning("listener %s %s failed its "
					    "check: %s",
					    l->service, l->address, err);
		}
		l->healthy = ok;
		l->unchecked = !c->listener_checked[i];
		all &= c->listener_checked[i];
	}
	return all;
}

/* Creates a probe for every configured listener, none checked yet. */
static void
probes_create(struct cluster *c)
{
	const struct cluster_env *env = c->env;
	char err[256];

	if (env->nlisteners > HEARTBEAT_LISTENERS_MAX)
		log_warning("checking only the first %d of %zu listeners",
			    HEARTBEAT_LISTENERS_MAX, env->nlisteners);
	for (size_t i = 0;
	     i < env->nlisteners && c->nprobes < HEARTBEAT_LISTENERS_MAX; i++) {
		const struct cluster_listener *l = &env->listeners[i];
		struct listener_probe *p;
		struct listener_health *h = &c->self.listeners[c->nprobes];

		p = listener_probe_new(c->loop, l->service, l->address, err,
				       sizeof(err));
		if (p == NULL) {
			log_error("listener %s %s not checked: %s", l->service,
				  l->address, err);
			continue;
		}
		memset(h, 0, sizeof(*h));
		snprintf(h->service, sizeof(h->service), "%s", l->service);
		snprintf(h->address, sizeof(h->address), "%s", l->address);
		h->unchecked = true;
		c->listener_checked[c->nprobes] = false;
		c->probes[c->nprobes++] = p;
	}
	c->self.nlisteners = c->nprobes;
	c->listeners_checked = c->nprobes == 0;
}

static void
probes_free(struct cluster *c)
{
	for (size_t i = 0; i < c->nprobes; i++)
		listener_probe_free(&c->probes[i]);
	c->nprobes = 0;
	c->self.nlisteners = 0;
	c->listeners_checked = true;
}

/* Reads from the shared page whether the master runs workers. */
static bool
master_serving(const struct cluster *c)
{
	if (!c->replicated)
		return true;
	return __atomic_load_n(&c->env->shared->serving, __ATOMIC_ACQUIRE) != 0;
}

/*
 * Follows the master's role: a node that starts to serve gets fresh
 * listener probes, started at once, and the first-round timer that sends
 * the next heartbeat as soon as they finish.
 */
static void
refresh_serving(struct cluster *c, double now)
{
	bool serving = master_serving(c);

	if (serving == c->serving)
		return;
	c->serving = serving;
	probes_free(c);
	if (!serving)
		return;
	probes_create(c);
	c->next_probe = now;
	ev_timer_again(c->loop, &c->first_round);
}

/* connected: the CPG link is up (cpg_link_new() reports it before it
 * returns the link). */
static void
refresh_role(struct cluster *c, bool connected)
{
	enum node_role role =
	    node_role_decide(connected, c->replicated, c->serving);

	if (c->have_self && role != c->self.role)
		log_notice("role changed from %s to %s",
			   node_role_name(c->self.role), node_role_name(role));
	c->self.role = role;
}

/* The replicator facts of self, from its pid and the last status. */
static void
update_replication(struct cluster *c)
{
	struct node_health *h = &c->self;
	const struct repl_poll_result *r = &c->repl_last;

	h->replicated = c->replicated;
	if (!c->replicated)
		return;
	h->repl_alive = repl_pid(c) != 0 && r->ok;
	/* Until the first answer, or REPL_FIRST_STATUS_WAIT after start. */
	h->repl_unchecked = !h->repl_alive && !c->repl_answered &&
			    ev_time() - c->started_at < REPL_FIRST_STATUS_WAIT;
	c->repl_answered |= h->repl_alive;
	h->repl_state = r->ok ? r->status.state : REPL_UNKNOWN;
	h->complete = r->ok && r->status.complete;
}

void
cluster_update_self(struct cluster *c, double now)
{
	struct node_health *h = &c->self;
	char err[256];

	refresh_serving(c, now);
	if (now >= c->next_probe)
		run_probes(c, now);
	else if (c->replicated)
		/* The replicator changes it at any time; the peer's promotion
		 * check needs the current value in the heartbeat. */
		cluster_read_generation(c);
	c->listeners_checked = collect_listeners(c);
	h->qmgr_alive = qmgr_pid(c) != 0;
	update_replication(c);
	if (queue_stats(c->cfg->data_dir, time(NULL), &h->queue_size,
			&h->queue_oldest_age, err, sizeof(err)) == 0) {
		note_check("queue", c->queue_error, sizeof(c->queue_error),
			   NULL);
	} else {
		note_check("queue", c->queue_error, sizeof(c->queue_error),
			   err);
	}
	h->time_ms = (int64_t)(ev_time() * 1000);
	peer_refresh(c, now);
	refresh_role(c, cpg_link_connected(c->link));
	if (now >= c->next_probe)
		c->next_probe =
		    now + (node_health_ok(h) ? c->cfg->cluster_probe_interval
					     : interval(c));
	c->have_self = true;
}

uint64_t
cluster_send_heartbeat(struct cluster *c, bool force)
{
	if (!cpg_link_connected(c->link))
		return 0;
	if (!force && (!c->listeners_checked || c->self.repl_unchecked))
		return 0;
	c->self.seq = ++c->heartbeat_seq;
	heartbeat_encode(&c->self, &c->msg);
	if (cpg_link_send(c->link, c->msg.data, c->msg.len) < 0)
		return 0;
	return c->self.seq;
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cluster *c = w->data;

	cluster_update_self(c, ev_time());
	cluster_send_heartbeat(c, false);
}

/* Sends the first heartbeat once every listener has been checked. */
static void
first_round_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cluster *c = w->data;

	for (size_t i = 0; i < c->nprobes; i++)
		if (!listener_probe_checked(c->probes[i]))
			return;
	update_replication(c);
	if (c->self.repl_unchecked)
		return;
	ev_timer_stop(loop, w);
	cluster_update_self(c, ev_time());
	cluster_send_heartbeat(c, false);
}

/* A heartbeat of this node id: this process's own, or a retiring one's. */
static void
own_heartbeat(struct cluster *c, uint32_t pid, const void *msg, size_t len)
{
	struct node_health h;
	char err[128];

	if (pid != (uint32_t)getpid() ||
	    heartbeat_decode(msg, len, &h, err, sizeof(err)) < 0)
		return;
	cluster_actions_delivered(c, h.seq);
}

static void
on_deliver(uint32_t nodeid, uint32_t pid, const void *msg, size_t len,
	   void *arg)
{
	struct cluster *c = arg;
	struct peer *p = &c->peer;
	struct node_health h;
	char err[128];
	enum peer_state before;

	if (nodeid == cpg_link_nodeid(c->link)) {
		own_heartbeat(c, pid, msg, len);
		return;
	}
	if (heartbeat_decode(msg, len, &h, err, sizeof(err)) < 0) {
		if (c->bad_messages++ % BAD_MESSAGE_LOG_EVERY == 0)
			log_warning("invalid heartbeat from node id %u pid %u: "
				    "%s (%lu so far)",
				    nodeid, pid, err, c->bad_messages);
		return;
	}
	peer_refresh(c, ev_time());
	if (p->state == PEER_ALIVE && p->nodeid != nodeid) {
		if (!c->third_node_logged)
			log_warning("ignoring heartbeats from node %s (node "
				    "id %u): the peer is already node %s "
				    "(node id %u)",
				    h.name, nodeid, p->health.name, p->nodeid);
		c->third_node_logged = true;
		return;
	}
	before = p->state;
	if (before != PEER_NONE && h.generation > p->health.generation &&
	    p->nodeid == nodeid)
		log_notice("peer %s announces data generation %" PRIu64, h.name,
			   h.generation);
	p->nodeid = nodeid;
	p->pid = pid;
	p->health = h;
	p->last_seen = ev_time();
	p->state = PEER_ALIVE;
	if (before == PEER_STALE)
		log_notice("peer %s (node id %u) sends heartbeats again",
			   h.name, nodeid);
	else if (before != PEER_ALIVE)
		log_notice("peer joined: node %s, node id %u, pid %u, role %s",
			   h.name, nodeid, pid, node_role_name(h.role));
}

static void
on_joined(uint32_t nodeid, uint32_t pid, void *arg)
{
	struct cluster *c = arg;

	if (nodeid == cpg_link_nodeid(c->link))
		return;
	log_info("CPG member joined: node id %u, pid %u", nodeid, pid);
	/* Tell the newcomer about this node without waiting for a tick. */
	cluster_send_heartbeat(c, false);
}

static void
on_left(uint32_t nodeid, uint32_t pid, uint32_t reason, void *arg)
{
	struct cluster *c = arg;
	struct peer *p = &c->peer;

	if (nodeid == cpg_link_nodeid(c->link))
		return;
	if (p->state == PEER_NONE || p->state == PEER_LEFT ||
	    p->nodeid != nodeid || p->pid != pid) {
		log_info("CPG member left: node id %u, pid %u, reason %s",
			 nodeid, pid, cpg_reason_name(reason));
		return;
	}
	p->state = PEER_LEFT;
	log_notice("peer left: node %s, node id %u, pid %u, reason %s",
		   p->health.name, nodeid, pid, cpg_reason_name(reason));
	cluster_update_self(c, ev_time());
}

/*
 * Returns the peer node's id: the heartbeat peer's once one has sent a
 * heartbeat, else the other node in Corosync's node list; 0 for none.
 */
static uint32_t
peer_nodeid(const struct cluster *c)
{
	const struct corosync_node *node;

	if (c->peer.state != PEER_NONE)
		return c->peer.nodeid;
	node = membership_peer(&c->members, cpg_link_nodeid(c->link));
	return node != NULL ? node->nodeid : 0;
}

/* Logs the peer node going online or offline in the ring. */
static void
note_peer_ring(struct cluster *c)
{
	uint32_t id = peer_nodeid(c);
	enum ring_state ring = membership_ring_state(&c->members, id);
	const struct corosync_node *node = membership_find(&c->members, id);

	if (id == 0 || ring == c->peer_ring)
		return;
	if (ring != RING_UNKNOWN)
		log_notice("peer node %s (node id %u) is %s in the corosync "
			   "membership",
			   node != NULL && node->name[0] != '\0' ? node->name
								 : "unknown",
			   id, ring_state_name(ring));
	c->peer_ring = ring;
}

static void
load_nodelist(struct cluster *c)
{
	char err[256];

	if (membership_load_nodelist(&c->members, err, sizeof(err)) == 0) {
		if (c->nodelist_error[0] != '\0')
			log_notice("corosync node list read again");
		c->nodelist_error[0] = '\0';
		return;
	}
	/* Log a new reason once; the status shows nodes by id meanwhile. */
	if (strcmp(err, c->nodelist_error) != 0)
		log_warning("reading the corosync node list failed: %s", err);
	snprintf(c->nodelist_error, sizeof(c->nodelist_error), "%s", err);
}

static void
on_ring(const uint32_t *nodeids, size_t n, void *arg)
{
	struct cluster *c = arg;

	/* The node list can change on a corosync reload; reread it. */
	load_nodelist(c);
	membership_set_ring(&c->members, nodeids, n);
	note_peer_ring(c);
}

static void
on_link_state(bool connected, void *arg)
{
	struct cluster *c = arg;

	if (!connected) {
		membership_clear_ring(&c->members);
		cluster_actions_link_down(c);
	}
	refresh_role(c, connected);
	if (connected && c->have_self)
		cluster_send_heartbeat(c, false);
}

static const struct cpg_link_ops link_ops = {
    .deliver = on_deliver,
    .joined = on_joined,
    .left = on_left,
    .state = on_link_state,
    .ring = on_ring,
};

/* The peer's generation from its heartbeats, 0 when none came. */
static uint64_t
heartbeat_peer_generation(const struct cluster *c)
{
	return c->peer.state != PEER_NONE ? c->peer.health.generation : 0;
}

bool
cluster_promotion(struct cluster *c, struct promotion *out)
{
	const struct repl_poll_result *r = &c->repl_last;
	struct repl_status status = r->status;

	/* A heartbeat counts as news of the peer, even at generation 0. */
	if (c->peer.state != PEER_NONE)
		status.peer_seen = true;
	promotion_decide(r->ok ? &status : NULL, c->serving,
			 node_health_ok(&c->self), heartbeat_peer_generation(c),
			 out);
	return r->ok;
}

/* Logs a replicator failure once per reason, and its recovery. */
static void
note_replicator(struct cluster *c)
{
	const struct repl_poll_result *r = &c->repl_last;

	if (!r->ok && strcmp(c->repl_error, r->error) != 0 && r->attempts > 1)
		log_warning("health check failed: replicator: %s", r->error);
	else if (r->ok && c->repl_error[0] != '\0')
		log_notice("health check passed again: replicator");
	if (r->ok || r->attempts > 1)
		snprintf(c->repl_error, sizeof(c->repl_error), "%s",
			 r->ok ? "" : r->error);
}

static void
repl_status_cb(void *arg)
{
	struct cluster *c = arg;
	enum repl_state before =
	    c->repl_last.ok ? c->repl_last.status.state : REPL_UNKNOWN;

	repl_poll_get(c->repl, &c->repl_last);
	note_replicator(c);
	if (c->repl_last.ok && c->repl_last.status.state != before)
		log_notice("replication state %s (was %s)",
			   repl_state_name(c->repl_last.status.state),
			   repl_state_name(before));
	update_replication(c);
	cluster_actions_status_done(c);
}

/* Fills the peer part of a report from the membership and heartbeats. */
static void
fill_peer(struct cluster *c, struct peer_status *p, double now)
{
	const struct corosync_node *node;

	p->nodeid = peer_nodeid(c);
	node = membership_find(&c->members, p->nodeid);
	p->name = node != NULL ? node->name : NULL;
	p->ring = membership_ring_state(&c->members, p->nodeid);
	p->hapost_running = cpg_link_node_in_group(c->link, p->nodeid);
	p->state = c->peer.state;
	p->health = c->peer.health;
	p->last_seen_age = now - c->peer.last_seen;
}

static void
fill_replication(struct cluster *c, struct replication_report *rr, double now)
{
	const struct repl_poll_result *r = &c->repl_last;

	memset(rr, 0, sizeof(*rr));
	rr->available = r->ok;
	rr->error = r->ok ? NULL : r->error;
	if (r->ok) {
		rr->status = r->status;
		/* The status is up to one interval old. */
		rr->status.since += now - r->at;
	} else {
		rr->status.generation = c->self.generation;
	}
	rr->configured_peer = c->cfg->replication_peer;
	rr->pid = repl_pid(c);
	cluster_promotion(c, &rr->promotion);
}

static enum health_state
render_status(enum control_command cmd, struct buf *body, void *arg)
{
	struct cluster *c = arg;
	struct status_report r;
	struct replication_report rr;
	double now = ev_time();
	pid_t qpid = qmgr_pid(c);

	memset(&r, 0, sizeof(r));
	peer_refresh(c, now);
	refresh_serving(c, now);
	if (c->replicated)
		cluster_read_generation(c);
	collect_listeners(c);
	update_replication(c);
	r.local.health = c->self;
	/* The queue manager may have died since the last tick. */
	r.local.health.qmgr_alive = qpid != 0;
	r.local.qmgr_pid = qpid;
	/* A probe may have finished since the last tick. */
	for (size_t i = 0; i < c->nprobes; i++) {
		struct listener_health *l = &r.local.health.listeners[i];

		l->healthy = listener_probe_result(c->probes[i],
						   &r.local.listener_error[i]);
		l->unchecked = !listener_probe_checked(c->probes[i]);
	}
	r.local.data_dir = c->cfg->data_dir;
	r.local.data_dir_error =
	    c->data_dir_error[0] != '\0' ? c->data_dir_error : NULL;
	r.local.checked_age = c->checked_at < 0 ? -1 : now - c->checked_at;
	fill_peer(c, &r.peer, now);
	r.cluster.connected = cpg_link_connected(c->link);
	r.cluster.reason = cpg_link_reason(c->link);
	r.cluster.group = c->cfg->cluster_group;
	r.cluster.nodeid = cpg_link_nodeid(c->link);
	r.cluster.members = cpg_link_members(c->link);
	r.cluster.nodes = cpg_link_nodes(c->link);
	if (c->replicated) {
		fill_replication(c, &rr, now);
		r.replication = &rr;
	}
	if (cmd == CONTROL_STATUS_JSON)
		report_json(&r, body);
	else
		report_text(&r, body);
	return node_health_state(&r.local.health);
}

static void
stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_info("stopping on signal %d", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

static void
hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	/* The master starts a new cluster process on reload. */
	log_debug("SIGHUP ignored");
}

static void
setup_watchers(struct cluster *c)
{
	/* cluster_update_self() already ran once: the first tick is one
	 * interval away. */
	ev_timer_init(&c->tick, tick_cb, interval(c), interval(c));
	c->tick.data = c;
	ev_timer_start(c->loop, &c->tick);
	ev_signal_init(&c->sig_term, stop_cb, SIGTERM);
	ev_signal_init(&c->sig_int, stop_cb, SIGINT);
	ev_signal_init(&c->sig_hup, hup_cb, SIGHUP);
	ev_signal_start(c->loop, &c->sig_term);
	ev_signal_start(c->loop, &c->sig_int);
	ev_signal_start(c->loop, &c->sig_hup);
}

int
cluster_main(struct cfg *cfg, const struct cluster_env *env)
{
	struct cluster c;
	char path[4096], err[512];

	memset(&c, 0, sizeof(c));
	c.cfg = cfg;
	c.env = env;
	c.checked_at = -1;
	c.started_at = ev_time();
	c.replicated = strcmp(cfg->storage_mode, "replicated") == 0;
	c.peer_ring = RING_UNKNOWN;
	buf_init(&c.msg);
	snprintf(c.self.name, sizeof(c.self.name), "%s", cfg->node_name);
	c.self.queue_oldest_age = -1;
	snprintf(c.repl_last.error, sizeof(c.repl_last.error),
		 "no status from the replicator yet");
	c.loop = ev_default_loop(EVFLAG_AUTO);
	if (c.loop == NULL)
		log_fatal("cannot create the event loop");
	ev_timer_init(&c.first_round, first_round_cb, 0., FIRST_ROUND_POLL);
	c.first_round.data = &c;
	cluster_actions_init(&c);

	snprintf(path, sizeof(path), "%s/%s", cfg->run_dir,
		 CONTROL_SOCKET_NAME);
	c.control = control_server_open(c.loop, path, render_status,
					cluster_action, &c, err, sizeof(err));
	if (c.control == NULL) {
		log_error("control socket not available: %s", err);
		return 1;
	}
	c.serving = master_serving(&c);
	if (c.serving)
		probes_create(&c);
	else
		c.listeners_checked = true;
	ev_timer_again(c.loop, &c.first_round);
	if (c.replicated) {
		c.repl = repl_poll_start(c.loop, cfg->run_dir, interval(&c),
					 repl_status_cb, &c, err, sizeof(err));
		if (c.repl == NULL)
			log_fatal("%s", err);
	}
	c.link = cpg_link_new(c.loop, cfg->cluster_group, &link_ops, &c);
	/* Fill self before the first client can ask for it. */
	cluster_update_self(&c, ev_time());
	setup_watchers(&c);
	log_info("started: node %s, group %s, %s storage, %zu listeners, "
		 "control socket %s",
		 c.self.name, cfg->cluster_group,
		 c.replicated ? "replicated" : "shared", c.nprobes, path);

	ev_run(c.loop, 0);

	cluster_actions_free(&c);
	repl_poll_stop(&c.repl);
	cpg_link_free(&c.link);
	control_server_close(&c.control);
	probes_free(&c);
	ev_timer_stop(c.loop, &c.first_round);
	buf_free(&c.msg);
	ev_loop_destroy(c.loop);
	return 0;
}
