/*
 * smtp_reply - SMTP server replies and EHLO keywords, for the client
 *
 * A pure parser over the bytes a server sends, without sockets, so it is
 * unit-tested and fuzzed on its own. smtp_reply_parse() takes whatever
 * has arrived, consumes whole lines only and stops after the last line of
 * a reply, so the caller keeps a partial line in its buffer and calls
 * again when more arrives.
 *
 * Grammar (RFC 5321 section 4.2): each line is a three-digit code (first
 * digit 2-5, second 0-5), then "-" on every line but the last, and " "
 * or nothing on the last, then text. Lines end in LF, with an optional
 * CR before it. Every line of a reply must carry the same code; a reply
 * that breaks any of this is garbled. An enhanced status code (RFC 2034,
 * RFC 3463) at the start of the first line's text is extracted when its
 * class matches the reply code's first digit. The same code repeated at
 * the start of later lines is dropped from the joined text.
 *
 * Limits: a line longer than SMTP_REPLY_LINE_MAX (RFC 5321 allows 512
 * octets) or a reply longer than SMTP_REPLY_SIZE_MAX is garbled, so a
 * hostile server cannot make the client buffer without bound. The joined
 * text is cut to fit struct smtp_client_reply, ending in "...".
 */
#ifndef HAPOST_SMTP_REPLY_H
#define HAPOST_SMTP_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "smtp_client.h"

/* Maximum length of a reply line, CRLF included. */
#define SMTP_REPLY_LINE_MAX 4096
/* Maximum size of a whole reply, all lines together. */
#define SMTP_REPLY_SIZE_MAX 65536

enum smtp_reply_status {
	SMTP_REPLY_INCOMPLETE, /* every line consumed, the reply goes on */
	SMTP_REPLY_COMPLETE,   /* p->reply contains a whole reply */
	SMTP_REPLY_GARBLED,    /* p->error is the reason; the stream is lost */
};

struct smtp_reply_parser {
	struct smtp_client_reply reply;
	/* The text of each line after the code and separator, printable,
	 * one line per LF; the EHLO keywords are read from here. */
	struct buf lines;
	const char *error; /* after SMTP_REPLY_GARBLED */
	size_t text_len;   /* of reply.text */
	size_t size;	   /* bytes of the reply so far */
	bool in_reply;	   /* a first line was read, the last one not yet */
	bool text_cut;	   /* reply.text ran out of room */
};

void smtp_reply_init(struct smtp_reply_parser *p);
void smtp_reply_free(struct smtp_reply_parser *p);
/*
 * Parses the whole lines in data[0..len) and sets *used to the bytes it
 * consumed. Returns COMPLETE as soon as a reply's last line is read; the
 * reply stays in p until the next call, which starts a new one. Returns
 * GARBLED for a line that breaks the grammar, and for a partial line
 * already longer than SMTP_REPLY_LINE_MAX.
 */
enum smtp_reply_status smtp_reply_parse(struct smtp_reply_parser *p,
					const char *data, size_t len,
					size_t *used);

/* SASL mechanisms of the EHLO AUTH keyword that the client can use. */
#define SMTP_AUTH_PLAIN 0x1u
#define SMTP_AUTH_LOGIN 0x2u
#define SMTP_AUTH_CRAM_MD5 0x4u

/* The service extensions of an EHLO reply that the client uses. */
struct smtp_ehlo {
	bool pipelining;	  /* RFC 2920 */
	bool eightbitmime;	  /* RFC 6152 */
	bool smtputf8;		  /* RFC 6531 */
	bool starttls;		  /* RFC 3207 */
	bool enhancedstatuscodes; /* RFC 2034 */
	bool size;		  /* RFC 1870 */
	size_t size_max;	  /* the SIZE value; 0 when none or unusable */
	unsigned auth;		  /* SMTP_AUTH_* bits */
};

/*
 * Reads the keywords of an EHLO reply from the lines of p (the first
 * line, the server's name, is skipped). Keywords are case-insensitive
 * and unknown ones are ignored. "AUTH=" (the pre-standard form some
 * servers still send) adds its mechanisms like "AUTH".
 */
void smtp_ehlo_parse(const struct smtp_reply_parser *p, struct smtp_ehlo *e);

/*
 * Copies s into dst (size dstlen), replacing bytes outside printable
 * ASCII with '?'. Returns dst.
 */
char *smtp_reply_printable(char *dst, size_t dstlen, const char *s,
			   size_t len);

#endif
