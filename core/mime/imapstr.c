/*
 * imapstr - IMAP string output (RFC 3501 section 4.3)
 *
 * A value goes out as a quoted string when every byte is 7-bit and none
 * is CR, LF or NUL, with '"' and '\' escaped; otherwise as a literal
 * {n}CRLF followed by the bytes. NULL becomes NIL.
 */
#include "config.h"

#include <string.h>

#include "mime-internal.h"

void
imap_put_string(struct buf *out, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\0' || c == '\r' || c == '\n' || c >= 0x80)
			break;
	}
	if (i < n) {
		buf_printf(out, "{%zu}\r\n", n);
		buf_append(out, s, n);
		return;
	}
	buf_putc(out, '"');
	for (i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_putc(out, '\\');
		buf_putc(out, s[i]);
	}
	buf_putc(out, '"');
}

void
imap_put_nstring(struct buf *out, const char *s)
{
	if (s == NULL)
		buf_puts(out, "NIL");
	else
		imap_put_string(out, s, strlen(s));
}
