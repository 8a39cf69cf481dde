/*
 * sasl_auth - which SASL mechanisms a connection offers, and the check of
 * finished credentials against the directory
 *
 * Shared by SMTP AUTH, POP3 AUTH and IMAP AUTHENTICATE, so the three
 * offer the same mechanisms under the same rules. PLAIN and LOGIN carry
 * the password itself and are offered only where
 * conn_plaintext_auth_allowed() is true. CRAM-MD5 is offered only with
 * sasl_cram_md5 = yes, and works only for accounts whose CRAM-MD5 secret
 * was stored with "hapostctl account add|passwd ADDRESS --legacy-auth".
 */
#ifndef HAPOST_SASL_AUTH_H
#define HAPOST_SASL_AUTH_H

#include "conn.h"
#include "directory.h"
#include "sasl.h"

enum sasl_offer {
	SASL_OFFERED,
	SASL_NEEDS_TLS,	   /* offered once the connection is in TLS */
	SASL_NOT_OFFERED,
};

/* Returns the space-separated mechanisms c offers now, or "". */
const char *sasl_auth_mechanisms(const struct conn *c);
enum sasl_offer sasl_auth_offer(const struct conn *c, enum sasl_mech mech);
/*
 * Checks the credentials of a finished exchange. On DIR_OK *acct is
 * filled (free with account_free). DIR_NOT_FOUND covers a wrong password,
 * an unknown user, a missing CRAM-MD5 secret and an authzid other than the
 * user; *why then names the cause for the log. DIR_TEMPFAIL: the
 * directory could not be read.
 */
enum dir_result sasl_auth_check(struct directory *d,
				const struct sasl_server *s,
				struct account *acct, const char **why);

#endif
