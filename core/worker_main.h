/*
 * worker_main - the protocol worker process
 */
#ifndef HAPOST_WORKER_MAIN_H
#define HAPOST_WORKER_MAIN_H

#include <stdbool.h>

#include "cfg.h"
#include "conn.h"

struct ipcount;
struct site_key;
struct tls_server;

/* One bound listening socket and the service it carries. */
struct listener {
	int fd;
	enum service service;
	const char *addr; /* as written in the config */
	bool tls;	  /* implicit TLS: handshake before the greeting */
};

/*
 * Runs a worker until SIGTERM (421/BYE to every session, then exit within
 * cfg->shutdown_timeout) or SIGUSR2 (stop accepting and exit when the
 * last session ends: the master retires old workers this way on reload).
 * tls (NULL without a certificate) serves STARTTLS and the implicit-TLS
 * listeners; site_key (NULL unless APOP is usable) opens APOP secrets.
 * The worker frees both. Returns the process exit code.
 */
int worker_main(struct cfg *cfg, unsigned index, struct listener *ls,
		size_t nls, struct ipcount *ipc, struct tls_server *tls,
		struct site_key *site_key);

const char *service_name(enum service svc);

#endif
