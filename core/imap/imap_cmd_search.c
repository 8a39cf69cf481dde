/*
 * imap_cmd_search - SEARCH and UID SEARCH
 *
 * CHARSET may name UTF-8 or US-ASCII (US-ASCII is a subset); any other
 * charset gets NO [BADCHARSET]. Messages are tested one at a time and a
 * message's content is read only when a content key is reached, so
 * memory stays at one message however large the mailbox.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "imap_search.h"
#include "imap_session.h"
#include "mime/mime.h"
#include "xalloc.h"

struct search_ctx {
	struct imap_session *s;
	size_t index;
	struct buf data;
	struct search_msg msg;
};

static int
load_message(struct search_msg *m)
{
	size_t off = offsetof(struct search_ctx, msg);
	struct search_ctx *ctx = (struct search_ctx *)((char *)m - off);

	if (imap_read_message(ctx->s, ctx->index, &ctx->data) < 0)
		return -1;
	m->data = ctx->data.data ? ctx->data.data : "";
	m->len = ctx->data.len;
	m->mime = mime_parse(m->data, m->len);
	return 0;
}

static char
keyword_letter(void *mb, const char *name)
{
	return imap_keyword_letter(mb, name);
}

/* Reads an optional "CHARSET name " prefix; -1 after replying. */
static int
parse_charset(struct imap_session *s, struct imap_parser *p)
{
	const char *save = p->p;
	struct imap_string cs;
	char *atom;

	if (imap_parse_atom(p, &atom) < 0 || strcasecmp(atom, "CHARSET") != 0) {
		p->p = save;
		p->error = NULL;
		return 0;
	}
	if (imap_parse_sp(p) < 0 || imap_parse_astring(p, &cs) < 0 ||
	    imap_parse_sp(p) < 0) {
		imap_bad_parse(s, p);
		return -1;
	}
	if (strcasecmp(cs.data, "UTF-8") != 0 &&
	    strcasecmp(cs.data, "US-ASCII") != 0) {
		imap_no(s, "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset");
		return -1;
	}
	return 0;
}

int
imap_cmd_search(struct imap_session *s, struct imap_parser *p)
{
	struct mailbox *mb = s->mb;
	struct search_key *root;
	struct search_ctx ctx;
	struct buf out = BUF_INIT;
	uint32_t max_uid;
	size_t i;

	if (imap_parse_sp(p) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	if (parse_charset(s, p) < 0)
		return 0;
	if (imap_parse_search(p, &root) < 0) {
		imap_bad_parse(s, p);
		return 0;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.s = s;
	max_uid = mb->count ? mb->msgs[mb->count - 1].uid : 0;
	buf_puts(&out, "* SEARCH");
	for (i = 0; i < mb->count; i++) {
		struct maildir_msg *m = &mb->msgs[i];
		struct search_msg *sm = &ctx.msg;

		memset(sm, 0, sizeof(*sm));
		sm->seq = (uint32_t)(i + 1);
		sm->uid = m->uid;
		sm->max_seq = (uint32_t)mb->count;
		sm->max_uid = max_uid;
		sm->size = m->size;
		sm->flags = m->flags;
		sm->internal_date = m->internal_date;
		sm->recent = mailbox_msg_recent(mb, i);
		sm->keyword_letter = keyword_letter;
		sm->ctx = mb;
		sm->load = load_message;
		ctx.index = i;
		if (imap_search_match(root, sm))
			buf_printf(&out, " %u", s->uid ? m->uid : sm->seq);
		if (sm->mime != NULL)
			mime_free(sm->mime);
		buf_reset(&ctx.data);
	}
	buf_puts(&out, "\r\n");
	conn_write(s->c, out.data, out.len);
	buf_free(&out);
	buf_free(&ctx.data);
	imap_ok(s, "%sSEARCH completed", s->uid ? "UID " : "");
	return 0;
}
