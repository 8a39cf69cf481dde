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
 * In replicated mode the loop does not block on the replicator: the batch
 * is sent, the files are synced here, and the loop serves the other
 * sessions until the reply arrives (or replication_timeout plus a second
 * passes). Messages finished meanwhile form the next batch, which starts
 * when this one lands, so a worker has one batch in flight at a time.
 * smtp_commit_drain() lands the batch in flight before the worker exits,
 * and before any synchronous replication commit of the worker (an IMAP
 * flag change), so the worker never has two commits outstanding.
 *
 * A session that ends while its message waits for the next batch
 * (shutdown, a session killed) has the entry aborted: the client never
 * saw a 250, so it retries. A message already in flight is committed
 * anyway. At shutdown smtp_commit_settle() lands it first, so the client
 * reads its 250 or 451 before the 421. Input is not read while a message
 * waits, so a client that closes the connection meanwhile is noticed
 * only after its reply. Its message is then committed and the 250 is
 * lost, as with any connection lost after the final dot.
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
#include "repl.h"
#include "smtp_session.h"
#include "worker.h"
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

/* Messages waiting for the next batch. */
static struct pending_commit *pending_head, **pending_tail = &pending_head;
static ev_prepare commit_watcher;
static bool commit_watcher_ready;

/* The batch whose replication reply is awaited. */
static struct {
	struct ev_loop *loop;
	struct pending_commit *p[COMMIT_BATCH_MAX];
	struct queue_commit v[COMMIT_BATCH_MAX];
	size_t n; /* 0 when no batch is in flight */
	ev_io reply;
	ev_timer timeout;
} flight;

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

/* Finishes the batch in flight and replies to its sessions. */
static void
flight_land(void)
{
	size_t i, n = flight.n;

	if (flight.loop != NULL) {
		ev_io_stop(flight.loop, &flight.reply);
		ev_timer_stop(flight.loop, &flight.timeout);
	}
	queue_commit_finish(flight.v, n);
	flight.n = 0;
	for (i = 0; i < n; i++) {
		struct pending_commit *p = flight.p[i];

		if (p->s != NULL)
			commit_reply(p->s, flight.v[i].error,
				     flight.v[i].reason, p->id, p->log_line);
		else if (flight.v[i].error == 0)
			/* Its session ended while the batch was committed. */
			log_info("qid=%s committed after its session ended; "
				 "the client saw no reply and may send it "
				 "again",
				 p->id);
		free(p->log_line);
		free(p);
	}
	/* Messages that finished meanwhile form the next batch. */
	if (pending_head != NULL && flight.loop != NULL)
		ev_prepare_start(flight.loop, &commit_watcher);
}

static void
reply_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	flight_land();
}

static void
timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	flight_land();
}

static void
commit_batch(struct ev_loop *loop, ev_prepare *w, int revents)
{
	size_t n = 0;
	int fd;

	/* One batch at a time: the next starts when this one lands. */
	if (flight.n > 0 || pending_head == NULL) {
		ev_prepare_stop(loop, w);
		return;
	}
	while (pending_head != NULL && n < COMMIT_BATCH_MAX) {
		struct pending_commit *p = pending_head;

		pending_head = p->next;
		if (pending_head == NULL)
			pending_tail = &pending_head;
		flight.p[n] = p;
		memset(&flight.v[n], 0, sizeof(flight.v[n]));
		flight.v[n].writer = p->writer;
		p->writer = NULL;
		n++;
	}
	if (pending_head == NULL)
		ev_prepare_stop(loop, w);
	flight.n = n;
	flight.loop = loop;
	/* A synchronous commit of this process lands this batch first. */
	repl_set_before_commit(smtp_commit_drain);
	queue_commit_start(flight.v, n, true);
	fd = queue_commit_fd();
	if (fd < 0) {
		flight_land();
		return;
	}
	ev_io_init(&flight.reply, reply_cb, fd, EV_READ);
	ev_io_start(loop, &flight.reply);
	ev_timer_init(&flight.timeout, timeout_cb, repl_commit_remaining(),
		      0.);
	ev_timer_start(loop, &flight.timeout);
}

void
smtp_commit_drain(void)
{
	if (flight.n > 0)
		flight_land();
}

void
smtp_commit_settle(struct smtp_session *s)
{
	for (size_t i = 0; i < flight.n; i++) {
		if (flight.p[i]->s == s) {
			flight_land();
			break;
		}
	}
	smtp_commit_cancel(s);
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
	/* A message in flight is committed anyway, and its reply is dropped. */
	for (size_t i = 0; i < flight.n; i++)
		if (flight.p[i]->s == s)
			flight.p[i]->s = NULL;
	s->committing = false;
}
