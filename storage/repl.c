/*
 * repl - the writers' side of replicated storage (see repl.h)
 *
 * A batch is kept as the frames of the repl.sock protocol (repl_local.h),
 * ready to send: records accumulate in one RECORDS frame, and a file or
 * data item closes it so the order of the items stays the order of the
 * calls. A batch that could not be built (a path that may not be
 * replicated, an item past the frame size) remembers the first error and
 * fails at repl_commit(), so callers check one place.
 *
 * A connection is opened at the first commit and kept. When
 * sending on a kept connection fails (the replicator restarted), the
 * batch is sent once more on a new connection: the replicator drops a
 * batch whose connection closed before its commit request, so nothing
 * is applied twice. A reply that does not come within
 * replication_timeout plus a second fails the commit and drops the
 * connection, which the replicator counts as done.
 *
 * repl_commit_send() and repl_commit_wait() let an event loop serve other
 * clients while the reply is on its way. They use a second connection,
 * so a process whose loop waits for such a reply can still make a
 * repl_commit() meanwhile (an IMAP session of an SMTP worker). The
 * hook of repl_set_before_commit() lands the split commit first.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "repl.h"
#include "repl_local.h"
#include "repl_wire.h"
#include "xalloc.h"

struct repl_batch {
	struct buf frames;  /* complete frames */
	struct buf records; /* encoded records not yet framed */
	size_t items;
	char error[200];
};

/* One connection to the replicator and its commit. */
struct channel {
	int fd;
	bool done_pending; /* a commit succeeded and DONE is not sent */
	bool awaiting;	   /* a commit was sent and its reply not read */
	double deadline;   /* for the reply, in repl_local_now() time */
};

static struct {
	bool enabled;
	char *data_dir; /* without a trailing '/' */
	char *run_dir;
	unsigned timeout;
	struct channel sync;  /* repl_commit() */
	struct channel split; /* repl_commit_send() and repl_commit_wait() */
	void (*before_commit)(void);
} repl = {.sync = {.fd = -1}, .split = {.fd = -1}};

void
repl_init(const struct cfg *cfg)
{
	size_t len;

	repl_close();
	free(repl.data_dir);
	free(repl.run_dir);
	repl.data_dir = NULL;
	repl.run_dir = NULL;
	repl.enabled = cfg->storage_mode != NULL &&
		       strcmp(cfg->storage_mode, "replicated") == 0;
	if (!repl.enabled)
		return;
	repl.data_dir = xstrdup(cfg->data_dir);
	len = strlen(repl.data_dir);
	while (len > 1 && repl.data_dir[len - 1] == '/')
		repl.data_dir[--len] = '\0';
	repl.run_dir = xstrdup(cfg->run_dir);
	repl.timeout = cfg->replication_timeout;
}

bool
repl_enabled(void)
{
	return repl.enabled;
}

const char *
repl_rel(const char *abs)
{
	size_t len;

	if (repl.data_dir == NULL)
		return NULL;
	len = strlen(repl.data_dir);
	if (strncmp(abs, repl.data_dir, len) != 0 || abs[len] != '/')
		return NULL;
	abs += len;
	while (*abs == '/')
		abs++;
	return *abs != '\0' ? abs : NULL;
}

struct repl_batch *
repl_batch_new(void)
{
	return xcalloc(1, sizeof(struct repl_batch));
}

static void
batch_fail(struct repl_batch *b, const char *what, const char *rel)
{
	if (b->error[0] == '\0')
		snprintf(b->error, sizeof(b->error), "%s: %.150s", what, rel);
}

/* Turns the pending records into a RECORDS frame. */
static void
flush_records(struct repl_batch *b)
{
	if (b->records.len == 0)
		return;
	repl_frame_begin(&b->frames, REPL_LOCAL_RECORDS, b->records.len);
	buf_append(&b->frames, b->records.data, b->records.len);
	buf_reset(&b->records);
}

static bool
batch_check(struct repl_batch *b, const char *rel, size_t extra)
{
	if (!repl_path_ok(rel)) {
		batch_fail(b, "path may not be replicated", rel);
		return false;
	}
	if (extra + strlen(rel) + 64 > REPL_FRAME_MAX ||
	    b->frames.len + b->records.len + extra > REPL_LOCAL_BATCH_MAX) {
		batch_fail(b, "batch too large at", rel);
		return false;
	}
	return true;
}

static void
add_record(struct repl_batch *b, const struct repl_op *op)
{
	if (!repl.enabled)
		return;
	if (!batch_check(b, op->path, op->len))
		return;
	if (op->path2 != NULL && !batch_check(b, op->path2, 0))
		return;
	if (b->records.len + op->len + 64 > REPL_CHUNK)
		flush_records(b);
	repl_op_encode(&b->records, op);
	b->items++;
}

void
repl_add_file(struct repl_batch *b, const char *rel, const char *local_path)
{
	size_t rlen = strlen(rel), llen = strlen(local_path);

	if (!repl.enabled || !batch_check(b, rel, llen))
		return;
	flush_records(b);
	repl_frame_begin(&b->frames, REPL_LOCAL_FILE, rlen + llen + 2);
	buf_append(&b->frames, rel, rlen + 1);
	buf_append(&b->frames, local_path, llen + 1);
	b->items++;
}

void
repl_add_data(struct repl_batch *b, const char *rel, const void *data,
	      size_t len, mode_t mode)
{
	size_t rlen = strlen(rel);
	uint8_t m[4];

	if (!repl.enabled || !batch_check(b, rel, len))
		return;
	flush_records(b);
	m[0] = (uint8_t)((uint32_t)mode >> 24);
	m[1] = (uint8_t)((uint32_t)mode >> 16);
	m[2] = (uint8_t)((uint32_t)mode >> 8);
	m[3] = (uint8_t)mode;
	repl_frame_begin(&b->frames, REPL_LOCAL_DATA, 4 + rlen + 1 + len);
	buf_append(&b->frames, m, 4);
	buf_append(&b->frames, rel, rlen + 1);
	buf_append(&b->frames, data, len);
	b->items++;
}

void
repl_add_append(struct repl_batch *b, const char *rel, const void *data,
		size_t len)
{
	struct repl_op op = {
	    .type = REPL_OP_APPEND, .path = rel, .data = data, .len = len};

	add_record(b, &op);
}

void
repl_add_rename(struct repl_batch *b, const char *from, const char *to)
{
	struct repl_op op = {.type = REPL_OP_RENAME, .path = from, .path2 = to};

	add_record(b, &op);
}

void
repl_add_unlink(struct repl_batch *b, const char *rel)
{
	struct repl_op op = {.type = REPL_OP_UNLINK, .path = rel};

	add_record(b, &op);
}

void
repl_add_mkdir(struct repl_batch *b, const char *rel, mode_t mode)
{
	struct repl_op op = {
	    .type = REPL_OP_MKDIR, .path = rel, .mode = (uint32_t)mode};

	add_record(b, &op);
}

void
repl_add_rmtree(struct repl_batch *b, const char *rel)
{
	struct repl_op op = {.type = REPL_OP_RMTREE, .path = rel};

	add_record(b, &op);
}

bool
repl_batch_empty(const struct repl_batch *b)
{
	return b->items == 0 && b->error[0] == '\0';
}

static void
batch_free(struct repl_batch *b)
{
	buf_free(&b->frames);
	buf_free(&b->records);
	free(b);
}

static void
channel_close(struct channel *ch)
{
	if (ch->fd >= 0)
		close(ch->fd);
	ch->fd = -1;
	ch->done_pending = false;
	ch->awaiting = false;
}

/* Sends DONE for the previous commit; a failure drops the connection. */
static void
send_done(struct channel *ch, double deadline)
{
	struct buf out = BUF_INIT;
	char err[200];

	if (!ch->done_pending || ch->fd < 0)
		return;
	ch->done_pending = false;
	repl_frame_begin(&out, REPL_LOCAL_DONE, 0);
	if (repl_local_send(ch->fd, out.data, out.len, deadline, err,
			    sizeof(err)) < 0)
		channel_close(ch);
	buf_free(&out);
}

static int
channel_send(struct channel *ch, struct repl_batch *b, char *err,
	     size_t errlen)
{
	bool fresh;
	int attempt, ret = -1;

	if (ch->awaiting) {
		snprintf(err, errlen, "a commit is already waiting for its "
				      "reply");
		batch_free(b);
		return -1;
	}
	if (b->error[0] != '\0') {
		snprintf(err, errlen, "%s", b->error);
		batch_free(b);
		return -1;
	}
	flush_records(b);
	repl_frame_begin(&b->frames, REPL_LOCAL_COMMIT, 0);
	ch->deadline = repl_local_now() + repl.timeout + 1.0;
	send_done(ch, ch->deadline);
	for (attempt = 0; attempt < 2; attempt++) {
		fresh = ch->fd < 0;
		if (fresh) {
			ch->fd = repl_local_connect(repl.run_dir, err, errlen);
			if (ch->fd < 0)
				goto out;
		}
		if (repl_local_send(ch->fd, b->frames.data, b->frames.len,
				    ch->deadline, err, errlen) == 0) {
			ch->awaiting = true;
			ret = 0;
			goto out;
		}
		channel_close(ch);
		if (fresh)
			goto out;
	}
out:
	batch_free(b);
	return ret;
}

static int
channel_wait(struct channel *ch, char *err, size_t errlen)
{
	struct buf reply = BUF_INIT;
	const char *text;
	int ret = -1;

	if (!ch->awaiting || ch->fd < 0) {
		snprintf(err, errlen, "no commit is waiting for its reply");
		return -1;
	}
	ch->awaiting = false;
	if (repl_local_read_reply(ch->fd, &reply, ch->deadline, err,
				  errlen) < 0) {
		channel_close(ch);
		goto out;
	}
	text = buf_cstr(&reply);
	if (strcmp(text, "ok") == 0) {
		ch->done_pending = true;
		ret = 0;
	} else if (strncmp(text, "refused ", 8) == 0) {
		snprintf(err, errlen, "replication refused: %s", text + 8);
	} else {
		snprintf(err, errlen, "invalid reply from the replicator");
		channel_close(ch);
	}
out:
	buf_free(&reply);
	return ret;
}

int
repl_commit_send(struct repl_batch *b, char *err, size_t errlen)
{
	if (!repl.enabled) {
		batch_free(b);
		return 0;
	}
	return channel_send(&repl.split, b, err, errlen);
}

int
repl_commit_fd(void)
{
	return repl.split.awaiting ? repl.split.fd : -1;
}

double
repl_commit_remaining(void)
{
	double left = repl.split.deadline - repl_local_now();

	return left > 0 ? left : 0;
}

int
repl_commit_wait(char *err, size_t errlen)
{
	if (!repl.enabled)
		return 0;
	return channel_wait(&repl.split, err, errlen);
}

void
repl_set_before_commit(void (*fn)(void))
{
	repl.before_commit = fn;
}

int
repl_commit(struct repl_batch *b, char *err, size_t errlen)
{
	if (!repl.enabled) {
		batch_free(b);
		return 0;
	}
	if (repl.split.awaiting && repl.before_commit != NULL)
		repl.before_commit();
	if (channel_send(&repl.sync, b, err, errlen) < 0)
		return -1;
	return channel_wait(&repl.sync, err, errlen);
}

void
repl_done(void)
{
	double deadline = repl_local_now() + 1.0;

	if (!repl.enabled)
		return;
	send_done(&repl.sync, deadline);
	send_done(&repl.split, deadline);
}

void
repl_close(void)
{
	channel_close(&repl.sync);
	channel_close(&repl.split);
}
