/*
 * local - delivery of a queued message into a local account's Maildir
 */
#ifndef HAPOST_DELIVERY_LOCAL_H
#define HAPOST_DELIVERY_LOCAL_H

#include <stdbool.h>
#include <stddef.h>

#include "queue.h"

struct directory;
struct maildir_stage;

enum delivery_status {
	DELIVERY_DELIVERED,
	DELIVERY_DEFERRED, /* temporary failure: try again later */
	DELIVERY_FAILED,   /* permanent failure */
	DELIVERY_STAGED,   /* in the Maildir's tmp/, not yet durable */
};

/*
 * Returns the Maildir file name for recipient rcpt of env, in a new
 * string: "ARRIVAL.QID_RINDEX.HOST,S=SIZE", where SIZE is the delivered
 * size (message plus the prefix local_deliver adds).
 */
char *local_maildir_base(const struct queue_envelope *env, size_t rcpt,
			 const char *hostname, size_t size);

/*
 * Delivers recipient rcpt of env, whose message is readable from msg_fd,
 * into the account's Maildir. reason receives a short text for the log in
 * every case ("stored in mailbox" and so on). check_existing makes the
 * Maildir scan cur/ for an earlier copy too (new/ is always checked).
 */
enum delivery_status local_deliver(struct directory *dir, const char *hostname,
				   const struct queue_envelope *env,
				   size_t rcpt, int msg_fd, bool check_existing,
				   char *reason, size_t reasonlen);

/*
 * The first phase of local_deliver() for group commit: the same account
 * lookup and file name, then maildir_deliver_stage(). Returns
 * DELIVERY_STAGED with st filled (publish it with maildir_deliver_publish()
 * once the file is durable), or the final status with its reason, which
 * is DELIVERY_DELIVERED when an earlier attempt's copy was found.
 */
enum delivery_status local_stage(struct directory *dir, const char *hostname,
				 const struct queue_envelope *env, size_t rcpt,
				 int msg_fd, bool check_existing,
				 struct maildir_stage *st, char *reason,
				 size_t reasonlen);

#endif
