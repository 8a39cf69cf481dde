/*
 * tls - the server's OpenSSL contexts (see tls.h)
 *
 * Settings of every context: the minimum version from tls_min_version,
 * tls_ciphers for TLS 1.2 and older, tls_ciphersuites for TLS 1.3, the
 * server's cipher order, no renegotiation, and small buffers while a
 * connection is idle (SSL_MODE_RELEASE_BUFFERS). TLS 1.0 and 1.1 need
 * SHA-1 signatures, which OpenSSL 3 rejects above security level 0, so a
 * tls_min_version below TLSv1.2 lowers the level to 0.
 *
 * Failures: tls_server_load() returns -1 with the file name and the
 * OpenSSL reason; nothing is half-built.
 * NOTE: session tickets use keys of the worker's own context, so a client
 * resumes a session only when it reaches the same worker again.
 */
#include "config.h"

#include <openssl/err.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tls.h"
#include "xalloc.h"

struct tls_sni_ctx {
	char *host;
	SSL_CTX *ctx;
};

struct tls_server {
	SSL_CTX *ctx;
	struct tls_sni_ctx *sni;
	size_t nsni;
};

void
tls_error_string(char *err, size_t errlen)
{
	unsigned long e;
	size_t used = 0;

	err[0] = '\0';
	while ((e = ERR_get_error()) != 0) {
		char one[256];

		ERR_error_string_n(e, one, sizeof(one));
		if (used < errlen)
			used += (size_t)snprintf(err + used, errlen - used,
						 "%s%s", used ? "; " : "", one);
	}
	if (err[0] == '\0')
		snprintf(err, errlen, "unknown OpenSSL error");
}

static int
version_number(const char *name)
{
	if (strcmp(name, "TLSv1") == 0)
		return TLS1_VERSION;
	if (strcmp(name, "TLSv1.1") == 0)
		return TLS1_1_VERSION;
	if (strcmp(name, "TLSv1.3") == 0)
		return TLS1_3_VERSION;
	return TLS1_2_VERSION;
}

/*
 * Sets the oldest protocol version of ctx from the value of config key
 * key. TLS 1.0 and 1.1 need SHA-1, so they also lower the security level
 * to 0. Returns -1 with the key, value and OpenSSL's reason in err.
 */
static int
set_min_version(SSL_CTX *ctx, const char *key, const char *value, char *err,
		size_t errlen)
{
	int min = version_number(value);
	char why[512];

	if (min < TLS1_2_VERSION)
		SSL_CTX_set_security_level(ctx, 0);
	if (!SSL_CTX_set_min_proto_version(ctx, min)) {
		tls_error_string(why, sizeof(why));
		snprintf(err, errlen, "%s %s: %s", key, value, why);
		return -1;
	}
	return 0;
}

/* Returns true when host (the SNI name) matches pattern. */
static bool
host_matches(const char *pattern, const char *host)
{
	const char *dot;

	if (strncmp(pattern, "*.", 2) != 0)
		return strcasecmp(pattern, host) == 0;
	dot = strchr(host, '.');
	return dot != NULL && dot != host &&
	       strcasecmp(pattern + 1, dot) == 0;
}

static int
servername_cb(SSL *ssl, int *alert, void *arg)
{
	struct tls_server *t = arg;
	const char *host = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	if (host == NULL)
		return SSL_TLSEXT_ERR_NOACK;
	/* Exact names first, so "a.example" beats "*.example". */
	for (int wild = 0; wild < 2; wild++) {
		for (size_t i = 0; i < t->nsni; i++) {
			bool is_wild = t->sni[i].host[0] == '*';

			if (is_wild != (wild == 1) ||
			    !host_matches(t->sni[i].host, host))
				continue;
			SSL_set_SSL_CTX(ssl, t->sni[i].ctx);
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_OK;
}

/* Builds one context with cert_file and key_file; NULL with err set. */
static SSL_CTX *
ctx_new(const struct cfg *cfg, const char *cert_file, const char *key_file,
	char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char why[512];

	ERR_clear_error();
	if (ctx == NULL) {
		tls_error_string(why, sizeof(why));
		snprintf(err, errlen, "SSL_CTX_new failed: %s", why);
		return NULL;
	}
	if (set_min_version(ctx, "tls_min_version", cfg->tls_min_version, err,
			    errlen) < 0)
		goto fail;
	if (!SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers)) {
		tls_error_string(why, sizeof(why));
		snprintf(err, errlen, "tls_ciphers '%s': %s", cfg->tls_ciphers,
			 why);
		goto fail;
	}
	if (!SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites)) {
		tls_error_string(why, sizeof(why));
		snprintf(err, errlen, "tls_ciphersuites '%s': %s",
			 cfg->tls_ciphersuites, why);
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
					 SSL_OP_NO_RENEGOTIATION |
					 SSL_OP_NO_COMPRESSION |
					 SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
				      SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
				      SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"hapost",
				       6);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
		tls_error_string(why, sizeof(why));
		snprintf(err, errlen, "certificate %s: %s", cert_file, why);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) !=
	    1) {
		tls_error_string(why, sizeof(why));
		snprintf(err, errlen, "key %s: %s", key_file, why);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_error_string(why, sizeof(why));
		snprintf(err, errlen, "key %s does not match certificate %s: "
				      "%s",
			 key_file, cert_file, why);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

int
tls_server_load(const struct cfg *cfg, struct tls_server **out, char *err,
		size_t errlen)
{
	struct tls_server *t;

	*out = NULL;
	if (cfg->tls_cert_file == NULL)
		return 0;
	t = xcalloc(1, sizeof(*t));
	t->ctx = ctx_new(cfg, cfg->tls_cert_file, cfg->tls_key_file, err,
			 errlen);
	if (t->ctx == NULL)
		goto fail;
	t->sni = xcalloc(cfg->tls_sni.n + 1, sizeof(*t->sni));
	for (size_t i = 0; i < cfg->tls_sni.n; i++) {
		const struct tls_sni_entry *e = &cfg->tls_sni.v[i];
		char why[768];

		t->sni[i].ctx = ctx_new(cfg, e->cert_file, e->key_file, why,
					sizeof(why));
		if (t->sni[i].ctx == NULL) {
			snprintf(err, errlen, "tls_sni %s: %s", e->host, why);
			goto fail;
		}
		t->sni[i].host = xstrdup(e->host);
		t->nsni++;
	}
	SSL_CTX_set_tlsext_servername_callback(t->ctx, servername_cb);
	SSL_CTX_set_tlsext_servername_arg(t->ctx, t);
	*out = t;
	return 0;
fail:
	tls_server_free(t);
	return -1;
}

void
tls_server_free(struct tls_server *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nsni; i++) {
		SSL_CTX_free(t->sni[i].ctx);
		free(t->sni[i].host);
	}
	free(t->sni);
	SSL_CTX_free(t->ctx);
	free(t);
}

SSL *
tls_server_ssl_new(struct tls_server *t)
{
	return SSL_new(t->ctx);
}

SSL_CTX *
tls_client_ctx_new(const struct cfg *cfg, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char why[512];

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (ctx == NULL) {
		tls_error_string(why, sizeof(why));
		snprintf(err, errlen, "SSL_CTX_new failed: %s", why);
		return NULL;
	}
	if (set_min_version(ctx, "smtp_client_tls_min_version",
			    cfg->smtp_client_tls_min_version, err,
			    errlen) < 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/*
	 * The CA bundle is loaded whatever the global policy, because a
	 * gateway route may ask for "verify" on its own; each connection
	 * sets its own verify mode. Only a global "verify" needs the bundle
	 * to load: without it, a "verify" route fails its certificate
	 * check with a clear reason instead.
	 */
	if (SSL_CTX_load_verify_locations(ctx, cfg->smtp_client_tls_ca_file,
					  NULL) != 1) {
		tls_error_string(why, sizeof(why));
		if (strcmp(cfg->smtp_client_tls, "verify") == 0) {
			snprintf(err, errlen, "smtp_client_tls_ca_file %s: %s",
				 cfg->smtp_client_tls_ca_file, why);
			SSL_CTX_free(ctx);
			return NULL;
		}
		ERR_clear_error();
	}
	/* "may" and "encrypt" take any certificate, as opportunistic SMTP
	 * TLS must (RFC 7435). */
	SSL_CTX_set_verify(ctx,
			   strcmp(cfg->smtp_client_tls, "verify") == 0
			       ? SSL_VERIFY_PEER
			       : SSL_VERIFY_NONE,
			   NULL);
	return ctx;
}
