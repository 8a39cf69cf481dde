/*
 * remote - the outbound SMTP scheduler of the queue manager
 *
 * The queue manager opens a job for a due entry and calls remote_take()
 * before the local batch: every due recipient whose domain is not ours
 * (delivery_is_remote()) is either held for its delivery window or
 * taken over by this module, which then owns it until its result is
 * recorded. The job keeps such a recipient pending in memory but out of
 * the batch's way. When the last recipient it took from an entry has its
 * result recorded, the done callback tells the queue manager to look at
 * the entry again (remove it, send its bounce, schedule its retry).
 *
 * Everything runs on the queue manager's libev loop: DNS lookups
 * (dns.h), connections and transactions (smtp_client.h). See remote.c
 * for the routing, grouping and retry rules.
 */
#ifndef HAPOST_DELIVERY_REMOTE_H
#define HAPOST_DELIVERY_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "cfg.h"
#include "job.h"

struct ev_loop;
struct remote;
struct route;

/* Called when remote delivery holds no recipient of entry id any more. */
typedef void remote_done_cb(void *arg, const char *id);
/* Called once remote_shutdown() has nothing left in progress. */
typedef void remote_drained_cb(void *arg);

/*
 * Sets up the resolver, the client TLS context, the gateway table and
 * the delivery window from cfg. A table or window that does not load is
 * logged and holds remote recipients until a reload fixes it; local
 * delivery goes on. cfg and ctx must outlive the scheduler.
 */
struct remote *remote_new(struct ev_loop *loop, const struct cfg *cfg,
			  const struct delivery_ctx *ctx, remote_done_cb *done,
			  void *arg);
/* Closes every connection without waiting and frees r. */
void remote_free(struct remote *r);
/* Reads the gateway table again; keeps the old one when it is invalid. */
void remote_reload(struct remote *r);

/*
 * Takes the job's due remote recipients (all pending ones after a flush)
 * or holds them until their window opens, and sets their in-memory next
 * attempt so the local batch skips them. A job opened with force gets
 * its local recipients made due now and force cleared.
 */
void remote_take(struct remote *r, struct delivery_job *job, time_t now);
/* True while remote delivery holds a recipient of entry id. */
bool remote_busy(const struct remote *r, const char *id);
/* Forgets the waiting recipients of a deleted entry. */
void remote_cancel(struct remote *r, const char *id);
/*
 * Takes no new work, drops what waits, and lets the transactions in
 * progress finish so their results are recorded. drained is called
 * from the loop once no session is left.
 */
void remote_shutdown(struct remote *r, remote_drained_cb *drained, void *arg);

/*
 * Checks the gateway table and delivery_window of cfg, for hapostd -t
 * and reloads. Returns 0, or -1 with "FILE:LINE: reason" in err.
 */
int remote_check_config(const struct cfg *cfg, char *err, size_t errlen);

/*
 * Describes how address is routed, for logs and hapostctl:
 * "mx:DOMAIN", or "gateway:PATTERN->NEXTHOP" for a route of the table.
 */
void remote_route_text(const struct route *route, const char *address,
		       char *out, size_t outlen);

#endif
