/*
 * sasl - server side of PLAIN, LOGIN and CRAM-MD5 (see sasl.h)
 *
 * CRAM-MD5 keeps MD5 states between blocks, which only OpenSSL's
 * low-level MD5 API exposes; OpenSSL 3 marks it deprecated but still
 * ships it, so the deprecation warnings are silenced for this file.
 */
#include "config.h"

#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/md5.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "sasl.h"

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static const struct {
	const char *name;
	enum sasl_mech mech;
} mechs[] = {
	{"PLAIN", SASL_MECH_PLAIN},
	{"LOGIN", SASL_MECH_LOGIN},
	{"CRAM-MD5", SASL_MECH_CRAM_MD5},
};

bool
sasl_mech_from_name(const char *name, size_t len, enum sasl_mech *out)
{
	for (size_t i = 0; i < sizeof(mechs) / sizeof(*mechs); i++) {
		if (strlen(mechs[i].name) == len &&
		    strncasecmp(mechs[i].name, name, len) == 0) {
			*out = mechs[i].mech;
			return true;
		}
	}
	return false;
}

const char *
sasl_mech_name(enum sasl_mech mech)
{
	for (size_t i = 0; i < sizeof(mechs) / sizeof(*mechs); i++)
		if (mechs[i].mech == mech)
			return mechs[i].name;
	return "UNKNOWN";
}

bool
sasl_mech_plaintext(enum sasl_mech mech)
{
	return mech == SASL_MECH_PLAIN || mech == SASL_MECH_LOGIN;
}

static int
b64_value(char ch)
{
	const char *p = ch != '\0' ? strchr(b64_alphabet, ch) : NULL;

	return p != NULL ? (int)(p - b64_alphabet) : -1;
}

long
sasl_base64_decode(const char *in, size_t len, unsigned char *out, size_t max)
{
	size_t n = 0;

	if (len % 4 != 0)
		return -1;
	for (size_t i = 0; i < len; i += 4) {
		int v[4];
		int pad = 0;

		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == len && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0)
				return -1; /* data after '=' */
			v[k] = b64_value(in[i + k]);
			if (v[k] < 0)
				return -1;
		}
		/* Canonical form: the bits under the padding are zero. */
		if ((pad == 1 && (v[2] & 0x3) != 0) ||
		    (pad == 2 && (v[1] & 0xf) != 0))
			return -1;
		if (n + 3 - (size_t)pad > max)
			return -1;
		out[n++] = (unsigned char)(v[0] << 2 | v[1] >> 4);
		if (pad < 2)
			out[n++] = (unsigned char)((v[1] & 0xf) << 4 | v[2] >> 2);
		if (pad < 1)
			out[n++] = (unsigned char)((v[2] & 0x3) << 6 | v[3]);
	}
	return (long)n;
}

void
sasl_base64_encode(const void *data, size_t len, struct buf *out)
{
	const unsigned char *in = data;

	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		char quad[4];

		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		quad[0] = b64_alphabet[v >> 18 & 63];
		quad[1] = b64_alphabet[v >> 12 & 63];
		quad[2] = i + 1 < len ? b64_alphabet[v >> 6 & 63] : '=';
		quad[3] = i + 2 < len ? b64_alphabet[v & 63] : '=';
		buf_append(out, quad, 4);
	}
}

void
sasl_server_init(struct sasl_server *s, enum sasl_mech mech,
		 const char *hostname)
{
	unsigned char rnd[8];
	unsigned long long r = 0;

	memset(s, 0, sizeof(*s));
	s->mech = mech;
	if (mech != SASL_MECH_CRAM_MD5)
		return;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		/* Unique per process and call, though not secret. */
		static unsigned long long counter;

		memcpy(rnd, &counter, sizeof(rnd));
		counter++;
	}
	for (size_t i = 0; i < sizeof(rnd); i++)
		r = r << 8 | rnd[i];
	snprintf(s->challenge, sizeof(s->challenge), "<%llu.%lld@%.64s>", r,
		 (long long)time(NULL), hostname);
}

void
sasl_server_clear(struct sasl_server *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
}

/* Copies a field of len bytes into out[SASL_FIELD_MAX + 1]. */
static bool
copy_field(char *out, const unsigned char *in, size_t len)
{
	if (len > SASL_FIELD_MAX || memchr(in, '\0', len) != NULL)
		return false;
	memcpy(out, in, len);
	out[len] = '\0';
	return true;
}

static enum sasl_result
plain_response(struct sasl_server *s, const unsigned char *data, size_t len,
	       const char **error)
{
	const unsigned char *nul1 = memchr(data, '\0', len), *nul2;
	size_t zlen, clen, plen;

	nul2 = nul1 != NULL ? memchr(nul1 + 1, '\0',
				     len - (size_t)(nul1 + 1 - data))
			    : NULL;
	if (nul2 == NULL) {
		*error = "PLAIN response needs authzid NUL authcid NUL "
			 "password";
		return SASL_FAIL;
	}
	zlen = (size_t)(nul1 - data);
	clen = (size_t)(nul2 - nul1 - 1);
	plen = len - (size_t)(nul2 + 1 - data);
	if (clen == 0 || plen == 0) {
		*error = "PLAIN response has an empty user name or password";
		return SASL_FAIL;
	}
	if (!copy_field(s->authzid, data, zlen) ||
	    !copy_field(s->authcid, nul1 + 1, clen) ||
	    !copy_field(s->password, nul2 + 1, plen)) {
		*error = "PLAIN response field is too long or contains NUL";
		return SASL_FAIL;
	}
	return SASL_DONE;
}

static enum sasl_result
cram_response(struct sasl_server *s, const unsigned char *data, size_t len,
	      const char **error)
{
	const unsigned char *sp;
	size_t ulen;

	/* "user SP digest": the last space splits, user names may have
	 * spaces in theory. */
	for (sp = data + len; sp > data && sp[-1] != ' '; sp--)
		;
	if (sp == data || data + len - sp != 32) {
		*error = "CRAM-MD5 response needs a user name, a space and "
			 "32 hex digits";
		return SASL_FAIL;
	}
	ulen = (size_t)(sp - 1 - data);
	for (size_t i = 0; i < 32; i++) {
		if (!isxdigit(sp[i])) {
			*error = "CRAM-MD5 digest is not hexadecimal";
			return SASL_FAIL;
		}
		s->digest[i] = (char)tolower(sp[i]);
	}
	s->digest[32] = '\0';
	if (ulen == 0 || !copy_field(s->authcid, data, ulen)) {
		*error = "CRAM-MD5 user name is empty, too long or contains "
			 "NUL";
		return SASL_FAIL;
	}
	return SASL_DONE;
}

/* Puts the next challenge in challenge; "" is an empty one. */
static enum sasl_result
challenge_out(struct buf *challenge, const char *text)
{
	buf_reset(challenge);
	sasl_base64_encode(text, strlen(text), challenge);
	return SASL_CONTINUE;
}

enum sasl_result
sasl_server_step(struct sasl_server *s, const char *line, size_t len,
		 bool initial, struct buf *challenge, const char **error)
{
	unsigned char data[SASL_RESPONSE_MAX];
	enum sasl_result r = SASL_FAIL;
	long n;

	*error = NULL;
	if (initial && line == NULL) {
		/* No initial response: the server speaks first. */
		s->step = 1;
		switch (s->mech) {
		case SASL_MECH_PLAIN:
			return challenge_out(challenge, "");
		case SASL_MECH_LOGIN:
			return challenge_out(challenge, "Username:");
		case SASL_MECH_CRAM_MD5:
			return challenge_out(challenge, s->challenge);
		}
	}
	if (!initial && len == 1 && line[0] == '*')
		return SASL_CANCEL;
	if (initial && s->mech == SASL_MECH_CRAM_MD5) {
		*error = "CRAM-MD5 takes no initial response";
		return SASL_FAIL;
	}
	if (initial && len == 1 && line[0] == '=') {
		n = 0;
	} else {
		n = sasl_base64_decode(line, len, data, sizeof(data));
		if (n < 0) {
			*error = len / 4 * 3 > sizeof(data)
					 ? "response is too long"
					 : "response is not valid base64";
			return SASL_FAIL;
		}
	}
	if (initial)
		s->step = 1;
	switch (s->mech) {
	case SASL_MECH_PLAIN:
		r = plain_response(s, data, (size_t)n, error);
		break;
	case SASL_MECH_CRAM_MD5:
		r = cram_response(s, data, (size_t)n, error);
		break;
	case SASL_MECH_LOGIN:
		if (s->step == 1) {
			if (n == 0 || !copy_field(s->authcid, data, (size_t)n)) {
				*error = "LOGIN user name is empty, too long "
					 "or contains NUL";
				break;
			}
			s->step = 2;
			r = challenge_out(challenge, "Password:");
			break;
		}
		if (n == 0 || !copy_field(s->password, data, (size_t)n)) {
			*error = "LOGIN password is empty, too long or "
				 "contains NUL";
			break;
		}
		r = SASL_DONE;
		break;
	}
	OPENSSL_cleanse(data, sizeof(data));
	return r;
}

/* Stores the A-D words of ctx as 16 little-endian bytes. */
static void
md5_state_out(const MD5_CTX *ctx, unsigned char *out)
{
	const MD5_LONG w[4] = {ctx->A, ctx->B, ctx->C, ctx->D};

	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 4; k++)
			out[i * 4 + k] = (unsigned char)(w[i] >> (8 * k));
}

/* Restores a context that has hashed exactly one 64-byte block. */
static void
md5_state_in(MD5_CTX *ctx, const unsigned char *in)
{
	MD5_LONG w[4] = {0, 0, 0, 0};

	for (int i = 0; i < 4; i++)
		for (int k = 0; k < 4; k++)
			w[i] |= (MD5_LONG)in[i * 4 + k] << (8 * k);
	MD5_Init(ctx);
	ctx->A = w[0];
	ctx->B = w[1];
	ctx->C = w[2];
	ctx->D = w[3];
	ctx->Nl = 64 * 8;
}

void
sasl_cram_md5_precompute(const char *password,
			 unsigned char state[SASL_CRAM_STATE_LEN])
{
	unsigned char key[64] = {0}, block[64];
	size_t len = strlen(password);
	MD5_CTX ctx;

	/* HMAC (RFC 2104): keys longer than a block are hashed first. */
	if (len > sizeof(key))
		MD5((const unsigned char *)password, len, key);
	else
		memcpy(key, password, len);
	for (int pass = 0; pass < 2; pass++) {
		unsigned char pad = pass == 0 ? 0x36 : 0x5c;

		for (size_t i = 0; i < sizeof(block); i++)
			block[i] = key[i] ^ pad;
		MD5_Init(&ctx);
		MD5_Update(&ctx, block, sizeof(block));
		md5_state_out(&ctx, state + pass * 16);
	}
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(&ctx, sizeof(ctx));
}

bool
sasl_cram_md5_verify(const unsigned char state[SASL_CRAM_STATE_LEN],
		     const char *challenge, const char *hex_digest)
{
	unsigned char inner[MD5_DIGEST_LENGTH], outer[MD5_DIGEST_LENGTH];
	char hex[2 * MD5_DIGEST_LENGTH + 1];
	MD5_CTX ctx;

	md5_state_in(&ctx, state);
	MD5_Update(&ctx, challenge, strlen(challenge));
	MD5_Final(inner, &ctx);
	md5_state_in(&ctx, state + 16);
	MD5_Update(&ctx, inner, sizeof(inner));
	MD5_Final(outer, &ctx);
	for (int i = 0; i < MD5_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", outer[i]);
	return strlen(hex_digest) == 32 &&
	       CRYPTO_memcmp(hex, hex_digest, 32) == 0;
}
