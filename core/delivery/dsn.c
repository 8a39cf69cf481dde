/*
 * dsn - delivery status notifications (RFC 3464, RFC 6522)
 *
 * dsn_build() writes the three body parts into separate buffers first.
 * Then it picks a random boundary and checks that none of the parts
 * contains it, because a returned message could, by chance or on
 * purpose. Only then does it write the header and join the parts. Fields in the report
 * are folded at blanks to stay under 78 columns where the words allow,
 * and a word longer than FOLD_HARD octets is split, so no line reaches
 * the 998-octet limit of RFC 5322. The returned message is read with
 * pread() and copied unchanged.
 *
 * Dates use the local time zone with a numeric offset, and the names of
 * days and months are written out here so that the locale cannot change
 * them.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "dsn.h"
#include "xalloc.h"

/* Fold fields and wrap text at this width where the words allow. */
#define FOLD_WIDTH 78
/* Split a single word after this many octets. */
#define FOLD_HARD 900
/* Attempts to find a boundary that no part contains. */
#define BOUNDARY_TRIES 8

static const char *const day_names[] = {"Sun", "Mon", "Tue", "Wed",
					"Thu", "Fri", "Sat"};
static const char *const month_names[] = {"Jan", "Feb", "Mar", "Apr",
					  "May", "Jun", "Jul", "Aug",
					  "Sep", "Oct", "Nov", "Dec"};

struct status_rule {
	const char *what;
	const char *temp; /* with a 4xx code */
	const char *perm; /* with a 5xx code */
	bool perm_default; /* without a 4xx or 5xx code */
};

static const struct status_rule status_rules[] = {
	{"unreachable", "4.4.1", "5.4.1", false},
	{"tempfail", "4.0.0", "5.0.0", false},
	{"permfail", "4.0.0", "5.0.0", true},
	{"dns", "4.4.3", "4.4.3", false},
	{"no-domain", "5.1.2", "5.1.2", true},
	{"no-mx", "4.4.4", "5.4.4", true},
	{"null-mx", "5.1.10", "5.1.10", true},
	{"expired", "4.4.7", "4.4.7", false},
	{"tls", "4.7.5", "5.7.5", false},
	{"too-big", "5.3.4", "5.3.4", true},
	{"utf8", "5.6.7", "5.6.7", true},
};

const char *
dsn_default_status(int smtp_code, const char *what)
{
	bool temp = smtp_code >= 400 && smtp_code <= 499;
	bool perm = smtp_code >= 500 && smtp_code <= 599;

	for (size_t i = 0; what != NULL && i < sizeof(status_rules) /
						       sizeof(status_rules[0]);
	     i++) {
		const struct status_rule *r = &status_rules[i];

		if (strcmp(what, r->what) != 0)
			continue;
		if (temp)
			return r->temp;
		if (perm)
			return r->perm;
		return r->perm_default ? r->perm : r->temp;
	}
	return perm ? "5.0.0" : "4.0.0";
}

bool
dsn_suppressed(const char *sender)
{
	const char *at;
	size_t local;

	if (sender == NULL || sender[0] == '\0' || strcmp(sender, "<>") == 0)
		return true;
	at = strrchr(sender, '@');
	local = at != NULL ? (size_t)(at - sender) : strlen(sender);
	return local == strlen("mailer-daemon") &&
	       strncasecmp(sender, "mailer-daemon", local) == 0;
}

/* True for "C.S.D" with C in 2, 4, 5 and S, D of one to three digits. */
static bool
status_valid(const char *s)
{
	size_t i = 1;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5'))
		return false;
	for (int part = 0; part < 2; part++) {
		size_t digits = 0;

		if (s[i++] != '.')
			return false;
		while (s[i] >= '0' && s[i] <= '9' && digits < 4) {
			i++;
			digits++;
		}
		if (digits == 0 || digits > 3)
			return false;
	}
	return s[i] == '\0';
}

/*
 * Appends s as printable ASCII: a tab becomes a space, and every other
 * control byte, and every UTF-8 sequence or stray 8-bit byte, becomes
 * one '?'.
 */
static void
put_printable(struct buf *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		if (*p >= 0x20 && *p < 0x7f) {
			buf_putc(out, (char)*p++);
			continue;
		}
		buf_putc(out, *p == '\t' ? ' ' : '?');
		if (*p++ >= 0xc0)
			while (*p >= 0x80 && *p < 0xc0)
				p++;
	}
}

/* Decodes one UTF-8 sequence at s; returns its length, or 0 if invalid. */
static size_t
utf8_decode(const unsigned char *s, uint32_t *cp)
{
	size_t len;
	uint32_t min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		*cp = s[0] & 0x1f;
		min = 0x80;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		*cp = s[0] & 0x0f;
		min = 0x800;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		*cp = s[0] & 0x07;
		min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
		*cp = (*cp << 6) | (s[i] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

static bool
is_ascii_address(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/*
 * Appends the typed address of a report field: "rfc822; ADDR" for a
 * printable ASCII address, otherwise "utf-8; " in the utf-8-addr-xtext
 * form of RFC 6533 section 3. There every character outside QCHAR
 * (printable ASCII except '+', '=' and '\\') is written as \x{HEX}, and
 * an invalid byte as \x{FFFD}.
 */
static void
put_typed_address(struct buf *out, const char *address)
{
	const unsigned char *p = (const unsigned char *)address;

	if (is_ascii_address(address)) {
		buf_printf(out, "rfc822; %s", address);
		return;
	}
	buf_puts(out, "utf-8; ");
	while (*p != '\0') {
		uint32_t cp;
		size_t len = utf8_decode(p, &cp);

		if (len == 0) {
			cp = 0xfffd;
			len = 1;
		}
		if (cp > 0x20 && cp < 0x7f && cp != '+' && cp != '=' &&
		    cp != '\\')
			buf_putc(out, (char)cp);
		else
			buf_printf(out, "\\x{%02X}", (unsigned)cp);
		p += len;
	}
}

/*
 * Appends text (printable ASCII) folded at blanks into lines of at most
 * FOLD_WIDTH columns where the words allow. The first line continues the
 * col columns already written. Continuation lines start with indent.
 * Runs of blanks become one, and a word longer than FOLD_HARD is split.
 */
static void
put_folded(struct buf *out, const char *text, size_t col,
	   const char *indent)
{
	const char *p = text;
	bool first = true;

	while (*p == ' ')
		p++;
	while (*p != '\0') {
		size_t word = strcspn(p, " ");

		if (word > FOLD_HARD)
			word = FOLD_HARD;
		if (!first && col + 1 + word > FOLD_WIDTH) {
			buf_puts(out, "\r\n");
			buf_puts(out, indent);
			col = strlen(indent);
		} else if (!first) {
			buf_putc(out, ' ');
			col++;
		}
		buf_append(out, p, word);
		col += word;
		first = false;
		p += word;
		while (*p == ' ')
			p++;
	}
	buf_puts(out, "\r\n");
}

/* Appends "Name: value" with the value cut to printable ASCII and folded. */
static void
put_field(struct buf *out, const char *name, const char *value)
{
	struct buf clean = BUF_INIT;

	put_printable(&clean, value);
	buf_printf(out, "%s: ", name);
	put_folded(out, buf_cstr(&clean), strlen(name) + 2, " ");
	buf_free(&clean);
}

/* Formats t as an RFC 5322 date-time in local time. */
static void
format_date(time_t t, char *out, size_t outlen)
{
	struct tm tm;
	long off;
	char sign = '+';

	if (localtime_r(&t, &tm) == NULL) {
		snprintf(out, outlen, "Thu, 01 Jan 1970 00:00:00 +0000");
		return;
	}
	off = tm.tm_gmtoff / 60;
	if (off < 0) {
		sign = '-';
		off = -off;
	}
	snprintf(out, outlen, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld",
		 day_names[tm.tm_wday], tm.tm_mday, month_names[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign,
		 off / 60, off % 60);
}

static void
put_date_field(struct buf *out, const char *name, time_t t)
{
	char date[64];

	format_date(t, date, sizeof(date));
	buf_printf(out, "%s: %s\r\n", name, date);
}

/* Reads exactly len bytes at off into dst. */
static int
read_at(int fd, off_t off, char *dst, size_t len, char *err, size_t errlen)
{
	size_t done = 0;

	while (done < len) {
		ssize_t got = pread(fd, dst + done, len - done,
				    off + (off_t)done);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			snprintf(err, errlen, "reading the message failed: %s",
				 strerror(errno));
			return -1;
		}
		if (got == 0) {
			snprintf(err, errlen,
				 "the message ends after %zu of %zu bytes",
				 done, len);
			return -1;
		}
		done += (size_t)got;
	}
	return 0;
}

/*
 * Reads the part of the message to return into out: all of it up to
 * return_limit bytes, otherwise the header without its empty line. Sets
 * *whole accordingly.
 */
static int
read_returned(const struct dsn_params *p, struct buf *out, bool *whole,
	      char *err, size_t errlen)
{
	size_t cap, len, end, scanned = 0;

	*whole = p->msg_size <= p->return_limit;
	if (*whole) {
		buf_reserve(out, p->msg_size);
		if (read_at(p->msg_fd, p->msg_offset, out->data, p->msg_size,
			    err, errlen) < 0)
			return -1;
		out->len = p->msg_size;
		return 0;
	}
	cap = p->return_limit > DSN_HEADER_MIN ? p->return_limit
					       : DSN_HEADER_MIN;
	if (cap > p->msg_size)
		cap = p->msg_size;
	/* Read in steps and stop at the empty line that ends the header. */
	end = 0;
	while (out->len < cap) {
		size_t step = cap - out->len < 16384 ? cap - out->len : 16384;
		const char *blank;

		buf_reserve(out, step);
		if (read_at(p->msg_fd, p->msg_offset + (off_t)out->len,
			    out->data + out->len, step, err, errlen) < 0)
			return -1;
		out->len += step;
		if (out->len >= 2 && out->data[0] == '\r' &&
		    out->data[1] == '\n') {
			out->len = 0;
			return 0;
		}
		/* Rescan 3 bytes so a CRLF CRLF across two steps is found. */
		blank = memmem(out->data + scanned, out->len - scanned,
			       "\r\n\r\n", 4);
		if (blank != NULL) {
			out->len = (size_t)(blank - out->data) + 2;
			return 0;
		}
		scanned = out->len > 3 ? out->len - 3 : 0;
	}
	/* No end of header within cap: keep the whole lines read. */
	for (len = out->len; len >= 2; len--)
		if (out->data[len - 2] == '\r' && out->data[len - 1] == '\n') {
			end = len;
			break;
		}
	out->len = end;
	return 0;
}

static bool
has_8bit(const struct buf *b)
{
	for (size_t i = 0; i < b->len; i++)
		if ((unsigned char)b->data[i] >= 0x80)
			return true;
	return false;
}

static void
put_human_part(const struct dsn_params *p, const struct dsn_rcpt *r,
	       size_t n, bool whole, struct buf *out)
{
	struct buf para = BUF_INIT;
	char date[64];

	buf_puts(out, "Content-Type: text/plain; charset=us-ascii\r\n"
		      "Content-Description: Notification\r\n\r\n");
	buf_puts(&para, "This is the mail system at host ");
	put_printable(&para, p->reporting_mta);
	buf_puts(&para, ".");
	put_folded(out, buf_cstr(&para), 0, "");
	buf_puts(out, "\r\n");
	buf_reset(&para);
	if (p->action == DSN_FAILED) {
		buf_printf(&para,
			   "Your message could not be delivered to one or "
			   "more recipients. The details are below, and %s "
			   "attached.",
			   whole ? "the message is" : "its header is");
	} else {
		buf_puts(&para, "Your message has not been delivered yet to "
				"the recipients below. The mail system will "
				"keep trying");
		if (p->retry_until != 0) {
			format_date(p->retry_until, date, sizeof(date));
			buf_printf(&para, " until %s", date);
		}
		buf_puts(&para, ". You do not need to send the message "
				"again.");
	}
	put_folded(out, buf_cstr(&para), 0, "");
	for (size_t i = 0; i < n; i++) {
		struct buf addr = BUF_INIT;
		const char *typed;

		buf_reset(&para);
		put_typed_address(&addr, r[i].final);
		typed = strchr(buf_cstr(&addr), ' ') + 1;
		buf_printf(&para, "<%s>: ", typed);
		if (r[i].remote_mta != NULL) {
			buf_puts(&para, "host ");
			put_printable(&para, r[i].remote_mta);
			buf_puts(&para, " replied: ");
		}
		if (r[i].diagnostic != NULL)
			put_printable(&para, r[i].diagnostic);
		else
			buf_printf(&para, "status %s", r[i].status);
		buf_puts(out, "\r\n");
		put_folded(out, buf_cstr(&para), 0, "    ");
		buf_free(&addr);
	}
	buf_free(&para);
}

static void
put_status_part(const struct dsn_params *p, const struct dsn_rcpt *r,
		size_t n, struct buf *out)
{
	buf_puts(out, "Content-Type: message/delivery-status\r\n"
		      "Content-Description: Delivery report\r\n\r\n");
	if (p->envelope_id != NULL)
		put_field(out, "Original-Envelope-Id", p->envelope_id);
	buf_puts(out, "Reporting-MTA: dns; ");
	put_printable(out, p->reporting_mta);
	buf_puts(out, "\r\n");
	if (p->queue_id != NULL)
		put_field(out, "X-Hapost-Queue-ID", p->queue_id);
	if (p->arrival != 0)
		put_date_field(out, "Arrival-Date", p->arrival);
	for (size_t i = 0; i < n; i++) {
		struct buf typed = BUF_INIT;

		buf_puts(out, "\r\n");
		if (r[i].orig != NULL && r[i].orig[0] != '\0' &&
		    strcmp(r[i].orig, r[i].final) != 0) {
			put_typed_address(&typed, r[i].orig);
			buf_puts(out, "Original-Recipient: ");
			put_folded(out, buf_cstr(&typed), 20, " ");
			buf_reset(&typed);
		}
		put_typed_address(&typed, r[i].final);
		buf_puts(out, "Final-Recipient: ");
		put_folded(out, buf_cstr(&typed), 17, " ");
		buf_free(&typed);
		buf_printf(out, "Action: %s\r\n",
			   p->action == DSN_FAILED ? "failed" : "delayed");
		buf_printf(out, "Status: %s\r\n", r[i].status);
		if (r[i].remote_mta != NULL) {
			buf_puts(out, "Remote-MTA: dns; ");
			put_printable(out, r[i].remote_mta);
			buf_puts(out, "\r\n");
		}
		if (r[i].diagnostic != NULL) {
			struct buf diag = BUF_INIT;

			buf_puts(&diag, "smtp; ");
			put_printable(&diag, r[i].diagnostic);
			put_field(out, "Diagnostic-Code", buf_cstr(&diag));
			buf_free(&diag);
		}
		if (r[i].last_attempt != 0)
			put_date_field(out, "Last-Attempt-Date",
				       r[i].last_attempt);
		if (p->action == DSN_DELAYED && p->retry_until != 0)
			put_date_field(out, "Will-Retry-Until",
				       p->retry_until);
	}
}

static int
random_hex(char *out, size_t bytes)
{
	unsigned char rnd[32];

	if (bytes > sizeof(rnd) || RAND_bytes(rnd, (int)bytes) != 1)
		return -1;
	for (size_t i = 0; i < bytes; i++)
		snprintf(out + 2 * i, 3, "%02x", rnd[i]);
	return 0;
}

/* Appends the letters and digits of id, for a Message-ID. */
static void
put_id_chars(struct buf *out, const char *id)
{
	for (; id != NULL && *id != '\0'; id++)
		if ((*id >= 'A' && *id <= 'Z') || (*id >= 'a' && *id <= 'z') ||
		    (*id >= '0' && *id <= '9'))
			buf_putc(out, *id);
}

static bool
contains(const struct buf *b, const char *s)
{
	return b->len > 0 && memmem(b->data, b->len, s, strlen(s)) != NULL;
}

static int
check_params(const struct dsn_params *p, const struct dsn_rcpt *r, size_t n,
	     char *err, size_t errlen)
{
	if (p->reporting_mta == NULL || p->reporting_mta[0] == '\0' ||
	    p->from == NULL || p->from[0] == '\0') {
		snprintf(err, errlen, "reporting_mta or from is missing");
		return -1;
	}
	if (dsn_suppressed(p->sender)) {
		snprintf(err, errlen,
			 "no report may go to the sender '%s' (null sender or "
			 "mailer-daemon)",
			 p->sender != NULL ? p->sender : "");
		return -1;
	}
	if (n == 0) {
		snprintf(err, errlen, "no recipients to report");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (r[i].final == NULL || r[i].final[0] == '\0') {
			snprintf(err, errlen, "recipient %zu has no address",
				 i + 1);
			return -1;
		}
		if (!status_valid(r[i].status)) {
			snprintf(err, errlen,
				 "recipient %zu has an invalid status code: "
				 "expected C.S.D, as 5.1.1",
				 i + 1);
			return -1;
		}
	}
	return 0;
}

int
dsn_build(const struct dsn_params *p, const struct dsn_rcpt *r, size_t n,
	  struct buf *out, char *err, size_t errlen)
{
	struct buf human = BUF_INIT, status = BUF_INIT, returned = BUF_INIT;
	char boundary[64], hex[33], date[64], delim[80];
	const char *description;
	bool whole, eightbit;
	struct tm tm;
	int ret = -1, tries;

	if (check_params(p, r, n, err, errlen) < 0)
		return -1;
	if (read_returned(p, &returned, &whole, err, errlen) < 0)
		goto out;
	eightbit = has_8bit(&returned);
	put_human_part(p, r, n, whole, &human);
	put_status_part(p, r, n, &status);

	for (tries = 0; tries < BOUNDARY_TRIES; tries++) {
		if (random_hex(hex, 12) < 0) {
			snprintf(err, errlen, "RAND_bytes failed");
			goto out;
		}
		snprintf(boundary, sizeof(boundary), "=_hapost_%s", hex);
		snprintf(delim, sizeof(delim), "--%s", boundary);
		if (!contains(&human, delim) && !contains(&status, delim) &&
		    !contains(&returned, delim))
			break;
	}
	if (tries == BOUNDARY_TRIES) {
		snprintf(err, errlen, "no boundary found that the message "
				      "does not contain");
		goto out;
	}

	buf_printf(out, "From: Mail Delivery System <");
	put_printable(out, p->from);
	buf_puts(out, ">\r\n");
	buf_puts(out, "To: <");
	for (const char *q = p->sender; *q != '\0'; q++) {
		unsigned char c = (unsigned char)*q;

		/* UTF-8 stays (RFC 6532); no control byte may end the line. */
		buf_putc(out, c < 0x20 || c == 0x7f ? '?' : (char)c);
	}
	buf_puts(out, ">\r\n");
	buf_printf(out, "Subject: %s\r\n",
		   p->action == DSN_FAILED
			   ? "Undelivered Mail Returned to Sender"
			   : "Delayed Mail (still being retried)");
	format_date(p->now, date, sizeof(date));
	buf_printf(out, "Date: %s\r\n", date);
	if (random_hex(hex, 8) < 0) {
		snprintf(err, errlen, "RAND_bytes failed");
		goto out;
	}
	if (localtime_r(&p->now, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	buf_printf(out, "Message-ID: <%04d%02d%02d%02d%02d%02d.",
		   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		   tm.tm_min, tm.tm_sec);
	put_id_chars(out, p->queue_id);
	buf_printf(out, ".%s@", hex);
	put_printable(out, p->reporting_mta);
	buf_puts(out, ">\r\n");
	buf_puts(out, "Auto-Submitted: auto-replied\r\n"
		      "MIME-Version: 1.0\r\n"
		      "Content-Type: multipart/report; "
		      "report-type=delivery-status;\r\n");
	buf_printf(out, "\tboundary=\"%s\"\r\n", boundary);
	if (eightbit)
		buf_puts(out, "Content-Transfer-Encoding: 8bit\r\n");
	buf_puts(out, "\r\nThis is a MIME-encapsulated message.\r\n\r\n");

	buf_printf(out, "%s\r\n", delim);
	buf_append(out, human.data, human.len);
	buf_printf(out, "\r\n%s\r\n", delim);
	buf_append(out, status.data, status.len);
	buf_printf(out, "\r\n%s\r\n", delim);
	buf_printf(out, "Content-Type: %s\r\n",
		   whole ? "message/rfc822" : "text/rfc822-headers");
	if (p->action == DSN_DELAYED)
		description = whole ? "Delayed message"
				    : "Delayed message header";
	else
		description = whole ? "Undelivered message"
				    : "Undelivered message header";
	buf_printf(out, "Content-Description: %s\r\n", description);
	if (eightbit)
		buf_puts(out, "Content-Transfer-Encoding: 8bit\r\n");
	buf_puts(out, "\r\n");
	buf_append(out, returned.data, returned.len);
	buf_printf(out, "\r\n%s--\r\n", delim);
	ret = 0;
out:
	buf_free(&human);
	buf_free(&status);
	buf_free(&returned);
	return ret;
}
