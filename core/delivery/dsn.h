/*
 * dsn - delivery status notifications (RFC 3464, RFC 6522)
 *
 * dsn_build() writes a multipart/report message that tells the envelope
 * sender which recipients failed (a bounce) or are still waiting (a
 * delay warning): a readable text part, the message/delivery-status part
 * with one per-recipient block each, and the returned message, whole up
 * to return_limit bytes and only its header beyond that
 * (text/rfc822-headers). The result has CRLF line ends and is ready for
 * the queue, sent with the null sender so that it can never bounce in
 * turn.
 *
 * The report parts are 7-bit: diagnostics, host names and ids are cut to
 * printable ASCII (other characters become '?'), and a non-ASCII address
 * is written as "utf-8; " with \x{HEX} escapes (RFC 6533 utf-8-addr-xtext).
 * The To: field keeps a UTF-8 sender as it is (RFC 6532), so such a
 * report needs SMTPUTF8. When the returned message or header contains
 * 8-bit bytes, its part and the whole report are marked
 * Content-Transfer-Encoding: 8bit and need BODY=8BITMIME, as the original
 * did.
 */
#ifndef HAPOST_DSN_H
#define HAPOST_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "buf.h"

enum dsn_action {
	DSN_FAILED,
	DSN_DELAYED,
};

struct dsn_rcpt {
	const char *orig;	/* the address as given in RCPT TO, or NULL */
	const char *final;	/* the address delivery was attempted to */
	const char *status;	/* "5.1.1", "4.4.1", ... */
	const char *remote_mta; /* host name of the remote MTA, or NULL */
	const char *diagnostic; /* "550 5.1.1 No such user", or NULL */
	time_t last_attempt;	/* 0 when unknown */
};

struct dsn_params {
	enum dsn_action action;
	const char *reporting_mta; /* our host name */
	const char *queue_id;
	const char *envelope_id; /* ENVID from MAIL FROM (RFC 3461), or NULL */
	time_t arrival;
	time_t retry_until; /* DSN_DELAYED: when the queue gives up */
	const char *sender; /* the original envelope sender: the To: */
	const char *from;   /* "MAILER-DAEMON@host" */
	int msg_fd;	    /* the original message, CRLF line ends */
	off_t msg_offset;
	size_t msg_size;
	size_t return_limit; /* bytes of the original returned in full */
	time_t now;
};

/*
 * The maximum number of bytes read for the header alone when the message
 * is larger than return_limit: max(return_limit, DSN_HEADER_MIN). A longer header
 * is cut after its last whole line within that limit.
 */
#define DSN_HEADER_MIN 65536

/*
 * Builds the report into out (appended). Returns 0, or -1 with the reason
 * in err: a missing field, a malformed status code, a sender that
 * dsn_suppressed() matches (the caller drops such a report), or a failed
 * read of the message.
 */
int dsn_build(const struct dsn_params *p, const struct dsn_rcpt *r, size_t n,
	      struct buf *out, char *err, size_t errlen);

/*
 * True when no notification may go to sender: the null sender, and the
 * local mailer-daemon addresses a report is sent from.
 */
bool dsn_suppressed(const char *sender);

/*
 * The enhanced status code for a failure without one from the remote
 * side, by reply code and stage ("4.4.1" no answer, "5.1.2" bad
 * domain, ...): the caller passes a short class word from the table.
 *
 * what          class 4   class 5   without a 4xx/5xx code
 * unreachable   4.4.1     5.4.1     4.4.1  no answer from host
 * tempfail      4.0.0     5.0.0     4.0.0
 * permfail      4.0.0     5.0.0     5.0.0
 * dns           4.4.3     4.4.3     4.4.3  DNS server failure
 * no-domain     5.1.2     5.1.2     5.1.2  bad destination system address
 * no-mx         4.4.4     5.4.4     5.4.4  unable to route
 * null-mx       5.1.10    5.1.10    5.1.10 recipient has null MX (RFC 7505)
 * expired       4.4.7     4.4.7     4.4.7  delivery time expired
 * tls           4.7.5     5.7.5     4.7.5  cryptographic failure
 * too-big       5.3.4     5.3.4     5.3.4  message too big for system
 * utf8          5.6.7     5.6.7     5.6.7  non-ASCII address not permitted
 *
 * Where the class 4 and class 5 columns differ, a smtp_code of 400-499
 * or 500-599 picks the column. Codes are from RFC 3463 unless noted
 * (5.6.7: RFC 6531). Any other word, or NULL, gives 4.0.0, or 5.0.0 with
 * a 5xx code.
 */
const char *dsn_default_status(int smtp_code, const char *what);

#endif
