/*
 * repl_wire - the replication stream: frames, change records, applying
 * them to a data_dir, manifests and librsync deltas
 *
 * Frame: a 4-byte big-endian length of what follows (type and body),
 * a 1-byte type, then the body. The length is at least 1 and at most
 * REPL_FRAME_MAX. The frame types belong to the links that use them
 * (replicator.c); this module only cuts and checks frames and encodes
 * the records inside them.
 *
 * Record: a 1-byte type, then the fields that type uses, in this order:
 * stage (u64), offset (u64), path, path2, mode (u32), mtime_ns (i64),
 * size (u64), data (u32 length, then the bytes). Integers are
 * big-endian. A path is a u16 length, the bytes and a NUL, so decoded
 * paths are C strings inside the frame. Fields per type:
 *   WRITE   stage offset data        COMMIT  stage path mode mtime_ns
 *   APPEND  path data                RENAME  path path2
 *   UNLINK  path                     MKDIR   path mode
 *   RMTREE  path                     DELTA   stage path mode mtime_ns size
 * The decoder rejects unknown types, truncated fields, paths that are
 * not repl_path_valid(), modes above 07777, data past the body and
 * offsets or sizes past INT64_MAX.
 *
 * A change record (struct repl_op) is one of the operations of repl.h.
 * File content travels in pieces of at most REPL_CHUNK bytes: WRITE
 * records fill a staging file (by stage number) and COMMIT moves it to
 * its path with its mode and modification time, so a file of any size
 * fits in bounded frames. DELTA turns a staging file that holds a
 * librsync delta against the existing file into the new file.
 *
 * Applying (struct repl_apply) happens on the standby: every path is
 * checked (relative, no "." or ".." or empty components, no NUL, not
 * excluded) before use, files are written under DATA_DIR/replication/
 * and renamed into place, and repl_apply_sync() makes everything applied
 * since the last call durable with one syncfs(2) (fsync per file where
 * syncfs does not report errors). Excluded from replication (node-local
 * state and files in the making): "generation", "replication/",
 * "queue/tmp/", every Maildir "tmp/" under "mail/", and
 * ".cluster-probe.*".
 */
#ifndef HAPOST_REPL_WIRE_H
#define HAPOST_REPL_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define REPL_FRAME_MAX ((size_t)8 << 20)
#define REPL_CHUNK ((size_t)1 << 20)
#define REPL_PATH_MAX 4096

enum repl_op_type {
	REPL_OP_WRITE = 1, /* stage, offset, data */
	REPL_OP_COMMIT,	   /* stage -> path, mode, mtime */
	REPL_OP_APPEND,	   /* path, data */
	REPL_OP_RENAME,	   /* path -> path2 */
	REPL_OP_UNLINK,	   /* path */
	REPL_OP_MKDIR,	   /* path, mode */
	REPL_OP_RMTREE,	   /* path */
	REPL_OP_DELTA,	   /* stage holds a delta for path: patch, commit */
};

struct repl_op {
	enum repl_op_type type;
	uint64_t stage;
	uint64_t offset;
	const char *path; /* decoded records point into the frame */
	const char *path2;
	uint32_t mode;
	int64_t mtime_ns;
	const void *data;
	size_t len;
	uint64_t size; /* DELTA: the size of the patched file, checked */
};

#define REPL_FRAME_HEADER 5 /* length and type */

/*
 * Appends one frame header for a body of body_len bytes; body_len + 1
 * must not exceed REPL_FRAME_MAX (the process aborts otherwise).
 */
void repl_frame_begin(struct buf *out, uint8_t type, size_t body_len);
/*
 * Appends a frame header whose length repl_frame_end() fills in once the
 * body is appended; returns the header's offset in out.
 */
size_t repl_frame_start(struct buf *out, uint8_t type);
void repl_frame_end(struct buf *out, size_t start);
/*
 * Cuts the next frame from in[0..len). Returns the bytes it used (its
 * type and body through the pointers), 0 when more bytes are needed, or
 * -1 when the frame is invalid (too large, or empty).
 */
ssize_t repl_frame_next(const void *in, size_t len, uint8_t *type,
			const void **body, size_t *body_len);

/* Appends op's record to out. */
void repl_op_encode(struct buf *out, const struct repl_op *op);
/* The number of bytes repl_op_encode() appends for op. */
size_t repl_op_encoded_len(const struct repl_op *op);
/* The record type's name for messages ("WRITE"), "?" when unknown. */
const char *repl_op_name(enum repl_op_type type);
/*
 * Decodes the next record of body[*pos..len) into op and advances *pos.
 * Returns 1, 0 at the end of the body, or -1 with the reason in err.
 */
int repl_op_decode(const void *body, size_t len, size_t *pos,
		   struct repl_op *op, char *err, size_t errlen);

/* True when rel may be replicated (well formed and not excluded). */
bool repl_path_ok(const char *rel);
/*
 * True when rel is well formed: relative, at most REPL_PATH_MAX bytes,
 * no empty, "." or ".." component.
 */
bool repl_path_valid(const char *rel);
/*
 * True when the well-formed path rel is node-local or in the making and
 * so never replicated. Everything below an excluded path is excluded.
 */
bool repl_path_excluded(const char *rel);

struct repl_apply;
/* Returns NULL with errno set when data_dir cannot be opened. */
struct repl_apply *repl_apply_new(const char *data_dir, bool use_syncfs);
/* Applies one record. Returns 0, or -1 with the reason in err. */
int repl_apply_op(struct repl_apply *a, const struct repl_op *op, char *err,
		  size_t errlen);
/* Makes everything applied so far durable. Returns 0 or -1. */
int repl_apply_sync(struct repl_apply *a, char *err, size_t errlen);
/*
 * Removes staging files left by an interrupted stream. Call it before a
 * stream starts: WRITE into a stage number that an earlier stream left
 * behind would mix the old bytes into the new file.
 */
void repl_apply_reset(struct repl_apply *a);
/*
 * Opens rel under data_dir read-only without following any symlink
 * (for the standby's signatures). Returns the fd, or -1 with errno.
 */
int repl_apply_open(struct repl_apply *a, const char *rel);
void repl_apply_free(struct repl_apply *a);

/*
 * A manifest lists every replicated file and directory of a data_dir:
 * path, type, size, mode and modification time (nanoseconds). Files
 * with the same size and time are taken to be equal, as rsync does by
 * default; the replication keeps times equal on both sides.
 * Directories have size and time 0. Symlinks and special files are not
 * listed (repl_manifest_build_standby() lists them), and nothing
 * excluded by repl_path_excluded() is.
 *
 * Encoded entry: path (u16 length, then the bytes, no NUL), a kind byte
 * (0 file, 1 directory), size (u64), mode (u32) and mtime_ns (i64), all
 * big-endian. Entries follow each other in increasing path order
 * (strcmp) with no count in front. A long manifest can thus be sent as
 * several frames and decoded frame by frame with
 * repl_manifest_decode_more().
 */
struct repl_manifest_entry {
	char *path;
	bool dir;
	uint64_t size;
	uint32_t mode;
	int64_t mtime_ns;
};
struct repl_manifest {
	struct repl_manifest_entry *v; /* sorted by path */
	size_t n;
};
int repl_manifest_build(const char *data_dir, struct repl_manifest *m,
			char *err, size_t errlen);
/*
 * The standby's manifest: like repl_manifest_build(), but a symlink or
 * special file is listed as a file of size REPL_SIZE_OTHER, which no
 * file of the active's matches. The active then removes or replaces it,
 * because data_dir never holds such entries and a planted one must not
 * survive a catch-up.
 */
#define REPL_SIZE_OTHER UINT64_MAX
int repl_manifest_build_standby(const char *data_dir, struct repl_manifest *m,
				char *err, size_t errlen);
/* The encoded form for a frame body, and back. */
void repl_manifest_encode(const struct repl_manifest *m, struct buf *out);
/*
 * Appends entries from index from on until out grew by about max_bytes
 * (at least one entry when from < m->n). Returns the next index to
 * send; m->n when all are encoded.
 */
size_t repl_manifest_encode_part(const struct repl_manifest *m, size_t from,
				 size_t max_bytes, struct buf *out);
/*
 * repl_manifest_decode() fills m (any previous content is ignored, not
 * freed); repl_manifest_decode_more() appends to a manifest decoded
 * before. Both reject truncated entries, invalid or excluded paths,
 * unknown kinds, modes above 07777, sizes past INT64_MAX, directories
 * with a size, and paths not above the previous entry's. On error m is
 * freed and empty.
 */
int repl_manifest_decode(const void *body, size_t len,
			 struct repl_manifest *m, char *err, size_t errlen);
int repl_manifest_decode_more(const void *body, size_t len,
			      struct repl_manifest *m, char *err,
			      size_t errlen);
void repl_manifest_free(struct repl_manifest *m);

/* One kind of difference between two manifests, by what the active sends. */
enum repl_diff_kind {
	REPL_DIFF_MISSING, /* send whole */
	REPL_DIFF_CHANGED, /* send a delta against the standby's copy */
	REPL_DIFF_EXTRA,   /* remove on the standby */
	REPL_DIFF_DIR,	   /* create the directory */
};
struct repl_diff {
	enum repl_diff_kind kind;
	const struct repl_manifest_entry *entry; /* the active's, or the
						   standby's for EXTRA */
};
/*
 * Lists the differences; *out is malloc'd, in an order safe to apply:
 * EXTRA files, then EXTRA directories deepest first, then DIR entries
 * parents first (a directory missing or with another mode), then
 * MISSING and CHANGED files. CHANGED means size, time or mode differ.
 * A path that is a file on one side and a directory on the other gives
 * EXTRA for the standby's entry and DIR or MISSING for the active's.
 */
void repl_manifest_diff(const struct repl_manifest *active,
			const struct repl_manifest *standby,
			struct repl_diff **out, size_t *n);

/*
 * librsync: the signature of a file, and a delta of a file against one.
 * Both append to out and return 0, or -1 with the reason in err. The
 * path forms do not follow a symlink in the last component; the _fd
 * forms read from the file's current offset to its end. repl_delta()
 * checks the signature (BLAKE2, sane block and sum lengths) first.
 */
int repl_signature(const char *path, struct buf *out, char *err,
		   size_t errlen);
int repl_signature_fd(int fd, struct buf *out, char *err, size_t errlen);
int repl_delta(const char *path, const void *sig, size_t siglen,
	       struct buf *out, char *err, size_t errlen);
int repl_delta_fd(int fd, const void *sig, size_t siglen, struct buf *out,
		  char *err, size_t errlen);
/*
 * Writes to out_fd the file that the delta read from delta_fd makes of
 * the file base_fd (read with pread). Fails unless the result is exactly
 * size bytes, and writes no more than size bytes.
 */
int repl_patch(int base_fd, int delta_fd, int out_fd, uint64_t size,
	       char *err, size_t errlen);

#endif
