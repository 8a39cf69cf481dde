/*
 * local - delivery of a queued message into a local account's Maildir
 *
 * For one recipient: look the account up in the directory, prepend
 * "Return-Path: <sender>" and "Delivered-To: address" to the queued
 * message and hand both to maildir_deliver().
 *
 * Exactly once: the Maildir file name is derived only from the entry,
 * never from the clock or a counter at delivery time:
 *
 *   ARRIVAL.QID_RINDEX.HOST,S=SIZE
 *
 * ARRIVAL is the entry's arrival time, QID its queue ID, INDEX the
 * recipient's position in the envelope, HOST the configured hostname
 * (at most 64 bytes, '/', ':', ',' and non-printable bytes written as
 * \ooo octal, as the Maildir convention does for '/' and ':') and SIZE
 * the size of the delivered file. A retry after a crash between the
 * Maildir rename and the queue's status record builds the same name, and
 * maildir_deliver() finds the earlier copy and does not store a second.
 *
 * Limits: HOST must be the same on every node that may run the queue
 * manager for this data_dir, so set "hostname" to the service name and
 * not the node's name; with different names a failover at that moment
 * delivers a second copy.
 *
 * local_stage() is the first phase of the same delivery for a batch (see
 * batch.c): it writes the copy to tmp/ under the same name and leaves the
 * sync and the rename to the caller.
 *
 * Outcomes: no such account, or a domain that is not local, is a
 * permanent failure; a directory that cannot be read and every file
 * system error (disk full, permissions) are temporary.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "directory.h"
#include "local.h"
#include "maildir.h"
#include "xalloc.h"

#define HOST_PART_MAX 64

char *
local_maildir_base(const struct queue_envelope *env, size_t rcpt,
		   const char *hostname, size_t size)
{
	struct buf b = BUF_INIT;
	size_t start, i;
	char *out;

	buf_printf(&b, "%" PRIdMAX ".Q%s_R%zu.", (intmax_t)env->arrival,
		   env->id, rcpt);
	start = b.len;
	for (i = 0; hostname[i] != '\0' && b.len - start < HOST_PART_MAX; i++) {
		unsigned char c = (unsigned char)hostname[i];

		if (c > 0x20 && c < 0x7f && c != '/' && c != ':' && c != ',' &&
		    c != '\\')
			buf_putc(&b, (char)c);
		else
			buf_printf(&b, "\\%03o", c);
	}
	if (b.len == start)
		buf_puts(&b, "localhost");
	buf_printf(&b, ",S=%zu", size);
	out = xstrdup(buf_cstr(&b));
	buf_free(&b);
	return out;
}

/*
 * Looks up the account of recipient rcpt and builds the prefix and the
 * Maildir file name. Returns DELIVERY_STAGED when the caller may go on
 * (acct, prefix and *base to free), otherwise the final status with its
 * reason, with nothing to free.
 */
static enum delivery_status
prepare(struct directory *dir, const char *hostname,
	const struct queue_envelope *env, size_t rcpt, struct account *acct,
	struct buf *prefix, char **base, char *reason, size_t reasonlen)
{
	const struct queue_rcpt *r = &env->rcpts[rcpt];

	memset(acct, 0, sizeof(*acct));
	switch (directory_get_account(dir, r->address, acct)) {
	case DIR_OK:
		break;
	case DIR_NOT_FOUND:
		snprintf(reason, reasonlen, "no such account");
		return DELIVERY_FAILED;
	case DIR_NOT_LOCAL:
		/*
		 * The queue manager sends recipients of other domains to
		 * remote delivery; this one's domain was removed after it
		 * was routed. The next attempt routes it again.
		 */
		snprintf(reason, reasonlen,
			 "domain is no longer local; routed again at the next "
			 "attempt");
		return DELIVERY_DEFERRED;
	default:
		snprintf(reason, reasonlen, "account lookup failed");
		return DELIVERY_DEFERRED;
	}
	if (acct->maildir == NULL || acct->maildir[0] != '/') {
		snprintf(reason, reasonlen, "account has no maildir path");
		account_free(acct);
		return DELIVERY_DEFERRED;
	}

	buf_init(prefix);
	buf_printf(prefix, "Return-Path: <%s>\r\nDelivered-To: %s\r\n",
		   env->sender, r->address);
	*base = local_maildir_base(env, rcpt, hostname,
				   prefix->len + env->msg_size);
	return DELIVERY_STAGED;
}

/* Maps maildir_deliver()'s result to a status and its reason. */
static enum delivery_status
stored_status(int ret, const char *err, char *reason, size_t reasonlen)
{
	if (ret > 0) {
		snprintf(reason, reasonlen, "stored in mailbox");
		return DELIVERY_DELIVERED;
	}
	if (ret == 0) {
		snprintf(reason, reasonlen,
			 "stored in mailbox by an earlier attempt");
		return DELIVERY_DELIVERED;
	}
	snprintf(reason, reasonlen, "%s", err);
	return DELIVERY_DEFERRED;
}

enum delivery_status
local_deliver(struct directory *dir, const char *hostname,
	      const struct queue_envelope *env, size_t rcpt, int msg_fd,
	      bool check_existing, char *reason, size_t reasonlen)
{
	struct account acct;
	struct buf prefix;
	enum delivery_status status;
	char err[512];
	char *base;
	int ret;

	status = prepare(dir, hostname, env, rcpt, &acct, &prefix, &base,
			 reason, reasonlen);
	if (status != DELIVERY_STAGED)
		return status;
	ret = maildir_deliver(acct.maildir, base, prefix.data, prefix.len,
			      msg_fd, env->msg_offset, env->msg_size,
			      check_existing, err, sizeof(err));
	status = stored_status(ret, err, reason, reasonlen);
	free(base);
	buf_free(&prefix);
	account_free(&acct);
	return status;
}

enum delivery_status
local_stage(struct directory *dir, const char *hostname,
	    const struct queue_envelope *env, size_t rcpt, int msg_fd,
	    bool check_existing, struct maildir_stage *st, char *reason,
	    size_t reasonlen)
{
	struct account acct;
	struct buf prefix;
	enum delivery_status status;
	char err[512];
	char *base;
	int ret;

	status = prepare(dir, hostname, env, rcpt, &acct, &prefix, &base,
			 reason, reasonlen);
	if (status != DELIVERY_STAGED)
		return status;
	ret = maildir_deliver_stage(acct.maildir, base, prefix.data, prefix.len,
				    msg_fd, env->msg_offset, env->msg_size,
				    check_existing, st, err, sizeof(err));
	if (ret > 0) {
		snprintf(reason, reasonlen, "staged");
		status = DELIVERY_STAGED;
	} else {
		status = stored_status(ret, err, reason, reasonlen);
	}
	free(base);
	buf_free(&prefix);
	account_free(&acct);
	return status;
}
