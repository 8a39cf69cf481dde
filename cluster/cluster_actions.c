/*
 * cluster_actions - "promote", "demote" and "announce" on the control
 * socket
 *
 * Promote and demote (replicated mode only) write RUN_DIR/role with
 * write_file_atomic() and write one byte to the master's notify pipe
 * (the cluster process runs unprivileged and cannot signal the root
 * master). The master reads the file, carries the change out and
 * publishes the outcome in the shared page (cluster.h describes the
 * handshake); this side polls the page every ROLE_POLL seconds and
 * answers the client with the master's "+OK ..." or "-ERR ..." line, or
 * "-ERR timeout ..." after shutdown_timeout + ROLE_MARGIN seconds (a
 * demotion waits up to shutdown_timeout for sessions to end). One role
 * change runs at a time; another request meanwhile gets "-ERR busy".
 *
 * A plain "promote" first asks the replicator for a fresh status and
 * applies promotion_decide(): a node that is not promotable is refused
 * with the rule's reason, before anything changes. "promote force" skips
 * the check here and asks the replicator for "ROLE active force".
 *
 * "announce" rereads the generation, multicasts a heartbeat at once
 * (even before the first listener checks finish) and answers when CPG
 * delivers that heartbeat back to this process: CPG delivers in agreed
 * order, so every member of the membership has it by then.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cluster_int.h"
#include "cpg_link.h"
#include "fsutil.h"
#include "log.h"
#include "xalloc.h"

#define ROLE_POLL 0.05
/* Beyond shutdown_timeout: killing stragglers (2 s), the replicator's
 * ROLE request (5 s) and a fresh status (5 s), with a margin. */
#define ROLE_MARGIN 15.0
#define ANNOUNCE_TIMEOUT 2.0

static void
announce_free(struct cluster *c, struct announce *a)
{
	struct announce **pp;

	for (pp = &c->announces; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	}
	ev_timer_stop(c->loop, &a->timeout);
	free(a);
}

static void
announce_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct announce *a = w->data;
	struct cluster *c = a->c;

	log_warning("announce of generation %" PRIu64 " timed out after "
		    "%.0f s",
		    c->self.generation, ANNOUNCE_TIMEOUT);
	control_reply(c->control, a->id, "-ERR timeout");
	announce_free(c, a);
}

static double
announce_start(struct cluster *c, uint64_t id)
{
	struct announce *a;
	uint64_t seq;

	if (!cpg_link_connected(c->link)) {
		control_reply(c->control, id, "-ERR cluster unavailable");
		return 0;
	}
	cluster_read_generation(c);
	seq = cluster_send_heartbeat(c, true);
	if (seq == 0) {
		control_reply(c->control, id,
			      "-ERR cluster unavailable: sending the "
			      "heartbeat failed");
		return 0;
	}
	a = xcalloc(1, sizeof(*a));
	a->id = id;
	a->seq = seq;
	a->c = c;
	ev_timer_init(&a->timeout, announce_timeout_cb, ANNOUNCE_TIMEOUT, 0.);
	a->timeout.data = a;
	ev_timer_start(c->loop, &a->timeout);
	a->next = c->announces;
	c->announces = a;
	return ANNOUNCE_TIMEOUT;
}

void
cluster_actions_delivered(struct cluster *c, uint64_t seq)
{
	struct announce *a = c->announces, *next;

	for (; a != NULL; a = next) {
		next = a->next;
		if (a->seq > seq)
			continue;
		log_info("generation %" PRIu64 " announced",
			 c->self.generation);
		control_reply(c->control, a->id, "+OK announced");
		announce_free(c, a);
	}
}

void
cluster_actions_link_down(struct cluster *c)
{
	while (c->announces != NULL) {
		control_reply(c->control, c->announces->id,
			      "-ERR cluster unavailable");
		announce_free(c, c->announces);
	}
}

static bool
want_active(const struct role_change *rc)
{
	return rc->cmd != CONTROL_DEMOTE;
}

static void
role_finish(struct cluster *c, const char *line)
{
	struct role_change *rc = &c->role_change;

	if (line[0] == '+')
		log_notice("%s: %s", control_command_name(rc->cmd), line + 1);
	else
		log_warning("%s failed: %s", control_command_name(rc->cmd),
			    line + 1);
	control_reply(c->control, rc->id, line);
	ev_timer_stop(c->loop, &rc->poll);
	rc->id = 0;
	/* Follow the new role now rather than at the next tick. */
	cluster_update_self(c, ev_time());
}

static void
role_poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct cluster *c = w->data;
	struct role_change *rc = &c->role_change;
	const struct cluster_shared *sh = c->env->shared;
	char result[CLUSTER_ROLE_RESULT_MAX];

	if (rc->sent &&
	    __atomic_load_n(&sh->role_seq, __ATOMIC_ACQUIRE) != rc->seq &&
	    !__atomic_load_n(&sh->role_busy, __ATOMIC_ACQUIRE)) {
		memcpy(result, sh->role_result, sizeof(result));
		result[sizeof(result) - 1] = '\0';
		if (strncmp(result, "+OK", 3) != 0 &&
		    strncmp(result, "-ERR", 4) != 0)
			snprintf(result, sizeof(result),
				 "-ERR invalid result from the master");
		role_finish(c, result);
		return;
	}
	if (ev_time() >= rc->deadline) {
		snprintf(result, sizeof(result),
			 rc->sent ? "-ERR timeout: the master did not finish "
				    "the role change within %.0f s"
				  : "-ERR timeout: no status from the "
				    "replicator within %.0f s",
			 c->cfg->shutdown_timeout + ROLE_MARGIN);
		role_finish(c, result);
	}
}

/* Writes RUN_DIR/role and wakes the master. */
static void
role_send(struct cluster *c)
{
	struct role_change *rc = &c->role_change;
	const char *text = rc->cmd == CONTROL_DEMOTE	      ? "standby\n"
			   : rc->cmd == CONTROL_PROMOTE_FORCE ? "active force\n"
							      : "active\n";
	char path[4096], line[CLUSTER_ROLE_RESULT_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", c->cfg->run_dir,
		 CLUSTER_ROLE_FILE);
	rc->seq = __atomic_load_n(&c->env->shared->role_seq, __ATOMIC_ACQUIRE);
	if (write_file_atomic(path, text, strlen(text), 0644) < 0) {
		snprintf(line, sizeof(line), "-ERR writing %.200s failed: %s",
			 path, strerror(errno));
		role_finish(c, line);
		return;
	}
	/* A full pipe already holds a wake-up; the master rereads the
	 * file anyway. */
	if (write(c->env->notify_fd, "r", 1) < 0 && errno != EAGAIN) {
		snprintf(line, sizeof(line),
			 "-ERR notifying the master failed: %s",
			 strerror(errno));
		role_finish(c, line);
		return;
	}
	rc->sent = true;
}

/* Applies the promotion rule once a fresh status arrived. */
static void
role_check_promotable(struct cluster *c)
{
	struct promotion p;
	char line[CLUSTER_ROLE_RESULT_MAX + 64];

	if (!cluster_promotion(c, &p)) {
		snprintf(line, sizeof(line), "-ERR %.100s: %.180s", p.reason,
			 c->repl_last.error);
		role_finish(c, line);
		return;
	}
	if (!p.promotable) {
		snprintf(line, sizeof(line),
			 "-ERR not promotable: %s; \"promote force\" "
			 "overrides this",
			 p.reason);
		role_finish(c, line);
		return;
	}
	role_send(c);
}

void
cluster_actions_status_done(struct cluster *c)
{
	struct role_change *rc = &c->role_change;

	if (rc->id == 0 || !rc->needs_status ||
	    c->repl_last.attempts <= rc->status_after)
		return;
	rc->needs_status = false;
	role_check_promotable(c);
}

static double
role_start(struct cluster *c, enum control_command cmd, uint64_t id)
{
	struct role_change *rc = &c->role_change;
	const struct cluster_shared *sh = c->env->shared;
	double bound = c->cfg->shutdown_timeout + ROLE_MARGIN;
	bool serving;

	if (!c->replicated) {
		control_reply(c->control, id,
			      "-ERR storage_mode is shared: this node is "
			      "always active while hapostd runs");
		return 0;
	}
	if (rc->id != 0) {
		control_reply(c->control, id,
			      "-ERR busy: another role change is in progress");
		return 0;
	}
	rc->id = id;
	rc->cmd = cmd;
	rc->needs_status = false;
	rc->sent = false;
	rc->deadline = ev_time() + bound;
	ev_timer_again(c->loop, &rc->poll);
	log_notice("control request: %s", control_command_name(cmd));
	serving = __atomic_load_n(&sh->serving, __ATOMIC_ACQUIRE) != 0;
	if (!__atomic_load_n(&sh->role_busy, __ATOMIC_ACQUIRE) &&
	    serving == want_active(rc)) {
		role_finish(c, serving ? "+OK already active"
				       : "+OK already standby");
		return 0;
	}
	if (cmd == CONTROL_PROMOTE) {
		rc->needs_status = true;
		rc->status_after = c->repl_last.attempts;
		repl_poll_now(c->repl);
		return bound;
	}
	role_send(c);
	return bound;
}

double
cluster_action(enum control_command cmd, uint64_t id, void *arg)
{
	struct cluster *c = arg;

	switch (cmd) {
	case CONTROL_ANNOUNCE:
		return announce_start(c, id);
	case CONTROL_PROMOTE:
	case CONTROL_PROMOTE_FORCE:
	case CONTROL_DEMOTE:
		return role_start(c, cmd, id);
	default:
		control_reply(c->control, id, "-ERR not an action");
		return 0;
	}
}

void
cluster_actions_init(struct cluster *c)
{
	ev_init(&c->role_change.poll, role_poll_cb);
	c->role_change.poll.repeat = ROLE_POLL;
	c->role_change.poll.data = c;
}

void
cluster_actions_free(struct cluster *c)
{
	struct role_change *rc = &c->role_change;

	cluster_actions_link_down(c);
	if (rc->id != 0) {
		control_reply(c->control, rc->id,
			      "-ERR the cluster process is stopping");
		rc->id = 0;
	}
	ev_timer_stop(c->loop, &rc->poll);
}
