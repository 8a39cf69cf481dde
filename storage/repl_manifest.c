/*
 * repl_manifest - lists a data_dir's replicated files and compares lists
 *
 * The walk opens every directory with openat(O_NOFOLLOW) from its
 * parent's descriptor and looks at entries with fstatat(AT_SYMLINK_
 * NOFOLLOW), so it never leaves data_dir through a symlink. It skips a
 * directory that repl_path_excluded() excludes without reading it,
 * because everything below an excluded path is excluded too. An entry
 * that vanishes during the walk is left out; it is a change the stream
 * carries anyway. A path longer than REPL_PATH_MAX cannot be
 * replicated and is logged and left out. Each level of the walk keeps
 * a directory open, so the walk stops with an error past
 * WALK_DEPTH_MAX levels.
 *
 * The decoder allocates one entry per decoded entry, and every entry
 * takes at least ENTRY_MIN bytes of input, so memory is bounded by the
 * input length.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "repl_wire.h"
#include "xalloc.h"

#define WALK_DEPTH_MAX 128
#define ENTRY_FIXED (1 + 8 + 4 + 8) /* kind, size, mode, mtime_ns */
#define ENTRY_MIN (2 + 1 + ENTRY_FIXED) /* with a 1-byte path */
#define KIND_FILE 0
#define KIND_DIR 1

static void
add_entry(struct repl_manifest *m, size_t *cap, char *path, bool dir,
	  uint64_t size, uint32_t mode, int64_t mtime_ns)
{
	struct repl_manifest_entry *e;

	if (m->n == *cap) {
		*cap = *cap ? 2 * *cap : 64;
		m->v = xrealloc(m->v, *cap * sizeof(*m->v));
	}
	e = &m->v[m->n++];
	e->path = path;
	e->dir = dir;
	e->size = size;
	e->mode = mode;
	e->mtime_ns = mtime_ns;
}

void
repl_manifest_free(struct repl_manifest *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->v[i].path);
	free(m->v);
	m->v = NULL;
	m->n = 0;
}

static int64_t
timespec_ns(const struct timespec *ts)
{
	const int64_t limit = INT64_MAX / 1000000000 - 1;

	if (ts->tv_sec > limit)
		return INT64_MAX;
	if (ts->tv_sec < -limit)
		return INT64_MIN;
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

struct walk {
	struct repl_manifest *m;
	size_t cap;
	bool list_other; /* symlinks and special files as REPL_SIZE_OTHER */
	char path[REPL_PATH_MAX + 1];
	char *err;
	size_t errlen;
};

static int walk_dir(struct walk *w, int fd, size_t len, unsigned depth);

/* Adds the entry name of directory fd, whose path is w->path[0..len). */
static int
walk_entry(struct walk *w, int fd, size_t len, const char *name,
	   unsigned depth)
{
	size_t name_len = strlen(name);
	size_t plen = len > 0 ? len + 1 + name_len : name_len;
	struct stat st;
	int child, ret;

	if (plen > REPL_PATH_MAX) {
		log_warning("replication manifest: path longer than %d bytes "
			    "left out: %.*s/%.100s...",
			    REPL_PATH_MAX, (int)(len < 200 ? len : 200),
			    w->path, name);
		return 0;
	}
	if (len > 0)
		w->path[len] = '/';
	memcpy(w->path + (len > 0 ? len + 1 : 0), name, name_len + 1);
	if (repl_path_excluded(w->path))
		return 0;
	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(w->err, w->errlen, "fstatat(%s) failed: %s", w->path,
			 strerror(errno));
		return -1;
	}
	if (S_ISREG(st.st_mode)) {
		add_entry(w->m, &w->cap, xstrdup(w->path), false,
			  (uint64_t)st.st_size, st.st_mode & 07777,
			  timespec_ns(&st.st_mtim));
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		if (w->list_other)
			add_entry(w->m, &w->cap, xstrdup(w->path), false,
				  REPL_SIZE_OTHER, 0, 0);
		return 0;
	}
	add_entry(w->m, &w->cap, xstrdup(w->path), true, 0,
		  st.st_mode & 07777, 0);
	if (depth + 1 >= WALK_DEPTH_MAX) {
		snprintf(w->err, w->errlen,
			 "directory tree deeper than %d levels at %s",
			 WALK_DEPTH_MAX, w->path);
		return -1;
	}
	child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					 O_CLOEXEC);
	if (child < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(w->err, w->errlen, "open(%s) failed: %s", w->path,
			 strerror(errno));
		return -1;
	}
	ret = walk_dir(w, child, plen, depth + 1);
	w->path[len] = '\0';
	return ret;
}

/* Lists directory fd (closed here), whose path is w->path[0..len). */
static int
walk_dir(struct walk *w, int fd, size_t len, unsigned depth)
{
	DIR *d = fdopendir(fd);
	struct dirent *e;
	int ret = 0;

	if (d == NULL) {
		snprintf(w->err, w->errlen, "opendir(%s) failed: %s",
			 len > 0 ? w->path : ".", strerror(errno));
		close(fd);
		return -1;
	}
	for (;;) {
		errno = 0;
		e = readdir(d);
		if (e == NULL) {
			if (errno != 0) {
				w->path[len] = '\0';
				snprintf(w->err, w->errlen,
					 "readdir(%s) failed: %s",
					 len > 0 ? w->path : ".",
					 strerror(errno));
				ret = -1;
			}
			break;
		}
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		ret = walk_entry(w, dirfd(d), len, e->d_name, depth);
		w->path[len] = '\0';
		if (ret < 0)
			break;
	}
	closedir(d);
	return ret;
}

static int
compare_entries(const void *x, const void *y)
{
	const struct repl_manifest_entry *a = x, *b = y;

	return strcmp(a->path, b->path);
}

static int
build(const char *data_dir, bool list_other, struct repl_manifest *m,
      char *err, size_t errlen)
{
	struct walk *w;
	int fd, ret;

	m->v = NULL;
	m->n = 0;
	fd = open(data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "open(%s) failed: %s", data_dir,
			 strerror(errno));
		return -1;
	}
	w = xcalloc(1, sizeof(*w));
	w->m = m;
	w->list_other = list_other;
	w->err = err;
	w->errlen = errlen;
	ret = walk_dir(w, fd, 0, 0);
	free(w);
	if (ret < 0) {
		repl_manifest_free(m);
		return -1;
	}
	if (m->n > 1)
		qsort(m->v, m->n, sizeof(*m->v), compare_entries);
	return 0;
}

int
repl_manifest_build(const char *data_dir, struct repl_manifest *m,
		    char *err, size_t errlen)
{
	return build(data_dir, false, m, err, errlen);
}

int
repl_manifest_build_standby(const char *data_dir, struct repl_manifest *m,
			    char *err, size_t errlen)
{
	return build(data_dir, true, m, err, errlen);
}

/* Encoding. */

static void
put_be(struct buf *out, uint64_t v, unsigned bytes)
{
	uint8_t b[8];

	for (unsigned i = 0; i < bytes; i++)
		b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
	buf_append(out, b, bytes);
}

static uint64_t
get_be(const uint8_t *p, unsigned bytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < bytes; i++)
		v = (v << 8) | p[i];
	return v;
}

static void
encode_entry(const struct repl_manifest_entry *e, struct buf *out)
{
	size_t len = strlen(e->path);

	if (len > REPL_PATH_MAX)
		abort();
	put_be(out, len, 2);
	buf_append(out, e->path, len);
	put_be(out, e->dir ? KIND_DIR : KIND_FILE, 1);
	put_be(out, e->size, 8);
	put_be(out, e->mode, 4);
	put_be(out, (uint64_t)e->mtime_ns, 8);
}

size_t
repl_manifest_encode_part(const struct repl_manifest *m, size_t from,
			  size_t max_bytes, struct buf *out)
{
	size_t start = out->len, i;

	for (i = from; i < m->n; i++) {
		size_t need = 2 + strlen(m->v[i].path) + ENTRY_FIXED;

		if (i > from && out->len - start + need > max_bytes)
			break;
		encode_entry(&m->v[i], out);
	}
	return i;
}

void
repl_manifest_encode(const struct repl_manifest *m, struct buf *out)
{
	for (size_t i = 0; i < m->n; i++)
		encode_entry(&m->v[i], out);
}

static int
decode_fail(struct repl_manifest *m, size_t index, size_t pos,
	    const char *reason, char *err, size_t errlen)
{
	snprintf(err, errlen, "invalid manifest entry %zu at byte %zu: %s",
		 index, pos, reason);
	repl_manifest_free(m);
	return -1;
}

int
repl_manifest_decode_more(const void *body, size_t len,
			  struct repl_manifest *m, char *err, size_t errlen)
{
	const uint8_t *p = body;
	size_t pos = 0, cap = m->n;

	while (pos < len) {
		size_t index = m->n, n;
		uint64_t kind, size, mode, mtime;
		char *path;

		if (len - pos < 2)
			return decode_fail(m, index, pos, "truncated", err,
					   errlen);
		n = (size_t)get_be(p + pos, 2);
		if (n == 0 || n > REPL_PATH_MAX)
			return decode_fail(m, index, pos,
					   "path empty or too long", err,
					   errlen);
		if (len - pos < 2 + n + ENTRY_FIXED)
			return decode_fail(m, index, pos, "truncated", err,
					   errlen);
		if (memchr(p + pos + 2, '\0', n) != NULL)
			return decode_fail(m, index, pos, "NUL in path", err,
					   errlen);
		path = xstrndup((const char *)p + pos + 2, n);
		if (!repl_path_ok(path)) {
			free(path);
			return decode_fail(m, index, pos,
					   "path invalid or excluded", err,
					   errlen);
		}
		if (m->n > 0 && strcmp(m->v[m->n - 1].path, path) >= 0) {
			free(path);
			return decode_fail(m, index, pos,
					   "path out of order or repeated",
					   err, errlen);
		}
		pos += 2 + n;
		kind = get_be(p + pos, 1);
		size = get_be(p + pos + 1, 8);
		mode = get_be(p + pos + 9, 4);
		mtime = get_be(p + pos + 13, 8);
		if (kind != KIND_FILE && kind != KIND_DIR) {
			free(path);
			return decode_fail(m, index, pos, "unknown kind", err,
					   errlen);
		}
		if ((size > INT64_MAX && size != REPL_SIZE_OTHER) ||
		    (kind == KIND_DIR && size != 0)) {
			free(path);
			return decode_fail(m, index, pos, "invalid size", err,
					   errlen);
		}
		if (mode > 07777) {
			free(path);
			return decode_fail(m, index, pos,
					   "mode has bits beyond 07777", err,
					   errlen);
		}
		pos += ENTRY_FIXED;
		add_entry(m, &cap, path, kind == KIND_DIR, size,
			  (uint32_t)mode, (int64_t)mtime);
	}
	return 0;
}

int
repl_manifest_decode(const void *body, size_t len, struct repl_manifest *m,
		     char *err, size_t errlen)
{
	m->v = NULL;
	m->n = 0;
	return repl_manifest_decode_more(body, len, m, err, errlen);
}

/* Comparing. */

static bool
file_changed(const struct repl_manifest_entry *a,
	     const struct repl_manifest_entry *s)
{
	return a->size != s->size || a->mtime_ns != s->mtime_ns ||
	       a->mode != s->mode;
}

static void
push(struct repl_diff *v, size_t *n, enum repl_diff_kind kind,
     const struct repl_manifest_entry *e)
{
	v[*n].kind = kind;
	v[*n].entry = e;
	(*n)++;
}

/* The active's entry that the standby lacks. */
static void
push_missing(struct repl_diff *v, size_t *n,
	     const struct repl_manifest_entry *e)
{
	push(v, n, e->dir ? REPL_DIFF_DIR : REPL_DIFF_MISSING, e);
}

/* Orders a diff list: the rank of each kind, then the path. */
static int
diff_rank(const struct repl_diff *d)
{
	if (d->kind == REPL_DIFF_EXTRA)
		return d->entry->dir ? 1 : 0;
	return d->kind == REPL_DIFF_DIR ? 2 : 3;
}

static int
compare_diffs(const void *x, const void *y)
{
	const struct repl_diff *a = x, *b = y;
	int ra = diff_rank(a), rb = diff_rank(b), c;

	if (ra != rb)
		return ra - rb;
	c = strcmp(a->entry->path, b->entry->path);
	/* Extra directories go deepest first: children sort after parents. */
	return ra == 1 ? -c : c;
}

void
repl_manifest_diff(const struct repl_manifest *active,
		   const struct repl_manifest *standby, struct repl_diff **out,
		   size_t *n)
{
	struct repl_diff *v = xcalloc(active->n + standby->n + 1, sizeof(*v));
	size_t i = 0, j = 0, k = 0;

	while (i < active->n || j < standby->n) {
		const struct repl_manifest_entry *a =
			i < active->n ? &active->v[i] : NULL;
		const struct repl_manifest_entry *s =
			j < standby->n ? &standby->v[j] : NULL;
		int c;

		if (a == NULL)
			c = 1;
		else if (s == NULL)
			c = -1;
		else
			c = strcmp(a->path, s->path);
		if (c < 0) {
			push_missing(v, &k, a);
			i++;
		} else if (c > 0) {
			push(v, &k, REPL_DIFF_EXTRA, s);
			j++;
		} else {
			if (a->dir != s->dir) {
				push(v, &k, REPL_DIFF_EXTRA, s);
				push_missing(v, &k, a);
			} else if (a->dir && a->mode != s->mode) {
				push(v, &k, REPL_DIFF_DIR, a);
			} else if (!a->dir && file_changed(a, s)) {
				push(v, &k, REPL_DIFF_CHANGED, a);
			}
			i++;
			j++;
		}
	}
	qsort(v, k, sizeof(*v), compare_diffs);
	*out = v;
	*n = k;
}
