/*
 * repl_poll - the status thread
 *
 * The thread and the loop share struct repl_poll under its mutex: the
 * thread writes the result, the loop reads it and sets the request and
 * stop flags. The condition variable wakes the thread early for a
 * request or a stop. The clock is CLOCK_MONOTONIC for the waits, so a
 * wall-clock step neither stalls nor hurries the polling.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "repl_admin.h"
#include "repl_poll.h"
#include "xalloc.h"

struct repl_poll {
	struct ev_loop *loop;
	char *run_dir;
	double interval;
	void (*done)(void *arg);
	void *arg;
	ev_async wake;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool requested;			/* under lock */
	bool stop;			/* under lock */
	struct repl_poll_result result; /* under lock */
};

static void
wake_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct repl_poll *p = w->data;

	p->done(p->arg);
}

/* One STATUS exchange, outside the lock. */
static void
attempt(struct repl_poll *p, struct repl_poll_result *r)
{
	struct buf reply = BUF_INIT;
	char err[200];

	memset(r, 0, sizeof(*r));
	if (repl_admin(p->run_dir, "STATUS", &reply, err, sizeof(err)) < 0) {
		snprintf(r->error, sizeof(r->error),
			 "the replicator does not answer: %s", err);
	} else if (repl_status_parse(reply.data != NULL ? reply.data : "",
				     reply.len, &r->status, err,
				     sizeof(err)) < 0) {
		snprintf(r->error, sizeof(r->error),
			 "invalid status from the replicator: %s", err);
	} else {
		r->ok = true;
	}
	buf_free(&reply);
	r->at = ev_time();
}

static void *
thread_main(void *arg)
{
	struct repl_poll *p = arg;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct repl_poll_result r;
		unsigned long attempts;

		while (!p->stop && !p->requested &&
		       pthread_cond_timedwait(&p->cond, &p->lock, &next) == 0)
			;
		if (p->stop)
			break;
		p->requested = false;
		attempts = p->result.attempts;
		pthread_mutex_unlock(&p->lock);

		attempt(p, &r);
		clock_gettime(CLOCK_MONOTONIC, &next);
		next.tv_sec += (time_t)p->interval;
		next.tv_nsec +=
		    (long)((p->interval - (double)(time_t)p->interval) * 1e9);
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}

		pthread_mutex_lock(&p->lock);
		r.attempts = attempts + 1;
		p->result = r;
		ev_async_send(p->loop, &p->wake);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

struct repl_poll *
repl_poll_start(struct ev_loop *loop, const char *run_dir, double interval,
		void (*done)(void *arg), void *arg, char *err, size_t errlen)
{
	struct repl_poll *p = xcalloc(1, sizeof(*p));
	pthread_condattr_t attr;
	sigset_t all, saved;
	int rc;

	p->loop = loop;
	p->run_dir = xstrdup(run_dir);
	p->interval = interval;
	p->done = done;
	p->arg = arg;
	snprintf(p->result.error, sizeof(p->result.error),
		 "no status from the replicator yet");
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cond, &attr);
	pthread_condattr_destroy(&attr);
	ev_async_init(&p->wake, wake_cb);
	p->wake.data = p;
	ev_async_start(loop, &p->wake);
	/* Signals go to the loop's thread: the new one blocks them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &saved);
	rc = pthread_create(&p->thread, NULL, thread_main, p);
	pthread_sigmask(SIG_SETMASK, &saved, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "starting the status thread failed: %s",
			 strerror(rc));
		ev_async_stop(loop, &p->wake);
		pthread_cond_destroy(&p->cond);
		pthread_mutex_destroy(&p->lock);
		free(p->run_dir);
		free(p);
		return NULL;
	}
	return p;
}

void
repl_poll_get(struct repl_poll *p, struct repl_poll_result *out)
{
	pthread_mutex_lock(&p->lock);
	*out = p->result;
	pthread_mutex_unlock(&p->lock);
}

void
repl_poll_now(struct repl_poll *p)
{
	pthread_mutex_lock(&p->lock);
	p->requested = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void
repl_poll_stop(struct repl_poll **pp)
{
	struct repl_poll *p = *pp;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	ev_async_stop(p->loop, &p->wake);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p->run_dir);
	free(p);
	*pp = NULL;
}
