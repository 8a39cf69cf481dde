/*
 * report - renders a status_report as a text page or a JSON object
 *
 * Nothing here fails: the buffers grow with the x* allocators. Text
 * fields that come from the peer were checked by heartbeat_decode();
 * local text (paths, error strings) is escaped for JSON and printed as it
 * is in the text page, which only goes to an administrator's terminal.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

const char *
peer_state_name(enum peer_state state)
{
	switch (state) {
	case PEER_ALIVE:
		return "alive";
	case PEER_STALE:
		return "stale";
	case PEER_LEFT:
		return "left";
	default:
		return "none";
	}
}

/* Returns the length of the valid UTF-8 sequence at s, or 0. */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and values past U+10FFFF. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

void
json_put_string(struct buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	buf_putc(out, '"');
	while (*p != '\0') {
		size_t n;

		switch (*p) {
		case '"':
			buf_puts(out, "\\\"");
			p++;
			continue;
		case '\\':
			buf_puts(out, "\\\\");
			p++;
			continue;
		case '\n':
			buf_puts(out, "\\n");
			p++;
			continue;
		case '\r':
			buf_puts(out, "\\r");
			p++;
			continue;
		case '\t':
			buf_puts(out, "\\t");
			p++;
			continue;
		}
		if (*p < 0x20 || *p == 0x7f) {
			buf_printf(out, "\\u%04x", *p);
			p++;
			continue;
		}
		n = utf8_len(p);
		if (n == 0) {
			buf_puts(out, "\\ufffd");
			p++;
			continue;
		}
		buf_append(out, p, n);
		p += n;
	}
	buf_putc(out, '"');
}

static void
json_key(struct buf *out, const char *key)
{
	json_put_string(out, key);
	buf_putc(out, ':');
}

static void
json_bool(struct buf *out, const char *key, bool v)
{
	json_key(out, key);
	buf_puts(out, v ? "true" : "false");
}

/* A health_state as true, false or null (not checked yet). */
static void
json_health(struct buf *out, const char *key, enum health_state v)
{
	json_key(out, key);
	if (v == HEALTH_UNCHECKED)
		buf_puts(out, "null");
	else
		buf_puts(out, v == HEALTH_OK ? "true" : "false");
}

static void
json_str_or_null(struct buf *out, const char *key, const char *v)
{
	json_key(out, key);
	if (v == NULL)
		buf_puts(out, "null");
	else
		json_put_string(out, v);
}

static void
json_queue(struct buf *out, const struct node_health *h)
{
	json_key(out, "queue");
	buf_printf(out, "{\"size\":%" PRIu64 ",\"oldest_age\":", h->queue_size);
	if (h->queue_oldest_age < 0)
		buf_puts(out, "null}");
	else
		buf_printf(out, "%" PRId64 "}", h->queue_oldest_age);
}

/* The listener array; errors is NULL for the peer, whose reasons stay
 * on the peer. */
static void
json_listeners(struct buf *out, const struct node_health *h,
	       const char *const *errors)
{
	json_key(out, "listeners");
	buf_putc(out, '[');
	for (size_t i = 0; i < h->nlisteners; i++) {
		const struct listener_health *l = &h->listeners[i];

		if (i > 0)
			buf_putc(out, ',');
		buf_putc(out, '{');
		json_key(out, "service");
		json_put_string(out, l->service);
		buf_putc(out, ',');
		json_key(out, "address");
		json_put_string(out, l->address);
		buf_putc(out, ',');
		if (l->unchecked)
			json_health(out, "healthy", HEALTH_UNCHECKED);
		else
			json_bool(out, "healthy", l->healthy);
		if (errors != NULL) {
			buf_putc(out, ',');
			json_str_or_null(out, "error",
					 l->unchecked ? NULL : errors[i]);
		}
		buf_putc(out, '}');
	}
	buf_putc(out, ']');
}

/* The peer's name: from its heartbeat when one arrived, else corosync's. */
static const char *
peer_name(const struct peer_status *p)
{
	if (p->state != PEER_NONE)
		return p->health.name;
	if (p->name != NULL && p->name[0] != '\0')
		return p->name;
	return NULL;
}

/* The members of a peer that has sent no heartbeat yet. */
static void
json_peer_no_heartbeat(struct buf *out)
{
	buf_puts(out, "\"last_seen_age\":null,\"role\":null,"
		      "\"healthy\":null,\"generation\":null,"
		      "\"data_dir_writable\":null,\"qmgr_alive\":null,"
		      "\"time_ms\":null,\"queue\":null,\"listeners\":[],"
		      "\"replication_state\":null,\"complete\":null}");
}

static void
json_peer(struct buf *out, const struct peer_status *p)
{
	const struct node_health *h = &p->health;

	json_key(out, "peer");
	if (p->nodeid == 0 && p->state == PEER_NONE) {
		buf_puts(out, "null");
		return;
	}
	buf_putc(out, '{');
	json_str_or_null(out, "node", peer_name(p));
	buf_printf(out, ",\"nodeid\":%" PRIu32 ",", p->nodeid);
	json_str_or_null(out, "ring",
			 p->ring == RING_UNKNOWN ? NULL
						 : ring_state_name(p->ring));
	buf_putc(out, ',');
	json_key(out, "hapost_running");
	if (p->ring == RING_UNKNOWN)
		buf_puts(out, "null");
	else
		buf_puts(out, p->hapost_running ? "true" : "false");
	buf_putc(out, ',');
	json_key(out, "state");
	json_put_string(out, peer_state_name(p->state));
	buf_putc(out, ',');
	if (p->state == PEER_NONE) {
		json_peer_no_heartbeat(out);
		return;
	}
	buf_printf(out, "\"last_seen_age\":%.1f,", p->last_seen_age);
	json_key(out, "role");
	json_put_string(out, node_role_name(h->role));
	buf_putc(out, ',');
	json_bool(out, "healthy", node_health_ok(h));
	buf_printf(out, ",\"generation\":%" PRIu64 ",", h->generation);
	json_bool(out, "data_dir_writable", h->data_dir_writable);
	buf_putc(out, ',');
	json_bool(out, "qmgr_alive", h->qmgr_alive);
	buf_printf(out, ",\"time_ms\":%" PRId64 ",", h->time_ms);
	json_queue(out, h);
	buf_putc(out, ',');
	json_listeners(out, h, NULL);
	buf_putc(out, ',');
	if (h->replicated) {
		json_key(out, "replication_state");
		json_put_string(out, repl_state_name(h->repl_state));
		buf_putc(out, ',');
		json_bool(out, "complete", h->complete);
	} else {
		buf_puts(out, "\"replication_state\":null,\"complete\":null");
	}
	buf_putc(out, '}');
}

static void
json_cluster(struct buf *out, const struct cluster_status *c)
{
	json_key(out, "cluster");
	buf_putc(out, '{');
	json_bool(out, "connected", c->connected);
	buf_putc(out, ',');
	json_str_or_null(out, "reason", c->connected ? NULL : c->reason);
	buf_putc(out, ',');
	json_str_or_null(out, "group", c->group);
	buf_puts(out, ",\"nodeid\":");
	if (c->nodeid == 0)
		buf_puts(out, "null");
	else
		buf_printf(out, "%" PRIu32, c->nodeid);
	buf_printf(out, ",\"members\":%u,\"nodes\":%u}", c->members, c->nodes);
}

static void
json_u64_or_null(struct buf *out, const char *key, bool known, uint64_t v)
{
	json_key(out, key);
	if (known)
		buf_printf(out, "%" PRIu64, v);
	else
		buf_puts(out, "null");
}

static void
json_seconds_or_null(struct buf *out, const char *key, bool known, double v)
{
	json_key(out, key);
	if (known)
		buf_printf(out, "%.1f", v);
	else
		buf_puts(out, "null");
}

static void
json_replication(struct buf *out, const struct replication_report *rr)
{
	const struct repl_status *st = &rr->status;
	const struct promotion *pr = &rr->promotion;
	bool ok = rr->available;

	json_key(out, "replication");
	buf_putc(out, '{');
	json_key(out, "state");
	json_put_string(out, repl_state_name(ok ? st->state : REPL_UNKNOWN));
	buf_putc(out, ',');
	json_str_or_null(out, "role",
			 !ok	      ? NULL
			 : st->active ? "active"
				      : "standby");
	buf_putc(out, ',');
	json_bool(out, "connected", ok && st->connected);
	buf_putc(out, ',');
	json_str_or_null(out, "peer",
			 ok && st->peer[0] != '\0' ? st->peer
						   : rr->configured_peer);
	buf_putc(out, ',');
	json_u64_or_null(out, "lag_changes", ok, st->lag_changes);
	buf_putc(out, ',');
	json_seconds_or_null(out, "lag_seconds", ok, st->lag_seconds);
	buf_printf(out, ",\"generation\":%" PRIu64, st->generation);
	buf_printf(out, ",\"peer_generation\":%" PRIu64 ",",
		   pr->peer_generation);
	json_bool(out, "complete", ok && st->complete);
	buf_putc(out, ',');
	json_bool(out, "promotable", pr->promotable);
	buf_printf(out, ",\"promotion_score\":%u,", pr->score);
	json_str_or_null(out, "promotion_reason",
			 pr->reason[0] != '\0' ? pr->reason : NULL);
	buf_putc(out, ',');
	json_key(out, "catch_up");
	if (ok)
		buf_printf(out,
			   "{\"files_total\":%" PRIu64
			   ",\"files_done\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
			   st->catch_up_files_total, st->catch_up_files_done,
			   st->catch_up_bytes);
	else
		buf_puts(out, "null");
	buf_putc(out, ',');
	json_seconds_or_null(out, "since", ok, st->since);
	buf_putc(out, ',');
	json_str_or_null(out, "last_error",
			 !ok			     ? rr->error
			 : st->last_error[0] != '\0' ? st->last_error
						     : NULL);
	buf_puts(out, ",\"replicator_pid\":");
	if (rr->pid > 0)
		buf_printf(out, "%ld}", rr->pid);
	else
		buf_puts(out, "null}");
}

void
report_json(const struct status_report *r, struct buf *out)
{
	const struct local_status *l = &r->local;
	const struct node_health *h = &l->health;

	buf_reset(out);
	buf_putc(out, '{');
	json_key(out, "node");
	json_put_string(out, h->name);
	buf_putc(out, ',');
	json_key(out, "role");
	json_put_string(out, node_role_name(h->role));
	buf_putc(out, ',');
	json_health(out, "healthy", node_health_state(h));
	buf_printf(out, ",\"generation\":%" PRIu64 ",", h->generation);
	json_str_or_null(out, "data_dir", l->data_dir);
	buf_putc(out, ',');
	json_bool(out, "data_dir_writable", h->data_dir_writable);
	buf_putc(out, ',');
	json_str_or_null(out, "data_dir_error", l->data_dir_error);
	buf_putc(out, ',');
	json_bool(out, "qmgr_alive", h->qmgr_alive);
	buf_puts(out, ",\"qmgr_pid\":");
	if (l->qmgr_pid > 0)
		buf_printf(out, "%ld", l->qmgr_pid);
	else
		buf_puts(out, "null");
	buf_puts(out, ",\"checked_age\":");
	if (l->checked_age < 0)
		buf_puts(out, "null");
	else
		buf_printf(out, "%.1f", l->checked_age);
	buf_putc(out, ',');
	json_listeners(out, h, l->listener_error);
	buf_putc(out, ',');
	json_queue(out, h);
	buf_putc(out, ',');
	json_peer(out, &r->peer);
	buf_putc(out, ',');
	json_cluster(out, &r->cluster);
	buf_putc(out, ',');
	if (r->replication != NULL)
		json_replication(out, r->replication);
	else
		buf_puts(out, "\"replication\":null");
	buf_puts(out, "}\n");
}

static void
text_queue(struct buf *out, const struct node_health *h)
{
	buf_printf(out, "  queue:          %" PRIu64 " messages",
		   h->queue_size);
	if (h->queue_oldest_age >= 0)
		buf_printf(out, ", oldest %" PRId64 " s", h->queue_oldest_age);
	buf_putc(out, '\n');
}

static void
text_listeners(struct buf *out, const struct node_health *h,
	       const char *const *errors)
{
	if (h->nlisteners == 0 && h->replicated && h->role == ROLE_STANDBY)
		buf_puts(out, "  listeners:      none (standby)\n");
	else if (h->nlisteners == 0)
		buf_puts(out, "  listeners:      none\n");
	for (size_t i = 0; i < h->nlisteners; i++) {
		const struct listener_health *l = &h->listeners[i];

		buf_printf(out, "  %-15s %-10s %-24s %s",
			   i == 0 ? "listeners:" : "", l->service, l->address,
			   l->unchecked ? "not checked yet"
			   : l->healthy ? "ok"
					: "FAILED");
		if (!l->unchecked && !l->healthy && errors != NULL &&
		    errors[i] != NULL)
			buf_printf(out, " (%s)", errors[i]);
		buf_putc(out, '\n');
	}
}

static const char *
health_text(enum health_state state)
{
	switch (state) {
	case HEALTH_OK:
		return "healthy";
	case HEALTH_UNCHECKED:
		return "not checked yet";
	default:
		return "UNHEALTHY";
	}
}

/* The "hapost:" line: whether the peer runs hapostd and its heartbeats. */
static void
text_peer_hapost(struct buf *out, const struct peer_status *p)
{
	buf_puts(out, "  hapost:         ");
	if (p->state == PEER_ALIVE)
		buf_printf(out, "running, last heartbeat %.1f s ago\n",
			   p->last_seen_age);
	else if (p->state == PEER_STALE)
		buf_printf(out, "heartbeats STALE, last one %.1f s ago\n",
			   p->last_seen_age);
	else if (p->ring == RING_ONLINE && p->hapost_running)
		buf_puts(out, "running, no heartbeat yet\n");
	else if (p->ring == RING_ONLINE)
		buf_puts(out, "no hapost running (standby)\n");
	else if (p->ring == RING_OFFLINE)
		buf_puts(out, "not running (node offline)\n");
	else
		buf_puts(out, "unknown (cluster unavailable)\n");
}

static void
text_peer(struct buf *out, const struct peer_status *p)
{
	const struct node_health *h = &p->health;
	const char *name = peer_name(p);

	buf_puts(out, "Peer\n");
	if (p->nodeid == 0 && p->state == PEER_NONE) {
		buf_puts(out, "  none seen\n");
		return;
	}
	buf_printf(out, "  name:           %s (node id %" PRIu32 ")\n",
		   name != NULL ? name : "unknown", p->nodeid);
	buf_printf(out, "  ring:           %s\n",
		   p->ring == RING_UNKNOWN ? "unknown (cluster unavailable)"
					   : ring_state_name(p->ring));
	text_peer_hapost(out, p);
	/* Heartbeat details only while heartbeats arrive or just stopped. */
	if (p->state != PEER_ALIVE && p->state != PEER_STALE)
		return;
	buf_printf(out, "  role:           %s\n", node_role_name(h->role));
	buf_printf(out, "  health:         %s\n",
		   health_text(node_health_state(h)));
	buf_printf(out, "  generation:     %" PRIu64 "\n", h->generation);
	text_listeners(out, h, NULL);
	buf_printf(out, "  data_dir:       %s\n",
		   h->data_dir_writable ? "writable" : "NOT WRITABLE");
	buf_printf(out, "  queue manager:  %s\n",
		   h->qmgr_alive			      ? "running"
		   : h->replicated && h->role == ROLE_STANDBY ? "none (standby)"
							      : "NOT RUNNING");
	text_queue(out, h);
	if (h->replicated)
		buf_printf(out, "  replication:    %s, %s\n",
			   repl_state_name(h->repl_state),
			   h->complete ? "complete" : "not complete");
}

static void
text_replication(struct buf *out, const struct replication_report *rr)
{
	const struct repl_status *st = &rr->status;
	const struct promotion *pr = &rr->promotion;

	buf_puts(out, "Replication\n");
	if (!rr->available) {
		buf_printf(out, "  state:          UNKNOWN (%s)\n", rr->error);
		buf_printf(out, "  replicator:     %s\n",
			   rr->pid > 0 ? "running" : "NOT RUNNING");
		buf_printf(out, "  generation:     %" PRIu64 "\n",
			   st->generation);
	} else {
		buf_printf(out, "  state:          %s for %.1f s\n",
			   repl_state_name(st->state), st->since);
		buf_printf(out, "  role:           %s\n",
			   st->active ? "active" : "standby");
		buf_printf(out, "  peer:           %s, %s\n",
			   st->peer[0] != '\0' ? st->peer : "none",
			   st->connected ? "connected" : "NOT CONNECTED");
		buf_printf(out,
			   "  generation:     %" PRIu64 " (peer %" PRIu64
			   "), %s\n",
			   st->generation, pr->peer_generation,
			   st->complete ? "complete" : "NOT complete");
		buf_printf(out,
			   "  lag:            %" PRIu64 " changes, %.1f s\n",
			   st->lag_changes, st->lag_seconds);
		if (st->state == REPL_CATCHING_UP ||
		    st->catch_up_files_total > 0)
			buf_printf(out,
				   "  catch-up:       %" PRIu64 " of %" PRIu64
				   " files, %" PRIu64 " bytes\n",
				   st->catch_up_files_done,
				   st->catch_up_files_total,
				   st->catch_up_bytes);
		if (st->last_error[0] != '\0')
			buf_printf(out, "  last error:     %s\n",
				   st->last_error);
	}
	buf_printf(out, "  promotion:      %s, score %u",
		   pr->promotable ? "promotable" : "NOT promotable", pr->score);
	if (pr->reason[0] != '\0')
		buf_printf(out, " (%s)", pr->reason);
	buf_putc(out, '\n');
}

void
report_text(const struct status_report *r, struct buf *out)
{
	const struct local_status *l = &r->local;
	const struct node_health *h = &l->health;
	const struct cluster_status *c = &r->cluster;

	buf_reset(out);
	buf_puts(out, "This node\n");
	buf_printf(out, "  name:           %s\n", h->name);
	buf_printf(out, "  role:           %s\n", node_role_name(h->role));
	buf_printf(out, "  health:         %s\n",
		   health_text(node_health_state(h)));
	buf_printf(out, "  generation:     %" PRIu64 "\n", h->generation);
	text_listeners(out, h, l->listener_error);
	buf_printf(out, "  data_dir:       %s %s", l->data_dir,
		   h->data_dir_writable ? "writable" : "NOT WRITABLE");
	if (l->data_dir_error != NULL)
		buf_printf(out, " (%s)", l->data_dir_error);
	buf_putc(out, '\n');
	if (h->qmgr_alive)
		buf_printf(out, "  queue manager:  running (pid %ld)\n",
			   l->qmgr_pid);
	else if (h->replicated && h->role == ROLE_STANDBY)
		buf_puts(out, "  queue manager:  none (standby)\n");
	else
		buf_puts(out, "  queue manager:  NOT RUNNING\n");
	text_queue(out, h);
	if (l->checked_age >= 0)
		buf_printf(out, "  checked:        %.1f s ago\n",
			   l->checked_age);
	else
		buf_puts(out, "  checked:        not yet\n");
	text_peer(out, &r->peer);
	buf_puts(out, "Cluster\n");
	if (c->connected)
		buf_printf(out,
			   "  corosync:       connected, group %s, node id "
			   "%" PRIu32 ", %u members, %u nodes\n",
			   c->group, c->nodeid, c->members, c->nodes);
	else
		buf_printf(out, "  corosync:       unavailable (%s)\n",
			   c->reason != NULL ? c->reason : "not connected yet");
	if (r->replication != NULL)
		text_replication(out, r->replication);
}
