/*
 * Unit tests for the SMTP session engine (smtp.c, smtp_txn.c) without
 * sockets: this file defines fake conn_*, directory_* and queue_writer_*
 * functions, so the linker takes them instead of the real ones from
 * libhapost.a. Each test feeds client bytes to smtp_ops.input and checks
 * the exact replies and what reached the fake queue.
 */
#include "config.h"

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "buf.h"
#include "cfg.h"
#include "conn.h"
#include "directory.h"
#include "log.h"
#include "queue.h"
#include "worker.h"
#include "xalloc.h"

/* ---- fake conn ---- */

void
conn_write(struct conn *c, const void *data, size_t len)
{
	buf_append(&c->out, data, len);
}

void
conn_puts(struct conn *c, const char *s)
{
	buf_puts(&c->out, s);
}

void
conn_printf(struct conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
}

void
conn_close(struct conn *c, const char *reason)
{
	c->closing = true;
}

void
conn_pause_read(struct conn *c)
{
	c->read_paused = true;
}

void
conn_resume_read(struct conn *c)
{
	c->read_paused = false;
}

void
conn_set_idle_timeout(struct conn *c, double seconds)
{
	c->idle_timeout = seconds;
}

/* A certificate is "configured" while this is true. */
static bool fake_tls_cert;

bool
conn_tls_available(const struct conn *c)
{
	return fake_tls_cert && c->tls == CONN_TLS_NONE;
}

bool
conn_tls_active(const struct conn *c)
{
	return c->tls == CONN_TLS_ON;
}

/* Replaces the whole switch: drops the input, then the handshake is
 * done. */
int
conn_starttls(struct conn *c)
{
	if (!conn_tls_available(c))
		return -1;
	buf_reset(&c->in);
	c->tls = CONN_TLS_ON;
	return 0;
}

bool
conn_plaintext_auth_allowed(const struct conn *c)
{
	return c->tls == CONN_TLS_ON;
}

/* ---- fake directory: example.test with alice, bob, postmaster ---- */

static char **
list_of(const char *address)
{
	char **l = xcalloc(1, sizeof(*l));

	l[0] = xstrdup(address);
	return l;
}

bool
directory_domain_is_local(struct directory *d, const char *domain)
{
	return strcasecmp(domain, "example.test") == 0;
}

int
directory_domain_list(struct directory *d, char ***out, size_t *n)
{
	*out = list_of("example.test");
	*n = 1;
	return 0;
}

enum dir_result
directory_resolve_rcpt(struct directory *d, const char *address, char ***out,
		       size_t *n)
{
	const char *at = strchr(address, '@');

	if (at == NULL || !directory_domain_is_local(d, at + 1))
		return DIR_NOT_LOCAL;
	if (strcasecmp(address, "tempfail@example.test") == 0)
		return DIR_TEMPFAIL;
	if (strcasecmp(address, "postmaster@example.test") == 0) {
		*out = list_of("alice@example.test");
		*n = 1;
		return DIR_OK;
	}
	if (strcasecmp(address, "alice@example.test") == 0 ||
	    strcasecmp(address, "bob@example.test") == 0) {
		char *lower = xstrdup(address);

		for (char *p = lower; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		*out = xcalloc(1, sizeof(char *));
		(*out)[0] = lower;
		*n = 1;
		return DIR_OK;
	}
	return DIR_NOT_FOUND;
}

/* alice@example.test with password "secret"; bob has SMTP AUTH off. */
enum dir_result
directory_authenticate(struct directory *d, const char *user,
		       const char *password, struct account *acct)
{
	memset(acct, 0, sizeof(*acct));
	if (strcmp(password, "secret") != 0)
		return DIR_NOT_FOUND;
	if (strcasecmp(user, "alice@example.test") != 0 &&
	    strcasecmp(user, "bob@example.test") != 0)
		return DIR_NOT_FOUND;
	acct->address = xstrdup(user);
	acct->smtp_auth_enabled = strcasecmp(user, "alice@example.test") == 0;
	return DIR_OK;
}

/* No account has a CRAM-MD5 secret here. */
enum dir_result
directory_cram_md5(struct directory *d, const char *user,
		   unsigned char state[DIR_CRAM_STATE_LEN], struct account *acct)
{
	memset(acct, 0, sizeof(*acct));
	return DIR_NOT_FOUND;
}

void
account_free(struct account *acct)
{
	free(acct->address);
	free(acct->maildir);
	memset(acct, 0, sizeof(*acct));
}

void
directory_free_list(char **list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i]);
	free(list);
}

/* ---- fake queue ---- */

struct queue_writer {
	struct buf data;
	struct queue_envelope *env;
};

static struct {
	bool fail_open, fail_write, fail_commit;
	unsigned opens, aborts, commits;
	struct buf committed; /* content of the last commit */
	char sender[400];
	size_t nrcpts;
	char rcpt[4][400];
	char orig[4][400];
	bool smtputf8, body_8bit;
	bool reply_before_commit; /* a 250 queued already at commit */
	struct conn *conn;
} fq;

struct queue_writer *
queue_writer_open(const char *data_dir, struct queue_envelope *env, char *err,
		  size_t errlen)
{
	struct queue_writer *w;

	if (fq.fail_open) {
		snprintf(err, errlen, "fake open failure");
		return NULL;
	}
	fq.opens++;
	snprintf(env->id, sizeof(env->id), "00000000000000%02u", fq.opens);
	w = xcalloc(1, sizeof(*w));
	buf_init(&w->data);
	w->env = env;
	return w;
}

int
queue_writer_write(struct queue_writer *w, const void *data, size_t len)
{
	if (fq.fail_write)
		return -1;
	buf_append(&w->data, data, len);
	return 0;
}

size_t
queue_writer_size(const struct queue_writer *w)
{
	return w->data.len;
}

int
queue_writer_commit(struct queue_writer *w, char *err, size_t errlen)
{
	int rc = 0;

	if (fq.conn != NULL &&
	    strstr(buf_cstr(&fq.conn->out), "queued as") != NULL)
		fq.reply_before_commit = true;
	if (fq.fail_commit) {
		snprintf(err, errlen, "fake commit failure");
		rc = -1;
	} else {
		fq.commits++;
		buf_reset(&fq.committed);
		buf_append(&fq.committed, w->data.data, w->data.len);
		snprintf(fq.sender, sizeof(fq.sender), "%s", w->env->sender);
		fq.nrcpts = w->env->nrcpts;
		for (size_t i = 0; i < w->env->nrcpts && i < 4; i++) {
			snprintf(fq.rcpt[i], sizeof(fq.rcpt[i]), "%s",
				 w->env->rcpts[i].address);
			snprintf(fq.orig[i], sizeof(fq.orig[i]), "%s",
				 w->env->rcpts[i].orig);
		}
		fq.smtputf8 = w->env->smtputf8;
		fq.body_8bit = w->env->body_8bit;
	}
	buf_free(&w->data);
	free(w);
	return rc;
}

/* The fake commits in the second half, with no replication reply to
 * wait for. */
void
queue_commit_start(struct queue_commit *v, size_t n, bool use_syncfs)
{
}

int
queue_commit_fd(void)
{
	return -1;
}

void
queue_commit_finish(struct queue_commit *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		v[i].error = queue_writer_commit(v[i].writer, v[i].reason,
						 sizeof(v[i].reason));
		v[i].writer = NULL;
	}
}

void
queue_writer_abort(struct queue_writer *w)
{
	fq.aborts++;
	buf_free(&w->data);
	free(w);
}

/* ---- session harness ---- */

struct harness {
	struct cfg cfg;
	struct worker wk;
	struct conn c;
};

static int
setup(void **state)
{
	struct harness *h = xcalloc(1, sizeof(*h));

	buf_free(&fq.committed);
	memset(&fq, 0, sizeof(fq));
	fake_tls_cert = false;
	cfg_defaults(&h->cfg);
	free(h->cfg.hostname);
	h->cfg.hostname = xstrdup("mx.example.test");
	h->cfg.message_size_limit = 4096;
	h->cfg.recipient_limit = 3;
	h->cfg.smtp_line_limit = 512;
	h->cfg.smtp_error_limit = 20;
	h->wk.cfg = &h->cfg;
	h->c.id = 1;
	h->c.worker = &h->wk;
	h->c.ops = &smtp_ops;
	snprintf(h->c.peer_ip, sizeof(h->c.peer_ip), "192.0.2.7");
	buf_init(&h->c.in);
	buf_init(&h->c.out);
	fq.conn = &h->c;
	*state = h;
	return 0;
}

static int
teardown(void **state)
{
	struct harness *h = *state;

	h->c.ops->free(&h->c);
	buf_free(&h->c.in);
	buf_free(&h->c.out);
	cfg_free(&h->cfg);
	buf_free(&fq.committed);
	free(h);
	return 0;
}

/* Starts the session and drops the greeting. */
static struct conn *
start(void **state)
{
	struct harness *h = *state;

	h->c.ops->start(&h->c);
	assert_string_equal(buf_cstr(&h->c.out),
			    "220 mx.example.test ESMTP hapost\r\n");
	buf_reset(&h->c.out);
	return &h->c;
}

static void
feed_bytes(struct conn *c, const void *data, size_t len)
{
	buf_append(&c->in, data, len);
	c->ops->input(c);
}

/* Sends input and checks that the replies are exactly expected. */
static void
expect(struct conn *c, const char *input, const char *expected)
{
	feed_bytes(c, input, strlen(input));
	assert_string_equal(buf_cstr(&c->out), expected);
	buf_reset(&c->out);
}

#define EHLO_REPLY                                                             \
	"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 4096\r\n"           \
	"250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n"          \
	"250 SMTPUTF8\r\n"

static void
greeting_and_ehlo_keywords(void **state)
{
	struct conn *c = start(state);
	struct harness *h = *state;

	expect(c, "EHLO client.example\r\n", EHLO_REPLY);
	h->cfg.smtp_vrfy = true;
	feed_bytes(c, "EHLO client.example\r\n", 21);
	assert_non_null(strstr(buf_cstr(&c->out), "250-VRFY\r\n"));
	buf_reset(&c->out);
	expect(c, "HELO client.example\r\n", "250 mx.example.test\r\n");
	expect(c, "EHLO\r\n", "501 5.5.4 Syntax: EHLO hostname\r\n");
	expect(c, "HELO a b\r\n", "501 5.5.4 Syntax: HELO hostname\r\n");
}

static void
simple_commands_replies(void **state)
{
	struct conn *c = start(state);
	struct harness *h = *state;

	expect(c, "NOOP\r\n", "250 2.0.0 Ok\r\n");
	expect(c, "noop anything\r\n", "250 2.0.0 Ok\r\n");
	expect(c, "RSET\r\n", "250 2.0.0 Ok\r\n");
	expect(c, "RSET x\r\n", "501 5.5.4 Syntax: RSET\r\n");
	expect(c, "VRFY alice\r\n", "502 5.5.1 VRFY command is disabled\r\n");
	expect(c, "EXPN list\r\n",
	       "502 5.5.1 Error: command not implemented\r\n");
	expect(c, "XYZZY\r\n", "500 5.5.2 Error: command unrecognized\r\n");
	h->cfg.smtp_vrfy = true;
	feed_bytes(c, "VRFY alice\r\n", 12);
	assert_memory_equal(buf_cstr(&c->out), "252 2.0.0 ", 10);
	buf_reset(&c->out);
	feed_bytes(c, "HELP\r\n", 6);
	assert_memory_equal(buf_cstr(&c->out), "214 2.0.0 ", 10);
	buf_reset(&c->out);
	expect(c, "QUIT\r\n", "221 2.0.0 Bye\r\n");
	assert_true(c->closing);
}

static void
out_of_order_commands_rejected(void **state)
{
	struct conn *c = start(state);

	expect(c, "MAIL FROM:<a@b.example>\r\n",
	       "503 5.5.1 Error: send HELO/EHLO first\r\n");
	expect(c, "EHLO client.example\r\n", EHLO_REPLY);
	expect(c, "RCPT TO:<alice@example.test>\r\n",
	       "503 5.5.1 Error: need MAIL command\r\n");
	expect(c, "DATA\r\n", "503 5.5.1 Error: need MAIL command\r\n");
	expect(c, "MAIL FROM:<a@b.example>\r\n", "250 2.1.0 Ok\r\n");
	expect(c, "MAIL FROM:<a@b.example>\r\n",
	       "503 5.5.1 Error: nested MAIL command\r\n");
	expect(c, "DATA\r\n", "554 5.5.1 Error: no valid recipients\r\n");
	expect(c, "RSET\r\n", "250 2.0.0 Ok\r\n");
	expect(c, "RCPT TO:<alice@example.test>\r\n",
	       "503 5.5.1 Error: need MAIL command\r\n");
}

static void
message_queued_after_commit(void **state)
{
	struct conn *c = start(state);
	const char *msg;

	expect(c, "EHLO client.example\r\n", EHLO_REPLY);
	expect(c, "MAIL FROM:<sender@remote.example>\r\n", "250 2.1.0 Ok\r\n");
	expect(c, "RCPT TO:<Alice@Example.Test>\r\n", "250 2.1.5 Ok\r\n");
	expect(c, "DATA\r\n", "354 End data with <CR><LF>.<CR><LF>\r\n");
	assert_int_equal(fq.opens, 1);
	expect(c, "Subject: hi\r\n\r\n..leading dot\r\n", "");
	expect(c, ".\r\n", "250 2.0.0 Ok: queued as 0000000000000001\r\n");
	assert_int_equal(fq.commits, 1);
	assert_false(fq.reply_before_commit);

	msg = buf_cstr(&fq.committed);
	assert_memory_equal(msg,
			    "Received: from client.example ([192.0.2.7])"
			    "\r\n\tby mx.example.test (hapost) with ESMTP "
			    "id 0000000000000001\r\n\tfor "
			    "<Alice@Example.Test>; ",
			    strlen("Received: from client.example ([192.0.2.7])"
				   "\r\n\tby mx.example.test (hapost) with "
				   "ESMTP id 0000000000000001\r\n\tfor "
				   "<Alice@Example.Test>; "));
	assert_non_null(strstr(msg, "\r\nSubject: hi\r\n\r\n.leading dot\r\n"));
	assert_int_equal(msg[strlen(msg) - 1], '\n');
	assert_null(strstr(msg, "\r\n.\r\n"));
	assert_string_equal(fq.sender, "sender@remote.example");
	assert_int_equal(fq.nrcpts, 1);
	assert_string_equal(fq.rcpt[0], "alice@example.test");
	assert_string_equal(fq.orig[0], "Alice@Example.Test");

	/* The session goes on with a new transaction. */
	expect(c, "MAIL FROM:<>\r\n", "250 2.1.0 Ok\r\n");
}

static void
commit_failure_not_acknowledged(void **state)
{
	struct conn *c = start(state);

	fq.fail_commit = true;
	expect(c,
	       "EHLO client.example\r\nMAIL FROM:<>\r\n"
	       "RCPT TO:<bob@example.test>\r\nDATA\r\n",
	       EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
			  "354 End data with <CR><LF>.<CR><LF>\r\n");
	expect(c, "x\r\n.\r\n", "451 4.3.0 Error: queue file write error\r\n");
	assert_int_equal(fq.commits, 0);
}

static void
queue_open_failure_no_354(void **state)
{
	struct conn *c = start(state);

	fq.fail_open = true;
	expect(c,
	       "EHLO client.example\r\nMAIL FROM:<>\r\n"
	       "RCPT TO:<bob@example.test>\r\nDATA\r\n",
	       EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
			  "451 4.3.0 Error: queue file write error\r\n");
	expect(c, "NOOP\r\n", "250 2.0.0 Ok\r\n");
}

static void
queue_write_failure_not_acknowledged(void **state)
{
	struct conn *c = start(state);

	expect(c,
	       "EHLO client.example\r\nMAIL FROM:<>\r\n"
	       "RCPT TO:<bob@example.test>\r\nDATA\r\n",
	       EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
			  "354 End data with <CR><LF>.<CR><LF>\r\n");
	fq.fail_write = true;
	expect(c, "x\r\n.\r\n", "451 4.3.0 Error: queue file write error\r\n");
	assert_int_equal(fq.commits, 0);
	assert_int_equal(fq.aborts, 1);
}

static void
recipient_results_mapped(void **state)
{
	struct conn *c = start(state);

	expect(c, "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n",
	       EHLO_REPLY "250 2.1.0 Ok\r\n");
	expect(c, "RCPT TO:<nobody@example.test>\r\n",
	       "550 5.1.1 Error: mailbox unavailable: user unknown\r\n");
	expect(c, "RCPT TO:<someone@elsewhere.example>\r\n",
	       "554 5.7.1 Error: relay access denied\r\n");
	expect(c, "RCPT TO:<tempfail@example.test>\r\n",
	       "451 4.3.0 Error: recipient lookup failed; try again "
	       "later\r\n");
	expect(c, "RCPT TO:<bad address@example.test>\r\n",
	       "501 5.1.3 Error: bad recipient address syntax\r\n");
	expect(c, "RCPT alice@example.test\r\n",
	       "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
	expect(c, "RCPT TO:<alice@example.test> NOTIFY=NEVER\r\n",
	       "555 5.5.4 Error: unsupported RCPT parameter\r\n");
	expect(c, "RCPT TO:<Postmaster>\r\n", "250 2.1.5 Ok\r\n");
	expect(c, "RCPT TO:<@relay.example:bob@example.test>\r\n",
	       "250 2.1.5 Ok\r\n");
}

static void
alias_and_account_deduplicated(void **state)
{
	struct conn *c = start(state);

	expect(c,
	       "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n"
	       "RCPT TO:<postmaster@example.test>\r\n"
	       "RCPT TO:<alice@example.test>\r\nDATA\r\nx\r\n.\r\n",
	       EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
			  "354 End data with <CR><LF>.<CR><LF>\r\n"
			  "250 2.0.0 Ok: queued as 0000000000000001\r\n");
	assert_int_equal(fq.nrcpts, 1);
	assert_string_equal(fq.rcpt[0], "alice@example.test");
	assert_string_equal(fq.orig[0], "postmaster@example.test");
	/* Two RCPTs: the Received: header names neither. */
	assert_null(strstr(buf_cstr(&fq.committed), "\tfor <"));
}

static void
recipient_limit_enforced(void **state)
{
	struct conn *c = start(state);

	expect(c,
	       "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n"
	       "RCPT TO:<alice@example.test>\r\n"
	       "RCPT TO:<bob@example.test>\r\n"
	       "RCPT TO:<alice@example.test>\r\n"
	       "RCPT TO:<bob@example.test>\r\n",
	       EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
			  "250 2.1.5 Ok\r\n"
			  "452 4.5.3 Error: too many recipients\r\n");
}

static void
mail_parameters_checked(void **state)
{
	struct conn *c = start(state);

	expect(c, "HELO c.example\r\n", "250 mx.example.test\r\n");
	expect(c, "MAIL FROM:<a@b.example> SIZE=10\r\n",
	       "555 5.5.4 Error: MAIL parameters need EHLO\r\n");
	expect(c, "EHLO c.example\r\n", EHLO_REPLY);
	expect(c, "MAIL FROM:<a@b.example> SIZE=4097\r\n",
	       "552 5.3.4 Error: message size exceeds fixed limit\r\n");
	expect(c, "MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n",
	       "555 5.5.4 Error: unsupported MAIL parameter\r\n");
	expect(c, "MAIL FROM:<a@b.example> FOO=BAR\r\n",
	       "555 5.5.4 Error: unsupported MAIL parameter\r\n");
	expect(c, "MAIL FROM:<a@b.example> SIZE=x\r\n",
	       "501 5.5.4 Error: invalid MAIL parameter value\r\n");
	expect(c, "MAIL FROM:<a@b.example>SIZE=1\r\n",
	       "501 5.5.4 Error: invalid MAIL parameter syntax\r\n");
	expect(c, "MAIL FROM:a@b.example\r\n",
	       "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
	expect(c, "MAIL FROM:<a@@b>\r\n",
	       "501 5.1.7 Error: bad sender address syntax\r\n");
	expect(c, "MAIL FROM:<a@b.example> SIZE=4096 BODY=8BITMIME\r\n",
	       "250 2.1.0 Ok\r\n");
}

static void
utf8_addresses_need_smtputf8(void **state)
{
	struct conn *c = start(state);

	expect(c, "EHLO c.example\r\n", EHLO_REPLY);
	expect(c, "MAIL FROM:<j\xc3\xb8rn@b.example>\r\n",
	       "553 5.6.7 Error: non-ASCII address requires SMTPUTF8\r\n");
	expect(c, "MAIL FROM:<j\xc3\xb8rn@b.example> SMTPUTF8\r\n",
	       "250 2.1.0 Ok\r\n");
	expect(c, "RCPT TO:<bob@example.test>\r\nDATA\r\nx\r\n.\r\n",
	       "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
	       "250 2.0.0 Ok: queued as 0000000000000001\r\n");
	assert_true(fq.smtputf8);
	assert_non_null(strstr(buf_cstr(&fq.committed), "with UTF8SMTP id"));
}

static void
oversized_message_read_and_rejected(void **state)
{
	struct conn *c = start(state);
	char line[102];

	memset(line, 'x', 100);
	memcpy(line + 100, "\r\n", 2);
	expect(c,
	       "EHLO c.example\r\nMAIL FROM:<>\r\n"
	       "RCPT TO:<bob@example.test>\r\nDATA\r\n",
	       EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
			  "354 End data with <CR><LF>.<CR><LF>\r\n");
	for (int i = 0; i < 50; i++)
		feed_bytes(c, line, sizeof(line));
	assert_int_equal(c->out.len, 0);
	assert_int_equal(fq.aborts, 1);
	expect(c, ".\r\n",
	       "552 5.3.4 Error: message size exceeds fixed limit\r\n");
	assert_int_equal(fq.commits, 0);
	expect(c, "NOOP\r\n", "250 2.0.0 Ok\r\n");
}

static void
flawed_content_never_stored(void **state)
{
	static const struct {
		const char *content;
		size_t len;
		const char *reply;
	} cases[] = {
	    {"a\nb\r\n.\r\n", 8,
	     "550 5.5.2 Error: bare <LF> received; lines must end with "
	     "<CR><LF>\r\n"},
	    {"a\rb\r\n.\r\n", 8,
	     "550 5.5.2 Error: bare <CR> received; lines must end with "
	     "<CR><LF>\r\n"},
	    {"a\0b\r\n.\r\n", 8,
	     "554 5.6.0 Error: message contains a NUL byte\r\n"},
	};
	struct conn *c = start(state);

	expect(c, "EHLO c.example\r\n", EHLO_REPLY);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		expect(c,
		       "MAIL FROM:<>\r\nRCPT TO:<bob@example.test>\r\n"
		       "DATA\r\n",
		       "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		       "354 End data with <CR><LF>.<CR><LF>\r\n");
		feed_bytes(c, cases[i].content, cases[i].len);
		assert_string_equal(buf_cstr(&c->out), cases[i].reply);
		buf_reset(&c->out);
	}
	assert_int_equal(fq.commits, 0);
	assert_int_equal(fq.aborts, 3);
}

static void
long_data_line_rejected(void **state)
{
	struct conn *c = start(state);
	char line[600];

	memset(line, 'y', sizeof(line));
	expect(c,
	       "EHLO c.example\r\nMAIL FROM:<>\r\n"
	       "RCPT TO:<bob@example.test>\r\nDATA\r\n",
	       EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
			  "354 End data with <CR><LF>.<CR><LF>\r\n");
	feed_bytes(c, line, sizeof(line));
	expect(c, "\r\n.\r\n",
	       "554 5.6.0 Error: message contains a line longer than the "
	       "limit\r\n");
	assert_int_equal(fq.commits, 0);
}

static void
hostile_command_lines_answered(void **state)
{
	struct conn *c = start(state);

	expect(c, "NOOP\n",
	       "500 5.5.2 Error: bare <LF> in command line; "
	       "lines must end with <CR><LF>\r\n");
	expect(c, "NO\rOP\r\n",
	       "500 5.5.2 Error: bare <CR> in command "
	       "line; lines must end with <CR><LF>\r\n");
	feed_bytes(c, "NO\0OP\r\n", 7);
	assert_string_equal(buf_cstr(&c->out),
			    "500 5.5.2 Error: NUL byte in command line\r\n");
	buf_reset(&c->out);
	expect(c, "\r\n", "500 5.5.2 Error: empty command\r\n");
	expect(c, "NOOP\r\n", "250 2.0.0 Ok\r\n");
	assert_false(c->closing);
}

static void
overlong_command_line_discarded(void **state)
{
	struct conn *c = start(state);
	char big[2000];

	memset(big, 'A', sizeof(big));
	/* Arrives in pieces without a LF: discarded as it comes. */
	feed_bytes(c, big, sizeof(big));
	assert_int_equal(c->in.len, 0);
	feed_bytes(c, big, sizeof(big));
	assert_int_equal(c->in.len, 0);
	assert_int_equal(c->out.len, 0);
	expect(c, "tail\r\nNOOP\r\n",
	       "500 5.5.6 Error: line too long\r\n250 2.0.0 Ok\r\n");

	/* A complete overlong line in one read. */
	buf_append(&c->in, big, 600);
	expect(c, "\r\nNOOP\r\n",
	       "500 5.5.6 Error: line too long\r\n250 2.0.0 Ok\r\n");

	/* 510 octets plus CRLF is exactly the limit of 512. */
	memset(big, ' ', 510);
	memcpy(big, "NOOP", 4);
	buf_append(&c->in, big, 510);
	expect(c, "\r\n", "250 2.0.0 Ok\r\n");
}

static void
pipelined_session_in_one_read(void **state)
{
	struct conn *c = start(state);

	expect(c,
	       "EHLO c.example\r\nMAIL FROM:<a@b.example>\r\n"
	       "RCPT TO:<alice@example.test>\r\n"
	       "RCPT TO:<nobody@example.test>\r\n"
	       "RCPT TO:<bob@example.test>\r\nDATA\r\n"
	       "RSET\r\nQUIT\r\n.\r\nNOOP\r\nQUIT\r\n",
	       EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
			  "550 5.1.1 Error: mailbox unavailable: user "
			  "unknown\r\n250 2.1.5 Ok\r\n"
			  "354 End data with <CR><LF>.<CR><LF>\r\n"
			  "250 2.0.0 Ok: queued as 0000000000000001\r\n"
			  "250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n");
	/* The commands after DATA's 354 were message content. */
	assert_non_null(
	    strstr(buf_cstr(&fq.committed), "\r\nRSET\r\nQUIT\r\n"));
	assert_int_equal(fq.nrcpts, 2);
	assert_true(c->closing);
}

static void
smuggled_end_of_data_is_content(void **state)
{
	struct conn *c = start(state);

	expect(c,
	       "EHLO c.example\r\nMAIL FROM:<>\r\n"
	       "RCPT TO:<bob@example.test>\r\nDATA\r\n",
	       EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
			  "354 End data with <CR><LF>.<CR><LF>\r\n");
	/* "\n.\n" must not end DATA nor start a new transaction. */
	expect(c, "x\n.\nMAIL FROM:<evil@x.example>\r\n", "");
	expect(c, ".\r\n",
	       "550 5.5.2 Error: bare <LF> received; lines must "
	       "end with <CR><LF>\r\n");
	assert_int_equal(fq.commits, 0);
}

static void
bdat_chunks_queued(void **state)
{
	struct conn *c = start(state);

	expect(c,
	       "EHLO c.example\r\nMAIL FROM:<>\r\n"
	       "RCPT TO:<bob@example.test>\r\n",
	       EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
	expect(c, "BDAT 8\r\nA: b\r\n\r\n",
	       "250 2.0.0 Ok: 8 octets received\r\n");
	/* The chunk arrives in two reads and contains a "." line. */
	expect(c, "BDAT 10 LAST\r\n.\r\n", "");
	expect(c, "..\r\nend", "250 2.0.0 Ok: queued as 0000000000000001\r\n");
	assert_non_null(strstr(buf_cstr(&fq.committed),
			       "\r\nA: b\r\n\r\n.\r\n..\r\nend\r\n"));
	assert_int_equal(fq.commits, 1);
}

static void
bdat_sequence_errors(void **state)
{
	struct conn *c = start(state);

	/* Without MAIL the chunk is still read, so it is not a command. */
	expect(c, "EHLO c.example\r\n", EHLO_REPLY);
	expect(c, "BDAT 6\r\nQUIT\r\nNOOP\r\n",
	       "503 5.5.1 Error: need MAIL command\r\n250 2.0.0 Ok\r\n");
	assert_false(c->closing);
	expect(c, "BDAT x\r\n", "501 5.5.4 Syntax: BDAT size [LAST]\r\n");
	expect(c, "MAIL FROM:<>\r\nBDAT 1\r\nx",
	       "250 2.1.0 Ok\r\n554 5.5.1 Error: no valid recipients\r\n");
	expect(c, "RCPT TO:<bob@example.test>\r\nBDAT 1\r\nx",
	       "250 2.1.5 Ok\r\n250 2.0.0 Ok: 1 octets received\r\n");
	expect(c, "DATA\r\n", "503 5.5.1 Error: DATA after BDAT\r\n");
	expect(c, "RCPT TO:<alice@example.test>\r\n",
	       "503 5.5.1 Error: RCPT after BDAT\r\n");
	expect(c, "BDAT 0 LAST\r\n",
	       "250 2.0.0 Ok: queued as 0000000000000001\r\n");
	assert_string_equal(buf_cstr(&fq.committed) +
				strlen(buf_cstr(&fq.committed)) - 3,
			    "x\r\n");
}

static void
bdat_oversized_rejected_at_last(void **state)
{
	struct conn *c = start(state);
	char chunk[3000];

	memset(chunk, 'z', sizeof(chunk));
	expect(c,
	       "EHLO c.example\r\nMAIL FROM:<>\r\n"
	       "RCPT TO:<bob@example.test>\r\nBDAT 3000\r\n",
	       EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
	feed_bytes(c, chunk, sizeof(chunk));
	assert_string_equal(buf_cstr(&c->out),
			    "250 2.0.0 Ok: 3000 octets received\r\n");
	buf_reset(&c->out);
	expect(c, "BDAT 3000 LAST\r\n", "");
	feed_bytes(c, chunk, sizeof(chunk));
	assert_string_equal(buf_cstr(&c->out), "552 5.3.4 Error: message size "
					       "exceeds fixed limit\r\n");
	assert_int_equal(fq.commits, 0);
}

static void
error_limit_closes_session(void **state)
{
	struct harness *h = *state;
	struct conn *c = start(state);

	/* The limit is 5: the sixth error ends the session. */
	h->cfg.smtp_error_limit = 5;
	for (int i = 0; i < 5; i++)
		expect(c, "BOGUS\r\n",
		       "500 5.5.2 Error: command unrecognized\r\n");
	assert_false(c->closing);
	expect(c, "BOGUS\r\nNOOP\r\n",
	       "500 5.5.2 Error: command unrecognized\r\n"
	       "421 4.7.0 mx.example.test Error: too many errors\r\n");
	assert_true(c->closing);
}

static void
error_count_reset_by_delivery(void **state)
{
	struct harness *h = *state;
	struct conn *c = start(state);

	h->cfg.smtp_error_limit = 5;
	for (int i = 0; i < 5; i++)
		expect(c, "BOGUS\r\n",
		       "500 5.5.2 Error: command unrecognized\r\n");
	expect(c,
	       "EHLO c.example\r\nMAIL FROM:<>\r\n"
	       "RCPT TO:<bob@example.test>\r\nDATA\r\nx\r\n.\r\n",
	       EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
			  "354 End data with <CR><LF>.<CR><LF>\r\n"
			  "250 2.0.0 Ok: queued as 0000000000000001\r\n");
	for (int i = 0; i < 5; i++)
		expect(c, "BOGUS\r\n",
		       "500 5.5.2 Error: command unrecognized\r\n");
	assert_false(c->closing);
}

static void
idle_timeout_aborts_transaction(void **state)
{
	struct conn *c = start(state);

	expect(c,
	       "EHLO c.example\r\nMAIL FROM:<>\r\n"
	       "RCPT TO:<bob@example.test>\r\nDATA\r\npartial\r\n",
	       EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
			  "354 End data with <CR><LF>.<CR><LF>\r\n");
	c->ops->timeout(c);
	assert_string_equal(buf_cstr(&c->out),
			    "421 4.4.2 mx.example.test Error: timeout "
			    "exceeded\r\n");
	assert_true(c->closing);
	assert_int_equal(fq.aborts, 1);
	assert_int_equal(fq.commits, 0);
}

static void
shutdown_aborts_transaction(void **state)
{
	struct conn *c = start(state);

	expect(c,
	       "EHLO c.example\r\nMAIL FROM:<>\r\n"
	       "RCPT TO:<bob@example.test>\r\nBDAT 100\r\nabc",
	       EHLO_REPLY "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n");
	c->ops->shutdown(c);
	assert_string_equal(buf_cstr(&c->out),
			    "421 4.3.2 mx.example.test Service shutting "
			    "down\r\n");
	assert_true(c->closing);
	assert_int_equal(fq.aborts, 1);
	assert_int_equal(fq.commits, 0);
}

static void
output_backlog_pauses_input(void **state)
{
	struct conn *c = start(state);
	struct buf many = BUF_INIT;
	size_t left;

	for (int i = 0; i < 6000; i++)
		buf_puts(&many, "NOOP\r\n");
	feed_bytes(c, many.data, many.len);
	assert_true(c->read_paused);
	assert_true(c->in.len > 0);
	left = c->in.len;

	/* The client reads its replies; input resumes where it stopped. */
	buf_reset(&c->out);
	c->ops->drained(c);
	assert_false(c->read_paused);
	c->ops->input(c);
	assert_int_equal(c->in.len, 0);
	assert_int_equal(c->out.len, left / 6 * strlen("250 2.0.0 Ok\r\n"));
	buf_free(&many);
}

static void
submission_same_engine(void **state)
{
	struct harness *h = *state;
	struct conn *c = &h->c;

	c->ops = &submission_ops;
	c->ops->start(c);
	assert_string_equal(buf_cstr(&c->out),
			    "220 mx.example.test ESMTP hapost\r\n");
	buf_reset(&c->out);
	expect(c,
	       "EHLO c.example\r\nMAIL FROM:<>\r\n"
	       "RCPT TO:<x@elsewhere.example>\r\n",
	       EHLO_REPLY "250 2.1.0 Ok\r\n"
			  "554 5.7.1 Error: relay access denied\r\n");
}

static void
starttls_offered_and_state_reset(void **state)
{
	struct conn *c = start(state);

	fake_tls_cert = true;
	feed_bytes(c, "EHLO client.example\r\n", 21);
	assert_non_null(strstr(buf_cstr(&c->out), "250-STARTTLS\r\n"));
	buf_reset(&c->out);
	expect(c, "MAIL FROM:<a@remote.example>\r\n", "250 2.1.0 Ok\r\n");
	expect(c, "STARTTLS\r\nRCPT TO:<alice@example.test>\r\n",
	       "220 2.0.0 Ready to start TLS\r\n");
	assert_int_equal(c->tls, CONN_TLS_ON);
	assert_int_equal(c->in.len, 0);
	/* The plain-text EHLO and MAIL are forgotten. */
	expect(c, "MAIL FROM:<a@remote.example>\r\n",
	       "503 5.5.1 Error: send HELO/EHLO first\r\n");
	expect(c, "EHLO client.example\r\n", EHLO_REPLY);
	expect(c, "RCPT TO:<alice@example.test>\r\n",
	       "503 5.5.1 Error: need MAIL command\r\n");
	expect(c, "STARTTLS\r\n",
	       "503 5.5.1 Error: TLS is already active\r\n");
}

static void
starttls_refused_without_certificate(void **state)
{
	struct conn *c = start(state);

	expect(c, "EHLO client.example\r\n", EHLO_REPLY);
	expect(c, "STARTTLS\r\n",
	       "502 5.5.1 Error: command not implemented\r\n");
	fake_tls_cert = true;
	expect(c, "STARTTLS now\r\n", "501 5.5.4 Syntax: STARTTLS\r\n");
	assert_int_equal(c->tls, CONN_TLS_NONE);
}

/* Starts a submission session that is already in TLS. */
static struct conn *
start_submission_tls(void **state)
{
	struct harness *h = *state;
	struct conn *c = &h->c;

	c->ops = &submission_ops;
	c->tls = CONN_TLS_ON;
	c->ops->start(c);
	buf_reset(&c->out);
	feed_bytes(c, "EHLO client.example\r\n", 21);
	assert_non_null(strstr(buf_cstr(&c->out), "250-AUTH PLAIN LOGIN\r\n"));
	buf_reset(&c->out);
	return c;
}

static void
auth_plain_allows_relay(void **state)
{
	struct conn *c = start_submission_tls(state);

	expect(c, "MAIL FROM:<alice@example.test>\r\n"
		  "RCPT TO:<x@elsewhere.example>\r\nRSET\r\n",
	       "250 2.1.0 Ok\r\n554 5.7.1 Error: relay access denied\r\n"
	       "250 2.0.0 Ok\r\n");
	/* "\0alice@example.test\0secret" */
	expect(c, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=\r\n",
	       "235 2.7.0 Authentication successful\r\n");
	expect(c, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=\r\n",
	       "503 5.5.1 Error: already authenticated\r\n");
	expect(c,
	       "MAIL FROM:<alice@example.test>\r\n"
	       "RCPT TO:<x@elsewhere.example>\r\nDATA\r\n",
	       "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	       "354 End data with <CR><LF>.<CR><LF>\r\n");
	feed_bytes(c, "Subject: t\r\n\r\nbody\r\n.\r\n",
		   strlen("Subject: t\r\n\r\nbody\r\n.\r\n"));
	assert_int_equal(fq.commits, 1);
	assert_string_equal(fq.rcpt[0], "x@elsewhere.example");
	assert_non_null(strstr(buf_cstr(&fq.committed), "with ESMTPSA"));
}

static void
auth_login_in_steps(void **state)
{
	struct conn *c = start_submission_tls(state);

	expect(c, "AUTH LOGIN\r\n", "334 VXNlcm5hbWU6\r\n");
	/* The response lines are not commands, even "QUIT"-like ones. */
	expect(c, "YWxpY2VAZXhhbXBsZS50ZXN0\r\n", "334 UGFzc3dvcmQ6\r\n");
	expect(c, "c2VjcmV0\r\n", "235 2.7.0 Authentication successful\r\n");
}

static void
auth_exchange_errors_answered(void **state)
{
	struct conn *c = start_submission_tls(state);

	expect(c, "AUTH PLAIN\r\n", "334 \r\n");
	expect(c, "*\r\n", "501 5.7.0 Authentication cancelled\r\n");
	expect(c, "AUTH PLAIN !!!!\r\n",
	       "501 5.5.2 Invalid authentication response: response is not "
	       "valid base64\r\n");
	expect(c, "AUTH GSSAPI\r\n",
	       "504 5.5.4 Unrecognized authentication type\r\n");
	expect(c, "AUTH\r\n",
	       "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n");
	expect(c, "MAIL FROM:<a@remote.example>\r\nAUTH PLAIN\r\n",
	       "250 2.1.0 Ok\r\n503 5.5.1 Error: AUTH not permitted during "
	       "a mail transaction\r\n");
}

static void
auth_needs_tls_and_ehlo(void **state)
{
	struct harness *h = *state;
	struct conn *c = &h->c;

	c->ops = &submission_ops;
	c->ops->start(c);
	buf_reset(&c->out);
	expect(c, "AUTH PLAIN\r\n", "503 5.5.1 Error: send EHLO first\r\n");
	/* Without TLS the EHLO reply offers no AUTH. */
	expect(c, "EHLO client.example\r\n", EHLO_REPLY);
	expect(c, "AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWNyZXQ=\r\n",
	       "538 5.7.11 Encryption required for requested "
	       "authentication mechanism\r\n");
}

static void
auth_not_offered_on_port25(void **state)
{
	struct conn *c = start(state);

	c->tls = CONN_TLS_ON;
	expect(c, "EHLO client.example\r\n", EHLO_REPLY);
	expect(c, "AUTH PLAIN\r\n",
	       "502 5.5.1 Error: command not implemented\r\n");
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(greeting_and_ehlo_keywords),
	    T(simple_commands_replies),
	    T(out_of_order_commands_rejected),
	    T(message_queued_after_commit),
	    T(commit_failure_not_acknowledged),
	    T(queue_open_failure_no_354),
	    T(queue_write_failure_not_acknowledged),
	    T(recipient_results_mapped),
	    T(alias_and_account_deduplicated),
	    T(recipient_limit_enforced),
	    T(mail_parameters_checked),
	    T(utf8_addresses_need_smtputf8),
	    T(oversized_message_read_and_rejected),
	    T(flawed_content_never_stored),
	    T(long_data_line_rejected),
	    T(hostile_command_lines_answered),
	    T(overlong_command_line_discarded),
	    T(pipelined_session_in_one_read),
	    T(smuggled_end_of_data_is_content),
	    T(bdat_chunks_queued),
	    T(bdat_sequence_errors),
	    T(bdat_oversized_rejected_at_last),
	    T(error_limit_closes_session),
	    T(error_count_reset_by_delivery),
	    T(idle_timeout_aborts_transaction),
	    T(shutdown_aborts_transaction),
	    T(output_backlog_pauses_input),
	    T(submission_same_engine),
	    T(starttls_offered_and_state_reset),
	    T(starttls_refused_without_certificate),
	    T(auth_plain_allows_relay),
	    T(auth_login_in_steps),
	    T(auth_exchange_errors_answered),
	    T(auth_needs_tls_and_ehlo),
	    T(auth_not_offered_on_port25),
	};

	log_open("test-smtp-session", true);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
