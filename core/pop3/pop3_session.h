/*
 * pop3_session - state of one POP3 session, shared by its source files
 */
#ifndef HAPOST_POP3_SESSION_H
#define HAPOST_POP3_SESSION_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "conn.h"
#include "directory.h"
#include "maildir.h"
#include "pop3_parse.h"

enum pop3_state {
	POP3_AUTHORIZATION,
	POP3_TRANSACTION,
	POP3_UPDATE,
};

struct sasl_server;

struct pop3_session {
	struct conn *c;
	struct sasl_server *sasl; /* an AUTH exchange in progress, or NULL */
	enum pop3_state state;
	char *user;	/* the USER argument, until PASS */
	char *apop_timestamp; /* sent in the greeting; NULL: no APOP */
	struct account acct;
	bool have_acct;
	struct mailbox *mb;
	bool *deleted;	/* per message, marked by DELE */
	int lock_fd;	/* maildrop lock, -1 when not held */
	unsigned errors;
	unsigned auth_failures;
	bool skipping;	/* discarding the rest of an overlong line */

	/* A reply held back after a failed login. */
	ev_timer delay;
	char *delayed_reply;
	bool close_after_delay;

	/* The RETR or TOP response being streamed. */
	bool sending;
	int msg_fd;
	struct pop3_stuffer stuffer;
	struct buf chunk;

	unsigned nretr;
};

void pop3_reply(struct pop3_session *s, const char *line);
/* Sends an error reply and closes the session at the error limit. */
void pop3_error(struct pop3_session *s, const char *line);
/* Sends reply after the configured login failure delay, and closes the
 * session at auth_failure_limit. */
void pop3_delayed_reply(struct pop3_session *s, const char *reply);
/* Finishes a login whose account is in s->acct; replies either way. */
void pop3_login_complete(struct pop3_session *s);

/* Starts streaming message i (a RETR, or a TOP when limited). */
void pop3_send_message(struct pop3_session *s, size_t i, bool limited,
		       uint64_t body_lines);
/* Continues the stream; called when the output buffer has drained. */
void pop3_send_more(struct pop3_session *s);
/* Stops a stream without its end marker (the connection is closing). */
void pop3_send_abort(struct pop3_session *s);

#endif
