/*
 * uidlist - the per-folder UID list, its lock and UIDVALIDITY values
 *
 * DIR/hapost-uidlist is text:
 *   V1 UIDVALIDITY UIDNEXT
 *   UID BASE MTIME          one line per message, UIDs ascending
 * MTIME (the file's modification time when it got its UID, used as the
 * IMAP internal date) may be missing, and the reader then stats the file.
 * A list with a bad header, a UID out of order or at or above UIDNEXT, a
 * bad BASE or a truncated last line is corrupt; the caller rebuilds it.
 *
 * Locks are open-file-description record locks (F_OFD_SETLK[W]). Unlike
 * classic POSIX record locks they belong to one open() and not to the
 * process, so two sessions of one worker process exclude each other.
 * They are released when the fd is closed.
 *
 * In replicated mode a new lock file is sent to the peer once, when
 * this call creates it, so both nodes' folders hold the same files.
 *
 * ROOT/hapost-uidvalidity records the last UIDVALIDITY handed out under
 * this root so a deleted and re-created (or renamed) folder never gets a
 * value it had before, even within the same second. In replicated mode
 * the file is committed to the replicator before a new value is
 * returned.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fsutil.h"
#include "maildir_int.h"
#include "repl_write.h"
#include "xalloc.h"

int
maildir_lock_file(const char *path, bool wait)
{
	struct flock fl = {
		.l_type = F_WRLCK,
		.l_whence = SEEK_SET,
		.l_start = 0,
		.l_len = 0,
	};
	int fd = open(path, O_RDWR | O_CLOEXEC);
	int saved;

	if (fd < 0 && errno == ENOENT) {
		fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0)
			repl_write_created_file(path);
		else if (errno == EEXIST)
			fd = open(path, O_RDWR | O_CLOEXEC);
	}
	if (fd < 0)
		return -1;
	for (;;) {
		if (fcntl(fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0)
			return fd;
		if (errno != EINTR)
			break;
	}
	saved = errno;
	close(fd);
	errno = (saved == EACCES) ? EAGAIN : saved;
	return -1;
}

void
uidlist_add(struct uidlist *ul, uint32_t uid, const char *base,
	    size_t baselen, time_t mtime)
{
	if (ul->n == ul->cap) {
		ul->cap = ul->cap ? ul->cap * 2 : 64;
		ul->v = xrealloc(ul->v, ul->cap * sizeof(*ul->v));
	}
	ul->v[ul->n].uid = uid;
	ul->v[ul->n].base = xstrndup(base, baselen);
	ul->v[ul->n].mtime = mtime;
	ul->n++;
}

void
uidlist_free(struct uidlist *ul)
{
	for (size_t i = 0; i < ul->n; i++)
		free(ul->v[i].base);
	free(ul->v);
	memset(ul, 0, sizeof(*ul));
}

/* Parses decimal digits at *p up to a byte not a digit; no sign, no
 * leading zero unless the value is 0, at most max. */
static bool
parse_number(const char **p, const char *end, uint64_t max, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (s == end || *s < '0' || *s > '9')
		return false;
	if (*s == '0' && s + 1 < end && s[1] >= '0' && s[1] <= '9')
		return false;
	while (s < end && *s >= '0' && *s <= '9') {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return false;
		s++;
	}
	*p = s;
	*out = v;
	return true;
}

/* A BASE as stored: no ':', no space, no control byte, no leading '.'. */
static bool
base_valid(const char *base, size_t len)
{
	if (len == 0 || base[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char u = (unsigned char)base[i];

		if (u <= ' ' || u == 0x7f || u == ':')
			return false;
	}
	return true;
}

static int
parse_list(const char *data, size_t len, struct uidlist *ul, char *err,
	   size_t errlen)
{
	const char *p = data, *end = data + len, *nl;
	uint64_t validity, next, uid, mtime;
	uint32_t last = 0;
	unsigned line = 1;
	size_t baselen;

	nl = memchr(p, '\n', len);
	if (nl == NULL || len < 3 || memcmp(p, "V1 ", 3) != 0)
		goto bad_header;
	p += 3;
	if (!parse_number(&p, nl, UINT32_MAX, &validity) || validity == 0)
		goto bad_header;
	ul->uidvalidity = (uint32_t)validity;
	if (p == nl || *p++ != ' ')
		goto bad_header;
	if (!parse_number(&p, nl, UINT32_MAX, &next) || next == 0 || p != nl)
		goto bad_header;
	ul->uidnext = (uint32_t)next;
	p = nl + 1;

	while (p < end) {
		const char *base;

		line++;
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			maildir_set_err(err, errlen, "line %u is truncated",
					line);
			return -1;
		}
		if (!parse_number(&p, nl, UINT32_MAX, &uid) || uid <= last ||
		    uid >= ul->uidnext || p == nl || *p++ != ' ')
			goto bad_line;
		base = p;
		while (p < nl && *p != ' ')
			p++;
		baselen = (size_t)(p - base);
		if (!base_valid(base, baselen))
			goto bad_line;
		mtime = 0;
		if (p < nl) {
			p++;
			if (!parse_number(&p, nl, INT64_MAX, &mtime) || p != nl)
				goto bad_line;
		}
		uidlist_add(ul, (uint32_t)uid, base, baselen, (time_t)mtime);
		last = (uint32_t)uid;
		p = nl + 1;
	}
	return 0;

bad_header:
	maildir_set_err(err, errlen, "invalid header line");
	return -1;
bad_line:
	maildir_set_err(err, errlen, "invalid line %u", line);
	return -1;
}

int
uidlist_read(const char *dir, struct uidlist *ul, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	char path[4096];
	char why[128];
	int ret;

	memset(ul, 0, sizeof(*ul));
	snprintf(path, sizeof(path), "%s/%s", dir, UIDLIST_FILE);
	if (read_file(path, &b, UIDLIST_MAX_SIZE) < 0) {
		int saved = errno;

		buf_free(&b);
		if (saved == ENOENT)
			return 0;
		if (saved == EFBIG) {
			maildir_set_err(err, errlen,
					"%s is larger than %zu bytes", path,
					UIDLIST_MAX_SIZE);
			return -1;
		}
		maildir_set_err(err, errlen, "read(%s) failed: %s", path,
				strerror(saved));
		return -2;
	}
	ret = parse_list(b.data ? b.data : "", b.len, ul, why, sizeof(why));
	buf_free(&b);
	if (ret < 0) {
		uint32_t old = ul->uidvalidity;

		maildir_set_err(err, errlen, "%s is corrupt: %s", path, why);
		uidlist_free(ul);
		ul->uidvalidity = old;
		return -1;
	}
	return 1;
}

static void
uidlist_format(const struct uidlist *ul, struct buf *b)
{
	buf_reserve(b, 32 + ul->n * 64);
	buf_printf(b, "V1 %u %u\n", ul->uidvalidity, ul->uidnext);
	for (size_t i = 0; i < ul->n; i++) {
		if (ul->v[i].mtime > 0)
			buf_printf(b, "%u %s %lld\n", ul->v[i].uid,
				   ul->v[i].base, (long long)ul->v[i].mtime);
		else
			buf_printf(b, "%u %s\n", ul->v[i].uid, ul->v[i].base);
	}
}

int
uidlist_write(const char *dir, const struct uidlist *ul, char *err,
	      size_t errlen)
{
	struct buf b = BUF_INIT;
	char path[4096];
	int ret;

	uidlist_format(ul, &b);
	snprintf(path, sizeof(path), "%s/%s", dir, UIDLIST_FILE);
	ret = repl_write_file_atomic(path, b.data, b.len, 0600, err, errlen);
	buf_free(&b);
	return ret;
}

int
uidlist_stage(const char *dir, const struct uidlist *ul, char *tmp,
	      size_t tmplen, char *err, size_t errlen)
{
	struct buf b = BUF_INIT;
	char path[4096];
	int ret;

	uidlist_format(ul, &b);
	snprintf(path, sizeof(path), "%s/%s", dir, UIDLIST_FILE);
	ret = repl_write_stage(path, b.data, b.len, 0600, tmp, tmplen, err,
			       errlen);
	buf_free(&b);
	return ret;
}

static int
uidvalidity_replicate(const char *path, char *err, size_t errlen)
{
	struct repl_batch *b = NULL;
	const char *rel = repl_write_rel(path);

	if (rel == NULL)
		return 0;
	repl_add_file(repl_write_batch(&b), rel, path);
	if (repl_write_commit(b, err, errlen) < 0)
		return -1;
	repl_done();
	return 0;
}

uint32_t
uidvalidity_next(const char *root, uint32_t at_least, char *err,
		 size_t errlen)
{
	char path[4096], text[32];
	uint64_t last = 0, now = (uint64_t)time(NULL), next;
	const char *p = text;
	ssize_t n;
	int fd, len;

	snprintf(path, sizeof(path), "%s/%s", root, UIDVALIDITY_FILE);
	fd = maildir_lock_file(path, true);
	if (fd < 0) {
		maildir_set_err(err, errlen, "lock(%s) failed: %s", path,
				strerror(errno));
		return 0;
	}
	n = pread(fd, text, sizeof(text) - 1, 0);
	if (n > 0) {
		text[n] = '\0';
		if (!parse_number(&p, text + n, UINT32_MAX, &last))
			last = 0;
	}
	next = now;
	if (next <= last)
		next = last + 1;
	if (next < at_least)
		next = at_least;
	if (next > UINT32_MAX || next == 0) {
		/* NOTE: after 2106 or 4 billion folders the counter wraps;
		 * restart at 1 rather than fail. */
		next = 1;
	}
	len = snprintf(text, sizeof(text), "%llu\n", (unsigned long long)next);
	if (pwrite(fd, text, (size_t)len, 0) != len ||
	    ftruncate(fd, len) < 0 || fsync(fd) < 0) {
		maildir_set_err(err, errlen, "write(%s) failed: %s", path,
				strerror(errno));
		close(fd);
		return 0;
	}
	/*
	 * The value is used only after this commit, and the lock keeps
	 * the file as it is until then. A value written here but not on
	 * the peer is never handed out, so the local write may go first.
	 */
	if (uidvalidity_replicate(path, err, errlen) < 0) {
		close(fd);
		return 0;
	}
	close(fd);
	return (uint32_t)next;
}
