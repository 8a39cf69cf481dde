/*
 * queue - the files of the mail queue under DATA_DIR/queue
 *
 * queue.h gives the layout and the durability rules; queue_format.c gives
 * the envelope header and status record formats. This file moves entries
 * through tmp/, messages/ and status/:
 *
 * - queue_writer_* buffers the entry in 64 KiB chunks into tmp/ID
 *   (created with O_EXCL, so two writers never share an ID), then on
 *   commit fills in the size field, fsyncs the file, renames it to
 *   messages/ID and fsyncs messages/.
 * - queue_mark appends one record to status/ID and fsyncs it (and the
 *   directory when the file is new). A record torn by an earlier crash is
 *   cut off first, so the new record starts on its own line.
 * - queue_load rejects a file whose header is corrupt or whose message is
 *   shorter or longer than the header records, with the reason in err.
 *
 * With storage_mode = replicated every change is committed to the
 * replicator before it happens locally (repl_write.h): the FILE record
 * of tmp/ID before the rename to messages/ID, the APPEND record of a
 * status record before the local append, the UNLINK records before a
 * removal. A refused commit fails the operation with errno EAGAIN and
 * leaves nothing changed locally (a new entry's tmp/ID is removed).
 *
 * Failures return -1 with "queue entry ID: reason" in err and errno from
 * the failing call (ENOENT for an entry that does not exist).
 *
 * Limits: a status file larger than 64 MiB is reported as corrupt. The
 * queue assumes one queue manager process appends status records; a
 * second concurrent writer could interleave with the torn-record repair.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "log.h"
#include "queue.h"
#include "queue_format.h"
#include "queue_int.h"
#include "repl_write.h"
#include "xalloc.h"

#define WRITE_BUFFER_SIZE (64u * 1024)
#define STATUS_MAX (64u * 1024 * 1024)
#define STALE_TMP_SECONDS 3600
#define ID_ATTEMPTS 16

bool
queue_id_valid(const char *id)
{
	size_t i;

	if (id == NULL)
		return false;
	for (i = 0; i < QUEUE_ID_LEN; i++) {
		char c = id[i];

		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return id[QUEUE_ID_LEN] == '\0';
}

int
queue_path(char *out, const char *data_dir, const char *sub, const char *id)
{
	int n;

	if (id != NULL)
		n = snprintf(out, PATH_MAX, "%s/queue/%s/%s", data_dir, sub,
			     id);
	else
		n = snprintf(out, PATH_MAX, "%s/queue/%s", data_dir, sub);
	if (n < 0 || n >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

void
queue_entry_error(char *err, size_t errlen, const char *id, const char *fmt,
		  ...)
{
	int saved = errno;
	int n = snprintf(err, errlen, "queue entry %s: ", id);
	va_list ap;

	if (n >= 0 && (size_t)n < errlen) {
		va_start(ap, fmt);
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}

int
queue_fsync_dir(const char *data_dir, const char *sub)
{
	char path[PATH_MAX];

	if (queue_path(path, data_dir, sub, NULL) < 0)
		return -1;
	return fsync_dir(path);
}

int
queue_init(const char *data_dir, char *err, size_t errlen)
{
	static const char *const subdirs[] = {"tmp", "messages", "status",
					      NULL};
	struct repl_batch *b = NULL;
	char path[PATH_MAX];
	size_t i;

	/* queue/tmp/ is node-local: repl_write_add_mkdirs() skips it. */
	if ((size_t)snprintf(path, sizeof(path), "%s/queue", data_dir) <
	    sizeof(path))
		repl_write_add_mkdirs(&b, path, subdirs, 0700);
	/*
	 * The commit is refused when no peer is in sync while
	 * replication_require_peer is on, as right after a promotion. The
	 * queue still needs its folders, and creating them here is safe:
	 * they are empty, the standby's catch-up creates them, and so does
	 * any file replicated into them.
	 */
	if (b != NULL && repl_write_commit(b, err, errlen) < 0)
		log_warning("queue: %s; creating the queue folders here only",
			    err);
	else if (b != NULL)
		repl_done();
	for (i = 0; subdirs[i] != NULL; i++) {
		if (queue_path(path, data_dir, subdirs[i], NULL) < 0 ||
		    mkdir_p(path, 0700) < 0) {
			snprintf(err, errlen, "mkdir(%s/queue/%s) failed: %s",
				 data_dir, subdirs[i], strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Makes a new ID from the time in microseconds and 16 random bits. */
static void
make_id(char *id)
{
	struct timeval tv;
	uint64_t usec;
	uint16_t rnd;

	gettimeofday(&tv, NULL);
	usec = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint16_t)(rand() ^ getpid());
	snprintf(id, QUEUE_ID_LEN + 1, "%012llX%04X",
		 (unsigned long long)(usec & 0xFFFFFFFFFFFFull), (unsigned)rnd);
}

/* Writes the buffered bytes to the file; keeps the first error. */
static void
writer_flush(struct queue_writer *w)
{
	if (w->write_errno == 0 && w->pending.len > 0 &&
	    write_full(w->fd, w->pending.data, w->pending.len) < 0)
		w->write_errno = errno != 0 ? errno : EIO;
	buf_reset(&w->pending);
}

struct queue_writer *
queue_writer_open(const char *data_dir, struct queue_envelope *env, char *err,
		  size_t errlen)
{
	struct queue_writer *w;
	size_t size_field, i;
	int attempt;

	static unsigned long long opened;

	w = xcalloc(1, sizeof(*w));
	w->fd = -1;
	w->serial = ++opened;
	buf_init(&w->pending);
	if (queue_path(w->messages_dir, data_dir, "messages", NULL) < 0) {
		snprintf(err, errlen, "queue path too long under %s", data_dir);
		goto fail;
	}
	for (attempt = 0; attempt < ID_ATTEMPTS && w->fd < 0; attempt++) {
		make_id(w->id);
		if (queue_path(w->tmp_path, data_dir, "tmp", w->id) < 0 ||
		    queue_path(w->final_path, data_dir, "messages", w->id) <
			0) {
			snprintf(err, errlen, "queue path too long under %s",
				 data_dir);
			goto fail;
		}
		/* An ID still in use by a committed entry is skipped too. */
		if (access(w->final_path, F_OK) == 0)
			continue;
		w->fd = open(w->tmp_path,
			     O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (w->fd < 0 && errno != EEXIST) {
			snprintf(err, errlen, "open(%s) failed: %s",
				 w->tmp_path, strerror(errno));
			goto fail;
		}
	}
	if (w->fd < 0) {
		snprintf(err, errlen, "no free queue ID after %d attempts",
			 ID_ATTEMPTS);
		goto fail;
	}

	memcpy(env->id, w->id, sizeof(env->id));
	env->arrival = time(NULL);
	for (i = 0; i < env->nrcpts; i++)
		env->rcpts[i].state = QUEUE_RCPT_PENDING;
	if (queue_format_header(&w->pending, env, &size_field, err, errlen) <
	    0) {
		queue_writer_abort(w);
		return NULL;
	}
	w->size_field = (off_t)size_field;
	w->header_len = w->pending.len;
	return w;
fail:
	buf_free(&w->pending);
	free(w);
	return NULL;
}

int
queue_writer_write(struct queue_writer *w, const void *data, size_t len)
{
	if (w->write_errno != 0) {
		errno = w->write_errno;
		return -1;
	}
	w->msg_size += len;
	if (w->pending.len + len > WRITE_BUFFER_SIZE) {
		writer_flush(w);
		if (len >= WRITE_BUFFER_SIZE) {
			if (write_full(w->fd, data, len) < 0)
				w->write_errno = errno != 0 ? errno : EIO;
			len = 0;
		}
	}
	if (len > 0)
		buf_append(&w->pending, data, len);
	if (w->write_errno != 0) {
		errno = w->write_errno;
		return -1;
	}
	return 0;
}

size_t
queue_writer_size(const struct queue_writer *w)
{
	return w->msg_size;
}

int
queue_writer_finish(struct queue_writer *w, const char **step)
{
	char digits[QUEUE_SIZE_DIGITS];
	ssize_t n;

	*step = "write";
	writer_flush(w);
	if (w->write_errno != 0) {
		errno = w->write_errno;
		return -1;
	}
	queue_format_size(digits, w->msg_size);
	n = pwrite(w->fd, digits, sizeof(digits), w->size_field);
	if (n != (ssize_t)sizeof(digits)) {
		if (n >= 0)
			errno = EIO;
		return -1;
	}
	return 0;
}

int
queue_writer_commit(struct queue_writer *w, char *err, size_t errlen)
{
	char reason[256];
	const char *step;
	int saved;

	if (queue_writer_finish(w, &step) < 0)
		goto fail;
	step = "fsync";
	if (fsync(w->fd) < 0)
		goto fail;
	step = "close";
	if (close(w->fd) < 0) {
		w->fd = -1;
		goto fail;
	}
	w->fd = -1;
	if (queue_writer_replicate(&w, 1, reason, sizeof(reason)) < 0) {
		queue_entry_error(err, errlen, w->id, "%s", reason);
		queue_writer_abort(w);
		errno = EAGAIN;
		return -1;
	}
	step = "rename";
	if (rename(w->tmp_path, w->final_path) < 0)
		goto fail;
	if (fsync_dir(w->messages_dir) < 0) {
		saved = errno;
		/*
		 * The entry is visible but may not survive a crash, and the
		 * client gets a temporary failure and retries, so withdraw it.
		 */
		unlink(w->final_path);
		queue_entry_error(err, errlen, w->id, "fsync(%s) failed: %s",
				  w->messages_dir, strerror(saved));
		queue_writer_withdraw(&w, 1);
		buf_free(&w->pending);
		free(w);
		errno = saved;
		return -1;
	}
	repl_done();
	buf_free(&w->pending);
	free(w);
	return 0;
fail:
	queue_entry_error(err, errlen, w->id, "%s(%s) failed: %s", step,
			  w->tmp_path, strerror(errno));
	queue_writer_abort(w);
	/* The publish is over, failed or not (see repl.h). */
	saved = errno;
	repl_done();
	errno = saved;
	return -1;
}

void
queue_writer_abort(struct queue_writer *w)
{
	int saved = errno;

	if (w == NULL)
		return;
	if (w->fd >= 0)
		close(w->fd);
	unlink(w->tmp_path);
	buf_free(&w->pending);
	free(w);
	errno = saved;
}

int
queue_writer_replicate_send(struct queue_writer *const *v, size_t n,
			    char *err, size_t errlen)
{
	struct repl_batch *b = NULL;
	size_t i;

	for (i = 0; i < n; i++) {
		const char *rel;

		if (v[i] == NULL)
			continue;
		rel = repl_write_rel(v[i]->final_path);
		if (rel != NULL)
			repl_add_file(repl_write_batch(&b), rel,
				      v[i]->tmp_path);
	}
	return repl_write_commit_send(b, err, errlen);
}

int
queue_writer_replicate_wait(char *err, size_t errlen)
{
	return repl_write_commit_wait(err, errlen);
}

int
queue_writer_replicate(struct queue_writer *const *v, size_t n, char *err,
		       size_t errlen)
{
	if (queue_writer_replicate_send(v, n, err, errlen) < 0)
		return -1;
	return queue_writer_replicate_wait(err, errlen);
}

void
queue_writer_withdraw(struct queue_writer *const *v, size_t n)
{
	struct repl_batch *b = NULL;
	char err[256];
	size_t i;

	for (i = 0; i < n; i++) {
		const char *rel;

		if (v[i] == NULL)
			continue;
		rel = repl_write_rel(v[i]->final_path);
		if (rel != NULL)
			repl_add_unlink(repl_write_batch(&b), rel);
	}
	if (repl_write_commit(b, err, sizeof(err)) < 0)
		log_warning("queue: withdrawing entries on the peer failed: "
			    "%s",
			    err);
	else if (b != NULL)
		repl_done();
}

int
queue_status_replicate(const char *data_dir, const char *id, const void *data,
		       size_t len, char *err, size_t errlen)
{
	char msg_path[PATH_MAX], path[PATH_MAX], reason[256];
	struct repl_batch *b = NULL;
	const char *rel;

	if (!queue_id_valid(id) ||
	    queue_path(path, data_dir, "status", id) < 0 ||
	    queue_path(msg_path, data_dir, "messages", id) < 0)
		return 0; /* queue_status_append() reports it */
	rel = repl_write_rel(path);
	if (rel == NULL)
		return 0;
	/* A deleted entry must not get a status file back on the peer. */
	if (access(msg_path, F_OK) < 0)
		return 0;
	repl_add_append(repl_write_batch(&b), rel, data, len);
	if (repl_write_commit(b, reason, sizeof(reason)) == 0)
		return 0;
	queue_entry_error(err, errlen, id, "%s", reason);
	errno = EAGAIN;
	return -1;
}

static int
compare_ids(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
queue_list(const char *data_dir, char ***ids, size_t *n, char *err,
	   size_t errlen)
{
	char path[PATH_MAX];
	struct dirent *de;
	char **list = NULL;
	size_t count = 0;
	DIR *d;

	*ids = NULL;
	*n = 0;
	if (queue_path(path, data_dir, "messages", NULL) < 0 ||
	    (d = opendir(path)) == NULL) {
		int saved = errno;

		snprintf(err, errlen, "opendir(%s/queue/messages) failed: %s",
			 data_dir, strerror(saved));
		errno = saved;
		return -1;
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (!queue_id_valid(de->d_name))
			continue;
		list = xrealloc(list, (count + 1) * sizeof(*list));
		list[count++] = xstrdup(de->d_name);
		errno = 0;
	}
	if (errno != 0) {
		snprintf(err, errlen, "readdir(%s) failed: %s", path,
			 strerror(errno));
		closedir(d);
		queue_list_free(list, count);
		return -1;
	}
	closedir(d);
	if (count > 0)
		qsort(list, count, sizeof(*list), compare_ids);
	*ids = list;
	*n = count;
	return 0;
}

void
queue_list_free(char **ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

void
queue_envelope_free(struct queue_envelope *env)
{
	size_t i;

	for (i = 0; i < env->nrcpts; i++) {
		free(env->rcpts[i].address);
		free(env->rcpts[i].orig);
		free(env->rcpts[i].last_error);
		free(env->rcpts[i].dsn);
		free(env->rcpts[i].relay);
	}
	free(env->rcpts);
	free(env->sender);
	free(env->client_ip);
	free(env->helo);
	free(env->auth_user);
	memset(env, 0, sizeof(*env));
}

/* Reads status/ID into env; a missing file means no records yet. */
static int
load_status(const char *data_dir, const char *id, struct queue_envelope *env,
	    char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct buf data = BUF_INIT;
	char reason[256];
	int ret = 0;

	if (queue_path(path, data_dir, "status", id) < 0) {
		queue_entry_error(err, errlen, id, "path too long");
		return -1;
	}
	if (read_file(path, &data, STATUS_MAX) < 0) {
		if (errno != ENOENT) {
			queue_entry_error(err, errlen, id,
					  "read(%s) failed: %s", path,
					  strerror(errno));
			ret = -1;
		}
	} else if (queue_apply_status(env, data.data, data.len, reason,
				      sizeof(reason)) < 0) {
		queue_entry_error(err, errlen, id, "%s: %s", path, reason);
		errno = EINVAL;
		ret = -1;
	}
	buf_free(&data);
	return ret;
}

int
queue_load(const char *data_dir, const char *id, struct queue_envelope *env,
	   char *err, size_t errlen)
{
	char path[PATH_MAX];
	char reason[256];
	struct stat st;
	FILE *f;
	int fd;

	memset(env, 0, sizeof(*env));
	if (!queue_id_valid(id)) {
		snprintf(err, errlen,
			 "invalid queue ID (16 hex digits "
			 "expected)");
		errno = EINVAL;
		return -1;
	}
	if (queue_path(path, data_dir, "messages", id) < 0) {
		queue_entry_error(err, errlen, id, "path too long");
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			queue_entry_error(err, errlen, id, "not found");
		else
			queue_entry_error(err, errlen, id,
					  "open(%s) failed: %s", path,
					  strerror(errno));
		return -1;
	}
	f = fdopen(fd, "r");
	if (f == NULL) {
		queue_entry_error(err, errlen, id, "fdopen(%s) failed: %s",
				  path, strerror(errno));
		close(fd);
		return -1;
	}
	if (queue_parse_header(f, id, env, reason, sizeof(reason)) < 0) {
		queue_entry_error(err, errlen, id, "%s: %s", path, reason);
		fclose(f);
		errno = EINVAL;
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		queue_entry_error(err, errlen, id, "fstat(%s) failed: %s", path,
				  strerror(errno));
		goto fail;
	}
	if ((uintmax_t)st.st_size !=
	    (uintmax_t)env->msg_offset + env->msg_size) {
		queue_entry_error(err, errlen, id,
				  "%s: file holds %jd message bytes but the "
				  "header records %zu (truncated or corrupt)",
				  path,
				  (intmax_t)(st.st_size - env->msg_offset),
				  env->msg_size);
		errno = EINVAL;
		goto fail;
	}
	fclose(f);
	if (load_status(data_dir, id, env, err, errlen) < 0) {
		int saved = errno;

		queue_envelope_free(env);
		errno = saved;
		return -1;
	}
	return 0;
fail:
	fclose(f);
	queue_envelope_free(env);
	return -1;
}

int
queue_open_message(const char *data_dir, const char *id)
{
	char path[PATH_MAX];

	if (!queue_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	if (queue_path(path, data_dir, "messages", id) < 0)
		return -1;
	return open(path, O_RDONLY | O_CLOEXEC);
}

/*
 * Cuts a record torn by a crash off the end of the status file, so the
 * next record starts on a fresh line. The torn bytes were never fsync'd,
 * so nothing acted on them.
 */
static int
cut_torn_record(int fd)
{
	struct stat st;
	char last;
	off_t end, pos;

	if (fstat(fd, &st) < 0)
		return -1;
	end = st.st_size;
	if (end == 0)
		return 0;
	if (pread(fd, &last, 1, end - 1) != 1)
		return -1;
	if (last == '\n')
		return 0;
	/* Scan backwards in small blocks for the last complete line. */
	pos = end;
	while (pos > 0) {
		char block[512];
		size_t len =
		    pos > (off_t)sizeof(block) ? sizeof(block) : (size_t)pos;
		ssize_t n;
		size_t i;

		pos -= (off_t)len;
		n = pread(fd, block, len, pos);
		if (n != (ssize_t)len)
			return -1;
		for (i = len; i > 0; i--) {
			if (block[i - 1] == '\n')
				return ftruncate(fd, pos + (off_t)i);
		}
	}
	return ftruncate(fd, 0);
}

int
queue_status_append(const char *data_dir, const char *id, const void *data,
		    size_t len, bool *created, char *err, size_t errlen)
{
	char msg_path[PATH_MAX], path[PATH_MAX];
	struct stat st;
	int fd;

	*created = true;
	if (!queue_id_valid(id)) {
		snprintf(err, errlen, "invalid queue ID");
		errno = EINVAL;
		return -1;
	}
	if (queue_path(msg_path, data_dir, "messages", id) < 0 ||
	    queue_path(path, data_dir, "status", id) < 0) {
		queue_entry_error(err, errlen, id, "path too long");
		return -1;
	}
	/* A deleted entry must not get a status file back. */
	if (access(msg_path, F_OK) < 0) {
		queue_entry_error(err, errlen, id, "not found");
		return -1;
	}
	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST) {
		*created = false;
		fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
	}
	if (fd < 0) {
		queue_entry_error(err, errlen, id, "open(%s) failed: %s", path,
				  strerror(errno));
		return -1;
	}
	if (cut_torn_record(fd) < 0 || fstat(fd, &st) < 0) {
		queue_entry_error(err, errlen, id, "repairing %s failed: %s",
				  path, strerror(errno));
		goto fail;
	}
	if (write_full(fd, data, len) < 0) {
		queue_entry_error(err, errlen, id, "write(%s) failed: %s", path,
				  strerror(errno));
		/* Best effort: drop a partial record now rather than later. */
		if (ftruncate(fd, st.st_size) < 0)
			errno = EIO;
		goto fail;
	}
	return fd;
fail:
	if (fd >= 0) {
		int saved = errno;

		close(fd);
		errno = saved;
	}
	return -1;
}

static int
mark_record(const char *data_dir, const char *id, size_t rcpt,
	    enum queue_rcpt_state state, time_t next_attempt, const char *error,
	    char *err, size_t errlen)
{
	struct buf record = BUF_INIT;
	bool created;
	int fd;

	queue_format_status(&record, rcpt, state, next_attempt, error);
	if (queue_status_replicate(data_dir, id, record.data, record.len, err,
				   errlen) < 0) {
		buf_free(&record);
		return -1;
	}
	fd = queue_status_append(data_dir, id, record.data, record.len,
				 &created, err, errlen);
	buf_free(&record);
	if (fd < 0)
		return -1;
	if (fsync(fd) < 0) {
		queue_entry_error(err, errlen, id,
				  "fsync(%s/queue/status/%s) failed: %s",
				  data_dir, id, strerror(errno));
		close(fd);
		return -1;
	}
	if (close(fd) < 0) {
		queue_entry_error(err, errlen, id,
				  "close(%s/queue/status/%s) failed: %s",
				  data_dir, id, strerror(errno));
		return -1;
	}
	if (created && queue_fsync_dir(data_dir, "status") < 0) {
		queue_entry_error(err, errlen, id,
				  "fsync(%s/queue/status) failed: %s", data_dir,
				  strerror(errno));
		return -1;
	}
	return 0;
}

int
queue_mark(const char *data_dir, const char *id, size_t rcpt,
	   enum queue_rcpt_state state, time_t next_attempt, const char *error,
	   char *err, size_t errlen)
{
	int ret = mark_record(data_dir, id, rcpt, state, next_attempt, error,
			      err, errlen);
	int saved = errno;

	/* The publish is over, failed or not (see repl.h). */
	repl_done();
	errno = saved;
	return ret;
}

static int
remove_entry(const char *data_dir, const char *id, char *err, size_t errlen)
{
	char msg_path[PATH_MAX], status_path[PATH_MAX], reason[256];
	bool missing = false;

	if (!queue_id_valid(id)) {
		snprintf(err, errlen,
			 "invalid queue ID (16 hex digits "
			 "expected)");
		errno = EINVAL;
		return -1;
	}
	if (queue_path(msg_path, data_dir, "messages", id) < 0 ||
	    queue_path(status_path, data_dir, "status", id) < 0) {
		queue_entry_error(err, errlen, id, "path too long");
		return -1;
	}
	if (queue_remove_replicate(data_dir, &id, 1, reason, sizeof(reason)) <
	    0) {
		queue_entry_error(err, errlen, id, "%s", reason);
		errno = EAGAIN;
		return -1;
	}
	if (unlink(msg_path) < 0) {
		if (errno != ENOENT) {
			queue_entry_error(err, errlen, id,
					  "unlink(%s) failed: %s", msg_path,
					  strerror(errno));
			return -1;
		}
		missing = true;
	} else if (fsync_parent(msg_path) < 0) {
		queue_entry_error(err, errlen, id,
				  "fsync(%s/queue/messages) failed: %s",
				  data_dir, strerror(errno));
		return -1;
	}
	/* The status file goes second: without messages/ID it is inert. */
	if (unlink(status_path) < 0) {
		if (errno != ENOENT) {
			queue_entry_error(err, errlen, id,
					  "unlink(%s) failed: %s", status_path,
					  strerror(errno));
			return -1;
		}
	} else if (fsync_parent(status_path) < 0) {
		queue_entry_error(err, errlen, id,
				  "fsync(%s/queue/status) failed: %s", data_dir,
				  strerror(errno));
		return -1;
	}
	if (missing) {
		queue_entry_error(err, errlen, id, "not found");
		errno = ENOENT;
		return -1;
	}
	return 0;
}

int
queue_remove(const char *data_dir, const char *id, char *err, size_t errlen)
{
	int ret = remove_entry(data_dir, id, err, errlen);
	int saved = errno;

	/* The publish is over, failed or not (see repl.h). */
	repl_done();
	errno = saved;
	return ret;
}

int
queue_remove_replicate(const char *data_dir, const char *const *ids, size_t n,
		       char *err, size_t errlen)
{
	static const char *const subs[] = {"messages", "status"};
	struct repl_batch *b = NULL;
	char path[PATH_MAX];

	/* Every messages/ID before any status/ID, as the local removal. */
	for (size_t s = 0; s < 2; s++) {
		for (size_t i = 0; i < n; i++) {
			const char *rel;

			if (ids[i] == NULL ||
			    queue_path(path, data_dir, subs[s], ids[i]) < 0)
				continue;
			rel = repl_write_rel(path);
			if (rel != NULL)
				repl_add_unlink(repl_write_batch(&b), rel);
		}
	}
	return repl_write_commit(b, err, errlen);
}

/* Replicates the removal of a stale file; -1 keeps the file for now. */
static int
cleanup_replicate(const char *path)
{
	struct repl_batch *b = NULL;
	const char *rel = repl_write_rel(path);
	char err[256];

	if (rel == NULL)
		return 0;
	repl_add_unlink(repl_write_batch(&b), rel);
	if (repl_write_commit(b, err, sizeof(err)) < 0) {
		log_warning("queue cleanup: %s kept: %s", path, err);
		return -1;
	}
	repl_done();
	return 0;
}

/* Removes files in DATA_DIR/queue/SUB for which stale() returns true. */
static void
cleanup_dir(const char *data_dir, const char *sub,
	    bool (*stale)(const char *data_dir, const char *path,
			  const char *name))
{
	char dir[PATH_MAX], path[PATH_MAX];
	struct dirent *de;
	DIR *d;

	if (queue_path(dir, data_dir, sub, NULL) < 0)
		return;
	d = opendir(dir);
	if (d == NULL) {
		log_warning("queue cleanup: opendir(%s) failed: %m", dir);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (queue_path(path, data_dir, sub, de->d_name) < 0)
			continue;
		if (!stale(data_dir, path, de->d_name))
			continue;
		if (cleanup_replicate(path) < 0)
			continue;
		if (unlink(path) < 0 && errno != ENOENT)
			log_warning("queue cleanup: unlink(%s) failed: %m",
				    path);
		else
			log_warning("queue cleanup: removed %s", path);
	}
	closedir(d);
}

static bool
tmp_is_stale(const char *data_dir, const char *path, const char *name)
{
	struct stat st;

	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return false;
	return st.st_mtime < time(NULL) - STALE_TMP_SECONDS;
}

static bool
status_is_orphan(const char *data_dir, const char *path, const char *name)
{
	char msg_path[PATH_MAX];

	if (queue_path(msg_path, data_dir, "messages", name) < 0)
		return false;
	return access(msg_path, F_OK) < 0 && errno == ENOENT;
}

void
queue_cleanup(const char *data_dir)
{
	cleanup_dir(data_dir, "tmp", tmp_is_stale);
	cleanup_dir(data_dir, "status", status_is_orphan);
}
