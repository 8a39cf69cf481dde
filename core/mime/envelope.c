/*
 * envelope - IMAP ENVELOPE (RFC 3501 section 7.4.2)
 *
 * Each member comes from the first header field of its name, unfolded.
 * Sender and Reply-To fall back to From when they are absent or hold no
 * address. An address field with no address is NIL.
 */
#include "config.h"

#include <stdlib.h>

#include "mime-internal.h"

static void
put_field_string(struct buf *out, const char *msg, size_t start, size_t end,
		 const char *name)
{
	struct hdr_field f;
	size_t n;
	char *v;

	if (!hdr_find(msg, start, end, name, &f)) {
		buf_puts(out, "NIL");
		return;
	}
	v = hdr_unfold(f.value, f.value_len, &n);
	imap_put_string(out, v, n);
	free(v);
}

static size_t
field_addresses(const char *msg, size_t start, size_t end, const char *name,
		struct mime_addr **addrs)
{
	struct hdr_field f;
	size_t n, count;
	char *v;

	*addrs = NULL;
	if (!hdr_find(msg, start, end, name, &f))
		return 0;
	v = hdr_unfold(f.value, f.value_len, &n);
	count = mime_parse_addresses(v, n, addrs);
	free(v);
	return count;
}

static void
put_addresses(struct buf *out, const struct mime_addr *a, size_t n)
{
	size_t i;

	if (n == 0) {
		buf_puts(out, "NIL");
		return;
	}
	buf_putc(out, '(');
	for (i = 0; i < n; i++) {
		buf_putc(out, '(');
		imap_put_nstring(out, a[i].name);
		buf_putc(out, ' ');
		imap_put_nstring(out, a[i].adl);
		buf_putc(out, ' ');
		imap_put_nstring(out, a[i].mailbox);
		buf_putc(out, ' ');
		imap_put_nstring(out, a[i].host);
		buf_putc(out, ')');
	}
	buf_putc(out, ')');
}

static void
put_address_field(struct buf *out, const char *msg, size_t start, size_t end,
		  const char *name, const struct mime_addr *fallback,
		  size_t nfallback)
{
	struct mime_addr *a;
	size_t n = field_addresses(msg, start, end, name, &a);

	if (n == 0)
		put_addresses(out, fallback, nfallback);
	else
		put_addresses(out, a, n);
	mime_free_addresses(a, n);
}

void
imap_envelope(struct buf *out, const char *msg, size_t hdr_start,
	      size_t hdr_end)
{
	struct mime_addr *from;
	size_t nfrom;

	if (msg == NULL)
		msg = "";
	buf_putc(out, '(');
	put_field_string(out, msg, hdr_start, hdr_end, "date");
	buf_putc(out, ' ');
	put_field_string(out, msg, hdr_start, hdr_end, "subject");
	buf_putc(out, ' ');
	nfrom = field_addresses(msg, hdr_start, hdr_end, "from", &from);
	put_addresses(out, from, nfrom);
	buf_putc(out, ' ');
	put_address_field(out, msg, hdr_start, hdr_end, "sender", from, nfrom);
	buf_putc(out, ' ');
	put_address_field(out, msg, hdr_start, hdr_end, "reply-to", from,
			  nfrom);
	mime_free_addresses(from, nfrom);
	buf_putc(out, ' ');
	put_address_field(out, msg, hdr_start, hdr_end, "to", NULL, 0);
	buf_putc(out, ' ');
	put_address_field(out, msg, hdr_start, hdr_end, "cc", NULL, 0);
	buf_putc(out, ' ');
	put_address_field(out, msg, hdr_start, hdr_end, "bcc", NULL, 0);
	buf_putc(out, ' ');
	put_field_string(out, msg, hdr_start, hdr_end, "in-reply-to");
	buf_putc(out, ' ');
	put_field_string(out, msg, hdr_start, hdr_end, "message-id");
	buf_putc(out, ')');
}
