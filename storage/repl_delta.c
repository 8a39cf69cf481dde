/*
 * repl_delta - librsync signatures, deltas and patches for catch-up
 *
 * The standby sends the signature of its copy of a changed file, the
 * active replies with a delta of its copy against that signature, and
 * the standby patches its copy (a DELTA record, see repl_apply.c).
 *
 * Signatures use librsync's recommended format (RabinKarp rolling sum
 * and BLAKE2 strong sums, librsync 2.2 and later) with the block length
 * rs_sig_args() picks for the file size and the maximum strong sum
 * length, so a crafted message cannot match a block by collision.
 *
 * Every job runs through one loop (run_job) with two 64 KiB buffers.
 * Output is bounded before it is stored: a signature or a delta may not
 * exceed twice the bytes read plus 64 KiB (both are far smaller in
 * practice), and a patch may not write more than the size the DELTA
 * record announces. A signature from the peer is checked (magic, block
 * length, strong sum length, whole number of blocks) before librsync
 * loads it, because the block length sizes librsync's buffers.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <librsync.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "repl_wire.h"
#include "xalloc.h"

#define IO_BUF (64 * 1024)
#define SIG_HEADER 12
#define SIG_BLOCK_MAX REPL_CHUNK
#define STRONG_MAX 32 /* BLAKE2 */

/* A job's input source and output sink. */
struct job_io {
	int in_fd;	      /* read until EOF when >= 0 */
	const char *in_mem;   /* otherwise in_mem[0..in_len) */
	size_t in_len;
	int out_fd;	      /* write here when >= 0 */
	struct buf *out_buf;  /* otherwise append here (or no output) */
	bool out_exact;	      /* limit output to out_max, not 2*in+64K */
	uint64_t out_max;
	uint64_t in_count;
	uint64_t out_count;
};

/* librsync's lines start with "librsync: " and end in a newline. */
static void
trace_to_log(rs_loglevel level, const char *msg)
{
	size_t len = strlen(msg);

	if (len > 0 && msg[len - 1] == '\n')
		len--;
	log_msg(level <= RS_LOG_ERR ? LOG_WARNING : LOG_DEBUG, "%.*s",
		(int)len, msg);
}

/* Sends librsync's messages (about corrupt input) to the log. */
static void
trace_init(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	rs_trace_to(trace_to_log);
	rs_trace_set_level(RS_LOG_ERR);
}

static bool
output_allowed(const struct job_io *io, size_t more)
{
	uint64_t max = io->out_exact ? io->out_max
				     : 2 * io->in_count + IO_BUF;

	return more <= max && io->out_count <= max - more;
}

static int
put_output(struct job_io *io, const char *data, size_t n, const char *what,
	   char *err, size_t errlen)
{
	if (n == 0)
		return 0;
	if (!output_allowed(io, n)) {
		snprintf(err, errlen, "%s: output exceeds %s", what,
			 io->out_exact ? "the expected size"
				       : "twice the input size");
		return -1;
	}
	if (io->out_fd >= 0) {
		if (write_full(io->out_fd, data, n) < 0) {
			snprintf(err, errlen, "%s: write failed: %s", what,
				 strerror(errno));
			return -1;
		}
	} else if (io->out_buf != NULL) {
		buf_append(io->out_buf, data, n);
	} else {
		snprintf(err, errlen, "%s: unexpected output", what);
		return -1;
	}
	io->out_count += n;
	return 0;
}

/* Runs job to completion over io. Returns 0 or -1 with the reason. */
static int
run_job(rs_job_t *job, struct job_io *io, const char *what, char *err,
	size_t errlen)
{
	char *inbuf = xmalloc(IO_BUF), *outbuf = xmalloc(IO_BUF);
	rs_buffers_t bufs;
	size_t in_len = 0;
	bool eof = io->in_fd < 0;
	rs_result r;
	int ret = -1;

	for (;;) {
		size_t consumed, produced;

		if (io->in_fd >= 0 && !eof && in_len < IO_BUF) {
			ssize_t n = read(io->in_fd, inbuf + in_len,
					 IO_BUF - in_len);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				snprintf(err, errlen, "%s: read failed: %s",
					 what, strerror(errno));
				break;
			}
			if (n == 0)
				eof = true;
			in_len += (size_t)n;
			io->in_count += (uint64_t)n;
		}
		if (io->in_fd >= 0) {
			bufs.next_in = inbuf;
			bufs.avail_in = in_len;
		} else {
			/* librsync reads next_in but never writes it. */
			bufs.next_in = (char *)io->in_mem;
			bufs.avail_in = io->in_len;
			io->in_count = io->in_len;
		}
		bufs.eof_in = eof;
		bufs.next_out = outbuf;
		bufs.avail_out = IO_BUF;
		r = rs_job_iter(job, &bufs);
		if (io->in_fd >= 0) {
			consumed = in_len - bufs.avail_in;
			memmove(inbuf, inbuf + consumed, bufs.avail_in);
			in_len = bufs.avail_in;
		} else {
			consumed = io->in_len - bufs.avail_in;
			io->in_mem += consumed;
			io->in_len = bufs.avail_in;
		}
		produced = IO_BUF - bufs.avail_out;
		if (put_output(io, outbuf, produced, what, err, errlen) < 0)
			break;
		if (r == RS_DONE) {
			ret = 0;
			break;
		}
		if (r != RS_BLOCKED) {
			snprintf(err, errlen, "%s failed: %s", what,
				 rs_strerror(r));
			break;
		}
		/*
		 * Blocked after seeing the end of the input, with nothing
		 * consumed or produced: another call would block the same.
		 */
		if (eof && consumed == 0 && produced == 0) {
			snprintf(err, errlen, "%s failed: input ended early",
				 what);
			break;
		}
	}
	free(inbuf);
	free(outbuf);
	return ret;
}

int
repl_signature_fd(int fd, struct buf *out, char *err, size_t errlen)
{
	struct stat st;
	rs_magic_number magic = RS_RK_BLAKE2_SIG_MAGIC;
	size_t block_len = 0, strong_len = 0;
	struct job_io io = {.in_fd = fd, .out_fd = -1, .out_buf = out};
	rs_job_t *job;
	rs_result r;
	int ret;

	trace_init();
	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "signature: fstat failed: %s",
			 strerror(errno));
		return -1;
	}
	r = rs_sig_args(st.st_size, &magic, &block_len, &strong_len);
	if (r != RS_DONE) {
		snprintf(err, errlen, "signature: rs_sig_args failed: %s",
			 rs_strerror(r));
		return -1;
	}
	job = rs_sig_begin(block_len, strong_len, magic);
	ret = run_job(job, &io, "signature", err, errlen);
	rs_job_free(job);
	return ret;
}

int
repl_signature(const char *path, struct buf *out, char *err, size_t errlen)
{
	/* O_NONBLOCK: a FIFO planted at path must not block the open. */
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	int ret;

	if (fd < 0) {
		snprintf(err, errlen, "signature: open(%s) failed: %s", path,
			 strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "signature: %s is not a regular file",
			 path);
		close(fd);
		return -1;
	}
	ret = repl_signature_fd(fd, out, err, errlen);
	close(fd);
	return ret;
}

static uint32_t
get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* Checks a signature's header and length before librsync loads it. */
static int
check_signature(const void *sig, size_t siglen, char *err, size_t errlen)
{
	const unsigned char *p = sig;
	uint32_t magic, block_len, strong_len;

	if (siglen < SIG_HEADER) {
		snprintf(err, errlen, "signature: truncated header (%zu bytes)",
			 siglen);
		return -1;
	}
	magic = get_be32(p);
	block_len = get_be32(p + 4);
	strong_len = get_be32(p + 8);
	if (magic != RS_RK_BLAKE2_SIG_MAGIC && magic != RS_BLAKE2_SIG_MAGIC) {
		snprintf(err, errlen,
			 "signature: unsupported magic 0x%08x (BLAKE2 "
			 "expected)",
			 (unsigned)magic);
		return -1;
	}
	if (block_len == 0 || block_len > SIG_BLOCK_MAX) {
		snprintf(err, errlen, "signature: invalid block length %u",
			 (unsigned)block_len);
		return -1;
	}
	if (strong_len == 0 || strong_len > STRONG_MAX) {
		snprintf(err, errlen,
			 "signature: invalid strong sum length %u",
			 (unsigned)strong_len);
		return -1;
	}
	if ((siglen - SIG_HEADER) % (4 + strong_len) != 0) {
		snprintf(err, errlen,
			 "signature: %zu bytes is not a whole number of "
			 "blocks",
			 siglen);
		return -1;
	}
	return 0;
}

int
repl_delta_fd(int fd, const void *sig, size_t siglen, struct buf *out,
	      char *err, size_t errlen)
{
	rs_signature_t *sums = NULL;
	struct job_io load = {.in_fd = -1, .in_mem = sig, .in_len = siglen,
			      .out_fd = -1};
	struct job_io delta = {.in_fd = fd, .out_fd = -1, .out_buf = out};
	rs_job_t *job;
	rs_result r;
	int ret;

	trace_init();
	if (check_signature(sig, siglen, err, errlen) < 0)
		return -1;
	job = rs_loadsig_begin(&sums);
	ret = run_job(job, &load, "loading the signature", err, errlen);
	rs_job_free(job);
	if (ret < 0)
		goto out;
	r = rs_build_hash_table(sums);
	if (r != RS_DONE) {
		snprintf(err, errlen, "signature: indexing failed: %s",
			 rs_strerror(r));
		ret = -1;
		goto out;
	}
	job = rs_delta_begin(sums);
	ret = run_job(job, &delta, "delta", err, errlen);
	rs_job_free(job);
out:
	if (sums != NULL)
		rs_free_sumset(sums);
	return ret;
}

int
repl_delta(const char *path, const void *sig, size_t siglen,
	   struct buf *out, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int ret;

	if (fd < 0) {
		snprintf(err, errlen, "delta: open(%s) failed: %s", path,
			 strerror(errno));
		return -1;
	}
	ret = repl_delta_fd(fd, sig, siglen, out, err, errlen);
	close(fd);
	return ret;
}

/* Reads basis bytes for a COPY command of the delta. */
static rs_result
copy_from_base(void *opaque, rs_long_t pos, size_t *len, void **buf)
{
	int fd = *(int *)opaque;
	ssize_t n;

	if (pos < 0)
		return RS_CORRUPT;
	do
		n = pread(fd, *buf, *len, (off_t)pos);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return RS_IO_ERROR;
	if (n == 0)
		return RS_INPUT_ENDED;
	*len = (size_t)n;
	return RS_DONE;
}

int
repl_patch(int base_fd, int delta_fd, int out_fd, uint64_t size, char *err,
	   size_t errlen)
{
	struct job_io io = {.in_fd = delta_fd, .out_fd = out_fd,
			    .out_exact = true, .out_max = size};
	rs_job_t *job;
	int ret;

	trace_init();
	job = rs_patch_begin(copy_from_base, &base_fd);
	ret = run_job(job, &io, "patch", err, errlen);
	rs_job_free(job);
	if (ret == 0 && io.out_count != size) {
		snprintf(err, errlen,
			 "patch: result has %llu bytes, %llu expected",
			 (unsigned long long)io.out_count,
			 (unsigned long long)size);
		ret = -1;
	}
	return ret;
}
