#include "config.h"

#include <crypt.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "directory.h"

/* Hashes password with another crypt scheme, for cross-scheme tests. */
static char *
hash_with(const char *prefix, unsigned long rounds, const char *password)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	char *hash;

	assert_non_null(cd);
	assert_non_null(crypt_gensalt_rn(prefix, rounds, NULL, 0, setting,
					 sizeof(setting)));
	hash = strdup(crypt_r(password, setting, cd));
	free(cd);
	assert_non_null(hash);
	return hash;
}

static void
password_hash_round_trip(void **state)
{
	char *hash = password_hash("correct horse");

	assert_non_null(hash);
	assert_true(strncmp(hash, "$6$rounds=20000$", 16) == 0);
	assert_true(password_verify("correct horse", hash));
	free(hash);
}

static void
password_wrong_password_rejected(void **state)
{
	char *hash = password_hash("correct horse");

	assert_non_null(hash);
	assert_false(password_verify("correct hors", hash));
	assert_false(password_verify("correct horse ", hash));
	assert_false(password_verify("Correct horse", hash));
	assert_false(password_verify("", hash));
	free(hash);
}

static void
password_salt_differs_each_hash(void **state)
{
	char *a = password_hash("same");
	char *b = password_hash("same");

	assert_non_null(a);
	assert_non_null(b);
	assert_string_not_equal(a, b);
	free(a);
	free(b);
}

static void
password_hash_rejects_bad_length(void **state)
{
	char big[PASSWORD_MAX_LEN + 2];
	char *hash;

	errno = 0;
	assert_null(password_hash(""));
	assert_int_equal(errno, EINVAL);

	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_null(password_hash(big));

	big[PASSWORD_MAX_LEN] = '\0';
	hash = password_hash(big);
	assert_non_null(hash);
	assert_true(password_verify(big, hash));
	free(hash);
}

static void
password_verify_overlong_is_false(void **state)
{
	char big[PASSWORD_MAX_LEN + 2];
	char *hash = password_hash("short");

	assert_non_null(hash);
	memset(big, 'p', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(password_verify(big, hash));
	free(hash);
}

static void
password_strong_schemes_accepted(void **state)
{
	static const char *const prefixes[] = {"$5$", "$y$", "$2b$"};

	for (size_t i = 0; i < 3; i++) {
		char *hash = hash_with(prefixes[i], 0, "s3cret");

		if (!password_verify("s3cret", hash))
			fail_msg("scheme %s: right password rejected",
				 prefixes[i]);
		if (password_verify("s3creT", hash))
			fail_msg("scheme %s: wrong password accepted",
				 prefixes[i]);
		free(hash);
	}
}

static void
password_weak_schemes_rejected(void **state)
{
	char *md5 = hash_with("$1$", 0, "s3cret");
	char *des = hash_with("", 0, "s3cret");

	assert_false(password_verify("s3cret", md5));
	assert_false(password_verify("s3cret", des));
	free(md5);
	free(des);
}

static void
password_malformed_hashes_rejected(void **state)
{
	char *good = password_hash("pw");
	char locked[256];
	static const char *const bad[] = {
	    "",
	    "$",
	    "$6$",
	    "$6$salt",
	    "$6$rounds=abc$salt$hash",
	    "$6$salt$tooshort",
	    "*",
	    "*0",
	    "!",
	    "x",
	    "$6$\x01\x02$zz",
	};

	assert_non_null(good);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (password_verify("pw", bad[i]))
			fail_msg("hash %zu accepted", i);
		if (password_verify("", bad[i]))
			fail_msg("hash %zu accepted the empty password", i);
	}
	snprintf(locked, sizeof(locked), "!%s", good);
	assert_false(password_verify("pw", locked));
	snprintf(locked, sizeof(locked), "%s ", good);
	assert_false(password_verify("pw", locked));
	free(good);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(password_hash_round_trip),
	    cmocka_unit_test(password_wrong_password_rejected),
	    cmocka_unit_test(password_salt_differs_each_hash),
	    cmocka_unit_test(password_hash_rejects_bad_length),
	    cmocka_unit_test(password_verify_overlong_is_false),
	    cmocka_unit_test(password_strong_schemes_accepted),
	    cmocka_unit_test(password_weak_schemes_rejected),
	    cmocka_unit_test(password_malformed_hashes_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
