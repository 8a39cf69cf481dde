/*
 * section - BODY[section] of IMAP FETCH (RFC 3501 section 6.4.5)
 *
 * A spec is a part path "1.2.3" (each number non-zero, at most 2^32-1)
 * followed by HEADER, HEADER.FIELDS[.NOT] (list), TEXT or MIME, or one of
 * the keywords alone. Keywords match case-insensitively. Field names in a
 * list are atoms or quoted strings separated by spaces; literals are not
 * accepted here because the IMAP layer has already read them.
 *
 * Part numbering: a message that is not multipart has the single part 1
 * (its body); HEADER, TEXT and HEADER.FIELDS after a part path apply only
 * to a message/rfc822 part and name the encapsulated message. Output is
 * the raw octets of the stored message; HEADER.FIELDS ends with the
 * message's blank line, or CRLF when its header has none.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mime-internal.h"
#include "xalloc.h"

/* Longer paths cannot name a part, since the tree depth is bounded. */
#define SECTION_MAX_PATH 256

enum section_kind {
	SECTION_BODY,
	SECTION_HEADER,
	SECTION_FIELDS,
	SECTION_FIELDS_NOT,
	SECTION_TEXT,
	SECTION_MIME,
};

struct section {
	uint32_t path[SECTION_MAX_PATH];
	size_t npath;
	bool path_too_long;
	enum section_kind kind;
	char **fields;
	size_t nfields;
};

static void
free_section(struct section *sec)
{
	size_t i;

	for (i = 0; i < sec->nfields; i++)
		free(sec->fields[i]);
	free(sec->fields);
}

static bool
is_field_char(unsigned char c)
{
	if (c <= ' ' || c >= 0x7f)
		return false;
	return strchr("(){%*\"\\]", c) == NULL;
}

static int
parse_field_list(const char *p, struct section *sec)
{
	size_t cap = 0;

	if (*p != ' ')
		return -1;
	while (*p == ' ')
		p++;
	if (*p++ != '(')
		return -1;
	for (;;) {
		struct buf name = BUF_INIT;

		while (*p == ' ')
			p++;
		if (*p == ')' && sec->nfields > 0)
			break;
		if (*p == '"') {
			for (p++; *p != '"'; p++) {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				if (*p == '\0' || *p == '\r' || *p == '\n') {
					buf_free(&name);
					return -1;
				}
				buf_putc(&name, *p);
			}
			p++;
		} else {
			while (is_field_char((unsigned char)*p))
				buf_putc(&name, *p++);
			if (name.len == 0)
				return -1;
		}
		if (*p != ' ' && *p != ')') {
			buf_free(&name);
			return -1;
		}
		if (sec->nfields == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			sec->fields =
			    xrealloc(sec->fields, cap * sizeof(*sec->fields));
		}
		sec->fields[sec->nfields++] =
		    xstrndup(name.data == NULL ? "" : name.data, name.len);
		buf_free(&name);
	}
	return p[1] == '\0' ? 0 : -1;
}

/*
 * Tests whether s starts with keyword (any case) followed by the end of
 * the string (end_only) or by a space.
 */
static bool
keyword_at(const char *s, const char *keyword, bool end_only)
{
	size_t n = strlen(keyword);

	if (strncasecmp(s, keyword, n) != 0)
		return false;
	return end_only ? s[n] == '\0' : s[n] == ' ';
}

static int
parse_section(const char *spec, struct section *sec)
{
	const char *p = spec;

	memset(sec, 0, sizeof(*sec));
	while (*p >= '0' && *p <= '9') {
		uint64_t v = 0;

		if (*p == '0')
			return -1;
		while (*p >= '0' && *p <= '9') {
			v = v * 10 + (uint64_t)(*p++ - '0');
			if (v > UINT32_MAX)
				return -1;
		}
		if (sec->npath < SECTION_MAX_PATH)
			sec->path[sec->npath++] = (uint32_t)v;
		else
			sec->path_too_long = true;
		if (*p == '\0') {
			sec->kind = SECTION_BODY;
			return 0;
		}
		if (*p++ != '.' || *p == '\0')
			return -1;
	}
	if (*p == '\0' && sec->npath == 0) {
		sec->kind = SECTION_BODY;
		return 0;
	}
	if (keyword_at(p, "HEADER", true)) {
		sec->kind = SECTION_HEADER;
		return 0;
	}
	if (keyword_at(p, "TEXT", true)) {
		sec->kind = SECTION_TEXT;
		return 0;
	}
	if (keyword_at(p, "MIME", true) && sec->npath > 0) {
		sec->kind = SECTION_MIME;
		return 0;
	}
	if (keyword_at(p, "HEADER.FIELDS.NOT", false)) {
		sec->kind = SECTION_FIELDS_NOT;
		return parse_field_list(p + 17, sec);
	}
	if (keyword_at(p, "HEADER.FIELDS", false)) {
		sec->kind = SECTION_FIELDS;
		return parse_field_list(p + 13, sec);
	}
	return -1;
}

static bool
is_multipart(const struct mime_part *p)
{
	return strcmp(p->type, "multipart") == 0;
}

/* Returns part n of message m: a child if m is multipart, else m itself. */
static const struct mime_part *
message_part(const struct mime_part *m, uint32_t n)
{
	if (is_multipart(m))
		return n <= m->nchildren ? &m->children[n - 1] : NULL;
	return n == 1 ? m : NULL;
}

static const struct mime_part *
resolve_path(const struct mime_part *root, const struct section *sec)
{
	const struct mime_part *cur = NULL;
	size_t i;

	if (sec->path_too_long)
		return NULL;
	for (i = 0; i < sec->npath; i++) {
		uint32_t n = sec->path[i];

		if (i == 0)
			cur = message_part(root, n);
		else if (is_multipart(cur))
			cur =
			    n <= cur->nchildren ? &cur->children[n - 1] : NULL;
		else if (cur->message != NULL)
			cur = message_part(cur->message, n);
		else
			cur = NULL;
		if (cur == NULL)
			return NULL;
	}
	return cur;
}

static bool
field_listed(const struct section *sec, const struct hdr_field *f)
{
	size_t i;

	for (i = 0; i < sec->nfields; i++) {
		if (hdr_name_is(f, sec->fields[i]))
			return true;
	}
	return false;
}

static void
put_fields(struct buf *out, const char *msg, const struct mime_part *m,
	   const struct section *sec)
{
	bool negate = sec->kind == SECTION_FIELDS_NOT;
	struct hdr_field f;
	size_t pos = m->header_start;

	while (hdr_next(msg, &pos, m->header_end, &f)) {
		if (field_listed(sec, &f) == negate)
			continue;
		buf_append(out, msg + f.start, f.end - f.start);
		if (msg[f.end - 1] != '\n')
			buf_puts(out, "\r\n");
	}
	if (m->body_start > m->header_end)
		buf_append(out, msg + m->header_end,
			   m->body_start - m->header_end);
	else
		buf_puts(out, "\r\n");
}

int
imap_section_fetch(struct buf *out, const char *msg, size_t len,
		   const struct mime_part *root, const char *spec)
{
	struct section sec;
	const struct mime_part *m = root, *p = NULL;

	if (msg == NULL)
		msg = ""; /* an empty message, as a caller's empty buf has */
	if (parse_section(spec, &sec) < 0) {
		free_section(&sec);
		return -1;
	}
	if (sec.npath > 0 || sec.path_too_long) {
		p = resolve_path(root, &sec);
		if (p == NULL)
			goto done;
		m = p->message;
	}
	switch (sec.kind) {
	case SECTION_BODY:
		if (p == NULL)
			buf_append(out, msg, len);
		else
			buf_append(out, msg + p->body_start,
				   p->body_end - p->body_start);
		break;
	case SECTION_MIME:
		buf_append(out, msg + p->header_start,
			   p->body_start - p->header_start);
		break;
	case SECTION_HEADER:
		if (m != NULL)
			buf_append(out, msg + m->header_start,
				   m->body_start - m->header_start);
		break;
	case SECTION_TEXT:
		if (m != NULL)
			buf_append(out, msg + m->body_start,
				   m->body_end - m->body_start);
		break;
	case SECTION_FIELDS:
	case SECTION_FIELDS_NOT:
		if (m != NULL)
			put_fields(out, msg, m, &sec);
		break;
	}
done:
	free_section(&sec);
	return 0;
}

static bool
is_atom(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (!is_field_char((unsigned char)*s))
			return false;
	}
	return true;
}

int
imap_section_normalize(struct buf *out, const char *spec)
{
	static const char *const keywords[] = {
	    [SECTION_BODY] = "",
	    [SECTION_HEADER] = "HEADER",
	    [SECTION_FIELDS] = "HEADER.FIELDS",
	    [SECTION_FIELDS_NOT] = "HEADER.FIELDS.NOT",
	    [SECTION_TEXT] = "TEXT",
	    [SECTION_MIME] = "MIME",
	};
	struct section sec;
	const char *p;
	size_t i;

	if (parse_section(spec, &sec) < 0) {
		free_section(&sec);
		return -1;
	}
	/* The path is copied from the spec, since it may be too long to
	 * store; its syntax was checked above. */
	for (p = spec; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
		if (*p == '.' && !(p[1] >= '0' && p[1] <= '9'))
			break;
		buf_putc(out, *p);
	}
	if (sec.kind != SECTION_BODY) {
		if (p > spec)
			buf_putc(out, '.');
		buf_puts(out, keywords[sec.kind]);
	}
	if (sec.nfields > 0) {
		buf_puts(out, " (");
		for (i = 0; i < sec.nfields; i++) {
			if (i > 0)
				buf_putc(out, ' ');
			if (is_atom(sec.fields[i]))
				buf_puts(out, sec.fields[i]);
			else
				imap_put_string(out, sec.fields[i],
						strlen(sec.fields[i]));
		}
		buf_putc(out, ')');
	}
	free_section(&sec);
	return 0;
}
