/*
 * Unit tests for the SASL server state machine (core/sasl/sasl.c): the
 * RFC 4616 and RFC 2195 examples, base64 edge cases, cancel, empty and
 * overlong responses.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"
#include "sasl.h"

static void
base64_decode_cases(void **state)
{
	static const struct {
		const char *in;
		long len; /* -1: rejected */
		const char *out;
	} cases[] = {
		{"", 0, ""},
		{"YQ==", 1, "a"},
		{"YWI=", 2, "ab"},
		{"YWJj", 3, "abc"},
		{"AGFsaWNlAHB3", 9, "\0alice\0pw"},
		{"YQ=", -1, NULL},	/* length not a multiple of 4 */
		{"Y===", -1, NULL},	/* too much padding */
		{"YQ=a", -1, NULL},	/* data after padding */
		{"YQ==YQ==", -1, NULL}, /* padding in the middle */
		{"YR==", -1, NULL},	/* bits under the padding set */
		{"YWJ=", -1, NULL},	/* bits under the padding set */
		{"YW Jj", -1, NULL},	/* space */
		{"YW\nJ", -1, NULL},	/* line break */
		{"!!!!", -1, NULL},	/* outside the alphabet */
		{"YW-_", -1, NULL},	/* base64url is not base64 */
	};
	unsigned char out[64];

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		long n = sasl_base64_decode(cases[i].in, strlen(cases[i].in),
					    out, sizeof(out));

		if (n != cases[i].len)
			fail_msg("'%s': got %ld, expected %ld", cases[i].in, n,
				 cases[i].len);
		if (n > 0)
			assert_memory_equal(out, cases[i].out, (size_t)n);
	}
}

static void
base64_decode_embedded_nul(void **state)
{
	unsigned char out[8];

	/* A NUL inside the base64 text is outside the alphabet. */
	assert_int_equal(sasl_base64_decode("YW\0j", 4, out, sizeof(out)), -1);
}

static void
base64_decode_respects_max(void **state)
{
	unsigned char out[3];

	assert_int_equal(sasl_base64_decode("YWJj", 4, out, 3), 3);
	assert_int_equal(sasl_base64_decode("YWJjZA==", 8, out, 3), -1);
}

static void
base64_encode_round_trip(void **state)
{
	unsigned char data[256], back[256];
	struct buf b = BUF_INIT;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7);
	for (size_t len = 0; len <= sizeof(data); len += 17) {
		buf_reset(&b);
		sasl_base64_encode(data, len, &b);
		assert_int_equal(b.len % 4, 0);
		assert_int_equal(sasl_base64_decode(b.data, b.len, back,
						    sizeof(back)),
				 (long)len);
		assert_memory_equal(back, data, len);
	}
	buf_reset(&b);
	sasl_base64_encode("Username:", 9, &b);
	assert_string_equal(buf_cstr(&b), "VXNlcm5hbWU6");
	buf_free(&b);
}

static void
mechanism_names_parse(void **state)
{
	enum sasl_mech m;

	assert_true(sasl_mech_from_name("plain", 5, &m));
	assert_int_equal(m, SASL_MECH_PLAIN);
	assert_true(sasl_mech_from_name("LOGIN", 5, &m));
	assert_int_equal(m, SASL_MECH_LOGIN);
	assert_true(sasl_mech_from_name("Cram-Md5", 8, &m));
	assert_int_equal(m, SASL_MECH_CRAM_MD5);
	assert_false(sasl_mech_from_name("PLAINX", 6, &m));
	assert_false(sasl_mech_from_name("PLAI", 4, &m));
	assert_false(sasl_mech_from_name("GSSAPI", 6, &m));
	assert_false(sasl_mech_from_name("", 0, &m));
	assert_true(sasl_mech_plaintext(SASL_MECH_PLAIN));
	assert_true(sasl_mech_plaintext(SASL_MECH_LOGIN));
	assert_false(sasl_mech_plaintext(SASL_MECH_CRAM_MD5));
	assert_string_equal(sasl_mech_name(SASL_MECH_CRAM_MD5), "CRAM-MD5");
}

/* Runs one step and returns its result. */
static enum sasl_result
step(struct sasl_server *s, const char *line, bool initial, struct buf *ch,
     const char **error)
{
	return sasl_server_step(s, line, line ? strlen(line) : 0, initial, ch,
				error);
}

static void
plain_rfc4616_examples(void **state)
{
	struct sasl_server s;
	struct buf ch = BUF_INIT;
	const char *error;

	/* RFC 4616 section 4: "\0tim\0tanstaaftanstaaf". */
	sasl_server_init(&s, SASL_MECH_PLAIN, "mx.example");
	assert_int_equal(step(&s, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm", true, &ch,
			      &error),
			 SASL_DONE);
	assert_string_equal(s.authzid, "");
	assert_string_equal(s.authcid, "tim");
	assert_string_equal(s.password, "tanstaaftanstaaf");
	sasl_server_clear(&s);
	assert_int_equal(s.password[0], 0);

	/* "Ursel\0Kurt\0xipj3plmq": an authorization identity. */
	sasl_server_init(&s, SASL_MECH_PLAIN, "mx.example");
	assert_int_equal(step(&s, "VXJzZWwAS3VydAB4aXBqM3BsbXE=", true, &ch,
			      &error),
			 SASL_DONE);
	assert_string_equal(s.authzid, "Ursel");
	assert_string_equal(s.authcid, "Kurt");
	assert_string_equal(s.password, "xipj3plmq");
	sasl_server_clear(&s);
	buf_free(&ch);
}

static void
plain_without_initial_response(void **state)
{
	struct sasl_server s;
	struct buf ch = BUF_INIT;
	const char *error;

	sasl_server_init(&s, SASL_MECH_PLAIN, "mx.example");
	assert_int_equal(step(&s, NULL, true, &ch, &error), SASL_CONTINUE);
	assert_int_equal(ch.len, 0);
	assert_int_equal(step(&s, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm", false, &ch,
			      &error),
			 SASL_DONE);
	assert_string_equal(s.authcid, "tim");
	buf_free(&ch);
}

static void
plain_bad_responses_fail(void **state)
{
	static const char *const bad[] = {
		"=",			    /* empty initial response */
		"dGlt",			    /* "tim": no NUL */
		"AHRpbQ==",		    /* "\0tim": one NUL */
		"AHRpbQA=",		    /* "\0tim\0": empty password */
		"AAB0YW5zdGFhZg==",	    /* "\0\0tanstaaf": no user */
		"AHRpbQB0YW4AcGFzcw==",	    /* "\0tim\0tan\0pass" */
		"AHRpbQB0YW5zdGFhZg",	    /* missing padding */
		"AHRpbQB0YW5zdGFhZg==junk", /* junk after padding */
	};
	struct sasl_server s;
	struct buf ch = BUF_INIT;
	const char *error;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		sasl_server_init(&s, SASL_MECH_PLAIN, "mx.example");
		error = NULL;
		if (step(&s, bad[i], true, &ch, &error) != SASL_FAIL)
			fail_msg("accepted '%s'", bad[i]);
		assert_non_null(error);
	}
	buf_free(&ch);
}

static void
plain_overlong_fields_fail(void **state)
{
	unsigned char raw[SASL_RESPONSE_MAX + 64];
	struct sasl_server s;
	struct buf b64 = BUF_INIT, ch = BUF_INIT;
	const char *error;

	/* "\0" + 256 x 'u' + "\0pw": the user name is one byte too long. */
	memset(raw, 'u', sizeof(raw));
	raw[0] = '\0';
	raw[SASL_FIELD_MAX + 2] = '\0';
	memcpy(raw + SASL_FIELD_MAX + 3, "pw", 2);
	sasl_base64_encode(raw, SASL_FIELD_MAX + 5, &b64);
	sasl_server_init(&s, SASL_MECH_PLAIN, "mx.example");
	assert_int_equal(sasl_server_step(&s, b64.data, b64.len, true, &ch,
					  &error),
			 SASL_FAIL);
	assert_non_null(strstr(error, "too long"));

	/* A decoded response beyond SASL_RESPONSE_MAX. */
	buf_reset(&b64);
	sasl_base64_encode(raw, sizeof(raw), &b64);
	sasl_server_init(&s, SASL_MECH_PLAIN, "mx.example");
	assert_int_equal(sasl_server_step(&s, b64.data, b64.len, true, &ch,
					  &error),
			 SASL_FAIL);
	assert_string_equal(error, "response is too long");
	buf_free(&b64);
	buf_free(&ch);
}

static void
cancel_star_ends_exchange(void **state)
{
	static const enum sasl_mech all[] = {
		SASL_MECH_PLAIN, SASL_MECH_LOGIN, SASL_MECH_CRAM_MD5};
	struct sasl_server s;
	struct buf ch = BUF_INIT;
	const char *error;

	for (size_t i = 0; i < sizeof(all) / sizeof(*all); i++) {
		sasl_server_init(&s, all[i], "mx.example");
		assert_int_equal(step(&s, NULL, true, &ch, &error),
				 SASL_CONTINUE);
		assert_int_equal(step(&s, "*", false, &ch, &error),
				 SASL_CANCEL);
	}
	/* As an initial response "*" is just invalid base64. */
	sasl_server_init(&s, SASL_MECH_PLAIN, "mx.example");
	assert_int_equal(step(&s, "*", true, &ch, &error), SASL_FAIL);
	buf_free(&ch);
}

static void
login_exchange_in_steps(void **state)
{
	struct sasl_server s;
	struct buf ch = BUF_INIT;
	const char *error;

	sasl_server_init(&s, SASL_MECH_LOGIN, "mx.example");
	assert_int_equal(step(&s, NULL, true, &ch, &error), SASL_CONTINUE);
	assert_string_equal(buf_cstr(&ch), "VXNlcm5hbWU6");
	assert_int_equal(step(&s, "dGlt", false, &ch, &error), SASL_CONTINUE);
	assert_string_equal(buf_cstr(&ch), "UGFzc3dvcmQ6");
	assert_int_equal(step(&s, "dGFuc3RhYWY=", false, &ch, &error),
			 SASL_DONE);
	assert_string_equal(s.authcid, "tim");
	assert_string_equal(s.password, "tanstaaf");

	/* An initial response is the user name. */
	sasl_server_init(&s, SASL_MECH_LOGIN, "mx.example");
	assert_int_equal(step(&s, "dGlt", true, &ch, &error), SASL_CONTINUE);
	assert_string_equal(buf_cstr(&ch), "UGFzc3dvcmQ6");
	assert_string_equal(s.authcid, "tim");
	buf_free(&ch);
}

static void
login_empty_fields_fail(void **state)
{
	struct sasl_server s;
	struct buf ch = BUF_INIT;
	const char *error;

	sasl_server_init(&s, SASL_MECH_LOGIN, "mx.example");
	step(&s, NULL, true, &ch, &error);
	assert_int_equal(step(&s, "", false, &ch, &error), SASL_FAIL);

	sasl_server_init(&s, SASL_MECH_LOGIN, "mx.example");
	step(&s, NULL, true, &ch, &error);
	step(&s, "dGlt", false, &ch, &error);
	assert_int_equal(step(&s, "", false, &ch, &error), SASL_FAIL);

	/* "ti\0m" as user name. */
	sasl_server_init(&s, SASL_MECH_LOGIN, "mx.example");
	step(&s, NULL, true, &ch, &error);
	assert_int_equal(step(&s, "dGkAbQ==", false, &ch, &error), SASL_FAIL);
	buf_free(&ch);
}

static void
cram_md5_rfc2195_example(void **state)
{
	unsigned char st[SASL_CRAM_STATE_LEN];
	const char *challenge = "<1896.697170952@postoffice.reston.mci.net>";

	sasl_cram_md5_precompute("tanstaaftanstaaf", st);
	assert_true(sasl_cram_md5_verify(st, challenge,
					 "b913a602c7eda7a495b4e6e7334d3890"));
	assert_false(sasl_cram_md5_verify(st, challenge,
					  "b913a602c7eda7a495b4e6e7334d3891"));
	assert_false(sasl_cram_md5_verify(st, challenge, "b913a602"));
	assert_false(sasl_cram_md5_verify(st, "<other@host>",
					  "b913a602c7eda7a495b4e6e7334d3890"));
	sasl_cram_md5_precompute("tanstaaftanstaag", st);
	assert_false(sasl_cram_md5_verify(st, challenge,
					  "b913a602c7eda7a495b4e6e7334d3890"));
}

/* Keys up to, at and beyond the 64-byte block against OpenSSL's HMAC. */
static void
cram_md5_matches_openssl_hmac(void **state)
{
	static const size_t lens[] = {1, 63, 64, 65, 200};
	unsigned char st[SASL_CRAM_STATE_LEN], mac[16];
	char key[201], hex[33];
	const char *msg = "<12345.678@mx.example>";
	unsigned maclen = 0;

	for (size_t i = 0; i < sizeof(lens) / sizeof(*lens); i++) {
		memset(key, 'k' + (int)i, lens[i]);
		key[lens[i]] = '\0';
		HMAC(EVP_md5(), key, (int)lens[i], (const unsigned char *)msg,
		     strlen(msg), mac, &maclen);
		assert_int_equal(maclen, 16);
		for (int k = 0; k < 16; k++)
			snprintf(hex + 2 * k, 3, "%02x", mac[k]);
		sasl_cram_md5_precompute(key, st);
		if (!sasl_cram_md5_verify(st, msg, hex))
			fail_msg("key length %zu: digest differs", lens[i]);
	}
}

static void
cram_md5_exchange_parses_response(void **state)
{
	struct sasl_server s;
	struct buf ch = BUF_INIT, resp = BUF_INIT;
	unsigned char raw[256];
	const char *error;
	long n;

	sasl_server_init(&s, SASL_MECH_CRAM_MD5, "mx.example");
	assert_int_equal(step(&s, NULL, true, &ch, &error), SASL_CONTINUE);
	n = sasl_base64_decode(ch.data, ch.len, raw, sizeof(raw) - 1);
	assert_true(n > 0);
	raw[n] = '\0';
	assert_string_equal((char *)raw, s.challenge);
	assert_int_equal(raw[0], '<');
	assert_non_null(strstr((char *)raw, "@mx.example>"));

	/* "tim B913...": the digest is folded to lowercase. */
	sasl_base64_encode("tim B913A602C7EDA7A495B4E6E7334D3890", 36, &resp);
	assert_int_equal(sasl_server_step(&s, resp.data, resp.len, false, &ch,
					  &error),
			 SASL_DONE);
	assert_string_equal(s.authcid, "tim");
	assert_string_equal(s.digest, "b913a602c7eda7a495b4e6e7334d3890");
	buf_free(&ch);
	buf_free(&resp);
}

static void
cram_md5_bad_responses_fail(void **state)
{
	static const char *const bad[] = {
		"timb913a602c7eda7a495b4e6e7334d3890",	/* no space */
		"tim b913a602c7eda7a495b4e6e7334d389",	/* 31 digits */
		"tim b913a602c7eda7a495b4e6e7334d38900", /* 33 digits */
		"tim g913a602c7eda7a495b4e6e7334d3890",	/* not hex */
		" b913a602c7eda7a495b4e6e7334d3890",	/* no user */
		"",
	};
	struct sasl_server s;
	struct buf ch = BUF_INIT, resp = BUF_INIT;
	const char *error;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		sasl_server_init(&s, SASL_MECH_CRAM_MD5, "mx.example");
		step(&s, NULL, true, &ch, &error);
		buf_reset(&resp);
		sasl_base64_encode(bad[i], strlen(bad[i]), &resp);
		if (sasl_server_step(&s, resp.data, resp.len, false, &ch,
				     &error) != SASL_FAIL)
			fail_msg("accepted '%s'", bad[i]);
	}
	/* CRAM-MD5 is server-first: an initial response is a violation. */
	sasl_server_init(&s, SASL_MECH_CRAM_MD5, "mx.example");
	assert_int_equal(step(&s, "dGlt", true, &ch, &error), SASL_FAIL);
	buf_free(&ch);
	buf_free(&resp);
}

static void
cram_md5_challenges_differ(void **state)
{
	struct sasl_server a, b;

	sasl_server_init(&a, SASL_MECH_CRAM_MD5, "mx.example");
	sasl_server_init(&b, SASL_MECH_CRAM_MD5, "mx.example");
	assert_string_not_equal(a.challenge, b.challenge);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(base64_decode_cases),
		cmocka_unit_test(base64_decode_embedded_nul),
		cmocka_unit_test(base64_decode_respects_max),
		cmocka_unit_test(base64_encode_round_trip),
		cmocka_unit_test(mechanism_names_parse),
		cmocka_unit_test(plain_rfc4616_examples),
		cmocka_unit_test(plain_without_initial_response),
		cmocka_unit_test(plain_bad_responses_fail),
		cmocka_unit_test(plain_overlong_fields_fail),
		cmocka_unit_test(cancel_star_ends_exchange),
		cmocka_unit_test(login_exchange_in_steps),
		cmocka_unit_test(login_empty_fields_fail),
		cmocka_unit_test(cram_md5_rfc2195_example),
		cmocka_unit_test(cram_md5_matches_openssl_hmac),
		cmocka_unit_test(cram_md5_exchange_parses_response),
		cmocka_unit_test(cram_md5_bad_responses_fail),
		cmocka_unit_test(cram_md5_challenges_differ),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
