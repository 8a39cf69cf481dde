/*
 * repl_catchup - bringing a connected standby up to the active's data
 *
 * A catch-up runs in rounds. Each round asks for the standby's manifest
 * (the request travels in stream order, so the manifest reflects every
 * record sent before it), compares it with the local one and sends the
 * differences: directories, removals, missing files whole (WRITE and
 * COMMIT records read in REPL_CHUNK pieces as the link drains), and
 * changed files of more than DELTA_MIN bytes as librsync deltas against
 * the standby's copy. Meanwhile commits are answered at once and their
 * batches forwarded in stream order between the steps, except between
 * a signature request and its DELTA: the standby's copy must not change
 * between the signature and the patch.
 *
 * When a round finds nothing or at most FEW_CHANGES differences (or
 * after ROUNDS_MAX rounds), new commits are held unanswered, and once
 * every client that got "ok" has said "done" a last round runs. No
 * change can slip past it: nothing is published while it runs. Then
 * INSYNC tells the standby that its data matches generation N. On its
 * reply the node is in sync and the held commits take the normal path.
 *
 * A held commit must get its reply before its writer times out
 * (replication_timeout plus a second). When one has waited half of
 * replication_timeout, the held commits are released (replied to as
 * during catch-up) and the last round becomes an ordinary one. After
 * RELEASES_MAX such releases, or once INSYNC is sent, old held commits
 * are rejected instead, so a last round that takes longer than that
 * (a large data_dir to list) still finishes under constant writes.
 *
 * Files may change while a round reads them; a later round sees the
 * difference, and the last round runs with every writer held.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "replicator_int.h"
#include "xalloc.h"

#define FEW_CHANGES 16
#define ROUNDS_MAX 8
#define DELTA_MIN ((uint64_t)64 << 10)
#define PROGRESS_INTERVAL 10.0
#define PIECES_MAX ((size_t)1 << 30)
#define RELEASES_MAX 3

enum cu_phase {
	CU_MANIFEST,  /* waiting for the standby's manifest */
	CU_SENDING,   /* working through the differences */
	CU_SIG,	      /* waiting for a signature */
	CU_WAIT_DONE, /* holding commits until every client is done */
	CU_INSYNC,    /* waiting for INSYNCED */
};

struct catchup {
	enum cu_phase phase;
	bool hold;  /* commits are held */
	bool final; /* this round runs while commits are held */
	unsigned round;
	struct buf pieces; /* a manifest or signature being received */
	struct repl_manifest local, remote;
	struct repl_diff *diff;
	size_t ndiff, next;
	/* The file being sent whole. */
	int fd;
	char *path;
	uint64_t stage, offset;
	char *sig_path;
	unsigned releases; /* last rounds given up for held commits */
	double started, last_log, hold_started;
};

static char *
local_file(struct replicator *rp, const char *rel)
{
	return xasprintf("%s/%s", rp->cfg->data_dir, rel);
}

static void
free_round(struct catchup *cu)
{
	free(cu->diff);
	cu->diff = NULL;
	cu->ndiff = cu->next = 0;
	repl_manifest_free(&cu->local);
	repl_manifest_free(&cu->remote);
	memset(&cu->local, 0, sizeof(cu->local));
	memset(&cu->remote, 0, sizeof(cu->remote));
}

void
rp_catchup_free(struct replicator *rp)
{
	struct catchup *cu = rp->catchup;

	if (cu == NULL)
		return;
	rp->catchup = NULL;
	free_round(cu);
	buf_free(&cu->pieces);
	if (cu->fd >= 0)
		close(cu->fd);
	free(cu->path);
	free(cu->sig_path);
	free(cu);
}

const char *
rp_catchup_phase(const struct replicator *rp)
{
	if (rp->catchup == NULL)
		return "none";
	switch (rp->catchup->phase) {
	case CU_MANIFEST:
		return "manifest";
	case CU_SENDING:
		return "sending";
	case CU_SIG:
		return "signature";
	case CU_WAIT_DONE:
		return "waiting-for-done";
	case CU_INSYNC:
		return "in-sync-request";
	}
	return "?";
}

bool
rp_catchup_holding(const struct replicator *rp)
{
	return rp->catchup != NULL && rp->catchup->hold;
}

static void
send_op(struct replicator *rp, const struct repl_op *op)
{
	struct buf body = BUF_INIT;

	repl_op_encode(&body, op);
	repl_link_send(rp->link, PEER_RECORDS, body.data, body.len);
	buf_free(&body);
}

/* Sends every forwarded batch now, ahead of what follows. */
static void
flush_forward(struct replicator *rp)
{
	struct rp_batch *b;

	while ((b = rp_queue_pop(&rp->forward)) != NULL) {
		rp_link_send_batch(rp, b);
		rp_batch_free(b);
	}
}

static void
request_manifest(struct replicator *rp)
{
	struct catchup *cu = rp->catchup;

	flush_forward(rp);
	cu->phase = CU_MANIFEST;
	cu->round++;
	buf_reset(&cu->pieces);
	repl_link_send(rp->link, PEER_MANIFEST_REQUEST, NULL, 0);
	rp_expect_reply(rp);
}

static void
log_progress(struct replicator *rp, const char *what)
{
	log_notice("catch-up of %s %s: %" PRIu64 "/%" PRIu64 " files, %" PRIu64
		   " bytes, %" PRIu64 " deltas, round %u",
		   rp->peer_name, what, rp->cu_files_done, rp->cu_files_total,
		   rp->cu_bytes, rp->cu_deltas, rp->catchup->round);
}

void
rp_catchup_start(struct replicator *rp)
{
	struct catchup *cu;

	rp_catchup_free(rp);
	cu = xcalloc(1, sizeof(*cu));
	cu->fd = -1;
	buf_init(&cu->pieces);
	cu->started = cu->last_log = rp_now(rp);
	rp->catchup = cu;
	rp->cu_files_total = rp->cu_files_done = 0;
	rp->cu_bytes = rp->cu_deltas = 0;
	rp_set_state(rp, STATE_CATCHING_UP);
	repl_link_send(rp->link, PEER_CATCHUP, NULL, 0);
	log_progress(rp, "started");
	request_manifest(rp);
}

/* Opens rel to send it whole; false when it is gone. */
static bool
start_whole(struct replicator *rp, const char *rel)
{
	struct catchup *cu = rp->catchup;
	char *path = local_file(rp, rel);
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	free(path);
	if (fd < 0) {
		if (errno != ENOENT)
			log_warning("catch-up: cannot read %s: %s", rel,
				    strerror(errno));
		rp->cu_files_done++;
		return false;
	}
	cu->fd = fd;
	cu->path = xstrdup(rel);
	cu->stage = ++rp->stage;
	cu->offset = 0;
	return true;
}

/* Sends the next piece of the file being sent whole. */
static void
send_whole_step(struct replicator *rp)
{
	struct catchup *cu = rp->catchup;
	struct repl_op op = {.type = REPL_OP_WRITE, .stage = cu->stage};
	char *chunk = xmalloc(REPL_CHUNK);
	struct stat st;
	ssize_t n;

	do {
		n = read(cu->fd, chunk, REPL_CHUNK);
	} while (n < 0 && errno == EINTR);
	if (n < 0 || (n == 0 && fstat(cu->fd, &st) < 0)) {
		log_warning("catch-up: cannot read %s: %s", cu->path,
			    strerror(errno));
		n = -1;
	}
	if (n > 0 || cu->offset == 0) {
		/* An empty file still needs one WRITE: it creates the stage. */
		op.offset = cu->offset;
		op.data = chunk;
		op.len = n > 0 ? (size_t)n : 0;
		send_op(rp, &op);
		cu->offset += op.len;
		rp->cu_bytes += op.len;
	}
	if (n == 0) {
		memset(&op, 0, sizeof(op));
		op.type = REPL_OP_COMMIT;
		op.stage = cu->stage;
		op.path = cu->path;
		op.mode = st.st_mode & 07777;
		op.mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 +
			      st.st_mtim.tv_nsec;
		send_op(rp, &op);
	}
	if (n <= 0) {
		close(cu->fd);
		cu->fd = -1;
		free(cu->path);
		cu->path = NULL;
		rp->cu_files_done++;
	}
	free(chunk);
}

static void
send_delta(struct replicator *rp, const void *sig, size_t siglen)
{
	struct catchup *cu = rp->catchup;
	char *path = local_file(rp, cu->sig_path), err[300];
	struct buf delta = BUF_INIT;
	struct repl_op op = {.type = REPL_OP_WRITE};
	struct stat before, after;
	size_t off = 0, n;

	if (stat(path, &before) < 0 ||
	    repl_delta(path, sig, siglen, &delta, err, sizeof(err)) < 0 ||
	    stat(path, &after) < 0 || before.st_size != after.st_size ||
	    before.st_mtim.tv_sec != after.st_mtim.tv_sec ||
	    before.st_mtim.tv_nsec != after.st_mtim.tv_nsec ||
	    delta.len >= (uint64_t)after.st_size) {
		/* Changed meanwhile, unreadable, or no smaller: send whole. */
		start_whole(rp, cu->sig_path);
		goto out;
	}
	op.stage = ++rp->stage;
	do {
		n = delta.len - off < REPL_CHUNK ? delta.len - off : REPL_CHUNK;
		op.offset = off;
		op.data = delta.data + off;
		op.len = n;
		send_op(rp, &op);
		off += n;
	} while (off < delta.len);
	memset(&op, 0, sizeof(op));
	op.type = REPL_OP_DELTA;
	op.stage = (uint64_t)rp->stage;
	op.path = cu->sig_path;
	op.mode = after.st_mode & 07777;
	op.mtime_ns =
	    (int64_t)after.st_mtim.tv_sec * 1000000000 + after.st_mtim.tv_nsec;
	op.size = (uint64_t)after.st_size;
	send_op(rp, &op);
	rp->cu_bytes += delta.len;
	rp->cu_deltas++;
	rp->cu_files_done++;
out:
	buf_free(&delta);
	free(path);
	free(cu->sig_path);
	cu->sig_path = NULL;
}

/* Sends the next difference. Returns false when the round is through. */
static bool
send_step(struct replicator *rp)
{
	struct catchup *cu = rp->catchup;
	const struct repl_diff *d;
	struct repl_op op;

	if (cu->fd >= 0) {
		send_whole_step(rp);
		return true;
	}
	while (cu->next < cu->ndiff) {
		d = &cu->diff[cu->next++];
		memset(&op, 0, sizeof(op));
		op.path = d->entry->path;
		switch (d->kind) {
		case REPL_DIFF_DIR:
			op.type = REPL_OP_MKDIR;
			op.mode = d->entry->mode & 07777;
			send_op(rp, &op);
			return true;
		case REPL_DIFF_EXTRA:
			op.type =
			    d->entry->dir ? REPL_OP_RMTREE : REPL_OP_UNLINK;
			send_op(rp, &op);
			return true;
		case REPL_DIFF_CHANGED:
			if (d->entry->size >= DELTA_MIN) {
				cu->sig_path = xstrdup(d->entry->path);
				cu->phase = CU_SIG;
				buf_reset(&cu->pieces);
				repl_link_send(rp->link, PEER_SIG_REQUEST,
					       op.path, strlen(op.path));
				rp_expect_reply(rp);
				return true;
			}
			/* Small files go whole. */
			if (start_whole(rp, d->entry->path))
				return true;
			break;
		case REPL_DIFF_MISSING:
			if (start_whole(rp, d->entry->path))
				return true;
			break;
		}
	}
	return false;
}

static void
round_end(struct replicator *rp)
{
	struct catchup *cu = rp->catchup;
	uint8_t gen[8];

	free_round(cu);
	if (!cu->final) {
		request_manifest(rp);
		return;
	}
	flush_forward(rp);
	put_u64(gen, rp->generation);
	repl_link_send(rp->link, PEER_INSYNC, gen, sizeof(gen));
	rp_expect_reply(rp);
	cu->phase = CU_INSYNC;
}

void
rp_catchup_pump(struct replicator *rp)
{
	struct catchup *cu = rp->catchup;
	struct rp_batch *b;

	while (cu != NULL && rp->catchup == cu && rp->link != NULL &&
	       repl_link_pending(rp->link) < REPL_LINK_LOW_WATER) {
		if (cu->phase != CU_SIG && rp->forward.head != NULL) {
			b = rp_queue_pop(&rp->forward);
			rp_link_send_batch(rp, b);
			rp_batch_free(b);
			continue;
		}
		if (cu->phase != CU_SENDING)
			break;
		if (!send_step(rp))
			round_end(rp);
	}
}

/* Starts the last round once no client owes "done". */
static void
start_final(struct replicator *rp)
{
	struct catchup *cu = rp->catchup;

	if (cu->phase != CU_WAIT_DONE || rp->owing_done > 0)
		return;
	cu->final = true;
	request_manifest(rp);
}

void
rp_catchup_all_done(struct replicator *rp)
{
	if (rp->catchup != NULL)
		start_final(rp);
}

static void
got_manifest(struct replicator *rp)
{
	struct catchup *cu = rp->catchup;
	char err[300], why[400];
	size_t files = 0;

	if (repl_manifest_decode(cu->pieces.data, cu->pieces.len, &cu->remote,
				 err, sizeof(err)) < 0) {
		snprintf(why, sizeof(why), "invalid manifest from the peer: %s",
			 err);
		rp_degrade(rp, why);
		return;
	}
	buf_reset(&cu->pieces);
	if (repl_manifest_build(rp->cfg->data_dir, &cu->local, err,
				sizeof(err)) < 0) {
		log_error("catch-up: cannot list %s: %s", rp->cfg->data_dir,
			  err);
		snprintf(why, sizeof(why), "local manifest failed: %s", err);
		rp_degrade(rp, why);
		return;
	}
	repl_manifest_diff(&cu->local, &cu->remote, &cu->diff, &cu->ndiff);
	for (size_t i = 0; i < cu->ndiff; i++)
		if (cu->diff[i].kind == REPL_DIFF_MISSING ||
		    cu->diff[i].kind == REPL_DIFF_CHANGED)
			files++;
	log_debug("catch-up round %u: %zu differences, %zu files", cu->round,
		  cu->ndiff, files);
	if (!cu->final &&
	    (cu->ndiff <= FEW_CHANGES || cu->round >= ROUNDS_MAX)) {
		free_round(cu);
		cu->hold = true;
		cu->hold_started = rp_now(rp);
		cu->phase = CU_WAIT_DONE;
		start_final(rp);
		return;
	}
	rp->cu_files_total += files;
	cu->phase = CU_SENDING;
	rp_catchup_pump(rp);
}

/* Appends a MANIFEST or SIG piece; returns 1 after the last one. */
static int
add_piece(struct replicator *rp, const uint8_t *body, size_t len)
{
	struct catchup *cu = rp->catchup;

	if (len == 0 || cu->pieces.len + len > PIECES_MAX) {
		rp_degrade(rp, "invalid answer from the peer");
		return -1;
	}
	buf_append(&cu->pieces, body + 1, len - 1);
	return (body[0] & PIECE_LAST) != 0;
}

static void
got_insynced(struct replicator *rp, const void *body, size_t len)
{
	struct catchup *cu = rp->catchup;

	if (len != 8 || get_u64(body) != rp->generation) {
		rp_degrade(rp, "invalid INSYNCED from the peer");
		return;
	}
	rp->peer_generation = rp->generation;
	rp->bumped = false;
	log_progress(rp, "finished");
	log_notice("peer %s in sync at generation %" PRIu64 " after %.1f s",
		   rp->peer_name, rp->generation, rp_now(rp) - cu->started);
	rp_set_state(rp, STATE_IN_SYNC);
	rp->last_error[0] = '\0';
	rp_catchup_free(rp);
	rp_release_held(rp);
}

void
rp_catchup_frame(struct replicator *rp, uint8_t type, const void *body,
		 size_t len)
{
	struct catchup *cu = rp->catchup;
	int r;

	if (cu == NULL) {
		rp_degrade(rp, "unexpected catch-up answer from the peer");
		return;
	}
	if (type == PEER_INSYNCED) {
		if (cu->phase != CU_INSYNC)
			rp_degrade(rp, "unexpected INSYNCED from the peer");
		else
			got_insynced(rp, body, len);
		return;
	}
	if ((type == PEER_MANIFEST && cu->phase != CU_MANIFEST) ||
	    (type == PEER_SIG && cu->phase != CU_SIG)) {
		rp_degrade(rp, "unexpected catch-up answer from the peer");
		return;
	}
	r = add_piece(rp, body, len);
	if (r <= 0)
		return;
	if (type == PEER_MANIFEST) {
		got_manifest(rp);
		return;
	}
	cu->phase = CU_SENDING;
	if (((const uint8_t *)body)[0] & PIECE_NONE)
		start_whole(rp, cu->sig_path);
	else
		send_delta(rp, cu->pieces.data, cu->pieces.len);
	free(cu->sig_path);
	cu->sig_path = NULL;
	buf_reset(&cu->pieces);
	rp_catchup_pump(rp);
}

/* Rejects held commits older than limit: the last round keeps going. */
static void
reject_old_held(struct replicator *rp, double now, double limit)
{
	struct rp_batch *b;

	while (rp->held.head != NULL &&
	       now - rp->held.head->committed_at > limit) {
		b = rp_queue_pop(&rp->held);
		rp_answer(rp, b, "refused the peer is finishing its catch-up");
		rp_batch_free(b);
	}
}

void
rp_catchup_tick(struct replicator *rp, double now)
{
	struct catchup *cu = rp->catchup;
	double limit = rp->cfg->replication_timeout / 2.0;

	if (cu == NULL)
		return;
	if (now - cu->last_log >= PROGRESS_INTERVAL) {
		cu->last_log = now;
		log_progress(rp, "running");
	}
	if (!cu->hold || rp->held.head == NULL ||
	    now - rp->held.head->committed_at <= limit)
		return;
	if (cu->phase == CU_INSYNC ||
	    (cu->phase != CU_WAIT_DONE && cu->releases >= RELEASES_MAX)) {
		log_notice("catch-up of %s: rejecting commits held for more "
			   "than %.1f s to finish the last round",
			   rp->peer_name, limit);
		reject_old_held(rp, now, limit);
		return;
	}
	log_notice("catch-up of %s: the last round did not finish within "
		   "%.1f s; releasing held commits",
		   rp->peer_name, limit);
	if (cu->phase != CU_WAIT_DONE)
		cu->releases++;
	cu->hold = false;
	cu->final = false;
	cu->round = 0;
	if (cu->phase == CU_WAIT_DONE)
		request_manifest(rp);
	rp_release_held(rp);
}
