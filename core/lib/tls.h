/*
 * tls - the server's OpenSSL contexts, built from the tls_* keys
 *
 * One struct tls_server holds the default SSL_CTX (tls_cert_file and
 * tls_key_file) and one SSL_CTX per tls_sni entry. A ClientHello whose
 * server name matches an entry (case-insensitively; "*.example.org"
 * matches one label in front of example.org) gets that entry's
 * certificate, any other name or none gets the default one.
 *
 * Each worker builds its own contexts when it starts, before it drops
 * root, so key files may be readable by root only. A reload starts new
 * workers, which read the files again; sessions of the old workers keep
 * the contexts they started with. The master builds and frees the
 * contexts once at startup and at each reload to reject bad files early.
 */
#ifndef HAPOST_TLS_H
#define HAPOST_TLS_H

#include <openssl/ssl.h>
#include <stddef.h>

#include "cfg.h"

struct tls_server;

/*
 * Builds the contexts for cfg. Sets *out to NULL and returns 0 when
 * tls_cert_file is unset. Returns -1 with the file and OpenSSL's reason
 * in err when a certificate or key cannot be loaded or a setting is
 * rejected.
 */
int tls_server_load(const struct cfg *cfg, struct tls_server **out,
		    char *err, size_t errlen);
void tls_server_free(struct tls_server *t);
/* Returns a new server-side SSL for one connection, or NULL. */
SSL *tls_server_ssl_new(struct tls_server *t);
/*
 * Builds the client-side context for outbound SMTP from the
 * smtp_client_tls* keys: TLS_client_method, the minimum version and the
 * CA bundle, with peer verification by default only for the policy
 * "verify" (a connection may set its own mode and the host name to
 * check). Returns NULL with the reason in err when a setting is
 * rejected, or when the CA bundle does not load under "verify".
 */
SSL_CTX *tls_client_ctx_new(const struct cfg *cfg, char *err, size_t errlen);
/* Copies OpenSSL's error queue (oldest first) into err and clears it. */
void tls_error_string(char *err, size_t errlen);

#endif
