/*
 * decode - transfer encodings, RFC 2047 encoded words and charsets
 *
 * Decoders are lenient: base64 skips bytes outside its alphabet and stops
 * at '=', quoted-printable keeps an '=' that starts no valid escape.
 * Charset conversion covers only ISO-8859-1 (and its aliases); UTF-8,
 * US-ASCII and every other charset are copied unchanged.
 */
#include "config.h"

#include <string.h>

#include "mime-internal.h"

/*
 * RFC 2047 limits an encoded word to 75 characters. Longer ones are
 * accepted up to this size, which keeps the scan of a value full of
 * unterminated "=?" linear.
 */
#define ENCODED_WORD_MAX 1024

static int
b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

void
mime_decode_base64(const char *s, size_t n, struct buf *out)
{
	unsigned int acc = 0;
	int bits = 0;
	size_t i;

	for (i = 0; i < n && s[i] != '='; i++) {
		int v = b64_value((unsigned char)s[i]);

		if (v < 0)
			continue;
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_putc(out, (char)((acc >> bits) & 0xff));
		}
	}
}

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decodes quoted-printable; in_header also turns '_' into a space. */
static void
decode_qp(const char *s, size_t n, struct buf *out, bool in_header)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if (c == '_' && in_header) {
			buf_putc(out, ' ');
			i++;
			continue;
		}
		if (c != '=') {
			buf_putc(out, (char)c);
			i++;
			continue;
		}
		if (i + 2 < n && hex_value((unsigned char)s[i + 1]) >= 0 &&
		    hex_value((unsigned char)s[i + 2]) >= 0) {
			buf_putc(
			    out,
			    (char)(hex_value((unsigned char)s[i + 1]) << 4 |
				   hex_value((unsigned char)s[i + 2])));
			i += 3;
			continue;
		}
		/* A soft line break: '=', optional white space, line end. */
		size_t j = i + 1;

		while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\r'))
			j++;
		if (j < n && s[j] == '\n') {
			i = j + 1;
			continue;
		}
		if (j == n) {
			i = n;
			continue;
		}
		buf_putc(out, '=');
		i++;
	}
}

void
mime_decode_qp(const char *s, size_t n, struct buf *out)
{
	decode_qp(s, n, out, false);
}

static bool
is_latin1(const char *charset)
{
	static const char *const names[] = {
	    "iso-8859-1", "iso8859-1",	"iso_8859-1", "latin1", "latin-1",
	    "l1",	  "iso-ir-100", "cp819",      "ibm819", "csisolatin1",
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (mime_ieq(charset, strlen(charset), names[i]))
			return true;
	}
	return false;
}

void
mime_charset_to_utf8(const char *charset, const char *s, size_t n,
		     struct buf *out)
{
	size_t i;

	if (charset == NULL || !is_latin1(charset)) {
		buf_append(out, s, n);
		return;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x80) {
			buf_putc(out, (char)c);
		} else {
			buf_putc(out, (char)(0xc0 | (c >> 6)));
			buf_putc(out, (char)(0x80 | (c & 0x3f)));
		}
	}
}

/*
 * Decodes the encoded word "=?charset?B|Q?text?=" at s[0..n) into out.
 * Returns its length, or 0 if s does not start with a valid one.
 */
static size_t
decode_word(const char *s, size_t n, struct buf *out)
{
	size_t i = 2, cs_start = 2, cs_end, text_start, text_end;
	char enc, charset[64];
	struct buf raw = BUF_INIT;

	if (n > ENCODED_WORD_MAX)
		n = ENCODED_WORD_MAX;
	if (n < 8 || s[0] != '=' || s[1] != '?')
		return 0;
	while (i < n && s[i] != '?' && !mime_is_wsp(s[i]) && s[i] != '\n')
		i++;
	if (i >= n || s[i] != '?' || i == cs_start)
		return 0;
	cs_end = i;
	if (i + 2 >= n || s[i + 2] != '?')
		return 0;
	enc = mime_lower(s[i + 1]);
	if (enc != 'b' && enc != 'q')
		return 0;
	text_start = i + 3;
	for (i = text_start; i + 1 < n; i++) {
		if (s[i] == '?' && s[i + 1] == '=')
			break;
		if (mime_is_wsp(s[i]) || s[i] == '\r' || s[i] == '\n')
			return 0;
	}
	if (i + 1 >= n)
		return 0;
	text_end = i;
	/* RFC 2231 section 5: "charset*language" */
	for (i = cs_start; i < cs_end && s[i] != '*'; i++)
		;
	if (i - cs_start >= sizeof(charset))
		return 0;
	memcpy(charset, s + cs_start, i - cs_start);
	charset[i - cs_start] = '\0';
	if (enc == 'b')
		mime_decode_base64(s + text_start, text_end - text_start, &raw);
	else
		decode_qp(s + text_start, text_end - text_start, &raw, true);
	mime_charset_to_utf8(charset, raw.data == NULL ? "" : raw.data, raw.len,
			     out);
	buf_free(&raw);
	return text_end + 2;
}

void
mime_decode_header_value(const char *s, size_t n, struct buf *out)
{
	size_t i = 0, len;
	bool after_word = false;

	while (i < n) {
		if (s[i] == '=' && (len = decode_word(s + i, n - i, out)) > 0) {
			after_word = true;
			i += len;
			continue;
		}
		if (mime_is_wsp(s[i]) || s[i] == '\r' || s[i] == '\n') {
			size_t start = i;

			while (i < n && (mime_is_wsp(s[i]) || s[i] == '\r' ||
					 s[i] == '\n'))
				i++;
			/* White space between two encoded words is dropped. */
			if (after_word && i < n && s[i] == '=' &&
			    (len = decode_word(s + i, n - i, out)) > 0) {
				i += len;
				continue;
			}
			buf_append(out, s + start, i - start);
			after_word = false;
			continue;
		}
		buf_putc(out, s[i]);
		after_word = false;
		i++;
	}
}
