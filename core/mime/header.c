/*
 * header - RFC 5322 header scanning and MIME parameter lists
 *
 * Works on raw bytes with CRLF or bare LF line ends. A field starts on a
 * line that is not white space led and continues over lines that start
 * with SP or HT. Lines with no colon are skipped, so garbage never stops
 * the scan. Parameter lists follow RFC 2045 with comments skipped and
 * unquoted values accepted up to the next ';' or white space; RFC 2231
 * continuations and charsets are kept as given (name*0*, name* ...).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mime-internal.h"
#include "xalloc.h"

bool
mime_is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

char
mime_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
}

bool
mime_ieq(const char *a, size_t alen, const char *b)
{
	size_t i;

	for (i = 0; i < alen; i++) {
		if (b[i] == '\0' || mime_lower(a[i]) != mime_lower(b[i]))
			return false;
	}
	return b[alen] == '\0';
}

char *
mime_strlower(char *s)
{
	char *p;

	for (p = s; *p != '\0'; p++)
		*p = mime_lower(*p);
	return s;
}

/* Returns the offset just past the line that starts at pos. */
static size_t
line_after(const char *msg, size_t pos, size_t end)
{
	const char *lf = memchr(msg + pos, '\n', end - pos);

	return lf == NULL ? end : (size_t)(lf - msg) + 1;
}

static bool
line_is_blank(const char *msg, size_t pos, size_t end)
{
	if (pos < end && msg[pos] == '\n')
		return true;
	return pos + 1 < end && msg[pos] == '\r' && msg[pos + 1] == '\n';
}

void
hdr_bounds(const char *msg, size_t start, size_t end, size_t *header_end,
	   size_t *body_start)
{
	size_t pos = start;

	while (pos < end) {
		if (line_is_blank(msg, pos, end)) {
			*header_end = pos;
			*body_start = line_after(msg, pos, end);
			return;
		}
		pos = line_after(msg, pos, end);
	}
	*header_end = end;
	*body_start = end;
}

bool
hdr_next(const char *msg, size_t *pos, size_t end, struct hdr_field *f)
{
	while (*pos < end) {
		size_t start = *pos, next = line_after(msg, start, end);
		const char *colon;
		size_t name_end, value_end;

		if (mime_is_wsp(msg[start])) {
			/* A continuation with no field before it. */
			*pos = next;
			continue;
		}
		colon = memchr(msg + start, ':', next - start);
		if (colon == NULL) {
			*pos = next;
			continue;
		}
		while (next < end && mime_is_wsp(msg[next]))
			next = line_after(msg, next, end);
		name_end = (size_t)(colon - msg);
		while (name_end > start && mime_is_wsp(msg[name_end - 1]))
			name_end--;
		value_end = next;
		if (value_end > start && msg[value_end - 1] == '\n') {
			value_end--;
			if (value_end > start && msg[value_end - 1] == '\r')
				value_end--;
		}
		if (value_end < (size_t)(colon - msg) + 1)
			value_end = (size_t)(colon - msg) + 1;
		f->name = msg + start;
		f->name_len = name_end - start;
		f->value = colon + 1;
		f->value_len = value_end - ((size_t)(colon - msg) + 1);
		f->start = start;
		f->end = next;
		*pos = next;
		return true;
	}
	return false;
}

bool
hdr_name_is(const struct hdr_field *f, const char *name)
{
	return mime_ieq(f->name, f->name_len, name);
}

bool
hdr_find(const char *msg, size_t start, size_t end, const char *name,
	 struct hdr_field *f)
{
	size_t pos = start;

	while (hdr_next(msg, &pos, end, f)) {
		if (hdr_name_is(f, name))
			return true;
	}
	return false;
}

char *
hdr_unfold(const char *value, size_t value_len, size_t *len)
{
	char *out = xmalloc(value_len + 1);
	size_t i, n = 0, first;

	for (i = 0; i < value_len; i++) {
		if (value[i] == '\n')
			continue;
		if (value[i] == '\r' && i + 1 < value_len &&
		    value[i + 1] == '\n')
			continue;
		out[n++] = value[i];
	}
	while (n > 0 && (mime_is_wsp(out[n - 1]) || out[n - 1] == '\r'))
		n--;
	first = 0;
	while (first < n && mime_is_wsp(out[first]))
		first++;
	memmove(out, out + first, n - first);
	n -= first;
	out[n] = '\0';
	if (len != NULL)
		*len = n;
	return out;
}

/* Skips white space and (nested) comments. */
static const char *
skip_cfws(const char *p)
{
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
			p++;
		if (*p != '(')
			return p;
		int level = 0;
		do {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '(')
				level++;
			else if (*p == ')')
				level--;
			p++;
		} while (*p != '\0' && level > 0);
	}
}

static bool
is_token_char(unsigned char c)
{
	if (c <= ' ' || c == 0x7f)
		return false;
	return strchr("()<>@,;:\\\"/[]?=", c) == NULL;
}

static char *
take_token(const char **pp)
{
	const char *p = *pp, *s = p;

	while (is_token_char((unsigned char)*p))
		p++;
	*pp = p;
	return p == s ? NULL : xstrndup(s, (size_t)(p - s));
}

/* Reads a quoted string at *pp (which points at the opening quote). */
static char *
take_quoted(const char **pp)
{
	const char *p = *pp + 1;
	struct buf b = BUF_INIT;
	char *s;

	while (*p != '\0' && *p != '"') {
		if (*p == '\\' && p[1] != '\0')
			p++;
		buf_putc(&b, *p++);
	}
	if (*p == '"')
		p++;
	*pp = p;
	s = xstrndup(b.data == NULL ? "" : b.data, b.len);
	buf_free(&b);
	return s;
}

/* Reads an unquoted value leniently: anything up to ';' or white space. */
static char *
take_loose_value(const char **pp)
{
	const char *p = *pp, *s = p;

	while (*p != '\0' && *p != ';' && *p != ' ' && *p != '\t' && *p != '(')
		p++;
	*pp = p;
	return xstrndup(s, (size_t)(p - s));
}

static const char *
skip_to_semicolon(const char *p)
{
	while (*p != '\0' && *p != ';') {
		if (*p == '"') {
			char *junk = take_quoted(&p);

			free(junk);
			continue;
		}
		p++;
	}
	return p;
}

static void
parse_param_list(const char *p, struct mime_param **params, size_t *nparams)
{
	size_t n = 0, cap = 0;
	struct mime_param *list = NULL;

	for (;;) {
		char *name, *value;

		p = skip_to_semicolon(p);
		if (*p == '\0')
			break;
		p = skip_cfws(p + 1);
		name = take_token(&p);
		if (name == NULL)
			continue;
		p = skip_cfws(p);
		if (*p != '=') {
			free(name);
			continue;
		}
		p = skip_cfws(p + 1);
		if (*p == '"')
			value = take_quoted(&p);
		else
			value = take_loose_value(&p);
		if (n == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			list = xrealloc(list, cap * sizeof(*list));
		}
		list[n].name = mime_strlower(name);
		list[n].value = value;
		n++;
	}
	*params = list;
	*nparams = n;
}

void
mime_parse_params(const char *s, bool with_subtype, char **type, char **subtype,
		  struct mime_param **params, size_t *nparams)
{
	const char *p = skip_cfws(s);
	char *t = take_token(&p), *st = NULL;

	if (t != NULL && with_subtype) {
		p = skip_cfws(p);
		if (*p == '/') {
			p = skip_cfws(p + 1);
			st = take_token(&p);
		}
		if (st == NULL) {
			free(t);
			t = NULL;
		}
	}
	if (t != NULL) {
		p = skip_cfws(p);
		if (*p != '\0' && *p != ';') {
			/* Trailing garbage after the type: not a valid type. */
			free(t);
			free(st);
			t = st = NULL;
		}
	}
	*type = t == NULL ? NULL : mime_strlower(t);
	if (subtype != NULL)
		*subtype = st == NULL ? NULL : mime_strlower(st);
	else
		free(st);
	parse_param_list(p, params, nparams);
}

void
mime_free_params(struct mime_param *params, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(params[i].name);
		free(params[i].value);
	}
	free(params);
}

const char *
mime_param_get(const struct mime_param *params, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(params[i].name, name) == 0)
			return params[i].value;
	}
	return NULL;
}
