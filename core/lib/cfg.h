/*
 * cfg - the hapost.conf file
 *
 * Format: one "key = value" per line; '#' starts a comment at the start
 * of a line or after whitespace; blank lines are ignored. Lists (the
 * *_listen keys) take addresses separated by commas or spaces, each
 * "address:port" or "[IPv6]:port"; an empty value disables the listener.
 * Sizes take a k, M or G suffix (powers of 1024), durations s, m, h or d.
 * An unknown key, a repeated key or a bad value fails the whole load with
 * "FILE:LINE: reason", so a typo never runs with a silent default.
 */
#ifndef HAPOST_CFG_H
#define HAPOST_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct listen_addr {
	char *text; /* as written, for logs */
	struct sockaddr_storage ss;
	socklen_t sslen;
};

struct listen_list {
	struct listen_addr *v;
	size_t n;
};

/* One tls_sni entry: the certificate served for a TLS SNI host name. */
struct tls_sni_entry {
	char *host; /* "mail.example.org", or "*.example.org" */
	char *cert_file;
	char *key_file;
};

struct tls_sni_list {
	struct tls_sni_entry *v;
	size_t n;
};

struct cfg {
	char *path;
	char *data_dir;
	char *run_dir;
	char *user;
	char *hostname;
	struct listen_list smtp_listen;
	struct listen_list submission_listen;
	struct listen_list pop3_listen;
	struct listen_list imap_listen;
	/* Implicit TLS (RFC 8314): the handshake comes before the greeting. */
	struct listen_list submissions_listen;
	struct listen_list pop3s_listen;
	struct listen_list imaps_listen;
	char *tls_cert_file; /* NULL: no TLS at all */
	char *tls_key_file;
	char *tls_min_version;	/* "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3" */
	char *tls_ciphers;	/* OpenSSL cipher list for TLS 1.2 and older */
	char *tls_ciphersuites; /* TLS 1.3 cipher suites */
	/* Outbound SMTP (the client side): "none", "may", "encrypt" or
	 * "verify"; the CA bundle for "verify"; the oldest version. */
	char *smtp_client_tls;
	char *smtp_client_tls_ca_file;
	char *smtp_client_tls_min_version;
	struct tls_sni_list tls_sni;
	unsigned tls_handshake_timeout; /* seconds */
	bool require_tls_for_auth;
	bool allow_plaintext_auth_on_loopback;
	unsigned workers;
	size_t message_size_limit;
	unsigned recipient_limit;
	size_t smtp_line_limit;
	unsigned smtp_hop_limit; /* Received: fields that mark a mail loop */
	size_t imap_line_limit;
	size_t imap_literal_limit;
	size_t imap_cache_size; /* bytes of ENVELOPE/BODYSTRUCTURE cache */
	unsigned smtp_idle_timeout; /* seconds */
	unsigned pop3_idle_timeout;
	unsigned imap_idle_timeout;
	unsigned sessions_per_ip;
	unsigned max_connections; /* per worker */
	unsigned smtp_error_limit;
	unsigned pop3_error_limit;
	unsigned imap_error_limit;
	unsigned auth_failure_limit; /* failed logins per session */
	bool smtp_vrfy;
	bool smtp_auth_on_port25; /* offer AUTH on smtp_listen too */
	bool sasl_cram_md5;	  /* offer the CRAM-MD5 mechanism */
	bool pop3_apop;		  /* offer APOP in the POP3 greeting */
	char *site_key_file;	  /* the key that seals APOP secrets */
	unsigned auth_failure_delay_ms;
	unsigned shutdown_timeout;
	unsigned queue_retry_min; /* seconds */
	unsigned queue_retry_max;
	unsigned queue_lifetime;
	/* Retries after no answer at all (connect failure, timeout). */
	unsigned queue_unreachable_retry_min;
	unsigned queue_unreachable_retry_max;
	unsigned delay_warning_time; /* 0: no delay warnings */
	/* Outbound SMTP: DNS, next hops, limits. */
	char *dns_servers;   /* NULL: the servers of /etc/resolv.conf */
	unsigned smtp_client_port;
	unsigned smtp_client_connect_timeout;
	unsigned smtp_client_timeout;
	unsigned smtp_client_concurrency;
	unsigned smtp_client_destination_concurrency;
	unsigned smtp_client_recipients; /* per transaction */
	unsigned smtp_client_address_limit; /* connections per round */
	char *gateway_table;		 /* NULL: no gateway routes */
	char *delivery_window;		 /* NULL: deliver at any time */
	/* Storage: "shared" or "replicated", and the replication link. */
	char *storage_mode;
	struct listen_list replication_listen;
	char *replication_peer; /* "address:port" of the peer's listener */
	char *replication_key_file;
	unsigned replication_timeout;
	bool replication_require_peer;
	char *node_name;     /* this node in heartbeats and status */
	char *cluster_group; /* the Corosync CPG group of the pair */
	unsigned cluster_heartbeat_interval; /* seconds */
	unsigned cluster_probe_interval;     /* seconds */
	bool log_debug;
};

/* Fills cfg with the documented defaults. */
void cfg_defaults(struct cfg *cfg);
/*
 * Loads path over the defaults. Returns 0, or -1 with "FILE:LINE: reason"
 * (or "FILE: reason") in err.
 */
int cfg_load(struct cfg *cfg, const char *path, char *err, size_t errlen);
/* Parses one "key = value" line (no comment, no newline) into cfg. */
int cfg_set(struct cfg *cfg, const char *key, const char *value, char *err,
	    size_t errlen);
void cfg_free(struct cfg *cfg);

/* Parses "addr:port" or "[v6]:port" into out; port 1-65535. */
int cfg_parse_addr(const char *text, struct listen_addr *out, char *err,
		   size_t errlen);
/* Parses "10", "64k", "10M", "1G" into bytes. */
int cfg_parse_size(const char *text, size_t *out);
/*
 * Parses a tls_sni value: entries "host:certfile:keyfile" separated by
 * commas or whitespace. Replaces *out on success.
 */
int cfg_parse_sni(const char *text, struct tls_sni_list *out, char *err,
		  size_t errlen);
void cfg_sni_list_free(struct tls_sni_list *l);
/* Parses "30", "30s", "5m", "2h", "5d" into seconds. */
int cfg_parse_duration(const char *text, unsigned *out);

/* The names of all keys, for listings and tests. */
size_t cfg_key_count(void);
const char *cfg_key_name(size_t i);

/* Maximum lengths of node_name and cluster_group (CPG allows 127). */
#define NODE_NAME_MAX 64
#define CLUSTER_GROUP_MAX 127

/* Default TLS 1.2 ciphers: ECDHE with AES-GCM or ChaCha20-Poly1305. */
#define CFG_TLS_CIPHERS                                                        \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define CFG_TLS_CIPHERSUITES                                                   \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"                       \
	"TLS_CHACHA20_POLY1305_SHA256"

/* The file read when no -c is given. */
#define CFG_DEFAULT_PATH SYSCONFDIR "/hapost/hapost.conf"

#endif
