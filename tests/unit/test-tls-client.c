/*
 * Tests of the outbound (client-side) TLS context built from the
 * smtp_client_tls* keys.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cfg.h"
#include "tls.h"

/* Debian's CA bundle, from the ca-certificates package. */
#define SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

static void
client_ctx_may_verifies_nothing(void **state)
{
	struct cfg cfg;
	char err[256] = "";
	SSL_CTX *ctx;

	cfg_defaults(&cfg);
	assert_int_equal(cfg_set(&cfg, "smtp_client_tls_ca_file",
				 "/nonexistent/ca.pem", err, sizeof(err)),
			 0);
	ctx = tls_client_ctx_new(&cfg, err, sizeof(err));
	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_NONE);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	SSL_CTX_free(ctx);
	cfg_free(&cfg);
}

static void
client_ctx_verify_loads_bundle(void **state)
{
	struct cfg cfg;
	char err[256] = "";
	SSL_CTX *ctx;

	cfg_defaults(&cfg);
	assert_int_equal(cfg_set(&cfg, "smtp_client_tls", "verify", err,
				 sizeof(err)),
			 0);
	assert_int_equal(cfg_set(&cfg, "smtp_client_tls_ca_file",
				 SYSTEM_CA_FILE, err, sizeof(err)),
			 0);
	assert_int_equal(cfg_set(&cfg, "smtp_client_tls_min_version",
				 "TLSv1.3", err, sizeof(err)),
			 0);
	ctx = tls_client_ctx_new(&cfg, err, sizeof(err));
	if (ctx == NULL)
		fail_msg("%s (install ca-certificates)", err);
	assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
	assert_int_equal(SSL_CTX_get_min_proto_version(ctx), TLS1_3_VERSION);
	SSL_CTX_free(ctx);
	cfg_free(&cfg);
}

static void
client_ctx_verify_missing_bundle(void **state)
{
	struct cfg cfg;
	char err[256] = "";

	cfg_defaults(&cfg);
	assert_int_equal(cfg_set(&cfg, "smtp_client_tls", "verify", err,
				 sizeof(err)),
			 0);
	assert_int_equal(cfg_set(&cfg, "smtp_client_tls_ca_file",
				 "/nonexistent/ca.pem", err, sizeof(err)),
			 0);
	assert_null(tls_client_ctx_new(&cfg, err, sizeof(err)));
	assert_non_null(
		strstr(err, "smtp_client_tls_ca_file /nonexistent/ca.pem"));
	cfg_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(client_ctx_may_verifies_nothing),
		cmocka_unit_test(client_ctx_verify_loads_bundle),
		cmocka_unit_test(client_ctx_verify_missing_bundle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
