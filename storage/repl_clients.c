/*
 * repl_clients - the replicator's local socket RUN_DIR/repl.sock
 *
 * Serves the protocol of repl_local.h on the event loop without
 * blocking on a client. A batch's frames are kept as they came until
 * the commit request. Then they are checked and turned into peer
 * RECORDS frames (rp_batch):
 * - records are decoded and encoded again;
 * - FILE items are read from the local file into WRITE and COMMIT
 *   records with the file's mode and modification time;
 * - DATA items become WRITE and COMMIT records with the current time.
 * A batch that does not pass the checks gets the reply "refused invalid
 * batch: ..." and goes nowhere.
 *
 * A client that breaks the protocol (an unknown or invalid frame, a
 * second commit before the reply, a batch past REPL_LOCAL_BATCH_MAX)
 * is disconnected. A disconnected client counts as done. A batch it
 * committed still goes on, and its reply is dropped.
 *
 * FILE paths must be absolute and below data_dir without "." or ".."
 * components: the replicator reads them with its own rights, so the
 * socket must not become a way to read other files.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "repl_local.h"
#include "replicator_int.h"
#include "xalloc.h"

#define CLIENTS_MAX 1024
#define READ_STEP ((size_t)64 << 10)

struct rp_client {
	struct replicator *rp;
	struct rp_client *next, *prev;
	int fd;
	ev_io io;
	struct buf in;
	struct buf out;
	size_t out_off;
	struct buf batch; /* local frames of the batch being built */
	struct rp_batch *waiting;
	bool owes_done;
};

void
put_u64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t
get_u64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

void
rp_batch_free(struct rp_batch *b)
{
	if (b == NULL)
		return;
	if (b->client != NULL && b->client->waiting == b)
		b->client->waiting = NULL;
	buf_free(&b->frames);
	free(b);
}

void
rp_queue_push(struct rp_queue *q, struct rp_batch *b)
{
	b->next = NULL;
	if (q->tail != NULL)
		q->tail->next = b;
	else
		q->head = b;
	q->tail = b;
	q->n++;
	q->bytes += b->frames.len;
}

struct rp_batch *
rp_queue_pop(struct rp_queue *q)
{
	struct rp_batch *b = q->head;

	if (b == NULL)
		return NULL;
	q->head = b->next;
	if (q->head == NULL)
		q->tail = NULL;
	q->n--;
	q->bytes -= b->frames.len;
	b->next = NULL;
	return b;
}

void
rp_queue_answer_all(struct replicator *rp, struct rp_queue *q, const char *text)
{
	struct rp_batch *b;

	while ((b = rp_queue_pop(q)) != NULL) {
		rp_answer(rp, b, text);
		rp_batch_free(b);
	}
}

void
rp_records_flush(struct buf *frames, struct buf *body)
{
	if (body->len == 0)
		return;
	repl_frame_begin(frames, PEER_RECORDS, body->len);
	buf_append(frames, body->data, body->len);
	buf_reset(body);
}

void
rp_records_add(struct buf *frames, struct buf *body, const struct repl_op *op)
{
	if (body->len > 0 &&
	    body->len + repl_op_encoded_len(op) > RECORDS_BODY_TARGET)
		rp_records_flush(frames, body);
	repl_op_encode(body, op);
}

/* Client I/O. */

static void
client_free(struct rp_client *c)
{
	struct replicator *rp = c->rp;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		rp->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	rp->nclients--;
	if (c->waiting != NULL)
		c->waiting->client = NULL;
	ev_io_stop(rp->loop, &c->io);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->batch);
	if (c->owes_done) {
		c->owes_done = false;
		if (--rp->owing_done == 0)
			rp_all_done(rp);
	}
	free(c);
}

static void
client_update_io(struct rp_client *c)
{
	int events = EV_READ;

	if (c->out.len > c->out_off)
		events |= EV_WRITE;
	if (c->io.events == events && ev_is_active(&c->io))
		return;
	ev_io_stop(c->rp->loop, &c->io);
	ev_io_set(&c->io, c->fd, events);
	ev_io_start(c->rp->loop, &c->io);
}

/* Writes what it can; returns -1 when the client is gone. */
static int
client_flush(struct rp_client *c)
{
	ssize_t n;

	while (c->out.len > c->out_off) {
		n = send(c->fd, c->out.data + c->out_off,
			 c->out.len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -1;
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out.len) {
		buf_reset(&c->out);
		c->out_off = 0;
	}
	client_update_io(c);
	return 0;
}

static void
client_reply(struct rp_client *c, const char *text)
{
	size_t len = strlen(text);

	repl_frame_begin(&c->out, REPL_LOCAL_REPLY, len);
	buf_append(&c->out, text, len);
}

void
rp_answer(struct replicator *rp, struct rp_batch *b, const char *text)
{
	struct rp_client *c = b->client;

	if (c == NULL)
		return;
	b->client = NULL;
	if (c->waiting == b)
		c->waiting = NULL;
	if (strcmp(text, "ok") == 0 && !c->owes_done) {
		c->owes_done = true;
		rp->owing_done++;
	}
	/* Written from the I/O callback: the caller may be reading from c. */
	client_reply(c, text);
	client_update_io(c);
}

/* Batch conversion. */

static int
convert_records(struct rp_batch *b, struct buf *body, const void *frame,
		size_t len, char *err, size_t errlen)
{
	struct repl_op op;
	size_t pos = 0;
	int r;

	while ((r = repl_op_decode(frame, len, &pos, &op, err, errlen)) > 0) {
		switch (op.type) {
		case REPL_OP_APPEND:
		case REPL_OP_RENAME:
		case REPL_OP_UNLINK:
		case REPL_OP_MKDIR:
		case REPL_OP_RMTREE:
			break;
		default:
			snprintf(err, errlen, "record type %s not allowed",
				 repl_op_name(op.type));
			return -1;
		}
		if (!repl_path_ok(op.path) ||
		    (op.path2 != NULL && !repl_path_ok(op.path2))) {
			snprintf(err, errlen, "%s: path may not be replicated",
				 repl_op_name(op.type));
			return -1;
		}
		rp_records_add(&b->frames, body, &op);
		b->changes++;
	}
	return r;
}

/* Appends WRITE records of data to stage (one, empty, when len is 0). */
static void
add_writes(struct rp_batch *b, struct buf *body, const void *data, size_t len,
	   uint64_t stage, uint64_t offset)
{
	struct repl_op op = {.type = REPL_OP_WRITE, .stage = stage};
	size_t done = 0, n;

	do {
		n = len - done < REPL_CHUNK ? len - done : REPL_CHUNK;
		op.offset = offset + done;
		op.data = (const char *)data + done;
		op.len = n;
		rp_records_add(&b->frames, body, &op);
		done += n;
	} while (done < len);
}

static void
add_commit(struct rp_batch *b, struct buf *body, const char *rel,
	   uint64_t stage, uint32_t mode, int64_t mtime_ns)
{
	struct repl_op op = {.type = REPL_OP_COMMIT,
			     .stage = stage,
			     .path = rel,
			     .mode = mode & 07777,
			     .mtime_ns = mtime_ns};

	rp_records_add(&b->frames, body, &op);
	b->changes++;
}

/* True when path is absolute, below data_dir and has no "." or "..". */
static bool
local_path_ok(struct replicator *rp, const char *path)
{
	const char *dir = rp->cfg->data_dir;
	size_t len = strlen(dir);

	while (len > 1 && dir[len - 1] == '/')
		len--;
	if (path[0] != '/' || strncmp(path, dir, len) != 0 || path[len] != '/')
		return false;
	return repl_path_valid(path + len + 1);
}

static int
convert_file(struct replicator *rp, struct rp_batch *b, struct buf *body,
	     const char *frame, size_t len, char *err, size_t errlen)
{
	const char *rel = frame, *local, *nul;
	char *chunk = NULL;
	struct stat st;
	uint64_t stage, offset = 0;
	ssize_t n;
	int fd, ret = -1;

	nul = memchr(frame, '\0', len);
	if (nul == NULL ||
	    memchr(nul + 1, '\0', len - (size_t)(nul + 1 - frame)) !=
		frame + len - 1) {
		snprintf(err, errlen, "invalid FILE item");
		return -1;
	}
	local = nul + 1;
	if (!repl_path_ok(rel) || !local_path_ok(rp, local)) {
		snprintf(err, errlen, "FILE: path may not be replicated");
		return -1;
	}
	fd = open(local, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot read the local file: %s",
			 strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "the local file is not a regular file");
		goto out;
	}
	stage = ++rp->stage;
	chunk = xmalloc(REPL_CHUNK);
	for (;;) {
		n = read(fd, chunk, REPL_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot read the local file: %s",
				 strerror(errno));
			goto out;
		}
		if (n == 0 && offset > 0)
			break;
		/* An empty file still needs its WRITE: it creates the stage. */
		add_writes(b, body, chunk, (size_t)n, stage, offset);
		offset += (uint64_t)n;
		if (n == 0)
			break;
	}
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot read the local file: %s",
			 strerror(errno));
		goto out;
	}
	add_commit(b, body, rel, stage, st.st_mode,
		   (int64_t)st.st_mtim.tv_sec * 1000000000 +
		       st.st_mtim.tv_nsec);
	ret = 0;
out:
	free(chunk);
	if (fd >= 0)
		close(fd);
	return ret;
}

static int
convert_data(struct replicator *rp, struct rp_batch *b, struct buf *body,
	     const char *frame, size_t len, char *err, size_t errlen)
{
	const uint8_t *p = (const uint8_t *)frame;
	const char *rel = frame + 4, *nul;
	struct timespec now;
	uint64_t stage;
	uint32_t mode;

	if (len < 6 || (nul = memchr(rel, '\0', len - 4)) == NULL) {
		snprintf(err, errlen, "invalid DATA item");
		return -1;
	}
	mode = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
	if (!repl_path_ok(rel) || mode > 07777) {
		snprintf(err, errlen, "DATA: path may not be replicated");
		return -1;
	}
	/*
	 * NOTE: the writer's own copy gets its own time, so the two copies
	 * differ in a manifest until a catch-up sends a delta. Writers that
	 * need equal copies use FILE items.
	 */
	clock_gettime(CLOCK_REALTIME, &now);
	stage = ++rp->stage;
	add_writes(b, body, nul + 1, len - (size_t)(nul + 1 - frame), stage, 0);
	add_commit(b, body, rel, stage, mode,
		   (int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
	return 0;
}

static struct rp_batch *
convert(struct replicator *rp, const struct buf *local, char *err,
	size_t errlen)
{
	struct rp_batch *b = xcalloc(1, sizeof(*b));
	struct buf body = BUF_INIT;
	size_t off = 0, flen;
	const void *fbody;
	uint8_t type;
	ssize_t used;
	int r = 0;

	while (r == 0 && off < local->len) {
		used = repl_frame_next(local->data + off, local->len - off,
				       &type, &fbody, &flen);
		off += (size_t)used;
		if (type == REPL_LOCAL_RECORDS)
			r = convert_records(b, &body, fbody, flen, err, errlen);
		else if (type == REPL_LOCAL_FILE)
			r = convert_file(rp, b, &body, fbody, flen, err,
					 errlen);
		else
			r = convert_data(rp, b, &body, fbody, flen, err,
					 errlen);
	}
	rp_records_flush(&b->frames, &body);
	buf_free(&body);
	if (r < 0) {
		rp_batch_free(b);
		return NULL;
	}
	return b;
}

/* Frames from a client. Returns -1 when the client must go. */

static int
client_commit(struct rp_client *c)
{
	struct replicator *rp = c->rp;
	struct rp_batch *b;
	char err[300], text[400];

	b = convert(rp, &c->batch, err, sizeof(err));
	buf_reset(&c->batch);
	if (b == NULL) {
		log_warning("local batch rejected: %s", err);
		snprintf(text, sizeof(text), "refused invalid batch: %s", err);
		client_reply(c, text);
		return 0;
	}
	b->client = c;
	b->committed_at = rp_now(rp);
	c->waiting = b;
	rp->commits++;
	rp_commit(rp, b);
	return 0;
}

static int
client_admin(struct rp_client *c, const char *body, size_t len)
{
	struct buf reply = BUF_INIT;
	char request[REPL_LOCAL_ADMIN_MAX + 1];

	if (len == 0 || len > REPL_LOCAL_ADMIN_MAX ||
	    memchr(body, '\0', len) != NULL)
		return -1;
	memcpy(request, body, len);
	request[len] = '\0';
	rp_admin(c->rp, request, &reply);
	if (reply.len > REPL_LOCAL_REPLY_MAX)
		reply.len = REPL_LOCAL_REPLY_MAX;
	repl_frame_begin(&c->out, REPL_LOCAL_REPLY, reply.len);
	buf_append(&c->out, reply.data, reply.len);
	buf_free(&reply);
	return 0;
}

static int
client_frame(struct rp_client *c, uint8_t type, const void *body, size_t len)
{
	struct replicator *rp = c->rp;

	switch (type) {
	case REPL_LOCAL_RECORDS:
	case REPL_LOCAL_FILE:
	case REPL_LOCAL_DATA:
		if (c->waiting != NULL ||
		    c->batch.len + len + REPL_FRAME_HEADER >
			REPL_LOCAL_BATCH_MAX)
			return -1;
		repl_frame_begin(&c->batch, type, len);
		buf_append(&c->batch, body, len);
		return 0;
	case REPL_LOCAL_COMMIT:
		if (c->waiting != NULL || len != 0)
			return -1;
		return client_commit(c);
	case REPL_LOCAL_DONE:
		if (c->owes_done) {
			c->owes_done = false;
			if (--rp->owing_done == 0)
				rp_all_done(rp);
		}
		return 0;
	case REPL_LOCAL_ADMIN:
		return client_admin(c, body, len);
	default:
		return -1;
	}
}

static void
client_read(struct rp_client *c)
{
	size_t off = 0, blen;
	const void *body;
	uint8_t type;
	ssize_t n, used;

	buf_reserve(&c->in, READ_STEP);
	n = recv(c->fd, c->in.data + c->in.len, READ_STEP, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_free(c);
		return;
	}
	c->in.len += (size_t)n;
	for (;;) {
		used = repl_frame_next(c->in.data + off, c->in.len - off, &type,
				       &body, &blen);
		if (used == 0)
			break;
		if (used < 0 || client_frame(c, type, body, blen) < 0) {
			log_info("local client dropped: invalid request");
			client_free(c);
			return;
		}
		off += (size_t)used;
	}
	buf_consume(&c->in, off);
	if (client_flush(c) < 0)
		client_free(c);
}

static void
client_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct rp_client *c = w->data;

	if (revents & EV_WRITE) {
		if (client_flush(c) < 0) {
			client_free(c);
			return;
		}
	}
	if (revents & EV_READ)
		client_read(c);
}

static void
accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct replicator *rp = w->data;
	struct rp_client *c;
	int fd;

	fd = accept4(rp->local_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warning("accept on %s: %s", rp->local_path,
				    strerror(errno));
		return;
	}
	if (rp->nclients >= CLIENTS_MAX) {
		log_warning("local client rejected: %u clients connected",
			    rp->nclients);
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->rp = rp;
	c->fd = fd;
	buf_init(&c->in);
	buf_init(&c->out);
	buf_init(&c->batch);
	c->next = rp->clients;
	if (rp->clients != NULL)
		rp->clients->prev = c;
	rp->clients = c;
	rp->nclients++;
	ev_io_init(&c->io, client_io_cb, fd, EV_READ);
	c->io.data = c;
	ev_io_start(loop, &c->io);
}

int
rp_clients_open(struct replicator *rp, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	rp->local_path = xasprintf("%s/%s", rp->cfg->run_dir, REPL_SOCKET_NAME);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(rp->local_path) >= sizeof(sun.sun_path)) {
		snprintf(err, errlen, "%s: path too long", rp->local_path);
		return -1;
	}
	strcpy(sun.sun_path, rp->local_path);
	if (lstat(rp->local_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket",
				 rp->local_path);
			return -1;
		}
		unlink(rp->local_path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(rp->local_path, 0660) < 0 || listen(fd, 128) < 0) {
		snprintf(err, errlen, "%s: %s", rp->local_path,
			 strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rp->local_fd = fd;
	ev_io_init(&rp->local_io, accept_cb, fd, EV_READ);
	rp->local_io.data = rp;
	ev_io_start(rp->loop, &rp->local_io);
	return 0;
}

void
rp_clients_close(struct replicator *rp)
{
	while (rp->clients != NULL)
		client_free(rp->clients);
	if (rp->local_fd >= 0) {
		ev_io_stop(rp->loop, &rp->local_io);
		close(rp->local_fd);
		unlink(rp->local_path);
		rp->local_fd = -1;
	}
	free(rp->local_path);
	rp->local_path = NULL;
}
