/*
 * imap_cmd_auth - commands of any state: CAPABILITY, NOOP, LOGOUT, ID,
 * NAMESPACE, and authentication (STARTTLS and LOGIN; AUTHENTICATE is in
 * imap_authenticate.c)
 *
 * LOGIN checks the password through the account directory and requires
 * the account's IMAP access. A failure is logged with the client address
 * and user name (never the password) and its NO is delayed by
 * auth_failure_delay without blocking the worker; the third failure in a
 * session ends it. Before TLS, unless conn_plaintext_auth_allowed() says
 * otherwise, the capabilities include LOGINDISABLED and LOGIN gets
 * NO [PRIVACYREQUIRED] (RFC 5530).
 *
 * STARTTLS (RFC 3501 section 6.2.1) answers OK, and the conn throws away
 * whatever the client pipelined behind it. Capabilities are not sent
 * again on their own: the client asks with CAPABILITY inside TLS.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap_session.h"
#include "log.h"
#include "sasl/sasl_auth.h"
#include "worker.h"
#include "xalloc.h"

#define ID_MAX_PAIRS 30

const char *
imap_capabilities(const struct imap_session *s)
{
	static char caps[sizeof(IMAP_CAPABILITIES) + 160];
	bool before_login = s->state == IMAP_NOT_AUTHENTICATED;

	const char *mechs = sasl_auth_mechanisms(s->c);
	size_t n;

	n = (size_t)snprintf(
	    caps, sizeof(caps), "%s%s%s", IMAP_CAPABILITIES,
	    before_login && conn_tls_available(s->c) ? " STARTTLS" : "",
	    before_login && !conn_plaintext_auth_allowed(s->c)
		    ? " LOGINDISABLED"
		    : "");
	/* AUTH=mechanism for each one offered (RFC 3501 section 6.2.2). */
	while (before_login && *mechs != '\0' && n + 40 < sizeof(caps)) {
		size_t len = strcspn(mechs, " ");

		n += (size_t)snprintf(caps + n, sizeof(caps) - n, " AUTH=%.*s",
				      (int)len, mechs);
		mechs += len;
		mechs += *mechs == ' ';
	}
	if (before_login)
		snprintf(caps + n, sizeof(caps) - n, " SASL-IR");
	return caps;
}

int
imap_cmd_capability(struct imap_session *s, struct imap_parser *p)
{
	if (imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	conn_printf(s->c, "* CAPABILITY %s\r\n", imap_capabilities(s));
	imap_ok(s, "CAPABILITY completed");
	return 0;
}

int
imap_cmd_noop(struct imap_session *s, struct imap_parser *p)
{
	if (imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	imap_ok(s, "NOOP completed");
	return 0;
}

int
imap_cmd_logout(struct imap_session *s, struct imap_parser *p)
{
	if (imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	conn_puts(s->c, "* BYE Logging out\r\n");
	imap_ok(s, "LOGOUT completed");
	log_info("conn=%lu imap logout user=%s", s->c->id,
		 s->have_acct ? s->acct.address : "-");
	conn_close(s->c, "logout");
	return 0;
}

void
imap_login_failed(struct imap_session *s, const char *user,
		  const char *reason)
{
	struct conn *c = s->c;
	char safe[128];

	s->auth_failures++;
	log_info("conn=%lu imap login failed ip=%s user=%s reason=\"%s\"",
		 c->id, c->peer_ip,
		 log_printable(safe, sizeof(safe), user, strlen(user)),
		 reason);
	imap_command_async(s);
	ev_timer_set(&s->delay, c->worker->cfg->auth_failure_delay_ms / 1000.,
		     0.);
	ev_timer_start(c->loop, &s->delay);
}

int
imap_cmd_login(struct imap_session *s, struct imap_parser *p)
{
	struct imap_string user, pass;
	struct account acct = {0};
	enum dir_result r;

	if (imap_parse_sp(p) < 0 || imap_parse_astring(p, &user) < 0 ||
	    imap_parse_sp(p) < 0 || imap_parse_astring(p, &pass) < 0 ||
	    imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	if (!conn_plaintext_auth_allowed(s->c)) {
		memset(pass.data, 0, pass.len);
		log_info("conn=%lu imap login rejected ip=%s "
			 "reason=plaintext-before-tls",
			 s->c->id, s->c->peer_ip);
		imap_no(s, "[PRIVACYREQUIRED] Plain-text login is disabled "
			   "without TLS; use STARTTLS first");
		return 0;
	}
	r = directory_authenticate(s->c->worker->dir, user.data, pass.data,
				   &acct);
	memset(pass.data, 0, pass.len);
	if (r == DIR_TEMPFAIL) {
		log_error("conn=%lu imap login: account directory unavailable",
			  s->c->id);
		imap_no(s, "[UNAVAILABLE] Authentication is temporarily "
			   "unavailable");
		return 0;
	}
	if (r != DIR_OK) {
		imap_login_failed(s, user.data, "invalid credentials");
		return 1;
	}
	return imap_login_complete(s, &acct, user.data);
}

int
imap_login_complete(struct imap_session *s, struct account *acct_in,
		    const char *user)
{
	struct account acct = *acct_in;
	char err[512];

	if (!acct.imap_enabled) {
		account_free(&acct);
		imap_login_failed(s, user, "IMAP disabled for the account");
		return 1;
	}
	/* A new account's Maildir appears with its first delivery; create
	 * it now so SELECT INBOX works before that. */
	if (access(acct.maildir, F_OK) < 0 &&
	    maildir_create(acct.maildir, false, err, sizeof(err)) < 0)
		log_error("conn=%lu imap login user=%s: %s", s->c->id,
			  acct.address, err);
	s->acct = acct;
	s->have_acct = true;
	s->state = IMAP_AUTHENTICATED;
	log_info("conn=%lu imap login ip=%s user=%s", s->c->id, s->c->peer_ip,
		 acct.address);
	imap_ok(s, "[CAPABILITY %s] Logged in", imap_capabilities(s));
	return 0;
}

int
imap_cmd_starttls(struct imap_session *s, struct imap_parser *p)
{
	if (imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	if (conn_tls_active(s->c)) {
		imap_bad(s, "TLS is already active");
		return 0;
	}
	if (!conn_tls_available(s->c)) {
		imap_no(s, "[CANNOT] TLS is not available on this server");
		return 0;
	}
	imap_ok(s, "Begin TLS negotiation now");
	/* The frame is at a command boundary; start clean anyway. */
	imap_frame_init(&s->frame);
	conn_starttls(s->c);
	return 0;
}

/* Reads the ID argument: NIL or a list of string / nstring pairs. */
static int
parse_id_params(struct imap_parser *p)
{
	struct imap_string key, value;
	unsigned pairs = 0;
	char *nil;

	if (imap_peek(p) != '(') {
		if (imap_parse_atom(p, &nil) < 0 || strcasecmp(nil, "NIL") != 0)
			return -1;
		return 0;
	}
	p->p++;
	if (imap_accept(p, ')'))
		return 0;
	do {
		if (++pairs > ID_MAX_PAIRS || imap_parse_string(p, &key) < 0 ||
		    imap_parse_sp(p) < 0)
			return -1;
		if (imap_peek(p) == '"' || imap_peek(p) == '{') {
			if (imap_parse_string(p, &value) < 0)
				return -1;
		} else if (imap_parse_atom(p, &nil) < 0 ||
			   strcasecmp(nil, "NIL") != 0) {
			return -1;
		}
	} while (imap_accept(p, ' '));
	return imap_accept(p, ')') ? 0 : -1;
}

int
imap_cmd_id(struct imap_session *s, struct imap_parser *p)
{
	if (imap_parse_sp(p) < 0 || parse_id_params(p) < 0 ||
	    imap_parse_end(p) < 0) {
		imap_bad(s, "Invalid ID parameters: expected NIL or a list "
			    "of string pairs");
		return 0;
	}
	conn_printf(s->c, "* ID (\"name\" \"hapost\" \"version\" \"%s\")\r\n",
		    PACKAGE_VERSION);
	imap_ok(s, "ID completed");
	return 0;
}

int
imap_cmd_namespace(struct imap_session *s, struct imap_parser *p)
{
	if (imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	conn_puts(s->c, "* NAMESPACE ((\"\" \".\")) NIL NIL\r\n");
	imap_ok(s, "NAMESPACE completed");
	return 0;
}
