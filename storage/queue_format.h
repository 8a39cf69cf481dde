/*
 * queue_format - the text formats inside queue entries
 *
 * The envelope header at the start of queue/messages/ID and the records
 * of queue/status/ID. queue.c does the file handling; these functions
 * only encode and parse, so tests can feed them hostile bytes directly.
 * The formats themselves are described in queue_format.c.
 */
#ifndef HAPOST_QUEUE_FORMAT_H
#define HAPOST_QUEUE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "buf.h"
#include "queue.h"

/* The first line of every envelope header. */
#define QUEUE_MAGIC "hapost-queue 1"
/* Width of the zero-padded size field, filled in at commit. */
#define QUEUE_SIZE_DIGITS 20
/* Upper bound on the envelope header, so a corrupt file cannot make a
 * reader allocate without limit. */
#define QUEUE_HEADER_MAX (16u * 1024 * 1024)

/* Returns true if s holds no CR, LF or other byte the format rejects. */
bool queue_text_valid(const char *s);
/* Appends s to out, bytes outside 0x21..0x7e and '%' written as %XX. */
void queue_escape(struct buf *out, const char *s);
/*
 * Decodes len bytes of escaped text into a new string. Returns NULL if an
 * escape is malformed or decodes to NUL, CR or LF.
 */
char *queue_unescape(const char *s, size_t len);

/*
 * Appends the envelope header of env to out, ending with the empty line.
 * *size_field receives the offset in out of the size digits, which hold
 * zeros until queue_format_size() fills them in. Returns -1 with a message
 * in err if a field contains CR or LF or there is no recipient.
 */
int queue_format_header(struct buf *out, const struct queue_envelope *env,
			size_t *size_field, char *err, size_t errlen);
/* Writes size as QUEUE_SIZE_DIGITS digits into dst (no NUL). */
void queue_format_size(char *dst, size_t size);
/*
 * Reads an envelope header from f, which is at the start of the file, and
 * leaves f at the first message byte. id is the entry's file name, which
 * the header must repeat. Fills env (msg_offset included, rcpts PENDING).
 */
int queue_parse_header(FILE *f, const char *id, struct queue_envelope *env,
		       char *err, size_t errlen);

/* Appends one status record line. DEFERRED is state PENDING. */
void queue_format_status(struct buf *out, size_t rcpt,
			 enum queue_rcpt_state state, time_t next_attempt,
			 const char *error);
/*
 * queue_format_status() with the details of a remote attempt, written
 * only when error is not empty; dsn and relay may be NULL.
 */
void queue_format_result(struct buf *out, size_t rcpt,
			 enum queue_rcpt_state state, time_t next_attempt,
			 const char *error, const char *dsn,
			 const char *relay);
/* Appends one notice record ("INDEX reported 0" or "INDEX warned 0"). */
void queue_format_notice(struct buf *out, size_t rcpt,
			 enum queue_notice notice);
/*
 * Applies the status records in data[0..len) to env: the last record of
 * each recipient sets its state, next attempt and error, and attempts
 * counts its records. An unterminated last line is a write torn by a
 * crash and is ignored; any other bad line fails the call.
 */
int queue_apply_status(struct queue_envelope *env, const char *data, size_t len,
		       char *err, size_t errlen);

#endif
