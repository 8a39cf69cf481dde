/*
 * pop3_apop - the APOP command (see pop3_apop.h)
 */
#include "config.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pop3_apop.h"
#include "pop3_session.h"
#include "sasl/site_key.h"
#include "worker.h"

bool
pop3_apop_timestamp(char *out, size_t size, const char *hostname)
{
	unsigned char rnd[8] = {0};
	unsigned long long r = 0;
	int n;

	/* Without the random part, two connections to one worker in the
	 * same second would share a timestamp, so a failure is logged. */
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		log_error("RAND_bytes failed for the APOP timestamp");
	for (size_t i = 0; i < sizeof(rnd); i++)
		r = r << 8 | rnd[i];
	n = snprintf(out, size, "<%ld.%016llx.%lld@%s>", (long)getpid(), r,
		     (long long)time(NULL), hostname);
	return n > 0 && (size_t)n < size;
}

bool
pop3_apop_parse(const char *arg, size_t len,
		char user[POP3_APOP_USER_MAX + 1], char digest[33])
{
	const char *sp = memchr(arg, ' ', len);
	size_t ulen, dlen;

	if (sp == NULL)
		return false;
	ulen = (size_t)(sp - arg);
	dlen = len - ulen - 1;
	if (ulen == 0 || ulen > POP3_APOP_USER_MAX || dlen != 32)
		return false;
	for (size_t i = 0; i < dlen; i++) {
		unsigned char ch = (unsigned char)sp[1 + i];

		if (!isxdigit(ch))
			return false;
		digest[i] = (char)tolower(ch);
	}
	digest[32] = '\0';
	memcpy(user, arg, ulen);
	user[ulen] = '\0';
	return true;
}

bool
pop3_apop_verify(const char *timestamp, const unsigned char *password,
		 size_t password_len, const char *digest)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char expect[33];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = false;

	if (ctx == NULL)
		return false;
	if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, timestamp, strlen(timestamp)) == 1 &&
	    EVP_DigestUpdate(ctx, password, password_len) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 16) {
		for (unsigned i = 0; i < 16; i++) {
			expect[2 * i] = hex[md[i] >> 4];
			expect[2 * i + 1] = hex[md[i] & 15];
		}
		expect[32] = '\0';
		ok = strlen(digest) == 32 &&
		     CRYPTO_memcmp(expect, digest, 32) == 0;
	}
	EVP_MD_CTX_free(ctx);
	explicit_bzero(md, sizeof(md));
	explicit_bzero(expect, sizeof(expect));
	return ok;
}

/* Checks the digest against the account's secret. On DIR_OK s->acct is
 * filled; otherwise *why names the cause for the log. */
static enum dir_result
apop_check(struct pop3_session *s, const char *user, const char *digest,
	   const char **why)
{
	unsigned char password[PASSWORD_MAX_LEN + 1];
	char *sealed = NULL;
	enum dir_result r;
	long n;

	r = directory_apop_secret(s->c->worker->dir, user, &sealed, &s->acct);
	if (r == DIR_TEMPFAIL)
		return r;
	if (r != DIR_OK) {
		*why = "unknown user or no APOP secret (--legacy-auth)";
		return DIR_NOT_FOUND;
	}
	n = site_key_open(s->c->worker->site_key, s->acct.address, sealed,
			  strlen(sealed), password, sizeof(password));
	free(sealed);
	if (n < 0) {
		log_error("conn=%lu pop3 APOP secret of %s does not open with "
			  "the site key; set it again with hapostctl account "
			  "passwd --legacy-auth",
			  s->c->id, s->acct.address);
		*why = "APOP secret does not open with the site key";
		r = DIR_NOT_FOUND;
	} else if (!pop3_apop_verify(s->apop_timestamp, password, (size_t)n,
				     digest)) {
		*why = "invalid credentials";
		r = DIR_NOT_FOUND;
	}
	explicit_bzero(password, sizeof(password));
	if (r != DIR_OK)
		account_free(&s->acct);
	return r;
}

void
pop3_cmd_apop(struct pop3_session *s, const struct pop3_cmd *cmd)
{
	char user[POP3_APOP_USER_MAX + 1], digest[33], safe[300];
	const char *why = "";
	enum dir_result r;

	if (s->apop_timestamp == NULL) {
		pop3_error(s, "-ERR APOP is not available; use USER and PASS "
			      "or AUTH");
		return;
	}
	if (!cmd->has_arg ||
	    !pop3_apop_parse(cmd->arg, cmd->arglen, user, digest)) {
		pop3_error(s, "-ERR APOP takes two arguments: the user name "
			      "and 32 hex digits of MD5");
		return;
	}
	free(s->user);
	s->user = NULL;
	log_printable(safe, sizeof(safe), user, strlen(user));
	r = apop_check(s, user, digest, &why);
	if (r == DIR_TEMPFAIL) {
		log_warning("conn=%lu pop3 login deferred user=%s ip=%s "
			    "reason=directory-unavailable",
			    s->c->id, safe, s->c->peer_ip);
		pop3_reply(s, "-ERR [SYS/TEMP] account directory is "
			      "unavailable, try again later");
		return;
	}
	if (r != DIR_OK) {
		log_info("conn=%lu pop3 login failed mech=APOP user=%s ip=%s "
			 "reason=\"%s\"",
			 s->c->id, safe, s->c->peer_ip, why);
		pop3_delayed_reply(s, "-ERR [AUTH] authentication failed");
		return;
	}
	pop3_login_complete(s);
}
