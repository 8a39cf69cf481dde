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

/* Builds the report into out. Returns 0, or -1 with the reason in err. */
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
 * domain, ...): the caller passes a short class word, see dsn.c.
 */
const char *dsn_default_status(int smtp_code, const char *what);

#endif
