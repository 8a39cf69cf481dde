/*
 * smtp_client_auth - the client side of SMTP AUTH (RFC 4954)
 *
 * Mechanisms: PLAIN (RFC 4616) with an initial response, LOGIN (the
 * "Username:"/"Password:" exchange) and CRAM-MD5 (RFC 2195). Over TLS
 * the client prefers PLAIN, then CRAM-MD5, then LOGIN. Without TLS it
 * uses CRAM-MD5, which never sends the password. PLAIN and LOGIN are
 * used without TLS only under the TLS policy "none", where the operator
 * chose plain text. Otherwise the session fails with SMTPC_TEMPFAIL
 * and a reply text saying why.
 *
 * Every AUTH failure, the server's 535 included, is SMTPC_TEMPFAIL:
 * wrong or missing credentials are a configuration error on this side,
 * and mail waits in the queue until it is fixed rather than bouncing.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sasl/sasl.h"
#include "smtp_client_int.h"

/* Queues the base64 of data[0..len) as one line and wipes the copy. */
static void
send_base64(struct smtp_client *c, const char *prefix, const void *data,
	    size_t len)
{
	struct buf line = BUF_INIT;

	buf_puts(&line, prefix);
	sasl_base64_encode(data, len, &line);
	smtpc_send_line(c, "%s", buf_cstr(&line));
	OPENSSL_cleanse(line.data, line.len);
	buf_free(&line);
}

static void
send_plain(struct smtp_client *c)
{
	size_t ulen = strlen(c->auth_user), plen = strlen(c->auth_password);
	struct buf msg = BUF_INIT;

	/* authzid (empty) NUL authcid NUL password */
	buf_putc(&msg, '\0');
	buf_append(&msg, c->auth_user, ulen);
	buf_putc(&msg, '\0');
	buf_append(&msg, c->auth_password, plen);
	send_base64(c, "AUTH PLAIN ", msg.data, msg.len);
	OPENSSL_cleanse(msg.data, msg.len);
	buf_free(&msg);
}

/* Sends the CRAM-MD5 response; false when the challenge is invalid. */
static bool
send_cram_md5(struct smtp_client *c, const char *challenge_b64)
{
	unsigned char challenge[512], digest[EVP_MAX_MD_SIZE];
	unsigned digest_len = 0;
	struct buf msg = BUF_INIT;
	long n;

	n = sasl_base64_decode(challenge_b64, strlen(challenge_b64), challenge,
			       sizeof(challenge));
	if (n <= 0)
		return false;
	if (HMAC(EVP_md5(), c->auth_password, (int)strlen(c->auth_password),
		 challenge, (size_t)n, digest, &digest_len) == NULL)
		return false;
	buf_puts(&msg, c->auth_user);
	buf_putc(&msg, ' ');
	for (unsigned i = 0; i < digest_len; i++)
		buf_printf(&msg, "%02x", digest[i]);
	send_base64(c, "", msg.data, msg.len);
	buf_free(&msg);
	return true;
}

void
smtpc_auth_start(struct smtp_client *c)
{
	unsigned offered = c->esmtp ? c->ehlo.auth : 0;
	bool tls = c->ssl != NULL;
	bool clear_ok = tls || c->tls_policy == SMTPC_TLS_NONE;
	struct smtp_client_reply r;

	snprintf(c->st.stage, sizeof(c->st.stage), "AUTH");
	if (offered == 0) {
		smtpc_set_reply(&r, 0, "4.7.0",
				"credentials are configured but %s offers no "
				"AUTH mechanism this client supports (PLAIN, "
				"LOGIN, CRAM-MD5)",
				c->st.remote);
		smtpc_session_fail(c, SMTPC_TEMPFAIL, &r);
		return;
	}
	if (tls && (offered & SMTP_AUTH_PLAIN))
		c->auth_mech = SMTP_AUTH_PLAIN;
	else if (offered & SMTP_AUTH_CRAM_MD5)
		c->auth_mech = SMTP_AUTH_CRAM_MD5;
	else if (clear_ok && (offered & SMTP_AUTH_PLAIN))
		c->auth_mech = SMTP_AUTH_PLAIN;
	else if (clear_ok && (offered & SMTP_AUTH_LOGIN))
		c->auth_mech = SMTP_AUTH_LOGIN;
	else {
		smtpc_set_reply(&r, 0, "4.7.0",
				"not sending the password to %s in clear text: "
				"the session has no TLS and the server offers "
				"no CRAM-MD5",
				c->st.remote);
		smtpc_session_fail(c, SMTPC_TEMPFAIL, &r);
		return;
	}
	c->auth_step = 0;
	switch (c->auth_mech) {
	case SMTP_AUTH_PLAIN:
		send_plain(c);
		break;
	case SMTP_AUTH_LOGIN:
		smtpc_send_line(c, "AUTH LOGIN");
		break;
	default:
		smtpc_send_line(c, "AUTH CRAM-MD5");
		break;
	}
	smtpc_await_reply(c, SMTPC_AUTH, "AUTH");
}

void
smtpc_auth_reply(struct smtp_client *c, const struct smtp_client_reply *r)
{
	struct smtp_client_reply why;
	unsigned step = c->auth_step++;

	if (r->code / 100 == 2) {
		smtpc_session_ready(c);
		return;
	}
	if (r->code != 334) {
		/* The server's own reply, but retried rather than bounced. */
		smtpc_session_fail(c, SMTPC_TEMPFAIL, r);
		return;
	}
	if (c->auth_mech == SMTP_AUTH_LOGIN && step == 0) {
		send_base64(c, "", c->auth_user, strlen(c->auth_user));
	} else if (c->auth_mech == SMTP_AUTH_LOGIN && step == 1) {
		send_base64(c, "", c->auth_password, strlen(c->auth_password));
	} else if (c->auth_mech == SMTP_AUTH_CRAM_MD5 && step == 0) {
		if (!send_cram_md5(c, r->text)) {
			smtpc_set_reply(&why, 0, "4.7.0",
					"%s sent an invalid CRAM-MD5 challenge",
					c->st.remote);
			smtpc_session_fail(c, SMTPC_TEMPFAIL, &why);
			return;
		}
	} else {
		smtpc_set_reply(&why, 0, "4.7.0",
				"unexpected AUTH challenge from %s: %d %s",
				c->st.remote, r->code, r->text);
		smtpc_session_fail(c, SMTPC_TEMPFAIL, &why);
		return;
	}
	smtpc_await_reply(c, SMTPC_AUTH, NULL);
}
