/*
 * mime - MIME structure of a message held in memory, and the IMAP views of
 * it (ENVELOPE, BODY, BODYSTRUCTURE, BODY[section]) plus SEARCH helpers
 *
 * Every function is pure: the input is the whole message in memory and
 * output is appended to a struct buf (msg may be NULL when the length is
 * 0, as in an empty struct buf). Nothing here fails on bad input:
 * any bytes give some tree and some output, and memory exhaustion exits
 * through xalloc. Offsets are raw octets of msg; line ends may be CRLF or
 * bare LF, so sizes match what the caller sends only when it sends the
 * stored bytes unchanged.
 */
#ifndef HAPOST_MIME_H
#define HAPOST_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"

/* Nesting depth (multipart or message/rfc822 levels) that is parsed. */
#define MIME_MAX_DEPTH 64
/* Parts (all levels together) that one message tree may hold. */
#define MIME_MAX_PARTS 10000

struct mime_param {
	char *name;  /* lowercase */
	char *value; /* unquoted */
};

struct mime_part {
	size_t header_start, header_end; /* header_end: first byte of the
					    blank line (or end) */
	size_t body_start, body_end; /* body octets [body_start, body_end) */
	size_t body_lines;    /* lines in the body, per IMAP BODYSTRUCTURE */
	char *type, *subtype; /* lowercase; defaults text/plain
				 (message/rfc822 in a multipart/digest) */
	struct mime_param *params;
	size_t nparams;
	char *id, *description, *encoding; /* raw header values, NULL if
					      absent */
	char *disposition;
	struct mime_param *disp_params;
	size_t ndisp_params;
	char *language, *location, *md5;
	struct mime_part *children; /* multipart */
	size_t nchildren;
	struct mime_part *message; /* message/rfc822: the encapsulated
				      message's root part */
};

/*
 * Parses msg. It never fails: any bytes give some tree, which the fuzz
 * and hostile-input tests check. Depth is limited to MIME_MAX_DEPTH and
 * the tree to MIME_MAX_PARTS parts. A multipart or message/rfc822 part
 * beyond either limit becomes one opaque application/octet-stream part
 * that holds the rest.
 */
struct mime_part *mime_parse(const char *msg, size_t len);
void mime_free(struct mime_part *root);

/*
 * Appends the IMAP ENVELOPE (RFC 3501 section 7.4.2) of the message whose
 * header is [hdr_start,hdr_end), as a parenthesised list.
 */
void imap_envelope(struct buf *out, const char *msg, size_t hdr_start,
		   size_t hdr_end);

/*
 * Appends BODY (extended=false) or BODYSTRUCTURE (extended=true) of part
 * p: the whole "body" production of RFC 3501, parentheses included.
 */
void imap_bodystructure(struct buf *out, const char *msg,
			const struct mime_part *p, bool extended);

/*
 * Appends the octets of a section given as inside BODY[...]: "", "HEADER",
 * "TEXT", "1.2", "1.2.MIME", "HEADER.FIELDS (FROM TO)",
 * "1.HEADER.FIELDS.NOT (X)" and so on. Returns 0, or -1 if the spec is
 * syntactically invalid (the IMAP layer then replies BAD). A valid spec
 * naming a part that does not exist appends nothing and returns 0, so the
 * response carries an empty string as RFC 3501 requires.
 */
int imap_section_fetch(struct buf *out, const char *msg, size_t len,
		       const struct mime_part *root, const char *spec);

/*
 * Appends the spec normalised for the FETCH response label: keywords
 * upper-case, header names as given. Returns -1 if the spec is invalid.
 */
int imap_section_normalize(struct buf *out, const char *spec);

/*
 * SEARCH helpers: case-insensitive substring tests on decoded text. RFC
 * 2047 encoded words and base64 or quoted-printable bodies are decoded;
 * UTF-8, US-ASCII and ISO-8859-1 text is compared as UTF-8, other charsets
 * byte for byte. The needle is UTF-8.
 */

/*
 * Tests the top-level header fields named field (any field if field is
 * ""). An empty needle matches when such a field is present.
 */
bool mime_header_contains(const char *msg, size_t len, const char *field,
			  const char *needle);
/* Tests the text parts of the body and the headers of attached messages. */
bool mime_body_contains(const char *msg, size_t len,
			const struct mime_part *root, const char *needle);
/* Tests the top-level header, then the body. */
bool mime_text_contains(const char *msg, size_t len,
			const struct mime_part *root, const char *needle);

/*
 * Returns the Date: header as a UTC time_t (RFC 5322 date-time, obsolete
 * forms and zones accepted), or -1 if it is absent or invalid.
 */
time_t mime_date_header(const char *msg, size_t len);

#endif
