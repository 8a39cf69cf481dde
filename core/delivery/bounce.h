/*
 * bounce - reports to the envelope sender, queued as new entries
 *
 * bounce_failures() reports the failed recipients of a job whose failure
 * is not reported yet, in one report per call (one per attempt round).
 * bounce_delay_warning() sends the entry's one delay warning once it has
 * waited delay_warning_time. Both build the report with dsn_build(),
 * queue it with the null sender to the original sender (aliases of a
 * local sender followed), and only then record "reported" or "warned"
 * notices for the recipients it lists (queue.h). A null sender or a
 * mailer-daemon address (dsn_suppressed()) gets no report, so a report
 * can never cause another.
 *
 * A crash between queueing the report and recording its notices sends
 * the report again after the restart: a report is sent at least once,
 * never lost.
 */
#ifndef HAPOST_DELIVERY_BOUNCE_H
#define HAPOST_DELIVERY_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "job.h"

/* Bytes of the original message a report returns whole; beyond that
 * only its header section. */
#define BOUNCE_RETURN_LIMIT ((size_t)64 << 10)

/*
 * Queues a report for the job's unreported failures and records the
 * notices. Returns 0 when nothing is owed any more, or -1 when the
 * report or its notices could not be written (logged; the entry must
 * stay queued and try again).
 */
int bounce_failures(const struct delivery_ctx *ctx, struct delivery_job *job,
		    time_t now);

/*
 * Queues the entry's delay warning when it is owed at now (pending
 * recipients, delay_warning_time passed, none sent before). Returns 0,
 * or -1 when it could not be written (logged; tried again later).
 */
int bounce_delay_warning(const struct delivery_ctx *ctx,
			 struct delivery_job *job, time_t now);

/*
 * The enhanced status code that describes recipient r's last result:
 * its recorded code, the code at the start of its reason, or a default
 * for its state.
 */
const char *bounce_rcpt_status(const struct queue_rcpt *r, char *buf,
			       size_t buflen);

#endif
