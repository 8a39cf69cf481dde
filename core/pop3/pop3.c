/*
 * pop3 - the POP3 server session (RFC 1939, CAPA and response codes from
 * RFC 2449, RFC 3206)
 *
 * States: AUTHORIZATION (USER/PASS, CAPA, QUIT), TRANSACTION (STAT, LIST,
 * UIDL, RETR, TOP, DELE, RSET, NOOP, CAPA, QUIT) and UPDATE, which only a
 * QUIT in TRANSACTION reaches: the messages marked by DELE are unlinked
 * and their directories fsync'd before "+OK" is sent. A dropped
 * connection, an idle timeout or a server shutdown never deletes.
 *
 * The maildrop is the account's INBOX (new/ and cur/), opened once at
 * login; its message numbers and sizes stay fixed for the session. The
 * session holds an exclusive OFD lock on ROOT/hapost-pop3.lock, so a
 * second POP3 session gets "-ERR [IN-USE]"; QUIT releases it before its
 * reply. IMAP sessions do not take
 * that lock and may change the mailbox meanwhile; a RETR or TOP of a
 * message they expunged gets -ERR.
 *
 * UIDL is the IMAP UID and the folder's UIDVALIDITY as 16 uppercase hex
 * digits (UID first, the format Dovecot uses by default), so it is stable
 * across sessions and unique while the uidlist lasts; if the uidlist must
 * be rebuilt the UIDVALIDITY changes and clients fetch the messages again.
 *
 * Sizes are the stored file sizes in octets, exact for messages stored
 * with CRLF line ends as hapost stores them.
 * NOTE: a file written with bare LF line ends by another program is sent
 * with CRLF, so its LIST size undercounts by one octet per line.
 *
 * Hostile input: a line longer than 255 octets (RFC 2449), a NUL or other
 * control byte, an unknown command or a bad argument gets -ERR and the
 * session goes on; pop3_error_limit such errors close it. A failed login
 * is logged with the client address and user name (never the password)
 * and its -ERR is held back by auth_failure_delay_ms on a timer; the
 * session is closed after auth_failure_limit failures.
 *
 * STLS (RFC 2595) is offered in CAPA before login when a certificate is
 * configured; lines the client sent behind STLS are thrown away unread.
 * USER and PASS need TLS unless conn_plaintext_auth_allowed() says
 * otherwise: CAPA then omits USER and USER gets "-ERR [AUTH]".
 * AUTH (RFC 5034) offers the mechanisms of sasl_auth.h (PLAIN and LOGIN
 * under the same rule, CRAM-MD5 with sasl_cram_md5), listed in CAPA as
 * SASL. While an exchange runs, lines are base64 responses and "*"
 * cancels; an overlong line ends the exchange. AUTH without an argument
 * lists the mechanisms.
 *
 * APOP (pop3_apop.h) works when pop3_apop = yes and the worker loaded the
 * site key; the greeting then ends with the APOP timestamp.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "pop3_apop.h"
#include "pop3_session.h"
#include "sasl/sasl.h"
#include "sasl/sasl_auth.h"
#include "worker.h"
#include "xalloc.h"

void
pop3_reply(struct pop3_session *s, const char *line)
{
	conn_printf(s->c, "%s\r\n", line);
}

void
pop3_error(struct pop3_session *s, const char *line)
{
	pop3_reply(s, line);
	if (++s->errors >= s->c->worker->cfg->pop3_error_limit) {
		pop3_reply(s, "-ERR too many errors, closing connection");
		log_info("conn=%lu pop3 closed after %u errors ip=%s",
			 s->c->id, s->errors, s->c->peer_ip);
		conn_close(s->c, "too many errors");
	}
}

static void
delay_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pop3_session *s = w->data;

	pop3_reply(s, s->delayed_reply);
	free(s->delayed_reply);
	s->delayed_reply = NULL;
	if (s->close_after_delay) {
		conn_close(s->c, "too many failed logins");
		return;
	}
	conn_resume_read(s->c);
}

void
pop3_delayed_reply(struct pop3_session *s, const char *reply)
{
	struct cfg *cfg = s->c->worker->cfg;
	double delay = cfg->auth_failure_delay_ms / 1000.0;

	s->close_after_delay =
		++s->auth_failures >= cfg->auth_failure_limit;
	if (delay <= 0) {
		pop3_reply(s, reply);
		if (s->close_after_delay)
			conn_close(s->c, "too many failed logins");
		return;
	}
	s->delayed_reply = xstrdup(reply);
	conn_pause_read(s->c);
	ev_timer_set(&s->delay, delay, 0.);
	ev_timer_start(s->c->loop, &s->delay);
}

static void
count_visible(const struct pop3_session *s, size_t *n, uint64_t *octets)
{
	*n = 0;
	*octets = 0;
	for (size_t i = 0; i < s->mb->count; i++) {
		if (s->deleted[i])
			continue;
		(*n)++;
		*octets += s->mb->msgs[i].size;
	}
}

static void
cmd_capa(struct pop3_session *s)
{
	pop3_reply(s, "+OK capability list follows");
	pop3_reply(s, "TOP");
	pop3_reply(s, "UIDL");
	if (conn_plaintext_auth_allowed(s->c))
		pop3_reply(s, "USER");
	if (s->state == POP3_AUTHORIZATION && conn_tls_available(s->c))
		pop3_reply(s, "STLS");
	if (s->state == POP3_AUTHORIZATION) {
		const char *mechs = sasl_auth_mechanisms(s->c);

		if (mechs[0] != '\0')
			conn_printf(s->c, "SASL %s\r\n", mechs);
	}
	pop3_reply(s, "RESP-CODES");
	pop3_reply(s, "PIPELINING");
	pop3_reply(s, "AUTH-RESP-CODE");
	pop3_reply(s, "IMPLEMENTATION hapost");
	pop3_reply(s, ".");
}

static void
cmd_stls(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (cmd->has_arg) {
		pop3_error(s, "-ERR STLS takes no argument");
		return;
	}
	if (conn_tls_active(s->c)) {
		pop3_error(s, "-ERR TLS is already active");
		return;
	}
	if (!conn_tls_available(s->c)) {
		pop3_error(s, "-ERR STLS is not available on this server");
		return;
	}
	pop3_reply(s, "+OK begin TLS negotiation");
	free(s->user);
	s->user = NULL;
	conn_starttls(s->c);
}

static void
cmd_user(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	if (!conn_plaintext_auth_allowed(s->c)) {
		log_info("conn=%lu pop3 login rejected ip=%s "
			 "reason=plaintext-before-tls",
			 s->c->id, s->c->peer_ip);
		pop3_error(s, "-ERR [AUTH] plain-text login is disabled "
			      "without TLS; use STLS first");
		return;
	}
	if (!cmd->has_arg || cmd->arglen == 0 || cmd->arglen > 254 ||
	    memchr(cmd->arg, ' ', cmd->arglen) != NULL) {
		pop3_error(s, "-ERR USER takes one argument: the user name");
		return;
	}
	free(s->user);
	s->user = xstrndup(cmd->arg, cmd->arglen);
	pop3_reply(s, "+OK send PASS");
}

/* Opens the maildrop of the authenticated account; replies on failure. */
static bool
open_maildrop(struct pop3_session *s)
{
	char err[512], path[4096];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/cur", s->acct.maildir);
	if (stat(path, &st) < 0 &&
	    maildir_create(s->acct.maildir, false, err, sizeof(err)) < 0) {
		log_error("conn=%lu pop3 user=%s: %s", s->c->id,
			  s->acct.address, err);
		pop3_reply(s, "-ERR [SYS/TEMP] maildrop is unavailable, try "
			      "again later");
		return false;
	}
	fd = maildir_pop3_lock(s->acct.maildir, err, sizeof(err));
	if (fd == -2) {
		log_info("conn=%lu pop3 login rejected user=%s ip=%s "
			 "reason=in-use",
			 s->c->id, s->acct.address, s->c->peer_ip);
		pop3_reply(s, "-ERR [IN-USE] maildrop is locked by another "
			      "POP3 session");
		return false;
	}
	if (fd < 0) {
		log_error("conn=%lu pop3 user=%s: %s", s->c->id,
			  s->acct.address, err);
		pop3_reply(s, "-ERR [SYS/TEMP] maildrop is unavailable, try "
			      "again later");
		return false;
	}
	s->lock_fd = fd;
	if (mailbox_open(s->acct.maildir, "INBOX", false, &s->mb, err,
			 sizeof(err)) < 0) {
		log_error("conn=%lu pop3 user=%s: %s", s->c->id,
			  s->acct.address, err);
		pop3_reply(s, "-ERR [SYS/TEMP] maildrop is unavailable, try "
			      "again later");
		close(s->lock_fd);
		s->lock_fd = -1;
		return false;
	}
	s->deleted = xcalloc(s->mb->count + 1, sizeof(*s->deleted));
	return true;
}

static void
cmd_pass(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	struct directory *dir = s->c->worker->dir;
	char user[300], password[256];
	enum dir_result r;

	if (s->user == NULL) {
		pop3_error(s, "-ERR send USER first");
		return;
	}
	if (!cmd->has_arg || cmd->arglen == 0) {
		pop3_error(s, "-ERR PASS takes one argument: the password");
		return;
	}
	log_printable(user, sizeof(user), s->user, strlen(s->user));
	memcpy(password, cmd->arg, cmd->arglen);
	password[cmd->arglen] = '\0';
	r = directory_authenticate(dir, s->user, password, &s->acct);
	explicit_bzero(password, sizeof(password));
	free(s->user);
	s->user = NULL;

	if (r == DIR_TEMPFAIL) {
		log_warning("conn=%lu pop3 login deferred user=%s ip=%s "
			    "reason=directory-unavailable",
			    s->c->id, user, s->c->peer_ip);
		pop3_reply(s, "-ERR [SYS/TEMP] account directory is "
			      "unavailable, try again later");
		return;
	}
	if (r != DIR_OK) {
		log_info("conn=%lu pop3 login failed user=%s ip=%s", s->c->id,
			 user, s->c->peer_ip);
		pop3_delayed_reply(s, "-ERR [AUTH] invalid user name or "
				      "password");
		return;
	}
	pop3_login_complete(s);
}

void
pop3_login_complete(struct pop3_session *s)
{
	size_t n;
	uint64_t octets;

	s->have_acct = true;
	if (!s->acct.pop3_enabled) {
		log_info("conn=%lu pop3 login rejected user=%s ip=%s "
			 "reason=pop3-disabled",
			 s->c->id, s->acct.address, s->c->peer_ip);
		account_free(&s->acct);
		s->have_acct = false;
		pop3_delayed_reply(s, "-ERR [AUTH] POP3 access is disabled for "
				      "this account");
		return;
	}
	if (!open_maildrop(s)) {
		account_free(&s->acct);
		s->have_acct = false;
		return;
	}
	s->state = POP3_TRANSACTION;
	count_visible(s, &n, &octets);
	log_info("conn=%lu pop3 login user=%s ip=%s messages=%zu octets=%llu",
		 s->c->id, s->acct.address, s->c->peer_ip, n,
		 (unsigned long long)octets);
	conn_printf(s->c, "+OK maildrop has %zu messages (%llu octets)\r\n",
		    n, (unsigned long long)octets);
}

/* Parses a message-number argument list; replies -ERR and returns false
 * when it is invalid or names a missing or deleted message. */
static bool
msg_args(struct pop3_session *s, const struct pop3_cmd *cmd, int nmin,
	 int nmax, uint64_t *v, int *count)
{
	*count = pop3_parse_numbers(cmd->arg, cmd->arglen, nmin, nmax, v);
	if (*count < 0) {
		char line[120];

		snprintf(line, sizeof(line), "-ERR invalid arguments for %s",
			 cmd->keyword);
		pop3_error(s, line);
		return false;
	}
	if (*count == 0)
		return true;
	if (v[0] == 0 || v[0] > s->mb->count) {
		pop3_error(s, "-ERR no such message");
		return false;
	}
	if (s->deleted[v[0] - 1]) {
		pop3_error(s, "-ERR message is deleted");
		return false;
	}
	return true;
}

static void
list_line(struct pop3_session *s, bool uidl, size_t i, const char *prefix)
{
	const struct maildir_msg *m = &s->mb->msgs[i];

	if (uidl)
		conn_printf(s->c, "%s%zu %08X%08X\r\n", prefix, i + 1, m->uid,
			    s->mb->uidvalidity);
	else
		conn_printf(s->c, "%s%zu %llu\r\n", prefix, i + 1,
			    (unsigned long long)m->size);
}

static void
cmd_list_or_uidl(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	bool uidl = cmd->id == POP3_CMD_UIDL;
	uint64_t v[1];
	int n;

	if (!msg_args(s, cmd, 0, 1, v, &n))
		return;
	if (n == 1) {
		list_line(s, uidl, v[0] - 1, "+OK ");
		return;
	}
	pop3_reply(s, uidl ? "+OK unique-id listing follows"
			   : "+OK scan listing follows");
	for (size_t i = 0; i < s->mb->count; i++) {
		if (!s->deleted[i])
			list_line(s, uidl, i, "");
	}
	pop3_reply(s, ".");
}

static void
cmd_quit_transaction(struct pop3_session *s)
{
	size_t *idx = xcalloc(s->mb->count + 1, sizeof(*idx));
	size_t n = 0;
	char err[512];

	s->state = POP3_UPDATE;
	for (size_t i = 0; i < s->mb->count; i++) {
		if (s->deleted[i])
			idx[n++] = i;
	}
	if (n > 0 && mailbox_expunge_msgs(s->mb, idx, n, err, sizeof(err)) <
			     0) {
		log_error("conn=%lu pop3 user=%s: %s", s->c->id,
			  s->acct.address, err);
		pop3_reply(s, "-ERR [SYS/TEMP] some deleted messages were not "
			      "removed");
	} else {
		conn_printf(s->c, "+OK bye, %zu messages deleted\r\n", n);
	}
	/*
	 * The update is over: release the maildrop before the reply goes
	 * out, so a client that logs in again as soon as it reads it does
	 * not find the maildrop still locked.
	 */
	if (s->lock_fd >= 0) {
		close(s->lock_fd);
		s->lock_fd = -1;
	}
	log_info("conn=%lu pop3 logout user=%s ip=%s retrieved=%u "
		 "deleted=%zu",
		 s->c->id, s->acct.address, s->c->peer_ip, s->nretr, n);
	free(idx);
	conn_close(s->c, "QUIT");
}

static void
cmd_transaction(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	uint64_t v[2], octets;
	size_t count;
	int n;

	switch (cmd->id) {
	case POP3_CMD_STAT:
		if (!msg_args(s, cmd, 0, 0, v, &n))
			return;
		count_visible(s, &count, &octets);
		conn_printf(s->c, "+OK %zu %llu\r\n", count,
			    (unsigned long long)octets);
		return;
	case POP3_CMD_LIST:
	case POP3_CMD_UIDL:
		cmd_list_or_uidl(s, cmd);
		return;
	case POP3_CMD_RETR:
		if (!msg_args(s, cmd, 1, 1, v, &n))
			return;
		s->nretr++;
		pop3_send_message(s, v[0] - 1, false, 0);
		return;
	case POP3_CMD_TOP:
		if (!msg_args(s, cmd, 2, 2, v, &n))
			return;
		pop3_send_message(s, v[0] - 1, true, v[1]);
		return;
	case POP3_CMD_DELE:
		if (!msg_args(s, cmd, 1, 1, v, &n))
			return;
		s->deleted[v[0] - 1] = true;
		conn_printf(s->c, "+OK message %llu deleted\r\n",
			    (unsigned long long)v[0]);
		return;
	case POP3_CMD_RSET:
		if (!msg_args(s, cmd, 0, 0, v, &n))
			return;
		memset(s->deleted, 0, s->mb->count * sizeof(*s->deleted));
		count_visible(s, &count, &octets);
		conn_printf(s->c, "+OK maildrop has %zu messages (%llu "
				  "octets)\r\n",
			    count, (unsigned long long)octets);
		return;
	case POP3_CMD_NOOP:
		if (msg_args(s, cmd, 0, 0, v, &n))
			pop3_reply(s, "+OK");
		return;
	case POP3_CMD_QUIT:
		cmd_quit_transaction(s);
		return;
	case POP3_CMD_CAPA:
		cmd_capa(s);
		return;
	case POP3_CMD_USER:
	case POP3_CMD_PASS:
	case POP3_CMD_APOP:
	case POP3_CMD_AUTH:
	case POP3_CMD_STLS:
		pop3_error(s, "-ERR already authenticated");
		return;
	default:
		pop3_error(s, "-ERR unknown command");
		return;
	}
}

static void
auth_end(struct pop3_session *s)
{
	if (s->sasl == NULL)
		return;
	sasl_server_clear(s->sasl);
	free(s->sasl);
	s->sasl = NULL;
}

/* Feeds one SASL response (or the initial one) and replies. */
static void
auth_step(struct pop3_session *s, const char *line, size_t len, bool initial)
{
	struct buf challenge = BUF_INIT;
	const char *error = NULL, *why;
	char user[SASL_FIELD_MAX + 1], safe[300];
	enum dir_result r;

	switch (sasl_server_step(s->sasl, line, len, initial, &challenge,
				 &error)) {
	case SASL_CONTINUE:
		conn_printf(s->c, "+ %s\r\n", buf_cstr(&challenge));
		break;
	case SASL_CANCEL:
		auth_end(s);
		pop3_error(s, "-ERR authentication cancelled");
		break;
	case SASL_FAIL:
		auth_end(s);
		log_info("conn=%lu pop3 AUTH rejected ip=%s reason=\"%s\"",
			 s->c->id, s->c->peer_ip, error);
		pop3_error(s, "-ERR invalid authentication response");
		break;
	case SASL_DONE:
		memcpy(user, s->sasl->authcid, sizeof(user));
		r = sasl_auth_check(s->c->worker->dir, s->sasl, &s->acct, &why);
		auth_end(s);
		log_printable(safe, sizeof(safe), user, strlen(user));
		if (r == DIR_TEMPFAIL) {
			log_warning("conn=%lu pop3 login deferred user=%s "
				    "ip=%s reason=directory-unavailable",
				    s->c->id, safe, s->c->peer_ip);
			pop3_reply(s, "-ERR [SYS/TEMP] account directory is "
				      "unavailable, try again later");
		} else if (r != DIR_OK) {
			log_info("conn=%lu pop3 login failed user=%s ip=%s "
				 "reason=\"%s\"",
				 s->c->id, safe, s->c->peer_ip, why);
			pop3_delayed_reply(s, "-ERR [AUTH] authentication "
					      "failed");
		} else {
			pop3_login_complete(s);
		}
		break;
	}
	buf_free(&challenge);
}

static void
cmd_auth(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	const char *sp = memchr(cmd->arg, ' ', cmd->arglen);
	size_t mlen = sp != NULL ? (size_t)(sp - cmd->arg) : cmd->arglen;
	enum sasl_mech mech;

	if (!cmd->has_arg || cmd->arglen == 0) {
		const char *mechs = sasl_auth_mechanisms(s->c);

		/* The mechanism list older clients ask for (RFC 1734). */
		pop3_reply(s, "+OK mechanisms follow");
		while (*mechs != '\0') {
			size_t len = strcspn(mechs, " ");

			conn_printf(s->c, "%.*s\r\n", (int)len, mechs);
			mechs += len;
			mechs += *mechs == ' ';
		}
		pop3_reply(s, ".");
		return;
	}
	if (!sasl_mech_from_name(cmd->arg, mlen, &mech) ||
	    sasl_auth_offer(s->c, mech) == SASL_NOT_OFFERED) {
		pop3_error(s, "-ERR unsupported authentication mechanism");
		return;
	}
	if (sasl_auth_offer(s->c, mech) == SASL_NEEDS_TLS) {
		log_info("conn=%lu pop3 login rejected ip=%s "
			 "reason=plaintext-before-tls",
			 s->c->id, s->c->peer_ip);
		pop3_error(s, "-ERR [AUTH] plain-text login is disabled "
			      "without TLS; use STLS first");
		return;
	}
	s->sasl = xmalloc(sizeof(*s->sasl));
	sasl_server_init(s->sasl, mech, s->c->worker->cfg->hostname);
	if (sp == NULL)
		auth_step(s, NULL, 0, true);
	else
		auth_step(s, sp + 1, cmd->arglen - mlen - 1, true);
}

static void
cmd_authorization(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	switch (cmd->id) {
	case POP3_CMD_USER:
		cmd_user(s, cmd);
		return;
	case POP3_CMD_PASS:
		cmd_pass(s, cmd);
		return;
	case POP3_CMD_QUIT:
		pop3_reply(s, "+OK bye");
		conn_close(s->c, "QUIT");
		return;
	case POP3_CMD_CAPA:
		cmd_capa(s);
		return;
	case POP3_CMD_STLS:
		cmd_stls(s, cmd);
		return;
	case POP3_CMD_AUTH:
		cmd_auth(s, cmd);
		return;
	case POP3_CMD_APOP:
		pop3_cmd_apop(s, cmd);
		return;
	case POP3_CMD_UNKNOWN:
		pop3_error(s, "-ERR unknown command");
		return;
	default:
		pop3_error(s, "-ERR command not valid before login");
		return;
	}
}

/* Returns true while the session must not read the next command. */
static bool
pop3_busy(const struct pop3_session *s)
{
	return s->c->closing || s->c->dead || s->sending ||
	       s->delayed_reply != NULL;
}

static void
pop3_line(struct pop3_session *s, const char *line, size_t len)
{
	struct pop3_cmd cmd;
	const char *why;

	if (s->sasl != NULL) {
		auth_step(s, line, len, false);
		return;
	}
	if (!pop3_parse_line(line, len, &cmd, &why)) {
		char reply[100];

		snprintf(reply, sizeof(reply), "-ERR %s", why);
		pop3_error(s, reply);
		return;
	}
	if (s->state == POP3_AUTHORIZATION)
		cmd_authorization(s, &cmd);
	else if (s->state == POP3_TRANSACTION)
		cmd_transaction(s, &cmd);
}

static void
pop3_input(struct conn *c)
{
	struct pop3_session *s = c->session;

	while (!pop3_busy(s) && c->in.len > 0) {
		long lf = buf_find_lf(&c->in, 0);
		size_t len;

		if (s->skipping) {
			if (lf < 0) {
				buf_consume(&c->in, c->in.len);
				return;
			}
			buf_consume(&c->in, (size_t)lf + 1);
			s->skipping = false;
			continue;
		}
		if (lf < 0) {
			if (c->in.len < POP3_LINE_MAX)
				return;
			/* Reply once, then drop the line up to its LF. */
			auth_end(s);
			buf_consume(&c->in, c->in.len);
			s->skipping = true;
			pop3_error(s, "-ERR line too long");
			return;
		}
		if ((size_t)lf + 1 > POP3_LINE_MAX) {
			auth_end(s);
			buf_consume(&c->in, (size_t)lf + 1);
			pop3_error(s, "-ERR line too long");
			continue;
		}
		len = (size_t)lf;
		if (len > 0 && c->in.data[len - 1] == '\r')
			len--;
		{
			char line[POP3_LINE_MAX + 1];

			memcpy(line, c->in.data, len);
			line[len] = '\0';
			buf_consume(&c->in, (size_t)lf + 1);
			pop3_line(s, line, len);
			explicit_bzero(line, sizeof(line));
		}
	}
}

static void
pop3_start(struct conn *c)
{
	struct pop3_session *s = xcalloc(1, sizeof(*s));

	s->c = c;
	s->lock_fd = -1;
	s->msg_fd = -1;
	s->state = POP3_AUTHORIZATION;
	buf_init(&s->chunk);
	ev_init(&s->delay, delay_cb);
	s->delay.data = s;
	c->session = s;
	if (c->worker->cfg->pop3_apop && c->worker->site_key != NULL) {
		char ts[POP3_APOP_TIMESTAMP_MAX];

		if (pop3_apop_timestamp(ts, sizeof(ts),
					c->worker->cfg->hostname))
			s->apop_timestamp = xstrdup(ts);
	}
	if (s->apop_timestamp != NULL)
		conn_printf(c, "+OK %s POP3 server ready %s\r\n",
			    c->worker->cfg->hostname, s->apop_timestamp);
	else
		conn_printf(c, "+OK %s POP3 server ready\r\n",
			    c->worker->cfg->hostname);
}

static void
pop3_drained(struct conn *c)
{
	struct pop3_session *s = c->session;

	if (s != NULL && s->sending)
		pop3_send_more(s);
}

static void
pop3_timeout(struct conn *c)
{
	struct pop3_session *s = c->session;

	if (!s->sending)
		pop3_reply(s, "-ERR idle timeout, closing connection");
	pop3_send_abort(s);
	log_info("conn=%lu pop3 idle timeout ip=%s", c->id, c->peer_ip);
	conn_close(c, "idle timeout");
}

static void
pop3_shutdown(struct conn *c)
{
	struct pop3_session *s = c->session;

	/* An -ERR inside a message being sent would read as message data. */
	if (!s->sending)
		pop3_reply(s, "-ERR server shutting down");
	pop3_send_abort(s);
	conn_close(c, "server shutting down");
}

static void
pop3_free(struct conn *c)
{
	struct pop3_session *s = c->session;

	if (s == NULL)
		return;
	ev_timer_stop(c->loop, &s->delay);
	auth_end(s);
	pop3_send_abort(s);
	mailbox_close(s->mb);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	if (s->have_acct)
		account_free(&s->acct);
	free(s->deleted);
	free(s->user);
	free(s->delayed_reply);
	free(s->apop_timestamp);
	buf_free(&s->chunk);
	free(s);
	c->session = NULL;
}

const struct proto_ops pop3_ops = {
	.name = "pop3",
	.start = pop3_start,
	.input = pop3_input,
	.drained = pop3_drained,
	.timeout = pop3_timeout,
	.shutdown = pop3_shutdown,
	.free = pop3_free,
};
