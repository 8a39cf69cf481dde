/*
 * smtp_auth - SMTP AUTH (RFC 4954) on submission, and on port 25 with
 * smtp_auth_on_port25
 *
 * AUTH runs a SASL exchange (core/sasl) with "334 challenge" lines and
 * the client's base64 responses; while it runs, c->in lines are responses,
 * never commands. The mechanisms are those of sasl_auth.h: PLAIN and
 * LOGIN only where conn_plaintext_auth_allowed() is true (by default only
 * inside TLS), CRAM-MD5 with sasl_cram_md5.
 * A logged-in session may send to any domain (smtp_txn.c) and its mail
 * carries the account in the queue envelope and ESMTPA/ESMTPSA in the
 * Received: header.
 *
 * Failures: a failed login is logged with the client address and user
 * name, never the password. Its 535 is held back by auth_failure_delay on
 * a timer while input is paused, and auth_failure_limit failures close
 * the session with 421. Response lines longer than
 * smtp_line_limit end the exchange with 500 5.5.6. Logged command lines
 * never include the initial response, which may hold the password.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sasl/sasl.h"
#include "sasl/sasl_auth.h"
#include "smtp_session.h"
#include "worker.h"
#include "xalloc.h"

static const struct cfg *
session_cfg(const struct smtp_session *s)
{
	return s->c->worker->cfg;
}

static bool
auth_offered(const struct smtp_session *s)
{
	return s->submission || session_cfg(s)->smtp_auth_on_port25;
}

static void
auth_delay_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct smtp_session *s = w->data;

	s->auth_delaying = false;
	smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
	if (s->auth_failures >= session_cfg(s)->auth_failure_limit) {
		conn_printf(s->c, "421 4.7.0 %s Error: too many failed "
				  "logins\r\n",
			    smtp_hostname(s));
		conn_close(s->c, "too many failed logins");
		return;
	}
	conn_resume_read(s->c);
}

void
smtp_auth_init(struct smtp_session *s)
{
	ev_timer_init(&s->auth_delay, auth_delay_cb, 0., 0.);
	s->auth_delay.data = s;
}

void
smtp_auth_ehlo(struct smtp_session *s)
{
	const char *mechs = sasl_auth_mechanisms(s->c);

	if (auth_offered(s) && mechs[0] != '\0')
		conn_printf(s->c, "250-AUTH %s\r\n", mechs);
}

/* Ends the exchange in progress, if any, without a reply. */
static void
exchange_end(struct smtp_session *s)
{
	if (s->sasl != NULL) {
		sasl_server_clear(s->sasl);
		free(s->sasl);
		s->sasl = NULL;
	}
	if (s->mode == SMTP_MODE_AUTH)
		s->mode = SMTP_MODE_COMMAND;
}

void
smtp_auth_reset(struct smtp_session *s)
{
	exchange_end(s);
	ev_timer_stop(s->c->loop, &s->auth_delay);
	s->auth_delaying = false;
	free(s->auth_user);
	s->auth_user = NULL;
}

static void
login_failed(struct smtp_session *s, const char *user, const char *why)
{
	struct conn *c = s->c;
	char safe[300];
	double delay = session_cfg(s)->auth_failure_delay_ms / 1000.0;

	s->auth_failures++;
	log_info("conn=%lu smtp login failed ip=%s user=%s reason=\"%s\"",
		 c->id, c->peer_ip,
		 log_printable(safe, sizeof(safe), user, strlen(user)), why);
	s->auth_delaying = true;
	conn_pause_read(c);
	ev_timer_set(&s->auth_delay, delay > 0 ? delay : 0.001, 0.);
	ev_timer_start(c->loop, &s->auth_delay);
}

/* Checks the finished exchange's credentials and replies. */
static void
exchange_done(struct smtp_session *s)
{
	struct account acct;
	const char *why;
	char user[SASL_FIELD_MAX + 1];
	enum dir_result r;

	snprintf(user, sizeof(user), "%s", s->sasl->authcid);
	r = sasl_auth_check(s->c->worker->dir, s->sasl, &acct, &why);
	exchange_end(s);
	if (r == DIR_TEMPFAIL) {
		log_warning("conn=%lu smtp login deferred ip=%s "
			    "reason=directory-unavailable",
			    s->c->id, s->c->peer_ip);
		smtp_reply(s, "454 4.7.0 Temporary authentication failure");
		return;
	}
	if (r != DIR_OK) {
		login_failed(s, user, why);
		return;
	}
	if (!acct.smtp_auth_enabled) {
		account_free(&acct);
		login_failed(s, user, "SMTP AUTH disabled for the account");
		return;
	}
	s->auth_user = xstrdup(acct.address);
	log_info("conn=%lu smtp login ip=%s user=%s tls=%s", s->c->id,
		 s->c->peer_ip, acct.address,
		 conn_tls_active(s->c) ? "yes" : "no");
	account_free(&acct);
	smtp_reply(s, "235 2.7.0 Authentication successful");
}

/* Feeds one response (or the initial one) and acts on the result. */
static void
exchange_step(struct smtp_session *s, const char *line, size_t len,
	      bool initial)
{
	struct buf challenge = BUF_INIT;
	const char *error = NULL;

	switch (sasl_server_step(s->sasl, line, len, initial, &challenge,
				 &error)) {
	case SASL_CONTINUE:
		s->mode = SMTP_MODE_AUTH;
		conn_printf(s->c, "334 %s\r\n", buf_cstr(&challenge));
		break;
	case SASL_DONE:
		exchange_done(s);
		break;
	case SASL_CANCEL:
		exchange_end(s);
		smtp_reply(s, "501 5.7.0 Authentication cancelled");
		break;
	case SASL_FAIL:
		exchange_end(s);
		log_info("conn=%lu smtp AUTH rejected ip=%s reason=\"%s\"",
			 s->c->id, s->c->peer_ip, error);
		smtp_reply(s, "501 5.5.2 Invalid authentication response: %s",
			   error);
		break;
	}
	buf_free(&challenge);
}

/* Handles AUTH once arg, a private copy of the argument, is parsed. */
static void
auth_command(struct smtp_session *s, const char *arg, size_t len)
{
	const char *sp = memchr(arg, ' ', len);
	size_t mlen = sp != NULL ? (size_t)(sp - arg) : len;
	enum sasl_mech mech;

	/* The initial response may be the password: keep it out of logs. */
	buf_reset(&s->line);
	buf_printf(&s->line, "AUTH %.*s", (int)(mlen < 32 ? mlen : 32), arg);

	if (!auth_offered(s)) {
		smtp_reply(s, "502 5.5.1 Error: command not implemented");
		return;
	}
	if (s->helo == NULL || !s->esmtp) {
		smtp_reply(s, "503 5.5.1 Error: send EHLO first");
		return;
	}
	if (s->auth_user != NULL) {
		smtp_reply(s, "503 5.5.1 Error: already authenticated");
		return;
	}
	if (s->have_mail) {
		smtp_reply(s, "503 5.5.1 Error: AUTH not permitted during a "
			      "mail transaction");
		return;
	}
	if (mlen == 0) {
		smtp_reply(s, "501 5.5.4 Syntax: AUTH mechanism "
			      "[initial-response]");
		return;
	}
	if (!sasl_mech_from_name(arg, mlen, &mech)) {
		smtp_reply(s, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	switch (sasl_auth_offer(s->c, mech)) {
	case SASL_OFFERED:
		break;
	case SASL_NEEDS_TLS:
		smtp_reply(s, "538 5.7.11 Encryption required for requested "
			      "authentication mechanism");
		return;
	case SASL_NOT_OFFERED:
		smtp_reply(s, "504 5.5.4 Unrecognized authentication type");
		return;
	}
	s->sasl = xmalloc(sizeof(*s->sasl));
	sasl_server_init(s->sasl, mech, smtp_hostname(s));
	if (sp == NULL)
		exchange_step(s, NULL, 0, true);
	else
		exchange_step(s, sp + 1, len - mlen - 1, true);
}

void
smtp_cmd_auth(struct smtp_session *s, const struct smtp_command *cmd)
{
	/* cmd->arg points into s->line, which auth_command rewrites. */
	char *arg = xstrndup(cmd->arg, cmd->arg_len);
	size_t len = cmd->arg_len;

	auth_command(s, arg, len);
	explicit_bzero(arg, len);
	free(arg);
}

bool
smtp_auth_input(struct smtp_session *s)
{
	struct conn *c = s->c;
	size_t limit = session_cfg(s)->smtp_line_limit;
	long lf = buf_find_lf(&c->in, 0);
	size_t len;

	buf_reset(&s->line);
	buf_puts(&s->line, "(AUTH response)");
	if (lf < 0 && c->in.len < limit)
		return false;
	if (lf < 0) {
		/* discard_input() replies 500 5.5.6 at the line's end. */
		exchange_end(s);
		buf_reset(&c->in);
		s->mode = SMTP_MODE_DISCARD_LINE;
		return true;
	}
	if ((size_t)lf + 1 > limit) {
		exchange_end(s);
		buf_consume(&c->in, (size_t)lf + 1);
		smtp_reply(s, "500 5.5.6 Authentication Exchange line is too "
			      "long");
		return true;
	}
	len = (size_t)lf;
	if (len > 0 && c->in.data[len - 1] == '\r')
		len--;
	exchange_step(s, c->in.data, len, false);
	/* The line may hold a password: wipe it from the buffer. */
	explicit_bzero(c->in.data, (size_t)lf + 1);
	buf_consume(&c->in, (size_t)lf + 1);
	return true;
}
