/*
 * master - the root process: listeners, children, signals
 */
#ifndef HAPOST_MASTER_H
#define HAPOST_MASTER_H

#include <stdbool.h>

#include "cfg.h"

/*
 * Binds every listener, forks the workers and the queue manager and
 * supervises them until SIGTERM. Takes ownership of cfg (a reload
 * replaces it) and frees it before returning the exit code.
 */
int master_run(struct cfg *cfg, bool foreground);

/*
 * Loads the certificates and the outbound CA bundle of cfg once, as a
 * start or a reload does. Returns -1 with the file and reason in err.
 */
int tls_check(const struct cfg *cfg, char *err, size_t errlen);

#endif
