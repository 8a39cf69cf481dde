/*
 * pop3_apop - the APOP command (RFC 1939, section 7)
 *
 * The greeting ends with a timestamp "<pid.random.time@hostname>" when
 * pop3_apop = yes and the worker loaded the site key; only then is APOP
 * accepted. "APOP name digest" logs in when digest is the lowercase hex
 * MD5 of the timestamp followed by the password, which the server opens
 * from the account's apop secret (site_key.h). The compare is constant
 * time.
 *
 * APOP is accepted without TLS even with require_tls_for_auth = yes, as
 * CRAM-MD5 is: the password is not sent, and a legacy client that needs
 * APOP usually has no TLS. An eavesdropper still gets the timestamp and
 * the digest, enough for an offline dictionary attack on the password;
 * conf/hapost.conf says so. Each timestamp is new per connection, so a
 * digest cannot be replayed on another one.
 *
 * Failures: bad arguments get -ERR and count as errors; an unknown user,
 * an account without an apop secret, a secret the site key cannot open
 * and a wrong digest are all a failed login (delayed, logged with the
 * reason, counted against auth_failure_limit); a disabled pop3 switch is
 * refused as for USER/PASS.
 */
#ifndef HAPOST_POP3_APOP_H
#define HAPOST_POP3_APOP_H

#include <stdbool.h>
#include <stddef.h>

struct pop3_cmd;
struct pop3_session;

/* Room for the APOP timestamp: the pid, 16 hex digits, the time and a
 * hostname of up to 253 octets. A longer hostname disables APOP. */
#define POP3_APOP_TIMESTAMP_MAX 320
/* The longest APOP user name, as for USER. */
#define POP3_APOP_USER_MAX 254

/*
 * Writes "<pid.random.time@hostname>" to out. Returns false when it does
 * not fit in size bytes.
 */
bool pop3_apop_timestamp(char *out, size_t size, const char *hostname);
/*
 * Splits "name SP digest": a name of 1 to POP3_APOP_USER_MAX octets
 * without spaces, and exactly 32 hex digits, stored lowercase in digest.
 * Returns false for any other argument.
 */
bool pop3_apop_parse(const char *arg, size_t len,
		     char user[POP3_APOP_USER_MAX + 1], char digest[33]);
/* Returns true when digest is the hex MD5 of timestamp then password. */
bool pop3_apop_verify(const char *timestamp, const unsigned char *password,
		      size_t password_len, const char *digest);

/* Runs one APOP command in the AUTHORIZATION state. */
void pop3_cmd_apop(struct pop3_session *s, const struct pop3_cmd *cmd);

#endif
