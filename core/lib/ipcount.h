/*
 * ipcount - connections per client IP across all worker processes
 *
 * The master maps one shared table per worker slot before it forks. Each
 * worker writes only its own table (single writer, no locks) and reads
 * everybody's to sum the connections from one IP. Reads race with writes,
 * so a total may be off by the connections opened or closed in that
 * instant; that is good enough for a flood limit and costs no locking on
 * the accept path. When a worker dies the master clears its table before
 * starting the replacement, so a crash leaves no stale counts.
 */
#ifndef HAPOST_IPCOUNT_H
#define HAPOST_IPCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct ipcount;

/* Maps tables for nslots workers, each holding up to capacity IPs. */
struct ipcount *ipcount_create(unsigned nslots, unsigned capacity);
void ipcount_destroy(struct ipcount *ic);
void ipcount_clear_slot(struct ipcount *ic, unsigned slot);
/* Sum over all slots of the connections from addr. */
unsigned ipcount_total(const struct ipcount *ic, const struct sockaddr *addr);
/* Adds one connection for addr in slot; false when the table is full. */
bool ipcount_add(struct ipcount *ic, unsigned slot,
		 const struct sockaddr *addr);
void ipcount_remove(struct ipcount *ic, unsigned slot,
		    const struct sockaddr *addr);

#endif
