/*
 * qmgr - the queue manager process
 */
#ifndef HAPOST_DELIVERY_QMGR_H
#define HAPOST_DELIVERY_QMGR_H

#include "cfg.h"

/* The datagram that makes the queue manager retry every entry now. */
#define QMGR_FLUSH_COMMAND "flush"
/* The queue manager's control socket, under run_dir. */
#define QMGR_SOCKET_NAME "qmgr.sock"

/*
 * Runs the queue manager until SIGTERM or SIGINT. The caller has already
 * dropped privileges. Returns the process exit code.
 */
int qmgr_main(struct cfg *cfg);

#endif
