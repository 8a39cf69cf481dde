/*
 * smtp_data - message content decoder for DATA and BDAT
 *
 * A byte-at-a-time state machine; the states are listed in smtp_data.h.
 * Runs of ordinary text are copied with one buf_append each, so the per
 * byte cost stays small.
 *
 * Replies for flawed messages:
 * - bare LF or bare CR: "550 5.5.2 Error: bare <LF> received", the text
 *   Postfix sends since its December 2023 SMTP smuggling fix (3.5.23,
 *   3.6.13, 3.7.9, 3.8.4), with 5.5.2 for a syntax error. Postfix also
 *   disconnects; hapost does not need to, because here only CRLF "." CRLF
 *   ends DATA, so the end of the message is never ambiguous.
 * - NUL: "554 5.6.0" (other media error: the content is not text).
 * - line too long: "554 5.6.0" as well. The limit is smtp_line_limit
 *   (4096 by default), looser than RFC 5322's 998 characters because
 *   real mail often breaks that one.
 * - hop_limit or more Received: fields in the header section: "554
 *   5.4.6" (routing loop detected, RFC 3463), as Postfix does past its
 *   hopcount_limit. Every relay adds one field, so a message that went
 *   round a forwarding loop that many times is stopped here and bounced
 *   by the relay before us. The count reads the decoded bytes up to the
 *   first empty line, so a Received: line in the body or in an attached
 *   message does not count.
 */
#include "config.h"

#include <string.h>

#include "smtp_data.h"

void
smtp_data_init(struct smtp_data_decoder *d, bool dot_stuffed, size_t line_limit)
{
	memset(d, 0, sizeof(*d));
	d->state = SMTP_DS_LINE_START;
	d->dot_stuffed = dot_stuffed;
	d->line_limit = line_limit;
}

bool
smtp_data_done(const struct smtp_data_decoder *d)
{
	return d->state == SMTP_DS_END;
}

/* Counts n more octets on the current line and flags an overlong one. */
static void
line_grow(struct smtp_data_decoder *d, size_t n)
{
	d->line_len += n;
	if (d->line_limit > 0 && d->line_len + 2 > d->line_limit)
		d->flaws |= SMTP_DATA_LONG_LINE;
}

/* Length of the run of bytes at in[0..len) that need no special care. */
static size_t
text_run(const char *in, size_t len)
{
	size_t i = 0;

	while (i < len && in[i] != '\r' && in[i] != '\n' && in[i] != '\0')
		i++;
	return i;
}

/* Decodes in[0..len) into out; see smtp_data_decode(). */
static size_t
decode_bytes(struct smtp_data_decoder *d, const char *in, size_t len,
	     struct buf *out)
{
	size_t i = 0;

	while (i < len && d->state != SMTP_DS_END) {
		char ch = in[i];

		switch (d->state) {
		case SMTP_DS_LINE_START:
			if (ch == '.' && d->dot_stuffed) {
				d->state = SMTP_DS_DOT;
				i++;
				continue;
			}
			d->state = SMTP_DS_TEXT;
			continue; /* the same byte, as text */
		case SMTP_DS_DOT:
			if (ch == '\r') {
				d->state = SMTP_DS_DOT_CR;
				i++;
				continue;
			}
			/* The leading dot was transparency: drop it. */
			d->state = SMTP_DS_TEXT;
			continue;
		case SMTP_DS_DOT_CR:
			if (ch == '\n') {
				d->state = SMTP_DS_END;
				i++;
				continue;
			}
			/* "." then a CR without LF: the CR is bare. */
			d->flaws |= SMTP_DATA_BARE_CR;
			buf_putc(out, '\r');
			line_grow(d, 1);
			d->state = SMTP_DS_TEXT;
			continue;
		case SMTP_DS_TEXT: {
			size_t run = text_run(in + i, len - i);

			if (run > 0) {
				buf_append(out, in + i, run);
				line_grow(d, run);
				i += run;
				continue;
			}
			if (ch == '\r') {
				d->state = SMTP_DS_CR;
			} else if (ch == '\n') {
				/* A bare LF does not end the line, so a
				 * following "." line is content. */
				d->flaws |= SMTP_DATA_BARE_LF;
				buf_putc(out, '\n');
				line_grow(d, 1);
			} else {
				d->flaws |= SMTP_DATA_NUL;
				buf_putc(out, ch);
				line_grow(d, 1);
			}
			i++;
			continue;
		}
		case SMTP_DS_CR:
			if (ch == '\n') {
				buf_append(out, "\r\n", 2);
				d->line_len = 0;
				d->state = SMTP_DS_LINE_START;
				i++;
				continue;
			}
			/* The pending CR is bare; ch is looked at again. */
			d->flaws |= SMTP_DATA_BARE_CR;
			buf_putc(out, '\r');
			line_grow(d, 1);
			d->state = SMTP_DS_TEXT;
			continue;
		case SMTP_DS_END:
			break;
		}
	}
	return i;
}

/*
 * Counts the Received: fields in the header section of the decoded bytes
 * p[0..len), which continue the bytes of the previous call.
 */
static void
count_hops(struct smtp_data_decoder *d, const char *p, size_t len)
{
	static const char name[] = "received:";
	const size_t name_len = sizeof(name) - 1;

	for (size_t i = 0; i < len && !d->header_done; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch == '\n') {
			if (d->header_column == 0)
				d->header_done = true;
			d->header_column = 0;
			d->name_matched = 0;
			continue;
		}
		if (ch == '\r')
			continue;
		d->header_column++;
		if (d->name_matched >= name_len ||
		    d->header_column != d->name_matched + 1)
			continue;
		if (ch >= 'A' && ch <= 'Z')
			ch = (unsigned char)(ch - 'A' + 'a');
		if (ch != (unsigned char)name[d->name_matched]) {
			d->name_matched = name_len + 1; /* not this line */
			continue;
		}
		if (++d->name_matched < name_len)
			continue;
		d->hops++;
		if (d->hop_limit > 0 && d->hops >= d->hop_limit)
			d->flaws |= SMTP_DATA_TOO_MANY_HOPS;
	}
}

size_t
smtp_data_decode(struct smtp_data_decoder *d, const char *in, size_t len,
		 struct buf *out)
{
	size_t before = out->len;
	size_t i = decode_bytes(d, in, len, out);

	if (!d->header_done)
		count_hops(d, out->data + before, out->len - before);
	return i;
}

void
smtp_data_finish(struct smtp_data_decoder *d, struct buf *out)
{
	switch (d->state) {
	case SMTP_DS_TEXT:
		buf_append(out, "\r\n", 2);
		break;
	case SMTP_DS_CR:
	case SMTP_DS_DOT_CR:
		d->flaws |= SMTP_DATA_BARE_CR;
		break;
	case SMTP_DS_DOT:
		buf_append(out, ".\r\n", 3);
		break;
	default:
		break;
	}
	d->line_len = 0;
	d->state = SMTP_DS_LINE_START;
}

const char *
smtp_data_flaw_reply(unsigned flaws)
{
	if (flaws & SMTP_DATA_BARE_LF)
		return "550 5.5.2 Error: bare <LF> received; "
		       "lines must end with <CR><LF>";
	if (flaws & SMTP_DATA_BARE_CR)
		return "550 5.5.2 Error: bare <CR> received; "
		       "lines must end with <CR><LF>";
	if (flaws & SMTP_DATA_NUL)
		return "554 5.6.0 Error: message contains a NUL byte";
	if (flaws & SMTP_DATA_LONG_LINE)
		return "554 5.6.0 Error: message contains a line longer "
		       "than the limit";
	if (flaws & SMTP_DATA_TOO_MANY_HOPS)
		return "554 5.4.6 Error: too many hops (Received: header "
		       "fields); the message is looping";
	return NULL;
}
