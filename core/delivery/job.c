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
 * Routing: delivery_is_remote() sends a recipient whose domain is not
 * ours to remote delivery (remote.h); the queue manager hands those over
 * before a batch takes the local ones. With ctx->reports set, an entry
 * stays queued until bounce.h has reported its failures, and wakes at
 * delay_warning_time for its delay warning.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "directory.h"
#include "dsn.h"
#include "job.h"
#include "local.h"
#include "log.h"
#include "queue.h"
#include "xalloc.h"

unsigned
delivery_backoff(unsigned min, unsigned max, unsigned attempts)
{
	unsigned delay = min;

	while (attempts-- > 0 && delay < max)
		delay = delay > max / 2 ? max : delay * 2;
	return delay < max ? delay : max;
}

unsigned
delivery_retry_delay(const struct delivery_ctx *ctx, unsigned attempts)
{
	return delivery_backoff(ctx->retry_min, ctx->retry_max, attempts);
}

bool
delivery_is_remote(const struct delivery_ctx *ctx, const char *address)
{
	struct account acct;
	enum dir_result r = directory_get_account(ctx->dir, address, &acct);

	if (r == DIR_OK)
		account_free(&acct);
	return r == DIR_NOT_LOCAL;
}

bool
delivery_job_unreported(const struct delivery_job *job)
{
	size_t i;

	if (dsn_suppressed(job->env.sender))
		return false;
	for (i = 0; i < job->env.nrcpts; i++) {
		const struct queue_rcpt *r = &job->env.rcpts[i];

		if (r->state == QUEUE_RCPT_FAILED && !r->reported)
			return true;
	}
	return false;
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

const char *
delivery_status_name(enum delivery_status status)
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

long
delivery_delivered_duplicate(const struct queue_envelope *env, size_t rcpt)
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

void
delivery_settle(const struct delivery_ctx *ctx, const struct delivery_job *job,
		struct delivery_result *res, time_t now)
{
	const struct queue_rcpt *r = &job->env.rcpts[res->rcpt];
	char to[320], why[REASON_MAX];

	if (res->status == DELIVERY_STAGED)
		res->status = DELIVERY_DEFERRED;
	if (res->status == DELIVERY_DEFERRED &&
	    now - job->env.arrival >= (time_t)ctx->lifetime) {
		char last[REASON_MAX];

		memcpy(last, res->reason, sizeof(last));
		snprintf(res->reason, sizeof(res->reason),
			 "expired after %lld s in the queue: %.400s",
			 (long long)(now - job->env.arrival), last);
		res->status = DELIVERY_FAILED;
	}
	res->next = 0;
	switch (res->status) {
	case DELIVERY_DELIVERED:
		res->state = QUEUE_RCPT_DELIVERED;
		break;
	case DELIVERY_FAILED:
		res->state = QUEUE_RCPT_FAILED;
		break;
	default:
		res->state = QUEUE_RCPT_PENDING;
		res->next =
		    now + (time_t)delivery_retry_delay(ctx, r->attempts);
		break;
	}

	log_printable(to, sizeof(to), r->address, strlen(r->address));
	log_printable(why, sizeof(why), res->reason, strlen(res->reason));
	log_msg(res->status == DELIVERY_DELIVERED ? LOG_INFO : LOG_WARNING,
		"qid=%s to=<%s> status=%s delay=%lld attempts=%u reason=%s",
		job->env.id, to, delivery_status_name(res->status),
		(long long)(now - job->env.arrival), r->attempts + 1, why);
}

void
delivery_apply(const struct delivery_ctx *ctx, struct delivery_job *job,
	       const struct delivery_result *res, time_t now,
	       const char *record_err)
{
	struct queue_rcpt *r = &job->env.rcpts[res->rcpt];

	if (record_err != NULL) {
		/*
		 * The attempt stays pending and is retried soon; after a
		 * delivery the retry finds the copy in the Maildir.
		 */
		log_error("qid=%s recording status=%s for recipient %zu "
			  "failed: %s",
			  job->env.id, delivery_status_name(res->status),
			  res->rcpt, record_err);
		job->record_failed = true;
		job->check_existing = true;
		r->next_attempt = now + (time_t)ctx->retry_min;
		return;
	}
	r->state = res->state;
	r->attempts++;
	r->next_attempt = res->next;
}

/* Delivers to recipient rcpt and records the result. */
static void
attempt_rcpt(const struct delivery_ctx *ctx, struct delivery_job *job,
	     size_t rcpt, time_t now)
{
	struct queue_rcpt *r = &job->env.rcpts[rcpt];
	struct delivery_result res;
	char err[REASON_MAX + 128];
	long dup;

	memset(&res, 0, sizeof(res));
	res.rcpt = rcpt;
	dup = delivery_delivered_duplicate(&job->env, rcpt);
	if (dup >= 0) {
		snprintf(res.reason, sizeof(res.reason),
			 "same mailbox as recipient %ld, delivered once", dup);
		res.status = DELIVERY_DELIVERED;
	} else {
		res.status = local_deliver(
		    ctx->dir, ctx->hostname, &job->env, rcpt, job->fd,
		    job->check_existing || r->attempts > 0, res.reason,
		    sizeof(res.reason));
	}
	delivery_settle(ctx, job, &res, now);
	if (queue_mark(ctx->data_dir, job->env.id, rcpt, res.state, res.next,
		       res.status == DELIVERY_DELIVERED ? NULL : res.reason,
		       err, sizeof(err)) < 0) {
		delivery_apply(ctx, job, &res, now, err);
		return;
	}
	delivery_apply(ctx, job, &res, now, NULL);
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

size_t
delivery_job_due(const struct delivery_job *job, time_t now)
{
	size_t i, n = 0;

	for (i = job->next_rcpt; i < job->env.nrcpts; i++) {
		const struct queue_rcpt *r = &job->env.rcpts[i];

		if (r->state == QUEUE_RCPT_PENDING &&
		    (job->force || r->next_attempt <= now))
			n++;
	}
	return n;
}

/* Returns true when the job's entry still owes its sender a warning. */
static bool
warning_owed(const struct delivery_ctx *ctx, const struct delivery_job *job)
{
	size_t i;

	if (!ctx->reports || ctx->delay_warning_time == 0 ||
	    dsn_suppressed(job->env.sender))
		return false;
	for (i = 0; i < job->env.nrcpts; i++)
		if (job->env.rcpts[i].warned)
			return false;
	return true;
}

/*
 * Returns 0 when every recipient of job is final (and, with reports,
 * every failure is reported), else the time of its next due recipient
 * or of its delay warning (at least now + 1).
 */
static time_t
job_next(const struct delivery_ctx *ctx, const struct delivery_job *job,
	 time_t now)
{
	bool pending = false;
	time_t next = 0;
	size_t i;

	for (i = 0; i < job->env.nrcpts; i++) {
		const struct queue_rcpt *r = &job->env.rcpts[i];

		if (r->state != QUEUE_RCPT_PENDING)
			continue;
		if (!pending || r->next_attempt < next)
			next = r->next_attempt;
		pending = true;
	}
	if (!pending) {
		/* A report that could not be queued yet keeps the entry. */
		if (ctx->reports && delivery_job_unreported(job))
			return now + (time_t)ctx->retry_min;
		return 0;
	}
	if (warning_owed(ctx, job)) {
		time_t warn = job->env.arrival + (time_t)ctx->delay_warning_time;

		/* Owed already: bounce.h could not queue it, so wait. */
		if (warn <= now)
			warn = now + (time_t)ctx->retry_min;
		if (warn < next)
			next = warn;
	}
	return next > now ? next : now + 1;
}

static void
log_removed(const struct delivery_job *job)
{
	size_t i, delivered = 0, failed = 0;

	for (i = 0; i < job->env.nrcpts; i++) {
		if (job->env.rcpts[i].state == QUEUE_RCPT_DELIVERED)
			delivered++;
		else if (job->env.rcpts[i].state == QUEUE_RCPT_FAILED)
			failed++;
	}
	log_info("qid=%s removed: delivered=%zu failed=%zu", job->env.id,
		 delivered, failed);
}

void
delivery_jobs_finish(const struct delivery_ctx *ctx,
		     struct delivery_job *const *jobs, size_t n, time_t now,
		     time_t *next)
{
	struct queue_removal *v = xcalloc(n ? n : 1, sizeof(*v));
	size_t *which = xcalloc(n ? n : 1, sizeof(*which));
	size_t i, k = 0;

	for (i = 0; i < n; i++) {
		next[i] = job_next(ctx, jobs[i], now);
		if (next[i] != 0)
			continue;
		v[k].id = jobs[i]->env.id;
		which[k++] = i;
	}
	queue_remove_many(ctx->data_dir, v, k);
	for (i = 0; i < k; i++) {
		const struct delivery_job *job = jobs[which[i]];

		if (v[i].error != 0 && v[i].error != ENOENT) {
			log_error("qid=%s removing the finished entry failed: "
				  "%s; retrying in %u s",
				  job->env.id, v[i].reason, ctx->retry_min);
			next[which[i]] = now + (time_t)ctx->retry_min;
			continue;
		}
		log_removed(job);
	}
	free(v);
	free(which);
}

time_t
delivery_job_finish(const struct delivery_ctx *ctx, struct delivery_job *job,
		    time_t now)
{
	time_t next;

	delivery_jobs_finish(ctx, &job, 1, now, &next);
	return next;
}

time_t
delivery_run_entry(const struct delivery_ctx *ctx, const char *id,
		   bool check_existing, bool force, time_t now, char *err,
		   size_t errlen)
{
	struct delivery_batch batch;
	struct delivery_job job;
	time_t next;

	if (delivery_job_open(ctx, id, check_existing, force, &job, err,
			      errlen) < 0)
		return errno == ENOENT ? 0 : -1;
	for (;;) {
		delivery_batch_init(&batch, ctx, now);
		if (delivery_batch_take(&batch, &job, DELIVERY_BATCH_RCPTS,
					DELIVERY_BATCH_BYTES) == 0) {
			delivery_batch_free(&batch);
			break;
		}
		delivery_batch_run(&batch);
		delivery_batch_free(&batch);
	}
	next = delivery_job_finish(ctx, &job, now);
	delivery_job_close(&job);
	return next;
}
