/*
 * smtp_client_int - state shared by the files of the SMTP client
 *
 * smtp_client.c runs the session up to the ready callback, the timers
 * and the public functions, smtp_client_io.c the socket and TLS I/O,
 * smtp_client_auth.c the AUTH exchange and smtp_client_txn.c one
 * transaction, all through the functions declared here.
 */
#ifndef HAPOST_SMTP_CLIENT_INT_H
#define HAPOST_SMTP_CLIENT_INT_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "buf.h"
#include "smtp_client.h"
#include "smtp_reply.h"

/* Message bytes kept queued in c->out while the body is sent. */
#define SMTPC_BODY_BUFFER (64 * 1024)

enum smtpc_state {
	SMTPC_CONNECT,	 /* waiting for connect() to finish */
	SMTPC_GREETING,	 /* waiting for the 220 greeting */
	SMTPC_EHLO,
	SMTPC_HELO,
	SMTPC_STARTTLS,	 /* waiting for the reply to STARTTLS */
	SMTPC_HANDSHAKE, /* TLS handshake running */
	SMTPC_AUTH,
	SMTPC_IDLE,	 /* ready for a transaction */
	SMTPC_TXN,	 /* waiting for the MAIL, RCPT or DATA replies */
	SMTPC_BODY,	 /* sending the message after 354 */
	SMTPC_DOT,	 /* waiting for the reply to the end of data */
	SMTPC_RSET,	 /* waiting for the reply to RSET */
	SMTPC_QUIT,	 /* closed by the caller, waiting for the QUIT reply */
	SMTPC_CLOSED,	 /* socket closed; a callback or freeing remains */
};

/* The callback that the defer timer runs next. */
enum smtpc_pending {
	SMTPC_PENDING_NONE,
	SMTPC_PENDING_READY,
	SMTPC_PENDING_TXN,
};

/* One transaction, from smtp_client_send() to its callback. */
struct smtpc_txn {
	char *sender;
	char **rcpts;
	size_t nrcpts;
	size_t *order;	   /* the recipients sent, as indexes into rcpts */
	size_t nsent;	   /* entries in order */
	bool *rcpt_failed; /* replies[i] is the recipient's own failure */
	struct smtp_client_reply *replies;
	size_t naccepted;
	size_t next_reply; /* 0: MAIL, 1..nsent: RCPT, nsent + 1: DATA */
	struct smtp_client_reply mail_reply;
	bool mail_ok;
	bool pipelined;
	bool dot_only; /* 354 with no recipient accepted: "." sent alone */
	int msg_fd;
	off_t msg_offset;
	size_t msg_size;
	size_t sent;	   /* message bytes read so far */
	bool line_start;   /* the last byte sent ended a line */
	bool body_done;	   /* the final "." is queued */
	bool body_8bit;
	bool smtputf8;
};

struct smtp_client {
	struct ev_loop *loop;
	enum smtpc_state state;
	int fd;
	SSL *ssl;
	bool ssl_read_wants_write;

	/* A copy of the caller's parameters. */
	char *helo;
	enum smtp_client_tls tls_policy;
	SSL_CTX *tls_ctx;
	char *tls_servername;
	char *auth_user;
	char *auth_password;
	unsigned connect_timeout;
	unsigned timeout;

	char host[256];
	struct sockaddr_storage addr;
	socklen_t addrlen;
	/* The policy is "may" and STARTTLS failed once: no TLS this time. */
	bool tls_skip;

	struct buf in, out;
	ev_io rio, wio;
	ev_timer timer; /* connect, reply and QUIT timeouts */
	ev_timer defer; /* runs the pending callback from the loop */

	struct smtp_reply_parser parser;
	struct smtp_ehlo ehlo;
	bool esmtp;
	unsigned auth_mech; /* SMTP_AUTH_* of the running exchange */
	unsigned auth_step;

	struct smtp_client_status st; /* the session */
	smtp_client_ready_cb *ready_cb;
	void *ready_arg;

	struct smtpc_txn txn;
	struct smtp_client_status txn_st;
	smtp_client_txn_cb *txn_cb;
	void *txn_arg;

	enum smtpc_pending pending;
	/* The module frees c after the pending callback; a
	 * smtp_client_close() from inside that callback does nothing. */
	bool free_after_callback;
};

/* smtp_client.c */
void smtpc_await_reply(struct smtp_client *c, enum smtpc_state state,
		       const char *stage);
void smtpc_set_reply(struct smtp_client_reply *r, int code,
		     const char *enhanced, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void smtpc_session_fail(struct smtp_client *c,
			enum smtp_client_failure failure,
			const struct smtp_client_reply *reply);
void smtpc_session_ready(struct smtp_client *c);
void smtpc_schedule(struct smtp_client *c, enum smtpc_pending pending);
void smtpc_start_connect(struct smtp_client *c);
/* Ends the connection after an I/O error (why) or a close (why NULL). */
void smtpc_lost(struct smtp_client *c, const char *why);

/* smtp_client_io.c */
void smtpc_restart_timer(struct smtp_client *c, double seconds);
/* True in the states that wait for the server. */
bool smtpc_waiting(const struct smtp_client *c);
void smtpc_update_write_watcher(struct smtp_client *c);
/* Queues one command line; the loop writes it. */
void smtpc_send_line(struct smtp_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Writes what the socket takes, filling in message bytes during DATA. */
void smtpc_flush(struct smtp_client *c);
/* Reads up to len bytes: the count, 0 for none yet, -1 error, -2 EOF. */
ssize_t smtpc_read_some(struct smtp_client *c, char *chunk, size_t len,
			char *why, size_t whylen);
/* Closes the socket, first sending QUIT when quit and between commands. */
void smtpc_close_socket(struct smtp_client *c, bool quit);
void smtpc_start_tls(struct smtp_client *c);
void smtpc_handshake(struct smtp_client *c);

/* smtp_client_auth.c */
void smtpc_auth_start(struct smtp_client *c);
void smtpc_auth_reply(struct smtp_client *c,
		      const struct smtp_client_reply *r);

/* smtp_client_txn.c */
int smtpc_txn_start(struct smtp_client *c, const struct smtp_client_txn *t);
void smtpc_txn_reply(struct smtp_client *c, const struct smtp_client_reply *r);
void smtpc_txn_dot_reply(struct smtp_client *c,
			 const struct smtp_client_reply *r);
void smtpc_txn_rset_reply(struct smtp_client *c,
			  const struct smtp_client_reply *r);
/* Appends message bytes to c->out; -1 after failing the transaction. */
int smtpc_txn_fill_body(struct smtp_client *c);
/* Ends the transaction after its connection was lost or timed out. */
void smtpc_txn_lost(struct smtp_client *c,
		    const struct smtp_client_reply *reason);
void smtpc_txn_free(struct smtpc_txn *t);

#endif
