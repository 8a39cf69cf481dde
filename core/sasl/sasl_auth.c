/*
 * sasl_auth - mechanisms offered and credential checks (see sasl_auth.h)
 */
#include "config.h"

#include <strings.h>

#include "sasl_auth.h"
#include "worker.h"

/* The CRAM-MD5 state layout is the one the directory stores. */
_Static_assert(DIR_CRAM_STATE_LEN == SASL_CRAM_STATE_LEN,
	       "CRAM-MD5 state sizes differ");

const char *
sasl_auth_mechanisms(const struct conn *c)
{
	bool plain = conn_plaintext_auth_allowed(c);
	bool cram = c->worker->cfg->sasl_cram_md5;

	if (plain)
		return cram ? "PLAIN LOGIN CRAM-MD5" : "PLAIN LOGIN";
	return cram ? "CRAM-MD5" : "";
}

enum sasl_offer
sasl_auth_offer(const struct conn *c, enum sasl_mech mech)
{
	if (mech == SASL_MECH_CRAM_MD5)
		return c->worker->cfg->sasl_cram_md5 ? SASL_OFFERED
						     : SASL_NOT_OFFERED;
	return conn_plaintext_auth_allowed(c) ? SASL_OFFERED : SASL_NEEDS_TLS;
}

static enum dir_result
check_cram_md5(struct directory *d, const struct sasl_server *s,
	       struct account *acct, const char **why)
{
	unsigned char state[DIR_CRAM_STATE_LEN];
	enum dir_result r = directory_cram_md5(d, s->authcid, state, acct);

	if (r == DIR_NOT_FOUND)
		*why = "unknown user or no CRAM-MD5 secret (--legacy-auth)";
	if (r != DIR_OK)
		return r;
	if (!sasl_cram_md5_verify(state, s->challenge, s->digest)) {
		account_free(acct);
		r = DIR_NOT_FOUND;
	}
	explicit_bzero(state, sizeof(state));
	return r;
}

enum dir_result
sasl_auth_check(struct directory *d, const struct sasl_server *s,
		struct account *acct, const char **why)
{
	enum dir_result r;

	*why = "invalid credentials";
	if (s->mech == SASL_MECH_CRAM_MD5)
		r = check_cram_md5(d, s, acct, why);
	else if (s->authzid[0] != '\0' &&
		 strcasecmp(s->authzid, s->authcid) != 0) {
		/* No proxy logins: an authzid must name the user itself. */
		*why = "authorization identity differs from the user";
		return DIR_NOT_FOUND;
	} else {
		r = directory_authenticate(d, s->authcid, s->password, acct);
	}
	if (r == DIR_NOT_LOCAL)
		r = DIR_NOT_FOUND;
	return r;
}
