/*
 * imap_cmd_mailbox - SELECT, EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE,
 * UNSUBSCRIBE, STATUS, CHECK, CLOSE and UNSELECT
 *
 * Mailbox names are validated as modified UTF-7 here and by the Maildir
 * layer, which also rejects names it cannot store (INBOX children, empty
 * parts). INBOX cannot be deleted, and renaming it moves its messages
 * into the new folder as RFC 3501 requires. The selected mailbox cannot be
 * deleted or renamed; the client must select another one first.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_names.h"
#include "imap_session.h"
#include "log.h"
#include "repl_write.h"
#include "xalloc.h"

static void
append_quoted(struct buf *b, const char *s)
{
	buf_putc(b, '"');
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			buf_putc(b, '\\');
		buf_putc(b, *s);
	}
	buf_putc(b, '"');
}

static bool
is_inbox(const char *name)
{
	return strcmp(name, "INBOX") == 0;
}

static bool
is_selected(struct imap_session *s, const char *name)
{
	return s->mb != NULL && strcmp(s->mb->name, name) == 0;
}

static int
select_common(struct imap_session *s, struct imap_parser *p, bool readonly)
{
	struct mailbox *mb;
	char err[512], *name, *dir;
	size_t i, recent = 0, unseen = 0;
	struct buf b = BUF_INIT;

	if (imap_parse_sp(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	name = imap_parse_mailbox_arg(s, p);
	if (name == NULL)
		return 0;
	if (imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		free(name);
		return 0;
	}
	imap_deselect(s);
	if (!imap_mailbox_exists(s, name)) {
		imap_no(s, "[NONEXISTENT] Mailbox does not exist");
		free(name);
		return 0;
	}
	/* Watch before the first sync so no change falls in between. */
	dir = maildir_folder_dir(s->acct.maildir, name);
	s->watching = imap_notify_add(s->c->loop, &s->watcher, dir) == 0;
	free(dir);
	repl_write_reset();
	if (mailbox_open(s->acct.maildir, name, readonly, &mb, err,
			 sizeof(err)) < 0) {
		imap_log_storage_error(s, "select", err);
		imap_deselect(s);
		imap_no(s, "[%s] Cannot open the mailbox",
			repl_write_refused() ? "UNAVAILABLE" : "SERVERBUG");
		free(name);
		return 0;
	}
	free(name);
	s->watcher.changed = false;
	s->mb = mb;
	s->readonly = readonly || mb->readonly;
	s->state = IMAP_SELECTED;
	imap_send_flags(s);
	recent = mailbox_recent_count(mb);
	for (i = 0; i < mb->count && unseen == 0; i++) {
		if (strchr(mb->msgs[i].flags, 'S') == NULL)
			unseen = i + 1;
	}
	buf_printf(&b, "* %zu EXISTS\r\n* %zu RECENT\r\n", mb->count, recent);
	if (unseen > 0)
		buf_printf(&b, "* OK [UNSEEN %zu] First unseen message\r\n",
			   unseen);
	buf_printf(&b, "* OK [UIDVALIDITY %u] UIDs valid\r\n", mb->uidvalidity);
	buf_printf(&b, "* OK [UIDNEXT %u] Predicted next UID\r\n", mb->uidnext);
	conn_write(s->c, b.data, b.len);
	buf_free(&b);
	imap_ok(s, "[%s] %s completed",
		s->readonly ? "READ-ONLY" : "READ-WRITE",
		readonly ? "EXAMINE" : "SELECT");
	return 0;
}

int
imap_cmd_select(struct imap_session *s, struct imap_parser *p)
{
	return select_common(s, p, false);
}

int
imap_cmd_examine(struct imap_session *s, struct imap_parser *p)
{
	return select_common(s, p, true);
}

/* Parses " mailbox" to the end of the command; NULL after a BAD. */
static char *
one_mailbox_arg(struct imap_session *s, struct imap_parser *p)
{
	char *name;

	if (imap_parse_sp(p) < 0) {
		imap_bad_parse(s, p);
		return NULL;
	}
	name = imap_parse_mailbox_arg(s, p);
	if (name != NULL && imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		free(name);
		return NULL;
	}
	return name;
}

/* The response code of a folder change that failed. */
static const char *
cannot_code(void)
{
	return repl_write_refused() ? "UNAVAILABLE" : "CANNOT";
}

int
imap_cmd_create(struct imap_session *s, struct imap_parser *p)
{
	char err[512], *name = one_mailbox_arg(s, p);
	size_t len;

	if (name == NULL)
		return 0;
	/* A trailing separator only declares the intent to have children. */
	len = strlen(name);
	if (len > 1 && name[len - 1] == IMAP_SEPARATOR)
		name[len - 1] = '\0';
	repl_write_reset();
	if (is_inbox(name) || imap_mailbox_exists(s, name)) {
		imap_no(s, "[ALREADYEXISTS] Mailbox already exists");
	} else if (maildir_folder_create(s->acct.maildir, name, err,
					 sizeof(err)) < 0) {
		imap_no(s, "[%s] Cannot create the mailbox: %s",
			cannot_code(), err);
	} else {
		log_info("conn=%lu imap create user=%s", s->c->id,
			 s->acct.address);
		imap_ok(s, "CREATE completed");
	}
	free(name);
	return 0;
}

int
imap_cmd_delete(struct imap_session *s, struct imap_parser *p)
{
	char err[512], *name = one_mailbox_arg(s, p);

	if (name == NULL)
		return 0;
	repl_write_reset();
	if (is_inbox(name))
		imap_no(s, "[CANNOT] INBOX cannot be deleted");
	else if (!imap_mailbox_exists(s, name))
		imap_no(s, "[NONEXISTENT] Mailbox does not exist");
	else if (is_selected(s, name))
		imap_no(s, "[INUSE] Cannot delete the selected mailbox");
	else if (maildir_folder_delete(s->acct.maildir, name, err,
				       sizeof(err)) < 0)
		imap_no(s, "[%s] Cannot delete the mailbox: %s",
			cannot_code(), err);
	else
		imap_ok(s, "DELETE completed");
	free(name);
	return 0;
}

/* Moves every INBOX message into the (new, empty) folder to. */
static int
rename_inbox(struct imap_session *s, const char *to, char *err,
	     size_t errlen)
{
	struct mailbox *mb;
	uint32_t uidvalidity, *uids;
	size_t *idx, i;
	int ret = 0;

	if (maildir_folder_create(s->acct.maildir, to, err, errlen) < 0)
		return -1;
	if (mailbox_open(s->acct.maildir, "INBOX", false, &mb, err, errlen) <
	    0)
		return -1;
	idx = xmalloc((mb->count + 1) * sizeof(*idx));
	uids = xmalloc((mb->count + 1) * sizeof(*uids));
	for (i = 0; i < mb->count; i++)
		idx[i] = i;
	if (mb->count > 0 &&
	    (mailbox_copy_msgs(mb, idx, mb->count, to, &uidvalidity, uids,
			       err, errlen) < 0 ||
	     mailbox_expunge_msgs(mb, idx, mb->count, err, errlen) < 0))
		ret = -1;
	free(idx);
	free(uids);
	mailbox_close(mb);
	return ret;
}

int
imap_cmd_rename(struct imap_session *s, struct imap_parser *p)
{
	char err[512], *from, *to = NULL;

	if (imap_parse_sp(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	from = imap_parse_mailbox_arg(s, p);
	if (from == NULL)
		return 0;
	if (imap_parse_sp(p) < 0) {
		imap_bad_parse(s, p);
		free(from);
		return 0;
	}
	to = imap_parse_mailbox_arg(s, p);
	if (to == NULL) {
		free(from);
		return 0;
	}
	if (imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		free(from);
		free(to);
		return 0;
	}
	repl_write_reset();
	if (!is_inbox(from) && !imap_mailbox_exists(s, from))
		imap_no(s, "[NONEXISTENT] Mailbox does not exist");
	else if (is_inbox(to) || imap_mailbox_exists(s, to))
		imap_no(s, "[ALREADYEXISTS] Target mailbox already exists");
	else if (is_selected(s, from))
		imap_no(s, "[INUSE] Cannot rename the selected mailbox");
	else if (is_inbox(from)
			 ? rename_inbox(s, to, err, sizeof(err)) < 0
			 : maildir_folder_rename(s->acct.maildir, from, to, err,
						 sizeof(err)) < 0)
		imap_no(s, "[%s] Cannot rename the mailbox: %s",
			cannot_code(), err);
	else
		imap_ok(s, "RENAME completed");
	free(from);
	free(to);
	return 0;
}

static int
subscribe_common(struct imap_session *s, struct imap_parser *p, bool on)
{
	char err[512], *name = one_mailbox_arg(s, p);

	if (name == NULL)
		return 0;
	repl_write_reset();
	if (maildir_subscribe(s->acct.maildir, name, on, err, sizeof(err)) < 0)
		imap_no(s, "[%s] %s failed: %s", cannot_code(),
			on ? "SUBSCRIBE" : "UNSUBSCRIBE", err);
	else
		imap_ok(s, "%s completed", on ? "SUBSCRIBE" : "UNSUBSCRIBE");
	free(name);
	return 0;
}

int
imap_cmd_subscribe(struct imap_session *s, struct imap_parser *p)
{
	return subscribe_common(s, p, true);
}

int
imap_cmd_unsubscribe(struct imap_session *s, struct imap_parser *p)
{
	return subscribe_common(s, p, false);
}

enum status_item {
	ST_MESSAGES = 1,
	ST_RECENT = 2,
	ST_UIDNEXT = 4,
	ST_UIDVALIDITY = 8,
	ST_UNSEEN = 16,
};

static const struct {
	const char *name;
	unsigned bit;
} status_items[] = {
	{"MESSAGES", ST_MESSAGES},	 {"RECENT", ST_RECENT},
	{"UIDNEXT", ST_UIDNEXT},	 {"UIDVALIDITY", ST_UIDVALIDITY},
	{"UNSEEN", ST_UNSEEN},
};

static int
parse_status_items(struct imap_parser *p, unsigned *items, unsigned *order,
		   size_t *n)
{
	*items = 0;
	*n = 0;
	if (!imap_accept(p, '('))
		return -1;
	do {
		char *atom;
		size_t i;
		bool found = false;

		if (imap_parse_atom(p, &atom) < 0)
			return -1;
		for (i = 0; i < 5; i++) {
			if (strcasecmp(atom, status_items[i].name) != 0)
				continue;
			found = true;
			if (!(*items & status_items[i].bit) && *n < 5)
				order[(*n)++] = (unsigned)i;
			*items |= status_items[i].bit;
		}
		if (!found)
			return -1;
	} while (imap_accept(p, ' '));
	return imap_accept(p, ')') ? 0 : -1;
}

int
imap_cmd_status(struct imap_session *s, struct imap_parser *p)
{
	struct mailbox *mb;
	struct buf b = BUF_INIT;
	unsigned items, order[5];
	size_t n, i, recent = 0, unseen = 0;
	char err[512], *name;

	if (imap_parse_sp(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	name = imap_parse_mailbox_arg(s, p);
	if (name == NULL)
		return 0;
	if (imap_parse_sp(p) < 0 ||
	    parse_status_items(p, &items, order, &n) < 0 ||
	    imap_parse_end(p) < 0) {
		imap_bad(s, "Invalid STATUS items: expected a list of "
			    "MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN");
		free(name);
		return 0;
	}
	if (!imap_mailbox_exists(s, name)) {
		imap_no(s, "[NONEXISTENT] Mailbox does not exist");
		free(name);
		return 0;
	}
	repl_write_reset();
	if (is_selected(s, name)) {
		mb = s->mb;
	} else if (mailbox_open(s->acct.maildir, name, true, &mb, err,
				sizeof(err)) < 0) {
		imap_log_storage_error(s, "status", err);
		imap_no(s, "[%s] Cannot open the mailbox",
			repl_write_refused() ? "UNAVAILABLE" : "SERVERBUG");
		free(name);
		return 0;
	}
	recent = mailbox_recent_count(mb);
	for (i = 0; i < mb->count; i++) {
		if (strchr(mb->msgs[i].flags, 'S') == NULL)
			unseen++;
	}
	buf_puts(&b, "* STATUS ");
	append_quoted(&b, name);
	buf_puts(&b, " (");
	for (i = 0; i < n; i++) {
		unsigned bit = status_items[order[i]].bit;
		unsigned long v = bit == ST_MESSAGES	? mb->count
				  : bit == ST_RECENT	? recent
				  : bit == ST_UIDNEXT	? mb->uidnext
				  : bit == ST_UIDVALIDITY ? mb->uidvalidity
							: unseen;

		buf_printf(&b, "%s%s %lu", i ? " " : "",
			   status_items[order[i]].name, v);
	}
	buf_puts(&b, ")\r\n");
	conn_write(s->c, b.data, b.len);
	buf_free(&b);
	if (mb != s->mb)
		mailbox_close(mb);
	free(name);
	imap_ok(s, "STATUS completed");
	return 0;
}

int
imap_cmd_check(struct imap_session *s, struct imap_parser *p)
{
	if (imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	imap_ok(s, "CHECK completed");
	return 0;
}

int
imap_cmd_close(struct imap_session *s, struct imap_parser *p)
{
	struct mailbox *mb = s->mb;
	char err[512];
	size_t *idx, i, n = 0;

	if (imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	if (!s->readonly) {
		idx = xmalloc((mb->count + 1) * sizeof(*idx));
		for (i = 0; i < mb->count; i++)
			if (strchr(mb->msgs[i].flags, 'T') != NULL)
				idx[n++] = i;
		if (n > 0 &&
		    mailbox_expunge_msgs(mb, idx, n, err, sizeof(err)) < 0)
			imap_log_storage_error(s, "close expunge", err);
		free(idx);
	}
	imap_deselect(s);
	imap_ok(s, "CLOSE completed");
	return 0;
}

int
imap_cmd_unselect(struct imap_session *s, struct imap_parser *p)
{
	if (imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	imap_deselect(s);
	imap_ok(s, "UNSELECT completed");
	return 0;
}

void
imap_append_quoted(struct buf *b, const char *s)
{
	append_quoted(b, s);
}
