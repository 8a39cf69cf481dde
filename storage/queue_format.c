/*
 * queue_format - the envelope header and the status records
 *
 * Envelope header, at the start of queue/messages/ID. Lines end in LF
 * and hold a key, one space and a value:
 *
 *   hapost-queue 1
 *   id 0190A3F2C4D51A2B
 *   arrival 1718000000                 seconds since the epoch
 *   sender alice@example.org           empty value for the null sender
 *   client-ip 192.0.2.7
 *   helo mail.example.org
 *   auth-user alice@example.org        only when the client authenticated
 *   body-8bit 0                        0 or 1
 *   smtputf8 0                         0 or 1
 *   rcpt bob@example.org Bob@Example.org   final address, then RCPT TO
 *   size 00000000000000004711          message octets, 20 digits
 *   end
 *                                      an empty line, then the message
 *
 * Every text value is escaped: bytes outside 0x21..0x7e and '%' become
 * %XX (upper-case hex), so a value never contains a space or a line end
 * and any byte survives except NUL, CR and LF, which the writer rejects
 * and the parser refuses to decode. "rcpt" lines repeat, one per
 * recipient in RCPT order; every other key appears once. The size is
 * written as zeros first and filled in when the entry is committed, and
 * the reader checks that the file holds exactly that many bytes after the
 * header, so a truncated file is detected.
 *
 * Status records, appended to queue/status/ID, one per line:
 *
 *   INDEX STATE NEXT [ERROR [DSN RELAY]]
 *   INDEX NOTICE 0
 *
 * INDEX is the recipient's position (0-based), STATE one of "delivered",
 * "failed" or "deferred", NEXT the time of the next attempt (seconds,
 * 0 for none), ERROR the escaped reason when there is one. A remote
 * attempt adds DSN, the enhanced status code ("4.4.1"), and RELAY, the
 * escaped "host[address]:port" that replied or "-". NOTICE is
 * "reported" (the recipient's failure was reported to the sender) or
 * "warned" (a delay warning listed it); a notice changes no state and
 * counts as no attempt.
 *
 * Limits: a header line may not exceed 1 MiB and the whole header
 * QUEUE_HEADER_MAX; larger input is reported as corrupt.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_format.h"
#include "xalloc.h"

#define LINE_MAX_BYTES (1024u * 1024)

static const char hexdigits[] = "0123456789ABCDEF";

bool
queue_text_valid(const char *s)
{
	return s == NULL || strpbrk(s, "\r\n") == NULL;
}

void
queue_escape(struct buf *out, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c > 0x20 && c < 0x7f && c != '%') {
			buf_putc(out, (char)c);
			continue;
		}
		buf_putc(out, '%');
		buf_putc(out, hexdigits[c >> 4]);
		buf_putc(out, hexdigits[c & 0xf]);
	}
}

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *
queue_unescape(const char *s, size_t len)
{
	char *out = xmalloc(len + 1);
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (len - i < 3)
				goto bad;
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			c = (unsigned char)(hi << 4 | lo);
			if (c == '\0' || c == '\r' || c == '\n')
				goto bad;
			i += 2;
		} else if (c <= 0x20 || c >= 0x7f) {
			/* Raw bytes the writer always escapes. */
			goto bad;
		}
		out[o++] = (char)c;
	}
	out[o] = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

static void
put_field(struct buf *out, const char *key, const char *value)
{
	buf_puts(out, key);
	buf_putc(out, ' ');
	queue_escape(out, value != NULL ? value : "");
	buf_putc(out, '\n');
}

int
queue_format_header(struct buf *out, const struct queue_envelope *env,
		    size_t *size_field, char *err, size_t errlen)
{
	size_t i;

	if (env->nrcpts == 0) {
		snprintf(err, errlen, "queue entry has no recipient");
		return -1;
	}
	if (env->sender == NULL || !queue_text_valid(env->sender) ||
	    !queue_text_valid(env->client_ip) || !queue_text_valid(env->helo) ||
	    !queue_text_valid(env->auth_user)) {
		snprintf(err, errlen,
			 "envelope field contains CR or LF: rejected");
		return -1;
	}
	for (i = 0; i < env->nrcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];

		if (r->address == NULL || r->address[0] == '\0' ||
		    !queue_text_valid(r->address) ||
		    !queue_text_valid(r->orig)) {
			snprintf(err, errlen,
				 "recipient %zu is empty or contains CR or "
				 "LF: rejected",
				 i);
			return -1;
		}
	}

	buf_puts(out, QUEUE_MAGIC "\n");
	buf_printf(out, "id %s\n", env->id);
	buf_printf(out, "arrival %" PRIdMAX "\n", (intmax_t)env->arrival);
	put_field(out, "sender", env->sender);
	put_field(out, "client-ip", env->client_ip);
	put_field(out, "helo", env->helo);
	if (env->auth_user != NULL)
		put_field(out, "auth-user", env->auth_user);
	buf_printf(out, "body-8bit %d\n", env->body_8bit ? 1 : 0);
	buf_printf(out, "smtputf8 %d\n", env->smtputf8 ? 1 : 0);
	for (i = 0; i < env->nrcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];

		buf_puts(out, "rcpt ");
		queue_escape(out, r->address);
		buf_putc(out, ' ');
		queue_escape(out, r->orig != NULL ? r->orig : r->address);
		buf_putc(out, '\n');
	}
	buf_puts(out, "size ");
	*size_field = out->len;
	for (i = 0; i < QUEUE_SIZE_DIGITS; i++)
		buf_putc(out, '0');
	buf_puts(out, "\nend\n\n");
	return 0;
}

void
queue_format_size(char *dst, size_t size)
{
	int i;

	for (i = QUEUE_SIZE_DIGITS - 1; i >= 0; i--) {
		dst[i] = (char)('0' + size % 10);
		size /= 10;
	}
}

/* Parses a non-empty run of decimal digits without overflow. */
static int
parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > QUEUE_SIZE_DIGITS)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Parses a time_t value of at most 40 bits, which covers any real date. */
static int
parse_time(const char *s, size_t len, time_t *out)
{
	uint64_t v;

	if (parse_u64(s, len, &v) < 0 || v > ((uint64_t)1 << 40))
		return -1;
	*out = (time_t)v;
	return 0;
}

static int
parse_bool(const char *s, bool *out)
{
	if (strcmp(s, "0") == 0)
		*out = false;
	else if (strcmp(s, "1") == 0)
		*out = true;
	else
		return -1;
	return 0;
}

/* Fields seen so far, to find repeats and missing ones. */
enum {
	SEEN_ID = 1 << 0,
	SEEN_ARRIVAL = 1 << 1,
	SEEN_SENDER = 1 << 2,
	SEEN_CLIENT_IP = 1 << 3,
	SEEN_HELO = 1 << 4,
	SEEN_AUTH_USER = 1 << 5,
	SEEN_BODY_8BIT = 1 << 6,
	SEEN_SMTPUTF8 = 1 << 7,
	SEEN_SIZE = 1 << 8,
	SEEN_REQUIRED = SEEN_ID | SEEN_ARRIVAL | SEEN_SENDER | SEEN_CLIENT_IP |
			SEEN_HELO | SEEN_BODY_8BIT | SEEN_SMTPUTF8 | SEEN_SIZE,
};

static int
seen_once(unsigned *seen, unsigned bit)
{
	if (*seen & bit)
		return -1;
	*seen |= bit;
	return 0;
}

static int
parse_rcpt(struct queue_envelope *env, const char *value)
{
	const char *space = strchr(value, ' ');
	struct queue_rcpt *r;
	char *address, *orig;

	if (space == NULL || space == value)
		return -1;
	address = queue_unescape(value, (size_t)(space - value));
	orig = queue_unescape(space + 1, strlen(space + 1));
	if (address == NULL || orig == NULL) {
		free(address);
		free(orig);
		return -1;
	}
	env->rcpts =
	    xrealloc(env->rcpts, (env->nrcpts + 1) * sizeof(*env->rcpts));
	r = &env->rcpts[env->nrcpts++];
	memset(r, 0, sizeof(*r));
	r->address = address;
	r->orig = orig;
	r->state = QUEUE_RCPT_PENDING;
	return 0;
}

/*
 * Applies one "key value" line to env. Returns 0, or -1 with the reason
 * in err.
 */
static int
parse_header_line(struct queue_envelope *env, const char *id, char *line,
		  unsigned *seen, char *err, size_t errlen)
{
	char *value = strchr(line, ' ');
	char **target = NULL;
	unsigned bit = 0;
	uint64_t size;

	if (value == NULL)
		goto bad;
	*value++ = '\0';

	if (strcmp(line, "rcpt") == 0) {
		if (parse_rcpt(env, value) < 0)
			goto bad;
		return 0;
	}
	if (strcmp(line, "id") == 0) {
		if (seen_once(seen, SEEN_ID) < 0)
			goto repeated;
		if (strcmp(value, id) != 0) {
			snprintf(err, errlen,
				 "header names entry %.16s, not the file's",
				 value);
			return -1;
		}
		memcpy(env->id, id, QUEUE_ID_LEN + 1);
		return 0;
	}
	if (strcmp(line, "arrival") == 0) {
		if (seen_once(seen, SEEN_ARRIVAL) < 0)
			goto repeated;
		if (parse_time(value, strlen(value), &env->arrival) < 0)
			goto bad;
		return 0;
	}
	if (strcmp(line, "body-8bit") == 0 || strcmp(line, "smtputf8") == 0) {
		bool is_8bit = line[0] == 'b';

		if (seen_once(seen, is_8bit ? SEEN_BODY_8BIT : SEEN_SMTPUTF8) <
		    0)
			goto repeated;
		if (parse_bool(value,
			       is_8bit ? &env->body_8bit : &env->smtputf8) < 0)
			goto bad;
		return 0;
	}
	if (strcmp(line, "size") == 0) {
		if (seen_once(seen, SEEN_SIZE) < 0)
			goto repeated;
		if (strlen(value) != QUEUE_SIZE_DIGITS ||
		    parse_u64(value, QUEUE_SIZE_DIGITS, &size) < 0 ||
		    size > SIZE_MAX / 2)
			goto bad;
		env->msg_size = (size_t)size;
		return 0;
	}

	if (strcmp(line, "sender") == 0) {
		target = &env->sender;
		bit = SEEN_SENDER;
	} else if (strcmp(line, "client-ip") == 0) {
		target = &env->client_ip;
		bit = SEEN_CLIENT_IP;
	} else if (strcmp(line, "helo") == 0) {
		target = &env->helo;
		bit = SEEN_HELO;
	} else if (strcmp(line, "auth-user") == 0) {
		target = &env->auth_user;
		bit = SEEN_AUTH_USER;
	} else {
		snprintf(err, errlen, "unknown header field \"%.40s\"", line);
		return -1;
	}
	if (seen_once(seen, bit) < 0)
		goto repeated;
	*target = queue_unescape(value, strlen(value));
	if (*target == NULL)
		goto bad;
	return 0;

bad:
	snprintf(err, errlen, "invalid header field \"%.40s\"", line);
	return -1;
repeated:
	snprintf(err, errlen, "repeated header field \"%.40s\"", line);
	return -1;
}

int
queue_parse_header(FILE *f, const char *id, struct queue_envelope *env,
		   char *err, size_t errlen)
{
	char *line = NULL;
	size_t cap = 0, total = 0;
	unsigned seen = 0;
	bool magic = false, ended = false;
	ssize_t n;
	off_t offset;

	memset(env, 0, sizeof(*env));
	while ((n = getline(&line, &cap, f)) >= 0) {
		size_t len = (size_t)n;

		total += len;
		if (len > LINE_MAX_BYTES || total > QUEUE_HEADER_MAX) {
			snprintf(err, errlen, "envelope header too long");
			goto fail;
		}
		if (len == 0 || line[len - 1] != '\n') {
			snprintf(err, errlen, "truncated envelope header");
			goto fail;
		}
		line[--len] = '\0';
		if (memchr(line, '\0', len) != NULL ||
		    memchr(line, '\r', len) != NULL) {
			snprintf(err, errlen,
				 "NUL or CR byte in envelope header");
			goto fail;
		}
		if (ended) {
			if (len != 0) {
				snprintf(err, errlen,
					 "missing empty line after \"end\"");
				goto fail;
			}
			break;
		}
		if (!magic) {
			if (strcmp(line, QUEUE_MAGIC) != 0) {
				snprintf(err, errlen,
					 "not a queue file (first line is "
					 "not \"" QUEUE_MAGIC "\")");
				goto fail;
			}
			magic = true;
			continue;
		}
		if (strcmp(line, "end") == 0) {
			ended = true;
			continue;
		}
		if (parse_header_line(env, id, line, &seen, err, errlen) < 0)
			goto fail;
	}
	if (n < 0) {
		if (ferror(f))
			snprintf(err, errlen, "read failed: %s",
				 strerror(errno));
		else
			snprintf(err, errlen, "truncated envelope header");
		goto fail;
	}
	if ((seen & SEEN_REQUIRED) != SEEN_REQUIRED) {
		snprintf(err, errlen, "envelope header lacks a required field");
		goto fail;
	}
	if (env->nrcpts == 0) {
		snprintf(err, errlen, "envelope header has no recipient");
		goto fail;
	}
	offset = ftello(f);
	if (offset < 0) {
		snprintf(err, errlen, "ftello failed: %s", strerror(errno));
		goto fail;
	}
	env->msg_offset = offset;
	free(line);
	return 0;
fail:
	free(line);
	queue_envelope_free(env);
	return -1;
}

static const char *
state_name(enum queue_rcpt_state state)
{
	switch (state) {
	case QUEUE_RCPT_DELIVERED:
		return "delivered";
	case QUEUE_RCPT_FAILED:
		return "failed";
	default:
		return "deferred";
	}
}

/* Appends " " and the escaped text, with line ends folded into spaces. */
static void
put_record_text(struct buf *out, const char *text)
{
	struct buf clean = BUF_INIT;
	const char *p;

	/* A reason is free text: fold line ends into spaces. */
	for (p = text; *p != '\0'; p++)
		buf_putc(&clean, (*p == '\r' || *p == '\n') ? ' ' : *p);
	buf_putc(out, ' ');
	queue_escape(out, buf_cstr(&clean));
	buf_free(&clean);
}

void
queue_format_result(struct buf *out, size_t rcpt, enum queue_rcpt_state state,
		    time_t next_attempt, const char *error, const char *dsn,
		    const char *relay)
{
	buf_printf(out, "%zu %s %" PRIdMAX, rcpt, state_name(state),
		   (intmax_t)next_attempt);
	if (error != NULL && error[0] != '\0') {
		put_record_text(out, error);
		if ((dsn != NULL && dsn[0] != '\0') ||
		    (relay != NULL && relay[0] != '\0')) {
			put_record_text(out,
					dsn != NULL && dsn[0] != '\0' ? dsn
								       : "-");
			put_record_text(out, relay != NULL && relay[0] != '\0'
						 ? relay
						 : "-");
		}
	}
	buf_putc(out, '\n');
}

void
queue_format_status(struct buf *out, size_t rcpt, enum queue_rcpt_state state,
		    time_t next_attempt, const char *error)
{
	queue_format_result(out, rcpt, state, next_attempt, error, NULL, NULL);
}

void
queue_format_notice(struct buf *out, size_t rcpt, enum queue_notice notice)
{
	buf_printf(out, "%zu %s 0\n", rcpt,
		   notice == QUEUE_NOTICE_WARNED ? "warned" : "reported");
}

/* Decodes an optional field; "-" stands for none. Returns -1 if bad. */
static int
unescape_field(const char *s, size_t len, char **out)
{
	*out = NULL;
	if (len == 1 && s[0] == '-')
		return 0;
	*out = queue_unescape(s, len);
	return *out == NULL ? -1 : 0;
}

/* Parses one complete status line (without its LF) into env. */
static int
apply_status_line(struct queue_envelope *env, const char *line, size_t len)
{
	const char *fields[6];
	size_t flen[6];
	size_t nfields = 0, i = 0;
	uint64_t index;
	enum queue_rcpt_state state;
	time_t next;
	struct queue_rcpt *r;
	char *error = NULL, *dsn = NULL, *relay = NULL;
	int notice = -1;

	while (i < len && nfields < 6) {
		size_t start = i;

		while (i < len && line[i] != ' ')
			i++;
		fields[nfields] = line + start;
		flen[nfields] = i - start;
		if (flen[nfields] == 0)
			return -1;
		nfields++;
		if (i < len)
			i++; /* the space */
		else
			break;
	}
	if (i < len || nfields < 3 || nfields == 5 || line[len - 1] == ' ')
		return -1;
	if (parse_u64(fields[0], flen[0], &index) < 0 || index >= env->nrcpts)
		return -1;
	if (flen[1] == 9 && memcmp(fields[1], "delivered", 9) == 0)
		state = QUEUE_RCPT_DELIVERED;
	else if (flen[1] == 6 && memcmp(fields[1], "failed", 6) == 0)
		state = QUEUE_RCPT_FAILED;
	else if (flen[1] == 8 && memcmp(fields[1], "deferred", 8) == 0)
		state = QUEUE_RCPT_PENDING;
	else if (flen[1] == 8 && memcmp(fields[1], "reported", 8) == 0)
		notice = QUEUE_NOTICE_REPORTED;
	else if (flen[1] == 6 && memcmp(fields[1], "warned", 6) == 0)
		notice = QUEUE_NOTICE_WARNED;
	else
		return -1;
	if (parse_time(fields[2], flen[2], &next) < 0)
		return -1;
	r = &env->rcpts[index];
	if (notice >= 0) {
		if (nfields != 3)
			return -1;
		if (notice == QUEUE_NOTICE_REPORTED)
			r->reported = true;
		else
			r->warned = true;
		return 0;
	}
	if (nfields >= 4) {
		error = queue_unescape(fields[3], flen[3]);
		if (error == NULL)
			return -1;
	}
	if (nfields == 6 && (unescape_field(fields[4], flen[4], &dsn) < 0 ||
			     unescape_field(fields[5], flen[5], &relay) < 0)) {
		free(error);
		free(dsn);
		return -1;
	}

	r->state = state;
	r->next_attempt = next;
	r->attempts++;
	free(r->last_error);
	r->last_error = error;
	free(r->dsn);
	r->dsn = dsn;
	free(r->relay);
	r->relay = relay;
	return 0;
}

int
queue_apply_status(struct queue_envelope *env, const char *data, size_t len,
		   char *err, size_t errlen)
{
	size_t pos = 0, lineno = 0;

	while (pos < len) {
		const char *lf = memchr(data + pos, '\n', len - pos);
		size_t linelen;

		if (lf == NULL)
			break; /* torn by a crash before its fsync */
		linelen = (size_t)(lf - (data + pos));
		lineno++;
		if (linelen == 0 || memchr(data + pos, '\0', linelen) ||
		    apply_status_line(env, data + pos, linelen) < 0) {
			snprintf(err, errlen,
				 "invalid status record on line %zu", lineno);
			return -1;
		}
		pos += linelen + 1;
	}
	return 0;
}
