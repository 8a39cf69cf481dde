/*
 * imap_cmd_copy - COPY and MOVE (RFC 6851), with COPYUID (RFC 4315)
 *
 * Copies are hard links where the file system allows, made durable
 * before the reply; a failed COPY removes the copies it made. MOVE
 * copies, reports COPYUID in an untagged OK, then expunges the sources,
 * whose EXPUNGE responses follow from the sync before the tagged OK. A
 * missing target gets NO [TRYCREATE].
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "imap_session.h"
#include "log.h"
#include "repl_write.h"
#include "xalloc.h"

/* Appends a UID list as ranges ("4:6,9"); uids need not be sorted in
 * this compact form, so only runs of consecutive values are joined. */
static void
append_uid_set(struct buf *b, const uint32_t *uids, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		buf_printf(b, "%s%u", i ? "," : "", uids[i]);
		if (j > i)
			buf_printf(b, ":%u", uids[j]);
		i = j + 1;
	}
}

static int
copy_common(struct imap_session *s, struct imap_parser *p, bool move)
{
	struct mailbox *mb = s->mb;
	struct imap_seqset set;
	struct buf code = BUF_INIT;
	uint32_t uidvalidity = 0, *src = NULL, *dst = NULL;
	size_t *idx = NULL, i;
	char err[512], *name = NULL;
	long n;

	if (imap_parse_sp(p) < 0 || imap_parse_seqset(p, &set) < 0 ||
	    imap_parse_sp(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	name = imap_parse_mailbox_arg(s, p);
	if (name == NULL)
		return 0;
	if (imap_parse_end(p) < 0) {
		imap_bad_parse(s, p);
		goto out;
	}
	if (move && s->readonly) {
		imap_no(s, "[READ-ONLY] The mailbox is read-only");
		goto out;
	}
	if (!imap_mailbox_exists(s, name)) {
		imap_no(s, "[TRYCREATE] Target mailbox does not exist");
		goto out;
	}
	n = imap_resolve_set(s, &set, &idx);
	if (n < 0)
		goto out;
	if (n == 0) {
		imap_ok(s, "%s completed: no messages", move ? "MOVE" : "COPY");
		goto out;
	}
	src = xmalloc((size_t)n * sizeof(*src));
	dst = xmalloc((size_t)n * sizeof(*dst));
	for (i = 0; i < (size_t)n; i++)
		src[i] = mb->msgs[idx[i]].uid;
	repl_write_reset();
	if (mailbox_copy_msgs(mb, idx, (size_t)n, name, &uidvalidity, dst, err,
			      sizeof(err)) < 0) {
		imap_log_storage_error(s, move ? "move" : "copy", err);
		imap_no(s, "[%s] %s failed; nothing was copied",
			repl_write_refused() ? "UNAVAILABLE" : "SERVERBUG", move ? "MOVE" : "COPY");
		goto out;
	}
	if (strcmp(name, mb->name) == 0)
		s->watcher.changed = true;
	buf_printf(&code, "COPYUID %u ", uidvalidity);
	append_uid_set(&code, src, (size_t)n);
	buf_putc(&code, ' ');
	append_uid_set(&code, dst, (size_t)n);
	if (!move) {
		imap_ok(s, "[%s] COPY completed", buf_cstr(&code));
		goto out;
	}
	conn_printf(s->c, "* OK [%s] Moved\r\n", buf_cstr(&code));
	if (mailbox_expunge_msgs(mb, idx, (size_t)n, err, sizeof(err)) < 0) {
		imap_log_storage_error(s, "move expunge", err);
		s->watcher.changed = true;
		imap_no(s, "[%s] Messages were copied but not all "
			   "removed from the source",
			repl_write_refused() ? "UNAVAILABLE" : "SERVERBUG");
		goto out;
	}
	s->watcher.changed = true;
	imap_ok(s, "MOVE completed");
out:
	buf_free(&code);
	free(src);
	free(dst);
	free(idx);
	free(name);
	return 0;
}

int
imap_cmd_copy(struct imap_session *s, struct imap_parser *p)
{
	return copy_common(s, p, false);
}

int
imap_cmd_move(struct imap_session *s, struct imap_parser *p)
{
	return copy_common(s, p, true);
}
