/*
 * conn_private - the worker's side of struct conn (not for protocols)
 */
#ifndef HAPOST_CONN_PRIVATE_H
#define HAPOST_CONN_PRIVATE_H

#include "conn.h"

/* Allocates a conn for an accepted socket; NULL when out of memory. */
struct conn *conn_new(struct worker *wk, struct ev_loop *loop, int fd,
		      enum service svc, const struct proto_ops *ops,
		      unsigned long id);
/* Starts reading and the idle timer, then calls ops->start. */
void conn_start(struct conn *c);
/* Starts the TLS handshake of an implicit-TLS listener's conn; ops->start
 * runs when it has finished. */
void conn_start_tls(struct conn *c);
/* Lets the protocol say goodbye (ops->shutdown), then closes c. */
void conn_shutdown(struct conn *c);
/* Ends c at once without flushing; ops->free runs. */
void conn_kill(struct conn *c, const char *reason);
/* Called by the conn when it is freed, to unlink it from the worker. */
void worker_conn_closed(struct worker *wk, struct conn *c);

#endif
