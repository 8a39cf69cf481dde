#include "config.h"

#include <netinet/in.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"

static char *
write_tmp(const char *text)
{
	char *path = strdup("/tmp/hapost-test-cfg-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

static int
load_text(struct cfg *cfg, const char *text, char *err, size_t errlen)
{
	char *path = write_tmp(text);
	int ret;

	cfg_defaults(cfg);
	ret = cfg_load(cfg, path, err, errlen);
	unlink(path);
	free(path);
	return ret;
}

static void
cfg_valid_file_loads(void **state)
{
	struct cfg cfg;
	char err[256] = "";

	assert_int_equal(load_text(&cfg,
				   "# comment\n"
				   "data_dir = /tmp/x   # trailing comment\n"
				   "\n"
				   "workers=4\n"
				   "message_size_limit = 10M\n"
				   "smtp_idle_timeout = 5m\n"
				   "smtp_listen = 127.0.0.1:2525, [::1]:2525\n"
				   "pop3_listen =\n"
				   "smtp_vrfy = yes\n"
				   "imap_cache_size = 0\n",
				   err, sizeof(err)),
			 0);
	assert_string_equal(cfg.data_dir, "/tmp/x");
	assert_int_equal(cfg.workers, 4);
	assert_int_equal(cfg.message_size_limit, 10 << 20);
	assert_int_equal(cfg.smtp_idle_timeout, 300);
	assert_int_equal(cfg.smtp_listen.n, 2);
	assert_int_equal(cfg.smtp_listen.v[0].ss.ss_family, AF_INET);
	assert_int_equal(cfg.smtp_listen.v[1].ss.ss_family, AF_INET6);
	assert_int_equal(cfg.pop3_listen.n, 0);
	assert_true(cfg.smtp_vrfy);
	assert_int_equal(cfg.imap_cache_size, 0);
	cfg_free(&cfg);
}

struct bad_case {
	const char *text;
	const char *expect; /* substring of the error */
};

static void
cfg_bad_lines_name_line(void **state)
{
	static const struct bad_case cases[] = {
		{"bogus = 1\n", ":1: unknown key 'bogus'"},
		{"\nworkers = many\n", ":2: workers: invalid number 'many'"},
		{"workers = 0\n", "out of range"},
		{"workers = 99999999999999999999\n", "invalid number"},
		{"no equals sign\n", ":1: expected 'key = value'"},
		{"data_dir = relative\n", "is not an absolute path"},
		{"smtp_listen = 127.0.0.1\n", "expected address:port"},
		{"smtp_listen = 127.0.0.1:0\n", "invalid port"},
		{"smtp_listen = 127.0.0.1:70000\n", "invalid port"},
		{"smtp_listen = 999.0.0.1:25\n", "invalid IP address"},
		{"smtp_listen = [::1:25\n", "expected [IPv6]:port"},
		{"smtp_listen = [zz::1]:25\n", "invalid IP address"},
		{"message_size_limit = 10Q\n", "invalid size"},
		{"message_size_limit = 1\n", "out of range"},
		{"imap_cache_size = 5G\n", "out of range"},
		{"imap_cache_size = lots\n", "invalid size"},
		{"smtp_idle_timeout = 5x\n", "invalid duration"},
		{"smtp_vrfy = maybe\n", "invalid boolean"},
		{"hostname = mx\rX-Injected: 1\n", "invalid host name"},
		{"hostname = mail server\n", "invalid host name"},
		{"hostname = -mx.example\n", "invalid host name"},
		{"hostname = mx..example\n", "invalid host name"},
		{"smtp_client_tls = sometimes\n",
		 "smtp_client_tls: unknown policy 'sometimes'"},
		{"smtp_client_tls_ca_file = certs.pem\n",
		 "is not an absolute path"},
		{"smtp_client_tls_min_version = SSLv3\n",
		 "smtp_client_tls_min_version: unknown version 'SSLv3'"},
		{"workers = 2\nworkers = 3\n", ":2: key 'workers' is set twice"},
		{"hostname =\n", "value is empty"},
		{"queue_retry_min = 2h\nqueue_retry_max = 1h\n",
		 "queue_retry_min is larger"},
		{"node_name = mx 1\n", "node_name: 'mx 1' is invalid"},
		{"node_name = mx/1\n", "is invalid"},
		{"node_name = aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
		 "is invalid"},
		{"cluster_group =\n", "value is empty"},
		{"cluster_heartbeat_interval = 0\n", "out of range"},
		{"cluster_heartbeat_interval = 2m\n", "out of range"},
		{"cluster_probe_interval = 0\n", "out of range"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cfg cfg;
		char err[256] = "";

		assert_int_equal(load_text(&cfg, cases[i].text, err,
					   sizeof(err)),
				 -1);
		if (strstr(err, cases[i].expect) == NULL)
			fail_msg("case %zu: '%s' lacks '%s'", i, err,
				 cases[i].expect);
		cfg_free(&cfg);
	}
}

/* An empty node_name means the kernel's host name. */
static void
cfg_node_name_defaults_to_hostname(void **state)
{
	struct cfg cfg;
	char err[256] = "", host[256] = "";

	assert_int_equal(gethostname(host, sizeof(host)), 0);
	cfg_defaults(&cfg);
	assert_non_null(cfg.node_name);
	if (strspn(host, "abcdefghijklmnopqrstuvwxyz"
			 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") ==
		strlen(host) &&
	    strlen(host) <= NODE_NAME_MAX)
		assert_string_equal(cfg.node_name, host);
	assert_string_equal(cfg.cluster_group, "hapost");
	assert_int_equal(cfg.cluster_heartbeat_interval, 1);
	assert_int_equal(cfg.cluster_probe_interval, 5);
	cfg_free(&cfg);
	assert_int_equal(load_text(&cfg, "node_name = mx-1.example_a\n", err,
				   sizeof(err)),
			 0);
	assert_string_equal(cfg.node_name, "mx-1.example_a");
	cfg_free(&cfg);
}

static void
cfg_missing_file_reports_path(void **state)
{
	struct cfg cfg;
	char err[256];

	cfg_defaults(&cfg);
	assert_int_equal(cfg_load(&cfg, "/nonexistent/hapost.conf", err,
				  sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "/nonexistent/hapost.conf: cannot read"));
	cfg_free(&cfg);
}

static void
cfg_size_and_duration_units(void **state)
{
	size_t size;
	unsigned secs;

	assert_int_equal(cfg_parse_size("64k", &size), 0);
	assert_int_equal(size, 65536);
	assert_int_equal(cfg_parse_size("1G", &size), 0);
	assert_int_equal(size, 1 << 30);
	assert_int_equal(cfg_parse_size("-1", &size), -1);
	assert_int_equal(cfg_parse_size("", &size), -1);
	assert_int_equal(cfg_parse_size("12kk", &size), -1);
	assert_int_equal(cfg_parse_duration("2h", &secs), 0);
	assert_int_equal(secs, 7200);
	assert_int_equal(cfg_parse_duration("30", &secs), 0);
	assert_int_equal(secs, 30);
	assert_int_equal(cfg_parse_duration("99999999999d", &secs), -1);
}

static void
listen_text_equal(const struct listen_list *a, const struct listen_list *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_string_equal(a->v[i].text, b->v[i].text);
}

/* conf/hapost.conf documents every key with the built-in default. */
static void
cfg_example_file_matches_defaults(void **state)
{
	const char *srcdir = getenv("top_srcdir");
	char path[4096], err[256] = "", line[512];
	struct cfg file, def;
	FILE *f;

	snprintf(path, sizeof(path), "%s/conf/hapost.conf",
		 srcdir ? srcdir : ".");
	cfg_defaults(&file);
	if (cfg_load(&file, path, err, sizeof(err)) < 0)
		fail_msg("%s", err);
	cfg_defaults(&def);
	assert_string_equal(file.data_dir, def.data_dir);
	assert_string_equal(file.run_dir, def.run_dir);
	assert_string_equal(file.user, def.user);
	assert_string_equal(file.hostname, def.hostname);
	listen_text_equal(&file.smtp_listen, &def.smtp_listen);
	listen_text_equal(&file.submission_listen, &def.submission_listen);
	listen_text_equal(&file.pop3_listen, &def.pop3_listen);
	listen_text_equal(&file.imap_listen, &def.imap_listen);
	assert_string_equal(file.smtp_client_tls, def.smtp_client_tls);
	assert_string_equal(file.smtp_client_tls_ca_file,
			    def.smtp_client_tls_ca_file);
	assert_string_equal(file.smtp_client_tls_min_version,
			    def.smtp_client_tls_min_version);
	assert_int_equal(file.workers, def.workers);
	assert_int_equal(file.message_size_limit, def.message_size_limit);
	assert_int_equal(file.recipient_limit, def.recipient_limit);
	assert_int_equal(file.smtp_line_limit, def.smtp_line_limit);
	assert_int_equal(file.smtp_hop_limit, def.smtp_hop_limit);
	assert_int_equal(file.imap_line_limit, def.imap_line_limit);
	assert_int_equal(file.imap_literal_limit, def.imap_literal_limit);
	assert_int_equal(file.imap_cache_size, def.imap_cache_size);
	assert_int_equal(file.smtp_idle_timeout, def.smtp_idle_timeout);
	assert_int_equal(file.pop3_idle_timeout, def.pop3_idle_timeout);
	assert_int_equal(file.imap_idle_timeout, def.imap_idle_timeout);
	assert_int_equal(file.sessions_per_ip, def.sessions_per_ip);
	assert_int_equal(file.max_connections, def.max_connections);
	assert_int_equal(file.smtp_error_limit, def.smtp_error_limit);
	assert_int_equal(file.pop3_error_limit, def.pop3_error_limit);
	assert_int_equal(file.imap_error_limit, def.imap_error_limit);
	assert_int_equal(file.auth_failure_limit, def.auth_failure_limit);
	assert_int_equal(file.smtp_vrfy, def.smtp_vrfy);
	assert_int_equal(file.smtp_auth_on_port25, def.smtp_auth_on_port25);
	assert_int_equal(file.sasl_cram_md5, def.sasl_cram_md5);
	assert_int_equal(file.auth_failure_delay_ms,
			 def.auth_failure_delay_ms);
	assert_int_equal(file.shutdown_timeout, def.shutdown_timeout);
	assert_int_equal(file.queue_retry_min, def.queue_retry_min);
	assert_int_equal(file.queue_retry_max, def.queue_retry_max);
	assert_int_equal(file.queue_lifetime, def.queue_lifetime);
	assert_int_equal(file.queue_unreachable_retry_min,
			 def.queue_unreachable_retry_min);
	assert_int_equal(file.queue_unreachable_retry_max,
			 def.queue_unreachable_retry_max);
	assert_int_equal(file.delay_warning_time, def.delay_warning_time);
	assert_null(file.dns_servers);
	assert_int_equal(file.smtp_client_port, def.smtp_client_port);
	assert_int_equal(file.smtp_client_connect_timeout,
			 def.smtp_client_connect_timeout);
	assert_int_equal(file.smtp_client_timeout, def.smtp_client_timeout);
	assert_int_equal(file.smtp_client_concurrency,
			 def.smtp_client_concurrency);
	assert_int_equal(file.smtp_client_destination_concurrency,
			 def.smtp_client_destination_concurrency);
	assert_int_equal(file.smtp_client_recipients,
			 def.smtp_client_recipients);
	assert_int_equal(file.smtp_client_address_limit,
			 def.smtp_client_address_limit);
	assert_null(file.gateway_table);
	assert_null(file.delivery_window);
	assert_string_equal(file.storage_mode, def.storage_mode);
	assert_int_equal(file.replication_listen.n, 0);
	assert_null(file.replication_peer);
	assert_null(file.replication_key_file);
	assert_int_equal(file.replication_timeout, def.replication_timeout);
	assert_int_equal(file.replication_require_peer,
			 def.replication_require_peer);
	assert_string_equal(file.node_name, def.node_name);
	assert_string_equal(file.cluster_group, def.cluster_group);
	assert_int_equal(file.cluster_heartbeat_interval,
			 def.cluster_heartbeat_interval);
	assert_int_equal(file.cluster_probe_interval,
			 def.cluster_probe_interval);
	assert_int_equal(file.log_debug, def.log_debug);
	listen_text_equal(&file.submissions_listen, &def.submissions_listen);
	listen_text_equal(&file.pop3s_listen, &def.pop3s_listen);
	listen_text_equal(&file.imaps_listen, &def.imaps_listen);
	assert_null(file.tls_cert_file);
	assert_null(def.tls_cert_file);
	assert_null(file.tls_key_file);
	assert_string_equal(file.tls_min_version, def.tls_min_version);
	assert_string_equal(file.tls_ciphers, def.tls_ciphers);
	assert_string_equal(file.tls_ciphersuites, def.tls_ciphersuites);
	assert_int_equal(file.tls_sni.n, def.tls_sni.n);
	assert_int_equal(file.tls_handshake_timeout,
			 def.tls_handshake_timeout);
	assert_int_equal(file.require_tls_for_auth, def.require_tls_for_auth);
	assert_int_equal(file.allow_plaintext_auth_on_loopback,
			 def.allow_plaintext_auth_on_loopback);

	/* Every key appears, uncommented, in the file. */
	for (size_t k = 0; k < cfg_key_count(); k++) {
		const char *name = cfg_key_name(k);
		size_t len = strlen(name);
		bool found = false;

		f = fopen(path, "r");
		assert_non_null(f);
		while (fgets(line, sizeof(line), f) != NULL)
			if (strncmp(line, name, len) == 0 &&
			    (line[len] == ' ' || line[len] == '='))
				found = true;
		fclose(f);
		if (!found)
			fail_msg("key %s is missing from %s", name, path);
	}
	cfg_free(&file);
	cfg_free(&def);
}

static void
cfg_sni_entries_parse(void **state)
{
	struct tls_sni_list l = {NULL, 0};
	char err[256] = "";

	assert_int_equal(cfg_parse_sni("a.example:/c/a.pem:/k/a.key, "
				       "*.b.example:b.pem:b.key",
				       &l, err, sizeof(err)),
			 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].host, "a.example");
	assert_string_equal(l.v[0].cert_file, "/c/a.pem");
	assert_string_equal(l.v[0].key_file, "/k/a.key");
	assert_string_equal(l.v[1].host, "*.b.example");
	assert_string_equal(l.v[1].cert_file, "b.pem");
	assert_string_equal(l.v[1].key_file, "b.key");
	assert_int_equal(cfg_parse_sni("", &l, err, sizeof(err)), 0);
	assert_int_equal(l.n, 0);
	cfg_sni_list_free(&l);
}

static void
cfg_sni_bad_entries_rejected(void **state)
{
	static const char *const bad[] = {
		"a.example",		 /* no files */
		"a.example:c.pem",	 /* no key */
		"a.example:c.pem:",	 /* empty key */
		":c.pem:k.key",		 /* empty host */
		"a.example::k.key",	 /* empty certificate */
		"a.example:c.pem:k:x",	 /* a fourth field */
		"a..example:c.pem:k.key", /* empty label */
		"a.example.:c.pem:k.key", /* trailing dot */
		"a_b.example:c:k",	 /* '_' in a host name */
		"*.:c.pem:k.key",	 /* wildcard of nothing */
		"a.*.example:c:k",	 /* '*' inside the name */
	};
	struct tls_sni_list l = {NULL, 0};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		err[0] = '\0';
		if (cfg_parse_sni(bad[i], &l, err, sizeof(err)) == 0)
			fail_msg("accepted '%s'", bad[i]);
		assert_int_equal(l.n, 0);
		assert_true(err[0] != '\0');
	}
}

static void
cfg_tls_keys_checked(void **state)
{
	static const struct {
		const char *text;
		const char *error;
	} cases[] = {
		{"tls_cert_file = /c.pem\n", "must be set together"},
		{"tls_key_file = /k.pem\n", "must be set together"},
		{"imaps_listen = 127.0.0.1:993\n",
		 "imaps_listen needs a certificate"},
		{"submissions_listen = 127.0.0.1:465\n",
		 "submissions_listen needs a certificate"},
		{"pop3s_listen = 127.0.0.1:995\n",
		 "pop3s_listen needs a certificate"},
		{"tls_sni = a.example:c.pem:k.pem\n", "tls_sni needs"},
		{"tls_min_version = SSLv3\n", "unknown version 'SSLv3'"},
		{"tls_min_version = tlsv1.2\n", "unknown version"},
		{"tls_ciphers =\n", "value is empty"},
		{"tls_handshake_timeout = 0\n", "out of range"},
	};
	struct cfg cfg;
	char err[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
		err[0] = '\0';
		if (load_text(&cfg, cases[i].text, err, sizeof(err)) == 0)
			fail_msg("accepted: %s", cases[i].text);
		if (strstr(err, cases[i].error) == NULL)
			fail_msg("'%s' gave '%s', expected '%s'", cases[i].text,
				 err, cases[i].error);
		cfg_free(&cfg);
	}
}

static void
cfg_tls_full_setup_loads(void **state)
{
	struct cfg cfg;
	char err[512] = "";

	assert_int_equal(load_text(&cfg,
				   "tls_cert_file = /c.pem\n"
				   "tls_key_file = /k.pem\n"
				   "tls_min_version = TLSv1\n"
				   "imaps_listen = 127.0.0.1:993\n"
				   "tls_sni = x.example:/x.pem:/x.key\n"
				   "require_tls_for_auth = no\n",
				   err, sizeof(err)),
			 0);
	assert_string_equal(cfg.tls_cert_file, "/c.pem");
	assert_string_equal(cfg.tls_key_file, "/k.pem");
	assert_string_equal(cfg.tls_min_version, "TLSv1");
	assert_int_equal(cfg.imaps_listen.n, 1);
	assert_int_equal(cfg.tls_sni.n, 1);
	assert_false(cfg.require_tls_for_auth);
	assert_false(cfg.allow_plaintext_auth_on_loopback);
	cfg_free(&cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cfg_valid_file_loads),
		cmocka_unit_test(cfg_bad_lines_name_line),
		cmocka_unit_test(cfg_missing_file_reports_path),
		cmocka_unit_test(cfg_node_name_defaults_to_hostname),
		cmocka_unit_test(cfg_size_and_duration_units),
		cmocka_unit_test(cfg_example_file_matches_defaults),
		cmocka_unit_test(cfg_sni_entries_parse),
		cmocka_unit_test(cfg_sni_bad_entries_rejected),
		cmocka_unit_test(cfg_tls_keys_checked),
		cmocka_unit_test(cfg_tls_full_setup_loads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
