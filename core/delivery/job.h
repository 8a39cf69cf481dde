/*
 * job - one queue entry's delivery state and results
 *
 * The queue manager opens a job for each entry that is due, hands the
 * jobs' due recipients to a batch (batch.h), which delivers and records
 * them together, then calls delivery_jobs_finish() and
 * delivery_job_close() for the jobs with nothing due left.
 * delivery_job_step() is the single-recipient path: it delivers and
 * records one recipient with its own fsyncs. delivery_run_entry() runs a
 * whole entry through batches in one call.
 */
#ifndef HAPOST_DELIVERY_JOB_H
#define HAPOST_DELIVERY_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "local.h"
#include "queue.h"

/* Upper bound on a logged reason, and on a result's reason. */
#define REASON_MAX 512

struct directory;

struct delivery_ctx {
	const char *data_dir;
	const char *hostname;
	struct directory *dir;
	unsigned retry_min; /* seconds before the first retry */
	unsigned retry_max; /* upper bound of the doubling retry delay */
	unsigned lifetime;  /* seconds after arrival before giving up */
	/* The retry schedule after a remote host did not reply at all. */
	unsigned unreachable_retry_min;
	unsigned unreachable_retry_max;
	/*
	 * Keep an entry until its failures are reported to the sender
	 * (bounce.h), and wake it at delay_warning_time (0: no warnings).
	 * Off by default, so callers without reports keep the old
	 * behaviour: an entry whose recipients are final is removed.
	 */
	bool reports;
	unsigned delay_warning_time;
	/*
	 * Make a batch durable with an fsync per file instead of one
	 * syncfs(2) per file system (set where syncfs does not report
	 * write errors, before Linux 5.8).
	 */
	bool fsync_each;
};

struct delivery_job {
	struct queue_envelope env;
	int fd;
	size_t next_rcpt; /* recipients before it were attempted by this job */
	/* Look for copies left by an earlier attempt (also in cur/). */
	bool check_existing;
	/* Ignore each recipient's next attempt time ("flush"). */
	bool force;
	/* A status record could not be written: retry soon, checking. */
	bool record_failed;
};

/*
 * Loads entry id into job. Returns 0, or -1 with the reason in err and
 * errno ENOENT when the entry no longer exists.
 */
int delivery_job_open(const struct delivery_ctx *ctx, const char *id,
		      bool check_existing, bool force, struct delivery_job *job,
		      char *err, size_t errlen);
/*
 * Attempts the next recipient that is pending and due at now, records
 * the result and logs it. Returns 1 when it handled one, 0 when none is
 * left.
 */
int delivery_job_step(const struct delivery_ctx *ctx, struct delivery_job *job,
		      time_t now);
/*
 * Returns the number of recipients from the job's cursor that are
 * pending and due at now (all pending ones when force is set).
 */
size_t delivery_job_due(const struct delivery_job *job, time_t now);
/*
 * Removes the entry when every recipient is final and returns 0;
 * otherwise returns the time of its next due recipient (at least now + 1
 * after a failed status record).
 */
time_t delivery_job_finish(const struct delivery_ctx *ctx,
			   struct delivery_job *job, time_t now);
/*
 * delivery_job_finish() for n jobs at once: the finished entries are
 * removed with one fsync of queue/messages/ and one of queue/status/.
 * next[i] receives the result for jobs[i].
 */
void delivery_jobs_finish(const struct delivery_ctx *ctx,
			  struct delivery_job *const *jobs, size_t n,
			  time_t now, time_t *next);
void delivery_job_close(struct delivery_job *job);

/*
 * Runs a whole job for entry id. Returns 0 when the entry is gone (done
 * or removed meanwhile), the next due time when recipients remain, or
 * -1 when it could not be loaded (reason in err).
 */
time_t delivery_run_entry(const struct delivery_ctx *ctx, const char *id,
			  bool check_existing, bool force, time_t now,
			  char *err, size_t errlen);

/* Returns the retry delay after the given number of earlier attempts. */
unsigned delivery_retry_delay(const struct delivery_ctx *ctx,
			      unsigned attempts);
/* Returns min doubled per earlier attempt, at most max. */
unsigned delivery_backoff(unsigned min, unsigned max, unsigned attempts);

/*
 * Returns true when address goes to remote delivery: its domain is not
 * one of ours. A directory that cannot be read keeps it local, where
 * the lookup error defers it.
 */
bool delivery_is_remote(const struct delivery_ctx *ctx, const char *address);
/*
 * Returns true when the job has failed recipients whose failure is not
 * yet reported to a sender that gets reports (see bounce.h).
 */
bool delivery_job_unreported(const struct delivery_job *job);

/* One recipient's attempt, between the delivery and its status record. */
struct delivery_result {
	size_t rcpt;
	enum delivery_status status;
	char reason[REASON_MAX];
	enum queue_rcpt_state state; /* to record, set by delivery_settle() */
	time_t next;		     /* next attempt to record, or 0 */
};

/* Returns "delivered", "failed" or "deferred". */
const char *delivery_status_name(enum delivery_status status);
/*
 * Returns the index of an earlier recipient of env with the same address
 * that is already delivered, or -1.
 */
long delivery_delivered_duplicate(const struct queue_envelope *env,
				  size_t rcpt);
/*
 * Turns a deferral past the lifetime into a failure, sets the state and
 * next attempt to record, and logs the attempt's line.
 */
void delivery_settle(const struct delivery_ctx *ctx,
		     const struct delivery_job *job,
		     struct delivery_result *res, time_t now);
/*
 * Applies a recorded result to the job's recipient. With record_err (the
 * record is not durable) it logs the error instead, keeps the recipient
 * pending, due again after retry_min, and sets check_existing.
 */
void delivery_apply(const struct delivery_ctx *ctx, struct delivery_job *job,
		    const struct delivery_result *res, time_t now,
		    const char *record_err);

#endif
