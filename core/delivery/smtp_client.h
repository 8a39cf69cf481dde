/*
 * smtp_client - one outbound SMTP connection on a libev loop
 *
 * smtp_client_open() connects to one address, reads the greeting, sends
 * EHLO (HELO when EHLO is refused), STARTTLS as the TLS policy asks, and
 * AUTH when credentials are given, then calls the ready callback. Each
 * smtp_client_send() runs one transaction (MAIL FROM, RCPT TO for each
 * recipient, DATA with dot-stuffing), pipelined when the server offers
 * PIPELINING, with SIZE, BODY=8BITMIME and SMTPUTF8 as the message and
 * the server's extensions call for. After a transaction the connection
 * may carry the next one (RSET in between when needed), which is how
 * connections are reused per destination. smtp_client_close() sends QUIT
 * when the connection is still usable and frees it.
 *
 * Failure classes (enum smtp_client_failure) decide the retry schedule:
 * a 5xx reply is permanent, a 4xx reply temporary, and no answer at all
 * (connect refused or timed out, a reply timeout, a dropped connection,
 * a garbled reply) is "unreachable". A TLS policy that cannot be met
 * (STARTTLS not offered or failing while the policy requires it) is a
 * temporary failure with a reply text that says so. With the policy
 * "may", a failed TLS handshake makes the client connect once more
 * without STARTTLS. AUTH failures, a 535 included, are temporary too,
 * because credentials are fixed on this side, not by the sender. A
 * server whose greeting or EHLO reply names it with our own host name
 * (the helo parameter) fails the session as temporary with 4.4.6,
 * because the mail would loop back to us.
 *
 * Every callback is called from the loop, never from inside the call
 * that started the step. After a failure in the ready callback, or an
 * SMTPC_UNREACHABLE result in the transaction callback, the connection
 * is closed and freed by the module; the caller must not use it again.
 * After another failed transaction the connection is idle again (RSET
 * done) or closed: smtp_client_reusable() tells which, and the caller
 * closes it with smtp_client_close() in both cases when done.
 *
 * The process must ignore SIGPIPE, as hapostd's processes do.
 */
#ifndef HAPOST_SMTP_CLIENT_H
#define HAPOST_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <openssl/ssl.h>

struct ev_loop;
struct smtp_client;

enum smtp_client_tls {
	SMTPC_TLS_NONE,	   /* never STARTTLS */
	SMTPC_TLS_MAY,	   /* STARTTLS when offered, no certificate check */
	SMTPC_TLS_ENCRYPT, /* STARTTLS required, no certificate check */
	SMTPC_TLS_VERIFY,  /* STARTTLS required, certificate and name checked */
};

struct smtp_client_params {
	const char *helo; /* our host name for EHLO */
	enum smtp_client_tls tls;
	SSL_CTX *tls_ctx;	    /* from tls_client_ctx_new(); NULL: none */
	const char *tls_servername; /* for SNI and the name check */
	const char *auth_user;	    /* NULL: no AUTH */
	const char *auth_password;
	unsigned connect_timeout; /* seconds */
	unsigned timeout;	  /* seconds per reply */
};

enum smtp_client_failure {
	SMTPC_OK,
	SMTPC_TEMPFAIL,	   /* 4xx, or the TLS policy could not be met */
	SMTPC_PERMFAIL,	   /* 5xx */
	SMTPC_UNREACHABLE, /* no reply: connect, timeout, lost connection */
};

/*
 * A reply with code 0 was made by the client itself, without a server
 * reply, and its enhanced code gives the class: 4.4.1 and 4.4.2 (no
 * reply), 4.4.6 (a mail loop), 4.5.0 (a garbled or unexpected reply),
 * 4.7.x (TLS or AUTH policy), 4.3.0 (a local error: no socket, the
 * message unreadable), 5.3.4 (larger than the server's SIZE), 5.6.7
 * (SMTPUTF8 needed but not offered), 5.1.3 and 5.1.7 (an address that
 * cannot be sent).
 */
struct smtp_client_reply {
	int code;	  /* 250, 451, ...; 0 when there was no reply */
	char enhanced[16]; /* "5.1.1", or "" */
	char text[512];	  /* the reply, lines joined by spaces, printable */
};

struct smtp_client_status {
	enum smtp_client_failure failure;
	struct smtp_client_reply reply;
	char stage[32];	   /* "connect", "greeting", "EHLO", "STARTTLS",
			      "AUTH", "MAIL FROM", "DATA", "end of data" */
	char remote[300];  /* "mx.example.net[192.0.2.1]:25" */
	bool tls;	   /* the session runs over TLS */
};

struct smtp_client_txn {
	const char *sender;	    /* "" for the null sender */
	const char *const *rcpts;   /* nrcpts addresses */
	size_t nrcpts;
	int msg_fd;		    /* the message with CRLF line ends */
	off_t msg_offset;
	size_t msg_size;
	bool body_8bit;
	bool smtputf8;
};

/*
 * st is the whole session's state: SMTPC_OK means ready for
 * smtp_client_send(); anything else means c is gone after the call.
 */
typedef void smtp_client_ready_cb(void *arg, struct smtp_client *c,
				  const struct smtp_client_status *st);
/*
 * st is the transaction's result: SMTPC_OK when the message was accepted
 * for at least one recipient after DATA. rcpt[i] contains each recipient's
 * reply: the RCPT TO reply when that failed, otherwise the reply to the
 * end of data (or st's reply when the transaction failed before that).
 * When st->failure is SMTPC_UNREACHABLE, c is gone after the call.
 */
typedef void smtp_client_txn_cb(void *arg, struct smtp_client *c,
				const struct smtp_client_status *st,
				const struct smtp_client_reply *rcpt);

struct smtp_client *smtp_client_open(struct ev_loop *loop,
				     const struct smtp_client_params *p,
				     const struct sockaddr *addr,
				     socklen_t addrlen, const char *host,
				     smtp_client_ready_cb *cb, void *arg);
/* Returns -1 (and calls nothing) when c is not ready for a transaction. */
int smtp_client_send(struct smtp_client *c, const struct smtp_client_txn *t,
		     smtp_client_txn_cb *cb, void *arg);
/* True when c is idle after a transaction and may carry another. */
bool smtp_client_reusable(const struct smtp_client *c);
/* Sends QUIT when possible and frees c; no callback follows. */
void smtp_client_close(struct smtp_client *c);
/* The SIZE the server announced, 0 when none. */
size_t smtp_client_max_size(const struct smtp_client *c);

#endif
