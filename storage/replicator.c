/*
 * replicator - the replication process: start, roles, admin requests
 *
 * One single-threaded libev loop runs everything: the local socket
 * (repl_clients.c), the peer listener and the standby's apply
 * (repl_standby.c), the active's link and group commit (repl_active.c),
 * the catch-up (repl_catchup.c) and the durable node state
 * (repl_state.c). Work that blocks (reading a file for a commit,
 * building a manifest, a sync on the standby) runs on the loop too; on
 * a standby nothing else waits for it, and on the active a commit's
 * own file read is part of that commit's cost.
 *
 * Roles: the process starts as standby. "ROLE active" is rejected while
 * this node's data is not complete (complete=0) unless "force" is
 * given; it drops the link from the old active, records the data as
 * complete, bumps the generation (there is no in-sync peer at that
 * moment), and starts to connect to replication_peer. "ROLE standby"
 * drops the link to the peer and rejects what is still waiting.
 */
#include "config.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "repl_local.h"
#include "replicator.h"
#include "replicator_int.h"

#define TICK_INTERVAL 0.2

double
rp_now(struct replicator *rp)
{
	return repl_local_now();
}

const char *
rp_state_name(enum rp_state state)
{
	switch (state) {
	case STATE_DISCONNECTED:
		return "disconnected";
	case STATE_DEGRADED:
		return "degraded";
	case STATE_CATCHING_UP:
		return "catching-up";
	case STATE_IN_SYNC:
		return "in-sync";
	}
	return "?";
}

void
rp_set_state(struct replicator *rp, enum rp_state state)
{
	if (rp->state == state)
		return;
	log_info("replication state: %s -> %s", rp_state_name(rp->state),
		 rp_state_name(state));
	rp->state = state;
	rp->state_since = rp_now(rp);
}

void
rp_send_hello(struct replicator *rp, struct repl_link *l)
{
	char text[128];
	int n;

	n = snprintf(text, sizeof(text), HELLO_MAGIC " %s %" PRIu64 " %d",
		     rp->role == ROLE_ACTIVE ? "active" : "standby",
		     rp->generation, rp->complete ? 1 : 0);
	repl_link_send(l, PEER_HELLO, text, (size_t)n);
}

int
rp_parse_hello(const void *body, size_t len, enum rp_role *role,
	       uint64_t *generation, bool *complete)
{
	char text[128], word[16];
	unsigned long long gen;
	int flag, used = 0;

	if (len >= sizeof(text) || len <= strlen(HELLO_MAGIC) ||
	    memcmp(body, HELLO_MAGIC " ", strlen(HELLO_MAGIC) + 1) != 0)
		return -1;
	memcpy(text, body, len);
	text[len] = '\0';
	if (sscanf(text + strlen(HELLO_MAGIC), " %15s %llu %d%n", word, &gen,
		   &flag, &used) != 3 ||
	    text[strlen(HELLO_MAGIC) + (size_t)used] != '\0' ||
	    (flag != 0 && flag != 1))
		return -1;
	if (strcmp(word, "active") == 0)
		*role = ROLE_ACTIVE;
	else if (strcmp(word, "standby") == 0)
		*role = ROLE_STANDBY;
	else
		return -1;
	*generation = gen;
	*complete = flag == 1;
	return 0;
}

void
rp_all_done(struct replicator *rp)
{
	rp_catchup_all_done(rp);
}

static void
append_status(struct replicator *rp, struct buf *out)
{
	double now = rp_now(rp), lag = 0;
	const char *peer;

	if (rp->inflight.head != NULL)
		lag = now - rp->inflight.head->committed_at;
	if (rp->role == ROLE_ACTIVE || rp->link == NULL)
		peer = rp->cfg->replication_peer;
	else
		peer = rp->peer_name;
	buf_printf(out, "role=%s\n",
		   rp->role == ROLE_ACTIVE ? "active" : "standby");
	buf_printf(out, "state=%s\n", rp_state_name(rp->state));
	buf_printf(out, "connected=%d\n",
		   rp->link != NULL && rp->link_ready ? 1 : 0);
	buf_printf(out, "peer=%s\n", peer != NULL ? peer : "");
	buf_printf(out, "generation=%" PRIu64 "\n", rp->generation);
	buf_printf(out, "peer_generation=%" PRIu64 "\n", rp->peer_generation);
	buf_printf(out, "complete=%d\n", rp->complete ? 1 : 0);
	buf_printf(out, "peer_seen=%d\n", rp->peer_seen ? 1 : 0);
	buf_printf(out, "lag_changes=%zu\n", rp->inflight.n);
	buf_printf(out, "lag_seconds=%.3f\n", lag);
	buf_printf(out, "waiting_commits=%zu\n", rp->pending.n + rp->held.n);
	buf_printf(out, "catch_up_phase=%s\n", rp_catchup_phase(rp));
	buf_printf(out, "catch_up_files_total=%" PRIu64 "\n",
		   rp->cu_files_total);
	buf_printf(out, "catch_up_files_done=%" PRIu64 "\n", rp->cu_files_done);
	buf_printf(out, "catch_up_bytes=%" PRIu64 "\n", rp->cu_bytes);
	buf_printf(out, "catch_up_deltas=%" PRIu64 "\n", rp->cu_deltas);
	buf_printf(out, "syncs=%" PRIu64 "\n", rp->syncs);
	buf_printf(out, "commits=%" PRIu64 "\n", rp->commits);
	buf_printf(out, "since=%.3f\n", now - rp->state_since);
	buf_printf(out, "last_error=%s\n", rp->last_error);
}

static void
become_active(struct replicator *rp, bool force, struct buf *reply)
{
	if (rp->role == ROLE_ACTIVE) {
		buf_puts(reply, "ok");
		return;
	}
	if (!rp->complete && !force) {
		buf_printf(reply,
			   "error the data of this node is not complete at "
			   "generation %" PRIu64
			   ": use ROLE active force to promote it anyway",
			   rp->generation);
		return;
	}
	rp_standby_drop(rp, "this node becomes active");
	repl_apply_reset(rp->apply);
	if (!rp->complete && rp_write_complete(rp, true) < 0) {
		buf_printf(reply, "error %s", rp->last_error);
		return;
	}
	rp->bumped = false;
	rp->peer_generation = 0;
	rp_active_start(rp);
	if (rp_bump_generation(rp, "promoted without an in-sync peer") < 0) {
		rp_active_stop(rp, "this node is not active");
		rp->role = ROLE_STANDBY;
		rp_set_state(rp, STATE_DISCONNECTED);
		buf_printf(reply, "error %s", rp->last_error);
		return;
	}
	log_notice("role: active at generation %" PRIu64 "%s", rp->generation,
		   force ? " (forced)" : "");
	buf_puts(reply, "ok");
}

static void
become_standby(struct replicator *rp, struct buf *reply)
{
	if (rp->role == ROLE_STANDBY) {
		buf_puts(reply, "ok");
		return;
	}
	rp_active_stop(rp, "this node is not active");
	rp->role = ROLE_STANDBY;
	rp->peer_generation = 0;
	rp_set_state(rp, STATE_DISCONNECTED);
	log_notice("role: standby at generation %" PRIu64, rp->generation);
	buf_puts(reply, "ok");
}

void
rp_admin(struct replicator *rp, const char *request, struct buf *reply)
{
	if (strcasecmp(request, "STATUS") == 0)
		append_status(rp, reply);
	else if (strcasecmp(request, "ROLE active") == 0)
		become_active(rp, false, reply);
	else if (strcasecmp(request, "ROLE active force") == 0)
		become_active(rp, true, reply);
	else if (strcasecmp(request, "ROLE standby") == 0)
		become_standby(rp, reply);
	else
		buf_puts(reply, "error unknown request: use STATUS, ROLE "
				"active [force] or ROLE standby");
}

static void
tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct replicator *rp = w->data;
	double now = rp_now(rp);

	if (rp->role == ROLE_ACTIVE)
		rp_active_tick(rp, now);
	else
		rp_standby_tick(rp, now);
}

static void
stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	log_notice("stopping on signal %d", w->signum);
	ev_break(loop, EVBREAK_ALL);
}

static int
setup(struct replicator *rp, char *err, size_t errlen)
{
	char reason[300];

	if (rp_state_load(rp, err, errlen) < 0)
		return -1;
	if (cfg_parse_addr(rp->cfg->replication_peer, &rp->peer_addr, reason,
			   sizeof(reason)) < 0) {
		snprintf(err, errlen, "replication_peer: %s", reason);
		return -1;
	}
	snprintf(rp->peer_name, sizeof(rp->peer_name), "%s",
		 rp->cfg->replication_peer);
	rp->client_ctx = repl_link_ctx_new(rp->cfg->replication_key_file, false,
					   err, errlen);
	if (rp->client_ctx == NULL)
		return -1;
	rp->server_ctx =
	    repl_link_ctx_new(rp->cfg->replication_key_file, true, err, errlen);
	if (rp->server_ctx == NULL)
		return -1;
	rp->apply = repl_apply_new(rp->cfg->data_dir, true);
	if (rp->apply == NULL) {
		snprintf(err, errlen, "cannot open %s for applying changes",
			 rp->cfg->data_dir);
		return -1;
	}
	repl_apply_reset(rp->apply);
	if (rp_listen_open(rp, err, errlen) < 0)
		return -1;
	return rp_clients_open(rp, err, errlen);
}

static void
teardown(struct replicator *rp)
{
	if (rp->role == ROLE_ACTIVE)
		rp_active_stop(rp, "the replicator stops");
	rp_standby_drop(rp, "the replicator stops");
	rp_listen_close(rp);
	rp_clients_close(rp);
	if (rp->apply != NULL)
		repl_apply_free(rp->apply);
	repl_link_ctx_free(rp->client_ctx);
	repl_link_ctx_free(rp->server_ctx);
	free(rp->peer_addr.text);
}

int
replicator_main(struct cfg *cfg)
{
	struct replicator rp;
	char err[512];
	int ret = 0;

	memset(&rp, 0, sizeof(rp));
	rp.cfg = cfg;
	rp.local_fd = -1;
	rp.listen_fd = -1;
	rp.role = ROLE_STANDBY;
	rp.state = STATE_DISCONNECTED;
	rp.state_since = rp_now(&rp);
	signal(SIGPIPE, SIG_IGN);
	rp.loop = ev_default_loop(EVFLAG_AUTO);
	if (rp.loop == NULL)
		log_fatal("cannot create the event loop");
	if (setup(&rp, err, sizeof(err)) < 0) {
		log_error("replicator not started: %s", err);
		ret = 1;
		goto out;
	}
	ev_timer_init(&rp.watchdog, tick_cb, TICK_INTERVAL, TICK_INTERVAL);
	rp.watchdog.data = &rp;
	ev_timer_start(rp.loop, &rp.watchdog);
	ev_signal_init(&rp.sig_term, stop_cb, SIGTERM);
	ev_signal_init(&rp.sig_int, stop_cb, SIGINT);
	ev_signal_start(rp.loop, &rp.sig_term);
	ev_signal_start(rp.loop, &rp.sig_int);
	log_notice("started: standby, generation %" PRIu64 ", %s, listening "
		   "on %s, peer %s",
		   rp.generation, rp.complete ? "complete" : "incomplete",
		   cfg->replication_listen.v[0].text, cfg->replication_peer);
	ev_run(rp.loop, 0);
	ev_timer_stop(rp.loop, &rp.watchdog);
out:
	teardown(&rp);
	return ret;
}
