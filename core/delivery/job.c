/*
 * job - delivering one queue entry, one recipient at a time
 *
 * Exactly once: for each recipient the order is deliver (file and
 * directory fsync'd), then queue_mark() (status record fsync'd), then,
 * once every recipient is final, queue_remove(). A crash between the
 * first two steps leaves the recipient pending; the retry checks the
 * Maildir for the copy by its deterministic name (see local.c) before
 * writing another. check_existing is forced on for every recipient that
 * was attempted before and after any failed status record.
 *
 * Retries: a temporary failure is retried after retry_min seconds,
 * doubling per attempt up to retry_max. A recipient still failing
 * lifetime seconds after arrival fails permanently. Nothing is dropped
 * on an error: an entry that cannot be recorded or removed stays queued.
 *
 * Every attempt logs one line, at info when delivered and at warning
 * otherwise: qid=ID to=<ADDRESS> status=delivered|deferred|failed
 * delay=SECONDS-SINCE-ARRIVAL attempts=N reason=TEXT.
 *
 * Limits: a permanent failure is only logged, because no delivery status
 * notification (bounce) is sent yet.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "job.h"
#include "local.h"
#include "log.h"
#include "queue.h"

#define REASON_MAX 512

unsigned
delivery_retry_delay(const struct delivery_ctx *ctx, unsigned attempts)
{
	unsigned delay = ctx->retry_min;

	while (attempts-- > 0 && delay < ctx->retry_max)
		delay = delay > ctx->retry_max / 2 ? ctx->retry_max : delay * 2;
	return delay < ctx->retry_max ? delay : ctx->retry_max;
}

int
delivery_job_open(const struct delivery_ctx *ctx, const char *id,
		  bool check_existing, bool force, struct delivery_job *job,
		  char *err, size_t errlen)
{
	memset(job, 0, sizeof(*job));
	job->fd = -1;
	if (queue_load(ctx->data_dir, id, &job->env, err, errlen) < 0)
		return -1;
	job->fd = queue_open_message(ctx->data_dir, id);
	if (job->fd < 0) {
		int saved = errno;

		snprintf(err, errlen,
			 "queue entry %s: opening message "
			 "failed: %s",
			 id, strerror(saved));
		queue_envelope_free(&job->env);
		errno = saved;
		return -1;
	}
	job->check_existing = check_existing;
	job->force = force;
	return 0;
}

void
delivery_job_close(struct delivery_job *job)
{
	if (job->fd >= 0)
		close(job->fd);
	job->fd = -1;
	queue_envelope_free(&job->env);
}

static const char *
status_name(enum delivery_status status)
{
	switch (status) {
	case DELIVERY_DELIVERED:
		return "delivered";
	case DELIVERY_FAILED:
		return "failed";
	default:
		return "deferred";
	}
}

/* Returns the index of an earlier recipient with the same address that
 * is already delivered, or -1. */
static long
delivered_duplicate(const struct queue_envelope *env, size_t rcpt)
{
	size_t j;

	for (j = 0; j < rcpt; j++) {
		if (env->rcpts[j].state == QUEUE_RCPT_DELIVERED &&
		    strcmp(env->rcpts[j].address, env->rcpts[rcpt].address) ==
			0)
			return (long)j;
	}
	return -1;
}

static void
log_attempt(const struct delivery_job *job, size_t rcpt,
	    enum delivery_status status, time_t now, const char *reason)
{
	const struct queue_rcpt *r = &job->env.rcpts[rcpt];
	char to[320], why[REASON_MAX];

	log_printable(to, sizeof(to), r->address, strlen(r->address));
	log_printable(why, sizeof(why), reason, strlen(reason));
	log_msg(status == DELIVERY_DELIVERED ? LOG_INFO : LOG_WARNING,
		"qid=%s to=<%s> status=%s delay=%lld attempts=%u reason=%s",
		job->env.id, to, status_name(status),
		(long long)(now - job->env.arrival), r->attempts + 1, why);
}

/* Delivers to recipient rcpt and records the result. */
static void
attempt_rcpt(const struct delivery_ctx *ctx, struct delivery_job *job,
	     size_t rcpt, time_t now)
{
	struct queue_rcpt *r = &job->env.rcpts[rcpt];
	enum delivery_status status;
	enum queue_rcpt_state state;
	char reason[REASON_MAX], err[REASON_MAX + 128];
	time_t next = 0;
	long dup;

	dup = delivered_duplicate(&job->env, rcpt);
	if (dup >= 0) {
		snprintf(reason, sizeof(reason),
			 "same mailbox as recipient %ld, delivered once", dup);
		status = DELIVERY_DELIVERED;
	} else {
		status = local_deliver(ctx->dir, ctx->hostname, &job->env, rcpt,
				       job->fd,
				       job->check_existing || r->attempts > 0,
				       reason, sizeof(reason));
	}
	if (status == DELIVERY_DEFERRED &&
	    now - job->env.arrival >= (time_t)ctx->lifetime) {
		char last[REASON_MAX];

		memcpy(last, reason, sizeof(last));
		snprintf(reason, sizeof(reason),
			 "expired after %lld s in the queue: %.400s",
			 (long long)(now - job->env.arrival), last);
		status = DELIVERY_FAILED;
	}

	switch (status) {
	case DELIVERY_DELIVERED:
		state = QUEUE_RCPT_DELIVERED;
		break;
	case DELIVERY_FAILED:
		state = QUEUE_RCPT_FAILED;
		break;
	default:
		state = QUEUE_RCPT_PENDING;
		next = now + (time_t)delivery_retry_delay(ctx, r->attempts);
		break;
	}
	log_attempt(job, rcpt, status, now, reason);

	if (queue_mark(ctx->data_dir, job->env.id, rcpt, state, next,
		       status == DELIVERY_DELIVERED ? NULL : reason, err,
		       sizeof(err)) < 0) {
		/*
		 * The attempt stays pending and is retried soon; after a
		 * delivery the retry finds the copy in the Maildir.
		 */
		log_error("qid=%s recording status=%s for recipient %zu "
			  "failed: %s",
			  job->env.id, status_name(status), rcpt, err);
		job->record_failed = true;
		job->check_existing = true;
		r->next_attempt = now + (time_t)ctx->retry_min;
		return;
	}
	r->state = state;
	r->attempts++;
	r->next_attempt = next;
}

int
delivery_job_step(const struct delivery_ctx *ctx, struct delivery_job *job,
		  time_t now)
{
	while (job->next_rcpt < job->env.nrcpts) {
		size_t i = job->next_rcpt++;
		const struct queue_rcpt *r = &job->env.rcpts[i];

		if (r->state != QUEUE_RCPT_PENDING)
			continue;
		if (!job->force && r->next_attempt > now)
			continue;
		attempt_rcpt(ctx, job, i, now);
		return 1;
	}
	return 0;
}

time_t
delivery_job_finish(const struct delivery_ctx *ctx, struct delivery_job *job,
		    time_t now)
{
	char err[REASON_MAX];
	size_t i, delivered = 0, failed = 0;
	time_t next = 0;

	for (i = 0; i < job->env.nrcpts; i++) {
		const struct queue_rcpt *r = &job->env.rcpts[i];

		if (r->state == QUEUE_RCPT_DELIVERED)
			delivered++;
		else if (r->state == QUEUE_RCPT_FAILED)
			failed++;
		else if (next == 0 || r->next_attempt < next)
			next = r->next_attempt;
	}
	if (delivered + failed < job->env.nrcpts)
		return next > now ? next : now + 1;

	if (queue_remove(ctx->data_dir, job->env.id, err, sizeof(err)) < 0 &&
	    errno != ENOENT) {
		log_error("qid=%s removing the finished entry failed: %s; "
			  "retrying in %u s",
			  job->env.id, err, ctx->retry_min);
		return now + (time_t)ctx->retry_min;
	}
	log_info("qid=%s removed: delivered=%zu failed=%zu", job->env.id,
		 delivered, failed);
	return 0;
}

time_t
delivery_run_entry(const struct delivery_ctx *ctx, const char *id,
		   bool check_existing, bool force, time_t now, char *err,
		   size_t errlen)
{
	struct delivery_job job;
	time_t next;

	if (delivery_job_open(ctx, id, check_existing, force, &job, err,
			      errlen) < 0)
		return errno == ENOENT ? 0 : -1;
	while (delivery_job_step(ctx, &job, now) > 0)
		;
	next = delivery_job_finish(ctx, &job, now);
	delivery_job_close(&job);
	return next;
}
