/*
 * bodystructure - IMAP BODY and BODYSTRUCTURE (RFC 3501 section 7.4.2)
 *
 * Writes the "body" production for a parsed part. Types, subtypes and
 * parameter names come out lowercase as the parser stores them. A missing
 * or invalid Content-Transfer-Encoding is "7bit". A multipart with no
 * parts gets one empty text/plain part, since the grammar needs at least
 * one. Content-Language always comes out as a list. Sizes are raw octets
 * of the stored message.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mime-internal.h"

#define EMPTY_BODY                                                             \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL "              \
	"\"7bit\" 0 0"

static void
put_params(struct buf *out, const struct mime_param *params, size_t n)
{
	size_t i;

	if (n == 0) {
		buf_puts(out, "NIL");
		return;
	}
	buf_putc(out, '(');
	for (i = 0; i < n; i++) {
		if (i > 0)
			buf_putc(out, ' ');
		imap_put_nstring(out, params[i].name);
		buf_putc(out, ' ');
		imap_put_nstring(out, params[i].value);
	}
	buf_putc(out, ')');
}

static void
put_disposition(struct buf *out, const struct mime_part *p)
{
	if (p->disposition == NULL) {
		buf_puts(out, "NIL");
		return;
	}
	buf_putc(out, '(');
	imap_put_nstring(out, p->disposition);
	buf_putc(out, ' ');
	put_params(out, p->disp_params, p->ndisp_params);
	buf_putc(out, ')');
}

/* Writes Content-Language ("en, fi (comment)") as ("en" "fi"), or NIL. */
static void
put_language(struct buf *out, const char *lang)
{
	const char *p = lang;
	size_t count = 0;
	int comment = 0;

	while (p != NULL && *p != '\0') {
		const char *s;

		if (*p == '(') {
			comment++;
			p++;
			continue;
		}
		if (*p == ')') {
			if (comment > 0)
				comment--;
			p++;
			continue;
		}
		if (comment > 0 || *p == ',' || mime_is_wsp(*p)) {
			p++;
			continue;
		}
		s = p;
		while (*p != '\0' && *p != ',' && *p != '(' && !mime_is_wsp(*p))
			p++;
		buf_puts(out, count == 0 ? "(" : " ");
		imap_put_string(out, s, (size_t)(p - s));
		count++;
	}
	buf_puts(out, count == 0 ? "NIL" : ")");
}

/* Writes the encoding if it is a single MIME token, else "7bit". */
static void
put_encoding(struct buf *out, const char *enc)
{
	const char *p;

	if (enc == NULL || *enc == '\0')
		goto fallback;
	for (p = enc; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c <= ' ' || c >= 0x7f ||
		    strchr("()<>@,;:\\\"/[]?=", c) != NULL)
			goto fallback;
	}
	imap_put_nstring(out, enc);
	return;
fallback:
	buf_puts(out, "\"7bit\"");
}

static void
put_extension(struct buf *out, const struct mime_part *p)
{
	buf_putc(out, ' ');
	put_disposition(out, p);
	buf_putc(out, ' ');
	put_language(out, p->language);
	buf_putc(out, ' ');
	imap_put_nstring(out, p->location);
}

void
imap_bodystructure(struct buf *out, const char *msg, const struct mime_part *p,
		   bool extended)
{
	size_t i;

	buf_putc(out, '(');
	if (strcmp(p->type, "multipart") == 0) {
		if (p->nchildren == 0)
			buf_puts(out, extended ? EMPTY_BODY " NIL NIL NIL NIL)"
					       : EMPTY_BODY ")");
		for (i = 0; i < p->nchildren; i++)
			imap_bodystructure(out, msg, &p->children[i], extended);
		buf_putc(out, ' ');
		imap_put_nstring(out, p->subtype);
		if (extended) {
			buf_putc(out, ' ');
			put_params(out, p->params, p->nparams);
			put_extension(out, p);
		}
		buf_putc(out, ')');
		return;
	}
	imap_put_nstring(out, p->type);
	buf_putc(out, ' ');
	imap_put_nstring(out, p->subtype);
	buf_putc(out, ' ');
	put_params(out, p->params, p->nparams);
	buf_putc(out, ' ');
	imap_put_nstring(out, p->id);
	buf_putc(out, ' ');
	imap_put_nstring(out, p->description);
	buf_putc(out, ' ');
	put_encoding(out, p->encoding);
	buf_printf(out, " %zu", p->body_end - p->body_start);
	if (p->message != NULL) {
		buf_putc(out, ' ');
		imap_envelope(out, msg, p->message->header_start,
			      p->message->header_end);
		buf_putc(out, ' ');
		imap_bodystructure(out, msg, p->message, extended);
		buf_printf(out, " %zu", p->body_lines);
	} else if (strcmp(p->type, "text") == 0) {
		buf_printf(out, " %zu", p->body_lines);
	}
	if (extended) {
		buf_putc(out, ' ');
		imap_put_nstring(out, p->md5);
		put_extension(out, p);
	}
	buf_putc(out, ')');
}
