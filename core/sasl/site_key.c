/*
 * site_key - the site key file and AES-256-GCM sealing (see site_key.h)
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "sasl.h"
#include "site_key.h"
#include "xalloc.h"

/* The longest sealed secret accepted, decoded: a 511-byte password
 * (PASSWORD_MAX_LEN) with room to spare. */
#define SEALED_MAX 1024

/* Checks the file behind fd and reads the key from it. */
static struct site_key *
read_key(int fd, const char *path, char *err, size_t errlen)
{
	struct site_key *k;
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0) {
		snprintf(err, errlen, "fstat(%s) failed: %s", path,
			 strerror(errno));
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "site key %s is not a regular file",
			 path);
		return NULL;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen, "site key %s is accessible by group or "
				      "others (mode %04o); run chmod 600 %s",
			 path, (unsigned)(st.st_mode & 07777), path);
		return NULL;
	}
	if (st.st_uid != 0 && st.st_uid != geteuid()) {
		snprintf(err, errlen, "site key %s is owned by uid %u, "
				      "expected root",
			 path, (unsigned)st.st_uid);
		return NULL;
	}
	if (st.st_size != SITE_KEY_LEN) {
		snprintf(err, errlen, "site key %s has %lld bytes, expected "
				      "%d",
			 path, (long long)st.st_size, SITE_KEY_LEN);
		return NULL;
	}
	k = xcalloc(1, sizeof(*k));
	n = read(fd, k->key, SITE_KEY_LEN);
	if (n != SITE_KEY_LEN) {
		snprintf(err, errlen, "read(%s) failed: %s", path,
			 n < 0 ? strerror(errno) : "short read");
		site_key_free(k);
		return NULL;
	}
	return k;
}

struct site_key *
site_key_load(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct site_key *k;
	int saved;

	if (fd < 0) {
		saved = errno;
		snprintf(err, errlen, "open(%s) failed: %s", path,
			 strerror(saved));
		errno = saved;
		return NULL;
	}
	k = read_key(fd, path, err, errlen);
	close(fd);
	errno = k == NULL ? EINVAL : 0;
	return k;
}

/* Writes a new random key to path; fails if the file exists. */
static int
create_key(const char *path, char *err, size_t errlen)
{
	unsigned char key[SITE_KEY_LEN];
	int fd, ret = -1;

	if (RAND_bytes(key, sizeof(key)) != 1) {
		snprintf(err, errlen, "RAND_bytes failed; site key %s not "
				      "created",
			 path);
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  0600);
	if (fd < 0) {
		int saved = errno;

		snprintf(err, errlen, "open(%s) failed: %s", path,
			 strerror(saved));
		explicit_bzero(key, sizeof(key));
		errno = saved;
		return -1;
	}
	if (fchmod(fd, 0600) < 0 || write_full(fd, key, sizeof(key)) < 0 ||
	    fsync(fd) < 0) {
		snprintf(err, errlen, "writing site key %s failed: %s", path,
			 strerror(errno));
		unlink(path);
	} else {
		ret = 0;
	}
	close(fd);
	explicit_bzero(key, sizeof(key));
	if (ret == 0 && fsync_parent(path) < 0) {
		snprintf(err, errlen, "fsync of the directory of %s failed: %s",
			 path, strerror(errno));
		ret = -1;
	}
	return ret;
}

struct site_key *
site_key_load_or_create(const char *path, char *err, size_t errlen)
{
	struct site_key *k = site_key_load(path, err, errlen);

	if (k != NULL || errno != ENOENT)
		return k;
	/* EEXIST: another hapostctl created it meanwhile; load that one. */
	if (create_key(path, err, errlen) < 0 && errno != EEXIST)
		return NULL;
	return site_key_load(path, err, errlen);
}

void
site_key_free(struct site_key *k)
{
	if (k == NULL)
		return;
	explicit_bzero(k, sizeof(*k));
	free(k);
}

/* Runs one AES-256-GCM encryption or decryption. in and out hold len
 * bytes; tag is written (encrypt) or checked (decrypt). */
static int
gcm_run(const struct site_key *k, bool encrypt, const char *aad,
	const unsigned char *nonce, const unsigned char *in, size_t len,
	unsigned char *out, unsigned char *tag)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n, ok = 0;

	if (ctx == NULL || len > (size_t)SEALED_MAX)
		goto done;
	if (EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, k->key, nonce,
			      encrypt) != 1 ||
	    EVP_CipherUpdate(ctx, NULL, &n, (const unsigned char *)aad,
			     (int)strlen(aad)) != 1 ||
	    EVP_CipherUpdate(ctx, out, &n, in, (int)len) != 1)
		goto done;
	if (!encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG,
					    SITE_KEY_TAG_LEN, tag) != 1)
		goto done;
	if (EVP_CipherFinal_ex(ctx, out + n, &n) != 1)
		goto done;
	if (encrypt && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG,
					   SITE_KEY_TAG_LEN, tag) != 1)
		goto done;
	ok = 1;
done:
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : -1;
}

int
site_key_seal(const struct site_key *k, const char *aad, const void *plain,
	      size_t len, struct buf *out)
{
	unsigned char sealed[SITE_KEY_NONCE_LEN + SEALED_MAX +
			     SITE_KEY_TAG_LEN];
	unsigned char *nonce = sealed, *ct = sealed + SITE_KEY_NONCE_LEN;

	if (len > SEALED_MAX)
		return -1;
	if (RAND_bytes(nonce, SITE_KEY_NONCE_LEN) != 1 ||
	    gcm_run(k, true, aad, nonce, plain, len, ct, ct + len) < 0) {
		explicit_bzero(sealed, sizeof(sealed));
		return -1;
	}
	sasl_base64_encode(sealed, SITE_KEY_NONCE_LEN + len + SITE_KEY_TAG_LEN,
			   out);
	explicit_bzero(sealed, sizeof(sealed));
	return 0;
}

long
site_key_open(const struct site_key *k, const char *aad, const char *sealed,
	      size_t sealed_len, unsigned char *out, size_t max)
{
	unsigned char raw[SITE_KEY_NONCE_LEN + SEALED_MAX + SITE_KEY_TAG_LEN];
	long n = sasl_base64_decode(sealed, sealed_len, raw, sizeof(raw));
	size_t len;

	if (n < SITE_KEY_NONCE_LEN + SITE_KEY_TAG_LEN)
		return -1;
	len = (size_t)n - SITE_KEY_NONCE_LEN - SITE_KEY_TAG_LEN;
	if (len > max)
		return -1;
	if (gcm_run(k, false, aad, raw, raw + SITE_KEY_NONCE_LEN, len, out,
		    raw + SITE_KEY_NONCE_LEN + len) < 0) {
		explicit_bzero(out, max);
		return -1;
	}
	return (long)len;
}
