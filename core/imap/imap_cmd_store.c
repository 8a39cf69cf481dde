/*
 * imap_cmd_store - STORE, EXPUNGE and UID EXPUNGE (RFC 4315)
 *
 * STORE changes the flags of all messages in the set with one lock and
 * one fsync, and replies with FETCH FLAGS for each message unless
 * .SILENT is given. A new keyword first adds it to the folder's keyword
 * table and announces the new FLAGS list. EXPUNGE deletes the \Deleted
 * messages (UID EXPUNGE only those in its UID set); the EXPUNGE responses
 * come from the mailbox sync that follows, so expunges by other sessions
 * are reported in the same pass.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imap_session.h"
#include "repl_write.h"
#include "xalloc.h"

/* Reads "+FLAGS.SILENT" and the like into op and silent. */
static int
parse_store_att(const char *att, char *op, bool *silent)
{
	*op = '=';
	if (*att == '+' || *att == '-')
		*op = *att++;
	if (strncasecmp(att, "FLAGS", 5) != 0)
		return -1;
	att += 5;
	*silent = strcasecmp(att, ".SILENT") == 0;
	return *silent || *att == '\0' ? 0 : -1;
}

static int
parse_store_flags(struct imap_parser *p, char ***flags, size_t *n)
{
	size_t cap = 8;

	if (imap_peek(p) == '(')
		return imap_parse_flag_list(p, flags, n);
	/* Flags without parentheses, separated by spaces. */
	*flags = imap_parser_alloc(p, cap * sizeof(char *));
	*n = 0;
	do {
		if (*n + 1 >= cap) {
			size_t size = cap * 2 * sizeof(char *);
			char **grown = imap_parser_alloc(p, size);

			memcpy(grown, *flags, *n * sizeof(char *));
			*flags = grown;
			cap *= 2;
		}
		if (imap_parse_flag(p, &(*flags)[*n]) < 0)
			return -1;
		(*n)++;
	} while (imap_accept(p, ' '));
	return 0;
}

int
imap_cmd_store(struct imap_session *s, struct imap_parser *p)
{
	struct mailbox *mb = s->mb;
	struct imap_seqset set;
	struct buf out = BUF_INIT;
	char letters[48], err[512], *att, **flags, op;
	char (*newflags)[48] = NULL;
	const char **flag_ptrs = NULL, *msg;
	size_t nflags, *idx = NULL, *changed = NULL, nchanged = 0, i;
	bool silent, bad;
	long n;

	if (imap_parse_sp(p) < 0 || imap_parse_seqset(p, &set) < 0 ||
	    imap_parse_sp(p) < 0 || imap_parse_atom(p, &att) < 0 ||
	    parse_store_att(att, &op, &silent) < 0 || imap_parse_sp(p) < 0 ||
	    parse_store_flags(p, &flags, &nflags) < 0 ||
	    imap_parse_end(p) < 0) {
		if (p->error == NULL)
			p->error = "Invalid STORE attribute: expected "
				   "[+|-]FLAGS[.SILENT]";
		imap_bad_parse(s, p);
		return 0;
	}
	if (s->readonly) {
		imap_no(s, "[READ-ONLY] The mailbox is read-only");
		return 0;
	}
	n = imap_resolve_set(s, &set, &idx);
	if (n < 0)
		return 0;
	repl_write_reset();
	if (imap_flags_parse(mb, flags, nflags, op != '-', letters, &msg,
			     &bad) < 0) {
		if (bad)
			imap_bad(s, "%s", msg);
		else if (repl_write_refused())
			/* A new keyword could not be replicated. */
			imap_no(s, "[UNAVAILABLE] Cannot store the flags now");
		else
			imap_no(s, "%s", msg);
		free(idx);
		return 0;
	}
	newflags = xcalloc((size_t)n + 1, sizeof(*newflags));
	flag_ptrs = xcalloc((size_t)n + 1, sizeof(*flag_ptrs));
	changed = xcalloc((size_t)n + 1, sizeof(*changed));
	for (i = 0; i < (size_t)n; i++) {
		imap_flags_apply(mb->msgs[idx[i]].flags, letters, op,
				 newflags[nchanged]);
		if (strcmp(newflags[nchanged], mb->msgs[idx[i]].flags) == 0)
			continue;
		flag_ptrs[nchanged] = newflags[nchanged];
		changed[nchanged++] = idx[i];
	}
	if (nchanged > 0 &&
	    mailbox_set_flags_many(mb, changed, flag_ptrs, nchanged, err,
				   sizeof(err)) < 0) {
		imap_log_storage_error(s, "store", err);
		imap_no(s, "[%s] Cannot store the flags",
			repl_write_refused() ? "UNAVAILABLE" : "SERVERBUG");
		goto out;
	}
	if (s->keywords_announced != 0 || op != '-') {
		size_t k, used = 0;

		for (k = 0; k < MAILDIR_MAX_KEYWORDS; k++)
			used += mb->keywords[k] != NULL;
		if (used != s->keywords_announced)
			imap_send_flags(s);
	}
	for (i = 0; i < (size_t)n && !silent; i++) {
		const struct maildir_msg *m = &mb->msgs[idx[i]];

		buf_printf(&out, "* %zu FETCH (", idx[i] + 1);
		if (s->uid)
			buf_printf(&out, "UID %u ", m->uid);
		buf_puts(&out, "FLAGS ");
		imap_flags_format(&out, mb, m->flags,
				  mailbox_msg_recent(mb, idx[i]));
		buf_puts(&out, ")\r\n");
		if (out.len > 65536) {
			conn_write(s->c, out.data, out.len);
			buf_reset(&out);
		}
	}
	conn_write(s->c, out.data, out.len);
	imap_ok(s, "%sSTORE completed", s->uid ? "UID " : "");
out:
	buf_free(&out);
	free(newflags);
	free(flag_ptrs);
	free(changed);
	free(idx);
	return 0;
}

int
imap_cmd_expunge(struct imap_session *s, struct imap_parser *p)
{
	struct mailbox *mb = s->mb;
	struct imap_seqset set;
	size_t *idx, i, n = 0;
	char err[512];

	if (s->uid &&
	    (imap_parse_sp(p) < 0 || imap_parse_seqset(p, &set) < 0)) {
		imap_bad_parse(s, p);
		return 0;
	}
	if (imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	if (s->readonly) {
		imap_no(s, "[READ-ONLY] The mailbox is read-only");
		return 0;
	}
	idx = xmalloc((mb->count + 1) * sizeof(*idx));
	for (i = 0; i < mb->count; i++) {
		const struct maildir_msg *m = &mb->msgs[i];

		if (strchr(m->flags, 'T') == NULL)
			continue;
		if (s->uid && mb->count > 0 &&
		    !imap_seqset_contains(&set, m->uid,
					  mb->msgs[mb->count - 1].uid))
			continue;
		idx[n++] = i;
	}
	repl_write_reset();
	if (n > 0 && mailbox_expunge_msgs(mb, idx, n, err, sizeof(err)) < 0) {
		imap_log_storage_error(s, "expunge", err);
		s->watcher.changed = true;
		imap_no(s, "[%s] Cannot expunge all messages",
			repl_write_refused() ? "UNAVAILABLE" : "SERVERBUG");
		free(idx);
		return 0;
	}
	free(idx);
	s->watcher.changed = true;
	imap_ok(s, "%sEXPUNGE completed", s->uid ? "UID " : "");
	return 0;
}
