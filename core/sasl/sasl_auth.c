/*
 * sasl_auth - checks finished SASL credentials (see sasl_auth.h)
 *
 * NOTE: CRAM-MD5 is not offered yet, because the directory stores only
 * SHA-512-crypt hashes and CRAM-MD5 needs the HMAC-MD5 key state.
 */
#include "config.h"

#include <strings.h>

#include "sasl_auth.h"

const char *
sasl_auth_mechanisms(bool plaintext_allowed)
{
	return plaintext_allowed ? "PLAIN LOGIN" : "";
}

bool
sasl_auth_mech_allowed(enum sasl_mech mech, bool plaintext_allowed)
{
	if (sasl_mech_plaintext(mech))
		return plaintext_allowed;
	return false;
}

enum dir_result
sasl_auth_check(struct directory *d, const struct sasl_server *s,
		struct account *acct, const char **why)
{
	enum dir_result r;

	*why = "invalid credentials";
	if (!sasl_mech_plaintext(s->mech)) {
		*why = "mechanism not supported";
		return DIR_NOT_FOUND;
	}
	/* No proxy logins: an authzid must name the user itself. */
	if (s->authzid[0] != '\0' &&
	    strcasecmp(s->authzid, s->authcid) != 0) {
		*why = "authorization identity differs from the user";
		return DIR_NOT_FOUND;
	}
	r = directory_authenticate(d, s->authcid, s->password, acct);
	if (r == DIR_NOT_LOCAL)
		r = DIR_NOT_FOUND;
	return r;
}
