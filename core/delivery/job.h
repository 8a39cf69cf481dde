/*
 * job - delivering one queue entry, one recipient at a time
 *
 * The queue manager opens a job for an entry that is due, runs
 * delivery_job_step() until it returns 0 (one recipient per call, so a
 * stop request is noticed between recipients), then calls
 * delivery_job_finish() and delivery_job_close(). delivery_run_entry()
 * does all of that in one call.
 */
#ifndef HAPOST_DELIVERY_JOB_H
#define HAPOST_DELIVERY_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "queue.h"

struct directory;

struct delivery_ctx {
	const char *data_dir;
	const char *hostname;
	struct directory *dir;
	unsigned retry_min; /* seconds before the first retry */
	unsigned retry_max; /* upper bound of the doubling retry delay */
	unsigned lifetime;  /* seconds after arrival before giving up */
};

struct delivery_job {
	struct queue_envelope env;
	int fd;
	size_t next_rcpt;
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
 * Removes the entry when every recipient is final and returns 0;
 * otherwise returns the time of its next due recipient (at least now + 1
 * after a failed status record).
 */
time_t delivery_job_finish(const struct delivery_ctx *ctx,
			   struct delivery_job *job, time_t now);
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

#endif
