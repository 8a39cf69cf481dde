/*
 * smtp_commit - group commit of received messages
 *
 * A message whose content is complete is not made durable at once: its
 * queue writer waits in a list until the event loop is about to block
 * (an ev_prepare watcher), and then every message finished in that loop
 * iteration is committed together with queue_writer_commit_many(): one
 * syncfs and one directory fsync for the batch instead of two fsyncs per
 * message. Each session gets its 250 (or 451) only after that, so the
 * reply still follows durability. While a session waits it reads no
 * further commands; a pipelined command runs after its reply.
 *
 * A session that ends while its message waits (client gone, shutdown)
 * has the entry aborted: the client never saw a 250, so it retries.
 *
 * Without an event loop (the unit tests' fake conn) a message is
 * committed on the spot with queue_writer_commit().
 *
 * In replicated mode the batch is also one replication commit (see
 * queue_batch.c). When the replicator refuses it or does not answer
 * (error EAGAIN), every session of the batch gets 451 4.3.0 saying so,
 * and no entry was published.
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queue.h"
#include "smtp_session.h"
#include "xalloc.h"

/* Messages committed in one batch at most; more wait for the next. */
#define COMMIT_BATCH_MAX 256

struct pending_commit {
	struct smtp_session *s; /* NULL once the session ended */
	struct queue_writer *writer;
	char id[QUEUE_ID_LEN + 1];
	char *log_line; /* the accept log line, without the conn id */
	struct pending_commit *next;
};

static struct pending_commit *pending_head, **pending_tail = &pending_head;
static ev_prepare commit_watcher;
static bool commit_watcher_ready;

static void
commit_reply(struct smtp_session *s, int error, const char *reason,
	     const char *id, const char *log_line)
{
	s->committing = false;
	if (error == EAGAIN) {
		/* The replicator refused or did not answer in time. */
		log_error("conn=%lu queue commit failed for %s: %s", s->c->id,
			  id, reason);
		smtp_reply(s, "451 4.3.0 Error: storage replication is "
			      "unavailable; try again later");
	} else if (error != 0) {
		log_error("conn=%lu queue commit failed for %s: %s", s->c->id,
			  id, reason);
		smtp_reply(s, "451 4.3.0 Error: queue file write error");
	} else {
		log_info("conn=%lu qid=%s %s", s->c->id, id, log_line);
		/* A delivered message clears the count, so only sessions
		 * that deliver nothing run into smtp_error_limit. */
		s->errors = 0;
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", id);
	}
	if (!s->auth_delaying)
		conn_resume_read(s->c);
}

static void
commit_batch(struct ev_loop *loop, ev_prepare *w, int revents)
{
	struct pending_commit *batch[COMMIT_BATCH_MAX];
	struct queue_commit v[COMMIT_BATCH_MAX];
	size_t n = 0;

	while (pending_head != NULL && n < COMMIT_BATCH_MAX) {
		struct pending_commit *p = pending_head;

		pending_head = p->next;
		if (pending_head == NULL)
			pending_tail = &pending_head;
		batch[n] = p;
		memset(&v[n], 0, sizeof(v[n]));
		v[n].writer = p->writer;
		n++;
	}
	if (pending_head == NULL)
		ev_prepare_stop(loop, w);
	if (n == 0)
		return;
	queue_writer_commit_many(v, n, true);
	for (size_t i = 0; i < n; i++) {
		struct pending_commit *p = batch[i];

		if (p->s != NULL)
			commit_reply(p->s, v[i].error, v[i].reason, p->id,
				     p->log_line);
		else if (v[i].error == 0)
			/* Its session ended while the batch formed. */
			log_info("qid=%s committed after its session ended; "
				 "the client saw no reply and may send it "
				 "again",
				 p->id);
		free(p->log_line);
		free(p);
	}
}

void
smtp_commit_message(struct smtp_session *s, const char *log_line)
{
	struct pending_commit *p;
	char err[256];

	if (s->c->loop == NULL) {
		int rc;

		errno = 0;
		rc = queue_writer_commit(s->qw, err, sizeof(err));
		s->qw = NULL;
		if (rc < 0)
			rc = errno == EAGAIN ? EAGAIN : EIO;
		commit_reply(s, rc, err, s->env.id, log_line);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->s = s;
	p->writer = s->qw;
	s->qw = NULL;
	memcpy(p->id, s->env.id, sizeof(p->id));
	p->log_line = xstrdup(log_line);
	*pending_tail = p;
	pending_tail = &p->next;
	s->committing = true;
	conn_pause_read(s->c);
	if (!commit_watcher_ready) {
		ev_prepare_init(&commit_watcher, commit_batch);
		commit_watcher_ready = true;
	}
	if (!ev_is_active(&commit_watcher))
		ev_prepare_start(s->c->loop, &commit_watcher);
}

void
smtp_commit_cancel(struct smtp_session *s)
{
	struct pending_commit **pp = &pending_head;

	while (*pp != NULL) {
		struct pending_commit *p = *pp;

		if (p->s != s) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		if (pending_tail == &p->next)
			pending_tail = pp;
		queue_writer_abort(p->writer);
		log_info("conn=%lu qid=%s discarded: the session ended before "
			 "the commit",
			 s->c->id, p->id);
		free(p->log_line);
		free(p);
	}
	s->committing = false;
}
