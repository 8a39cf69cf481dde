/*
 * remote_int - declarations shared by the remote*.c files only
 *
 * Not part of the delivery interface: the queue manager uses remote.h.
 */
#ifndef HAPOST_DELIVERY_REMOTE_INT_H
#define HAPOST_DELIVERY_REMOTE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <ev.h>
#include <openssl/ssl.h>

#include "job.h"
#include "local.h"
#include "queue.h"
#include "remote.h"
#include "smtp_client.h"

struct dns_query;
struct remote_session;
struct dns_resolver;
struct dns_result;
struct route_table;
struct delivery_window;

/* One queue entry with recipients held by remote delivery. */
struct remote_msg {
	char id[QUEUE_ID_LEN + 1];
	time_t arrival;
	char *sender;
	off_t msg_offset;
	size_t msg_size;
	bool body_8bit;
	bool smtputf8;
	size_t nrcpts;
	bool *held; /* held[i]: recipient i is queued or in a transaction */
	size_t refs; /* recipients held */
	bool cancelled;
	struct remote_msg *next;
};

/* One held recipient. */
struct remote_rcpt {
	struct remote_msg *msg;
	size_t index;
	char *address;
	unsigned attempts; /* recorded attempts before this one */
	struct remote_dest *dest;
	struct remote_rcpt *next; /* in the destination's queue */
};

/* A next hop with its port, TLS policy and credentials. */
struct remote_dest {
	struct remote *owner;
	char *key;
	char *name;	/* the recipient domain, or the gateway's host */
	bool mx_lookup; /* look up MX records of name, else its addresses */
	char *route;	/* remote_route_text() of the first recipient */
	unsigned port;
	enum smtp_client_tls tls;
	char *user;
	char *password;
	struct dns_query *query;
	struct dns_result *dns; /* set once the lookup returned */
	size_t nhosts;		/* hosts of dns to try (after the MX rule) */
	struct remote_rcpt *head, **tail;
	size_t nwaiting;
	unsigned nsessions;
	unsigned connecting; /* sessions not yet in a transaction */
	struct remote_dest *next;
};

/* One connection to a destination, with its current transaction. */
struct remote_session {
	struct remote *r;
	struct remote_dest *dest;
	struct smtp_client *c; /* NULL between connection attempts */
	size_t host, addr;     /* the next address to try */
	bool connecting;       /* counted in dest->connecting */
	bool in_txn;
	unsigned connections; /* connection attempts in this round */
	bool all_unreachable; /* no host replied at all */
	bool any_temporary;   /* some host failed in a temporary way */
	struct smtp_client_status last; /* the last connection failure */
	int msg_fd; /* the transaction's message file, or -1 */
	struct remote_rcpt **txn;
	const char **addrs;
	size_t ntxn, cap;
	struct remote_session *next;
};

/* One result, before it is recorded. */
struct remote_result {
	enum delivery_status status; /* delivered, deferred or failed */
	bool unreachable;	     /* retry on the unreachable schedule */
	char dsn[16];
	char relay[300]; /* "host[address]:port", or "none" */
	char reason[REASON_MAX];
};

struct remote {
	struct ev_loop *loop;
	const struct cfg *cfg;
	const struct delivery_ctx *ctx;
	remote_done_cb *done;
	void *done_arg;
	struct dns_resolver *resolver;
	SSL_CTX *tls_ctx;
	char tls_error[256]; /* why tls_ctx is NULL */
	enum smtp_client_tls tls; /* smtp_client_tls */
	struct route_table *routes;
	struct delivery_window *window;
	char config_error[512]; /* set while the routing cannot be used */
	struct remote_msg *msgs;
	struct remote_dest *dests;
	struct remote_session *sessions;
	unsigned nsessions;
	ev_idle kick;
	bool stopping;
	remote_drained_cb *drained;
	void *drained_arg;
};

/*
 * Records the results of v[0..n) with one sync, logs one line per
 * recipient, and releases them (remote_release()).
 */
void remote_record(struct remote *r, struct remote_rcpt *const *v,
		   const struct remote_result *res, size_t n);
/* Frees a recipient; the last one of an entry calls the done callback. */
void remote_release(struct remote *r, struct remote_rcpt *rc);
/* Runs the scheduler from the loop soon (new work, a freed session). */
void remote_kick(struct remote *r);
/* Gives every recipient waiting at d the same result. */
void remote_fail_waiting(struct remote *r, struct remote_dest *d,
			 const struct remote_result *res);
/* Starts a session for d (remote_session.c). */
void remote_session_start(struct remote *r, struct remote_dest *d);
/* Closes the session's connection and frees it. */
void remote_session_end(struct remote_session *s);

/* A session-level failure (no host took the transaction). */
void remote_result_session(struct remote_result *res,
			   const struct smtp_client_status *st);
/* One recipient's result from its reply in a transaction. */
void remote_result_rcpt(struct remote_result *res,
			const struct smtp_client_status *st,
			const struct smtp_client_reply *reply);
/* A result without any connection: DNS, routing, TLS setup. */
void remote_result_local(struct remote_result *res,
			 enum delivery_status status, bool unreachable,
			 const char *dsn, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
