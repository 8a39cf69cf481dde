/*
 * qmgr - the queue manager process
 *
 * One libev loop schedules deliveries of the entries in DATA_DIR/queue:
 *
 * - inotify on queue/messages/ reports new entries (a rename into the
 *   directory) and deleted ones; a queue overflow or SIGHUP triggers a
 *   full rescan, and a rescan also runs every RESCAN_INTERVAL seconds as
 *   a safety net.
 * - a timer wakes the loop when the earliest deferred recipient is due.
 * - the unix datagram socket RUN_DIR/qmgr.sock accepts "flush", which
 *   makes every entry and recipient due now. A sender with a bound
 *   address gets "ok" or "error ..." back.
 * - an idle watcher does the work: one batch per callback (see batch.c),
 *   so signals and new entries are handled between batches.
 *
 * Group commit: a callback opens jobs for the due entries in arrival
 * order until their due recipients fill a batch (DELIVERY_BATCH_RCPTS
 * recipients or DELIVERY_BATCH_BYTES), delivers the batch with one sync
 * per step, and removes the entries that are then finished with one
 * fsync per queue directory. Batches form on their own under load: while
 * one is being delivered, inotify queues the entries that arrive, and
 * the next callback takes them all. An entry with more due recipients
 * than fit keeps its job open for the next callback. Only one queue
 * manager may deliver from a data_dir (exactly once depends on it), so
 * batching and not parallel delivery is how throughput grows.
 *
 * At startup the queue manager removes stale temporary files
 * (queue_cleanup) and schedules every entry present with check_existing
 * set, because a crash may have interrupted a delivery to it.
 *
 * SIGTERM or SIGINT stops the loop after the batch in progress; its
 * results are already recorded, so the rest of the queue is simply
 * retried by the next queue manager. A batch is not interrupted, so
 * shutdown_timeout is met unless its Maildir writes and syncs block for
 * longer (a hung network file system, for example).
 *
 * Limits: picking the next due entry scans the in-memory list, which is
 * linear in the queue size; fine for thousands of entries.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "batch.h"
#include "bounce.h"
#include "directory.h"
#include "job.h"
#include "log.h"
#include "qmgr.h"
#include "queue.h"
#include "remote.h"
#include "repl.h"
#include "xalloc.h"

#define RESCAN_INTERVAL 300.0
#define LOAD_ERROR_RETRY_MIN 60

struct qmgr_entry {
	char id[QUEUE_ID_LEN + 1];
	time_t due; /* earliest due recipient; 0 for now */
	bool check_existing;
	bool force;
	/* Remote results arrived while a job was open: due again at once. */
	bool recheck;
};

struct qmgr {
	struct cfg *cfg;
	struct ev_loop *loop;
	struct delivery_ctx ctx;
	struct remote *remote;

	struct qmgr_entry *entries; /* sorted by ID, so by arrival */
	size_t nentries;
	size_t cap;

	/* Open jobs: every one has due recipients or is about to finish. */
	struct delivery_job jobs[DELIVERY_BATCH_RCPTS];
	size_t njobs;

	char messages_dir[PATH_MAX];
	struct sockaddr_un sock_addr;
	int inotify_fd;
	int sock_fd;

	ev_io inotify_watcher;
	ev_io sock_watcher;
	ev_timer retry_timer;
	ev_timer rescan_timer;
	ev_idle work_watcher;
	ev_signal term_watcher;
	ev_signal int_watcher;
	ev_signal hup_watcher;
	ev_timer stop_timer;
	bool stopping;
	int exit_code;
};

static int
compare_entry_id(const void *key, const void *elem)
{
	return strcmp(key, ((const struct qmgr_entry *)elem)->id);
}

static int
compare_id_string(const void *key, const void *elem)
{
	return strcmp(key, *(char *const *)elem);
}

static struct qmgr_entry *
entry_find(struct qmgr *q, const char *id)
{
	return bsearch(id, q->entries, q->nentries, sizeof(*q->entries),
		       compare_entry_id);
}

/* Adds id as due now; an entry already known is left as it is. */
static void
entry_add(struct qmgr *q, const char *id, bool check_existing)
{
	size_t pos = q->nentries;
	struct qmgr_entry *e;

	/* New IDs sort last in the common case; search from the end. */
	while (pos > 0 && strcmp(q->entries[pos - 1].id, id) > 0)
		pos--;
	if (pos > 0 && strcmp(q->entries[pos - 1].id, id) == 0)
		return;
	if (q->nentries == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 64;
		q->entries = xrealloc(q->entries, q->cap * sizeof(*e));
	}
	memmove(&q->entries[pos + 1], &q->entries[pos],
		(q->nentries - pos) * sizeof(*e));
	e = &q->entries[pos];
	memset(e, 0, sizeof(*e));
	memcpy(e->id, id, sizeof(e->id));
	e->check_existing = check_existing;
	q->nentries++;
}

static void
entry_remove(struct qmgr *q, struct qmgr_entry *e)
{
	size_t pos = (size_t)(e - q->entries);

	memmove(e, e + 1, (q->nentries - pos - 1) * sizeof(*e));
	q->nentries--;
}

static struct delivery_job *
job_find(struct qmgr *q, const char *id)
{
	size_t i;

	for (i = 0; i < q->njobs; i++)
		if (strcmp(q->jobs[i].env.id, id) == 0)
			return &q->jobs[i];
	return NULL;
}

/* Starts the work watcher if anything is due, else arms the timer. */
static void
schedule(struct qmgr *q)
{
	time_t now = time(NULL), earliest = 0;
	double delay;
	size_t i;

	ev_timer_stop(q->loop, &q->retry_timer);
	if (q->njobs > 0) {
		ev_idle_start(q->loop, &q->work_watcher);
		return;
	}
	for (i = 0; i < q->nentries; i++) {
		time_t due = q->entries[i].due;

		if (due <= now) {
			ev_idle_start(q->loop, &q->work_watcher);
			return;
		}
		if (earliest == 0 || due < earliest)
			earliest = due;
	}
	ev_idle_stop(q->loop, &q->work_watcher);
	if (earliest == 0)
		return;
	delay = (double)(earliest - now);
	/* Wall-clock jumps are caught up with at least once per rescan. */
	if (delay > RESCAN_INTERVAL)
		delay = RESCAN_INTERVAL;
	ev_timer_set(&q->retry_timer, delay, 0.);
	ev_timer_start(q->loop, &q->retry_timer);
}

/* Closes the open job j and drops it from the list. */
static void
job_stop(struct qmgr *q, struct delivery_job *j)
{
	size_t pos = (size_t)(j - q->jobs);

	delivery_job_close(j);
	memmove(j, j + 1, (q->njobs - pos - 1) * sizeof(*j));
	q->njobs--;
}

static void
jobs_stop_all(struct qmgr *q)
{
	while (q->njobs > 0)
		job_stop(q, &q->jobs[q->njobs - 1]);
}

/*
 * Opens a job for e. Returns 1 when opened; 0 when e could not be loaded
 * and is due again later; -1 when it is gone and was dropped from the
 * list.
 */
static int
job_open(struct qmgr *q, struct qmgr_entry *e, time_t now)
{
	struct delivery_job *j = &q->jobs[q->njobs];
	char err[512];

	if (delivery_job_open(&q->ctx, e->id, e->check_existing, e->force, j,
			      err, sizeof(err)) < 0) {
		unsigned retry = q->ctx.retry_max;

		if (errno == ENOENT) {
			entry_remove(q, e);
			return -1;
		}
		if (retry < LOAD_ERROR_RETRY_MIN)
			retry = LOAD_ERROR_RETRY_MIN;
		log_error("%s; the entry stays queued, next try in %u s", err,
			  retry);
		e->due = now + (time_t)retry;
		return 0;
	}
	e->force = false;
	q->njobs++;
	/* Remote recipients leave the job's batch before it starts. */
	remote_take(q->remote, j, now);
	return 1;
}

/*
 * Opens jobs for due entries, in arrival order, until the open jobs'
 * due recipients fill a batch.
 */
static void
jobs_fill(struct qmgr *q, time_t now)
{
	size_t rcpts = 0, bytes = 0, i;

	for (i = 0; i < q->njobs; i++) {
		size_t due = delivery_job_due(&q->jobs[i], now);

		rcpts += due;
		bytes += due * q->jobs[i].env.msg_size;
	}
	for (i = 0; i < q->nentries && q->njobs < DELIVERY_BATCH_RCPTS;) {
		struct qmgr_entry *e = &q->entries[i];
		struct delivery_job *j;
		size_t due;
		int opened;

		if (rcpts >= DELIVERY_BATCH_RCPTS ||
		    bytes >= DELIVERY_BATCH_BYTES)
			break;
		if (e->due > now || job_find(q, e->id) != NULL) {
			i++;
			continue;
		}
		opened = job_open(q, e, now);
		/* A dropped entry moved the next one to position i. */
		if (opened < 0)
			continue;
		i++;
		if (opened == 0)
			continue;
		j = &q->jobs[q->njobs - 1];
		due = delivery_job_due(j, now);
		rcpts += due;
		bytes += due * j->env.msg_size;
	}
}

/* Finishes the jobs with nothing due left and updates their entries. */
static void
jobs_finish(struct qmgr *q, time_t now)
{
	struct delivery_job *done[DELIVERY_BATCH_RCPTS];
	time_t next[DELIVERY_BATCH_RCPTS];
	size_t n = 0, i;

	for (i = 0; i < q->njobs; i++)
		if (delivery_job_due(&q->jobs[i], now) == 0)
			done[n++] = &q->jobs[i];
	if (n == 0)
		return;
	/* Reports wait until every remote attempt of the round is back. */
	for (i = 0; i < n; i++) {
		if (remote_busy(q->remote, done[i]->env.id))
			continue;
		bounce_failures(&q->ctx, done[i], now);
		bounce_delay_warning(&q->ctx, done[i], now);
	}
	delivery_jobs_finish(&q->ctx, done, n, now, next);
	for (i = n; i > 0; i--) {
		struct delivery_job *j = done[i - 1];
		struct qmgr_entry *e = entry_find(q, j->env.id);

		if (e != NULL) {
			if (next[i - 1] == 0) {
				entry_remove(q, e);
			} else {
				e->due = e->recheck ? 0 : next[i - 1];
				e->check_existing |= j->check_existing;
			}
			e->recheck = false;
		}
		/* From the end, so the pointers before it stay valid. */
		job_stop(q, j);
	}
}

static void
work_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
	struct qmgr *q = w->data;
	struct delivery_batch batch;
	time_t now = time(NULL);
	ev_tstamp started = ev_time();
	size_t i, entries = 0;

	jobs_fill(q, now);
	if (q->njobs == 0) {
		schedule(q);
		return;
	}
	delivery_batch_init(&batch, &q->ctx, now);
	for (i = 0; i < q->njobs; i++) {
		if (delivery_batch_full(&batch, DELIVERY_BATCH_RCPTS,
					DELIVERY_BATCH_BYTES))
			break;
		if (delivery_batch_take(&batch, &q->jobs[i],
					DELIVERY_BATCH_RCPTS,
					DELIVERY_BATCH_BYTES) > 0)
			entries++;
	}
	delivery_batch_run(&batch);
	log_debug("delivery batch: %zu recipients of %zu entries in %.1f ms",
		  batch.n, entries, (ev_time() - started) * 1000.0);
	delivery_batch_free(&batch);
	jobs_finish(q, now);
	schedule(q);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	schedule(w->data);
}

/* Brings the in-memory list in line with queue/messages/. */
static void
rescan(struct qmgr *q)
{
	char err[512];
	char **ids;
	size_t n, i;

	if (queue_list(q->cfg->data_dir, &ids, &n, err, sizeof(err)) < 0) {
		log_error("queue rescan failed: %s", err);
		return;
	}
	/* Drop entries that are gone, then add the ones not known yet. */
	for (i = q->nentries; i > 0; i--) {
		struct qmgr_entry *e = &q->entries[i - 1];

		if (bsearch(e->id, ids, n, sizeof(*ids), compare_id_string) ==
			NULL &&
		    job_find(q, e->id) == NULL)
			entry_remove(q, e);
	}
	for (i = 0; i < n; i++)
		entry_add(q, ids[i], true);
	queue_list_free(ids, n);
	schedule(q);
}

static void
rescan_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	rescan(w->data);
}

static void
inotify_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct qmgr *q = w->data;
	char events[16384]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	bool overflow = false;
	ssize_t len;

	for (;;) {
		char *p;

		len = read(q->inotify_fd, events, sizeof(events));
		if (len < 0 && errno == EINTR)
			continue;
		if (len <= 0)
			break;
		for (p = events; p < events + len;) {
			const struct inotify_event *ev = (void *)p;
			struct delivery_job *j;
			struct qmgr_entry *e;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW)
				overflow = true;
			if (ev->len == 0 || !queue_id_valid(ev->name))
				continue;
			if (ev->mask & (IN_MOVED_TO | IN_CLOSE_WRITE)) {
				entry_add(q, ev->name, false);
				continue;
			}
			e = entry_find(q, ev->name);
			if (e == NULL)
				continue;
			/* Deleted by hapostctl, or removed after delivery. */
			remote_cancel(q->remote, ev->name);
			j = job_find(q, ev->name);
			if (j != NULL) {
				log_info("qid=%s deleted from the queue; "
					 "delivery stopped",
					 ev->name);
				job_stop(q, j);
			}
			entry_remove(q, e);
		}
	}
	if (len < 0 && errno != EAGAIN)
		log_error("read(inotify) failed: %m");
	if (overflow) {
		log_warning("inotify queue overflowed; rescanning the queue");
		rescan(q);
		return;
	}
	schedule(q);
}

/* Makes every entry and recipient due now. */
static void
flush_all(struct qmgr *q)
{
	size_t i;

	for (i = 0; i < q->nentries; i++) {
		q->entries[i].due = 0;
		q->entries[i].force = true;
	}
	log_info("flush requested: %zu entries due now", q->nentries);
	schedule(q);
}

static void
sock_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct qmgr *q = w->data;
	struct sockaddr_un from;
	socklen_t fromlen = sizeof(from);
	char cmd[64], text[64];
	const char *reply;
	ssize_t n;

	n = recvfrom(q->sock_fd, cmd, sizeof(cmd) - 1, 0,
		     (struct sockaddr *)&from, &fromlen);
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_error("recvfrom(%s) failed: %m",
				  q->sock_addr.sun_path);
		return;
	}
	while (n > 0 && (cmd[n - 1] == '\n' || cmd[n - 1] == '\r'))
		n--;
	cmd[n] = '\0';
	if (strcmp(cmd, QMGR_FLUSH_COMMAND) == 0) {
		flush_all(q);
		reply = "ok\n";
	} else {
		log_warning("unknown control command \"%s\" ignored",
			    log_printable(text, sizeof(text), cmd, (size_t)n));
		reply = "error unknown command\n";
	}
	/* An unbound sender has only the address family in from. */
	if (fromlen > sizeof(sa_family_t) &&
	    sendto(q->sock_fd, reply, strlen(reply), MSG_DONTWAIT,
		   (struct sockaddr *)&from, fromlen) < 0)
		log_debug("reply to control client failed: %m");
}

static void
drained_cb(void *arg)
{
	struct qmgr *q = arg;

	ev_break(q->loop, EVBREAK_ALL);
}

static void
stop_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	log_warning("outbound transactions still running at the stop "
		    "deadline; their recipients are retried later");
	ev_break(loop, EVBREAK_ALL);
}

/*
 * Stops taking work, then waits for the outbound transactions in
 * progress, so that a message a server is receiving is not cut off and
 * sent again later. The master kills this process after
 * shutdown_timeout, so the wait ends a second before that.
 */
static void
stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct qmgr *q = w->data;
	double grace = q->cfg->shutdown_timeout > 1
			   ? (double)q->cfg->shutdown_timeout - 1.0
			   : 0.5;

	if (q->stopping)
		return;
	q->stopping = true;
	log_notice("stopping on signal %d", w->signum);
	jobs_stop_all(q);
	ev_idle_stop(loop, &q->work_watcher);
	ev_timer_stop(loop, &q->retry_timer);
	ev_timer_stop(loop, &q->rescan_timer);
	ev_io_stop(loop, &q->inotify_watcher);
	ev_io_stop(loop, &q->sock_watcher);
	ev_timer_init(&q->stop_timer, stop_timeout_cb, grace, 0.);
	q->stop_timer.data = q;
	ev_timer_start(loop, &q->stop_timer);
	remote_shutdown(q->remote, drained_cb, q);
}

static void
hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct qmgr *q = w->data;

	remote_reload(q->remote);
	rescan(q);
}

/* Makes entry id due now: remote delivery has no recipient of it left. */
static void
entry_released(void *arg, const char *id)
{
	struct qmgr *q = arg;
	struct qmgr_entry *e = entry_find(q, id);

	if (e == NULL || q->stopping)
		return;
	e->due = 0;
	if (job_find(q, id) != NULL)
		e->recheck = true;
	schedule(q);
}

static int
open_inotify(struct qmgr *q)
{
	q->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (q->inotify_fd < 0) {
		log_error("inotify_init1 failed: %m");
		return -1;
	}
	if (inotify_add_watch(q->inotify_fd, q->messages_dir,
			      IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE |
				  IN_MOVED_FROM) < 0) {
		log_error("inotify_add_watch(%s) failed: %m", q->messages_dir);
		return -1;
	}
	return 0;
}

static int
open_control_socket(struct qmgr *q)
{
	struct sockaddr_un *sa = &q->sock_addr;
	int n;

	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s",
		     q->cfg->run_dir, QMGR_SOCKET_NAME);
	if (n < 0 || (size_t)n >= sizeof(sa->sun_path)) {
		log_error("control socket path %s/%s is too long",
			  q->cfg->run_dir, QMGR_SOCKET_NAME);
		return -1;
	}
	q->sock_fd =
	    socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (q->sock_fd < 0) {
		log_error("socket(AF_UNIX) failed: %m");
		return -1;
	}
	/* A socket file left by an earlier queue manager is replaced. */
	if (unlink(sa->sun_path) < 0 && errno != ENOENT) {
		log_error("unlink(%s) failed: %m", sa->sun_path);
		return -1;
	}
	if (bind(q->sock_fd, (struct sockaddr *)sa, sizeof(*sa)) < 0) {
		log_error("bind(%s) failed: %m", sa->sun_path);
		return -1;
	}
	if (chmod(sa->sun_path, 0600) < 0) {
		log_error("chmod(%s) failed: %m", sa->sun_path);
		return -1;
	}
	return 0;
}

static void
init_watchers(struct qmgr *q)
{
	ev_io_init(&q->inotify_watcher, inotify_cb, q->inotify_fd, EV_READ);
	ev_io_init(&q->sock_watcher, sock_cb, q->sock_fd, EV_READ);
	ev_init(&q->retry_timer, retry_cb);
	ev_timer_init(&q->rescan_timer, rescan_cb, RESCAN_INTERVAL,
		      RESCAN_INTERVAL);
	ev_idle_init(&q->work_watcher, work_cb);
	ev_signal_init(&q->term_watcher, stop_cb, SIGTERM);
	ev_signal_init(&q->int_watcher, stop_cb, SIGINT);
	ev_signal_init(&q->hup_watcher, hup_cb, SIGHUP);
	q->inotify_watcher.data = q;
	q->sock_watcher.data = q;
	q->retry_timer.data = q;
	q->rescan_timer.data = q;
	q->work_watcher.data = q;
	q->term_watcher.data = q;
	q->int_watcher.data = q;
	q->hup_watcher.data = q;

	ev_io_start(q->loop, &q->inotify_watcher);
	ev_io_start(q->loop, &q->sock_watcher);
	ev_timer_start(q->loop, &q->rescan_timer);
	ev_signal_start(q->loop, &q->term_watcher);
	ev_signal_start(q->loop, &q->int_watcher);
	ev_signal_start(q->loop, &q->hup_watcher);
}

static void
close_all(struct qmgr *q)
{
	jobs_stop_all(q);
	remote_free(q->remote);
	if (q->sock_fd >= 0) {
		close(q->sock_fd);
		unlink(q->sock_addr.sun_path);
	}
	if (q->inotify_fd >= 0)
		close(q->inotify_fd);
	if (q->ctx.dir != NULL)
		directory_close(q->ctx.dir);
	if (q->loop != NULL)
		ev_loop_destroy(q->loop);
	free(q->entries);
}

int
qmgr_main(struct cfg *cfg)
{
	struct qmgr q;
	char err[512];
	int n;

	memset(&q, 0, sizeof(q));
	repl_init(cfg);
	q.cfg = cfg;
	q.inotify_fd = -1;
	q.sock_fd = -1;
	q.ctx.data_dir = cfg->data_dir;
	q.ctx.hostname = cfg->hostname;
	q.ctx.retry_min = cfg->queue_retry_min;
	q.ctx.retry_max = cfg->queue_retry_max;
	q.ctx.lifetime = cfg->queue_lifetime;
	q.ctx.unreachable_retry_min = cfg->queue_unreachable_retry_min;
	q.ctx.unreachable_retry_max = cfg->queue_unreachable_retry_max;
	q.ctx.reports = true;
	q.ctx.delay_warning_time = cfg->delay_warning_time;
	q.ctx.fsync_each = !delivery_syncfs_reports_errors();
	if (q.ctx.fsync_each)
		log_warning("this kernel's syncfs(2) does not report write "
			    "errors (Linux 5.8 or later needed); delivery "
			    "fsyncs each file instead");

	if (queue_init(cfg->data_dir, err, sizeof(err)) < 0) {
		log_error("queue manager not started: %s", err);
		return 1;
	}
	n = snprintf(q.messages_dir, sizeof(q.messages_dir),
		     "%s/queue/messages", cfg->data_dir);
	if (n < 0 || (size_t)n >= sizeof(q.messages_dir)) {
		log_error("queue manager not started: data_dir too long");
		return 1;
	}
	q.loop = ev_default_loop(EVFLAG_AUTO);
	if (q.loop == NULL) {
		log_error("queue manager not started: ev_default_loop failed");
		return 1;
	}
	/* Watch before the first scan, so no entry falls in between. */
	if (open_inotify(&q) < 0 || open_control_socket(&q) < 0) {
		close_all(&q);
		return 1;
	}
	q.ctx.dir = directory_open_file(cfg->data_dir);
	q.remote = remote_new(q.loop, cfg, &q.ctx, entry_released, &q);
	init_watchers(&q);

	queue_cleanup(cfg->data_dir);
	rescan(&q);
	log_notice("queue manager started: %zu queued entries", q.nentries);

	ev_run(q.loop, 0);

	close_all(&q);
	log_notice("queue manager stopped");
	return q.exit_code;
}
