/*
 * password - password hashing for the account directory
 *
 * New hashes are SHA-512-crypt ("$6$rounds=N$salt$hash") from libxcrypt
 * with a salt that crypt_gensalt_rn() draws from the kernel. Verification
 * runs crypt_r() with the stored hash as setting and compares the result
 * in constant time, so it also accepts the other strong schemes that
 * libxcrypt implements (SHA-256-crypt, bcrypt, scrypt, yescrypt): hashes
 * copied from /etc/shadow work. Weak schemes (DES, MD5-crypt, NT hash,
 * SHA-1) and locked hashes ("!" or "*" prefix) never match.
 *
 * Failure: password_hash() returns NULL with errno set; password_verify()
 * returns false for a malformed hash or a password longer than
 * PASSWORD_MAX_LEN. Neither logs, and neither keeps a copy of the
 * password: the crypt scratch area is wiped before it is freed.
 *
 * Limits: verification blocks the caller for the hash's full cost, which
 * in a protocol worker stalls its event loop for that time.
 */
#include "config.h"

#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "directory.h"
#include "xalloc.h"

/*
 * Cost of new hashes: four times the crypt default of 5000 rounds. Each
 * verification runs on a worker's event loop, so this stays moderate;
 * existing hashes keep the rounds they were made with.
 */
#define PASSWORD_ROUNDS 20000

/* Prefixes of the schemes password_verify() accepts, see crypt(5). */
static const char *const strong_prefixes[] = {
    "$6$", "$5$", "$2b$", "$2y$", "$7$", "$y$", "$gy$",
};

static bool
is_strong_scheme(const char *hash)
{
	for (size_t i = 0;
	     i < sizeof(strong_prefixes) / sizeof(*strong_prefixes); i++) {
		size_t len = strlen(strong_prefixes[i]);

		if (strncmp(hash, strong_prefixes[i], len) == 0)
			return true;
	}
	return false;
}

static void
crypt_data_free(struct crypt_data *cd)
{
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
}

char *
password_hash(const char *password)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *hash;
	char *copy;
	size_t len = strlen(password);

	if (len == 0 || len > PASSWORD_MAX_LEN) {
		errno = EINVAL;
		return NULL;
	}
	if (crypt_gensalt_rn("$6$", PASSWORD_ROUNDS, NULL, 0, setting,
			     sizeof(setting)) == NULL)
		return NULL;
	cd = calloc(1, sizeof(*cd));
	if (cd == NULL)
		return NULL;
	hash = crypt_r(password, setting, cd);
	if (hash == NULL || hash[0] != '$') {
		crypt_data_free(cd);
		errno = EINVAL;
		return NULL;
	}
	copy = xstrdup(hash);
	crypt_data_free(cd);
	return copy;
}

bool
password_verify(const char *password, const char *hash)
{
	struct crypt_data *cd;
	const char *out;
	size_t hash_len = strlen(hash);
	bool match;

	if (strlen(password) > PASSWORD_MAX_LEN || !is_strong_scheme(hash))
		return false;
	cd = calloc(1, sizeof(*cd));
	if (cd == NULL)
		return false;
	out = crypt_r(password, hash, cd);
	/*
	 * On a malformed setting crypt_r() returns NULL or a failure token
	 * that starts with '*', which is_strong_scheme() already ruled out
	 * as a stored hash, so the token can never compare equal.
	 */
	match = out != NULL && out[0] == '$' && strlen(out) == hash_len &&
		CRYPTO_memcmp(out, hash, hash_len) == 0;
	crypt_data_free(cd);
	return match;
}
