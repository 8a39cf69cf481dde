/*
 * search - IMAP SEARCH text matching (HEADER, BODY, TEXT)
 *
 * Text is decoded (RFC 2047 words in headers; base64 or quoted-printable
 * bodies; ISO-8859-1 converted to UTF-8) and case-folded before a plain
 * substring search. Folding covers ASCII and the Latin-1 letters
 * U+00C0..U+00DE; other characters must match exactly. BODY looks at
 * leaf parts of type text and at the headers of attached message/rfc822
 * parts; other leaf types (images, archives) are not searched.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mime-internal.h"

/* Appends s case-folded: ASCII and UTF-8 U+00C0..U+00DE (not U+00D7). */
static void
fold(const char *s, size_t n, struct buf *out)
{
	size_t i;

	buf_reserve(out, n);
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == 0xc3 && i + 1 < n) {
			unsigned char d = (unsigned char)s[i + 1];

			if (d >= 0x80 && d <= 0x9e && d != 0x97)
				d += 0x20;
			buf_putc(out, (char)c);
			buf_putc(out, (char)d);
			i++;
			continue;
		}
		buf_putc(out, mime_lower((char)c));
	}
}

static bool
folded_contains(const char *s, size_t n, const struct buf *needle)
{
	struct buf hay = BUF_INIT;
	bool found;

	if (needle->len == 0)
		return true;
	fold(s, n, &hay);
	found = hay.len >= needle->len &&
		memmem(hay.data, hay.len, needle->data, needle->len) != NULL;
	buf_free(&hay);
	return found;
}

static bool
field_contains(const struct hdr_field *f, const struct buf *needle)
{
	struct buf dec = BUF_INIT;
	size_t n;
	char *v = hdr_unfold(f->value, f->value_len, &n);
	bool found;

	mime_decode_header_value(v, n, &dec);
	free(v);
	found =
	    folded_contains(dec.data == NULL ? "" : dec.data, dec.len, needle);
	buf_free(&dec);
	return found;
}

/* Tests "Name: decoded value" lines of the header [start, end). */
static bool
header_text_contains(const char *msg, size_t start, size_t end,
		     const struct buf *needle)
{
	struct buf text = BUF_INIT;
	struct hdr_field f;
	size_t pos = start, n;
	bool found;

	while (hdr_next(msg, &pos, end, &f)) {
		char *v = hdr_unfold(f.value, f.value_len, &n);

		buf_append(&text, f.name, f.name_len);
		buf_puts(&text, ": ");
		mime_decode_header_value(v, n, &text);
		buf_putc(&text, '\n');
		free(v);
	}
	found = folded_contains(text.data == NULL ? "" : text.data, text.len,
				needle);
	buf_free(&text);
	return found;
}

static bool
leaf_contains(const char *msg, const struct mime_part *p,
	      const struct buf *needle)
{
	const char *body = msg + p->body_start;
	size_t n = p->body_end - p->body_start;
	const char *enc = p->encoding;
	struct buf raw = BUF_INIT, text = BUF_INIT;
	bool found;

	if (enc != NULL && mime_ieq(enc, strlen(enc), "base64")) {
		mime_decode_base64(body, n, &raw);
	} else if (enc != NULL &&
		   mime_ieq(enc, strlen(enc), "quoted-printable")) {
		mime_decode_qp(body, n, &raw);
	} else {
		buf_append(&raw, body, n);
	}
	mime_charset_to_utf8(mime_param_get(p->params, p->nparams, "charset"),
			     raw.data == NULL ? "" : raw.data, raw.len, &text);
	found = folded_contains(text.data == NULL ? "" : text.data, text.len,
				needle);
	buf_free(&raw);
	buf_free(&text);
	return found;
}

static bool
part_contains(const char *msg, const struct mime_part *p,
	      const struct buf *needle)
{
	size_t i;

	for (i = 0; i < p->nchildren; i++) {
		if (part_contains(msg, &p->children[i], needle))
			return true;
	}
	if (p->message != NULL) {
		return header_text_contains(msg, p->message->header_start,
					    p->message->header_end, needle) ||
		       part_contains(msg, p->message, needle);
	}
	if (strcmp(p->type, "text") == 0)
		return leaf_contains(msg, p, needle);
	return false;
}

static void
fold_needle(const char *needle, struct buf *out)
{
	fold(needle, strlen(needle), out);
}

bool
mime_header_contains(const char *msg, size_t len, const char *field,
		     const char *needle)
{
	struct buf folded = BUF_INIT;
	struct hdr_field f;
	size_t header_end, body_start, pos = 0;
	bool found = false;

	if (msg == NULL)
		return false;
	hdr_bounds(msg, 0, len, &header_end, &body_start);
	fold_needle(needle, &folded);
	while (!found && hdr_next(msg, &pos, header_end, &f)) {
		if (*field != '\0' && !hdr_name_is(&f, field))
			continue;
		found = field_contains(&f, &folded);
	}
	buf_free(&folded);
	return found;
}

bool
mime_body_contains(const char *msg, size_t len, const struct mime_part *root,
		   const char *needle)
{
	struct buf folded = BUF_INIT;
	bool found;

	if (*needle == '\0')
		return true;
	if (msg == NULL)
		return false;
	fold_needle(needle, &folded);
	found = part_contains(msg, root, &folded);
	buf_free(&folded);
	return found;
}

bool
mime_text_contains(const char *msg, size_t len, const struct mime_part *root,
		   const char *needle)
{
	struct buf folded = BUF_INIT;
	bool found;

	if (*needle == '\0')
		return true;
	if (msg == NULL)
		return false;
	fold_needle(needle, &folded);
	found = header_text_contains(msg, root->header_start, root->header_end,
				     &folded) ||
		part_contains(msg, root, &folded);
	buf_free(&folded);
	return found;
}
