/*
 * site_key - the site key file and the secrets sealed with it
 *
 * APOP (RFC 1939) needs the password itself on the server, so hapost
 * stores it encrypted with a site key: 32 random bytes in site_key_file,
 * made by hapostctl on the first "--legacy-auth" with pop3_apop = yes.
 * A sealed secret is base64(nonce | ciphertext | tag) of AES-256-GCM
 * (OpenSSL EVP) with a random 12-byte nonce per secret and a 16-byte tag.
 * The additional authenticated data names the account, so a secret
 * copied to another account line does not open.
 *
 * Failures: site_key_load() rejects a file that is not a regular file,
 * not exactly SITE_KEY_LEN bytes, readable or writable by group or others,
 * or owned by a user other than root and the caller, with the reason in
 * err. site_key_open() returns -1 for bad base64, a truncated secret, a
 * wrong key, other additional data or any changed byte (the GCM tag check
 * fails), the same -1 for each, so it is no decryption oracle.
 *
 * Limits: the key is only as secret as the file and the memory of the
 * processes that loaded it. Anyone who reads both the accounts table and
 * the key file has every APOP user's password.
 */
#ifndef HAPOST_SITE_KEY_H
#define HAPOST_SITE_KEY_H

#include <stddef.h>

#include "buf.h"

#define SITE_KEY_LEN 32
#define SITE_KEY_NONCE_LEN 12
#define SITE_KEY_TAG_LEN 16

struct site_key {
	unsigned char key[SITE_KEY_LEN];
};

/*
 * Reads the key in path into a new struct site_key. Returns NULL with the
 * reason in err; errno is ENOENT when the file does not exist.
 */
struct site_key *site_key_load(const char *path, char *err, size_t errlen);
/*
 * Loads the key in path, or creates the file (mode 0600, 32 bytes from
 * the OpenSSL random generator) when it does not exist. NULL with err set
 * when the file is invalid or cannot be written.
 */
struct site_key *site_key_load_or_create(const char *path, char *err,
					 size_t errlen);
/* Wipes and frees the key; NULL is allowed. */
void site_key_free(struct site_key *k);

/*
 * Encrypts len bytes of plain, bound to aad (a NUL-terminated string),
 * and appends the base64 form to out. Returns 0, or -1 when OpenSSL
 * fails.
 */
int site_key_seal(const struct site_key *k, const char *aad,
		  const void *plain, size_t len, struct buf *out);
/*
 * Decrypts a sealed secret into out (at most max bytes). Returns the
 * plaintext length, or -1 (see above); out is wiped on failure.
 */
long site_key_open(const struct site_key *k, const char *aad,
		   const char *sealed, size_t sealed_len, unsigned char *out,
		   size_t max);

#endif
