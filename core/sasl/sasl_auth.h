/*
 * sasl_auth - checks finished SASL credentials against the directory
 *
 * Shared by SMTP AUTH, POP3 AUTH and IMAP AUTHENTICATE, so the three
 * offer the same mechanisms under the same rules: PLAIN and LOGIN carry
 * the password itself and are offered only where
 * conn_plaintext_auth_allowed() is true.
 */
#ifndef HAPOST_SASL_AUTH_H
#define HAPOST_SASL_AUTH_H

#include <stdbool.h>

#include "directory.h"
#include "sasl.h"

/* Returns the space-separated mechanisms to offer, or "" for none. */
const char *sasl_auth_mechanisms(bool plaintext_allowed);
/* Returns true when mech may be used; see sasl_auth_mechanisms(). */
bool sasl_auth_mech_allowed(enum sasl_mech mech, bool plaintext_allowed);
/*
 * Checks the credentials of a finished exchange. On DIR_OK *acct is
 * filled (free with account_free). DIR_NOT_FOUND covers a wrong password,
 * an unknown user and an authzid other than the user; *why then names the
 * cause for the log. DIR_TEMPFAIL: the directory could not be read.
 */
enum dir_result sasl_auth_check(struct directory *d,
				const struct sasl_server *s,
				struct account *acct, const char **why);

#endif
