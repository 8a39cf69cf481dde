/*
 * worker_main - the protocol worker process
 */
#ifndef HAPOST_WORKER_MAIN_H
#define HAPOST_WORKER_MAIN_H

#include "cfg.h"
#include "conn.h"

struct ipcount;

/* One bound listening socket and the service it carries. */
struct listener {
	int fd;
	enum service service;
	const char *addr; /* as written in the config */
};

/*
 * Runs a worker until SIGTERM (421/BYE to every session, then exit within
 * cfg->shutdown_timeout) or SIGUSR2 (stop accepting and exit when the
 * last session ends: the master retires old workers this way on reload).
 * Returns the process exit code.
 */
int worker_main(struct cfg *cfg, unsigned index, struct listener *ls,
		size_t nls, struct ipcount *ipc);

const char *service_name(enum service svc);

#endif
