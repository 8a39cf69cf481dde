/*
 * listener_probe - checks that a listener responds with its greeting
 *
 * A probe connects to one listener without blocking, reads the first
 * line and checks it against the service's greeting (SMTP and submission
 * "220", POP3 "+OK", IMAP "* OK"), sends the protocol's quit command and
 * closes. The wildcard addresses 0.0.0.0 and [::] are probed on 127.0.0.1
 * and [::1]. A probe that gets no greeting within its timeout fails.
 * NOTE: a listener with implicit TLS (a greeting only after a TLS
 * handshake) would fail this check; hapost has none yet.
 */
#ifndef HAPOST_CLUSTER_LISTENER_PROBE_H
#define HAPOST_CLUSTER_LISTENER_PROBE_H

#include <stdbool.h>
#include <stddef.h>

#include <ev.h>

struct listener_probe;

/*
 * Returns true when line (len bytes, no CRLF needed) is the greeting the
 * service sends to a new client.
 */
bool greeting_ok(const char *service, const char *line, size_t len);

/*
 * Creates a probe for address ("host:port" or "[v6]:port"). Returns NULL
 * with the reason in err when the address does not parse.
 */
struct listener_probe *listener_probe_new(struct ev_loop *loop,
					  const char *service,
					  const char *address, char *err,
					  size_t errlen);
/* Starts a check unless one is running. */
void listener_probe_start(struct listener_probe *p, double timeout);
/*
 * Returns the result of the last finished check: true when the greeting
 * came; otherwise false with the reason in *error ("not checked yet"
 * before the first check ends).
 */
bool listener_probe_result(const struct listener_probe *p, const char **error);
/* Returns true once a check has finished. */
bool listener_probe_checked(const struct listener_probe *p);
/* Stops a running check, frees the probe and sets *pp to NULL. */
void listener_probe_free(struct listener_probe **pp);

#endif
