/*
 * remote - the outbound SMTP scheduler
 *
 * Routing: a recipient whose domain is not ours goes to the route that
 * route_lookup() finds in the gateway table, or else to the MX hosts of
 * its domain. Recipients are queued per destination: the next hop (the
 * domain for MX routing, the gateway's host), the port, the TLS policy
 * (the route's tls= or smtp_client_tls) and the AUTH credentials. A
 * destination exists while it has waiting recipients or sessions, so
 * every retry round looks its hosts up again.
 *
 * Sessions: at most smtp_client_destination_concurrency per destination
 * and smtp_client_concurrency in all. A session connects to the hosts in
 * order (MX preference, then each host's addresses as dns.h returns
 * them, IPv6 and IPv4). No reply at all (refused, timed out) moves on
 * to the next address. A host that replies to the greeting, EHLO,
 * STARTTLS or AUTH with an error, or cannot meet the TLS policy, moves
 * on to the next host. A session makes at most smtp_client_address_limit
 * connection attempts per round, so a domain that lists many addresses
 * that never answer costs that many connect timeouts at most. Once
 * connected, a session takes the next group of waiting recipients: one
 * message, at most smtp_client_recipients recipients of it. After the
 * transaction it takes the next group on the same connection while the
 * server allows it. A session that reaches no host ends the round for
 * its whole destination: every recipient waiting there gets that
 * failure, so a dead destination costs one connection round, not one
 * per message.
 *
 * MX rule (RFC 5321 section 5.1): when our own host name is one of the
 * MX hosts, only hosts with a lower preference value are tried, and a
 * list with none is a configuration error that defers the mail (4.4.6)
 * and is logged.
 *
 * Exactly once: a recipient is held by one destination queue or one
 * transaction at a time (held[] per entry), and its result is durable
 * before the queue manager is told (remote_result.c). "Delivered" means
 * the server accepted the message after DATA. A crash after that reply
 * and before the record delivers the message again on the retry, which
 * SMTP cannot avoid.
 *
 * Delivery windows: a recipient outside the window of its route (or the
 * global delivery_window) is not taken; it waits until the next opening
 * in memory only, so the wait counts as no attempt.
 *
 * Limits: finding an entry's record and counting a destination's
 * transactions are linear scans, fine for thousands of held recipients.
 * When smtp_client_concurrency is reached, free sessions go to the
 * destinations created last first, so under constant load an old
 * destination can wait longer than a new one.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dns.h"
#include "dsn.h"
#include "log.h"
#include "remote_int.h"
#include "route.h"
#include "tls.h"
#include "window.h"
#include "xalloc.h"

/*
 * In-memory next attempt of a held recipient, so the local batch and a
 * reopened job leave it alone. The done callback normally wakes the
 * entry long before this.
 */
#define HOLD_SECONDS 600
/* Wait after a routing configuration error before looking again. */
#define CONFIG_RETRY_SECONDS 60


static enum smtp_client_tls
tls_policy(const char *text)
{
	if (text == NULL || strcmp(text, "may") == 0)
		return SMTPC_TLS_MAY;
	if (strcmp(text, "none") == 0)
		return SMTPC_TLS_NONE;
	if (strcmp(text, "verify") == 0)
		return SMTPC_TLS_VERIFY;
	return SMTPC_TLS_ENCRYPT;
}

static const char *
domain_of(const char *address)
{
	const char *at = strrchr(address, '@');

	return at != NULL ? at + 1 : address;
}

void
remote_route_text(const struct route *route, const char *address, char *out,
		  size_t outlen)
{
	char port[16] = "";

	if (route == NULL) {
		snprintf(out, outlen, "mx:%s", domain_of(address));
		return;
	}
	if (route->port != 0)
		snprintf(port, sizeof(port), ":%u", route->port);
	snprintf(out, outlen, "gateway:%s->%s%s%s%s", route->pattern,
		 route->mx_lookup ? "" : "[", route->host,
		 route->mx_lookup ? "" : "]", port);
}

int
remote_check_config(const struct cfg *cfg, char *err, size_t errlen)
{
	struct delivery_window *w = NULL;
	struct route_table *t = NULL;
	char why[400];

	if (cfg->gateway_table != NULL && cfg->gateway_table[0] != '\0') {
		if (route_table_load(cfg->gateway_table, &t, err, errlen) < 0)
			return -1;
		route_table_free(t);
	}
	if (cfg->delivery_window != NULL &&
	    delivery_window_parse(cfg->delivery_window, &w, why,
				  sizeof(why)) < 0) {
		snprintf(err, errlen, "delivery_window: %s", why);
		return -1;
	}
	delivery_window_free(w);
	return 0;
}

/* Loads the gateway table into *out (NULL when none is configured). */
static int
load_routes(const struct cfg *cfg, struct route_table **out, char *err,
	    size_t errlen)
{
	*out = NULL;
	if (cfg->gateway_table == NULL || cfg->gateway_table[0] == '\0')
		return 0;
	return route_table_load(cfg->gateway_table, out, err, errlen);
}

static void kick_cb(struct ev_loop *loop, ev_idle *w, int revents);

struct remote *
remote_new(struct ev_loop *loop, const struct cfg *cfg,
	   const struct delivery_ctx *ctx, remote_done_cb *done, void *arg)
{
	struct remote *r = xcalloc(1, sizeof(*r));
	char err[512];

	r->loop = loop;
	r->cfg = cfg;
	r->ctx = ctx;
	r->done = done;
	r->done_arg = arg;
	r->tls = tls_policy(cfg->smtp_client_tls);
	ev_idle_init(&r->kick, kick_cb);
	r->kick.data = r;

	r->resolver = dns_resolver_new(loop, cfg->dns_servers, err,
				       sizeof(err));
	if (r->resolver == NULL) {
		snprintf(r->config_error, sizeof(r->config_error),
			 "DNS resolver setup failed: %.400s", err);
		log_error("remote delivery held: %s", r->config_error);
	}
	r->tls_ctx = tls_client_ctx_new(cfg, r->tls_error,
					sizeof(r->tls_error));
	if (r->tls_ctx == NULL)
		log_error("outbound TLS unavailable: %s", r->tls_error);
	if (load_routes(cfg, &r->routes, err, sizeof(err)) < 0) {
		snprintf(r->config_error, sizeof(r->config_error),
			 "gateway table: %.400s", err);
		log_error("remote delivery held until the gateway table "
			  "loads: %s",
			  err);
	} else if (r->routes != NULL) {
		log_info("gateway table %s loaded: %zu routes",
			 cfg->gateway_table, route_table_count(r->routes));
	}
	if (cfg->delivery_window != NULL &&
	    delivery_window_parse(cfg->delivery_window, &r->window, err,
				  sizeof(err)) < 0) {
		snprintf(r->config_error, sizeof(r->config_error),
			 "delivery_window: %.400s", err);
		log_error("remote delivery held: %s", r->config_error);
	}
	return r;
}

void
remote_reload(struct remote *r)
{
	struct route_table *t;
	char err[512];

	if (load_routes(r->cfg, &t, err, sizeof(err)) < 0) {
		log_error("gateway table not reloaded, keeping the previous "
			  "one: %s",
			  err);
		return;
	}
	route_table_free(r->routes);
	r->routes = t;
	if (strncmp(r->config_error, "gateway table:", 14) == 0)
		r->config_error[0] = '\0';
	if (t != NULL)
		log_info("gateway table %s reloaded: %zu routes",
			 r->cfg->gateway_table, route_table_count(t));
}

void
remote_kick(struct remote *r)
{
	ev_idle_start(r->loop, &r->kick);
}

static struct remote_msg *
msg_find(const struct remote *r, const char *id)
{
	struct remote_msg *m;

	for (m = r->msgs; m != NULL; m = m->next)
		if (strcmp(m->id, id) == 0)
			return m;
	return NULL;
}

bool
remote_busy(const struct remote *r, const char *id)
{
	return msg_find(r, id) != NULL;
}

/* Returns the entry's record, created from the job when missing. */
static struct remote_msg *
msg_get(struct remote *r, const struct delivery_job *job)
{
	struct remote_msg *m = msg_find(r, job->env.id);

	if (m != NULL)
		return m;
	m = xcalloc(1, sizeof(*m));
	memcpy(m->id, job->env.id, sizeof(m->id));
	m->arrival = job->env.arrival;
	m->sender = xstrdup(job->env.sender);
	m->msg_offset = job->env.msg_offset;
	m->msg_size = job->env.msg_size;
	m->body_8bit = job->env.body_8bit;
	m->smtputf8 = job->env.smtputf8;
	m->nrcpts = job->env.nrcpts;
	m->held = xcalloc(m->nrcpts, sizeof(*m->held));
	m->next = r->msgs;
	r->msgs = m;
	return m;
}

static void
msg_free(struct remote *r, struct remote_msg *m)
{
	struct remote_msg **pp;

	for (pp = &r->msgs; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
	free(m->sender);
	free(m->held);
	free(m);
}

void
remote_release(struct remote *r, struct remote_rcpt *rc)
{
	struct remote_msg *m = rc->msg;

	m->held[rc->index] = false;
	free(rc->address);
	free(rc);
	if (--m->refs > 0)
		return;
	if (!m->cancelled && r->done != NULL)
		r->done(r->done_arg, m->id);
	msg_free(r, m);
}

/* Returns the destination for key, created from the arguments. */
static struct remote_dest *
dest_get(struct remote *r, const char *key, const char *name, bool mx_lookup,
	 unsigned port, enum smtp_client_tls tls, const char *user,
	 const char *password, const char *route)
{
	struct remote_dest *d;

	for (d = r->dests; d != NULL; d = d->next)
		if (strcmp(d->key, key) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	d->key = xstrdup(key);
	d->name = xstrdup(name);
	d->mx_lookup = mx_lookup;
	d->port = port;
	d->tls = tls;
	d->user = user != NULL ? xstrdup(user) : NULL;
	d->password = password != NULL ? xstrdup(password) : NULL;
	d->route = xstrdup(route);
	d->tail = &d->head;
	d->owner = r;
	d->next = r->dests;
	r->dests = d;
	return d;
}

static void
dest_free(struct remote_dest *d)
{
	if (d->query != NULL)
		dns_cancel(d->query);
	if (d->dns != NULL)
		dns_result_free(d->dns);
	free(d->key);
	free(d->name);
	free(d->user);
	if (d->password != NULL)
		explicit_bzero(d->password, strlen(d->password));
	free(d->password);
	free(d->route);
	free(d);
}

/* Frees the destinations with nothing waiting and nothing running. */
static void
dests_sweep(struct remote *r)
{
	struct remote_dest **pp = &r->dests;

	while (*pp != NULL) {
		struct remote_dest *d = *pp;

		if (d->nwaiting == 0 && d->nsessions == 0 && d->query == NULL) {
			*pp = d->next;
			dest_free(d);
			continue;
		}
		pp = &d->next;
	}
}

/* Queues recipient i of the job at the destination of its route. */
static void
enqueue(struct remote *r, struct delivery_job *job, size_t i,
	const struct route *route)
{
	const struct queue_rcpt *qr = &job->env.rcpts[i];
	const char *domain = domain_of(qr->address);
	struct remote_msg *m = msg_get(r, job);
	struct remote_rcpt *rc = xcalloc(1, sizeof(*rc));
	struct remote_dest *d;
	char key[1024], text[512], name[300];
	enum smtp_client_tls tls = r->tls;
	unsigned port = r->cfg->smtp_client_port;
	bool mx_lookup = true;

	remote_route_text(route, qr->address, text, sizeof(text));
	if (route != NULL) {
		snprintf(name, sizeof(name), "%s", route->host);
		mx_lookup = route->mx_lookup;
		if (route->port != 0)
			port = route->port;
		if (route->tls_set)
			tls = route->tls;
	} else if (domain[0] == '[') {
		/* A domain literal: that address, no MX lookup. */
		const char *inner = domain + 1;

		if (strncasecmp(inner, "IPv6:", 5) == 0)
			inner += 5;
		snprintf(name, sizeof(name), "%.*s",
			 (int)strcspn(inner, "]"), inner);
		mx_lookup = false;
	} else {
		size_t k;

		snprintf(name, sizeof(name), "%s", domain);
		for (k = 0; name[k] != '\0'; k++)
			name[k] = (char)tolower((unsigned char)name[k]);
	}
	snprintf(key, sizeof(key), "%s|%s|%u|%d|%s|%s",
		 mx_lookup ? "mx" : "host", name, port, (int)tls,
		 route != NULL && route->user != NULL ? route->user : "",
		 route != NULL && route->password != NULL ? route->password
							  : "");
	d = dest_get(r, key, name, mx_lookup, port, tls,
		     route != NULL ? route->user : NULL,
		     route != NULL ? route->password : NULL, text);
	explicit_bzero(key, sizeof(key));

	rc->msg = m;
	rc->index = i;
	rc->address = xstrdup(qr->address);
	rc->attempts = qr->attempts;
	rc->dest = d;
	*d->tail = rc;
	d->tail = &rc->next;
	d->nwaiting++;
	m->held[i] = true;
	m->refs++;
	log_debug("qid=%s to=<%s> queued for %s", m->id, qr->address, text);
}

void
remote_take(struct remote *r, struct delivery_job *job, time_t now)
{
	struct remote_msg *m = msg_find(r, job->env.id);
	size_t i;

	for (i = 0; i < job->env.nrcpts; i++) {
		struct queue_rcpt *qr = &job->env.rcpts[i];
		const struct route *route;
		const struct delivery_window *w;

		if (qr->state != QUEUE_RCPT_PENDING)
			continue;
		if (m != NULL && i < m->nrcpts && m->held[i]) {
			qr->next_attempt = now + HOLD_SECONDS;
			continue;
		}
		if (!delivery_is_remote(r->ctx, qr->address)) {
			if (job->force)
				qr->next_attempt = 0;
			continue;
		}
		if (!job->force && qr->next_attempt > now)
			continue;
		if (r->stopping || r->config_error[0] != '\0') {
			log_debug("qid=%s to=<%s> held: %s", job->env.id,
				  qr->address,
				  r->stopping ? "stopping"
					      : r->config_error);
			qr->next_attempt = now + CONFIG_RETRY_SECONDS;
			continue;
		}
		route = route_lookup(r->routes, qr->address);
		w = route != NULL && route->window != NULL ? route->window
							   : r->window;
		if (!delivery_window_open(w, now)) {
			time_t open = delivery_window_next_open(w, now);

			if (open <= now)
				open = now + CONFIG_RETRY_SECONDS;
			log_info("qid=%s to=<%s> waits for the delivery "
				 "window (%s), %lld s from now",
				 job->env.id, qr->address,
				 delivery_window_text(w),
				 (long long)(open - now));
			qr->next_attempt = open;
			continue;
		}
		enqueue(r, job, i, route);
		m = msg_find(r, job->env.id);
		qr->next_attempt = now + HOLD_SECONDS;
	}
	job->force = false;
	remote_kick(r);
}

/* Removes every recipient waiting at d and returns them in *out. */
static size_t
dest_take_all(struct remote_dest *d, struct remote_rcpt ***out)
{
	struct remote_rcpt **v = xcalloc(d->nwaiting ? d->nwaiting : 1,
					 sizeof(*v));
	struct remote_rcpt *rc;
	size_t n = 0;

	for (rc = d->head; rc != NULL; rc = rc->next)
		v[n++] = rc;
	d->head = NULL;
	d->tail = &d->head;
	d->nwaiting = 0;
	*out = v;
	return n;
}

/* Gives every recipient waiting at d the same result. */
void
remote_fail_waiting(struct remote *r, struct remote_dest *d,
		    const struct remote_result *res)
{
	struct remote_rcpt **v;
	struct remote_result *all;
	size_t n = dest_take_all(d, &v), i;

	all = xcalloc(n ? n : 1, sizeof(*all));
	for (i = 0; i < n; i++)
		all[i] = *res;
	if (n > 0)
		remote_record(r, v, all, n);
	free(all);
	free(v);
}

void
remote_cancel(struct remote *r, const char *id)
{
	struct remote_msg *m = msg_find(r, id);
	struct remote_dest *d;

	if (m == NULL)
		return;
	log_info("qid=%s deleted from the queue: its outbound delivery is "
		 "cancelled, and a transaction in progress is not recorded",
		 id);
	m->cancelled = true;
	for (d = r->dests; d != NULL; d = d->next) {
		struct remote_rcpt **pp = &d->head;

		while (*pp != NULL) {
			struct remote_rcpt *rc = *pp;

			if (rc->msg != m) {
				pp = &rc->next;
				continue;
			}
			*pp = rc->next;
			d->nwaiting--;
			remote_release(r, rc);
			if (d->nwaiting == 0 || msg_find(r, id) == NULL)
				break;
		}
		d->tail = &d->head;
		while (*d->tail != NULL)
			d->tail = &(*d->tail)->next;
		if (msg_find(r, id) == NULL)
			break;
	}
	remote_kick(r);
}

/* Strips one trailing dot and compares host names without case. */
static bool
same_host(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/*
 * Applies the MX rule to d->dns: sets d->nhosts to the hosts that may be
 * tried. Returns false when the list leads back to this host only.
 */
static bool
apply_mx_rule(struct remote *r, struct remote_dest *d)
{
	const struct dns_result *res = d->dns;
	size_t i;

	d->nhosts = res->nhosts;
	if (!d->mx_lookup)
		return true;
	for (i = 0; i < res->nhosts; i++) {
		if (!same_host(res->hosts[i].name, r->cfg->hostname))
			continue;
		/* Hosts come lowest preference first. */
		d->nhosts = 0;
		while (d->nhosts < res->nhosts &&
		       res->hosts[d->nhosts].preference <
			   res->hosts[i].preference)
			d->nhosts++;
		return d->nhosts > 0;
	}
	return true;
}

static void
dns_done(void *arg, struct dns_result *res)
{
	struct remote_dest *d = arg;
	struct remote *r;
	struct remote_result fail;
	size_t i;
	bool usable = false;

	d->query = NULL;
	r = d->owner;
	if (r->stopping) {
		dns_result_free(res);
		return;
	}
	if (res->status != DNS_OK) {
		bool gateway = strncmp(d->route, "gateway:", 8) == 0;

		switch (res->status) {
		case DNS_TEMPFAIL:
			remote_result_local(&fail, DELIVERY_DEFERRED, true,
					    dsn_default_status(0, "dns"),
					    "%s", res->error);
			break;
		case DNS_NULL_MX:
			remote_result_local(&fail, DELIVERY_FAILED, false,
					    dsn_default_status(0, "null-mx"),
					    "domain %s accepts no mail "
					    "(null MX): %s",
					    d->name, res->error);
			break;
		default:
			/* A gateway that does not resolve is our error. */
			remote_result_local(
			    &fail, gateway ? DELIVERY_DEFERRED : DELIVERY_FAILED,
			    gateway,
			    dsn_default_status(0, gateway ? "dns" : "no-domain"),
			    "host or domain name %s not found: %s", d->name,
			    res->error);
			if (gateway)
				log_error("gateway next hop %s (%s) does not "
					  "resolve: %s",
					  d->name, d->route, res->error);
			break;
		}
		dns_result_free(res);
		remote_fail_waiting(r, d, &fail);
		remote_kick(r);
		return;
	}
	d->dns = res;
	if (!apply_mx_rule(r, d)) {
		log_error("mail for %s loops back to myself: %s is its best "
			  "MX host; check the MX records or add the domain "
			  "to the local domains",
			  d->name, r->cfg->hostname);
		remote_result_local(&fail, DELIVERY_DEFERRED, false, "4.4.6",
				    "mail for %s loops back to myself (%s is "
				    "its best MX host)",
				    d->name, r->cfg->hostname);
		remote_fail_waiting(r, d, &fail);
		remote_kick(r);
		return;
	}
	for (i = 0; i < d->nhosts; i++)
		usable |= res->hosts[i].naddrs > 0;
	if (!usable) {
		remote_result_local(&fail, DELIVERY_DEFERRED, true,
				    dsn_default_status(0, "dns"),
				    "no address found for any mail host of %s",
				    d->name);
		remote_fail_waiting(r, d, &fail);
	}
	remote_kick(r);
}

/* Counts the transactions the waiting recipients of d need. */
static size_t
count_groups(const struct remote *r, const struct remote_dest *d)
{
	const struct remote_rcpt *rc;
	const struct remote_msg *last = NULL;
	size_t groups = 0, run = 0;

	for (rc = d->head; rc != NULL; rc = rc->next) {
		if (rc->msg != last || run == r->cfg->smtp_client_recipients) {
			groups++;
			run = 0;
			last = rc->msg;
		}
		run++;
	}
	return groups;
}

/* Starts lookups and sessions for the destinations with work. */
static void
dispatch(struct remote *r)
{
	struct remote_dest *d;

	dests_sweep(r);
	for (d = r->dests; d != NULL; d = d->next) {
		struct remote_result fail;
		size_t groups;

		if (d->nwaiting == 0)
			continue;
		if (d->dns == NULL) {
			if (d->query == NULL)
				d->query = d->mx_lookup
					       ? dns_lookup_mx(r->resolver,
							       d->name,
							       dns_done, d)
					       : dns_lookup_host(r->resolver,
								 d->name,
								 dns_done, d);
			continue;
		}
		if (d->tls >= SMTPC_TLS_ENCRYPT && r->tls_ctx == NULL) {
			remote_result_local(&fail, DELIVERY_DEFERRED, false,
					    dsn_default_status(0, "tls"),
					    "TLS is required for %s but the "
					    "client TLS setup failed: %s",
					    d->name, r->tls_error);
			remote_fail_waiting(r, d, &fail);
			continue;
		}
		groups = count_groups(r, d);
		while (d->nwaiting > 0 && d->connecting < groups &&
		       d->nsessions <
			   r->cfg->smtp_client_destination_concurrency &&
		       r->nsessions < r->cfg->smtp_client_concurrency)
			remote_session_start(r, d);
	}
}

static void
kick_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct remote *r = w->data;

	ev_idle_stop(loop, w);
	if (r->stopping) {
		if (r->nsessions == 0 && r->drained != NULL) {
			remote_drained_cb *cb = r->drained;

			r->drained = NULL;
			cb(r->drained_arg);
		}
		return;
	}
	dispatch(r);
}

/* Drops every waiting recipient without a result. */
static void
drop_waiting(struct remote *r)
{
	struct remote_dest *d;

	for (d = r->dests; d != NULL; d = d->next) {
		struct remote_rcpt **v;
		size_t n = dest_take_all(d, &v), i;

		for (i = 0; i < n; i++)
			remote_release(r, v[i]);
		free(v);
		if (d->query != NULL) {
			dns_cancel(d->query);
			d->query = NULL;
		}
	}
}

void
remote_shutdown(struct remote *r, remote_drained_cb *drained, void *arg)
{
	struct remote_session *s, *next;

	r->stopping = true;
	r->drained = drained;
	r->drained_arg = arg;
	r->done = NULL;
	drop_waiting(r);
	for (s = r->sessions; s != NULL; s = next) {
		next = s->next;
		if (!s->in_txn)
			remote_session_end(s);
	}
	if (r->nsessions > 0)
		log_notice("waiting for %u outbound transactions to finish",
			   r->nsessions);
	remote_kick(r);
}

void
remote_free(struct remote *r)
{
	if (r == NULL)
		return;
	ev_idle_stop(r->loop, &r->kick);
	r->done = NULL;
	while (r->sessions != NULL) {
		struct remote_session *s = r->sessions;

		r->sessions = s->next;
		if (s->c != NULL)
			smtp_client_close(s->c);
		if (s->msg_fd >= 0)
			close(s->msg_fd);
		free(s->txn);
		free(s->addrs);
		free(s);
	}
	drop_waiting(r);
	while (r->dests != NULL) {
		struct remote_dest *d = r->dests;

		r->dests = d->next;
		dest_free(d);
	}
	/* Recipients of interrupted transactions stay pending on disk. */
	while (r->msgs != NULL)
		msg_free(r, r->msgs);
	if (r->resolver != NULL)
		dns_resolver_free(r->resolver);
	if (r->tls_ctx != NULL)
		SSL_CTX_free(r->tls_ctx);
	route_table_free(r->routes);
	delivery_window_free(r->window);
	free(r);
}
