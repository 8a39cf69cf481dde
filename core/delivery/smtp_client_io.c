/*
 * smtp_client_io - socket and TLS I/O of the SMTP client
 *
 * Writes c->out and reads into c->in on the non-blocking socket, through
 * SSL_write and SSL_read once TLS runs, and drives the TLS handshake
 * after STARTTLS. The design notes (buffers, timeouts, TLS policies) are
 * in smtp_client.c.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "smtp_client_int.h"
#include "tls.h"

/* Bytes per SSL_write call; fixed so a retry never passes fewer. */
#define TLS_WRITE_MAX 16384

void
smtpc_restart_timer(struct smtp_client *c, double seconds)
{
	ev_timer_stop(c->loop, &c->timer);
	ev_timer_set(&c->timer, seconds, 0.);
	ev_timer_start(c->loop, &c->timer);
}

bool
smtpc_waiting(const struct smtp_client *c)
{
	return c->state != SMTPC_IDLE && c->state != SMTPC_QUIT &&
	       c->state != SMTPC_CLOSED;
}

void
smtpc_update_write_watcher(struct smtp_client *c)
{
	bool want;

	/* connect() and the handshake drive the watchers themselves. */
	if (c->fd < 0 || c->state == SMTPC_CONNECT ||
	    c->state == SMTPC_HANDSHAKE)
		return;
	want = c->out.len > 0 || c->ssl_read_wants_write;
	if (want && !ev_is_active(&c->wio))
		ev_io_start(c->loop, &c->wio);
	else if (!want && ev_is_active(&c->wio))
		ev_io_stop(c->loop, &c->wio);
}

void
smtpc_send_line(struct smtp_client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	buf_puts(&c->out, "\r\n");
	smtpc_update_write_watcher(c);
}

/* Formats OpenSSL's reason for an SSL_get_error() result. */
static void
ssl_reason(char *out, size_t len, int ssl_error)
{
	if (ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		snprintf(out, len, "%s",
			 errno != 0 ? strerror(errno) : "connection closed");
		ERR_clear_error();
		return;
	}
	tls_error_string(out, len);
}

void
smtpc_close_socket(struct smtp_client *c, bool quit)
{
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	ev_timer_stop(c->loop, &c->timer);
	if (c->fd >= 0) {
		/* QUIT only between commands: inside the message it would be
		 * message text. One non-blocking try, without waiting. */
		bool between = c->out.len == 0 && c->state != SMTPC_BODY &&
			       c->state != SMTPC_HANDSHAKE &&
			       c->state != SMTPC_CONNECT;

		if (c->ssl != NULL) {
			if (quit && between) {
				ERR_clear_error();
				SSL_write(c->ssl, "QUIT\r\n", 6);
			}
			if (c->state != SMTPC_HANDSHAKE)
				SSL_shutdown(c->ssl);
			ERR_clear_error();
		} else if (quit && between) {
			(void)!send(c->fd, "QUIT\r\n", 6,
				    MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		SSL_free(c->ssl);
		c->ssl = NULL;
		close(c->fd);
		c->fd = -1;
	}
	c->ssl_read_wants_write = false;
	buf_reset(&c->in);
	buf_reset(&c->out);
	c->state = SMTPC_CLOSED;
}

/*
 * Writes what it can of c->out. Returns the bytes written, 0 when the
 * socket is full or OpenSSL waits for input, or -1 with the reason.
 */
static ssize_t
write_some(struct smtp_client *c, char *why, size_t whylen)
{
	if (c->ssl != NULL) {
		size_t len = c->out.len < TLS_WRITE_MAX ? c->out.len
							: TLS_WRITE_MAX;
		int n, e;

		ERR_clear_error();
		errno = 0;
		n = SSL_write(c->ssl, c->out.data, (int)len);
		if (n > 0)
			return n;
		e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ)
			return 0;
		ssl_reason(why, whylen, e);
		return -1;
	}
	for (;;) {
		ssize_t n = send(c->fd, c->out.data, c->out.len,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
}

void
smtpc_flush(struct smtp_client *c)
{
	bool progress = false;
	char why[256];

	while (c->fd >= 0) {
		ssize_t n;

		if (c->state == SMTPC_BODY && !c->txn.body_done &&
		    c->out.len < SMTPC_BODY_BUFFER &&
		    smtpc_txn_fill_body(c) < 0)
			return;
		if (c->out.len == 0)
			break;
		n = write_some(c, why, sizeof(why));
		if (n < 0) {
			smtpc_lost(c, why);
			return;
		}
		if (n == 0)
			break;
		buf_consume(&c->out, (size_t)n);
		progress = true;
	}
	if (c->fd < 0)
		return;
	if (progress && smtpc_waiting(c))
		smtpc_restart_timer(c, c->timeout);
	smtpc_update_write_watcher(c);
}

ssize_t
smtpc_read_some(struct smtp_client *c, char *chunk, size_t len, char *why,
	  size_t whylen)
{
	if (c->ssl != NULL) {
		int n, e;

		ERR_clear_error();
		errno = 0;
		n = SSL_read(c->ssl, chunk, (int)len);
		if (n > 0)
			return n;
		e = SSL_get_error(c->ssl, n);
		if (e == SSL_ERROR_WANT_READ)
			return 0;
		if (e == SSL_ERROR_WANT_WRITE) {
			c->ssl_read_wants_write = true;
			smtpc_update_write_watcher(c);
			return 0;
		}
		if (e == SSL_ERROR_ZERO_RETURN ||
		    (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 &&
		     errno == 0))
			return -2;
		ssl_reason(why, whylen, e);
		return -1;
	}
	for (;;) {
		ssize_t n = recv(c->fd, chunk, len, 0);

		if (n > 0)
			return n;
		if (n == 0)
			return -2;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		snprintf(why, whylen, "%s", strerror(errno));
		return -1;
	}
}

/* True when name is an IPv4 or IPv6 address rather than a host name. */
static bool
is_address(const char *name)
{
	struct in6_addr a;

	return inet_pton(AF_INET, name, &a) == 1 ||
	       inet_pton(AF_INET6, name, &a) == 1;
}

static void
handshake_failed(struct smtp_client *c, const char *why)
{
	struct smtp_client_reply r;

	if (c->tls_policy == SMTPC_TLS_MAY && !c->tls_skip) {
		log_info("smtp client %s: TLS handshake failed (%s), "
			 "connecting again without TLS",
			 c->st.remote, why);
		smtpc_close_socket(c, false);
		c->tls_skip = true;
		c->esmtp = false;
		memset(&c->ehlo, 0, sizeof(c->ehlo));
		smtp_reply_free(&c->parser);
		smtp_reply_init(&c->parser);
		smtpc_start_connect(c);
		return;
	}
	smtpc_set_reply(&r, 0, "4.7.5", "TLS handshake with %s failed: %s",
			c->st.remote, why);
	smtpc_session_fail(c, SMTPC_TEMPFAIL, &r);
}

/* Runs one step of the TLS handshake; the watchers bring the next. */
void
smtpc_handshake(struct smtp_client *c)
{
	char why[400];
	long verify;
	int r, e;

	ERR_clear_error();
	errno = 0;
	r = SSL_do_handshake(c->ssl);
	if (r == 1) {
		c->st.tls = true;
		log_debug("smtp client %s: TLS %s %s", c->st.remote,
			  SSL_get_version(c->ssl), SSL_get_cipher_name(c->ssl));
		ev_io_stop(c->loop, &c->wio);
		ev_io_start(c->loop, &c->rio);
		c->state = SMTPC_EHLO;
		smtpc_send_line(c, "EHLO %s", c->helo);
		smtpc_await_reply(c, SMTPC_EHLO, "EHLO");
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		ev_io_stop(c->loop, &c->wio);
		ev_io_start(c->loop, &c->rio);
		return;
	}
	if (e == SSL_ERROR_WANT_WRITE) {
		ev_io_stop(c->loop, &c->rio);
		ev_io_start(c->loop, &c->wio);
		return;
	}
	verify = SSL_get_verify_result(c->ssl);
	if (c->tls_policy == SMTPC_TLS_VERIFY && verify != X509_V_OK) {
		ERR_clear_error();
		snprintf(why, sizeof(why), "certificate verification failed: %s",
			 X509_verify_cert_error_string(verify));
	} else {
		ssl_reason(why, sizeof(why), e);
	}
	handshake_failed(c, why);
}

void
smtpc_start_tls(struct smtp_client *c)
{
	const char *name =
		c->tls_servername != NULL ? c->tls_servername : c->host;
	bool address = is_address(name);
	struct smtp_client_reply r;
	char why[400];

	if (c->in.len > 0) {
		log_info("smtp client %s: dropped %zu bytes sent after the "
			 "reply to STARTTLS",
			 c->st.remote, c->in.len);
		buf_reset(&c->in);
	}
	ERR_clear_error();
	c->ssl = SSL_new(c->tls_ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1)
		goto fail;
	SSL_set_mode(c->ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				     SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (!address && name[0] != '\0' &&
	    SSL_set_tlsext_host_name(c->ssl, name) != 1)
		goto fail;
	if (c->tls_policy == SMTPC_TLS_VERIFY) {
		X509_VERIFY_PARAM *param = SSL_get0_param(c->ssl);

		SSL_set_verify(c->ssl, SSL_VERIFY_PEER, NULL);
		X509_VERIFY_PARAM_set_hostflags(
			param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (address ? X509_VERIFY_PARAM_set1_ip_asc(param, name) != 1
			    : SSL_set1_host(c->ssl, name) != 1)
			goto fail;
	} else {
		SSL_set_verify(c->ssl, SSL_VERIFY_NONE, NULL);
	}
	SSL_set_connect_state(c->ssl);
	c->state = SMTPC_HANDSHAKE;
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	smtpc_restart_timer(c, c->timeout);
	smtpc_handshake(c);
	return;
fail:
	tls_error_string(why, sizeof(why));
	smtpc_set_reply(&r, 0, "4.7.5", "TLS setup for %s failed: %s",
			c->st.remote, why);
	smtpc_session_fail(c, SMTPC_TEMPFAIL, &r);
}
