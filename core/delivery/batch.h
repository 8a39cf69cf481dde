/*
 * batch - local delivery of many recipients with one sync per step
 *
 * A batch takes due recipients from one or more open jobs
 * (delivery_batch_take) and delivers them in four steps, each ending in
 * one sync for the whole batch: delivery_batch_stage() writes every copy
 * to its Maildir's tmp/, delivery_batch_sync() makes them durable,
 * delivery_batch_publish() renames them into new/ and fsyncs each new/
 * once, and delivery_batch_record() writes and syncs the status records.
 * delivery_batch_run() does the four in order. The entries whose
 * recipients are then all final are removed by delivery_jobs_finish().
 */
#ifndef HAPOST_DELIVERY_BATCH_H
#define HAPOST_DELIVERY_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "job.h"

/* Recipients per batch. */
#define DELIVERY_BATCH_RCPTS 64
/* Message bytes per batch; a single larger message still goes alone. */
#define DELIVERY_BATCH_BYTES ((size_t)8 << 20)

struct delivery_batch_item;

struct delivery_batch {
	const struct delivery_ctx *ctx;
	time_t now;
	struct delivery_batch_item *items;
	size_t n, cap;
	size_t bytes; /* message bytes of the recipients taken */
};

void delivery_batch_init(struct delivery_batch *b,
			 const struct delivery_ctx *ctx, time_t now);
/*
 * Takes the job's next recipients that are pending and due (all pending
 * ones with force), advancing its cursor, until the batch holds max_rcpts
 * recipients or max_bytes of message bytes. The job must stay open until
 * the batch is freed. Returns the number taken.
 */
size_t delivery_batch_take(struct delivery_batch *b, struct delivery_job *job,
			   size_t max_rcpts, size_t max_bytes);
/* Returns true when the batch holds max_rcpts or max_bytes. */
bool delivery_batch_full(const struct delivery_batch *b, size_t max_rcpts,
			 size_t max_bytes);
/* Step 1: looks up each account and writes tmp/BASE, without fsync. */
void delivery_batch_stage(struct delivery_batch *b);
/*
 * Step 2: makes the staged files durable with one syncfs(2) per file
 * system, or an fsync per file (ctx->fsync_each, or when syncfs fails).
 */
void delivery_batch_sync(struct delivery_batch *b);
/* Step 3: renames each durable file into new/, then fsyncs each new/. */
void delivery_batch_publish(struct delivery_batch *b);
/*
 * Step 4: logs each attempt, appends the status records and makes them
 * durable with one sync, then updates the jobs' recipients.
 */
void delivery_batch_record(struct delivery_batch *b);
/* Runs steps 1 to 4. */
void delivery_batch_run(struct delivery_batch *b);
/*
 * Frees the batch. Files of a step not run yet stay where they are, as
 * after a crash at that point.
 */
void delivery_batch_free(struct delivery_batch *b);

/* Returns true if syncfs(2) reports write errors here (Linux 5.8 on). */
bool delivery_syncfs_reports_errors(void);

#endif
