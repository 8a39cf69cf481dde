/*
 * smtp_client_txn - one mail transaction on an SMTP client connection
 *
 * MAIL FROM, one RCPT TO per recipient, DATA, then the message read with
 * pread() from msg_fd in chunks, dot-stuffed (RFC 5321 section 4.5.2)
 * and ended with CRLF "." CRLF. At most SMTPC_BODY_BUFFER bytes of it
 * are in memory at a time. With PIPELINING (RFC 2920), MAIL, every RCPT
 * and DATA leave as one group and the replies are matched in order.
 * Without it, each command waits for the previous reply.
 *
 * Checks before anything is sent: a message that needs SMTPUTF8 fails
 * with 5.6.7 when the server does not offer it, and one larger than the
 * server's SIZE fails with 5.3.4. A message with 8-bit content goes with
 * BODY=8BITMIME when offered and unchanged otherwise, as most MTAs do,
 * because there is no conversion to 7 bit here. An address containing
 * control characters is not sent: the sender fails the transaction with
 * 5.1.7, a recipient only itself with 5.1.3.
 *
 * After a rejected MAIL, RCPT or DATA the server may still hold part of
 * the transaction, so RSET runs before the callback. When the callback
 * runs, the connection is therefore idle and reusable, or closed. A 421
 * reply closes the connection at once. So does a 2xx or 3xx reply where
 * a command failed (a 250 in place of DATA's 354, a stale second reply
 * to the end of data): the replies no longer match the commands, and
 * the transaction fails with the client's own 4.5.0 reply, never with a
 * success code that would read as delivered.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "smtp_client_int.h"
#include "xalloc.h"

void
smtpc_txn_free(struct smtpc_txn *t)
{
	free(t->sender);
	for (size_t i = 0; i < t->nrcpts; i++)
		free(t->rcpts[i]);
	free(t->rcpts);
	free(t->order);
	free(t->rcpt_failed);
	free(t->replies);
	memset(t, 0, sizeof(*t));
	t->msg_fd = -1;
}

static enum smtp_client_failure
reply_failure(const struct smtp_client_reply *r)
{
	switch (r->code / 100) {
	case 2:
		return SMTPC_OK;
	case 5:
		return SMTPC_PERMFAIL;
	default:
		return SMTPC_TEMPFAIL;
	}
}

/* True for an address that can go into a MAIL or RCPT command. */
static bool
address_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static void
set_stage(struct smtp_client *c, const char *stage)
{
	snprintf(c->txn_st.stage, sizeof(c->txn_st.stage), "%s", stage);
}

/*
 * Returns r, or in *out the client's own 4.5.0 reply when r's class
 * cannot stand for a failure: a 1xx, 2xx or 3xx reply where a command
 * failed (a 354 to RCPT TO, a 250 in place of DATA's 354). Such a reply
 * passed on would read as success, yet nothing was delivered.
 */
static const struct smtp_client_reply *
failure_reply(struct smtp_client *c, const struct smtp_client_reply *r,
	      const char *stage, struct smtp_client_reply *out)
{
	if (r->code == 0 || r->code / 100 == 4 || r->code / 100 == 5)
		return r;
	smtpc_set_reply(out, 0, "4.5.0",
			"unexpected reply to %s from %s: %d %s", stage,
			c->st.remote, r->code, r->text);
	return out;
}

/*
 * Ends the transaction with failure and reply, which become st and the
 * reply of every recipient without a failure of its own. With rset the
 * callback waits for RSET.
 */
static void
txn_end(struct smtp_client *c, enum smtp_client_failure failure,
	const struct smtp_client_reply *reply, bool rset)
{
	struct smtpc_txn *t = &c->txn;
	struct smtp_client_reply unexpected;
	bool out_of_step = false;

	if (failure != SMTPC_OK) {
		reply = failure_reply(c, reply, c->txn_st.stage, &unexpected);
		out_of_step = reply == &unexpected;
		if (out_of_step)
			failure = SMTPC_TEMPFAIL;
	}
	c->txn_st.failure = failure;
	c->txn_st.reply = *reply;
	for (size_t i = 0; i < t->nrcpts; i++)
		if (!t->rcpt_failed[i])
			t->replies[i] = *reply;
	if (c->fd < 0) {
		/* Already closed: the caller frees or closes c. */
	} else if (reply->code == 421 || out_of_step) {
		/* The server is closing the connection, or its replies no
		 * longer match the commands. */
		smtpc_close_socket(c, false);
	} else if (rset) {
		smtpc_send_line(c, "RSET");
		smtpc_await_reply(c, SMTPC_RSET, NULL);
		return;
	} else {
		c->state = SMTPC_IDLE;
		ev_timer_stop(c->loop, &c->timer);
	}
	smtpc_schedule(c, SMTPC_PENDING_TXN);
}

/* Fails the transaction without a server reply, before any command. */
static int
fail_local(struct smtp_client *c, enum smtp_client_failure failure,
	   const struct smtp_client_reply *reply)
{
	txn_end(c, failure, reply, false);
	return 0;
}

/* Ends a transaction in which no message was sent. */
static void
end_without_data(struct smtp_client *c, bool rset)
{
	struct smtpc_txn *t = &c->txn;
	const struct smtp_client_reply *last = NULL;
	enum smtp_client_failure failure = SMTPC_PERMFAIL;

	if (!t->mail_ok) {
		set_stage(c, "MAIL FROM");
		txn_end(c, reply_failure(&t->mail_reply), &t->mail_reply, rset);
		return;
	}
	/* Every recipient failed: temporary when any of them did. */
	set_stage(c, "RCPT TO");
	for (size_t i = 0; i < t->nsent; i++) {
		last = &t->replies[t->order[i]];
		if (reply_failure(last) == SMTPC_TEMPFAIL)
			failure = SMTPC_TEMPFAIL;
	}
	txn_end(c, failure, last, rset);
}

static void
send_rcpt(struct smtp_client *c, size_t k)
{
	smtpc_send_line(c, "RCPT TO:<%s>", c->txn.rcpts[c->txn.order[k]]);
}

int
smtpc_txn_start(struct smtp_client *c, const struct smtp_client_txn *t)
{
	struct smtpc_txn *x = &c->txn;
	struct smtp_client_reply r;
	struct buf mail = BUF_INIT;

	smtpc_txn_free(x);
	memset(&c->txn_st, 0, sizeof(c->txn_st));
	snprintf(c->txn_st.remote, sizeof(c->txn_st.remote), "%s",
		 c->st.remote);
	c->txn_st.tls = c->st.tls;
	set_stage(c, "MAIL FROM");

	x->sender = xstrdup(t->sender);
	x->nrcpts = t->nrcpts;
	x->rcpts = xcalloc(t->nrcpts, sizeof(*x->rcpts));
	x->order = xcalloc(t->nrcpts, sizeof(*x->order));
	x->rcpt_failed = xcalloc(t->nrcpts, sizeof(*x->rcpt_failed));
	x->replies = xcalloc(t->nrcpts, sizeof(*x->replies));
	for (size_t i = 0; i < t->nrcpts; i++) {
		x->rcpts[i] = xstrdup(t->rcpts[i]);
		if (address_ok(x->rcpts[i])) {
			x->order[x->nsent++] = i;
			continue;
		}
		x->rcpt_failed[i] = true;
		smtpc_set_reply(&x->replies[i], 0, "5.1.3",
				"invalid recipient address: control character");
	}
	x->msg_fd = t->msg_fd;
	x->msg_offset = t->msg_offset;
	x->msg_size = t->msg_size;
	x->body_8bit = t->body_8bit;
	x->smtputf8 = t->smtputf8;
	x->line_start = true;

	if (!address_ok(x->sender)) {
		smtpc_set_reply(&r, 0, "5.1.7",
				"invalid sender address: control character");
		return fail_local(c, SMTPC_PERMFAIL, &r);
	}
	if (t->smtputf8 && !(c->esmtp && c->ehlo.smtputf8)) {
		smtpc_set_reply(&r, 0, "5.6.7",
				"the message needs SMTPUTF8 but %s does not "
				"offer it",
				c->st.remote);
		return fail_local(c, SMTPC_PERMFAIL, &r);
	}
	if (c->esmtp && c->ehlo.size_max > 0 &&
	    t->msg_size > c->ehlo.size_max) {
		smtpc_set_reply(&r, 0, "5.3.4",
				"message size %zu exceeds the maximum of %zu "
				"bytes that %s accepts",
				t->msg_size, c->ehlo.size_max, c->st.remote);
		return fail_local(c, SMTPC_PERMFAIL, &r);
	}
	if (x->nsent == 0) {
		set_stage(c, "RCPT TO");
		smtpc_set_reply(&r, 0, "5.1.3", "no valid recipient address");
		return fail_local(c, SMTPC_PERMFAIL, &r);
	}

	buf_printf(&mail, "MAIL FROM:<%s>", x->sender);
	if (c->esmtp && c->ehlo.size)
		buf_printf(&mail, " SIZE=%zu", t->msg_size);
	if (t->body_8bit && c->esmtp && c->ehlo.eightbitmime)
		buf_puts(&mail, " BODY=8BITMIME");
	if (t->smtputf8)
		buf_puts(&mail, " SMTPUTF8");
	smtpc_send_line(c, "%s", buf_cstr(&mail));
	buf_free(&mail);
	x->pipelined = c->esmtp && c->ehlo.pipelining;
	if (x->pipelined) {
		for (size_t k = 0; k < x->nsent; k++)
			send_rcpt(c, k);
		smtpc_send_line(c, "DATA");
	}
	smtpc_await_reply(c, SMTPC_TXN, NULL);
	return 0;
}

static void
start_body(struct smtp_client *c)
{
	c->state = SMTPC_BODY;
	set_stage(c, "DATA");
	smtpc_flush(c);
}

static void
data_reply(struct smtp_client *c, const struct smtp_client_reply *r)
{
	struct smtpc_txn *t = &c->txn;

	set_stage(c, "DATA");
	if (r->code == 354) {
		if (t->mail_ok && t->naccepted > 0) {
			start_body(c);
			return;
		}
		/* RFC 2920: after a pipelined DATA that should have failed,
		 * an empty message ends the transaction. */
		t->dot_only = true;
		smtpc_send_line(c, ".");
		smtpc_await_reply(c, SMTPC_DOT, NULL);
		return;
	}
	if (!t->mail_ok || t->naccepted == 0) {
		end_without_data(c, true);
		return;
	}
	txn_end(c, reply_failure(r) == SMTPC_OK ? SMTPC_TEMPFAIL
						: reply_failure(r),
		r, true);
}

void
smtpc_txn_reply(struct smtp_client *c, const struct smtp_client_reply *r)
{
	struct smtpc_txn *t = &c->txn;
	size_t pos = t->next_reply++;

	if (r->code == 421) {
		/* The server closes the connection: the replies to the rest
		 * of a pipelined group will not come. */
		txn_end(c, SMTPC_TEMPFAIL, r, false);
		return;
	}
	if (pos == 0) {
		t->mail_reply = *r;
		t->mail_ok = r->code / 100 == 2;
		if (t->pipelined)
			return;
		if (!t->mail_ok) {
			end_without_data(c, true);
			return;
		}
		set_stage(c, "RCPT TO");
		send_rcpt(c, 0);
		smtpc_await_reply(c, SMTPC_TXN, NULL);
		return;
	}
	if (pos <= t->nsent) {
		size_t i = t->order[pos - 1];

		if (t->mail_ok && r->code / 100 == 2) {
			t->replies[i] = *r;
			t->naccepted++;
		} else if (t->mail_ok) {
			struct smtp_client_reply unexpected;

			t->replies[i] =
			    *failure_reply(c, r, "RCPT TO", &unexpected);
			t->rcpt_failed[i] = true;
		}
		if (t->pipelined)
			return;
		if (pos < t->nsent) {
			send_rcpt(c, pos);
			smtpc_await_reply(c, SMTPC_TXN, NULL);
		} else if (t->naccepted > 0) {
			set_stage(c, "DATA");
			smtpc_send_line(c, "DATA");
			smtpc_await_reply(c, SMTPC_TXN, NULL);
		} else {
			end_without_data(c, true);
		}
		return;
	}
	data_reply(c, r);
}

void
smtpc_txn_dot_reply(struct smtp_client *c, const struct smtp_client_reply *r)
{
	struct smtpc_txn *t = &c->txn;
	enum smtp_client_failure failure = reply_failure(r);

	if (c->state == SMTPC_BODY || c->out.len > 0) {
		/*
		 * A reply before the whole message was sent: the server gave
		 * up on it, and the connection cannot go on. Even a 2xx here
		 * cannot mean the message was accepted whole.
		 */
		set_stage(c, "DATA");
		txn_end(c, failure == SMTPC_OK ? SMTPC_TEMPFAIL : failure, r,
			false);
		smtpc_close_socket(c, false);
		return;
	}
	if (t->dot_only) {
		end_without_data(c, true);
		return;
	}
	txn_end(c, failure, r, false);
}

void
smtpc_txn_rset_reply(struct smtp_client *c, const struct smtp_client_reply *r)
{
	if (r->code / 100 == 2) {
		c->state = SMTPC_IDLE;
		ev_timer_stop(c->loop, &c->timer);
	} else {
		smtpc_close_socket(c, true);
	}
	smtpc_schedule(c, SMTPC_PENDING_TXN);
}

void
smtpc_txn_lost(struct smtp_client *c, const struct smtp_client_reply *reason)
{
	if (c->state == SMTPC_RSET) {
		/* The result is kept; only the connection is gone. */
		smtpc_close_socket(c, false);
		smtpc_schedule(c, SMTPC_PENDING_TXN);
		return;
	}
	smtpc_close_socket(c, false);
	c->free_after_callback = true;
	txn_end(c, SMTPC_UNREACHABLE, reason, false);
}

/* Appends n message bytes to c->out, doubling a '.' that starts a line. */
static void
dot_stuff(struct smtp_client *c, const char *p, size_t n)
{
	struct smtpc_txn *t = &c->txn;
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		if (t->line_start && p[i] == '.') {
			buf_append(&c->out, p + start, i - start);
			buf_putc(&c->out, '.');
			start = i;
		}
		t->line_start = p[i] == '\n';
	}
	buf_append(&c->out, p + start, n - start);
}

int
smtpc_txn_fill_body(struct smtp_client *c)
{
	struct smtpc_txn *t = &c->txn;
	struct smtp_client_reply r;
	char chunk[16384];

	while (c->out.len < SMTPC_BODY_BUFFER && !t->body_done) {
		size_t want = t->msg_size - t->sent;
		ssize_t n;

		if (want == 0) {
			if (!t->line_start)
				buf_puts(&c->out, "\r\n");
			buf_puts(&c->out, ".\r\n");
			t->body_done = true;
			c->state = SMTPC_DOT;
			set_stage(c, "end of data");
			return 0;
		}
		if (want > sizeof(chunk))
			want = sizeof(chunk);
		n = pread(t->msg_fd, chunk, want,
			  t->msg_offset + (off_t)t->sent);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			/* Without the final "." the server drops the
			 * partial message when the connection closes. */
			smtpc_set_reply(&r, 0, "4.3.0",
					"reading the message failed at byte "
					"%zu of %zu: %s",
					t->sent, t->msg_size,
					n < 0 ? strerror(errno)
					      : "unexpected end of file");
			smtpc_close_socket(c, false);
			txn_end(c, SMTPC_TEMPFAIL, &r, false);
			return -1;
		}
		dot_stuff(c, chunk, (size_t)n);
		t->sent += (size_t)n;
	}
	return 0;
}
