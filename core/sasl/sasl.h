/*
 * sasl - server side of the PLAIN, LOGIN and CRAM-MD5 SASL mechanisms
 *
 * A pure state machine. The protocol (SMTP AUTH, POP3 AUTH, IMAP
 * AUTHENTICATE) passes in each client response line and sends out each
 * challenge, both in base64 as all three protocols frame them. At the end
 * it checks the credentials against the directory (sasl_auth.h). There
 * is no I/O, and sasl_server_clear() is all the cleanup an exchange needs.
 *
 * Mechanisms: PLAIN (RFC 4616: "authzid NUL authcid NUL password"; a
 * non-empty authzid must equal authcid, since hapost has no proxy login),
 * LOGIN (the de facto "Username:" / "Password:" exchange; an initial
 * response is taken as the user name), CRAM-MD5 (RFC 2195: server
 * challenge "<random.time@host>", response "user SP 32-hex-digest").
 *
 * Input rules: an initial response "=" is an empty one (RFC 4954, RFC
 * 4959, RFC 5034); a response line "*" cancels; base64 must be canonical
 * (alphabet, padding, length a multiple of 4). A decoded response longer
 * than SASL_RESPONSE_MAX, a NUL inside a user name or password, and any
 * other malformed response end the exchange with SASL_FAIL and a reason.
 */
#ifndef HAPOST_SASL_H
#define HAPOST_SASL_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Longest decoded response; RFC 4616 allows 255 octets per field. */
#define SASL_RESPONSE_MAX 1024
/* User names and passwords longer than this are rejected. */
#define SASL_FIELD_MAX 255

enum sasl_mech {
	SASL_MECH_PLAIN,
	SASL_MECH_LOGIN,
	SASL_MECH_CRAM_MD5,
};

enum sasl_result {
	SASL_CONTINUE, /* send the challenge, then pass the next line */
	SASL_DONE,     /* credentials are ready to be checked */
	SASL_FAIL,     /* malformed response; *error has the reason */
	SASL_CANCEL,   /* the client sent "*" */
};

struct sasl_server {
	enum sasl_mech mech;
	unsigned step;
	char authzid[SASL_FIELD_MAX + 1];
	char authcid[SASL_FIELD_MAX + 1];
	char password[SASL_FIELD_MAX + 1]; /* PLAIN and LOGIN */
	char challenge[128];		   /* CRAM-MD5, not base64 */
	char digest[33];		   /* CRAM-MD5, lowercase hex */
};

/* Parses a mechanism name, case-insensitively; false if unknown. */
bool sasl_mech_from_name(const char *name, size_t len, enum sasl_mech *out);
const char *sasl_mech_name(enum sasl_mech mech);
/* Returns true for mechanisms that send the password itself. */
bool sasl_mech_plaintext(enum sasl_mech mech);

/* Prepares an exchange; hostname goes into the CRAM-MD5 challenge. */
void sasl_server_init(struct sasl_server *s, enum sasl_mech mech,
		      const char *hostname);
/*
 * Feeds one client response. initial is true for the response given with
 * the command itself, where line NULL means none was given. On
 * SASL_CONTINUE the base64 challenge replaces the contents of challenge.
 */
enum sasl_result sasl_server_step(struct sasl_server *s, const char *line,
				  size_t len, bool initial,
				  struct buf *challenge, const char **error);
/* Wipes the password and the rest of the state. */
void sasl_server_clear(struct sasl_server *s);

/* Strict base64 (RFC 4648, with padding). decode returns -1 on bad
 * input or when the result would exceed max bytes. */
long sasl_base64_decode(const char *in, size_t len, unsigned char *out,
			size_t max);
void sasl_base64_encode(const void *in, size_t len, struct buf *out);

/*
 * CRAM-MD5 without the password: the MD5 states after the HMAC key
 * blocks (key XOR ipad, then key XOR opad), 16 bytes each, in the same
 * layout as Dovecot's CRAM-MD5 password scheme (four little-endian 32-bit
 * words each).
 */
#define SASL_CRAM_STATE_LEN 32
void sasl_cram_md5_precompute(const char *password,
			      unsigned char state[SASL_CRAM_STATE_LEN]);
/* Returns true when hex_digest is HMAC-MD5(password, challenge). */
bool sasl_cram_md5_verify(const unsigned char state[SASL_CRAM_STATE_LEN],
			  const char *challenge, const char *hex_digest);

#endif
