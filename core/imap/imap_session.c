/*
 * imap_session - the IMAP4rev1 connection state machine (imap_ops)
 *
 * Input runs through imap_frame, which gathers one whole command (line
 * plus literals) into s->cmd; the command is then parsed and dispatched
 * from the table below, which also states in which states a command is
 * allowed and whether it may carry untagged updates. A command that
 * cannot finish at once (FETCH streaming output, the delayed NO of a
 * failed LOGIN) marks the session busy and pauses reading; pipelined
 * commands stay in c->in until it is done. IDLE keeps reading and waits
 * for its DONE line.
 *
 * Output back-pressure: after each command, when more than
 * IMAP_OUT_HIGH bytes wait in c->out, reading pauses until they drain.
 *
 * Failures: client errors get BAD (syntax, wrong state) or NO (the
 * operation failed); imap_error_limit BAD replies in a row end the
 * session with BYE, as do auth_failure_limit failed logins.
 */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "imap_cache.h"
#include "imap_names.h"
#include "imap_session.h"
#include "log.h"
#include "repl_write.h"
#include "worker.h"
#include "xalloc.h"

#define IMAP_OUT_HIGH (256 * 1024)

struct imap_command {
	const char *name;
	imap_cmd_fn fn;
	unsigned states;
	enum imap_updates updates;
};

#define ANY (IMAP_NOT_AUTHENTICATED | IMAP_AUTHENTICATED | IMAP_SELECTED)
#define AUTH (IMAP_AUTHENTICATED | IMAP_SELECTED)
#define SEL IMAP_SELECTED

static const struct imap_command commands[] = {
	{"CAPABILITY", imap_cmd_capability, ANY, IMAP_UPDATES_ALL},
	{"NOOP", imap_cmd_noop, ANY, IMAP_UPDATES_ALL},
	{"LOGOUT", imap_cmd_logout, ANY, IMAP_UPDATES_NONE},
	{"ID", imap_cmd_id, ANY, IMAP_UPDATES_ALL},
	{"LOGIN", imap_cmd_login, IMAP_NOT_AUTHENTICATED, IMAP_UPDATES_NONE},
	{"AUTHENTICATE", imap_cmd_authenticate, IMAP_NOT_AUTHENTICATED,
	 IMAP_UPDATES_NONE},
	{"STARTTLS", imap_cmd_starttls, IMAP_NOT_AUTHENTICATED,
	 IMAP_UPDATES_NONE},
	{"NAMESPACE", imap_cmd_namespace, AUTH, IMAP_UPDATES_ALL},
	{"SELECT", imap_cmd_select, AUTH, IMAP_UPDATES_NONE},
	{"EXAMINE", imap_cmd_examine, AUTH, IMAP_UPDATES_NONE},
	{"CREATE", imap_cmd_create, AUTH, IMAP_UPDATES_ALL},
	{"DELETE", imap_cmd_delete, AUTH, IMAP_UPDATES_ALL},
	{"RENAME", imap_cmd_rename, AUTH, IMAP_UPDATES_ALL},
	{"SUBSCRIBE", imap_cmd_subscribe, AUTH, IMAP_UPDATES_ALL},
	{"UNSUBSCRIBE", imap_cmd_unsubscribe, AUTH, IMAP_UPDATES_ALL},
	{"LIST", imap_cmd_list, AUTH, IMAP_UPDATES_ALL},
	{"LSUB", imap_cmd_lsub, AUTH, IMAP_UPDATES_ALL},
	{"STATUS", imap_cmd_status, AUTH, IMAP_UPDATES_ALL},
	{"APPEND", imap_cmd_append, AUTH, IMAP_UPDATES_ALL},
	{"IDLE", imap_cmd_idle, AUTH, IMAP_UPDATES_ALL},
	{"CHECK", imap_cmd_check, SEL, IMAP_UPDATES_ALL},
	{"CLOSE", imap_cmd_close, SEL, IMAP_UPDATES_NONE},
	{"UNSELECT", imap_cmd_unselect, SEL, IMAP_UPDATES_NONE},
	{"EXPUNGE", imap_cmd_expunge, SEL, IMAP_UPDATES_ALL},
	{"SEARCH", imap_cmd_search, SEL, IMAP_UPDATES_NONE},
	{"FETCH", imap_cmd_fetch, SEL, IMAP_UPDATES_NONE},
	{"STORE", imap_cmd_store, SEL, IMAP_UPDATES_NONE},
	{"COPY", imap_cmd_copy, SEL, IMAP_UPDATES_ALL},
	{"MOVE", imap_cmd_move, SEL, IMAP_UPDATES_ALL},
};

/* Commands allowed after "UID"; all of them may carry updates. */
static const struct imap_command uid_commands[] = {
	{"FETCH", imap_cmd_fetch, SEL, IMAP_UPDATES_ALL},
	{"SEARCH", imap_cmd_search, SEL, IMAP_UPDATES_ALL},
	{"STORE", imap_cmd_store, SEL, IMAP_UPDATES_ALL},
	{"COPY", imap_cmd_copy, SEL, IMAP_UPDATES_ALL},
	{"MOVE", imap_cmd_move, SEL, IMAP_UPDATES_ALL},
	{"EXPUNGE", imap_cmd_expunge, SEL, IMAP_UPDATES_ALL},
};

static void run_commands(struct imap_session *s);

static void
reply(struct imap_session *s, const char *tag, const char *status,
      const char *fmt, va_list ap)
{
	struct conn *c = s->c;

	conn_printf(c, "%s %s ", tag, status);
	buf_vprintf(&c->out, fmt, ap);
	conn_puts(c, "\r\n");
}

void
imap_ok(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	if (s->updates == IMAP_UPDATES_ALL)
		imap_send_updates(s);
	s->bad_in_a_row = 0;
	va_start(ap, fmt);
	reply(s, s->tag, "OK", fmt, ap);
	va_end(ap);
}

void
imap_no(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	if (s->updates == IMAP_UPDATES_ALL)
		imap_send_updates(s);
	s->bad_in_a_row = 0;
	va_start(ap, fmt);
	reply(s, s->tag, "NO", fmt, ap);
	va_end(ap);
}

void
imap_bad(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	reply(s, s->tag ? s->tag : "*", "BAD", fmt, ap);
	va_end(ap);
	if (++s->bad_in_a_row >= s->c->worker->cfg->imap_error_limit) {
		conn_puts(s->c, "* BYE Too many invalid commands\r\n");
		conn_close(s->c, "too many invalid commands");
	}
}

void
imap_bad_parse(struct imap_session *s, struct imap_parser *p)
{
	imap_bad(s, "%s", p->error ? p->error : "Invalid arguments");
}

void
imap_log_storage_error(struct imap_session *s, const char *what,
		       const char *err)
{
	log_error("conn=%lu imap %s failed user=%s: %s", s->c->id, what,
		  s->acct.address ? s->acct.address : "-", err);
}

static void
command_cleanup(struct imap_session *s)
{
	if (s->parser_live)
		imap_parser_free(&s->parser);
	s->parser_live = false;
	free(s->tag);
	s->tag = NULL;
}

void
imap_command_async(struct imap_session *s)
{
	s->busy = true;
	conn_pause_read(s->c);
}

void
imap_command_done(struct imap_session *s)
{
	command_cleanup(s);
	if (!s->busy)
		return;
	s->busy = false;
	if (s->c->closing || s->c->dead)
		return;
	conn_resume_read(s->c);
}

void
imap_format_date_time(char out[32], time_t t)
{
	static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr",
					  "May", "Jun", "Jul", "Aug",
					  "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	int off;

	localtime_r(&t, &tm);
	off = (int)(tm.tm_gmtoff / 60) % (24 * 60);
	snprintf(out, 32, "%02d-%s-%04d %02d:%02d:%02d %c%02d%02d",
		 tm.tm_mday % 100, mon[tm.tm_mon % 12],
		 (tm.tm_year + 1900) % 10000, tm.tm_hour % 100,
		 tm.tm_min % 100, tm.tm_sec % 100, off < 0 ? '-' : '+',
		 abs(off) / 60, abs(off) % 60);
}

char *
imap_parse_mailbox_arg(struct imap_session *s, struct imap_parser *p)
{
	struct imap_string name;

	if (imap_parse_astring(p, &name) < 0) {
		imap_bad_parse(s, p);
		return NULL;
	}
	if (name.len == 0 || strlen(name.data) != name.len ||
	    !imap_mutf7_valid(name.data, name.len)) {
		imap_bad(s, "Invalid mailbox name: use modified UTF-7");
		return NULL;
	}
	return imap_mailbox_canonical(name.data);
}

bool
imap_mailbox_exists(struct imap_session *s, const char *name)
{
	char *dir = maildir_folder_dir(s->acct.maildir, name), *cur;
	struct stat st;
	bool ok;

	if (dir == NULL)
		return false;
	cur = xasprintf("%s/cur", dir);
	ok = stat(cur, &st) == 0 && S_ISDIR(st.st_mode);
	free(cur);
	free(dir);
	return ok;
}

long
imap_resolve_set(struct imap_session *s, const struct imap_seqset *set,
		 size_t **out)
{
	struct mailbox *mb = s->mb;
	struct imap_range *r;
	size_t nr, k, i, n = 0;
	size_t *v;

	/* A range with "*" is clipped to the mailbox (so "1:*" on an empty
	 * mailbox is empty), but a plain number past the end is an error. */
	for (k = 0; !s->uid && k < set->n; k++) {
		const struct imap_range *q = &set->v[k];

		if (q->lo != 0 && q->hi != 0 &&
		    (q->lo > mb->count || q->hi > mb->count)) {
			imap_bad(s, "Invalid sequence number: the mailbox "
				    "holds %zu messages",
				 mb->count);
			return -1;
		}
	}
	v = xmalloc((mb->count ? mb->count : 1) * sizeof(*v));
	if (mb->count == 0) {
		*out = v;
		return 0;
	}
	if (s->uid) {
		nr = imap_seqset_resolve(set, mb->msgs[mb->count - 1].uid, &r);
		/* Both lists ascend, so one merge pass finds the members. */
		for (i = 0, k = 0; i < mb->count && k < nr;) {
			uint32_t uid = mb->msgs[i].uid;

			if (uid < r[k].lo) {
				i++;
			} else if (uid > r[k].hi) {
				k++;
			} else {
				v[n++] = i++;
			}
		}
	} else {
		nr = imap_seqset_resolve(set, (uint32_t)mb->count, &r);
		for (k = 0; k < nr; k++)
			for (i = r[k].lo; i <= r[k].hi && i <= mb->count; i++)
				v[n++] = i - 1;
	}
	free(r);
	*out = v;
	return (long)n;
}

void
imap_send_flags(struct imap_session *s)
{
	struct mailbox *mb = s->mb;
	struct buf b = BUF_INIT;
	size_t i, used = 0;

	buf_puts(&b, "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen "
		     "\\Draft $Forwarded");
	for (i = 0; i < MAILDIR_MAX_KEYWORDS; i++) {
		if (mb->keywords[i] == NULL)
			continue;
		buf_printf(&b, " %s", mb->keywords[i]);
		used++;
	}
	buf_puts(&b, ")\r\n");
	if (s->readonly) {
		buf_puts(&b, "* OK [PERMANENTFLAGS ()] Read-only mailbox\r\n");
	} else {
		buf_puts(&b, "* OK [PERMANENTFLAGS (\\Answered \\Flagged "
			     "\\Deleted \\Seen \\Draft $Forwarded");
		for (i = 0; i < MAILDIR_MAX_KEYWORDS; i++)
			if (mb->keywords[i] != NULL)
				buf_printf(&b, " %s", mb->keywords[i]);
		buf_puts(&b, used < MAILDIR_MAX_KEYWORDS ? " \\*)]" : ")]");
		buf_puts(&b, " Flags permitted\r\n");
	}
	conn_write(s->c, b.data, b.len);
	buf_free(&b);
	s->keywords_announced = used;
}

static size_t
count_keywords(const struct mailbox *mb)
{
	size_t i, n = 0;

	for (i = 0; i < MAILDIR_MAX_KEYWORDS; i++)
		if (mb->keywords[i] != NULL)
			n++;
	return n;
}

void
imap_send_updates(struct imap_session *s)
{
	struct mailbox_changes ch = {0};
	struct mailbox *mb = s->mb;
	struct buf b = BUF_INIT;
	char err[512];
	size_t i;

	if (s->state != IMAP_SELECTED || mb == NULL)
		return;
	imap_notify_poll();
	if (!s->watcher.changed && !s->watcher.broken)
		return;
	s->watcher.changed = false;
	repl_write_reset();
	if (mailbox_sync(mb, &ch, err, sizeof(err)) < 0) {
		if (repl_write_refused()) {
			/* The view is as it was: retry with the next
			 * command rather than drop the session. */
			imap_log_storage_error(s, "sync", err);
			s->watcher.changed = true;
			return;
		}
		/* The view cannot be kept (UIDVALIDITY changed or the
		 * folder is unreadable), so the client must start over. */
		imap_log_storage_error(s, "sync", err);
		conn_puts(s->c, "* BYE The mailbox changed on disk; "
				"reconnect\r\n");
		conn_close(s->c, "mailbox sync failed");
		return;
	}
	for (i = 0; i < ch.nexpunged; i++)
		buf_printf(&b, "* %zu EXPUNGE\r\n", ch.expunged[i] + 1);
	if (count_keywords(mb) != s->keywords_announced) {
		conn_write(s->c, b.data, b.len);
		buf_reset(&b);
		imap_send_flags(s);
	}
	if (ch.nnew > 0)
		buf_printf(&b, "* %zu EXISTS\r\n* %zu RECENT\r\n", mb->count,
			   mailbox_recent_count(mb));
	for (i = 0; i < ch.nflag_changed; i++) {
		const struct maildir_msg *m = &mb->msgs[ch.flag_changed[i]];

		buf_printf(&b, "* %zu FETCH (UID %u FLAGS ",
			   ch.flag_changed[i] + 1, m->uid);
		imap_flags_format(&b, mb, m->flags,
				  mailbox_msg_recent(mb, ch.flag_changed[i]));
		buf_puts(&b, ")\r\n");
	}
	conn_write(s->c, b.data, b.len);
	buf_free(&b);
	mailbox_changes_free(&ch);
}

void
imap_deselect(struct imap_session *s)
{
	if (s->watching)
		imap_notify_remove(&s->watcher);
	s->watching = false;
	if (s->mb != NULL)
		mailbox_close(s->mb);
	s->mb = NULL;
	if (s->state == IMAP_SELECTED)
		s->state = IMAP_AUTHENTICATED;
}

static const struct imap_command *
find_command(const struct imap_command *table, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}

/* Reads the tag of a rejected command, or returns NULL. */
static char *
rejected_tag(struct imap_session *s)
{
	struct imap_parser p;
	char *tag, *out = NULL;

	imap_parser_init(&p, s->cmd.data, s->cmd.len);
	if (imap_parse_tag(&p, &tag) == 0 && imap_peek(&p) == ' ')
		out = xstrdup(tag);
	imap_parser_free(&p);
	return out;
}

static void
handle_reject(struct imap_session *s)
{
	struct conn *c = s->c;

	s->tag = rejected_tag(s);
	switch (s->frame.reject) {
	case IMAP_REJECT_LITERAL_TOO_BIG:
		log_info("conn=%lu imap literal rejected ip=%s limit=%zu",
			 c->id, c->peer_ip, c->worker->cfg->imap_literal_limit);
		if (s->tag != NULL) {
			s->updates = IMAP_UPDATES_NONE;
			imap_no(s, "[TOOBIG] Literal exceeds the limit of %zu "
				   "octets",
				c->worker->cfg->imap_literal_limit);
		} else {
			imap_bad(s, "Literal exceeds the limit of %zu octets",
				 c->worker->cfg->imap_literal_limit);
		}
		break;
	case IMAP_REJECT_LITERAL_PLUS_TOO_BIG:
		imap_bad(s, "[TOOBIG] Non-synchronizing literal exceeds the "
			    "limit of %zu octets and was discarded",
			 c->worker->cfg->imap_literal_limit);
		break;
	default:
		imap_bad(s, "Command line exceeds the limit of %zu octets",
			 c->worker->cfg->imap_line_limit);
		break;
	}
	command_cleanup(s);
}

static void
dispatch(struct imap_session *s)
{
	struct imap_parser *p = &s->parser;
	const struct imap_command *cmd;
	size_t len = s->cmd.len;
	char *tag, *name;

	/* Strip one line end only: a literal may end in CRLF too. */
	if (len > 0 && s->cmd.data[len - 1] == '\n')
		len--;
	if (len > 0 && s->cmd.data[len - 1] == '\r')
		len--;
	imap_parser_init(p, s->cmd.data, len);
	s->parser_live = true;
	s->uid = false;
	s->updates = IMAP_UPDATES_NONE;
	if (len == 0) {
		imap_bad(s, "Empty command line");
		command_cleanup(s);
		return;
	}
	if (imap_parse_tag(p, &tag) < 0 || imap_peek(p) != ' ') {
		imap_bad(s, "Invalid tag");
		command_cleanup(s);
		return;
	}
	s->tag = xstrdup(tag);
	p->p++;
	if (imap_parse_atom(p, &name) < 0) {
		imap_bad(s, "Missing command name");
		command_cleanup(s);
		return;
	}
	if (strcasecmp(name, "UID") == 0) {
		if (imap_parse_sp(p) < 0 || imap_parse_atom(p, &name) < 0) {
			imap_bad(s, "Missing UID command name");
			command_cleanup(s);
			return;
		}
		s->uid = true;
		cmd = find_command(uid_commands,
				   sizeof(uid_commands) / sizeof(*cmd), name);
	} else {
		cmd = find_command(commands, sizeof(commands) / sizeof(*cmd),
				   name);
	}
	if (cmd == NULL) {
		imap_bad(s, "Unknown command");
	} else if (!(cmd->states & s->state)) {
		imap_bad(s, s->state == IMAP_NOT_AUTHENTICATED
				    ? "Log in first"
				    : (s->state == IMAP_SELECTED ||
				       !(cmd->states & IMAP_SELECTED))
					      ? "Command not allowed now"
					      : "Select a mailbox first");
	} else {
		s->updates = cmd->updates;
		if (cmd->fn(s, p) > 0)
			return; /* async: imap_command_done() follows */
	}
	command_cleanup(s);
}

static void
run_commands(struct imap_session *s)
{
	struct conn *c = s->c;
	struct imap_frame_limits lim = {
		.line_max = c->worker->cfg->imap_line_limit,
		.literal_max = c->worker->cfg->imap_literal_limit,
	};

	/* Before login a literal can only carry a user name, a password or
	 * a SASL response, so an anonymous client cannot make the worker
	 * hold a message-sized buffer. */
	if (s->state == IMAP_NOT_AUTHENTICATED &&
	    lim.literal_max > IMAP_PREAUTH_LITERAL_MAX)
		lim.literal_max = IMAP_PREAUTH_LITERAL_MAX;

	while (!c->closing && !c->dead && !s->busy && !s->out_paused &&
	       c->in.len > 0) {
		size_t used = 0;
		enum imap_frame_result r;

		r = imap_frame_feed(&s->frame, &s->cmd, c->in.data, c->in.len,
				    &lim, &used);
		buf_consume(&c->in, used);
		switch (r) {
		case IMAP_FRAME_MORE:
			break;
		case IMAP_FRAME_CONTINUE:
			conn_puts(c, "+ Ready for literal data\r\n");
			break;
		case IMAP_FRAME_REJECT:
			imap_auth_abort(s);
			handle_reject(s);
			buf_reset(&s->cmd);
			break;
		case IMAP_FRAME_COMMAND:
			if (s->idle_tag != NULL)
				imap_idle_line(s, s->cmd.data, s->cmd.len);
			else if (s->sasl != NULL)
				imap_auth_line(s, s->cmd.data, s->cmd.len);
			else
				dispatch(s);
			buf_reset(&s->cmd);
			break;
		}
		if (c->out.len > IMAP_OUT_HIGH && !s->busy && !c->closing) {
			s->out_paused = true;
			conn_pause_read(c);
		}
	}
}

static void
delay_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct imap_session *s = w->data;

	imap_no(s, "[AUTHENTICATIONFAILED] Authentication failed");
	if (s->auth_failures >= s->c->worker->cfg->auth_failure_limit) {
		conn_puts(s->c, "* BYE Too many authentication failures\r\n");
		conn_close(s->c, "too many authentication failures");
	}
	imap_command_done(s);
}

static void
imap_start(struct conn *c)
{
	struct imap_session *s = xcalloc(1, sizeof(*s));

	s->c = c;
	s->state = IMAP_NOT_AUTHENTICATED;
	c->session = s;
	imap_frame_init(&s->frame);
	buf_init(&s->cmd);
	ev_timer_init(&s->delay, delay_cb, 0., 0.);
	s->delay.data = s;
	s->watcher.cb = imap_folder_changed;
	s->watcher.arg = s;
	conn_set_idle_timeout(c, c->worker->cfg->imap_idle_timeout);
	imap_cache_set_budget(c->worker->cfg->imap_cache_size);
	conn_printf(c, "* OK [CAPABILITY %s] %s IMAP4rev1 server ready\r\n",
		    imap_capabilities(s), c->worker->cfg->hostname);
}

static void
imap_input(struct conn *c)
{
	run_commands(c->session);
}

static void
imap_drained(struct conn *c)
{
	struct imap_session *s = c->session;

	if (s->fetch != NULL) {
		imap_fetch_continue(s);
		return;
	}
	if (s->out_paused) {
		s->out_paused = false;
		if (!s->busy)
			conn_resume_read(c);
	}
}

static void
imap_timeout(struct conn *c)
{
	conn_puts(c, "* BYE Autologout; idle for too long\r\n");
	conn_close(c, "idle timeout");
}

static void
imap_shutdown(struct conn *c)
{
	conn_puts(c, "* BYE Server shutting down\r\n");
}

static void
imap_free(struct conn *c)
{
	struct imap_session *s = c->session;

	if (s == NULL)
		return;
	ev_timer_stop(c->loop, &s->delay);
	imap_auth_abort(s);
	imap_fetch_free(s);
	imap_deselect(s);
	command_cleanup(s);
	if (s->have_acct)
		account_free(&s->acct);
	free(s->idle_tag);
	buf_free(&s->cmd);
	free(s);
	c->session = NULL;
}

const struct proto_ops imap_ops = {
	.name = "imap",
	.start = imap_start,
	.input = imap_input,
	.drained = imap_drained,
	.timeout = imap_timeout,
	.shutdown = imap_shutdown,
	.free = imap_free,
};
