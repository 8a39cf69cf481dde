/*
 * conn - one client connection inside a protocol worker
 *
 * The worker accepts a socket, wraps it in a conn and hands it to the
 * protocol's ops. The conn owns the socket, the libev watchers, the input
 * and output buffers and the idle timer; the protocol owns c->session.
 *
 * Reading: whenever bytes arrive they are appended to c->in and
 * ops->input() runs. The protocol consumes what it can parse (with
 * buf_consume) and leaves a partial line or literal in c->in for the next
 * call. conn_pause_read() stops reading (for example while the protocol
 * waits for output to drain); conn_resume_read() restarts it and, if c->in
 * still holds bytes, runs ops->input() again from the event loop.
 *
 * Writing: conn_write()/conn_printf() append to c->out and the conn sends
 * it when the socket is writable. ops->drained() (optional) runs each time
 * c->out becomes empty.
 *
 * Closing: conn_close(c, reason) stops reading, flushes c->out (bounded by
 * a short timeout), then closes the socket, calls ops->free() and frees
 * the conn. The reason appears in the disconnect log line. After
 * conn_close() the protocol must not touch c again once it returns to the
 * event loop. A peer that closes first, a read error or a write error also
 * end the conn with ops->free(). Every conn logs one "connect" and one
 * "disconnect" info line with its id.
 *
 * Idle timeout: any input restarts the timer (c->idle_timeout seconds).
 * When it fires, ops->timeout() runs if set; it should write a reply and
 * call conn_close(). Without ops->timeout the conn is closed.
 *
 * Shutdown: when the worker stops it calls ops->shutdown() on every conn
 * (SMTP replies 421, POP3 -ERR, IMAP BYE), then closes them.
 *
 * TLS: a protocol that accepted STARTTLS (or STLS) queues its positive
 * reply and calls conn_starttls(). The conn throws away whatever the
 * client sent after the command, because those bytes arrived in plain
 * text and must never run as commands once TLS is on. It sends the queued
 * reply in plain text, then runs the TLS handshake on the event loop,
 * bounded by tls_handshake_timeout; a failed or late handshake ends the
 * conn without a reply. From then on c->in and c->out carry plain text
 * and the conn encrypts and decrypts underneath. A conn of an implicit-TLS
 * listener does the handshake first and calls ops->start() after it.
 * While a handshake runs no protocol callback runs, and ops->timeout and
 * ops->shutdown are skipped (the conn is just closed).
 */
#ifndef HAPOST_CONN_H
#define HAPOST_CONN_H

#include <ev.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"

struct conn;
struct worker;
struct ssl_st;

enum conn_tls_state {
	CONN_TLS_NONE,
	CONN_TLS_WAIT_FLUSH, /* STARTTLS accepted, its reply still queued */
	CONN_TLS_HANDSHAKE,
	CONN_TLS_ON,
};

enum service {
	SERVICE_SMTP,
	SERVICE_SUBMISSION,
	SERVICE_POP3,
	SERVICE_IMAP,
	SERVICE_COUNT
};

struct proto_ops {
	const char *name;
	/* Allocates c->session and sends the greeting. */
	void (*start)(struct conn *c);
	void (*input)(struct conn *c);
	void (*drained)(struct conn *c);
	void (*timeout)(struct conn *c);
	void (*shutdown)(struct conn *c);
	void (*free)(struct conn *c);
};

struct conn {
	unsigned long id;
	int fd;
	enum service service;
	struct ev_loop *loop;
	struct worker *worker;
	const struct proto_ops *ops;
	void *session;

	struct buf in;
	struct buf out;
	ev_io rio;
	ev_io wio;
	ev_timer idle;
	ev_timer linger;
	ev_idle pending;
	double idle_timeout;

	char peer_ip[INET6_ADDRSTRLEN];
	uint16_t peer_port;
	char local_ip[INET6_ADDRSTRLEN];
	uint16_t local_port;
	bool peer_is_loopback;

	struct ssl_st *ssl; /* NULL without TLS */
	enum conn_tls_state tls;
	bool start_after_handshake; /* implicit TLS: ops->start still due */
	bool ssl_read_wants_write;  /* SSL_read waits for a writable socket */
	bool ssl_write_wants_read;  /* SSL_write waits for a readable one */

	bool closing;
	bool read_paused;
	bool in_callback;
	bool dead;
	char *close_reason;

	struct conn *prev, *next; /* the worker's list */
};

void conn_write(struct conn *c, const void *data, size_t len);
void conn_puts(struct conn *c, const char *s);
void conn_printf(struct conn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void conn_close(struct conn *c, const char *reason);
void conn_pause_read(struct conn *c);
void conn_resume_read(struct conn *c);
void conn_set_idle_timeout(struct conn *c, double seconds);

/* Returns true when STARTTLS can be offered: a certificate is configured
 * and c is not in TLS yet. */
bool conn_tls_available(const struct conn *c);
/* Returns true once the TLS handshake has finished. */
bool conn_tls_active(const struct conn *c);
/*
 * Switches c to TLS after the reply queued in c->out is sent; empties
 * c->in. Returns -1 (nothing changed) when conn_tls_available() is false.
 */
int conn_starttls(struct conn *c);
/*
 * Returns true when a password may travel on c: in TLS, when
 * require_tls_for_auth is off, or from a loopback address when
 * allow_plaintext_auth_on_loopback is on.
 */
bool conn_plaintext_auth_allowed(const struct conn *c);

#endif
