/*
 * worker - state shared by the sessions of one protocol worker process
 */
#ifndef HAPOST_WORKER_H
#define HAPOST_WORKER_H

#include <ev.h>
#include <stdbool.h>

#include "cfg.h"
#include "conn.h"

struct directory;
struct site_key;
struct tls_server;

struct worker {
	struct cfg *cfg;
	struct directory *dir;
	struct tls_server *tls; /* NULL when no certificate is configured */
	/* The key of the APOP secrets; NULL unless pop3_apop = yes and
	 * site_key_file was loaded. */
	struct site_key *site_key;
	struct ev_loop *loop;
	unsigned index;
	bool stopping;
	struct conn *conns;
	unsigned nconns;
};

extern const struct proto_ops smtp_ops;
extern const struct proto_ops submission_ops;
extern const struct proto_ops pop3_ops;
extern const struct proto_ops imap_ops;

/*
 * Waits for the SMTP batch whose replication reply is outstanding and
 * publishes it; the worker calls it after its loop ends.
 */
void smtp_commit_drain(void);

#endif
