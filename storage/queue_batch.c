/*
 * queue_batch - status records and removals for many entries at once
 *
 * Group commit. queue_writer_commit_many() commits several new entries
 * with one syncfs(2) and one fsync of queue/messages/ in place of two
 * fsyncs each, for an SMTP worker that finished several messages in one
 * event loop pass. For the queue manager, queue_marks_* collects status
 * records for several entries and appends each entry's records to its
 * status file in one write. One syncfs(2) of the data_dir file system
 * then makes all of them durable, in place of an fsync per file and one
 * of queue/status/ per new file. queue_remove_many() removes
 * finished entries with one fsync of queue/messages/ and one of
 * queue/status/ for all of them, keeping queue_remove()'s order: every
 * messages/ID unlink is durable before any status/ID is unlinked, so a
 * crash never leaves an entry without the records of its earlier
 * deliveries.
 *
 * Failures: an entry whose status file cannot be opened, repaired or
 * written fails alone; the others go on. When syncfs(2) fails or the
 * caller has turned it off, each status file is fsync'd instead (and
 * queue/status/ when a file was created), so a write error is reported
 * for the entry it hit. A record counts only when queue_marks_result()
 * returns 0 for its entry.
 *
 * Replicated mode: each group goes to the replicator as one batch with
 * one commit, before any rename, append or unlink. New queue entries go
 * out before their local sync, so the standby stores them while this
 * node syncs, and the reply is awaited before the renames. A refused
 * commit fails the whole group and changes nothing locally.
 *
 * Limits: syncfs(2) also writes back every other dirty file on that file
 * system, so a data_dir that shares its file system with busy programs
 * makes each sync slower. Before Linux 5.8 syncfs(2) does not report
 * write errors; the caller must then turn it off (use_syncfs false).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "queue.h"
#include "queue_format.h"
#include "queue_int.h"
#include "repl_write.h"
#include "xalloc.h"

#define REASON_MAX 256

struct queue_marks_entry {
	char id[QUEUE_ID_LEN + 1];
	struct buf records;
	int fd;
	bool created;
	bool failed;
	char reason[REASON_MAX];
};

struct queue_marks {
	char *data_dir;
	bool use_syncfs;
	struct queue_marks_entry *v;
	size_t n, cap;
};

struct queue_marks *
queue_marks_new(const char *data_dir, bool use_syncfs)
{
	struct queue_marks *m = xcalloc(1, sizeof(*m));

	m->data_dir = xstrdup(data_dir);
	m->use_syncfs = use_syncfs;
	return m;
}

static struct queue_marks_entry *
marks_find(const struct queue_marks *m, const char *id)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->v[i].id, id) == 0)
			return &m->v[i];
	return NULL;
}

/* Returns the entry for id, added when missing. */
static struct queue_marks_entry *
marks_entry(struct queue_marks *m, const char *id)
{
	struct queue_marks_entry *e = marks_find(m, id);

	if (e == NULL) {
		if (m->n == m->cap) {
			m->cap = m->cap ? m->cap * 2 : 16;
			m->v = xrealloc(m->v, m->cap * sizeof(*m->v));
		}
		e = &m->v[m->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->id, sizeof(e->id), "%s", id);
		buf_init(&e->records);
		e->fd = -1;
		/* An ID that does not fit is rejected by the append. */
		if (strlen(id) != QUEUE_ID_LEN) {
			e->failed = true;
			snprintf(e->reason, sizeof(e->reason),
				 "invalid queue ID");
		}
	}
	return e;
}

void
queue_marks_add(struct queue_marks *m, const char *id, size_t rcpt,
		enum queue_rcpt_state state, time_t next_attempt,
		const char *error)
{
	queue_format_status(&marks_entry(m, id)->records, rcpt, state,
			    next_attempt, error);
}

void
queue_marks_add_result(struct queue_marks *m, const char *id, size_t rcpt,
		       enum queue_rcpt_state state, time_t next_attempt,
		       const char *error, const char *dsn, const char *relay)
{
	queue_format_result(&marks_entry(m, id)->records, rcpt, state,
			    next_attempt, error, dsn, relay);
}

void
queue_marks_add_notice(struct queue_marks *m, const char *id, size_t rcpt,
		       enum queue_notice notice)
{
	queue_format_notice(&marks_entry(m, id)->records, rcpt, notice);
}

/* Fails e with "CALL(PATH) failed: " and errno's text, closing its file. */
static void
entry_failed(struct queue_marks_entry *e, const char *call, const char *path)
{
	int saved = errno;

	e->failed = true;
	queue_entry_error(e->reason, sizeof(e->reason), e->id,
			  "%s(%s) failed: %s", call, path, strerror(saved));
	close(e->fd);
	e->fd = -1;
}

/* Fsyncs every appended file and queue/status/ for created ones. */
static void
sync_each(struct queue_marks *m)
{
	char path[PATH_MAX];
	bool created = false;
	size_t i;

	for (i = 0; i < m->n; i++) {
		struct queue_marks_entry *e = &m->v[i];

		if (e->fd < 0)
			continue;
		if (fsync(e->fd) < 0) {
			queue_path(path, m->data_dir, "status", e->id);
			entry_failed(e, "fsync", path);
			continue;
		}
		created |= e->created;
	}
	if (!created || queue_fsync_dir(m->data_dir, "status") == 0)
		return;
	queue_path(path, m->data_dir, "status", NULL);
	for (i = 0; i < m->n; i++) {
		struct queue_marks_entry *e = &m->v[i];

		if (e->fd >= 0 && e->created)
			entry_failed(e, "fsync", path);
	}
}

/*
 * Replicates the records of every entry that will be appended, in one
 * batch, before anything is appended locally. A failed commit fails all
 * of those entries.
 */
static void
marks_replicate(struct queue_marks *m)
{
	char path[PATH_MAX], msg_path[PATH_MAX], reason[REASON_MAX];
	struct repl_batch *b = NULL;
	size_t i;

	for (i = 0; i < m->n; i++) {
		struct queue_marks_entry *e = &m->v[i];
		const char *rel;

		if (e->failed || e->records.len == 0 ||
		    !queue_id_valid(e->id) ||
		    queue_path(path, m->data_dir, "status", e->id) < 0 ||
		    queue_path(msg_path, m->data_dir, "messages", e->id) < 0)
			continue;
		rel = repl_write_rel(path);
		/* A deleted entry must not get a status file back. */
		if (rel == NULL || access(msg_path, F_OK) < 0)
			continue;
		repl_add_append(repl_write_batch(&b), rel, e->records.data,
				e->records.len);
	}
	if (repl_write_commit(b, reason, sizeof(reason)) == 0)
		return;
	for (i = 0; i < m->n; i++) {
		struct queue_marks_entry *e = &m->v[i];

		if (e->failed || e->records.len == 0)
			continue;
		e->failed = true;
		queue_entry_error(e->reason, sizeof(e->reason), e->id, "%s",
				  reason);
	}
}

size_t
queue_marks_commit(struct queue_marks *m)
{
	char path[PATH_MAX];
	size_t i, failed = 0;
	int first_fd = -1;

	marks_replicate(m);
	for (i = 0; i < m->n; i++) {
		struct queue_marks_entry *e = &m->v[i];

		if (e->failed || e->records.len == 0)
			continue;
		e->fd = queue_status_append(m->data_dir, e->id, e->records.data,
					    e->records.len, &e->created,
					    e->reason, sizeof(e->reason));
		if (e->fd < 0)
			e->failed = true;
		else if (first_fd < 0)
			first_fd = e->fd;
		buf_reset(&e->records);
	}
	/*
	 * The syncfs goes through the file opened first: it reports every
	 * write error on the file system since that open.
	 */
	if (first_fd >= 0) {
		if (!m->use_syncfs) {
			sync_each(m);
		} else if (syncfs(first_fd) < 0) {
			log_warning("syncfs(%s) failed: %m; fsyncing each "
				    "status file instead",
				    m->data_dir);
			sync_each(m);
		}
	}
	for (i = 0; i < m->n; i++) {
		struct queue_marks_entry *e = &m->v[i];

		if (e->fd >= 0 && close(e->fd) < 0) {
			queue_path(path, m->data_dir, "status", e->id);
			e->fd = -1;
			e->failed = true;
			queue_entry_error(e->reason, sizeof(e->reason), e->id,
					  "close(%s) failed: %s", path,
					  strerror(errno));
		}
		e->fd = -1;
		if (e->failed)
			failed++;
	}
	repl_done();
	return failed;
}

int
queue_marks_result(const struct queue_marks *m, const char *id, char *err,
		   size_t errlen)
{
	const struct queue_marks_entry *e = marks_find(m, id);

	if (e == NULL) {
		snprintf(err, errlen, "queue entry %s: no status record", id);
		return -1;
	}
	if (!e->failed)
		return 0;
	snprintf(err, errlen, "%s", e->reason);
	return -1;
}

void
queue_marks_free(struct queue_marks *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		if (m->v[i].fd >= 0)
			close(m->v[i].fd);
		buf_free(&m->v[i].records);
	}
	free(m->v);
	free(m->data_dir);
	free(m);
}

/* Fails r with "CALL(PATH) failed: " and errno's text. */
static void
removal_failed(struct queue_removal *r, const char *call, const char *path)
{
	r->error = errno != 0 ? errno : EIO;
	queue_entry_error(r->reason, sizeof(r->reason), r->id,
			  "%s(%s) failed: %s", call, path, strerror(r->error));
}

/*
 * Unlinks SUB/ID of every entry without an error so far, then fsyncs SUB
 * once if anything was unlinked. A file that is already missing sets
 * gone[i] when gone is not NULL. A failed fsync fails every entry whose
 * unlink it had to make durable.
 */
static void
unlink_all(const char *data_dir, const char *sub, struct queue_removal *v,
	   size_t n, bool *unlinked, bool *gone)
{
	char path[PATH_MAX];
	size_t i;
	bool any = false;

	for (i = 0; i < n; i++) {
		struct queue_removal *r = &v[i];

		unlinked[i] = false;
		if (r->error != 0)
			continue;
		if (queue_path(path, data_dir, sub, r->id) < 0) {
			removal_failed(r, "unlink", sub);
			continue;
		}
		if (unlink(path) == 0) {
			unlinked[i] = true;
			any = true;
		} else if (errno == ENOENT) {
			if (gone != NULL)
				gone[i] = true;
		} else {
			removal_failed(r, "unlink", path);
		}
	}
	if (!any || queue_fsync_dir(data_dir, sub) == 0)
		return;
	queue_path(path, data_dir, sub, NULL);
	for (i = 0; i < n; i++)
		if (unlinked[i])
			removal_failed(&v[i], "fsync", path);
}

/*
 * Replicates the removal of every entry without an error so far, in one
 * batch. A failed commit fails them all, with errno EAGAIN.
 */
static void
remove_replicate(const char *data_dir, struct queue_removal *v, size_t n)
{
	const char **ids = xcalloc(n ? n : 1, sizeof(*ids));
	char reason[REASON_MAX];
	size_t i;

	for (i = 0; i < n; i++)
		ids[i] = v[i].error == 0 ? v[i].id : NULL;
	if (queue_remove_replicate(data_dir, ids, n, reason, sizeof(reason)) <
	    0) {
		for (i = 0; i < n; i++) {
			if (ids[i] == NULL)
				continue;
			v[i].error = EAGAIN;
			queue_entry_error(v[i].reason, sizeof(v[i].reason),
					  v[i].id, "%s", reason);
		}
	}
	free(ids);
}

void
queue_remove_many(const char *data_dir, struct queue_removal *v, size_t n)
{
	bool *unlinked = xcalloc(n ? n : 1, sizeof(*unlinked));
	bool *gone = xcalloc(n ? n : 1, sizeof(*gone));
	size_t i;

	for (i = 0; i < n; i++) {
		v[i].error = 0;
		v[i].reason[0] = '\0';
		if (!queue_id_valid(v[i].id)) {
			v[i].error = EINVAL;
			snprintf(v[i].reason, sizeof(v[i].reason),
				 "invalid queue ID (16 hex digits expected)");
		}
	}
	remove_replicate(data_dir, v, n);
	unlink_all(data_dir, "messages", v, n, unlinked, gone);
	/* The status files go second: without messages/ID they are inert. */
	unlink_all(data_dir, "status", v, n, unlinked, NULL);
	for (i = 0; i < n; i++) {
		if (v[i].error == 0 && gone[i]) {
			v[i].error = ENOENT;
			queue_entry_error(v[i].reason, sizeof(v[i].reason),
					  v[i].id, "not found");
		}
	}
	free(unlinked);
	free(gone);
	repl_done();
}

/* Sets c's error to errno and its reason to "CALL(PATH) failed: ...". */
static void
commit_error(struct queue_commit *c, const char *call)
{
	struct queue_writer *w = c->writer;

	c->error = errno != 0 ? errno : EIO;
	queue_entry_error(c->reason, sizeof(c->reason), w->id,
			  "%s(%s) failed: %s", call, w->tmp_path,
			  strerror(c->error));
}

/* Fails c as commit_error() does and drops its file. */
static void
commit_failed(struct queue_commit *c, const char *call)
{
	commit_error(c, call);
	queue_writer_abort(c->writer);
	c->writer = NULL;
}

/*
 * Fails c as commit_error() does but keeps its file until the
 * replicator's reply, because the replicator may still have to read it.
 */
static void
commit_failed_later(struct queue_commit *c, const char *call)
{
	commit_error(c, call);
	c->sync_failed = true;
}

/* Makes the files of the live writers durable, each on its own or all
 * with one syncfs(2) through the file opened first. */
static void
commit_sync(struct queue_commit *v, size_t n, bool use_syncfs)
{
	struct queue_writer *first = NULL;
	bool synced = false;
	size_t i;

	for (i = 0; i < n; i++) {
		struct queue_writer *w = v[i].writer;

		if (w != NULL && (first == NULL || w->serial < first->serial))
			first = w;
	}
	if (first == NULL)
		return;
	/*
	 * The syncfs reports every write error on the file system since the
	 * earliest of these files was opened, so it covers all of them.
	 */
	if (use_syncfs) {
		synced = syncfs(first->fd) == 0;
		if (!synced)
			log_warning("syncfs(%s) failed: %m; fsyncing each "
				    "queue file instead",
				    first->tmp_path);
	}
	for (i = 0; i < n && !synced; i++)
		if (v[i].writer != NULL && fsync(v[i].writer->fd) < 0)
			commit_failed_later(&v[i], "fsync");
}

/* Fails every live entry with EAGAIN and reason, removing its file. */
static void
commit_refused(struct queue_commit *v, size_t n, const char *reason)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct queue_writer *w = v[i].writer;

		if (w == NULL)
			continue;
		v[i].error = EAGAIN;
		queue_entry_error(v[i].reason, sizeof(v[i].reason), w->id,
				  "%s", reason);
		queue_writer_abort(w);
		v[i].writer = NULL;
	}
}

/*
 * Removes on the peer the entries that the peer accepted but whose local
 * sync failed: this node never publishes them, and the peer must not
 * deliver them after a failover.
 * NOTE: no test makes an fsync fail after the batch went out, so this
 * path has been reviewed but never run.
 */
static void
withdraw_on_peer(struct queue_commit *v, size_t n)
{
	struct repl_batch *b = NULL;
	char reason[REASON_MAX];
	size_t i;

	for (i = 0; i < n; i++) {
		const char *rel;

		if (v[i].writer == NULL || !v[i].sync_failed)
			continue;
		rel = repl_write_rel(v[i].writer->final_path);
		if (rel != NULL)
			repl_add_unlink(repl_write_batch(&b), rel);
	}
	if (repl_write_commit(b, reason, sizeof(reason)) < 0)
		log_error("removing queue entries on the peer after their local "
			  "fsync failed: %s (they stay there until the next "
			  "catch-up)",
			  reason);
}

void
queue_commit_start(struct queue_commit *v, size_t n, bool use_syncfs)
{
	struct queue_writer **w = xcalloc(n ? n : 1, sizeof(*w));
	char reason[REASON_MAX];
	size_t i;

	for (i = 0; i < n; i++) {
		const char *step;

		v[i].error = 0;
		v[i].reason[0] = '\0';
		v[i].sync_failed = false;
		if (queue_writer_finish(v[i].writer, &step) < 0)
			commit_failed(&v[i], step);
		w[i] = v[i].writer;
	}
	/* The standby stores the batch while this node syncs its copy. */
	if (queue_writer_replicate_send(w, n, reason, sizeof(reason)) < 0)
		commit_refused(v, n, reason);
	free(w);
	commit_sync(v, n, use_syncfs);
}

void
queue_commit_finish(struct queue_commit *v, size_t n)
{
	char messages_dir[PATH_MAX] = "", reason[REASON_MAX];
	bool *renamed = xcalloc(n ? n : 1, sizeof(*renamed));
	size_t i;

	if (queue_writer_replicate_wait(reason, sizeof(reason)) < 0) {
		commit_refused(v, n, reason);
	} else {
		withdraw_on_peer(v, n);
	}
	for (i = 0; i < n; i++) {
		struct queue_writer *w = v[i].writer;
		int ret;

		if (w == NULL)
			continue;
		if (v[i].sync_failed) {
			queue_writer_abort(w);
			v[i].writer = NULL;
			continue;
		}
		ret = close(w->fd);
		w->fd = -1;
		if (ret < 0) {
			commit_failed(&v[i], "close");
			continue;
		}
		if (rename(w->tmp_path, w->final_path) < 0) {
			commit_failed(&v[i], "rename");
			continue;
		}
		renamed[i] = true;
		snprintf(messages_dir, sizeof(messages_dir), "%s",
			 w->messages_dir);
	}
	if (messages_dir[0] != '\0' && fsync_dir(messages_dir) < 0) {
		int saved = errno;

		/*
		 * The entries are visible but may not survive a crash, and
		 * the clients get a temporary failure and retry, so withdraw
		 * them.
		 */
		for (i = 0; i < n; i++) {
			if (!renamed[i])
				continue;
			unlink(v[i].writer->final_path);
			queue_writer_withdraw(&v[i].writer, 1);
			v[i].error = saved;
			queue_entry_error(v[i].reason, sizeof(v[i].reason),
					  v[i].writer->id,
					  "fsync(%s) failed: %s", messages_dir,
					  strerror(saved));
		}
	}
	/* The publish is over, failed or not (see repl.h). */
	repl_done();
	for (i = 0; i < n; i++) {
		struct queue_writer *w = v[i].writer;

		if (w == NULL)
			continue;
		buf_free(&w->pending);
		free(w);
		v[i].writer = NULL;
	}
	free(renamed);
}

int
queue_commit_fd(void)
{
	return repl_commit_fd();
}

void
queue_writer_commit_many(struct queue_commit *v, size_t n, bool use_syncfs)
{
	queue_commit_start(v, n, use_syncfs);
	queue_commit_finish(v, n);
}
