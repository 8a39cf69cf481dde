/*
 * repl_wire - frames, change records and path checks (see repl_wire.h)
 *
 * Each record type uses a fixed subset of the fields, listed once in
 * op_fields[]; the encoder, the length function and the decoder walk
 * the same list in the same order, so they cannot disagree. The decoder
 * checks every length against what is left of the body before it reads,
 * and returns pointers into the body instead of copies, so it allocates
 * nothing.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "repl_wire.h"

enum {
	F_STAGE = 1 << 0,
	F_OFFSET = 1 << 1,
	F_PATH = 1 << 2,
	F_PATH2 = 1 << 3,
	F_MODE = 1 << 4,
	F_MTIME = 1 << 5,
	F_SIZE = 1 << 6,
	F_DATA = 1 << 7,
};

static const struct {
	const char *name;
	unsigned fields;
} op_fields[] = {
	[REPL_OP_WRITE] = {"WRITE", F_STAGE | F_OFFSET | F_DATA},
	[REPL_OP_COMMIT] = {"COMMIT", F_STAGE | F_PATH | F_MODE | F_MTIME},
	[REPL_OP_APPEND] = {"APPEND", F_PATH | F_DATA},
	[REPL_OP_RENAME] = {"RENAME", F_PATH | F_PATH2},
	[REPL_OP_UNLINK] = {"UNLINK", F_PATH},
	[REPL_OP_MKDIR] = {"MKDIR", F_PATH | F_MODE},
	[REPL_OP_RMTREE] = {"RMTREE", F_PATH},
	[REPL_OP_DELTA] = {"DELTA",
			   F_STAGE | F_PATH | F_MODE | F_MTIME | F_SIZE},
};

#define OP_TYPE_MAX REPL_OP_DELTA
#define MODE_MAX 07777u

/* Big-endian integers. */

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

/* Frames. */

void
repl_frame_begin(struct buf *out, uint8_t type, size_t body_len)
{
	if (body_len >= REPL_FRAME_MAX)
		abort();
	put_be(out, body_len + 1, 4);
	buf_append(out, &type, 1);
}

size_t
repl_frame_start(struct buf *out, uint8_t type)
{
	size_t start = out->len;

	repl_frame_begin(out, type, 0);
	return start;
}

void
repl_frame_end(struct buf *out, size_t start)
{
	size_t n = out->len - start - 4;
	uint8_t *p = (uint8_t *)out->data + start;

	if (out->len < start + REPL_FRAME_HEADER || n > REPL_FRAME_MAX)
		abort();
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(n >> (8 * (3 - i)));
}

ssize_t
repl_frame_next(const void *in, size_t len, uint8_t *type,
		const void **body, size_t *body_len)
{
	const uint8_t *p = in;
	uint64_t n;

	if (len < 4)
		return 0;
	n = get_be(p, 4);
	if (n == 0 || n > REPL_FRAME_MAX)
		return -1;
	if (len - 4 < n)
		return 0;
	*type = p[4];
	*body = p + REPL_FRAME_HEADER;
	*body_len = (size_t)n - 1;
	return (ssize_t)(4 + n);
}

/* Paths. */

bool
repl_path_valid(const char *rel)
{
	size_t len, i, start;

	if (rel == NULL)
		return false;
	len = strnlen(rel, REPL_PATH_MAX + 1);
	if (len == 0 || len > REPL_PATH_MAX)
		return false;
	for (start = 0, i = 0; i <= len; i++) {
		size_t n;

		if (rel[i] != '/' && rel[i] != '\0')
			continue;
		n = i - start;
		if (n == 0 || (n == 1 && rel[start] == '.') ||
		    (n == 2 && rel[start] == '.' && rel[start + 1] == '.'))
			return false;
		start = i + 1;
	}
	return true;
}

/* True when component c (not NUL-terminated, n bytes) is word. */
static bool
component_is(const char *c, size_t n, const char *word)
{
	return n == strlen(word) && memcmp(c, word, n) == 0;
}

/*
 * Excluded: "generation" and "replication" (node-local state),
 * ".cluster-probe.*" (the cluster's write probes), "queue/tmp" and a
 * Maildir's "tmp" (files in the making). Maildirs are
 * mail/DOMAIN/LOCALPART/ and its folders mail/DOMAIN/LOCALPART/.NAME/.
 */
bool
repl_path_excluded(const char *rel)
{
	const char *c[5];
	size_t n[5];
	unsigned count = 0;
	const char *p = rel;

	while (count < 5) {
		const char *slash = strchr(p, '/');

		c[count] = p;
		n[count] = slash != NULL ? (size_t)(slash - p) : strlen(p);
		count++;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	if (component_is(c[0], n[0], "generation") ||
	    component_is(c[0], n[0], "replication"))
		return true;
	if (n[0] >= 15 && memcmp(c[0], ".cluster-probe.", 15) == 0)
		return true;
	if (count >= 2 && component_is(c[0], n[0], "queue") &&
	    component_is(c[1], n[1], "tmp"))
		return true;
	if (count >= 4 && component_is(c[0], n[0], "mail")) {
		if (component_is(c[3], n[3], "tmp"))
			return true;
		if (count >= 5 && n[3] > 1 && c[3][0] == '.' &&
		    component_is(c[4], n[4], "tmp"))
			return true;
	}
	return false;
}

bool
repl_path_ok(const char *rel)
{
	return repl_path_valid(rel) && !repl_path_excluded(rel);
}

/* Records. */

const char *
repl_op_name(enum repl_op_type type)
{
	if ((unsigned)type < 1 || (unsigned)type > OP_TYPE_MAX)
		return "?";
	return op_fields[type].name;
}

static unsigned
fields_of(enum repl_op_type type)
{
	if ((unsigned)type < 1 || (unsigned)type > OP_TYPE_MAX)
		abort();
	return op_fields[type].fields;
}

static void
put_path(struct buf *out, const char *path)
{
	size_t len = strlen(path);

	if (len > REPL_PATH_MAX)
		abort();
	put_be(out, len, 2);
	buf_append(out, path, len + 1);
}

size_t
repl_op_encoded_len(const struct repl_op *op)
{
	unsigned f = fields_of(op->type);
	size_t n = 1;

	if (f & F_STAGE)
		n += 8;
	if (f & F_OFFSET)
		n += 8;
	if (f & F_PATH)
		n += 2 + strlen(op->path) + 1;
	if (f & F_PATH2)
		n += 2 + strlen(op->path2) + 1;
	if (f & F_MODE)
		n += 4;
	if (f & F_MTIME)
		n += 8;
	if (f & F_SIZE)
		n += 8;
	if (f & F_DATA)
		n += 4 + op->len;
	return n;
}

void
repl_op_encode(struct buf *out, const struct repl_op *op)
{
	unsigned f = fields_of(op->type);

	put_be(out, (uint64_t)op->type, 1);
	if (f & F_STAGE)
		put_be(out, op->stage, 8);
	if (f & F_OFFSET)
		put_be(out, op->offset, 8);
	if (f & F_PATH)
		put_path(out, op->path);
	if (f & F_PATH2)
		put_path(out, op->path2);
	if (f & F_MODE)
		put_be(out, op->mode, 4);
	if (f & F_MTIME)
		put_be(out, (uint64_t)op->mtime_ns, 8);
	if (f & F_SIZE)
		put_be(out, op->size, 8);
	if (f & F_DATA) {
		if (op->len > UINT32_MAX)
			abort();
		put_be(out, op->len, 4);
		buf_append(out, op->data, op->len);
	}
}

struct reader {
	const uint8_t *p;
	size_t len;
	size_t pos;
	char *err;
	size_t errlen;
	const char *record_name;
};

static int
fail(struct reader *r, const char *reason)
{
	snprintf(r->err, r->errlen, "invalid %s record at byte %zu: %s",
		 r->record_name, r->pos, reason);
	return -1;
}

static int
read_be(struct reader *r, unsigned bytes, uint64_t *v, const char *field)
{
	if (r->len - r->pos < bytes) {
		char reason[64];

		snprintf(reason, sizeof(reason), "truncated %s", field);
		return fail(r, reason);
	}
	*v = get_be(r->p + r->pos, bytes);
	r->pos += bytes;
	return 0;
}

static int
read_path(struct reader *r, const char **path)
{
	uint64_t n;
	const char *s;

	if (read_be(r, 2, &n, "path length") < 0)
		return -1;
	if (n == 0)
		return fail(r, "empty path");
	if (n > REPL_PATH_MAX)
		return fail(r, "path too long");
	if (r->len - r->pos < n + 1)
		return fail(r, "truncated path");
	s = (const char *)r->p + r->pos;
	if (memchr(s, '\0', n) != NULL)
		return fail(r, "NUL in path");
	if (s[n] != '\0')
		return fail(r, "path not terminated by NUL");
	if (!repl_path_valid(s))
		return fail(r, "path is absolute or has an empty, \".\" or "
			       "\"..\" component");
	r->pos += n + 1;
	*path = s;
	return 0;
}

int
repl_op_decode(const void *body, size_t len, size_t *pos,
	       struct repl_op *op, char *err, size_t errlen)
{
	struct reader r = {body, len, *pos, err, errlen, "replication"};
	uint64_t v;
	unsigned f;

	if (*pos >= len)
		return 0;
	memset(op, 0, sizeof(*op));
	v = r.p[r.pos];
	if (v < 1 || v > OP_TYPE_MAX) {
		char reason[40];

		snprintf(reason, sizeof(reason), "unknown type %u",
			 (unsigned)v);
		return fail(&r, reason);
	}
	r.pos++;
	op->type = (enum repl_op_type)v;
	r.record_name = op_fields[v].name;
	f = op_fields[v].fields;
	if ((f & F_STAGE) && read_be(&r, 8, &op->stage, "stage") < 0)
		return -1;
	if (f & F_OFFSET) {
		if (read_be(&r, 8, &op->offset, "offset") < 0)
			return -1;
		if (op->offset > INT64_MAX)
			return fail(&r, "offset past INT64_MAX");
	}
	if ((f & F_PATH) && read_path(&r, &op->path) < 0)
		return -1;
	if ((f & F_PATH2) && read_path(&r, &op->path2) < 0)
		return -1;
	if (f & F_MODE) {
		if (read_be(&r, 4, &v, "mode") < 0)
			return -1;
		if (v > MODE_MAX)
			return fail(&r, "mode has bits beyond 07777");
		op->mode = (uint32_t)v;
	}
	if (f & F_MTIME) {
		if (read_be(&r, 8, &v, "mtime") < 0)
			return -1;
		op->mtime_ns = (int64_t)v;
	}
	if (f & F_SIZE) {
		if (read_be(&r, 8, &op->size, "size") < 0)
			return -1;
		if (op->size > INT64_MAX)
			return fail(&r, "size past INT64_MAX");
	}
	if (f & F_DATA) {
		if (read_be(&r, 4, &v, "data length") < 0)
			return -1;
		if (r.len - r.pos < v)
			return fail(&r, "data longer than the frame");
		if ((f & F_OFFSET) && v > INT64_MAX - op->offset)
			return fail(&r, "offset plus length past INT64_MAX");
		op->data = r.p + r.pos;
		op->len = (size_t)v;
		r.pos += (size_t)v;
	}
	*pos = r.pos;
	return 1;
}
