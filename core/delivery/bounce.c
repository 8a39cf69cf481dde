/*
 * bounce - building and queueing delivery status notifications
 *
 * Order, for exactly one report per event: the recipients' results are
 * durable first (the caller recorded them), then the report is committed
 * to the queue as a new entry (queue_writer_commit() fsyncs it), then
 * the notices that say so are recorded. Only then may the entry go. The
 * report's envelope has the null sender, HELO and client address of this
 * host, and the original sender as its one recipient; a local sender is
 * resolved through the aliases as SMTP would, a sender outside our
 * domains goes out through remote delivery.
 *
 * Each report lists, per recipient, the address from RCPT TO and the
 * final one, the enhanced status code, the remote MTA and its reply when
 * a remote server replied, so the sender sees the remote diagnostic
 * unchanged.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounce.h"
#include "buf.h"
#include "directory.h"
#include "dsn.h"
#include "log.h"
#include "queue.h"
#include "xalloc.h"

/* Returns the length of the enhanced status code "C.S.D" at s, or 0. */
static size_t
status_code_len(const char *s)
{
	size_t i = 0, parts = 0;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	for (;;) {
		size_t digits = 0;

		while (isdigit((unsigned char)s[i]) && digits < 3) {
			i++;
			digits++;
		}
		if (digits == 0)
			return 0;
		parts++;
		if (parts == 3)
			break;
		if (s[i] != '.')
			return 0;
		i++;
	}
	return s[i] == '\0' || s[i] == ' ' ? i : 0;
}

/* Returns true if s starts with an SMTP reply: three digits, a space. */
static bool
is_reply(const char *s)
{
	return s != NULL && s[0] >= '2' && s[0] <= '5' &&
	       isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]) &&
	       s[3] == ' ';
}

const char *
bounce_rcpt_status(const struct queue_rcpt *r, char *buf, size_t buflen)
{
	const char *reason = r->last_error != NULL ? r->last_error : "";
	size_t len;

	if (r->dsn != NULL && status_code_len(r->dsn) > 0)
		return r->dsn;
	if (is_reply(reason) && (len = status_code_len(reason + 4)) > 0) {
		snprintf(buf, buflen, "%.*s", (int)len, reason + 4);
		return buf;
	}
	if (r->state != QUEUE_RCPT_FAILED)
		return "4.0.0";
	if (strncmp(reason, "expired ", 8) == 0)
		return dsn_default_status(0, "expired");
	if (strcmp(reason, "no such account") == 0)
		return "5.1.1";
	return "5.0.0";
}

/*
 * Copies the remote server's reply out of a reason such as "550 5.1.1
 * No such user (in reply to RCPT TO)" into out. Returns NULL when the
 * reason is not a reply.
 */
static const char *
reply_of(const char *reason, char *out, size_t outlen)
{
	const char *tail;
	size_t len;

	if (!is_reply(reason))
		return NULL;
	len = strlen(reason);
	tail = strstr(reason, " (in reply to ");
	if (tail != NULL && reason[len - 1] == ')')
		len = (size_t)(tail - reason);
	snprintf(out, outlen, "%.*s", (int)len, reason);
	return out;
}

/* Copies the host name out of "host[address]:port"; NULL for none. */
static const char *
mta_of(const char *relay, char *out, size_t outlen)
{
	size_t len;

	if (relay == NULL || relay[0] == '\0' || strcmp(relay, "-") == 0)
		return NULL;
	len = strcspn(relay, "[");
	snprintf(out, outlen, "%.*s", (int)len, relay);
	return out[0] != '\0' ? out : NULL;
}

/*
 * Resolves the report's recipient. Returns 1 with *finals set, 0 when
 * the sender is a local address that does not exist (nobody to tell),
 * or -1 when the directory could not be read.
 */
static int
resolve_sender(const struct delivery_ctx *ctx, const char *sender,
	       char ***finals, size_t *n)
{
	switch (directory_resolve_rcpt(ctx->dir, sender, finals, n)) {
	case DIR_OK:
		return *n > 0 ? 1 : 0;
	case DIR_NOT_LOCAL:
		*finals = xcalloc(1, sizeof(**finals));
		(*finals)[0] = xstrdup(sender);
		*n = 1;
		return 1;
	case DIR_NOT_FOUND:
		return 0;
	default:
		return -1;
	}
}

/* Returns true if any of the len bytes at p has the high bit set. */
static bool
memchr_8bit(const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] & 0x80)
			return true;
	return false;
}

/* Writes the report in out to the queue. Returns 0, or -1 (logged). */
static int
queue_report(const struct delivery_ctx *ctx, const struct delivery_job *job,
	     const struct buf *out, const char *what, char *new_id,
	     size_t new_idlen)
{
	struct queue_envelope env;
	struct queue_writer *w;
	char err[512];
	char **finals = NULL;
	size_t nfinals = 0, i;
	int found;

	found = resolve_sender(ctx, job->env.sender, &finals, &nfinals);
	if (found < 0) {
		log_error("qid=%s %s for <%s> not queued: looking up the "
			  "sender failed; trying again later",
			  job->env.id, what, job->env.sender);
		return -1;
	}
	if (found == 0) {
		log_warning("qid=%s %s not sent: the sender <%s> is a local "
			    "address without a mailbox",
			    job->env.id, what, job->env.sender);
		snprintf(new_id, new_idlen, "-");
		return 0;
	}
	memset(&env, 0, sizeof(env));
	env.sender = "";
	env.client_ip = "127.0.0.1";
	env.helo = (char *)ctx->hostname;
	/* dsn_build() returns 8-bit text when the original had it. */
	env.body_8bit = memchr_8bit(out->data, out->len);
	env.smtputf8 = memchr_8bit(job->env.sender, strlen(job->env.sender));
	env.rcpts = xcalloc(nfinals, sizeof(*env.rcpts));
	for (i = 0; i < nfinals; i++) {
		env.rcpts[i].address = finals[i];
		env.rcpts[i].orig = job->env.sender;
	}
	env.nrcpts = nfinals;
	w = queue_writer_open(ctx->data_dir, &env, err, sizeof(err));
	if (w != NULL && queue_writer_write(w, out->data, out->len) < 0) {
		snprintf(err, sizeof(err), "write failed: %s", strerror(errno));
		queue_writer_abort(w);
		w = NULL;
	}
	if (w == NULL || queue_writer_commit(w, err, sizeof(err)) < 0) {
		log_error("qid=%s queueing the %s failed: %s; trying again "
			  "later",
			  job->env.id, what, err);
		free(env.rcpts);
		directory_free_list(finals, nfinals);
		return -1;
	}
	snprintf(new_id, new_idlen, "%s", env.id);
	free(env.rcpts);
	directory_free_list(finals, nfinals);
	return 0;
}

/*
 * Builds and queues a report of action for the recipients listed in
 * which[0..n), then records notice for each. Returns 0 or -1 (logged).
 */
static int
report(const struct delivery_ctx *ctx, struct delivery_job *job,
       enum dsn_action action, const size_t *which, size_t n,
       enum queue_notice notice, time_t now)
{
	const char *what = action == DSN_FAILED ? "bounce" : "delay warning";
	struct dsn_rcpt *dr = xcalloc(n, sizeof(*dr));
	char (*status)[16] = xcalloc(n, sizeof(*status));
	char (*mta)[256] = xcalloc(n, sizeof(*mta));
	char (*diag)[512] = xcalloc(n, sizeof(*diag));
	struct dsn_params p;
	struct queue_marks *marks;
	struct buf out = BUF_INIT;
	char err[512], from[320], new_id[QUEUE_ID_LEN + 2];
	size_t i;
	int ret = -1;

	for (i = 0; i < n; i++) {
		const struct queue_rcpt *r = &job->env.rcpts[which[i]];

		dr[i].orig = r->orig;
		dr[i].final = r->address;
		dr[i].status = bounce_rcpt_status(r, status[i],
						  sizeof(status[i]));
		dr[i].remote_mta = mta_of(r->relay, mta[i], sizeof(mta[i]));
		dr[i].diagnostic =
		    r->relay != NULL ? reply_of(r->last_error, diag[i],
						sizeof(diag[i]))
				     : NULL;
		dr[i].last_attempt = r->attempts > 0 ? now : 0;
	}
	snprintf(from, sizeof(from), "MAILER-DAEMON@%s", ctx->hostname);
	memset(&p, 0, sizeof(p));
	p.action = action;
	p.reporting_mta = ctx->hostname;
	p.queue_id = job->env.id;
	p.arrival = job->env.arrival;
	p.retry_until = job->env.arrival + (time_t)ctx->lifetime;
	p.sender = job->env.sender;
	p.from = from;
	p.msg_fd = job->fd;
	p.msg_offset = job->env.msg_offset;
	p.msg_size = job->env.msg_size;
	p.return_limit = BOUNCE_RETURN_LIMIT;
	p.now = now;
	if (dsn_build(&p, dr, n, &out, err, sizeof(err)) < 0) {
		log_error("qid=%s building the %s failed: %s; trying again "
			  "later",
			  job->env.id, what, err);
		goto done;
	}
	if (queue_report(ctx, job, &out, what, new_id, sizeof(new_id)) < 0)
		goto done;

	marks = queue_marks_new(ctx->data_dir, !ctx->fsync_each);
	for (i = 0; i < n; i++)
		queue_marks_add_notice(marks, job->env.id, which[i], notice);
	queue_marks_commit(marks);
	if (queue_marks_result(marks, job->env.id, err, sizeof(err)) < 0) {
		/* The report is queued; a retry sends it a second time. */
		log_error("qid=%s recording the %s failed: %s", job->env.id,
			  what, err);
		queue_marks_free(marks);
		goto done;
	}
	queue_marks_free(marks);
	for (i = 0; i < n; i++) {
		struct queue_rcpt *r = &job->env.rcpts[which[i]];

		if (notice == QUEUE_NOTICE_REPORTED)
			r->reported = true;
		else
			r->warned = true;
	}
	log_info("qid=%s %s to <%s> queued as %s: %zu recipients",
		 job->env.id, what, job->env.sender, new_id, n);
	ret = 0;
done:
	buf_free(&out);
	free(dr);
	free(status);
	free(mta);
	free(diag);
	return ret;
}

int
bounce_failures(const struct delivery_ctx *ctx, struct delivery_job *job,
		time_t now)
{
	size_t *which, n = 0, i;
	int ret;

	if (!delivery_job_unreported(job))
		return 0;
	which = xcalloc(job->env.nrcpts, sizeof(*which));
	for (i = 0; i < job->env.nrcpts; i++) {
		const struct queue_rcpt *r = &job->env.rcpts[i];

		if (r->state == QUEUE_RCPT_FAILED && !r->reported)
			which[n++] = i;
	}
	ret = report(ctx, job, DSN_FAILED, which, n, QUEUE_NOTICE_REPORTED,
		     now);
	free(which);
	return ret;
}

int
bounce_delay_warning(const struct delivery_ctx *ctx, struct delivery_job *job,
		     time_t now)
{
	size_t *which, n = 0, i;
	int ret;

	if (ctx->delay_warning_time == 0 || dsn_suppressed(job->env.sender) ||
	    now - job->env.arrival < (time_t)ctx->delay_warning_time)
		return 0;
	for (i = 0; i < job->env.nrcpts; i++)
		if (job->env.rcpts[i].warned)
			return 0;
	which = xcalloc(job->env.nrcpts, sizeof(*which));
	for (i = 0; i < job->env.nrcpts; i++)
		if (job->env.rcpts[i].state == QUEUE_RCPT_PENDING)
			which[n++] = i;
	ret = n > 0 ? report(ctx, job, DSN_DELAYED, which, n,
			     QUEUE_NOTICE_WARNED, now)
		    : 0;
	free(which);
	return ret;
}
