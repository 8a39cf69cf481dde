/*
 * smtp - the SMTP (port 25) and submission (port 587) session engine
 *
 * Each connection is a non-blocking state machine driven by the conn
 * layer: ops->input runs whenever bytes arrive, and every complete command
 * line in c->in is processed in order (PIPELINING, RFC 2920), with the
 * replies collected in c->out and sent together. After DATA's 354 or a
 * BDAT command the following bytes are message content and go to
 * smtp_txn.c, so a command pipelined behind DATA is never read as one.
 * When more than SMTP_OUTPUT_HIGH bytes of replies wait for a client that
 * does not read them, input stops until they drain.
 *
 * Failures: every bad input gets an RFC 5321 reply with an RFC 3463
 * enhanced status code and the session goes on. A command line longer
 * than smtp_line_limit (CRLF included) is thrown away through its LF and
 * gets 500 5.5.6. A line ending in a bare LF, or containing a bare CR or
 * a NUL, gets 500 5.5.2. Once the client has had more than
 * smtp_error_limit 4xx/5xx replies since its last delivered message, the
 * session ends with 421 4.7.0.
 * An idle timeout ends it with 421 4.4.2, a server shutdown with
 * 421 4.3.2. A transaction that is cut off is never acknowledged, so the
 * client still owns the message.
 *
 * Enhanced status codes are on every 2xx/4xx/5xx reply except the
 * greeting and the HELO/EHLO replies, as RFC 2034 section 4 allows.
 *
 * STARTTLS (RFC 3207) is offered in EHLO when a certificate is
 * configured and the session is not in TLS yet. After "220 Ready to start
 * TLS" the session forgets the client's EHLO and any transaction, and
 * bytes the client pipelined behind STARTTLS are thrown away unread
 * (conn_starttls), so the client starts over with EHLO inside TLS.
 *
 * AUTH (smtp_auth.c) is offered on submission, and on port 25 with
 * smtp_auth_on_port25. Only a logged-in session may send to domains that
 * are not local.
 * NOTE: submission still accepts mail for local domains without AUTH,
 * although RFC 6409 lets a submission server require it.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "conn.h"
#include "log.h"
#include "smtp_session.h"
#include "worker.h"
#include "xalloc.h"

/* Pending reply bytes above which input is paused until they drain. */
#define SMTP_OUTPUT_HIGH (64 * 1024)

static const struct cfg *
session_cfg(const struct smtp_session *s)
{
	return s->c->worker->cfg;
}

const char *
smtp_hostname(const struct smtp_session *s)
{
	const char *h = session_cfg(s)->hostname;

	return h != NULL ? h : "localhost";
}

void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	struct conn *c = s->c;
	size_t start = c->out.len;
	va_list ap;
	char code;

	if (c->dead)
		return;
	va_start(ap, fmt);
	buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	code = c->out.len > start ? c->out.data[start] : '2';
	if (code == '4' || code == '5') {
		char cmd[128], reply[160];

		s->errors++;
		log_printable(cmd, sizeof(cmd), s->line.data, s->line.len);
		log_printable(reply, sizeof(reply), c->out.data + start,
			      c->out.len - start);
		log_info("conn=%lu reject ip=%s reply=\"%s\" cmd=\"%s\"", c->id,
			 c->peer_ip, reply, cmd);
	}
	buf_append(&c->out, "\r\n", 2);
	/* Let the conn know there is output; conn_write starts sending. */
	conn_write(c, "", 0);
}

static void
cmd_helo(struct smtp_session *s, const struct smtp_command *cmd, bool ehlo)
{
	const struct cfg *cfg = session_cfg(s);

	if (!smtp_parse_helo(cmd->arg, cmd->arg_len)) {
		smtp_reply(s, "501 5.5.4 Syntax: %s hostname",
			   ehlo ? "EHLO" : "HELO");
		return;
	}
	/* HELO and EHLO reset any transaction (RFC 5321 4.1.4). */
	smtp_txn_reset(s);
	free(s->helo);
	s->helo = xstrndup(cmd->arg, cmd->arg_len);
	s->esmtp = ehlo;
	if (!ehlo) {
		conn_printf(s->c, "250 %s\r\n", smtp_hostname(s));
		return;
	}
	conn_printf(s->c,
		    "250-%s\r\n"
		    "250-PIPELINING\r\n"
		    "250-SIZE %zu\r\n",
		    smtp_hostname(s), cfg->message_size_limit);
	if (cfg->smtp_vrfy)
		conn_puts(s->c, "250-VRFY\r\n");
	if (conn_tls_available(s->c))
		conn_puts(s->c, "250-STARTTLS\r\n");
	smtp_auth_ehlo(s);
	conn_puts(s->c, "250-8BITMIME\r\n"
			"250-ENHANCEDSTATUSCODES\r\n"
			"250-CHUNKING\r\n"
			"250 SMTPUTF8\r\n");
}

static bool
arg_empty(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (cmd->arg_len == 0)
		return true;
	smtp_reply(s, "501 5.5.4 Syntax: %s", smtp_verb_name(cmd->verb));
	return false;
}

static void
cmd_vrfy(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (!session_cfg(s)->smtp_vrfy) {
		smtp_reply(s, "502 5.5.1 VRFY command is disabled");
		return;
	}
	if (cmd->arg_len == 0) {
		smtp_reply(s, "501 5.5.4 Syntax: VRFY address");
		return;
	}
	/* RFC 5321 3.5.3: 252 when the server does not verify. */
	smtp_reply(s, "252 2.0.0 Cannot VRFY user, but will accept message "
		      "and attempt delivery");
}

static void
cmd_starttls(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (cmd->arg_len > 0) {
		smtp_reply(s, "501 5.5.4 Syntax: STARTTLS");
		return;
	}
	if (conn_tls_active(s->c)) {
		smtp_reply(s, "503 5.5.1 Error: TLS is already active");
		return;
	}
	if (!conn_tls_available(s->c)) {
		smtp_reply(s, "502 5.5.1 Error: command not implemented");
		return;
	}
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	/* RFC 3207 section 4.2: forget everything learned in plain text. */
	smtp_txn_reset(s);
	smtp_auth_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	conn_starttls(s->c);
}

static void
cmd_dispatch(struct smtp_session *s, const struct smtp_command *cmd)
{
	switch (cmd->verb) {
	case SMTP_VERB_HELO:
	case SMTP_VERB_EHLO:
		cmd_helo(s, cmd, cmd->verb == SMTP_VERB_EHLO);
		break;
	case SMTP_VERB_MAIL:
		smtp_cmd_mail(s, cmd);
		break;
	case SMTP_VERB_RCPT:
		smtp_cmd_rcpt(s, cmd);
		break;
	case SMTP_VERB_DATA:
		smtp_cmd_data(s, cmd);
		break;
	case SMTP_VERB_BDAT:
		smtp_cmd_bdat(s, cmd);
		break;
	case SMTP_VERB_RSET:
		if (!arg_empty(s, cmd))
			break;
		smtp_txn_reset(s);
		smtp_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_NOOP:
		smtp_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_VERB_QUIT:
		smtp_reply(s, "221 2.0.0 Bye");
		smtp_txn_reset(s);
		conn_close(s->c, "QUIT");
		break;
	case SMTP_VERB_VRFY:
		cmd_vrfy(s, cmd);
		break;
	case SMTP_VERB_HELP:
		smtp_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA "
			      "BDAT RSET NOOP QUIT VRFY HELP");
		break;
	case SMTP_VERB_STARTTLS:
		cmd_starttls(s, cmd);
		break;
	case SMTP_VERB_AUTH:
		smtp_cmd_auth(s, cmd);
		break;
	case SMTP_VERB_EXPN:
	case SMTP_VERB_ETRN:
	case SMTP_VERB_TURN:
		smtp_reply(s, "502 5.5.1 Error: command not implemented");
		break;
	case SMTP_VERB_UNKNOWN:
		smtp_reply(s, "500 5.5.2 Error: command unrecognized");
		break;
	}
}

static void
process_line(struct smtp_session *s)
{
	struct smtp_command cmd;

	switch (smtp_parse_command(s->line.data, s->line.len, &cmd)) {
	case SMTP_LINE_OK:
		cmd_dispatch(s, &cmd);
		break;
	case SMTP_LINE_EMPTY:
		smtp_reply(s, "500 5.5.2 Error: empty command");
		break;
	case SMTP_LINE_NUL:
		smtp_reply(s, "500 5.5.2 Error: NUL byte in command line");
		break;
	case SMTP_LINE_BARE_CR:
		smtp_reply(s, "500 5.5.2 Error: bare <CR> in command line; "
			      "lines must end with <CR><LF>");
		break;
	case SMTP_LINE_CONTROL:
		smtp_reply(s, "500 5.5.2 Error: command unrecognized");
		break;
	}
}

/*
 * Takes one command line from c->in and processes it. Returns false when
 * c->in holds no complete line yet.
 */
static bool
command_input(struct smtp_session *s)
{
	struct conn *c = s->c;
	size_t limit = session_cfg(s)->smtp_line_limit;
	long lf = buf_find_lf(&c->in, 0);

	buf_reset(&s->line);
	if (lf < 0) {
		/* Any line completed from here would exceed the limit. */
		if (c->in.len >= limit) {
			s->mode = SMTP_MODE_DISCARD_LINE;
			buf_append(&s->line, c->in.data, 64);
			buf_reset(&c->in);
			return true;
		}
		return false;
	}
	if ((size_t)lf + 1 > limit) {
		buf_append(&s->line, c->in.data, 64);
		buf_consume(&c->in, (size_t)lf + 1);
		smtp_reply(s, "500 5.5.6 Error: line too long");
		return true;
	}
	if (lf == 0 || c->in.data[lf - 1] != '\r') {
		buf_append(&s->line, c->in.data, (size_t)lf);
		buf_consume(&c->in, (size_t)lf + 1);
		smtp_reply(s, "500 5.5.2 Error: bare <LF> in command line; "
			      "lines must end with <CR><LF>");
		return true;
	}
	buf_append(&s->line, c->in.data, (size_t)lf - 1);
	buf_consume(&c->in, (size_t)lf + 1);
	process_line(s);
	return true;
}

/* Throws input away through the LF that ends an overlong line. */
static void
discard_input(struct smtp_session *s)
{
	struct conn *c = s->c;
	long lf = buf_find_lf(&c->in, 0);

	if (lf < 0) {
		buf_reset(&c->in);
		return;
	}
	buf_consume(&c->in, (size_t)lf + 1);
	s->mode = SMTP_MODE_COMMAND;
	smtp_reply(s, "500 5.5.6 Error: line too long");
}

static void
check_error_limit(struct smtp_session *s)
{
	if (s->c->closing || s->errors <= session_cfg(s)->smtp_error_limit)
		return;
	log_info("conn=%lu reject ip=%s reply=\"421 4.7.0\" too many errors",
		 s->c->id, s->c->peer_ip);
	smtp_txn_reset(s);
	conn_printf(s->c, "421 4.7.0 %s Error: too many errors\r\n",
		    smtp_hostname(s));
	conn_close(s->c, "too many errors");
}

static void
smtp_input(struct conn *c)
{
	struct smtp_session *s = c->session;

	while (!c->closing && !c->dead && c->in.len > 0 &&
	       !s->auth_delaying && !s->committing) {
		if (c->out.len > SMTP_OUTPUT_HIGH) {
			conn_pause_read(c);
			return;
		}
		switch (s->mode) {
		case SMTP_MODE_COMMAND:
			if (!command_input(s))
				return;
			break;
		case SMTP_MODE_DISCARD_LINE:
			discard_input(s);
			break;
		case SMTP_MODE_AUTH:
			if (!smtp_auth_input(s))
				return;
			break;
		case SMTP_MODE_DATA:
		case SMTP_MODE_BDAT:
			buf_consume(&c->in,
				    smtp_txn_input(s, c->in.data, c->in.len));
			break;
		}
		check_error_limit(s);
	}
}

static void
smtp_drained(struct conn *c)
{
	struct smtp_session *s = c->session;

	if (c->read_paused && !s->auth_delaying && !s->committing)
		conn_resume_read(c);
}

static void
session_start(struct conn *c, bool submission)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));

	s->c = c;
	s->submission = submission;
	s->mode = SMTP_MODE_COMMAND;
	buf_init(&s->line);
	buf_init(&s->decoded);
	smtp_auth_init(s);
	c->session = s;
	conn_printf(c, "220 %s ESMTP hapost\r\n", smtp_hostname(s));
}

static void
smtp_start(struct conn *c)
{
	session_start(c, false);
}

static void
submission_start(struct conn *c)
{
	session_start(c, true);
}

static void
smtp_timeout(struct conn *c)
{
	struct smtp_session *s = c->session;

	log_info("conn=%lu idle timeout ip=%s", c->id, c->peer_ip);
	smtp_txn_reset(s);
	smtp_auth_reset(s);
	conn_printf(c, "421 4.4.2 %s Error: timeout exceeded\r\n",
		    smtp_hostname(s));
	conn_close(c, "idle timeout");
}

static void
smtp_shutdown(struct conn *c)
{
	struct smtp_session *s = c->session;

	/* A message in flight is committed whatever follows: its reply
	 * goes first, so the 421 does not make the client send it again. */
	if (s->committing)
		smtp_commit_settle(s);
	smtp_txn_reset(s);
	smtp_auth_reset(s);
	conn_printf(c, "421 4.3.2 %s Service shutting down\r\n",
		    smtp_hostname(s));
	conn_close(c, "server shutting down");
}

static void
smtp_free(struct conn *c)
{
	struct smtp_session *s = c->session;

	if (s == NULL)
		return;
	smtp_commit_cancel(s);
	smtp_txn_reset(s);
	smtp_auth_reset(s);
	free(s->helo);
	buf_free(&s->line);
	buf_free(&s->decoded);
	free(s);
	c->session = NULL;
}

const struct proto_ops smtp_ops = {
    .name = "smtp",
    .start = smtp_start,
    .input = smtp_input,
    .drained = smtp_drained,
    .timeout = smtp_timeout,
    .shutdown = smtp_shutdown,
    .free = smtp_free,
};

const struct proto_ops submission_ops = {
    .name = "submission",
    .start = submission_start,
    .input = smtp_input,
    .drained = smtp_drained,
    .timeout = smtp_timeout,
    .shutdown = smtp_shutdown,
    .free = smtp_free,
};
