/*
 * fuzz-route - the gateway table parser on arbitrary bytes
 *
 * The input is a gateway table. A rejected table must come with an error
 * that names it. For an accepted one, route_lookup() must find every route
 * again. It looks up an address pattern itself, an address in a domain
 * pattern's domain, an address one label below a subdomain pattern, and
 * an address without a domain for "*".
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct route_table *t;
	char err[512];

	err[0] = '\0';
	if (route_table_parse((const char *)data, size, "fuzz", &t, err,
			      sizeof(err)) < 0) {
		if (t != NULL || strncmp(err, "fuzz", 4) != 0)
			abort();
		return 0;
	}
	for (size_t i = 0; i < route_table_count(t); i++) {
		const struct route *r = route_table_get(t, i), *found;
		char address[600];

		if (r == NULL || r->host == NULL || r->host[0] == '\0')
			abort();
		if (strchr(r->pattern, '@') != NULL)
			snprintf(address, sizeof(address), "%s", r->pattern);
		else if (r->pattern[0] == '.')
			snprintf(address, sizeof(address), "x@a%s", r->pattern);
		else if (strcmp(r->pattern, "*") == 0)
			snprintf(address, sizeof(address), "postmaster");
		else
			snprintf(address, sizeof(address), "x@%s", r->pattern);
		found = route_lookup(t, address);
		if (found == NULL)
			abort();
		/* Only a more specific pattern may take the address. */
		if (strchr(r->pattern, '@') != NULL && found != r)
			abort();
		if (strcmp(r->pattern, "*") == 0 && found != r)
			abort();
	}
	route_lookup(t, "");
	route_lookup(t, "@");
	route_lookup(t, "a@.");
	route_lookup(t, "a@b..c.");
	route_table_free(t);
	return 0;
}
