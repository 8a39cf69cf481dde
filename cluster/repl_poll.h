/*
 * repl_poll - the local replicator's status, fetched in a thread
 *
 * repl_admin() blocks for up to 5 s, and the cluster process's event loop
 * must not stop sending heartbeats while a replicator is slow, so one
 * thread asks "STATUS" every interval (and at once after
 * repl_poll_now()) and keeps the last answer. After each attempt it wakes
 * the loop through an ev_async and the owner's callback runs there. The
 * thread only calls repl_admin() and repl_status_parse() and never logs;
 * the owner logs what changed.
 */
#ifndef HAPOST_CLUSTER_REPL_POLL_H
#define HAPOST_CLUSTER_REPL_POLL_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

#include "promotion.h"

struct repl_poll;

/* The last attempt's outcome. */
struct repl_poll_result {
	unsigned long attempts;	   /* finished attempts; 0: none yet */
	bool ok;		   /* the replicator answered a valid status */
	struct repl_status status; /* valid when ok */
	char error[256];	   /* why not, when !ok */
	double at;		   /* ev_time() of the attempt's end */
};

/*
 * Starts the thread. done(arg) runs on loop after every attempt. Returns
 * NULL with the reason in err when the thread cannot start.
 */
struct repl_poll *repl_poll_start(struct ev_loop *loop, const char *run_dir,
				  double interval, void (*done)(void *arg),
				  void *arg, char *err, size_t errlen);
/* Copies the last outcome. */
void repl_poll_get(struct repl_poll *p, struct repl_poll_result *out);
/* Starts an attempt now, or right after the one in progress. */
void repl_poll_now(struct repl_poll *p);
/* Stops and joins the thread (up to one repl_admin() timeout). */
void repl_poll_stop(struct repl_poll **pp);

#endif
