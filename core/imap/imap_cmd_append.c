/*
 * imap_cmd_append - APPEND with flags, date-time and UIDPLUS APPENDUID
 *
 * The message is stored byte for byte as the literal carried it, made
 * durable before the OK. Keywords need the target folder's keyword
 * table, so the folder is opened for them unless it is the selected one.
 * A missing target gets NO [TRYCREATE]. MULTIAPPEND is not offered.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "imap_session.h"
#include "log.h"
#include "repl_write.h"

static bool
has_keywords(char **flags, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (flags[i][0] != '\\')
			return true;
	return false;
}

int
imap_cmd_append(struct imap_session *s, struct imap_parser *p)
{
	struct imap_string msg;
	struct mailbox *target = NULL;
	char letters[48] = "", err[512], **flags = NULL, *name;
	const char *why;
	size_t nflags = 0;
	time_t date = 0;
	uint32_t uidvalidity, uid;
	bool bad;

	if (imap_parse_sp(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	name = imap_parse_mailbox_arg(s, p);
	if (name == NULL)
		return 0;
	if (imap_parse_sp(p) < 0)
		goto syntax;
	if (imap_peek(p) == '(' &&
	    (imap_parse_flag_list(p, &flags, &nflags) < 0 ||
	     imap_parse_sp(p) < 0))
		goto syntax;
	if (imap_peek(p) == '"' &&
	    (imap_parse_date_time(p, &date) < 0 || imap_parse_sp(p) < 0))
		goto syntax;
	if (imap_parse_literal_data(p, &msg) < 0 || imap_parse_end(p) < 0)
		goto syntax;

	/* NUL cannot be sent back in an IMAP literal (RFC 3501 section
	 * 4.3), and SMTP rejects it too. */
	if (memchr(msg.data, '\0', msg.len) != NULL) {
		imap_no(s, "[CANNOT] The message contains a NUL octet");
		free(name);
		return 0;
	}
	if (!imap_mailbox_exists(s, name)) {
		imap_no(s, "[TRYCREATE] Target mailbox does not exist");
		free(name);
		return 0;
	}
	if (has_keywords(flags, nflags)) {
		if (s->mb != NULL && strcmp(s->mb->name, name) == 0)
			target = s->mb;
		else if (mailbox_open(s->acct.maildir, name, false, &target,
				      err, sizeof(err)) < 0)
			imap_log_storage_error(s, "append keywords", err);
	}
	if (imap_flags_parse(target, flags, nflags, true, letters, &why,
			     &bad) < 0) {
		if (bad)
			imap_bad(s, "%s", why);
		else
			imap_no(s, "%s", why);
		goto out;
	}
	repl_write_reset();
	if (mailbox_append(s->acct.maildir, name, msg.data, msg.len, letters,
			   date, &uidvalidity, &uid, err, sizeof(err)) < 0) {
		imap_log_storage_error(s, "append", err);
		imap_no(s, "[%s] Cannot store the message",
			repl_write_refused() ? "UNAVAILABLE" : "SERVERBUG");
		goto out;
	}
	log_info("conn=%lu imap append user=%s size=%zu uid=%u", s->c->id,
		 s->acct.address, msg.len, uid);
	if (s->mb != NULL && strcmp(s->mb->name, name) == 0)
		s->watcher.changed = true;
	imap_ok(s, "[APPENDUID %u %u] APPEND completed", uidvalidity, uid);
out:
	if (target != NULL && target != s->mb)
		mailbox_close(target);
	free(name);
	return 0;
syntax:
	imap_bad_parse(s, p);
	free(name);
	return 0;
}
