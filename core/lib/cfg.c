#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cfg.h"
#include "delivery/window.h"
#include "fsutil.h"
#include "xalloc.h"

/* T_OPTIONAL is a string that may be empty, stored as NULL then. */
enum cfg_type {
	T_STRING,
	T_OPTIONAL,
	T_LISTEN,
	T_SNI,
	T_UINT,
	T_SIZE,
	T_DURATION,
	T_BOOL
};

/* The TLS versions tls_min_version accepts, oldest first. */
static const char *const tls_versions[] = {"TLSv1", "TLSv1.1", "TLSv1.2",
					   "TLSv1.3"};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	size_t offset;
	unsigned long min;
	unsigned long max;
};

#define F(field) offsetof(struct cfg, field)

static const struct cfg_key cfg_keys[] = {
	{"data_dir", T_STRING, F(data_dir), 0, 0},
	{"run_dir", T_STRING, F(run_dir), 0, 0},
	{"user", T_STRING, F(user), 0, 0},
	{"hostname", T_STRING, F(hostname), 0, 0},
	{"smtp_listen", T_LISTEN, F(smtp_listen), 0, 0},
	{"submission_listen", T_LISTEN, F(submission_listen), 0, 0},
	{"pop3_listen", T_LISTEN, F(pop3_listen), 0, 0},
	{"imap_listen", T_LISTEN, F(imap_listen), 0, 0},
	{"submissions_listen", T_LISTEN, F(submissions_listen), 0, 0},
	{"pop3s_listen", T_LISTEN, F(pop3s_listen), 0, 0},
	{"imaps_listen", T_LISTEN, F(imaps_listen), 0, 0},
	{"tls_cert_file", T_OPTIONAL, F(tls_cert_file), 0, 0},
	{"tls_key_file", T_OPTIONAL, F(tls_key_file), 0, 0},
	{"tls_min_version", T_STRING, F(tls_min_version), 0, 0},
	{"tls_ciphers", T_STRING, F(tls_ciphers), 0, 0},
	{"tls_ciphersuites", T_STRING, F(tls_ciphersuites), 0, 0},
	{"tls_sni", T_SNI, F(tls_sni), 0, 0},
	{"smtp_client_tls", T_STRING, F(smtp_client_tls), 0, 0},
	{"smtp_client_tls_ca_file", T_STRING, F(smtp_client_tls_ca_file), 0,
	 0},
	{"smtp_client_tls_min_version", T_STRING,
	 F(smtp_client_tls_min_version), 0, 0},
	{"tls_handshake_timeout", T_DURATION, F(tls_handshake_timeout), 1,
	 3600},
	{"require_tls_for_auth", T_BOOL, F(require_tls_for_auth), 0, 0},
	{"allow_plaintext_auth_on_loopback", T_BOOL,
	 F(allow_plaintext_auth_on_loopback), 0, 0},
	{"workers", T_UINT, F(workers), 1, 256},
	{"message_size_limit", T_SIZE, F(message_size_limit), 1024,
	 (unsigned long)1 << 32},
	{"recipient_limit", T_UINT, F(recipient_limit), 1, 100000},
	{"smtp_line_limit", T_SIZE, F(smtp_line_limit), 512, 1 << 20},
	{"smtp_hop_limit", T_UINT, F(smtp_hop_limit), 1, 10000},
	{"imap_line_limit", T_SIZE, F(imap_line_limit), 1024, 1 << 24},
	{"imap_literal_limit", T_SIZE, F(imap_literal_limit), 1024,
	 (unsigned long)1 << 32},
	{"imap_cache_size", T_SIZE, F(imap_cache_size), 0,
	 (unsigned long)1 << 32},
	{"smtp_idle_timeout", T_DURATION, F(smtp_idle_timeout), 1, 86400},
	{"pop3_idle_timeout", T_DURATION, F(pop3_idle_timeout), 1, 86400},
	{"imap_idle_timeout", T_DURATION, F(imap_idle_timeout), 1, 86400},
	{"sessions_per_ip", T_UINT, F(sessions_per_ip), 1, 1000000},
	{"max_connections", T_UINT, F(max_connections), 1, 1000000},
	{"smtp_error_limit", T_UINT, F(smtp_error_limit), 1, 1000},
	{"pop3_error_limit", T_UINT, F(pop3_error_limit), 1, 1000},
	{"imap_error_limit", T_UINT, F(imap_error_limit), 1, 1000},
	{"auth_failure_limit", T_UINT, F(auth_failure_limit), 1, 100},
	{"smtp_vrfy", T_BOOL, F(smtp_vrfy), 0, 0},
	{"smtp_auth_on_port25", T_BOOL, F(smtp_auth_on_port25), 0, 0},
	{"sasl_cram_md5", T_BOOL, F(sasl_cram_md5), 0, 0},
	{"pop3_apop", T_BOOL, F(pop3_apop), 0, 0},
	{"site_key_file", T_STRING, F(site_key_file), 0, 0},
	{"auth_failure_delay", T_UINT, F(auth_failure_delay_ms), 0, 60000},
	{"shutdown_timeout", T_DURATION, F(shutdown_timeout), 1, 3600},
	{"queue_retry_min", T_DURATION, F(queue_retry_min), 1, 86400},
	{"queue_retry_max", T_DURATION, F(queue_retry_max), 1, 7 * 86400},
	{"queue_lifetime", T_DURATION, F(queue_lifetime), 60, 60 * 86400},
	{"queue_unreachable_retry_min", T_DURATION,
	 F(queue_unreachable_retry_min), 1, 86400},
	{"queue_unreachable_retry_max", T_DURATION,
	 F(queue_unreachable_retry_max), 1, 7 * 86400},
	{"delay_warning_time", T_DURATION, F(delay_warning_time), 0,
	 60 * 86400},
	{"dns_servers", T_OPTIONAL, F(dns_servers), 0, 0},
	{"smtp_client_port", T_UINT, F(smtp_client_port), 1, 65535},
	{"smtp_client_connect_timeout", T_DURATION,
	 F(smtp_client_connect_timeout), 1, 600},
	{"smtp_client_timeout", T_DURATION, F(smtp_client_timeout), 1, 3600},
	{"smtp_client_concurrency", T_UINT, F(smtp_client_concurrency), 1,
	 1000},
	{"smtp_client_destination_concurrency", T_UINT,
	 F(smtp_client_destination_concurrency), 1, 100},
	{"smtp_client_address_limit", T_UINT, F(smtp_client_address_limit),
	 1, 1000},
	{"smtp_client_recipients", T_UINT, F(smtp_client_recipients), 1,
	 1000},
	{"gateway_table", T_OPTIONAL, F(gateway_table), 0, 0},
	{"delivery_window", T_OPTIONAL, F(delivery_window), 0, 0},
	{"storage_mode", T_STRING, F(storage_mode), 0, 0},
	{"replication_listen", T_LISTEN, F(replication_listen), 0, 0},
	{"replication_peer", T_OPTIONAL, F(replication_peer), 0, 0},
	{"replication_key_file", T_OPTIONAL, F(replication_key_file), 0, 0},
	{"replication_timeout", T_DURATION, F(replication_timeout), 1, 600},
	{"replication_require_peer", T_BOOL, F(replication_require_peer), 0,
	 0},
	{"node_name", T_STRING, F(node_name), 0, 0},
	{"cluster_group", T_STRING, F(cluster_group), 0, 0},
	{"cluster_heartbeat_interval", T_DURATION,
	 F(cluster_heartbeat_interval), 1, 60},
	{"cluster_probe_interval", T_DURATION, F(cluster_probe_interval), 1,
	 3600},
	{"log_debug", T_BOOL, F(log_debug), 0, 0},
};

size_t
cfg_key_count(void)
{
	return sizeof(cfg_keys) / sizeof(cfg_keys[0]);
}

const char *
cfg_key_name(size_t i)
{
	return i < cfg_key_count() ? cfg_keys[i].name : NULL;
}

/* A host name goes into greetings and headers: LDH labels only. */
static bool
hostname_valid(const char *name)
{
	size_t len = strlen(name), label = 0;

	if (len == 0 || len > 253 || name[0] == '.' || name[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];

		if (ch == '.') {
			if (label == 0 || name[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)ch) && ch != '-')
			return false;
		if (++label > 63)
			return false;
	}
	return name[len - 1] != '-';
}

static void
listen_list_free(struct listen_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].text);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void
cfg_free(struct cfg *cfg)
{
	free(cfg->path);
	free(cfg->data_dir);
	free(cfg->run_dir);
	free(cfg->user);
	free(cfg->hostname);
	free(cfg->node_name);
	free(cfg->cluster_group);
	free(cfg->tls_cert_file);
	free(cfg->tls_key_file);
	free(cfg->tls_min_version);
	free(cfg->tls_ciphers);
	free(cfg->tls_ciphersuites);
	free(cfg->smtp_client_tls);
	free(cfg->smtp_client_tls_ca_file);
	free(cfg->smtp_client_tls_min_version);
	free(cfg->site_key_file);
	free(cfg->dns_servers);
	free(cfg->gateway_table);
	free(cfg->delivery_window);
	free(cfg->storage_mode);
	free(cfg->replication_peer);
	free(cfg->replication_key_file);
	listen_list_free(&cfg->replication_listen);
	cfg_sni_list_free(&cfg->tls_sni);
	listen_list_free(&cfg->smtp_listen);
	listen_list_free(&cfg->submission_listen);
	listen_list_free(&cfg->pop3_listen);
	listen_list_free(&cfg->imap_listen);
	listen_list_free(&cfg->submissions_listen);
	listen_list_free(&cfg->pop3s_listen);
	listen_list_free(&cfg->imaps_listen);
	memset(cfg, 0, sizeof(*cfg));
}

void
cfg_defaults(struct cfg *cfg)
{
	char err[128];

	memset(cfg, 0, sizeof(*cfg));
	cfg_set(cfg, "data_dir", "/srv/hapost", err, sizeof(err));
	cfg_set(cfg, "run_dir", "/run/hapost", err, sizeof(err));
	cfg_set(cfg, "user", "hapost", err, sizeof(err));
	cfg_set(cfg, "hostname", "localhost", err, sizeof(err));
	cfg_set(cfg, "smtp_listen", "0.0.0.0:25", err, sizeof(err));
	cfg_set(cfg, "submission_listen", "0.0.0.0:587", err, sizeof(err));
	cfg_set(cfg, "pop3_listen", "0.0.0.0:110", err, sizeof(err));
	cfg_set(cfg, "imap_listen", "0.0.0.0:143", err, sizeof(err));
	cfg->workers = 2;
	cfg->message_size_limit = 25 << 20;
	cfg->recipient_limit = 100;
	cfg->smtp_line_limit = 4096;
	cfg->smtp_hop_limit = 100;
	cfg->imap_line_limit = 65536;
	cfg->imap_literal_limit = 25 << 20;
	cfg->imap_cache_size = 16 << 20;
	cfg->smtp_idle_timeout = 300;
	cfg->pop3_idle_timeout = 600;
	cfg->imap_idle_timeout = 1800;
	cfg->sessions_per_ip = 50;
	cfg->max_connections = 20000;
	cfg->smtp_error_limit = 20;
	cfg->pop3_error_limit = 10;
	cfg->imap_error_limit = 10;
	cfg->auth_failure_limit = 3;
	cfg->smtp_vrfy = false;
	cfg->smtp_auth_on_port25 = false;
	cfg->sasl_cram_md5 = false;
	cfg->pop3_apop = false;
	cfg_set(cfg, "site_key_file", SYSCONFDIR "/hapost/site.key", err,
		sizeof(err));
	cfg->auth_failure_delay_ms = 2000;
	cfg->shutdown_timeout = 10;
	cfg->queue_retry_min = 300;
	cfg->queue_retry_max = 4 * 3600;
	cfg->queue_lifetime = 5 * 86400;
	cfg->queue_unreachable_retry_min = 900;
	cfg->queue_unreachable_retry_max = 4 * 3600;
	cfg->delay_warning_time = 4 * 3600;
	cfg->smtp_client_port = 25;
	cfg->smtp_client_connect_timeout = 30;
	cfg->smtp_client_timeout = 300;
	cfg->smtp_client_concurrency = 20;
	cfg->smtp_client_destination_concurrency = 5;
	cfg->smtp_client_recipients = 50;
	cfg->smtp_client_address_limit = 10;
	cfg_set(cfg, "storage_mode", "shared", err, sizeof(err));
	cfg->replication_timeout = 5;
	cfg->replication_require_peer = false;
	cfg_set(cfg, "node_name", "", err, sizeof(err));
	cfg_set(cfg, "cluster_group", "hapost", err, sizeof(err));
	cfg->cluster_heartbeat_interval = 1;
	cfg->cluster_probe_interval = 5;
	cfg->log_debug = false;
	cfg_set(cfg, "tls_min_version", "TLSv1.2", err, sizeof(err));
	cfg_set(cfg, "smtp_client_tls", "may", err, sizeof(err));
	cfg_set(cfg, "smtp_client_tls_ca_file",
		"/etc/ssl/certs/ca-certificates.crt", err, sizeof(err));
	cfg_set(cfg, "smtp_client_tls_min_version", "TLSv1.2", err,
		sizeof(err));
	cfg_set(cfg, "tls_ciphers", CFG_TLS_CIPHERS, err, sizeof(err));
	cfg_set(cfg, "tls_ciphersuites", CFG_TLS_CIPHERSUITES, err,
		sizeof(err));
	cfg->tls_handshake_timeout = 30;
	cfg->require_tls_for_auth = true;
	cfg->allow_plaintext_auth_on_loopback = false;
}

int
cfg_parse_size(const char *text, size_t *out)
{
	char *end;
	unsigned long long v, mult = 1;

	if (!isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mult = 1024ULL;
		end++;
		break;
	case 'M':
		mult = 1024ULL * 1024;
		end++;
		break;
	case 'G':
		mult = 1024ULL * 1024 * 1024;
		end++;
		break;
	default:
		return -1;
	}
	if (*end != '\0' || v > SIZE_MAX / mult)
		return -1;
	*out = (size_t)(v * mult);
	return 0;
}

int
cfg_parse_duration(const char *text, unsigned *out)
{
	char *end;
	unsigned long long v, mult = 1;

	if (!isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	v = strtoull(text, &end, 10);
	if (errno != 0)
		return -1;
	switch (*end) {
	case '\0':
		break;
	case 's':
		end++;
		break;
	case 'm':
		mult = 60;
		end++;
		break;
	case 'h':
		mult = 3600;
		end++;
		break;
	case 'd':
		mult = 86400;
		end++;
		break;
	default:
		return -1;
	}
	if (*end != '\0' || v > UINT_MAX / mult)
		return -1;
	*out = (unsigned)(v * mult);
	return 0;
}

int
cfg_parse_addr(const char *text, struct listen_addr *out, char *err,
	       size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *port_text;
	char *end;
	unsigned long port;
	size_t hlen;

	memset(out, 0, sizeof(*out));
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (close == NULL || close[1] != ':') {
			snprintf(err, errlen,
				 "invalid address '%s': expected [IPv6]:port",
				 text);
			return -1;
		}
		hlen = (size_t)(close - text - 1);
		if (hlen >= sizeof(host))
			goto bad_host;
		memcpy(host, text + 1, hlen);
		host[hlen] = '\0';
		port_text = close + 2;
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL) {
			snprintf(err, errlen,
				 "invalid address '%s': expected address:port",
				 text);
			return -1;
		}
		hlen = (size_t)(colon - text);
		if (hlen >= sizeof(host))
			goto bad_host;
		memcpy(host, text, hlen);
		host[hlen] = '\0';
		port_text = colon + 1;
	}
	errno = 0;
	port = strtoul(port_text, &end, 10);
	if (!isdigit((unsigned char)port_text[0]) || *end != '\0' ||
	    errno != 0 || port == 0 || port > 65535) {
		snprintf(err, errlen, "invalid port in '%s': expected 1-65535",
			 text);
		return -1;
	}
	if (text[0] == '[') {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			goto bad_host;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		out->sslen = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			goto bad_host;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		out->sslen = sizeof(*sin);
	}
	out->text = xstrdup(text);
	return 0;
bad_host:
	snprintf(err, errlen, "invalid IP address in '%s'", text);
	return -1;
}

static int
parse_listen(const char *value, struct listen_list *out, char *err,
	     size_t errlen)
{
	struct listen_list l = {NULL, 0};
	char *copy = xstrdup(value), *save = NULL, *tok;

	for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
	     tok = strtok_r(NULL, ", \t", &save)) {
		l.v = xrealloc(l.v, (l.n + 1) * sizeof(*l.v));
		if (cfg_parse_addr(tok, &l.v[l.n], err, errlen) < 0) {
			listen_list_free(&l);
			free(copy);
			return -1;
		}
		l.n++;
	}
	free(copy);
	listen_list_free(out);
	*out = l;
	return 0;
}

void
cfg_sni_list_free(struct tls_sni_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].host);
		free(l->v[i].cert_file);
		free(l->v[i].key_file);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Accepts "name.example" or "*.name.example" in letters, digits, '-'. */
static bool
sni_host_valid(const char *host)
{
	size_t len;

	if (strncmp(host, "*.", 2) == 0)
		host += 2;
	len = strlen(host);
	if (len == 0 || len > 253 || host[0] == '.' || host[len - 1] == '.' ||
	    strstr(host, "..") != NULL)
		return false;
	return strspn(host, "abcdefghijklmnopqrstuvwxyz"
			    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == len;
}

int
cfg_parse_sni(const char *text, struct tls_sni_list *out, char *err,
	      size_t errlen)
{
	struct tls_sni_list l = {NULL, 0};
	char *copy = xstrdup(text), *save = NULL, *tok;

	for (tok = strtok_r(copy, ", \t", &save); tok != NULL;
	     tok = strtok_r(NULL, ", \t", &save)) {
		char *cert = strchr(tok, ':'), *key;

		key = cert != NULL ? strchr(cert + 1, ':') : NULL;
		if (key == NULL || strchr(key + 1, ':') != NULL ||
		    cert == tok || key == cert + 1 || key[1] == '\0') {
			snprintf(err, errlen,
				 "invalid entry '%s': expected "
				 "hostname:certfile:keyfile",
				 tok);
			goto fail;
		}
		*cert++ = '\0';
		*key++ = '\0';
		if (!sni_host_valid(tok)) {
			snprintf(err, errlen,
				 "invalid host name '%s': expected a DNS "
				 "name, optionally starting with '*.'",
				 tok);
			goto fail;
		}
		l.v = xrealloc(l.v, (l.n + 1) * sizeof(*l.v));
		l.v[l.n].host = xstrdup(tok);
		l.v[l.n].cert_file = xstrdup(cert);
		l.v[l.n].key_file = xstrdup(key);
		l.n++;
	}
	free(copy);
	cfg_sni_list_free(out);
	*out = l;
	return 0;
fail:
	free(copy);
	cfg_sni_list_free(&l);
	return -1;
}

static bool
tls_version_valid(const char *v)
{
	for (size_t i = 0; i < sizeof(tls_versions) / sizeof(*tls_versions);
	     i++)
		if (strcmp(v, tls_versions[i]) == 0)
			return true;
	return false;
}

static int
parse_bool(const char *v, bool *out)
{
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "on") == 0 || strcmp(v, "1") == 0)
		*out = true;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
		 strcmp(v, "off") == 0 || strcmp(v, "0") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

/*
 * Sets node_name to value, or to the kernel's host name when value is
 * empty. The name travels in heartbeats, so it is restricted to letters,
 * digits, '.', '-' and '_'.
 */
static int
set_node_name(struct cfg *cfg, const char *value, char *err, size_t errlen)
{
	char host[NODE_NAME_MAX + 2];
	size_t len;

	if (value[0] == '\0') {
		if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		host[NODE_NAME_MAX] = '\0';
		for (char *p = host; *p != '\0'; p++)
			if (!isalnum((unsigned char)*p) && *p != '.' &&
			    *p != '-')
				*p = '_';
		value = host;
	}
	len = strlen(value);
	if (len > NODE_NAME_MAX ||
	    strspn(value, "abcdefghijklmnopqrstuvwxyz"
			  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != len) {
		snprintf(err, errlen,
			 "node_name: '%s' is invalid: use up to %d letters, "
			 "digits, '.', '-' or '_'",
			 value, NODE_NAME_MAX);
		return -1;
	}
	free(cfg->node_name);
	cfg->node_name = xstrdup(value);
	return 0;
}

int
cfg_set(struct cfg *cfg, const char *key, const char *value, char *err,
	size_t errlen)
{
	const struct cfg_key *k = NULL;
	char *field;
	size_t size;
	unsigned dur;

	for (size_t i = 0; i < sizeof(cfg_keys) / sizeof(cfg_keys[0]); i++)
		if (strcmp(cfg_keys[i].name, key) == 0)
			k = &cfg_keys[i];
	if (k == NULL) {
		snprintf(err, errlen, "unknown key '%s'", key);
		return -1;
	}
	field = (char *)cfg + k->offset;
	switch (k->type) {
	case T_OPTIONAL:
		if (strcmp(key, "delivery_window") == 0) {
			struct delivery_window *w;
			size_t prefix_len;

			snprintf(err, errlen, "%s: ", key);
			prefix_len = strlen(err);
			if (delivery_window_parse(value, &w, err + prefix_len,
						  errlen - prefix_len) < 0)
				return -1;
			delivery_window_free(w);
		}
		free(*(char **)field);
		*(char **)field = value[0] != '\0' ? xstrdup(value) : NULL;
		return 0;
	case T_SNI:
		if (cfg_parse_sni(value, (struct tls_sni_list *)field, err,
				  errlen) < 0) {
			size_t l = strlen(err);

			snprintf(err + l, errlen - l, " in %s", key);
			return -1;
		}
		return 0;
	case T_STRING:
		if (strcmp(key, "node_name") == 0)
			return set_node_name(cfg, value, err, errlen);
		if (strcmp(key, "cluster_group") == 0 &&
		    strlen(value) > CLUSTER_GROUP_MAX) {
			snprintf(err, errlen,
				 "cluster_group: longer than %d bytes",
				 CLUSTER_GROUP_MAX);
			return -1;
		}
		if (value[0] == '\0') {
			snprintf(err, errlen, "%s: value is empty", key);
			return -1;
		}
		if ((strcmp(key, "tls_min_version") == 0 ||
		     strcmp(key, "smtp_client_tls_min_version") == 0) &&
		    !tls_version_valid(value)) {
			snprintf(err, errlen,
				 "%s: unknown version '%s': use "
				 "TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3",
				 key, value);
			return -1;
		}
		if (strcmp(key, "hostname") == 0 && !hostname_valid(value)) {
			snprintf(err, errlen,
				 "hostname: invalid host name: use letters, "
				 "digits, '-' and '.', at most 253 characters");
			return -1;
		}
		if (strcmp(key, "smtp_client_tls") == 0 &&
		    strcmp(value, "none") != 0 && strcmp(value, "may") != 0 &&
		    strcmp(value, "encrypt") != 0 &&
		    strcmp(value, "verify") != 0) {
			snprintf(err, errlen,
				 "smtp_client_tls: unknown policy '%s': use "
				 "none, may, encrypt or verify",
				 value);
			return -1;
		}
		if (strcmp(key, "storage_mode") == 0 &&
		    strcmp(value, "shared") != 0 &&
		    strcmp(value, "replicated") != 0) {
			snprintf(err, errlen,
				 "storage_mode: unknown mode '%s': use shared "
				 "or replicated",
				 value);
			return -1;
		}
		if (strcmp(key, "smtp_client_tls_ca_file") == 0 &&
		    value[0] != '/') {
			snprintf(err, errlen,
				 "%s: '%s' is not an absolute path", key,
				 value);
			return -1;
		}
		if ((strcmp(key, "data_dir") == 0 ||
		     strcmp(key, "run_dir") == 0) &&
		    value[0] != '/') {
			snprintf(err, errlen,
				 "%s: '%s' is not an absolute path", key,
				 value);
			return -1;
		}
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	case T_LISTEN:
		if (parse_listen(value, (struct listen_list *)field, err,
				 errlen) < 0) {
			size_t l = strlen(err);

			snprintf(err + l, errlen - l, " in %s", key);
			return -1;
		}
		return 0;
	case T_BOOL:
		if (parse_bool(value, (bool *)field) < 0) {
			snprintf(err, errlen,
				 "%s: invalid boolean '%s': use yes or no",
				 key, value);
			return -1;
		}
		return 0;
	case T_UINT:
	case T_DURATION:
		if (k->type == T_UINT) {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(value, &end, 10);
			if (!isdigit((unsigned char)value[0]) ||
			    *end != '\0' || errno != 0 || v > UINT_MAX) {
				snprintf(err, errlen,
					 "%s: invalid number '%s'", key,
					 value);
				return -1;
			}
			dur = (unsigned)v;
		} else if (cfg_parse_duration(value, &dur) < 0) {
			snprintf(err, errlen,
				 "%s: invalid duration '%s': use a number "
				 "with s, m, h or d",
				 key, value);
			return -1;
		}
		if (dur < k->min || dur > k->max) {
			snprintf(err, errlen, "%s: %s is out of range %lu-%lu",
				 key, value, k->min, k->max);
			return -1;
		}
		*(unsigned *)field = dur;
		return 0;
	case T_SIZE:
		if (cfg_parse_size(value, &size) < 0) {
			snprintf(err, errlen,
				 "%s: invalid size '%s': use a number with "
				 "k, M or G",
				 key, value);
			return -1;
		}
		if (size < k->min || size > k->max) {
			snprintf(err, errlen,
				 "%s: %s is out of range %lu-%lu bytes", key,
				 value, k->min, k->max);
			return -1;
		}
		*(size_t *)field = size;
		return 0;
	}
	return -1;
}

static char *
trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static void
strip_comment(char *line)
{
	for (char *p = line; *p != '\0'; p++) {
		if (*p == '#' &&
		    (p == line || isspace((unsigned char)p[-1]))) {
			*p = '\0';
			return;
		}
	}
}

/* Checks the TLS keys against each other and the implicit-TLS listeners. */
static int
check_tls(const struct cfg *cfg, char *err, size_t errlen)
{
	const struct {
		const char *key;
		const struct listen_list *l;
	} implicit[] = {
		{"submissions_listen", &cfg->submissions_listen},
		{"pop3s_listen", &cfg->pop3s_listen},
		{"imaps_listen", &cfg->imaps_listen},
	};

	if ((cfg->tls_cert_file == NULL) != (cfg->tls_key_file == NULL)) {
		snprintf(err, errlen,
			 "tls_cert_file and tls_key_file must be set "
			 "together");
		return -1;
	}
	if (cfg->tls_cert_file != NULL)
		return 0;
	for (size_t i = 0; i < sizeof(implicit) / sizeof(*implicit); i++) {
		if (implicit[i].l->n == 0)
			continue;
		snprintf(err, errlen,
			 "%s needs a certificate: set tls_cert_file and "
			 "tls_key_file, or leave %s empty",
			 implicit[i].key, implicit[i].key);
		return -1;
	}
	if (cfg->tls_sni.n > 0) {
		snprintf(err, errlen,
			 "tls_sni needs a default certificate: set "
			 "tls_cert_file and tls_key_file");
		return -1;
	}
	return 0;
}

/* Replicated storage needs a listener, the peer and the shared key. */
static int
check_replication(const struct cfg *cfg, char *err, size_t errlen)
{
	struct listen_addr peer;
	char reason[200];

	if (cfg->replication_peer != NULL) {
		if (cfg_parse_addr(cfg->replication_peer, &peer, reason,
				   sizeof(reason)) < 0) {
			snprintf(err, errlen, "replication_peer: %s", reason);
			return -1;
		}
		free(peer.text);
	}
	if (cfg->replication_key_file != NULL &&
	    cfg->replication_key_file[0] != '/') {
		snprintf(err, errlen,
			 "replication_key_file: '%s' is not an absolute path",
			 cfg->replication_key_file);
		return -1;
	}
	if (strcmp(cfg->storage_mode, "replicated") != 0)
		return 0;
	if (cfg->replication_listen.n != 1) {
		snprintf(err, errlen,
			 "storage_mode = replicated needs exactly one "
			 "replication_listen address");
		return -1;
	}
	if (cfg->replication_peer == NULL ||
	    cfg->replication_key_file == NULL) {
		snprintf(err, errlen,
			 "storage_mode = replicated needs replication_peer "
			 "and replication_key_file");
		return -1;
	}
	return 0;
}

int
cfg_load(struct cfg *cfg, const char *path, char *err, size_t errlen)
{
	struct buf text = BUF_INIT;
	char seen[sizeof(cfg_keys) / sizeof(cfg_keys[0])] = {0};
	char *line, reason[256];
	unsigned lineno = 0;
	int ret = -1;

	if (read_file(path, &text, 1 << 20) < 0) {
		snprintf(err, errlen, "%s: cannot read: %s", path,
			 strerror(errno));
		goto out;
	}
	buf_cstr(&text);
	if (memchr(text.data, '\0', text.len) != NULL) {
		snprintf(err, errlen, "%s: contains a NUL byte", path);
		goto out;
	}
	line = text.data;
	while (line != NULL) {
		char *next = strchr(line, '\n'), *eq, *key, *value;

		if (next != NULL)
			*next++ = '\0';
		lineno++;
		strip_comment(line);
		key = trim(line);
		if (*key == '\0') {
			line = next;
			continue;
		}
		eq = strchr(key, '=');
		if (eq == NULL) {
			snprintf(err, errlen, "%s:%u: expected 'key = value'",
				 path, lineno);
			goto out;
		}
		*eq = '\0';
		value = trim(eq + 1);
		key = trim(key);
		for (size_t i = 0; i < sizeof(seen); i++) {
			if (strcmp(cfg_keys[i].name, key) != 0)
				continue;
			if (seen[i]) {
				snprintf(err, errlen,
					 "%s:%u: key '%s' is set twice", path,
					 lineno, key);
				goto out;
			}
			seen[i] = 1;
		}
		if (cfg_set(cfg, key, value, reason, sizeof(reason)) < 0) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno,
				 reason);
			goto out;
		}
		line = next;
	}
	if (cfg->queue_retry_min > cfg->queue_retry_max) {
		snprintf(err, errlen,
			 "%s: queue_retry_min is larger than queue_retry_max",
			 path);
		goto out;
	}
	if (cfg->queue_unreachable_retry_min >
	    cfg->queue_unreachable_retry_max) {
		snprintf(err, errlen,
			 "%s: queue_unreachable_retry_min is larger than "
			 "queue_unreachable_retry_max",
			 path);
		goto out;
	}
	if (check_replication(cfg, reason, sizeof(reason)) < 0) {
		snprintf(err, errlen, "%s: %s", path, reason);
		goto out;
	}
	if (check_tls(cfg, reason, sizeof(reason)) < 0) {
		snprintf(err, errlen, "%s: %s", path, reason);
		goto out;
	}
	free(cfg->path);
	cfg->path = xstrdup(path);
	ret = 0;
out:
	buf_free(&text);
	return ret;
}
