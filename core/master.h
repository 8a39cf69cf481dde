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

#endif
