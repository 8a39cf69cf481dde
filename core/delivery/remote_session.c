/*
 * remote_session - one outbound SMTP session of the scheduler
 *
 * A session belongs to one destination. It connects to the next address
 * in MX order (session_next_address), and each failed connection moves
 * on as remote.c describes. Once connected, it sends one group of
 * waiting recipients per transaction (txn_start) and keeps the
 * connection for the next group while the server allows it. Its results
 * go through remote_record() before the session takes more work.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dns.h"
#include "dsn.h"
#include "log.h"
#include "queue.h"
#include "remote_int.h"
#include "xalloc.h"

static void session_next_address(struct remote_session *s);
static void txn_start(struct remote_session *s);

void
remote_session_end(struct remote_session *s)
{
	struct remote *r = s->r;
	struct remote_session **pp;

	if (s->c != NULL)
		smtp_client_close(s->c);
	if (s->msg_fd >= 0)
		close(s->msg_fd);
	if (s->connecting)
		s->dest->connecting--;
	s->dest->nsessions--;
	r->nsessions--;
	for (pp = &r->sessions; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	free(s->txn);
	free(s->addrs);
	free(s);
	remote_kick(r);
}

/* Ends a session that reached no host: the destination's round ends. */
static void
session_exhausted(struct remote_session *s)
{
	struct remote_dest *d = s->dest;
	struct remote_result res;

	if (s->last.stage[0] == '\0') {
		remote_result_local(&res, DELIVERY_DEFERRED, true,
				    dsn_default_status(0, "dns"),
				    "no address to connect to for %s",
				    d->name);
	} else {
		remote_result_session(&res, &s->last);
		if (!s->all_unreachable)
			res.unreachable = false;
		/* One host's 5xx is final only when no host was down. */
		if (res.status == DELIVERY_FAILED && s->any_temporary) {
			res.status = DELIVERY_DEFERRED;
			res.dsn[0] = '4';
		}
	}
	log_warning("no mail host of %s (%s) took the connection: %s; %zu "
		    "waiting recipients get this result",
		    d->name, d->route, res.reason, d->nwaiting);
	remote_fail_waiting(s->r, d, &res);
	remote_session_end(s);
}

static void
ready_cb(void *arg, struct smtp_client *c, const struct smtp_client_status *st)
{
	struct remote_session *s = arg;
	struct smtp_client_status lost;

	if (st->failure == SMTPC_OK && !smtp_client_reusable(c)) {
		/*
		 * Closed by the server between its last reply and this
		 * callback. Taken as ready, the session would put its group
		 * back and connect again at once, for ever.
		 */
		lost = *st;
		lost.failure = SMTPC_UNREACHABLE;
		memset(&lost.reply, 0, sizeof(lost.reply));
		snprintf(lost.reply.enhanced, sizeof(lost.reply.enhanced),
			 "4.4.2");
		snprintf(lost.reply.text, sizeof(lost.reply.text),
			 "connection closed by %.300s before the first "
			 "transaction",
			 st->remote);
		smtp_client_close(c);
		st = &lost;
	}
	if (st->failure == SMTPC_OK) {
		s->c = c;
		if (s->connecting) {
			s->connecting = false;
			s->dest->connecting--;
		}
		log_debug("connected to %s for %s%s", st->remote,
			  s->dest->name, st->tls ? " with TLS" : "");
		txn_start(s);
		return;
	}
	s->c = NULL;
	s->last = *st;
	if (st->reply.code != 0)
		log_info("connection to %s for %s failed during %s: %d %s",
			 st->remote, s->dest->name, st->stage, st->reply.code,
			 st->reply.text);
	else
		log_info("connection to %s for %s failed during %s: %s",
			 st->remote, s->dest->name, st->stage, st->reply.text);
	if (st->failure != SMTPC_PERMFAIL)
		s->any_temporary = true;
	if (st->failure != SMTPC_UNREACHABLE) {
		s->all_unreachable = false;
		/* The host replied, and its other addresses would too. */
		s->addr = (size_t)-1;
	}
	if (s->r->stopping) {
		remote_session_end(s);
		return;
	}
	session_next_address(s);
}

/* Connects to the next address in MX order, or ends the round. */
static void
session_next_address(struct remote_session *s)
{
	struct remote *r = s->r;
	struct remote_dest *d = s->dest;
	struct smtp_client_params p;

	memset(&p, 0, sizeof(p));
	p.helo = r->cfg->hostname;
	p.tls = d->tls;
	p.tls_ctx = r->tls_ctx;
	if (p.tls_ctx == NULL && p.tls == SMTPC_TLS_MAY)
		p.tls = SMTPC_TLS_NONE;
	p.auth_user = d->user;
	p.auth_password = d->password;
	p.connect_timeout = r->cfg->smtp_client_connect_timeout;
	p.timeout = r->cfg->smtp_client_timeout;
	while (s->host < d->nhosts) {
		const struct dns_host *h = &d->dns->hosts[s->host];
		struct sockaddr_storage ss;
		socklen_t len;

		if (s->addr >= h->naddrs) {
			s->host++;
			s->addr = 0;
			continue;
		}
		if (s->connections >= r->cfg->smtp_client_address_limit) {
			log_info("no connection to %s after %u attempts "
				 "(smtp_client_address_limit)",
				 d->name, s->connections);
			break;
		}
		s->connections++;
		ss = h->addrs[s->addr++];
		if (ss.ss_family == AF_INET6) {
			((struct sockaddr_in6 *)&ss)->sin6_port =
			    htons((uint16_t)d->port);
			len = sizeof(struct sockaddr_in6);
		} else {
			((struct sockaddr_in *)&ss)->sin_port =
			    htons((uint16_t)d->port);
			len = sizeof(struct sockaddr_in);
		}
		p.tls_servername = h->name;
		s->c = smtp_client_open(r->loop, &p, (struct sockaddr *)&ss,
					len, h->name, ready_cb, s);
		if (s->c != NULL)
			return;
		memset(&s->last, 0, sizeof(s->last));
		s->last.failure = SMTPC_UNREACHABLE;
		snprintf(s->last.stage, sizeof(s->last.stage), "connect");
		snprintf(s->last.remote, sizeof(s->last.remote), "%s:%u",
			 h->name, d->port);
		snprintf(s->last.reply.text, sizeof(s->last.reply.text),
			 "connect to %.300s failed: %s", s->last.remote,
			 strerror(errno));
		s->any_temporary = true;
	}
	session_exhausted(s);
}

void
remote_session_start(struct remote *r, struct remote_dest *d)
{
	struct remote_session *s = xcalloc(1, sizeof(*s));

	s->r = r;
	s->dest = d;
	s->msg_fd = -1;
	s->connecting = true;
	s->all_unreachable = true;
	d->connecting++;
	d->nsessions++;
	r->nsessions++;
	s->next = r->sessions;
	r->sessions = s;
	session_next_address(s);
}

static void
txn_cb(void *arg, struct smtp_client *c, const struct smtp_client_status *st,
       const struct smtp_client_reply *rcpt)
{
	struct remote_session *s = arg;
	struct remote *r = s->r;
	size_t n = s->ntxn, i;
	struct remote_result *res = xcalloc(n ? n : 1, sizeof(*res));

	close(s->msg_fd);
	s->msg_fd = -1;
	for (i = 0; i < n; i++)
		remote_result_rcpt(&res[i], st, &rcpt[i]);
	s->ntxn = 0;
	s->in_txn = false;
	remote_record(r, s->txn, res, n);
	free(res);
	if (st->failure == SMTPC_UNREACHABLE) {
		s->c = NULL;
		remote_session_end(s);
		return;
	}
	if (r->stopping || s->dest->nwaiting == 0 ||
	    !smtp_client_reusable(c)) {
		remote_session_end(s);
		return;
	}
	txn_start(s);
}

/* Puts the session's recipients back at the head of its queue. */
static void
txn_requeue(struct remote_session *s)
{
	struct remote_dest *d = s->dest;
	size_t i;

	for (i = s->ntxn; i > 0; i--) {
		struct remote_rcpt *rc = s->txn[i - 1];

		rc->next = d->head;
		d->head = rc;
		d->nwaiting++;
	}
	if (d->tail == &d->head && d->head != NULL) {
		d->tail = &d->head;
		while (*d->tail != NULL)
			d->tail = &(*d->tail)->next;
	}
	s->ntxn = 0;
}

/*
 * Moves the next group from the destination's queue into the session:
 * the first waiting recipient's message, with up to
 * smtp_client_recipients of its recipients. Returns that message.
 */
static struct remote_msg *
take_group(struct remote_session *s)
{
	struct remote_dest *d = s->dest;
	struct remote_msg *m = d->head->msg;
	size_t limit = s->r->cfg->smtp_client_recipients;
	struct remote_rcpt **pp;

	if (s->cap < limit) {
		s->cap = limit;
		s->txn = xrealloc(s->txn, s->cap * sizeof(*s->txn));
		s->addrs = xrealloc(s->addrs, s->cap * sizeof(*s->addrs));
	}
	s->ntxn = 0;
	for (pp = &d->head; *pp != NULL && s->ntxn < limit;) {
		struct remote_rcpt *rc = *pp;

		if (rc->msg != m) {
			pp = &rc->next;
			continue;
		}
		*pp = rc->next;
		rc->next = NULL;
		d->nwaiting--;
		s->addrs[s->ntxn] = rc->address;
		s->txn[s->ntxn++] = rc;
	}
	d->tail = &d->head;
	while (*d->tail != NULL)
		d->tail = &(*d->tail)->next;
	return m;
}

/* Defers the session's group when its message file cannot be opened. */
static void
fail_group(struct remote_session *s, const char *id, int error)
{
	struct remote_result *res = xcalloc(s->ntxn, sizeof(*res));
	size_t n = s->ntxn, i;

	log_error("qid=%s opening the queued message failed: %s", id,
		  strerror(error));
	for (i = 0; i < n; i++)
		remote_result_local(&res[i], DELIVERY_DEFERRED, false, "4.3.0",
				    "opening the queued message failed: %s",
				    strerror(error));
	s->ntxn = 0;
	remote_record(s->r, s->txn, res, n);
	free(res);
}

/*
 * Sends the next group waiting at the destination on this connection.
 * The message file is opened per transaction, so only the transactions
 * in progress hold descriptors, however many entries wait.
 */
static void
txn_start(struct remote_session *s)
{
	struct remote *r = s->r;
	struct remote_dest *d = s->dest;
	struct remote_msg *m;
	struct smtp_client_txn t;

	for (;;) {
		if (r->stopping || d->head == NULL) {
			remote_session_end(s);
			return;
		}
		m = take_group(s);
		s->msg_fd = queue_open_message(r->ctx->data_dir, m->id);
		if (s->msg_fd >= 0)
			break;
		fail_group(s, m->id, errno);
	}

	memset(&t, 0, sizeof(t));
	t.sender = m->sender;
	t.rcpts = s->addrs;
	t.nrcpts = s->ntxn;
	t.msg_fd = s->msg_fd;
	t.msg_offset = m->msg_offset;
	t.msg_size = m->msg_size;
	t.body_8bit = m->body_8bit;
	t.smtputf8 = m->smtputf8;
	s->in_txn = true;
	if (smtp_client_send(s->c, &t, txn_cb, s) < 0) {
		s->in_txn = false;
		close(s->msg_fd);
		s->msg_fd = -1;
		txn_requeue(s);
		remote_session_end(s);
		return;
	}
	log_debug("qid=%s sending to %zu recipients at %s", m->id, s->ntxn,
		  d->name);
}
