/*
 * imap_authenticate - AUTHENTICATE (RFC 3501 section 6.2.2) with an
 * optional initial response (SASL-IR, RFC 4959)
 *
 * The command stores its tag and a SASL exchange (core/sasl) in the
 * session. While that runs, every line the frame layer hands over is a
 * base64 response, never a command, and "*" cancels with BAD. PLAIN and LOGIN
 * need conn_plaintext_auth_allowed(), like LOGIN. A failed login goes
 * through imap_login_failed(): logged without the password, NO after
 * auth_failure_delay, BYE after auth_failure_limit failures.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "imap_session.h"
#include "log.h"
#include "sasl/sasl.h"
#include "sasl/sasl_auth.h"
#include "worker.h"
#include "xalloc.h"

void
imap_auth_abort(struct imap_session *s)
{
	if (s->sasl != NULL) {
		sasl_server_clear(s->sasl);
		free(s->sasl);
		s->sasl = NULL;
	}
	free(s->auth_tag);
	s->auth_tag = NULL;
}

/* Checks the finished exchange's credentials and replies. */
static void
exchange_done(struct imap_session *s)
{
	struct account acct;
	const char *why;
	char user[SASL_FIELD_MAX + 1];
	enum dir_result r;

	memcpy(user, s->sasl->authcid, sizeof(user));
	r = sasl_auth_check(s->c->worker->dir, s->sasl, &acct, &why);
	imap_auth_abort(s);
	if (r == DIR_TEMPFAIL) {
		log_error("conn=%lu imap login: account directory unavailable",
			  s->c->id);
		imap_no(s, "[UNAVAILABLE] Authentication is temporarily "
			   "unavailable");
		return;
	}
	if (r != DIR_OK) {
		imap_login_failed(s, user, why);
		return;
	}
	imap_login_complete(s, &acct, user);
}

/*
 * Feeds one response; s->tag is the command's tag meanwhile. Returns true
 * when the exchange goes on (the tag must be kept for the next line).
 */
static bool
exchange_step(struct imap_session *s, const char *line, size_t len,
	      bool initial)
{
	struct buf challenge = BUF_INIT;
	const char *error = NULL;
	bool more = false;

	switch (sasl_server_step(s->sasl, line, len, initial, &challenge,
				 &error)) {
	case SASL_CONTINUE:
		conn_printf(s->c, "+ %s\r\n", buf_cstr(&challenge));
		more = true;
		break;
	case SASL_DONE:
		exchange_done(s);
		break;
	case SASL_CANCEL:
		imap_auth_abort(s);
		imap_bad(s, "AUTHENTICATE cancelled");
		break;
	case SASL_FAIL:
		imap_auth_abort(s);
		log_info("conn=%lu imap AUTHENTICATE rejected ip=%s "
			 "reason=\"%s\"",
			 s->c->id, s->c->peer_ip, error);
		imap_bad(s, "Invalid AUTHENTICATE response: %s", error);
		break;
	}
	buf_free(&challenge);
	return more;
}

int
imap_cmd_authenticate(struct imap_session *s, struct imap_parser *p)
{
	enum sasl_mech mech;
	const char *ir = NULL;
	size_t irlen = 0;
	char *name;

	if (imap_parse_sp(p) < 0 || imap_parse_atom(p, &name) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	if (imap_accept(p, ' ')) {
		/* SASL-IR: the rest of the line, base64 or "=". */
		ir = p->p;
		irlen = (size_t)(p->end - p->p);
		p->p = p->end;
		if (irlen == 0) {
			imap_bad(s, "Empty initial response: send = instead");
			return 0;
		}
	}
	if (imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	if (!sasl_mech_from_name(name, strlen(name), &mech) ||
	    sasl_auth_offer(s->c, mech) == SASL_NOT_OFFERED) {
		imap_no(s, "[CANNOT] Unsupported authentication mechanism");
		return 0;
	}
	if (sasl_auth_offer(s->c, mech) == SASL_NEEDS_TLS) {
		log_info("conn=%lu imap login rejected ip=%s "
			 "reason=plaintext-before-tls",
			 s->c->id, s->c->peer_ip);
		imap_no(s, "[PRIVACYREQUIRED] %s is disabled without TLS; use "
			   "STARTTLS first",
			sasl_mech_name(mech));
		return 0;
	}
	s->sasl = xmalloc(sizeof(*s->sasl));
	sasl_server_init(s->sasl, mech, s->c->worker->cfg->hostname);
	if (exchange_step(s, ir, irlen, true)) {
		/* dispatch() frees s->tag; the exchange keeps a copy. */
		s->auth_tag = xstrdup(s->tag);
		return 0;
	}
	/* A delayed NO keeps the command running (imap_login_failed). */
	return s->busy ? 1 : 0;
}

void
imap_auth_line(struct imap_session *s, const char *line, size_t len)
{
	char *tag = s->auth_tag;

	while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	s->auth_tag = NULL;
	free(s->tag);
	s->tag = tag;
	s->updates = IMAP_UPDATES_NONE;
	s->uid = false;
	if (exchange_step(s, line, len, false)) {
		s->auth_tag = s->tag;
		s->tag = NULL;
	} else if (!s->busy) {
		free(s->tag);
		s->tag = NULL;
	}
	/* The line may hold a password. */
	explicit_bzero((char *)line, len);
}
