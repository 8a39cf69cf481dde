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
 * One connection per process, opened at the first commit and kept. When
 * sending on a kept connection fails (the replicator restarted), the
 * batch is sent once more on a new connection: the replicator drops a
 * batch whose connection closed before its commit request, so nothing
 * is applied twice. A reply that does not come within
 * replication_timeout plus a second fails the commit and drops the
 * connection, which the replicator counts as done.
 *
 * repl_commit() is repl_commit_send() followed by repl_commit_wait(); an
 * event loop calls the two halves itself and serves other clients while
 * the reply is on its way.
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

static struct {
	bool enabled;
	char *data_dir; /* without a trailing '/' */
	char *run_dir;
	unsigned timeout;
	int fd;
	bool done_pending; /* a commit succeeded and DONE is not sent */
	bool awaiting;	   /* a commit was sent and its reply not read */
	double deadline;   /* for the reply, in repl_local_now() time */
} repl = {.fd = -1};

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

/* Sends DONE for the previous commit; a failure drops the connection. */
static void
send_done(double deadline)
{
	struct buf out = BUF_INIT;
	char err[200];

	if (!repl.done_pending || repl.fd < 0)
		return;
	repl.done_pending = false;
	repl_frame_begin(&out, REPL_LOCAL_DONE, 0);
	if (repl_local_send(repl.fd, out.data, out.len, deadline, err,
			    sizeof(err)) < 0)
		repl_close();
	buf_free(&out);
}

int
repl_commit_send(struct repl_batch *b, char *err, size_t errlen)
{
	bool fresh;
	int attempt, ret = -1;

	if (!repl.enabled) {
		batch_free(b);
		return 0;
	}
	if (repl.awaiting) {
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
	repl.deadline = repl_local_now() + repl.timeout + 1.0;
	send_done(repl.deadline);
	for (attempt = 0; attempt < 2; attempt++) {
		fresh = repl.fd < 0;
		if (fresh) {
			repl.fd = repl_local_connect(repl.run_dir, err, errlen);
			if (repl.fd < 0)
				goto out;
		}
		if (repl_local_send(repl.fd, b->frames.data, b->frames.len,
				    repl.deadline, err, errlen) == 0) {
			repl.awaiting = true;
			ret = 0;
			goto out;
		}
		repl_close();
		if (fresh)
			goto out;
	}
out:
	batch_free(b);
	return ret;
}

int
repl_commit_fd(void)
{
	return repl.awaiting ? repl.fd : -1;
}

double
repl_commit_remaining(void)
{
	double left = repl.deadline - repl_local_now();

	return left > 0 ? left : 0;
}

int
repl_commit_wait(char *err, size_t errlen)
{
	struct buf reply = BUF_INIT;
	const char *text;
	int ret = -1;

	if (!repl.enabled)
		return 0;
	if (!repl.awaiting || repl.fd < 0) {
		snprintf(err, errlen, "no commit is waiting for its reply");
		return -1;
	}
	repl.awaiting = false;
	if (repl_local_read_reply(repl.fd, &reply, repl.deadline, err,
				  errlen) < 0) {
		repl_close();
		goto out;
	}
	text = buf_cstr(&reply);
	if (strcmp(text, "ok") == 0) {
		repl.done_pending = true;
		ret = 0;
	} else if (strncmp(text, "refused ", 8) == 0) {
		snprintf(err, errlen, "replication refused: %s", text + 8);
	} else {
		snprintf(err, errlen, "invalid reply from the replicator");
		repl_close();
	}
out:
	buf_free(&reply);
	return ret;
}

int
repl_commit(struct repl_batch *b, char *err, size_t errlen)
{
	if (!repl.enabled) {
		batch_free(b);
		return 0;
	}
	if (repl_commit_send(b, err, errlen) < 0)
		return -1;
	return repl_commit_wait(err, errlen);
}

void
repl_done(void)
{
	if (!repl.enabled)
		return;
	send_done(repl_local_now() + 1.0);
}

void
repl_close(void)
{
	if (repl.fd >= 0)
		close(repl.fd);
	repl.fd = -1;
	repl.done_pending = false;
	repl.awaiting = false;
}
