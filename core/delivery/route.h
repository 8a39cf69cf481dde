/*
 * route - the gateway table: fixed next hops by recipient or domain
 *
 * One route per line: a pattern, the next hop, then options, separated
 * by blanks; '#' starts a comment. Patterns, from most to least
 * specific (the most specific match wins, whatever the line order):
 *
 *   user@example.org   this address
 *   example.org        this domain
 *   .example.org       any subdomain of example.org (the longest wins)
 *   *                  everything else: a smarthost for all mail
 *
 * Next hop: "host", "host:port", "[host]" or "[host]:port". Without
 * brackets the host's MX records are looked up (falling back to its
 * address); with brackets only its A/AAAA addresses, as for an IP
 * address literal "[192.0.2.1]" or "[IPv6:2001:db8::1]". The port
 * defaults to smtp_client_port.
 *
 * Options (key=value): tls=none|may|encrypt|required|verify (required
 * means encrypt), user=NAME with password=SECRET or
 * password_file=PATH for AUTH to the next hop, and window="DAYS
 * HH:MM-HH:MM, ..." (see window.h) for a delivery window of its own.
 * Errors name the file and line.
 *
 * Details the parser enforces: patterns and host names are matched and
 * stored in lower case (the local part too), a pattern given twice is an
 * error naming both lines, an option value may be quoted ("...", with \"
 * and \\ inside) and '#' starts a comment at the start of a line or after
 * a blank outside quotes. An IP address must be written in brackets
 * ("[192.0.2.1]", "[IPv6:2001:db8::1]"; "[2001:db8::1]" is accepted too),
 * and host then contains the bare address. A line may be at most
 * ROUTE_LINE_MAX bytes and the file ROUTE_FILE_MAX bytes.
 *
 * Secrets: route_table_load() rejects a table that others may read
 * (mode o+r) when a line has password=. Both loaders reject a
 * password_file that others may read. The password is the first line of
 * password_file, without its line end.
 */
#ifndef HAPOST_ROUTE_H
#define HAPOST_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#include "smtp_client.h"

struct delivery_window;

struct route {
	char *pattern;
	char *host; /* without brackets and port */
	unsigned port; /* 0: smtp_client_port */
	bool mx_lookup;
	bool tls_set; /* tls= given; otherwise smtp_client_tls applies */
	enum smtp_client_tls tls;
	char *user;	/* NULL: no AUTH */
	char *password; /* read from password_file when given */
	struct delivery_window *window; /* NULL: the global window */
	unsigned line;
};

struct route_table;

#define ROUTE_LINE_MAX 4096
#define ROUTE_FILE_MAX (16 << 20)

/* Loads the table at path. Returns 0, or -1 with "FILE:LINE: reason". */
int route_table_load(const char *path, struct route_table **out, char *err,
		     size_t errlen);
/*
 * As route_table_load() on text already read; name is used in errors. The
 * mode of the table is not known here, so password= is not checked.
 */
int route_table_parse(const char *text, size_t len, const char *name,
		      struct route_table **out, char *err, size_t errlen);
/* The most specific route for address, or NULL for MX routing. */
const struct route *route_lookup(const struct route_table *t,
				 const char *address);
size_t route_table_count(const struct route_table *t);
/* Route i in file order, for listings; i < route_table_count(t). */
const struct route *route_table_get(const struct route_table *t, size_t i);
void route_table_free(struct route_table *t);
/*
 * Loads and frees the table at path, for `hapostd -t`. Returns 0, or -1
 * with the reason in err.
 */
int route_table_check(const char *path, char *err, size_t errlen);

#endif
