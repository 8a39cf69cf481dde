/*
 * Unit tests for the site key file and AES-256-GCM sealing
 * (core/sasl/site_key.c): round trips, a wrong key, other additional
 * data, tampered and truncated secrets, and the file checks.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "buf.h"
#include "sasl.h"
#include "site_key.h"

#define AAD "alice@example.test"

static struct site_key
key_of(unsigned char fill)
{
	struct site_key k;

	memset(k.key, fill, sizeof(k.key));
	return k;
}

/* Seals plain with key k and aad; returns the base64 in b. */
static void
seal(const struct site_key *k, const char *aad, const char *plain,
     struct buf *b)
{
	buf_reset(b);
	assert_int_equal(site_key_seal(k, aad, plain, strlen(plain), b), 0);
}

static void
seal_open_round_trip(void **state)
{
	static const char *const passwords[] = {
	    "x", "tanstaaf", "pass word with spaces", "\xc3\xa9t\xc3\xa9",
	};
	struct site_key k = key_of(7);
	struct buf b = BUF_INIT;
	unsigned char out[600];

	for (size_t i = 0; i < sizeof(passwords) / sizeof(*passwords); i++) {
		size_t len = strlen(passwords[i]);

		seal(&k, AAD, passwords[i], &b);
		assert_int_equal(site_key_open(&k, AAD, b.data, b.len, out,
					       sizeof(out)),
				 (long)len);
		assert_memory_equal(out, passwords[i], len);
	}
	buf_free(&b);
}

static void
seal_longest_password(void **state)
{
	struct site_key k = key_of(7);
	struct buf b = BUF_INIT;
	char password[512];
	unsigned char out[512];

	memset(password, 'p', 511);
	password[511] = '\0';
	seal(&k, AAD, password, &b);
	assert_int_equal(site_key_open(&k, AAD, b.data, b.len, out,
				       sizeof(out)),
			 511);
	/* A buffer one byte short is rejected, not overrun. */
	assert_int_equal(site_key_open(&k, AAD, b.data, b.len, out, 510), -1);
	buf_free(&b);
}

static void
seal_nonces_differ(void **state)
{
	struct site_key k = key_of(7);
	struct buf a = BUF_INIT, b = BUF_INIT;

	seal(&k, AAD, "same", &a);
	seal(&k, AAD, "same", &b);
	assert_string_not_equal(buf_cstr(&a), buf_cstr(&b));
	buf_free(&a);
	buf_free(&b);
}

static void
open_wrong_key_fails(void **state)
{
	struct site_key k = key_of(7), other = key_of(8);
	struct buf b = BUF_INIT;
	unsigned char out[64];

	seal(&k, AAD, "tanstaaf", &b);
	memset(out, 'z', sizeof(out));
	assert_int_equal(site_key_open(&other, AAD, b.data, b.len, out,
				       sizeof(out)),
			 -1);
	/* The unauthenticated plaintext is wiped. */
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0);
	buf_free(&b);
}

static void
open_other_aad_fails(void **state)
{
	struct site_key k = key_of(7);
	struct buf b = BUF_INIT;
	unsigned char out[64];

	seal(&k, AAD, "tanstaaf", &b);
	assert_int_equal(site_key_open(&k, "bob@example.test", b.data, b.len,
				       out, sizeof(out)),
			 -1);
	assert_int_equal(site_key_open(&k, "", b.data, b.len, out,
				       sizeof(out)),
			 -1);
	buf_free(&b);
}

/* Flips one bit in every byte of the decoded secret in turn: nonce,
 * ciphertext and tag must all be covered by the tag check. */
static void
open_tampered_byte_fails(void **state)
{
	struct site_key k = key_of(7);
	struct buf b = BUF_INIT, again = BUF_INIT;
	unsigned char raw[128], out[64];
	long n;

	seal(&k, AAD, "tanstaaf", &b);
	n = sasl_base64_decode(b.data, b.len, raw, sizeof(raw));
	assert_int_equal(n, SITE_KEY_NONCE_LEN + 8 + SITE_KEY_TAG_LEN);
	for (long i = 0; i < n; i++) {
		raw[i] ^= 0x01;
		buf_reset(&again);
		sasl_base64_encode(raw, (size_t)n, &again);
		if (site_key_open(&k, AAD, again.data, again.len, out,
				  sizeof(out)) != -1)
			fail_msg("byte %ld changed and the secret opened", i);
		raw[i] ^= 0x01;
	}
	buf_free(&b);
	buf_free(&again);
}

static void
open_truncated_fails(void **state)
{
	struct site_key k = key_of(7);
	struct buf b = BUF_INIT, cut = BUF_INIT;
	unsigned char raw[128], out[64];
	long n;

	seal(&k, AAD, "tanstaaf", &b);
	n = sasl_base64_decode(b.data, b.len, raw, sizeof(raw));
	for (long len = 0; len < n; len++) {
		buf_reset(&cut);
		sasl_base64_encode(raw, (size_t)len, &cut);
		if (site_key_open(&k, AAD, cut.data, cut.len, out,
				  sizeof(out)) != -1)
			fail_msg("secret cut to %ld bytes opened", len);
	}
	buf_free(&b);
	buf_free(&cut);
}

static void
open_bad_base64_fails(void **state)
{
	static const char *const bad[] = {
	    "", "=", "not base64!", "AAAA", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*AA",
	};
	struct site_key k = key_of(7);
	unsigned char out[64];
	char huge[4000];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_int_equal(site_key_open(&k, AAD, bad[i], strlen(bad[i]),
					       out, sizeof(out)),
				 -1);
	memset(huge, 'A', sizeof(huge));
	assert_int_equal(site_key_open(&k, AAD, huge, sizeof(huge), out,
				       sizeof(out)),
			 -1);
}

/* Writes len bytes of fill to path with mode; returns path. */
static const char *
write_key_file(const char *path, size_t len, mode_t mode)
{
	unsigned char data[64];
	int fd;

	memset(data, 0x5a, sizeof(data));
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static char tmpdir[64];

static int
make_tmpdir(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-site-key-XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
remove_tmpdir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
load_checks_file(void **state)
{
	static const struct {
		size_t len;
		mode_t mode;
		const char *reason; /* NULL: loads */
	} cases[] = {
	    {32, 0600, NULL},
	    {32, 0400, NULL},
	    {31, 0600, "has 31 bytes"},
	    {33, 0600, "has 33 bytes"},
	    {0, 0600, "has 0 bytes"},
	    {32, 0640, "group or others"},
	    {32, 0604, "group or others"},
	};
	char path[128], err[512];

	snprintf(path, sizeof(path), "%s/site.key", tmpdir);
	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		struct site_key *k;

		write_key_file(path, cases[i].len, cases[i].mode);
		err[0] = '\0';
		k = site_key_load(path, err, sizeof(err));
		if (cases[i].reason == NULL) {
			assert_non_null(k);
			assert_int_equal(k->key[0], 0x5a);
			assert_int_equal(k->key[31], 0x5a);
		} else {
			assert_null(k);
			if (strstr(err, cases[i].reason) == NULL)
				fail_msg("case %zu: '%s' lacks '%s'", i, err,
					 cases[i].reason);
		}
		site_key_free(k);
	}
	unlink(path);
}

static void
load_missing_sets_enoent(void **state)
{
	char path[128], err[512];

	snprintf(path, sizeof(path), "%s/none.key", tmpdir);
	assert_null(site_key_load(path, err, sizeof(err)));
	assert_int_equal(errno, ENOENT);
	assert_non_null(strstr(err, path));
}

static void
load_rejects_directory_and_symlink(void **state)
{
	char path[128], link[128], err[512];

	assert_null(site_key_load(tmpdir, err, sizeof(err)));
	assert_non_null(strstr(err, "not a regular file"));
	snprintf(path, sizeof(path), "%s/real.key", tmpdir);
	snprintf(link, sizeof(link), "%s/link.key", tmpdir);
	write_key_file(path, 32, 0600);
	unlink(link);
	assert_int_equal(symlink(path, link), 0);
	assert_null(site_key_load(link, err, sizeof(err)));
	unlink(link);
	unlink(path);
}

static void
load_or_create_makes_key(void **state)
{
	char path[128], err[512];
	struct site_key *a, *b;
	struct stat st;

	snprintf(path, sizeof(path), "%s/new.key", tmpdir);
	unlink(path);
	a = site_key_load_or_create(path, err, sizeof(err));
	assert_non_null(a);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, SITE_KEY_LEN);
	/* The second call loads the same key instead of replacing it. */
	b = site_key_load_or_create(path, err, sizeof(err));
	assert_non_null(b);
	assert_memory_equal(a->key, b->key, SITE_KEY_LEN);
	site_key_free(a);
	site_key_free(b);
	/* An invalid file is reported, never overwritten. */
	write_key_file(path, 5, 0600);
	assert_null(site_key_load_or_create(path, err, sizeof(err)));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 5);
	unlink(path);
}

static void
load_or_create_missing_dir_fails(void **state)
{
	char path[128], err[512];

	snprintf(path, sizeof(path), "%s/no/such/dir/site.key", tmpdir);
	assert_null(site_key_load_or_create(path, err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(seal_open_round_trip),
	    cmocka_unit_test(seal_longest_password),
	    cmocka_unit_test(seal_nonces_differ),
	    cmocka_unit_test(open_wrong_key_fails),
	    cmocka_unit_test(open_other_aad_fails),
	    cmocka_unit_test(open_tampered_byte_fails),
	    cmocka_unit_test(open_truncated_fails),
	    cmocka_unit_test(open_bad_base64_fails),
	    cmocka_unit_test(load_checks_file),
	    cmocka_unit_test(load_missing_sets_enoent),
	    cmocka_unit_test(load_rejects_directory_and_symlink),
	    cmocka_unit_test(load_or_create_makes_key),
	    cmocka_unit_test(load_or_create_missing_dir_fails),
	};

	return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
