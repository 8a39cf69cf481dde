/*
 * smtp_data - message content decoder for DATA and BDAT
 *
 * Turns the bytes a client sends after DATA's 354 (or inside BDAT chunks)
 * into message bytes, one input chunk at a time, so a message is never
 * held whole in memory. For DATA it removes the leading transparency dot
 * (RFC 5321 section 4.5.2) and finds the end of data. Only the sequence
 * CRLF "." CRLF ends DATA: a "." line after a bare LF or a bare CR is
 * message content, which closes the door to SMTP smuggling.
 *
 * While decoding it records flaws that make the message unacceptable:
 * a bare LF, a bare CR, a NUL byte, a line longer than the line limit,
 * or at least hop_limit Received: fields in the header section, the
 * sign of a mail loop (RFC 5321 section 6.3). The session still reads
 * through to the end and then rejects the whole message with one reply;
 * see smtp_data_flaw_reply().
 *
 * Pure code: no I/O, no allocation beyond appending to the output buf.
 */
#ifndef HAPOST_SMTP_DATA_H
#define HAPOST_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define SMTP_DATA_BARE_LF 0x1
#define SMTP_DATA_BARE_CR 0x2
#define SMTP_DATA_NUL 0x4
#define SMTP_DATA_LONG_LINE 0x8
#define SMTP_DATA_TOO_MANY_HOPS 0x10

enum smtp_data_state {
	SMTP_DS_LINE_START, /* at the start of a line */
	SMTP_DS_DOT,	    /* "." at the start of a line */
	SMTP_DS_DOT_CR,	    /* "." CR at the start of a line */
	SMTP_DS_TEXT,	    /* inside a line */
	SMTP_DS_CR,	    /* CR inside a line */
	SMTP_DS_END,	    /* CRLF "." CRLF seen */
};

struct smtp_data_decoder {
	enum smtp_data_state state;
	bool dot_stuffed;  /* DATA (true) or BDAT (false) */
	size_t line_limit; /* octets per line including CRLF */
	size_t line_len;   /* octets of the current line so far */
	unsigned flaws;	   /* SMTP_DATA_* bits */
	/* Received: fields at which a message is a loop; 0 for no limit.
	 * smtp_data_init() sets 0: the caller sets it afterwards. */
	unsigned hop_limit;
	unsigned hops;	      /* Received: fields seen so far */
	bool header_done;     /* the empty line after the header was seen */
	size_t header_column; /* octets of the current header line */
	size_t name_matched;  /* of "received:" at the line start, or more */
};

/*
 * Starts decoding one message. line_limit counts the CRLF; 0 means no
 * limit.
 */
void smtp_data_init(struct smtp_data_decoder *d, bool dot_stuffed,
		    size_t line_limit);

/*
 * Decodes in[0..len) and appends the message bytes to out. For DATA it
 * stops right after the end-of-data line. Returns the number of input
 * bytes consumed: all of len unless the end was found.
 */
size_t smtp_data_decode(struct smtp_data_decoder *d, const char *in, size_t len,
			struct buf *out);

/* True once DATA's end-of-data line has been consumed. */
bool smtp_data_done(const struct smtp_data_decoder *d);

/*
 * Ends a BDAT message after its LAST chunk: a final line without CRLF
 * gets one appended, and a trailing lone CR is a bare CR.
 */
void smtp_data_finish(struct smtp_data_decoder *d, struct buf *out);

/*
 * Returns the reply for the most serious flaw in flaws ("550 5.5.2 ..."
 * without CRLF), or NULL when there is none.
 */
const char *smtp_data_flaw_reply(unsigned flaws);

#endif
