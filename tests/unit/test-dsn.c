/*
 * Unit tests for delivery status notifications. Each report is parsed
 * back: CRLF line ends and line lengths, the top-level header, the
 * multipart/report structure and its boundary, the per-message and
 * per-recipient fields (unfolded), and the returned message or header
 * byte for byte. A replaced RAND method forces boundary collisions.
 */
#include "config.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/rand.h>

#include "buf.h"
#include "dsn.h"
#include "fsutil.h"

#define HOST "mx.example.org"
#define PREFIX "QUEUE-FILE-HEADER\n"
#define TRAILER "TRAILING-RECORDS"

static const char message[] = "Received: from client.example.net\r\n"
			      "From: Alice <alice@example.net>\r\n"
			      "To: bob@example.org\r\n"
			      "Subject: hello\r\n"
			      "\r\n"
			      "Hello Bob.\r\n"
			      "--=_hapost_ is not our boundary\r\n";

/* 2024-07-01 12:00:00 UTC, 14:00 in Europe/Berlin. */
#define NOW ((time_t)1719835200)

struct fixture {
	char path[64];
	int fd;
	size_t size;
	struct dsn_params p;
	struct buf out;
	char err[512];
};

/* Writes PREFIX, the message and TRAILER to a file and sets up params. */
static void
fixture_message(struct fixture *fx, const char *msg, size_t len)
{
	struct buf file = BUF_INIT;

	if (fx->fd >= 0)
		close(fx->fd);
	buf_puts(&file, PREFIX);
	buf_append(&file, msg, len);
	buf_puts(&file, TRAILER);
	assert_int_equal(write_file_atomic(fx->path, file.data, file.len, 0600),
			 0);
	buf_free(&file);
	fx->fd = open(fx->path, O_RDONLY);
	assert_true(fx->fd >= 0);
	fx->size = len;
	fx->p.msg_fd = fx->fd;
	fx->p.msg_offset = (off_t)strlen(PREFIX);
	fx->p.msg_size = len;
}

static int
setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	int fd;

	setenv("TZ", "Europe/Berlin", 1);
	tzset();
	snprintf(fx->path, sizeof(fx->path), "/tmp/hapost-test-dsn-XXXXXX");
	fd = mkstemp(fx->path);
	assert_true(fd >= 0);
	close(fd);
	fx->fd = -1;
	fx->p.action = DSN_FAILED;
	fx->p.reporting_mta = HOST;
	fx->p.queue_id = "0123456789AB";
	fx->p.arrival = NOW - 3600;
	fx->p.retry_until = NOW + 4 * 86400;
	fx->p.sender = "alice@example.net";
	fx->p.from = "MAILER-DAEMON@" HOST;
	fx->p.return_limit = 1 << 20;
	fx->p.now = NOW;
	fixture_message(fx, message, sizeof(message) - 1);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *fx = *state;

	if (fx->fd >= 0)
		close(fx->fd);
	unlink(fx->path);
	buf_free(&fx->out);
	free(fx);
	return 0;
}

/* The parsed report. Strings are unfolded, without CRLF. */
struct field {
	char name[64];
	char *value;
};

struct fields {
	struct field v[32];
	size_t n;
};

struct part {
	struct fields header;
	const char *body;
	size_t body_len;
};

struct report {
	struct fields header;
	char boundary[128];
	struct part parts[3];
	struct fields per_message;
	struct fields per_rcpt[8];
	size_t nrcpts;
};

static void
fields_free(struct fields *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->v[i].value);
	f->n = 0;
}

static void
report_free(struct report *r)
{
	fields_free(&r->header);
	for (int i = 0; i < 3; i++)
		fields_free(&r->parts[i].header);
	fields_free(&r->per_message);
	for (size_t i = 0; i < r->nrcpts; i++)
		fields_free(&r->per_rcpt[i]);
}

static const char *
field_get(const struct fields *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcasecmp(f->v[i].name, name) == 0)
			return f->v[i].value;
	return NULL;
}

static size_t
field_count(const struct fields *f, const char *name)
{
	size_t count = 0;

	for (size_t i = 0; i < f->n; i++)
		if (strcasecmp(f->v[i].name, name) == 0)
			count++;
	return count;
}

/*
 * Parses header fields from s[0..len) (CRLF lines, no empty line) into f,
 * unfolding continuation lines (a CRLF before a blank is dropped).
 */
static void
parse_fields(const char *s, size_t len, struct fields *f)
{
	size_t pos = 0;

	while (pos < len) {
		const char *colon;
		struct buf value = BUF_INIT;
		size_t end;

		assert_true(f->n < 32);
		end = pos;
		while (end < len) {
			const char *crlf;

			crlf = memmem(s + end, len - end, "\r\n", 2);

			assert_non_null(crlf);
			end = (size_t)(crlf - s) + 2;
			if (end >= len || (s[end] != ' ' && s[end] != '\t'))
				break;
		}
		colon = memchr(s + pos, ':', end - pos);
		assert_non_null(colon);
		assert_true((size_t)(colon - (s + pos)) < 64);
		memcpy(f->v[f->n].name, s + pos, (size_t)(colon - (s + pos)));
		f->v[f->n].name[colon - (s + pos)] = '\0';
		for (const char *c = colon + 1; c < s + end - 2; c++) {
			if (c[0] == '\r' && c[1] == '\n') {
				c++;
				continue;
			}
			buf_putc(&value, *c);
		}
		{
			const char *v = buf_cstr(&value);

			while (*v == ' ' || *v == '\t')
				v++;
			f->v[f->n].value = strdup(v);
		}
		buf_free(&value);
		f->n++;
		pos = end;
	}
}

/* Splits s at its first empty line into header fields and body. */
static void
parse_entity(const char *s, size_t len, struct fields *f, const char **body,
	     size_t *body_len)
{
	const char *blank;

	if (len >= 2 && s[0] == '\r' && s[1] == '\n') {
		*body = s + 2;
		*body_len = len - 2;
		return;
	}
	blank = memmem(s, len, "\r\n\r\n", 4);
	assert_non_null(blank);
	parse_fields(s, (size_t)(blank - s) + 2, f);
	*body = blank + 4;
	*body_len = len - (size_t)(*body - s);
}

static void
check_lines(const struct buf *b)
{
	size_t line = 0;

	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\n')
			fail_msg("bare LF at offset %zu", i);
		if (b->data[i] == '\r') {
			if (i + 1 >= b->len || b->data[i + 1] != '\n')
				fail_msg("bare CR at offset %zu", i);
			i++;
			line = 0;
			continue;
		}
		if (++line >= 998)
			fail_msg("line of 998 octets at offset %zu", i);
	}
	assert_true(b->len >= 2);
	assert_memory_equal(b->data + b->len - 2, "\r\n", 2);
}

/* Parses a whole report and checks its structure. */
static void
parse_report(const struct buf *b, struct report *r)
{
	const char *body, *ct, *bstart, *p;
	size_t body_len, rest;
	char delim[160], close_delim[170];

	memset(r, 0, sizeof(*r));
	check_lines(b);
	parse_entity(b->data, b->len, &r->header, &body, &body_len);
	ct = field_get(&r->header, "Content-Type");
	assert_non_null(ct);
	assert_non_null(strstr(ct, "multipart/report;"));
	assert_non_null(strstr(ct, "report-type=delivery-status"));
	bstart = strstr(ct, "boundary=\"");
	assert_non_null(bstart);
	bstart += strlen("boundary=\"");
	assert_true(strcspn(bstart, "\"") < sizeof(r->boundary));
	memcpy(r->boundary, bstart, strcspn(bstart, "\""));
	assert_true(strlen(r->boundary) > 0 && strlen(r->boundary) <= 70);
	snprintf(delim, sizeof(delim), "--%s\r\n", r->boundary);
	snprintf(close_delim, sizeof(close_delim), "\r\n--%s--\r\n",
		 r->boundary);

	/* Preamble, then exactly three parts and the close delimiter. */
	p = memmem(body, body_len, delim, strlen(delim));
	assert_non_null(p);
	assert_true(p == body || p[-1] == '\n');
	p += strlen(delim);
	rest = body_len - (size_t)(p - body);
	for (int i = 0; i < 3; i++) {
		char next[170];
		const char *end;

		snprintf(next, sizeof(next), "\r\n--%s", r->boundary);
		end = memmem(p, rest, next, strlen(next));
		assert_non_null(end);
		parse_entity(p, (size_t)(end - p), &r->parts[i].header,
			     &r->parts[i].body, &r->parts[i].body_len);
		if (i < 2) {
			assert_memory_equal(end + strlen(next), "\r\n", 2);
			p = end + strlen(next) + 2;
		} else {
			assert_int_equal(rest - (size_t)(end - p),
					 strlen(close_delim));
			assert_memory_equal(end, close_delim,
					    strlen(close_delim));
		}
		rest = body_len - (size_t)(p - body);
	}
	assert_string_equal(field_get(&r->parts[0].header, "Content-Type"),
			    "text/plain; charset=us-ascii");
	assert_string_equal(field_get(&r->parts[1].header, "Content-Type"),
			    "message/delivery-status");

	/* The delivery-status body: blocks of fields split by empty lines. */
	{
		const char *s = r->parts[1].body;
		size_t len = r->parts[1].body_len, pos = 0;
		int block = 0;

		while (pos < len) {
			const char *blank = memmem(s + pos, len - pos,
						   "\r\n\r\n", 4);
			size_t end = blank != NULL
					     ? (size_t)(blank - s) + 2
					     : len;

			assert_true(r->nrcpts < 8);
			parse_fields(s + pos, end - pos,
				     block == 0 ? &r->per_message
						: &r->per_rcpt[r->nrcpts++]);
			block++;
			pos = blank != NULL ? end + 2 : len;
		}
	}
}

/*
 * True when the part's body contains text once every run of blanks and
 * line ends in the body counts as one blank, as wrapping leaves them.
 */
static bool
part_says(const struct part *part, const char *text)
{
	char *flat = malloc(part->body_len + 1);
	size_t n = 0;
	bool found;

	for (size_t i = 0; i < part->body_len; i++) {
		char c = part->body[i];

		if (c == '\r' || c == '\n' || c == ' ') {
			if (n > 0 && flat[n - 1] == ' ')
				continue;
			c = ' ';
		}
		flat[n++] = c;
	}
	flat[n] = '\0';
	found = strstr(flat, text) != NULL;
	free(flat);
	return found;
}

static int
build(struct fixture *fx, const struct dsn_rcpt *r, size_t n)
{
	buf_reset(&fx->out);
	fx->err[0] = '\0';
	return dsn_build(&fx->p, r, n, &fx->out, fx->err, sizeof(fx->err));
}

static void
build_ok(struct fixture *fx, const struct dsn_rcpt *r, size_t n,
	 struct report *rep)
{
	if (build(fx, r, n) != 0)
		fail_msg("dsn_build failed: %s", fx->err);
	parse_report(&fx->out, rep);
}

static const struct dsn_rcpt two_rcpts[] = {
	{"Bob@example.org", "bob@example.org", "5.1.1", "mx.example.org",
	 "550 5.1.1 <bob@example.org>: No such user", NOW - 60},
	{NULL, "carol@example.com", "5.4.4", NULL, NULL, 0},
};

static void
dsn_bounce_whole_message(void **state)
{
	struct fixture *fx = *state;
	struct report rep;
	const struct fields *h;
	const char *v;

	build_ok(fx, two_rcpts, 2, &rep);
	h = &rep.header;
	assert_string_equal(field_get(h, "From"),
			    "Mail Delivery System <MAILER-DAEMON@" HOST ">");
	assert_string_equal(field_get(h, "To"), "<alice@example.net>");
	assert_string_equal(field_get(h, "Subject"),
			    "Undelivered Mail Returned to Sender");
	assert_string_equal(field_get(h, "Date"),
			    "Mon, 01 Jul 2024 14:00:00 +0200");
	v = field_get(h, "Message-ID");
	assert_non_null(v);
	assert_int_equal(strncmp(v, "<20240701140000.0123456789AB.", 29), 0);
	assert_string_equal(v + strlen(v) - strlen("@" HOST ">"), "@" HOST ">");
	assert_string_equal(field_get(h, "Auto-Submitted"), "auto-replied");
	assert_string_equal(field_get(h, "MIME-Version"), "1.0");
	assert_null(field_get(h, "Content-Transfer-Encoding"));
	assert_int_equal(field_count(h, "From"), 1);
	assert_int_equal(field_count(h, "Date"), 1);

	/* The readable part names each recipient. */
	assert_true(part_says(&rep.parts[0], "This is the mail system at "
					     "host mx.example.org."));
	assert_true(part_says(&rep.parts[0], "the message is attached"));
	assert_true(part_says(&rep.parts[0],
			      "<bob@example.org>: host mx.example.org "
			      "replied: 550 5.1.1 <bob@example.org>: No such "
			      "user"));
	assert_true(
		part_says(&rep.parts[0], "<carol@example.com>: status 5.4.4"));

	/* Per-message fields. */
	assert_string_equal(field_get(&rep.per_message, "Reporting-MTA"),
			    "dns; " HOST);
	assert_string_equal(field_get(&rep.per_message, "X-Hapost-Queue-ID"),
			    "0123456789AB");
	assert_string_equal(field_get(&rep.per_message, "Arrival-Date"),
			    "Mon, 01 Jul 2024 13:00:00 +0200");
	assert_null(field_get(&rep.per_message, "Original-Envelope-Id"));
	assert_int_equal(rep.per_message.n, 3);

	/* Per-recipient fields, in the order of RFC 3464. */
	assert_int_equal(rep.nrcpts, 2);
	h = &rep.per_rcpt[0];
	assert_string_equal(h->v[0].name, "Original-Recipient");
	assert_string_equal(h->v[0].value, "rfc822; Bob@example.org");
	assert_string_equal(h->v[1].name, "Final-Recipient");
	assert_string_equal(h->v[1].value, "rfc822; bob@example.org");
	assert_string_equal(field_get(h, "Action"), "failed");
	assert_string_equal(field_get(h, "Status"), "5.1.1");
	assert_string_equal(field_get(h, "Remote-MTA"), "dns; mx.example.org");
	assert_string_equal(field_get(h, "Diagnostic-Code"),
			    "smtp; 550 5.1.1 <bob@example.org>: No such user");
	assert_string_equal(field_get(h, "Last-Attempt-Date"),
			    "Mon, 01 Jul 2024 13:59:00 +0200");
	assert_null(field_get(h, "Will-Retry-Until"));
	h = &rep.per_rcpt[1];
	assert_string_equal(h->v[0].name, "Final-Recipient");
	assert_string_equal(h->v[0].value, "rfc822; carol@example.com");
	assert_null(field_get(h, "Original-Recipient"));
	assert_null(field_get(h, "Remote-MTA"));
	assert_null(field_get(h, "Diagnostic-Code"));
	assert_null(field_get(h, "Last-Attempt-Date"));
	assert_string_equal(field_get(h, "Status"), "5.4.4");

	/* The message comes back whole, without the bytes around it. */
	assert_string_equal(field_get(&rep.parts[2].header, "Content-Type"),
			    "message/rfc822");
	assert_int_equal(rep.parts[2].body_len, fx->size);
	assert_memory_equal(rep.parts[2].body, message, fx->size);
	assert_null(memmem(rep.parts[2].body, rep.parts[2].body_len,
			   rep.boundary, strlen(rep.boundary)));
	report_free(&rep);
}

static void
dsn_delay_warning_fields(void **state)
{
	struct fixture *fx = *state;
	static const struct dsn_rcpt r = {
		NULL,
		"bob@example.org",
		"4.4.1",
		"mx.example.org",
		"connect to mx.example.org: timed out",
		NOW - 600,
	};
	struct report rep;

	fx->p.action = DSN_DELAYED;
	fx->p.envelope_id = "ENV-42";
	build_ok(fx, &r, 1, &rep);
	assert_string_equal(field_get(&rep.header, "Subject"),
			    "Delayed Mail (still being retried)");
	assert_string_equal(rep.per_message.v[0].name, "Original-Envelope-Id");
	assert_string_equal(rep.per_message.v[0].value, "ENV-42");
	assert_string_equal(rep.per_message.v[1].name, "Reporting-MTA");
	assert_string_equal(field_get(&rep.per_rcpt[0], "Action"), "delayed");
	assert_string_equal(field_get(&rep.per_rcpt[0], "Status"), "4.4.1");
	assert_string_equal(field_get(&rep.per_rcpt[0], "Will-Retry-Until"),
			    "Fri, 05 Jul 2024 14:00:00 +0200");
	assert_true(part_says(&rep.parts[0],
			      "keep trying until Fri, 05 Jul 2024 14:00:00 "
			      "+0200. You do not need to send"));
	assert_string_equal(field_get(&rep.parts[2].header,
				      "Content-Description"),
			    "Delayed message");
	report_free(&rep);
}

static void
dsn_header_only_beyond_limit(void **state)
{
	struct fixture *fx = *state;
	struct buf big = BUF_INIT;
	const char *header = "From: alice@example.net\r\n"
			     "Subject: big\r\n";
	struct report rep;

	buf_puts(&big, header);
	buf_puts(&big, "\r\n");
	for (int i = 0; i < 5000; i++)
		buf_puts(&big, "0123456789 body line of the big message\r\n");
	fixture_message(fx, big.data, big.len);
	fx->p.return_limit = 1000;
	build_ok(fx, two_rcpts, 2, &rep);
	assert_string_equal(field_get(&rep.parts[2].header, "Content-Type"),
			    "text/rfc822-headers");
	assert_int_equal(rep.parts[2].body_len, strlen(header));
	assert_memory_equal(rep.parts[2].body, header, strlen(header));
	assert_true(part_says(&rep.parts[0], "its header is attached"));
	report_free(&rep);

	/* One byte more than the limit is enough; at the limit, all of it. */
	fx->p.return_limit = big.len - 1;
	build_ok(fx, two_rcpts, 2, &rep);
	assert_string_equal(field_get(&rep.parts[2].header, "Content-Type"),
			    "text/rfc822-headers");
	report_free(&rep);
	fx->p.return_limit = big.len;
	build_ok(fx, two_rcpts, 2, &rep);
	assert_string_equal(field_get(&rep.parts[2].header, "Content-Type"),
			    "message/rfc822");
	assert_int_equal(rep.parts[2].body_len, big.len);
	report_free(&rep);
	buf_free(&big);
}

static void
dsn_header_end_across_reads(void **state)
{
	struct fixture *fx = *state;
	struct buf msg = BUF_INIT;
	struct report rep;
	size_t header_len;

	/*
	 * Header lines so that CRLF CRLF starts 3 bytes before the end of
	 * the first 16384-byte read and ends in the second.
	 */
	while (msg.len + 37 <= 16372 - 20)
		buf_puts(&msg, "X-Filler: 0123456789012345678901234\r\n");
	while (msg.len < 16372)
		buf_putc(&msg, 'x');
	buf_puts(&msg, "X-Last: y\r\n");
	header_len = msg.len;
	assert_int_equal(header_len, 16383);
	buf_puts(&msg, "\r\n");
	while (msg.len < 100000)
		buf_puts(&msg, "body body body\r\n");
	fixture_message(fx, msg.data, msg.len);
	fx->p.return_limit = 100;
	build_ok(fx, two_rcpts, 1, &rep);
	assert_int_equal(rep.parts[2].body_len, header_len);
	assert_memory_equal(rep.parts[2].body, msg.data, header_len);
	report_free(&rep);
	buf_free(&msg);
}

static void
dsn_header_without_end(void **state)
{
	struct fixture *fx = *state;
	struct buf msg = BUF_INIT;
	struct report rep;

	/* A header with no empty line, longer than DSN_HEADER_MIN. */
	while (msg.len < DSN_HEADER_MIN + 5000)
		buf_puts(&msg, "X-Long: abcdefghijklmnopqrstuvwxyz\r\n");
	fixture_message(fx, msg.data, msg.len);
	fx->p.return_limit = 10;
	build_ok(fx, two_rcpts, 1, &rep);
	assert_true(rep.parts[2].body_len <= DSN_HEADER_MIN);
	assert_true(rep.parts[2].body_len > DSN_HEADER_MIN - 100);
	assert_memory_equal(rep.parts[2].body, msg.data,
			    rep.parts[2].body_len);
	assert_memory_equal(rep.parts[2].body + rep.parts[2].body_len - 2,
			    "\r\n", 2);
	report_free(&rep);

	/* A message that starts with its empty line has an empty header. */
	fixture_message(fx, "\r\nbody only\r\n", 13);
	fx->p.return_limit = 5;
	build_ok(fx, two_rcpts, 1, &rep);
	assert_int_equal(rep.parts[2].body_len, 0);
	report_free(&rep);
	buf_free(&msg);
}

static void
dsn_long_diagnostic_folded(void **state)
{
	struct fixture *fx = *state;
	struct buf words = BUF_INIT, one = BUF_INIT, want = BUF_INIT;
	struct dsn_rcpt r[2] = {
		{NULL, "a@example.org", "5.0.0", "mx.example.org", NULL, 0},
		{NULL, "b@example.org", "5.0.0", "mx.example.org", NULL, 0},
	};
	struct report rep;
	const char *v;
	size_t j = 0;

	for (int i = 0; i < 400; i++)
		buf_printf(&words, "word%d ", i);
	buf_puts(&words, "end");
	for (int i = 0; i < 3000; i++)
		buf_putc(&one, (char)('a' + i % 26));
	r[0].diagnostic = buf_cstr(&words);
	r[1].diagnostic = buf_cstr(&one);
	build_ok(fx, r, 2, &rep);
	buf_printf(&want, "smtp; %s", words.data);
	assert_string_equal(field_get(&rep.per_rcpt[0], "Diagnostic-Code"),
			    want.data);
	/* The long word is split, so unfolding adds blanks only. */
	v = field_get(&rep.per_rcpt[1], "Diagnostic-Code");
	assert_int_equal(strncmp(v, "smtp; ", 6), 0);
	for (v += 6; *v != '\0'; v++) {
		if (*v == ' ')
			continue;
		assert_int_equal(*v, one.data[j]);
		j++;
	}
	assert_int_equal(j, one.len);
	report_free(&rep);
	buf_free(&words);
	buf_free(&one);
	buf_free(&want);
}

static void
dsn_non_ascii_replaced(void **state)
{
	struct fixture *fx = *state;
	static const struct dsn_rcpt r[] = {
		{"J\xc3\xb6rg+x=y@example.org", "j\xc3\xb6rg@example.org",
		 "5.1.1", "mx\xff.example.org",
		 "550 Benutzer m\xc3\xbcller\r\nX-Injected: 1\tunbekannt\x01",
		 0},
		{NULL, "a+b=c@example.org", "5.1.1", NULL, NULL, 0},
		{NULL, "bad\xff\xfe@example.org", "5.1.1", NULL, NULL, 0},
	};
	struct report rep;

	build_ok(fx, r, 3, &rep);
	assert_string_equal(field_get(&rep.per_rcpt[0], "Diagnostic-Code"),
			    "smtp; 550 Benutzer m?ller??X-Injected: 1 "
			    "unbekannt?");
	assert_string_equal(field_get(&rep.per_rcpt[0], "Remote-MTA"),
			    "dns; mx?.example.org");
	assert_string_equal(field_get(&rep.per_rcpt[0], "Original-Recipient"),
			    "utf-8; J\\x{F6}rg\\x{2B}x\\x{3D}y@example.org");
	assert_string_equal(field_get(&rep.per_rcpt[0], "Final-Recipient"),
			    "utf-8; j\\x{F6}rg@example.org");
	/* An ASCII address keeps '+' and '=' as the rfc822 type. */
	assert_string_equal(field_get(&rep.per_rcpt[1], "Final-Recipient"),
			    "rfc822; a+b=c@example.org");
	assert_string_equal(field_get(&rep.per_rcpt[2], "Final-Recipient"),
			    "utf-8; bad\\x{FFFD}\\x{FFFD}@example.org");
	assert_null(field_get(&rep.per_rcpt[0], "X-Injected"));
	/* Only the returned message could hold 8-bit data, and it has none. */
	for (int i = 0; i < 2; i++)
		for (size_t k = 0; k < rep.parts[i].body_len; k++)
			assert_true((unsigned char)rep.parts[i].body[k] < 0x80);
	report_free(&rep);
}

static void
dsn_eight_bit_message_marked(void **state)
{
	struct fixture *fx = *state;
	static const char msg8[] = "Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\r\n"
				   "\r\n"
				   "Gr\xc3\xbc\xc3\x9f"
				   "e\r\n";
	struct report rep;

	fixture_message(fx, msg8, sizeof(msg8) - 1);
	build_ok(fx, two_rcpts, 1, &rep);
	assert_string_equal(field_get(&rep.header, "Content-Transfer-Encoding"),
			    "8bit");
	assert_string_equal(field_get(&rep.parts[2].header,
				      "Content-Transfer-Encoding"),
			    "8bit");
	assert_memory_equal(rep.parts[2].body, msg8, sizeof(msg8) - 1);
	report_free(&rep);
}

static void
dsn_utf8_sender_kept(void **state)
{
	struct fixture *fx = *state;
	struct report rep;

	fx->p.sender = "j\xc3\xb6rg@example.net";
	build_ok(fx, two_rcpts, 1, &rep);
	assert_string_equal(field_get(&rep.header, "To"),
			    "<j\xc3\xb6rg@example.net>");
	report_free(&rep);
	fx->p.sender = "evil@example.net>\r\nBcc: x@example.com";
	build_ok(fx, two_rcpts, 1, &rep);
	assert_null(field_get(&rep.header, "Bcc"));
	report_free(&rep);
}

/* A RAND method that returns bytes of one value, to force collisions. */
static unsigned char rand_fill;
static int rand_calls;

static int
fixed_bytes(unsigned char *buf, int num)
{
	memset(buf, rand_fill, (size_t)num);
	if (++rand_calls == 1 && rand_fill == 0x11)
		rand_fill = 0x22;
	return 1;
}

static int
fixed_status(void)
{
	return 1;
}

static const RAND_METHOD fixed_rand = {
	.bytes = fixed_bytes,
	.status = fixed_status,
};

static void
dsn_boundary_avoids_collision(void **state)
{
	struct fixture *fx = *state;
	struct buf msg = BUF_INIT;
	struct report rep;
	const char *first = "=_hapost_111111111111111111111111";

	buf_printf(&msg, "Subject: x\r\n\r\n--%s\r\n", first);
	fixture_message(fx, msg.data, msg.len);
	rand_fill = 0x11;
	rand_calls = 0;
	assert_int_equal(RAND_set_rand_method(&fixed_rand), 1);
	build_ok(fx, two_rcpts, 1, &rep);
	assert_string_equal(rep.boundary, "=_hapost_222222222222222222222222");
	assert_memory_equal(rep.parts[2].body, msg.data, msg.len);
	report_free(&rep);

	/* When every try collides, the build fails. */
	rand_fill = 0x33;
	buf_reset(&msg);
	buf_printf(&msg, "Subject: x\r\n\r\n--=_hapost_%s\r\n",
		   "333333333333333333333333");
	fixture_message(fx, msg.data, msg.len);
	assert_int_equal(build(fx, two_rcpts, 1), -1);
	assert_non_null(strstr(fx->err, "no boundary found"));
	RAND_set_rand_method(NULL);
	buf_free(&msg);
}

static void
dsn_boundary_differs_each_time(void **state)
{
	struct fixture *fx = *state;
	struct report a, b;

	build_ok(fx, two_rcpts, 1, &a);
	build_ok(fx, two_rcpts, 1, &b);
	assert_string_not_equal(a.boundary, b.boundary);
	assert_string_not_equal(field_get(&a.header, "Message-ID"),
				field_get(&b.header, "Message-ID"));
	report_free(&a);
	report_free(&b);
}

static void
dsn_bad_input_rejected(void **state)
{
	struct fixture *fx = *state;
	struct dsn_rcpt r = two_rcpts[0];
	static const char *const bad_status[] = {
		"5.1", "6.0.0", "5.1.1000", "5..1", "5.1.1 ", "", "x.1.1",
	};

	assert_int_equal(build(fx, &r, 0), -1);
	assert_non_null(strstr(fx->err, "no recipients"));
	for (size_t i = 0; i < sizeof(bad_status) / sizeof(bad_status[0]);
	     i++) {
		r.status = bad_status[i];
		assert_int_equal(build(fx, &r, 1), -1);
		assert_non_null(strstr(fx->err, "invalid status code"));
	}
	r.status = NULL;
	assert_int_equal(build(fx, &r, 1), -1);
	r = two_rcpts[0];
	r.final = NULL;
	assert_int_equal(build(fx, &r, 1), -1);
	assert_non_null(strstr(fx->err, "recipient 1 has no address"));
	r = two_rcpts[0];
	fx->p.sender = "";
	assert_int_equal(build(fx, &r, 1), -1);
	assert_non_null(strstr(fx->err, "no report may go to the sender"));
	fx->p.sender = "MAILER-DAEMON@example.net";
	assert_int_equal(build(fx, &r, 1), -1);
	fx->p.sender = "alice@example.net";

	/* A message file shorter than msg_size. */
	fx->p.msg_size = fx->size + strlen(TRAILER) + 10;
	assert_int_equal(build(fx, &r, 1), -1);
	assert_non_null(strstr(fx->err, "the message ends after"));
	fx->p.msg_fd = -1;
	assert_int_equal(build(fx, &r, 1), -1);
	assert_non_null(strstr(fx->err, "reading the message failed"));
	assert_int_equal(fx->out.len, 0);
}

static void
dsn_suppressed_senders(void **state)
{
	static const char *const yes[] = {
		"", "<>", "MAILER-DAEMON@example.org", "mailer-daemon",
		"Mailer-Daemon@X.example", "MAILER-DAEMON@",
	};
	static const char *const no[] = {
		"mailer-daemon2@example.org", "bob@mailer-daemon.example",
		"postmaster@example.org", "xmailer-daemon@example.org",
		"mailer@example.org",
	};

	assert_true(dsn_suppressed(NULL));
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (!dsn_suppressed(yes[i]))
			fail_msg("'%s' is not suppressed", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (dsn_suppressed(no[i]))
			fail_msg("'%s' is suppressed", no[i]);
}

static void
dsn_default_status_codes(void **state)
{
	static const struct {
		int code;
		const char *what;
		const char *want;
	} cases[] = {
		{0, "unreachable", "4.4.1"}, {421, "unreachable", "4.4.1"},
		{0, "tempfail", "4.0.0"},    {451, "tempfail", "4.0.0"},
		{554, "tempfail", "5.0.0"},  {0, "permfail", "5.0.0"},
		{550, "permfail", "5.0.0"},  {450, "permfail", "4.0.0"},
		{0, "dns", "4.4.3"},	     {0, "no-domain", "5.1.2"},
		{0, "no-mx", "5.4.4"},	     {450, "no-mx", "4.4.4"},
		{0, "null-mx", "5.1.10"},    {0, "expired", "4.4.7"},
		{0, "tls", "4.7.5"},	     {454, "tls", "4.7.5"},
		{554, "tls", "5.7.5"},	     {552, "too-big", "5.3.4"},
		{0, "too-big", "5.3.4"},     {553, "utf8", "5.6.7"},
		{0, "utf8", "5.6.7"},	     {0, "bogus", "4.0.0"},
		{550, "bogus", "5.0.0"},     {0, NULL, "4.0.0"},
		{600, "permfail", "5.0.0"},  {399, "tempfail", "4.0.0"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = dsn_default_status(cases[i].code,
						     cases[i].what);

		if (strcmp(got, cases[i].want) != 0)
			fail_msg("%d %s: got %s, expected %s", cases[i].code,
				 cases[i].what ? cases[i].what : "(null)", got,
				 cases[i].want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(dsn_bounce_whole_message, setup,
						teardown),
		cmocka_unit_test_setup_teardown(dsn_delay_warning_fields, setup,
						teardown),
		cmocka_unit_test_setup_teardown(dsn_header_only_beyond_limit,
						setup, teardown),
		cmocka_unit_test_setup_teardown(dsn_header_end_across_reads,
						setup, teardown),
		cmocka_unit_test_setup_teardown(dsn_header_without_end, setup,
						teardown),
		cmocka_unit_test_setup_teardown(dsn_long_diagnostic_folded,
						setup, teardown),
		cmocka_unit_test_setup_teardown(dsn_non_ascii_replaced, setup,
						teardown),
		cmocka_unit_test_setup_teardown(dsn_eight_bit_message_marked,
						setup, teardown),
		cmocka_unit_test_setup_teardown(dsn_utf8_sender_kept, setup,
						teardown),
		cmocka_unit_test_setup_teardown(dsn_boundary_avoids_collision,
						setup, teardown),
		cmocka_unit_test_setup_teardown(dsn_boundary_differs_each_time,
						setup, teardown),
		cmocka_unit_test_setup_teardown(dsn_bad_input_rejected, setup,
						teardown),
		cmocka_unit_test(dsn_suppressed_senders),
		cmocka_unit_test(dsn_default_status_codes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
