/*
 * smtp_txn - the SMTP mail transaction: MAIL, RCPT, DATA, BDAT
 *
 * Recipients are resolved through the account directory when RCPT
 * arrives. At DATA (or the first BDAT chunk) a queue entry is opened, a
 * Received: header is written, and the content is decoded and streamed
 * into the entry as it arrives, so memory use does not grow with the
 * message. "250 2.0.0 Ok: queued as ID" goes out only after
 * queue_writer_commit() returned 0, that is once the entry is durable.
 *
 * Failures: a message over message_size_limit, or with a bare CR, bare
 * LF, NUL, overlong line or smtp_hop_limit Received: fields (see
 * smtp_data.c), is read to its end, never stored, and rejected with one
 * reply. A queue write or commit failure
 * gets 451 4.3.0, so the client keeps the message and retries.
 *
 * Known limits: queue_writer_commit() fsyncs inside the event loop, so
 * one slow disk stalls every session of this worker for that time. No
 * Message-ID: or Date: is added to submitted mail that lacks them.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfg.h"
#include "directory.h"
#include "log.h"
#include "smtp_session.h"
#include "worker.h"
#include "xalloc.h"

static const struct cfg *
session_cfg(const struct smtp_session *s)
{
	return s->c->worker->cfg;
}

void
smtp_txn_reset(struct smtp_session *s)
{
	if (s->qw != NULL) {
		queue_writer_abort(s->qw);
		s->qw = NULL;
	}
	for (size_t i = 0; i < s->nrcpts; i++) {
		free(s->rcpts[i].orig);
		directory_free_list(s->rcpts[i].finals, s->rcpts[i].nfinals);
	}
	free(s->rcpts);
	free(s->sender);
	free(s->env.rcpts);
	s->rcpts = NULL;
	s->nrcpts = 0;
	s->rcpt_cap = 0;
	s->sender = NULL;
	s->have_mail = false;
	memset(&s->params, 0, sizeof(s->params));
	memset(&s->env, 0, sizeof(s->env));
	s->saw_bdat = false;
	s->bdat_error = NULL;
	s->bdat_left = 0;
	s->bdat_last = false;
	s->msg_size = 0;
	s->too_big = false;
	s->write_failed = false;
	if (s->mode == SMTP_MODE_DATA || s->mode == SMTP_MODE_BDAT)
		s->mode = SMTP_MODE_COMMAND;
}

void
smtp_cmd_mail(struct smtp_session *s, const struct smtp_command *cmd)
{
	struct smtp_path_args args;
	struct smtp_mail_params params;
	struct smtp_address addr;
	unsigned flags = SMTP_PATH_ALLOW_NULL;
	size_t bad;

	if (s->helo == NULL) {
		smtp_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		return;
	}
	if (s->have_mail) {
		smtp_reply(s, "503 5.5.1 Error: nested MAIL command");
		return;
	}
	switch (smtp_split_path_args(cmd->arg, cmd->arg_len, "FROM:", &args)) {
	case SMTP_ARGS_OK:
		break;
	case SMTP_ARGS_NO_PREFIX:
	case SMTP_ARGS_NO_PATH:
		smtp_reply(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return;
	case SMTP_ARGS_BAD_PARAM:
	case SMTP_ARGS_TOO_MANY:
		smtp_reply(s, "501 5.5.4 Error: invalid MAIL parameter syntax");
		return;
	}
	if (args.nparams > 0 && !s->esmtp) {
		smtp_reply(s, "555 5.5.4 Error: MAIL parameters need EHLO");
		return;
	}
	switch (smtp_parse_mail_params(&args, &params, &bad)) {
	case SMTP_PARAM_OK:
		break;
	case SMTP_PARAM_SYNTAX:
		smtp_reply(s, "501 5.5.4 Error: invalid MAIL parameter value");
		return;
	case SMTP_PARAM_UNSUPPORTED:
		smtp_reply(s, "555 5.5.4 Error: unsupported MAIL parameter");
		return;
	}
	if (params.has_size &&
	    params.size > session_cfg(s)->message_size_limit) {
		smtp_reply(s, "552 5.3.4 Error: message size exceeds fixed "
			      "limit");
		return;
	}
	if (params.smtputf8)
		flags |= SMTP_PATH_ALLOW_UTF8;
	switch (smtp_parse_path(args.path, args.path_len, flags, &addr)) {
	case SMTP_PATH_OK:
		break;
	case SMTP_PATH_SYNTAX:
	case SMTP_PATH_TOO_LONG:
		smtp_reply(s, "501 5.1.7 Error: bad sender address syntax");
		return;
	case SMTP_PATH_NEEDS_UTF8:
		smtp_reply(s, "553 5.6.7 Error: non-ASCII address requires "
			      "SMTPUTF8");
		return;
	}
	s->have_mail = true;
	s->sender = xstrdup(addr.text);
	s->params = params;
	smtp_reply(s, "250 2.1.0 Ok");
}

/*
 * Resolves "postmaster" without a domain: the postmaster of the host name
 * when it is a local domain, else of the first local domain that has one.
 */
static enum dir_result
resolve_postmaster(struct smtp_session *s, char ***out, size_t *n)
{
	struct directory *dir = s->c->worker->dir;
	enum dir_result r = DIR_NOT_FOUND;
	char **domains = NULL;
	size_t ndomains = 0;

	if (directory_domain_is_local(dir, smtp_hostname(s))) {
		char *pm = xasprintf("postmaster@%s", smtp_hostname(s));

		r = directory_resolve_rcpt(dir, pm, out, n);
		free(pm);
		if (r == DIR_OK)
			return r;
	}
	if (directory_domain_list(dir, &domains, &ndomains) != 0)
		return DIR_TEMPFAIL;
	for (size_t i = 0; i < ndomains && r != DIR_OK; i++) {
		char *pm = xasprintf("postmaster@%s", domains[i]);

		r = directory_resolve_rcpt(dir, pm, out, n);
		free(pm);
	}
	directory_free_list(domains, ndomains);
	return r == DIR_OK || r == DIR_TEMPFAIL ? r : DIR_NOT_FOUND;
}

static void
rcpt_add(struct smtp_session *s, const char *orig, char **finals,
	 size_t nfinals)
{
	struct smtp_rcpt *r;

	if (s->nrcpts == s->rcpt_cap) {
		s->rcpt_cap = s->rcpt_cap ? s->rcpt_cap * 2 : 4;
		s->rcpts = xrealloc(s->rcpts, s->rcpt_cap * sizeof(*s->rcpts));
	}
	r = &s->rcpts[s->nrcpts++];
	r->orig = xstrdup(orig);
	r->finals = finals;
	r->nfinals = nfinals;
}

void
smtp_cmd_rcpt(struct smtp_session *s, const struct smtp_command *cmd)
{
	struct smtp_path_args args;
	struct smtp_address addr;
	unsigned flags = SMTP_PATH_ALLOW_POSTMASTER;
	char **finals = NULL;
	size_t nfinals = 0;
	enum dir_result r;

	if (!s->have_mail) {
		smtp_reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->saw_bdat) {
		smtp_reply(s, "503 5.5.1 Error: RCPT after BDAT");
		return;
	}
	switch (smtp_split_path_args(cmd->arg, cmd->arg_len, "TO:", &args)) {
	case SMTP_ARGS_OK:
		break;
	case SMTP_ARGS_NO_PREFIX:
	case SMTP_ARGS_NO_PATH:
		smtp_reply(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return;
	case SMTP_ARGS_BAD_PARAM:
	case SMTP_ARGS_TOO_MANY:
		smtp_reply(s, "501 5.5.4 Error: invalid RCPT parameter syntax");
		return;
	}
	if (args.nparams > 0) {
		smtp_reply(s, "555 5.5.4 Error: unsupported RCPT parameter");
		return;
	}
	if (s->nrcpts >= session_cfg(s)->recipient_limit) {
		smtp_reply(s, "452 4.5.3 Error: too many recipients");
		return;
	}
	if (s->params.smtputf8)
		flags |= SMTP_PATH_ALLOW_UTF8;
	switch (smtp_parse_path(args.path, args.path_len, flags, &addr)) {
	case SMTP_PATH_OK:
		break;
	case SMTP_PATH_SYNTAX:
	case SMTP_PATH_TOO_LONG:
		smtp_reply(s, "501 5.1.3 Error: bad recipient address syntax");
		return;
	case SMTP_PATH_NEEDS_UTF8:
		smtp_reply(s, "553 5.6.7 Error: non-ASCII address requires "
			      "SMTPUTF8");
		return;
	}

	if (addr.is_postmaster)
		r = resolve_postmaster(s, &finals, &nfinals);
	else
		r = directory_resolve_rcpt(s->c->worker->dir, addr.text,
					   &finals, &nfinals);
	switch (r) {
	case DIR_OK:
		rcpt_add(s, addr.text, finals, nfinals);
		smtp_reply(s, "250 2.1.5 Ok");
		break;
	case DIR_NOT_FOUND:
		smtp_reply(s, "550 5.1.1 Error: mailbox unavailable: user "
			      "unknown");
		break;
	case DIR_NOT_LOCAL:
		if (s->auth_user == NULL) {
			smtp_reply(s, "554 5.7.1 Error: relay access denied");
			break;
		}
		/* A logged-in client relays: the address goes as it is. */
		finals = xcalloc(1, sizeof(*finals));
		finals[0] = xstrdup(addr.text);
		rcpt_add(s, addr.text, finals, 1);
		smtp_reply(s, "250 2.1.5 Ok");
		break;
	case DIR_TEMPFAIL:
	default:
		smtp_reply(s, "451 4.3.0 Error: recipient lookup failed; try "
			      "again later");
		break;
	}
}

/* Builds the queue envelope, one queue recipient per distinct account. */
static void
envelope_build(struct smtp_session *s)
{
	struct queue_envelope *env = &s->env;
	size_t total = 0;

	free(env->rcpts);
	memset(env, 0, sizeof(*env));
	env->sender = s->sender;
	env->client_ip = s->c->peer_ip;
	env->helo = s->helo;
	env->auth_user = s->auth_user;
	env->body_8bit = s->params.body == SMTP_BODY_8BITMIME;
	env->smtputf8 = s->params.smtputf8;
	for (size_t i = 0; i < s->nrcpts; i++)
		total += s->rcpts[i].nfinals;
	env->rcpts = xcalloc(total ? total : 1, sizeof(*env->rcpts));
	for (size_t i = 0; i < s->nrcpts; i++) {
		for (size_t k = 0; k < s->rcpts[i].nfinals; k++) {
			char *final = s->rcpts[i].finals[k];
			bool dup = false;

			for (size_t j = 0; j < env->nrcpts && !dup; j++)
				dup = strcmp(env->rcpts[j].address, final) == 0;
			if (dup)
				continue;
			env->rcpts[env->nrcpts].address = final;
			env->rcpts[env->nrcpts].orig = s->rcpts[i].orig;
			env->nrcpts++;
		}
	}
}

/* The RFC 3848 / RFC 6531 "with" keyword of the Received: header. */
static const char *
received_protocol(const struct smtp_session *s)
{
	bool tls = conn_tls_active(s->c), auth = s->auth_user != NULL;

	if (s->params.smtputf8) {
		if (auth)
			return tls ? "UTF8SMTPSA" : "UTF8SMTPA";
		return tls ? "UTF8SMTPS" : "UTF8SMTP";
	}
	if (!s->esmtp)
		return "SMTP";
	if (auth)
		return tls ? "ESMTPSA" : "ESMTPA";
	return tls ? "ESMTPS" : "ESMTP";
}

/* Formats t as an RFC 5322 date-time, independent of the C locale. */
static void
format_date(time_t t, char *out, size_t outlen)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed",
					   "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
					     "May", "Jun", "Jul", "Aug",
					     "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	long off;

	localtime_r(&t, &tm);
	off = tm.tm_gmtoff / 60;
	snprintf(out, outlen, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld",
		 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}

/* Copies the HELO name, replacing what could break the header syntax. */
static void
helo_for_header(const char *helo, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; helo[i] != '\0' && i + 1 < outlen; i++) {
		unsigned char ch = (unsigned char)helo[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr(".-_:[]", ch) != NULL)
			out[i] = (char)ch;
		else
			out[i] = '_';
	}
	out[i] = '\0';
}

static int
write_received(struct smtp_session *s)
{
	char date[64], helo[SMTP_DOMAIN_MAX + 1];
	struct buf h = BUF_INIT;
	const char *ip = s->c->peer_ip;
	int rc;

	format_date(time(NULL), date, sizeof(date));
	helo_for_header(s->helo, helo, sizeof(helo));
	buf_printf(&h, "Received: from %s ([%s%s])\r\n", helo,
		   strchr(ip, ':') != NULL ? "IPv6:" : "", ip);
	buf_printf(&h, "\tby %s (hapost) with %s id %s", smtp_hostname(s),
		   received_protocol(s), s->env.id);
	/* Naming the recipient is safe only when there is one. */
	if (s->nrcpts == 1 && strpbrk(s->rcpts[0].orig, "\"<>;") == NULL)
		buf_printf(&h, "\r\n\tfor <%s>", s->rcpts[0].orig);
	buf_printf(&h, "; %s\r\n", date);
	rc = queue_writer_write(s->qw, h.data, h.len);
	buf_free(&h);
	return rc;
}

/* Opens the queue entry and writes the Received: header. */
static bool
message_open(struct smtp_session *s)
{
	char err[256];

	envelope_build(s);
	s->qw = queue_writer_open(session_cfg(s)->data_dir, &s->env, err,
				  sizeof(err));
	if (s->qw == NULL) {
		log_error("conn=%lu queue_writer_open failed: %s", s->c->id,
			  err);
		return false;
	}
	if (write_received(s) != 0) {
		log_error("conn=%lu queue write failed for %s", s->c->id,
			  s->env.id);
		queue_writer_abort(s->qw);
		s->qw = NULL;
		return false;
	}
	s->msg_size = 0;
	s->too_big = false;
	s->write_failed = false;
	return true;
}

void
smtp_cmd_data(struct smtp_session *s, const struct smtp_command *cmd)
{
	if (cmd->arg_len > 0) {
		smtp_reply(s, "501 5.5.4 Syntax: DATA");
		return;
	}
	if (!s->have_mail) {
		smtp_reply(s, "503 5.5.1 Error: need MAIL command");
		return;
	}
	if (s->saw_bdat) {
		smtp_reply(s, "503 5.5.1 Error: DATA after BDAT");
		return;
	}
	if (s->nrcpts == 0) {
		smtp_reply(s, "554 5.5.1 Error: no valid recipients");
		return;
	}
	if (!message_open(s)) {
		smtp_reply(s, "451 4.3.0 Error: queue file write error");
		return;
	}
	smtp_data_init(&s->dec, true, session_cfg(s)->smtp_line_limit);
	s->dec.hop_limit = session_cfg(s)->smtp_hop_limit;
	s->mode = SMTP_MODE_DATA;
	conn_puts(s->c, "354 End data with <CR><LF>.<CR><LF>\r\n");
}

/* Counts decoded content and writes it to the queue entry if storing. */
static void
content_store(struct smtp_session *s)
{
	s->msg_size += s->decoded.len;
	if (s->msg_size > session_cfg(s)->message_size_limit)
		s->too_big = true;
	if (s->qw == NULL)
		return;
	if (s->too_big || s->dec.flaws != 0) {
		/* This message will be rejected: stop storing it now. */
		queue_writer_abort(s->qw);
		s->qw = NULL;
		return;
	}
	if (s->decoded.len > 0 &&
	    queue_writer_write(s->qw, s->decoded.data, s->decoded.len) != 0) {
		log_error("conn=%lu queue write failed for %s", s->c->id,
			  s->env.id);
		queue_writer_abort(s->qw);
		s->qw = NULL;
		s->write_failed = true;
	}
}

static void
message_commit(struct smtp_session *s)
{
	char sender[256], helo[128], *line;

	log_printable(sender, sizeof(sender), s->sender, strlen(s->sender));
	log_printable(helo, sizeof(helo), s->helo, strlen(s->helo));
	line = xasprintf("from=<%s> size=%zu nrcpt=%zu proto=%s helo=%s",
			 sender, queue_writer_size(s->qw), s->env.nrcpts,
			 received_protocol(s), helo);
	smtp_commit_message(s, line);
	free(line);
}

/* Sends the one reply for a finished DATA or BDAT LAST message. */
static void
message_finish(struct smtp_session *s)
{
	const char *flaw = smtp_data_flaw_reply(s->dec.flaws);

	s->mode = SMTP_MODE_COMMAND;
	if (s->dec.flaws & SMTP_DATA_TOO_MANY_HOPS) {
		char sender[256];

		log_printable(sender, sizeof(sender), s->sender,
			      strlen(s->sender));
		log_notice("conn=%lu rejected a message from <%s> with %u "
			   "Received: header fields (smtp_hop_limit %u): "
			   "mail loop",
			   s->c->id, sender, s->dec.hops, s->dec.hop_limit);
	}
	if (s->too_big)
		smtp_reply(s, "552 5.3.4 Error: message size exceeds fixed "
			      "limit");
	else if (flaw != NULL)
		smtp_reply(s, "%s", flaw);
	else if (s->write_failed || s->qw == NULL)
		smtp_reply(s, "451 4.3.0 Error: queue file write error");
	else
		message_commit(s);
	smtp_txn_reset(s);
}

void
smtp_cmd_bdat(struct smtp_session *s, const struct smtp_command *cmd)
{
	uint64_t size;
	bool last;

	if (!smtp_parse_bdat(cmd->arg, cmd->arg_len, &size, &last)) {
		smtp_reply(s, "501 5.5.4 Syntax: BDAT size [LAST]");
		return;
	}
	s->bdat_size = size;
	s->bdat_left = size;
	s->bdat_last = last;
	s->bdat_error = NULL;
	/* RFC 3030: a chunk is read in full even when it is rejected. */
	if (!s->have_mail) {
		s->bdat_error = "503 5.5.1 Error: need MAIL command";
	} else if (s->nrcpts == 0) {
		s->bdat_error = "554 5.5.1 Error: no valid recipients";
	} else if (!s->saw_bdat) {
		if (message_open(s)) {
			smtp_data_init(&s->dec, false,
				       session_cfg(s)->smtp_line_limit);
			s->dec.hop_limit = session_cfg(s)->smtp_hop_limit;
			s->saw_bdat = true;
		} else {
			s->bdat_error = "451 4.3.0 Error: queue file write "
					"error";
		}
	}
	s->mode = SMTP_MODE_BDAT;
	if (size == 0)
		smtp_txn_input(s, "", 0);
}

/* Replies to a BDAT chunk that has been read in full. */
static void
bdat_chunk_done(struct smtp_session *s)
{
	s->mode = SMTP_MODE_COMMAND;
	if (s->bdat_error != NULL) {
		const char *reply = s->bdat_error;

		/* A failed queue entry ends the transaction: later chunks
		 * get 503 until a new MAIL. */
		if (reply[0] == '4')
			smtp_txn_reset(s);
		smtp_reply(s, "%s", reply);
		return;
	}
	if (!s->bdat_last) {
		smtp_reply(s, "250 2.0.0 Ok: %" PRIu64 " octets received",
			   s->bdat_size);
		return;
	}
	buf_reset(&s->decoded);
	smtp_data_finish(&s->dec, &s->decoded);
	content_store(s);
	message_finish(s);
}

size_t
smtp_txn_input(struct smtp_session *s, const char *in, size_t len)
{
	size_t n;

	if (s->mode == SMTP_MODE_DATA) {
		buf_reset(&s->decoded);
		n = smtp_data_decode(&s->dec, in, len, &s->decoded);
		content_store(s);
		if (smtp_data_done(&s->dec))
			message_finish(s);
		return n;
	}

	n = len < s->bdat_left ? len : (size_t)s->bdat_left;
	if (s->bdat_error == NULL && n > 0) {
		buf_reset(&s->decoded);
		smtp_data_decode(&s->dec, in, n, &s->decoded);
		content_store(s);
	}
	s->bdat_left -= n;
	if (s->bdat_left == 0)
		bdat_chunk_done(s);
	return n;
}
