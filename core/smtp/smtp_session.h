/*
 * smtp_session - state of one SMTP or submission session (internal)
 *
 * Shared by smtp.c (command loop, replies, protocol ops) and smtp_txn.c
 * (the mail transaction: MAIL, RCPT, DATA, BDAT and the queue file).
 */
#ifndef HAPOST_SMTP_SESSION_H
#define HAPOST_SMTP_SESSION_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "conn.h"
#include "queue.h"
#include "smtp_data.h"
#include "smtp_parse.h"

enum smtp_input_mode {
	SMTP_MODE_COMMAND,
	SMTP_MODE_DISCARD_LINE, /* swallowing an overlong command line */
	SMTP_MODE_DATA,		/* after DATA's 354 */
	SMTP_MODE_BDAT,		/* inside a BDAT chunk */
	SMTP_MODE_AUTH,		/* reading SASL responses after AUTH's 334 */
};

struct sasl_server;

struct smtp_rcpt {
	char *orig;    /* as given in RCPT TO */
	char **finals; /* account addresses it resolved to */
	size_t nfinals;
};

struct smtp_session {
	struct conn *c;
	bool submission;
	enum smtp_input_mode mode;
	unsigned errors;
	bool esmtp;	 /* EHLO (true) or HELO (false) */
	char *helo;	 /* NULL until HELO/EHLO */
	struct buf line; /* copy of the command being processed */

	/* The mail transaction; have_mail is false outside one. */
	bool have_mail;
	char *sender; /* "" for <> */
	struct smtp_mail_params params;
	struct smtp_rcpt *rcpts;
	size_t nrcpts;
	size_t rcpt_cap;

	/* Message content, from DATA or the first BDAT until the reply. */
	bool saw_bdat;		/* BDAT used in this transaction */
	const char *bdat_error; /* reply due once the chunk is read */
	uint64_t bdat_left;	/* octets of the current chunk still due */
	uint64_t bdat_size;	/* size of the current chunk */
	bool bdat_last;
	struct smtp_data_decoder dec;
	struct buf decoded;	 /* output of one decode call */
	struct queue_writer *qw; /* NULL when nothing is being stored */
	struct queue_envelope env;
	uint64_t msg_size; /* message octets seen, stored or not */
	bool too_big;
	bool write_failed;

	/* SMTP AUTH (smtp_auth.c). */
	struct sasl_server *sasl; /* the exchange in progress, or NULL */
	char *auth_user;	  /* the account address once logged in */
	unsigned auth_failures;
	ev_timer auth_delay; /* holds back the 535 of a failed AUTH */
	bool auth_delaying;

	/* The finished message waits for the group commit (smtp_commit.c);
	 * no input is read meanwhile. */
	bool committing;
};

/* Sends one reply line (CRLF added); 4xx and 5xx count as errors and are
 * logged with the command that caused them. */
void smtp_reply(struct smtp_session *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *smtp_hostname(const struct smtp_session *s);

/*
 * Group commit, in smtp_commit.c. smtp_commit_message() takes s->qw and
 * replies 250 or 451 once the batch is durable; log_line is the accept
 * log line's text after "qid=ID". smtp_commit_cancel() aborts a message
 * still waiting, when its session ends.
 */
void smtp_commit_message(struct smtp_session *s, const char *log_line);
void smtp_commit_cancel(struct smtp_session *s);
/*
 * Lands s's message when it is in flight (s gets its 250 or 451) and
 * aborts one still waiting for a batch, before a shutdown reply.
 */
void smtp_commit_settle(struct smtp_session *s);

/* Transaction commands, in smtp_txn.c. */
void smtp_cmd_mail(struct smtp_session *s, const struct smtp_command *cmd);
void smtp_cmd_rcpt(struct smtp_session *s, const struct smtp_command *cmd);
void smtp_cmd_data(struct smtp_session *s, const struct smtp_command *cmd);
void smtp_cmd_bdat(struct smtp_session *s, const struct smtp_command *cmd);
/* Feeds content bytes from c->in; returns the number consumed. */
size_t smtp_txn_input(struct smtp_session *s, const char *in, size_t len);
/* Drops the transaction and any half-written queue entry. */
void smtp_txn_reset(struct smtp_session *s);

/* SMTP AUTH, RFC 4954 (smtp_auth.c). */
void smtp_auth_init(struct smtp_session *s);
/* Appends "250-AUTH ..." to an EHLO reply when AUTH is offered. */
void smtp_auth_ehlo(struct smtp_session *s);
void smtp_cmd_auth(struct smtp_session *s, const struct smtp_command *cmd);
/* Reads one SASL response line from c->in; false when none is complete. */
bool smtp_auth_input(struct smtp_session *s);
/* Ends an exchange and the login state (STARTTLS, session end). */
void smtp_auth_reset(struct smtp_session *s);

#endif
