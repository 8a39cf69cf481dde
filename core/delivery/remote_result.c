/*
 * remote_result - turning SMTP client outcomes into recorded results
 *
 * A result has a status (delivered, deferred, failed), a retry class,
 * an enhanced status code, the relay that replied and a reason. The
 * reason of a reply starts with the reply itself, "550 5.1.1 No such
 * user (in reply to RCPT TO)", so a report can quote it as the
 * diagnostic. A failure without a reply keeps the SMTP client's text,
 * "connect to mx.example.net[192.0.2.1]:25 failed: Connection refused".
 *
 * Classes: a 5xx reply fails the recipient at once (but a 5xx to AUTH is
 * our configuration's problem and defers); a 4xx reply or an unmet TLS
 * policy defers on the queue_retry_* schedule. No reply at all, and a
 * DNS temporary failure, defer on the queue_unreachable_retry_*
 * schedule. A deferral past queue_lifetime fails with status 4.4.7.
 * Only a 2xx reply in a transaction that succeeded counts as delivered;
 * a 2xx or 3xx reply anywhere else defers with 4.5.0.
 *
 * remote_record() writes the results of one transaction (or one
 * destination's failure) with one sync through queue_marks, and only
 * then logs them and lets the queue manager act:
 *
 *   qid=ID to=<ADDRESS> relay=HOST[IP]:PORT delay=SECONDS dsn=X.Y.Z
 *   attempts=N status=delivered|deferred|failed (REASON)
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsn.h"
#include "log.h"
#include "queue.h"
#include "remote_int.h"

/* Appends "CODE [X.Y.Z ]TEXT" of reply to out. */
static void
format_reply(char *out, size_t outlen, const struct smtp_client_reply *reply)
{
	const char *text = reply->text;
	size_t elen = strlen(reply->enhanced);

	/* The text may or may not repeat the enhanced code. */
	if (elen > 0 && strncmp(text, reply->enhanced, elen) == 0 &&
	    (text[elen] == ' ' || text[elen] == '\0'))
		text += elen + (text[elen] == ' ');
	if (elen > 0)
		snprintf(out, outlen, "%d %s %.380s", reply->code,
			 reply->enhanced, text);
	else
		snprintf(out, outlen, "%d %.380s", reply->code, text);
}

/* The enhanced code of reply, or a default for its class. */
static void
reply_dsn(char *out, size_t outlen, const struct smtp_client_reply *reply,
	  enum delivery_status status)
{
	if (reply->enhanced[0] != '\0')
		snprintf(out, outlen, "%s", reply->enhanced);
	else if (reply->code >= 500)
		snprintf(out, outlen, "5.0.0");
	else if (reply->code >= 400)
		snprintf(out, outlen, "4.0.0");
	else
		snprintf(out, outlen, "2.0.0");
	/* A deferral carries a temporary code whatever the reply's. */
	if (status == DELIVERY_DEFERRED && out[0] == '5')
		out[0] = '4';
	else if (status == DELIVERY_DEFERRED && out[0] != '4')
		snprintf(out, outlen, "4.5.0");
}

static void
set_relay(struct remote_result *res, const struct smtp_client_status *st)
{
	snprintf(res->relay, sizeof(res->relay), "%s",
		 st->remote[0] != '\0' ? st->remote : "none");
}

void
remote_result_session(struct remote_result *res,
		      const struct smtp_client_status *st)
{
	char reply[400];

	memset(res, 0, sizeof(*res));
	set_relay(res, st);
	res->status = DELIVERY_DEFERRED;
	if (st->failure == SMTPC_PERMFAIL && strcmp(st->stage, "AUTH") != 0)
		res->status = DELIVERY_FAILED;
	res->unreachable = st->failure == SMTPC_UNREACHABLE;
	if (st->reply.code != 0) {
		format_reply(reply, sizeof(reply), &st->reply);
		snprintf(res->reason, sizeof(res->reason),
			 "%.250s (in reply to %s from %.200s)", reply, st->stage,
			 res->relay);
		reply_dsn(res->dsn, sizeof(res->dsn), &st->reply, res->status);
		return;
	}
	/* Without a reply the client's text names the host and the cause. */
	snprintf(res->reason, sizeof(res->reason), "%s", st->reply.text);
	if (st->reply.enhanced[0] != '\0')
		snprintf(res->dsn, sizeof(res->dsn), "%s", st->reply.enhanced);
	else if (st->failure == SMTPC_UNREACHABLE)
		snprintf(res->dsn, sizeof(res->dsn), "%s",
			 strcmp(st->stage, "connect") == 0
			     ? dsn_default_status(0, "unreachable")
			     : "4.4.2");
	else
		/* No reply and not unreachable: the TLS policy was not met. */
		snprintf(res->dsn, sizeof(res->dsn), "%s",
			 dsn_default_status(0, "tls"));
	if (res->status == DELIVERY_DEFERRED && res->dsn[0] == '5')
		res->dsn[0] = '4';
}

void
remote_result_rcpt(struct remote_result *res,
		   const struct smtp_client_status *st,
		   const struct smtp_client_reply *reply)
{
	const char *stage = st->stage;
	char text[400];

	if (reply->code == 0) {
		remote_result_session(res, st);
		return;
	}
	memset(res, 0, sizeof(*res));
	set_relay(res, st);
	/* Only a 2xx in a transaction that succeeded means delivered. */
	if (reply->code / 100 == 2 && st->failure == SMTPC_OK)
		res->status = DELIVERY_DELIVERED;
	else if (reply->code / 100 == 5)
		res->status = DELIVERY_FAILED;
	else
		res->status = DELIVERY_DEFERRED;
	/* A reply other than the transaction's own is the RCPT TO reply. */
	if (st->failure == SMTPC_OK || reply->code != st->reply.code ||
	    strcmp(reply->text, st->reply.text) != 0)
		stage = "RCPT TO";
	if (res->status == DELIVERY_DELIVERED)
		stage = "end of data";
	format_reply(text, sizeof(text), reply);
	snprintf(res->reason, sizeof(res->reason), "%s (in reply to %s)", text,
		 stage);
	reply_dsn(res->dsn, sizeof(res->dsn), reply, res->status);
}

void
remote_result_local(struct remote_result *res, enum delivery_status status,
		    bool unreachable, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	memset(res, 0, sizeof(*res));
	res->status = status;
	res->unreachable = unreachable;
	snprintf(res->dsn, sizeof(res->dsn), "%s", dsn);
	snprintf(res->relay, sizeof(res->relay), "none");
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
}

/*
 * Turns a deferral past the lifetime into a failure and computes the
 * state and next attempt to record.
 */
static void
settle(const struct delivery_ctx *ctx, const struct remote_rcpt *rc,
       struct remote_result *res, enum queue_rcpt_state *state,
       time_t *next, time_t now)
{
	time_t age = now - rc->msg->arrival;

	*next = 0;
	if (res->status == DELIVERY_DEFERRED && age >= (time_t)ctx->lifetime) {
		char last[REASON_MAX];

		memcpy(last, res->reason, sizeof(last));
		snprintf(res->reason, sizeof(res->reason),
			 "expired after %lld s in the queue: %.400s",
			 (long long)age, last);
		snprintf(res->dsn, sizeof(res->dsn), "%s",
			 dsn_default_status(0, "expired"));
		res->status = DELIVERY_FAILED;
	}
	switch (res->status) {
	case DELIVERY_DELIVERED:
		*state = QUEUE_RCPT_DELIVERED;
		break;
	case DELIVERY_FAILED:
		*state = QUEUE_RCPT_FAILED;
		break;
	default:
		*state = QUEUE_RCPT_PENDING;
		*next = now + (time_t)(res->unreachable
					   ? delivery_backoff(
						 ctx->unreachable_retry_min,
						 ctx->unreachable_retry_max,
						 rc->attempts)
					   : delivery_backoff(ctx->retry_min,
							      ctx->retry_max,
							      rc->attempts));
		break;
	}
}

static void
log_result(const struct remote_rcpt *rc, const struct remote_result *res,
	   double delay)
{
	char to[320], why[REASON_MAX];

	log_printable(to, sizeof(to), rc->address, strlen(rc->address));
	log_printable(why, sizeof(why), res->reason, strlen(res->reason));
	log_msg(res->status == DELIVERY_DELIVERED ? LOG_INFO : LOG_WARNING,
		"qid=%s to=<%s> relay=%s delay=%.1f dsn=%s attempts=%u "
		"status=%s (%s)",
		rc->msg->id, to, res->relay, delay, res->dsn, rc->attempts + 1,
		delivery_status_name(res->status), why);
}

void
remote_record(struct remote *r, struct remote_rcpt *const *v,
	      const struct remote_result *res, size_t n)
{
	const struct delivery_ctx *ctx = r->ctx;
	struct remote_result *settled = calloc(n ? n : 1, sizeof(*settled));
	struct queue_marks *marks;
	time_t now = time(NULL);
	double exact = ev_time();
	size_t i;

	if (settled == NULL)
		log_fatal("out of memory");
	marks = queue_marks_new(ctx->data_dir, !ctx->fsync_each);
	for (i = 0; i < n; i++) {
		enum queue_rcpt_state state;
		time_t next;

		settled[i] = res[i];
		settle(ctx, v[i], &settled[i], &state, &next, now);
		if (v[i]->msg->cancelled)
			continue;
		queue_marks_add_result(
		    marks, v[i]->msg->id, v[i]->index, state, next,
		    settled[i].status == DELIVERY_DELIVERED ? NULL
							    : settled[i].reason,
		    settled[i].dsn, settled[i].relay);
	}
	queue_marks_commit(marks);
	for (i = 0; i < n; i++) {
		struct remote_rcpt *rc = v[i];
		char err[REASON_MAX];

		log_result(rc, &settled[i], exact - (double)rc->msg->arrival);
		if (rc->msg->cancelled)
			log_info("qid=%s deleted meanwhile: the result for "
				 "recipient %zu is not recorded",
				 rc->msg->id, rc->index);
		else if (queue_marks_result(marks, rc->msg->id, err,
					    sizeof(err)) < 0)
			log_error("qid=%s recording status=%s for recipient "
				  "%zu failed: %s",
				  rc->msg->id,
				  delivery_status_name(settled[i].status),
				  rc->index, err);
	}
	queue_marks_free(marks);
	for (i = 0; i < n; i++)
		remote_release(r, v[i]);
	free(settled);
}
