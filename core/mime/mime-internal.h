/*
 * mime-internal - helpers shared by the files of core/mime
 *
 * Header scanning, value unfolding, Content-Type style parameter lists,
 * IMAP string output, transfer and RFC 2047 decoding, and the RFC 5322
 * address parser. None of these is part of the module's public interface.
 */
#ifndef HAPOST_MIME_INTERNAL_H
#define HAPOST_MIME_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "mime.h"

/* One header field: name, raw value (folds kept) and its whole extent. */
struct hdr_field {
	const char *name;
	size_t name_len;
	const char *value; /* after the colon, up to the final line end */
	size_t value_len;
	size_t start, end; /* [start, end) includes the final line end */
};

/*
 * Finds the header of the entity starting at start: header_end is the
 * first byte of the blank line (or end if there is none) and body_start
 * the byte after the blank line.
 */
void hdr_bounds(const char *msg, size_t start, size_t end, size_t *header_end,
		size_t *body_start);
/*
 * Fetches the next field of the header [*pos, end) and advances *pos.
 * Lines that are neither fields nor continuations are skipped. Returns
 * false when no field is left.
 */
bool hdr_next(const char *msg, size_t *pos, size_t end, struct hdr_field *f);
bool hdr_name_is(const struct hdr_field *f, const char *name);
/* Finds the first field called name in [start, end). */
bool hdr_find(const char *msg, size_t start, size_t end, const char *name,
	      struct hdr_field *f);
/*
 * Unfolds a raw value: removes the line breaks of folds and trims white
 * space at both ends. Returns a new NUL-terminated string; *len (if not
 * NULL) gets its length, which counts any NUL bytes of the value.
 */
char *hdr_unfold(const char *value, size_t value_len, size_t *len);

bool mime_is_wsp(unsigned char c);
char mime_lower(char c);
bool mime_ieq(const char *a, size_t alen, const char *b);
char *mime_strlower(char *s);

/*
 * Parses "type/subtype; name=value ..." (with_subtype) or "value; name=..."
 * from an unfolded header value. *type (and *subtype) are NULL when the
 * leading token is invalid; parameters are parsed either way.
 */
void mime_parse_params(const char *s, bool with_subtype, char **type,
		       char **subtype, struct mime_param **params,
		       size_t *nparams);
void mime_free_params(struct mime_param *params, size_t n);
const char *mime_param_get(const struct mime_param *params, size_t n,
			   const char *name);

/* IMAP strings: quoted when possible, a literal otherwise, NIL for NULL. */
void imap_put_string(struct buf *out, const char *s, size_t n);
void imap_put_nstring(struct buf *out, const char *s);

/* Transfer decoding into out (appended). Invalid input is skipped. */
void mime_decode_base64(const char *s, size_t n, struct buf *out);
void mime_decode_qp(const char *s, size_t n, struct buf *out);
/* Appends s converted to UTF-8 from charset (NULL means US-ASCII). */
void mime_charset_to_utf8(const char *charset, const char *s, size_t n,
			  struct buf *out);
/* Appends a header value with its RFC 2047 encoded words decoded. */
void mime_decode_header_value(const char *s, size_t n, struct buf *out);

/* RFC 5322 address list entries; a NULL member is IMAP NIL. */
struct mime_addr {
	char *name, *adl, *mailbox, *host;
};

/*
 * Parses an unfolded address-list value into *addrs, returning the count.
 * A group is (NIL NIL "name" NIL), its members, then (NIL NIL NIL NIL).
 */
size_t mime_parse_addresses(const char *s, size_t n, struct mime_addr **addrs);
void mime_free_addresses(struct mime_addr *addrs, size_t n);

#endif
