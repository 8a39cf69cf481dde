/*
 * imap_frame - split an IMAP input stream into whole commands
 *
 * An IMAP command is one line, or several lines joined by literals: a
 * line ending in "{N}" (synchronizing: the server must send a "+"
 * continuation first) or "{N+}" (LITERAL+, RFC 7888: the N octets follow
 * at once) is followed by N octets and then the rest of the command.
 * imap_frame_feed() moves bytes from the input into the command buffer
 * and says when the command is complete, when a continuation is due, and
 * when the command must be rejected.
 *
 * Limits: the non-literal bytes of one command (all its lines) may not
 * exceed line_max and its literals together may not exceed literal_max.
 * An oversized line is skipped up to its LF, together with any LITERAL+
 * data it announces. An oversized synchronizing literal is rejected at
 * once (the client sends nothing until it sees a continuation). An
 * oversized LITERAL+ literal is read and dropped with the rest of its
 * command, since the client sends it without waiting. While skipping,
 * the buffer keeps only the first IMAP_FRAME_KEEP bytes of the command so
 * the caller can still read the tag. A bare LF ends a line like CRLF.
 *
 * Pure code: no I/O, no allocation besides the command buffer.
 */
#ifndef HAPOST_IMAP_FRAME_H
#define HAPOST_IMAP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Bytes of a rejected command kept for reading its tag. */
#define IMAP_FRAME_KEEP 128

enum imap_frame_result {
	IMAP_FRAME_MORE,     /* all input used; wait for more */
	IMAP_FRAME_COMMAND,  /* cmd holds one whole command ending in LF */
	IMAP_FRAME_CONTINUE, /* send a "+" continuation request */
	IMAP_FRAME_REJECT,   /* command rejected; reason in f->reject */
};

enum imap_frame_reject {
	IMAP_REJECT_NONE,
	IMAP_REJECT_LINE_TOO_LONG,    /* reply BAD */
	IMAP_REJECT_LITERAL_TOO_BIG,  /* synchronizing literal: reply NO */
	IMAP_REJECT_LITERAL_PLUS_TOO_BIG, /* LITERAL+ dropped: reply BAD */
};

enum imap_frame_state {
	IMAP_FS_LINE,
	IMAP_FS_LITERAL,
	IMAP_FS_SKIP_LINE,
	IMAP_FS_SKIP_LITERAL,
};

struct imap_frame {
	enum imap_frame_state state;
	enum imap_frame_reject reject;
	size_t line_start;     /* offset in cmd of the line being read */
	size_t line_total;     /* non-literal bytes of finished lines */
	uint64_t literal_left; /* octets of the current literal to come */
	uint64_t literal_total;
	char tail[32];	       /* last bytes of a skipped line */
	size_t tail_len;
};

struct imap_frame_limits {
	size_t line_max;
	size_t literal_max;
};

void imap_frame_init(struct imap_frame *f);

/*
 * Consumes input from data[0..len) into cmd, stopping after a complete
 * command, a continuation point or a rejected command. *consumed is set
 * to the bytes used, which the caller then drops from its input. After
 * IMAP_FRAME_COMMAND or IMAP_FRAME_REJECT the caller handles cmd and
 * resets it before the next call.
 */
enum imap_frame_result imap_frame_feed(struct imap_frame *f, struct buf *cmd,
				       const char *data, size_t len,
				       const struct imap_frame_limits *lim,
				       size_t *consumed);

/*
 * Checks whether a line (without its line end) ends in a literal size
 * "{N}" or "{N+}". Returns 1 and sets *size and *plus if so, 0 if not.
 * A size over 2^64-1 is returned as UINT64_MAX.
 */
int imap_literal_suffix(const char *line, size_t len, uint64_t *size,
			bool *plus);

#endif
