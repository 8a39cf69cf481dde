/*
 * dns - asynchronous DNS lookups with c-ares on a libev loop
 *
 * One resolver per process and loop. A lookup calls its callback exactly
 * once, from the loop, unless it is cancelled first; the callback owns
 * the result and frees it with dns_result_free().
 *
 * dns_lookup_mx() follows RFC 5321 section 5.1: the MX records of the
 * domain, lowest preference first (equal preferences in random order),
 * each host resolved to its A and AAAA addresses; a domain without MX
 * records but with an address is its own single host (implicit MX); a
 * null MX (RFC 7505: one record with the host ".") is a permanent
 * failure. dns_lookup_host() resolves one host name (a fixed next hop)
 * to A and AAAA; an IP address literal is answered without a query.
 *
 * servers, when not NULL, lists the resolvers as "address" or
 * "address:port" (IPv6 as "[address]:port"), separated by commas;
 * otherwise c-ares reads /etc/resolv.conf.
 */
#ifndef HAPOST_DNS_H
#define HAPOST_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct ev_loop;
struct dns_resolver;
struct dns_query;

enum dns_status {
	DNS_OK,
	DNS_NOT_FOUND, /* the domain or host does not exist: permanent */
	DNS_NO_ADDRESS, /* it exists but has no MX and no A/AAAA: permanent */
	DNS_NULL_MX,	/* the domain accepts no mail (RFC 7505): permanent */
	DNS_TEMPFAIL,	/* timeout, SERVFAIL, refused: try again later */
};

struct dns_host {
	char *name;	     /* the MX host name, or the domain or host */
	unsigned preference; /* 0 for implicit MX and dns_lookup_host */
	struct sockaddr_storage *addrs; /* IPv6 and IPv4, port 0 */
	size_t naddrs;
	enum dns_status status; /* of this host's address lookup */
};

struct dns_result {
	enum dns_status status; /* DNS_OK when at least one host has addrs */
	char error[256];	/* for the log when status is not DNS_OK */
	bool implicit_mx;	/* no MX records: the domain itself */
	struct dns_host *hosts; /* in the order to try */
	size_t nhosts;
};

typedef void dns_cb(void *arg, struct dns_result *res);

struct dns_resolver *dns_resolver_new(struct ev_loop *loop,
				      const char *servers, char *err,
				      size_t errlen);
/* Cancels every pending lookup (no callbacks) and frees r. */
void dns_resolver_free(struct dns_resolver *r);

struct dns_query *dns_lookup_mx(struct dns_resolver *r, const char *domain,
				dns_cb *cb, void *arg);
struct dns_query *dns_lookup_host(struct dns_resolver *r, const char *host,
				  dns_cb *cb, void *arg);
/* Stops a pending lookup; its callback is not called. */
void dns_cancel(struct dns_query *q);
void dns_result_free(struct dns_result *res);

/* "DNS_OK", ... as short words for logs: "ok", "not found", ... */
const char *dns_status_name(enum dns_status status);

#endif
