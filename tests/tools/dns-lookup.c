/*
 * dns-lookup - prints what dns_lookup_mx() or dns_lookup_host() returns
 *
 * usage: dns-lookup [--servers LIST] [--cancel | --free] mx|host NAME...
 *
 * Starts one lookup per NAME at once on one resolver, waits for all of
 * them and prints each result in argument order as stable text for the
 * protocol tests:
 *
 *   lookup mx example.test
 *   status ok
 *   implicit_mx no
 *   host mx1.example.test preference 10 status ok
 *   address 192.0.2.1
 *   error ...            (only when the status is not ok)
 *
 * --cancel cancels every lookup right after starting it, and --free
 * frees the resolver with the lookups pending. Either way no callback may
 * run and the loop must end; the program then prints "no callbacks".
 */
#include "config.h"

#include <arpa/inet.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns.h"

struct lookup {
	const char *name;
	struct dns_result *res;
	bool done;
};

static unsigned callbacks;

static void
lookup_done(void *arg, struct dns_result *res)
{
	struct lookup *l = arg;

	l->res = res;
	l->done = true;
	callbacks++;
}

static void
print_address(const struct sockaddr_storage *ss)
{
	char text[INET6_ADDRSTRLEN];
	const void *addr;

	if (ss->ss_family == AF_INET)
		addr = &((const struct sockaddr_in *)ss)->sin_addr;
	else
		addr = &((const struct sockaddr_in6 *)ss)->sin6_addr;
	if (inet_ntop(ss->ss_family, addr, text, sizeof(text)) == NULL)
		snprintf(text, sizeof(text), "family %d", ss->ss_family);
	printf("address %s\n", text);
}

static void
print_result(const char *kind, const struct lookup *l)
{
	const struct dns_result *res = l->res;

	printf("lookup %s %s\n", kind, l->name);
	printf("status %s\n", dns_status_name(res->status));
	printf("implicit_mx %s\n", res->implicit_mx ? "yes" : "no");
	for (size_t i = 0; i < res->nhosts; i++) {
		const struct dns_host *h = &res->hosts[i];

		printf("host %s preference %u status %s\n", h->name,
		       h->preference, dns_status_name(h->status));
		for (size_t j = 0; j < h->naddrs; j++)
			print_address(&h->addrs[j]);
	}
	if (res->status != DNS_OK)
		printf("error %s\n", res->error);
}

static void
usage(void)
{
	fprintf(stderr, "usage: dns-lookup [--servers LIST] [--cancel | "
			"--free] mx|host NAME...\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct ev_loop *loop = ev_default_loop(0);
	const char *servers = NULL, *kind;
	bool cancel = false, free_early = false;
	struct dns_resolver *r;
	struct dns_query **queries;
	struct lookup *lookups;
	char err[512];
	int i = 1, n;

	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if (strcmp(argv[i], "--servers") == 0 && i + 1 < argc)
			servers = argv[++i];
		else if (strcmp(argv[i], "--cancel") == 0)
			cancel = true;
		else if (strcmp(argv[i], "--free") == 0)
			free_early = true;
		else
			usage();
	}
	if (argc - i < 2)
		usage();
	kind = argv[i++];
	if (strcmp(kind, "mx") != 0 && strcmp(kind, "host") != 0)
		usage();
	n = argc - i;

	r = dns_resolver_new(loop, servers, err, sizeof(err));
	if (r == NULL) {
		fprintf(stderr, "dns-lookup: %s\n", err);
		return 1;
	}
	lookups = calloc((size_t)n, sizeof(*lookups));
	queries = calloc((size_t)n, sizeof(*queries));
	if (lookups == NULL || queries == NULL)
		return 1;
	for (int k = 0; k < n; k++) {
		lookups[k].name = argv[i + k];
		if (strcmp(kind, "mx") == 0)
			queries[k] = dns_lookup_mx(r, lookups[k].name,
						   lookup_done, &lookups[k]);
		else
			queries[k] = dns_lookup_host(r, lookups[k].name,
						     lookup_done, &lookups[k]);
		if (cancel)
			dns_cancel(queries[k]);
	}
	if (free_early) {
		dns_resolver_free(r);
		r = NULL;
	}
	ev_run(loop, 0);
	if (cancel || free_early) {
		if (callbacks != 0) {
			printf("%u callbacks ran\n", callbacks);
			return 1;
		}
		printf("no callbacks\n");
	} else {
		for (int k = 0; k < n; k++) {
			if (!lookups[k].done) {
				printf("lookup %s %s: no callback\n", kind,
				       lookups[k].name);
				return 1;
			}
			print_result(kind, &lookups[k]);
			dns_result_free(lookups[k].res);
		}
	}
	dns_resolver_free(r);
	free(lookups);
	free(queries);
	ev_loop_destroy(loop);
	return 0;
}
