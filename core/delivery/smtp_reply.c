/*
 * smtp_reply - SMTP server replies and EHLO keywords, for the client
 *
 * The contract is in smtp_reply.h. The parser keeps no pointer into the
 * caller's buffer: each line is copied (made printable) into the joined
 * text and into the kept lines as soon as it is read.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "smtp_reply.h"

/* Bytes of line text kept for smtp_ehlo_parse(); later lines are not. */
#define KEPT_LINES_MAX 16384

void
smtp_reply_init(struct smtp_reply_parser *p)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->lines);
}

void
smtp_reply_free(struct smtp_reply_parser *p)
{
	buf_free(&p->lines);
}

static char
printable(char c)
{
	unsigned char u = (unsigned char)c;

	return u >= 0x20 && u < 0x7f ? c : '?';
}

char *
smtp_reply_printable(char *dst, size_t dstlen, const char *s, size_t len)
{
	size_t n = 0;

	if (dstlen == 0)
		return dst;
	for (size_t i = 0; i < len && n + 1 < dstlen; i++)
		dst[n++] = printable(s[i]);
	dst[n] = '\0';
	return dst;
}

static void
reply_reset(struct smtp_reply_parser *p)
{
	memset(&p->reply, 0, sizeof(p->reply));
	buf_reset(&p->lines);
	p->error = NULL;
	p->text_len = 0;
	p->size = 0;
	p->text_cut = false;
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Returns the length of the enhanced status code ("class.subject.detail",
 * 1 to 3 digits in the last two parts) at the start of s when a space or
 * the end of s follows it, otherwise 0.
 */
static size_t
enhanced_code_len(const char *s, size_t len)
{
	size_t i;

	if (len < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		size_t digits = 0;

		while (i < len && is_digit(s[i])) {
			i++;
			digits++;
		}
		if (digits == 0 || digits > 3)
			return 0;
		if (part == 0) {
			if (i >= len || s[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && s[i] != ' ')
		return 0;
	return i;
}

/* Appends one line's text to reply.text, with a space between lines. */
static void
append_text(struct smtp_reply_parser *p, const char *s, size_t len)
{
	const size_t room = sizeof(p->reply.text) - 1;
	char *text = p->reply.text;

	if (p->text_cut || len == 0)
		return;
	if (p->text_len + (p->text_len > 0) + len > room) {
		/* Cut, leaving room for the "..." that marks it. */
		const size_t keep = room - 3;

		if (p->text_len > keep)
			p->text_len = keep;
		if (p->text_len > 0 && p->text_len < keep)
			text[p->text_len++] = ' ';
		for (size_t i = 0; i < len && p->text_len < keep; i++)
			text[p->text_len++] = printable(s[i]);
		memcpy(text + p->text_len, "...", 3);
		p->text_len += 3;
		text[p->text_len] = '\0';
		p->text_cut = true;
		return;
	}
	if (p->text_len > 0)
		text[p->text_len++] = ' ';
	for (size_t i = 0; i < len; i++)
		text[p->text_len++] = printable(s[i]);
	text[p->text_len] = '\0';
}

static void
keep_line(struct smtp_reply_parser *p, const char *s, size_t len)
{
	if (p->lines.len + len + 1 > KEPT_LINES_MAX)
		return;
	for (size_t i = 0; i < len; i++)
		buf_putc(&p->lines, printable(s[i]));
	buf_putc(&p->lines, '\n');
}

static enum smtp_reply_status
garbled(struct smtp_reply_parser *p, const char *why)
{
	p->error = why;
	p->in_reply = false;
	return SMTP_REPLY_GARBLED;
}

/* Parses one line without its line end; size counts the line end too. */
static enum smtp_reply_status
parse_line(struct smtp_reply_parser *p, const char *line, size_t len,
	   size_t size)
{
	const char *text;
	size_t text_len, code_len;
	bool first = !p->in_reply, last;
	int code;

	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '5' || !is_digit(line[2]))
		return garbled(p, "invalid reply code");
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return garbled(p, "invalid reply code");
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	last = len == 3 || line[3] == ' ';
	if (first) {
		reply_reset(p);
		p->reply.code = code;
		p->in_reply = true;
	} else if (code != p->reply.code) {
		return garbled(p, "reply code changed within a multiline reply");
	}
	p->size += size;
	if (p->size > SMTP_REPLY_SIZE_MAX)
		return garbled(p, "reply too long");

	text = len > 4 ? line + 4 : line + len;
	text_len = len > 4 ? len - 4 : 0;
	keep_line(p, text, text_len);

	code_len = enhanced_code_len(text, text_len);
	if (first && code_len > 0 && text[0] == line[0] &&
	    code_len < sizeof(p->reply.enhanced)) {
		memcpy(p->reply.enhanced, text, code_len);
		p->reply.enhanced[code_len] = '\0';
	}
	/* Drop the enhanced code from each line that repeats it. */
	if (code_len > 0 && code_len == strlen(p->reply.enhanced) &&
	    memcmp(text, p->reply.enhanced, code_len) == 0) {
		text += code_len;
		text_len -= code_len;
	}
	while (text_len > 0 && (text[0] == ' ' || text[0] == '\t')) {
		text++;
		text_len--;
	}
	while (text_len > 0 &&
	       (text[text_len - 1] == ' ' || text[text_len - 1] == '\t'))
		text_len--;
	append_text(p, text, text_len);

	if (!last)
		return SMTP_REPLY_INCOMPLETE;
	p->in_reply = false;
	return SMTP_REPLY_COMPLETE;
}

enum smtp_reply_status
smtp_reply_parse(struct smtp_reply_parser *p, const char *data, size_t len,
		 size_t *used)
{
	size_t pos = 0;

	*used = 0;
	while (pos < len) {
		const char *lf = memchr(data + pos, '\n', len - pos);
		enum smtp_reply_status st;
		size_t size, line_len;

		if (lf == NULL) {
			if (len - pos > SMTP_REPLY_LINE_MAX)
				return garbled(p, "reply line too long");
			break;
		}
		size = (size_t)(lf - (data + pos)) + 1;
		if (size > SMTP_REPLY_LINE_MAX)
			return garbled(p, "reply line too long");
		line_len = size - 1;
		if (line_len > 0 && data[pos + line_len - 1] == '\r')
			line_len--;
		st = parse_line(p, data + pos, line_len, size);
		if (st == SMTP_REPLY_GARBLED)
			return st;
		pos += size;
		*used = pos;
		if (st == SMTP_REPLY_COMPLETE)
			return st;
	}
	return SMTP_REPLY_INCOMPLETE;
}

static char
ascii_upper(char c)
{
	return c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* True when s[0..len) equals the upper-case word, ignoring case. */
static bool
word_is(const char *s, size_t len, const char *word)
{
	if (strlen(word) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (ascii_upper(s[i]) != word[i])
			return false;
	return true;
}

/* The SIZE parameter, or 0 when it is missing, zero or not a number. */
static size_t
parse_size(const char *s, size_t len)
{
	uint64_t v = 0;
	size_t i = 0;

	while (i < len && s[i] == ' ')
		i++;
	if (i == len)
		return 0;
	for (; i < len && s[i] != ' '; i++) {
		if (!is_digit(s[i]))
			return 0;
		if (v > (UINT64_MAX - 9) / 10)
			return 0; /* beyond any message: no usable limit */
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > SIZE_MAX)
		return 0;
	return (size_t)v;
}

static unsigned
parse_auth(const char *s, size_t len)
{
	unsigned mechs = 0;
	size_t i = 0;

	while (i < len) {
		size_t start;

		while (i < len && s[i] == ' ')
			i++;
		start = i;
		while (i < len && s[i] != ' ')
			i++;
		if (word_is(s + start, i - start, "PLAIN"))
			mechs |= SMTP_AUTH_PLAIN;
		else if (word_is(s + start, i - start, "LOGIN"))
			mechs |= SMTP_AUTH_LOGIN;
		else if (word_is(s + start, i - start, "CRAM-MD5"))
			mechs |= SMTP_AUTH_CRAM_MD5;
	}
	return mechs;
}

static void
parse_keyword(struct smtp_ehlo *e, const char *s, size_t len)
{
	size_t kw = 0;

	while (kw < len && s[kw] != ' ' && s[kw] != '=')
		kw++;
	if (word_is(s, kw, "PIPELINING")) {
		e->pipelining = true;
	} else if (word_is(s, kw, "8BITMIME")) {
		e->eightbitmime = true;
	} else if (word_is(s, kw, "SMTPUTF8")) {
		e->smtputf8 = true;
	} else if (word_is(s, kw, "STARTTLS")) {
		e->starttls = true;
	} else if (word_is(s, kw, "ENHANCEDSTATUSCODES")) {
		e->enhancedstatuscodes = true;
	} else if (word_is(s, kw, "SIZE")) {
		e->size = true;
		e->size_max = kw < len && s[kw] == ' '
				      ? parse_size(s + kw, len - kw)
				      : 0;
	} else if (word_is(s, kw, "AUTH") && kw < len) {
		e->auth |= parse_auth(s + kw + 1, len - kw - 1);
	}
}

void
smtp_ehlo_parse(const struct smtp_reply_parser *p, struct smtp_ehlo *e)
{
	const char *s = p->lines.data;
	size_t len = p->lines.len, pos = 0;
	bool first = true;

	memset(e, 0, sizeof(*e));
	while (pos < len) {
		const char *lf = memchr(s + pos, '\n', len - pos);
		size_t line_len = lf != NULL ? (size_t)(lf - (s + pos))
					     : len - pos;

		if (!first)
			parse_keyword(e, s + pos, line_len);
		first = false;
		pos += line_len + 1;
	}
}
