/*
 * parse - MIME tree of a message in memory (RFC 2045, RFC 2046)
 *
 * The tree is built top-down: each part's header is read, then a
 * multipart body is split at lines "--boundary" that are followed only by
 * white space ("--boundary--" closes), and a message/rfc822 body is parsed
 * as a message of its own. Boundary lines must match exactly, so nested
 * boundaries that are prefixes of each other stay apart. The line break
 * before a boundary line belongs to the boundary. A multipart with no
 * boundary parameter or no boundary line has no children; an unterminated
 * one ends its last part at the end of its own body.
 *
 * Limits: MIME_MAX_DEPTH levels and MIME_MAX_PARTS parts. A multipart or
 * message/rfc822 part that would go past either becomes an opaque
 * application/octet-stream part over the rest of its range.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mime-internal.h"
#include "xalloc.h"

struct parse_ctx {
	const char *msg;
	size_t nparts;
};

static void parse_part(struct parse_ctx *ctx, struct mime_part *p, size_t start,
		       size_t end, unsigned depth, bool in_digest);

static size_t
count_lf(const char *s, size_t n)
{
	size_t lines = 0;
	const char *p = s, *e = s + n;

	while (p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL) {
		lines++;
		p++;
	}
	return lines;
}

static void
set_default_type(struct mime_part *p, bool in_digest)
{
	p->type = xstrdup(in_digest ? "message" : "text");
	p->subtype = xstrdup(in_digest ? "rfc822" : "plain");
}

/* Stores the first occurrence of each Content-* field the tree needs. */
static void
read_content_fields(struct parse_ctx *ctx, struct mime_part *p, bool in_digest)
{
	const char *msg = ctx->msg;
	size_t pos = p->header_start;
	struct hdr_field f;
	bool have_type = false;

	while (hdr_next(msg, &pos, p->header_end, &f)) {
		char **dst = NULL;
		char *v;

		if (f.name_len < 8 || !mime_ieq(f.name, 8, "content-"))
			continue;
		if (hdr_name_is(&f, "content-type")) {
			if (have_type)
				continue;
			have_type = true;
			v = hdr_unfold(f.value, f.value_len, NULL);
			mime_parse_params(v, true, &p->type, &p->subtype,
					  &p->params, &p->nparams);
			free(v);
			continue;
		}
		if (hdr_name_is(&f, "content-disposition")) {
			if (p->disposition != NULL)
				continue;
			v = hdr_unfold(f.value, f.value_len, NULL);
			mime_parse_params(v, false, &p->disposition, NULL,
					  &p->disp_params, &p->ndisp_params);
			free(v);
			if (p->disposition == NULL) {
				mime_free_params(p->disp_params,
						 p->ndisp_params);
				p->disp_params = NULL;
				p->ndisp_params = 0;
			}
			continue;
		}
		if (hdr_name_is(&f, "content-transfer-encoding"))
			dst = &p->encoding;
		else if (hdr_name_is(&f, "content-id"))
			dst = &p->id;
		else if (hdr_name_is(&f, "content-description"))
			dst = &p->description;
		else if (hdr_name_is(&f, "content-language"))
			dst = &p->language;
		else if (hdr_name_is(&f, "content-location"))
			dst = &p->location;
		else if (hdr_name_is(&f, "content-md5"))
			dst = &p->md5;
		if (dst != NULL && *dst == NULL)
			*dst = hdr_unfold(f.value, f.value_len, NULL);
	}
	if (p->type == NULL) {
		mime_free_params(p->params, p->nparams);
		p->params = NULL;
		p->nparams = 0;
		set_default_type(p, in_digest);
	}
	if (strcmp(p->type, "text") == 0 &&
	    mime_param_get(p->params, p->nparams, "charset") == NULL) {
		/* RFC 2045 section 5.2: text defaults to US-ASCII. */
		p->params =
		    xrealloc(p->params, (p->nparams + 1) * sizeof(*p->params));
		p->params[p->nparams].name = xstrdup("charset");
		p->params[p->nparams].value = xstrdup("us-ascii");
		p->nparams++;
	}
}

static void
make_opaque(struct mime_part *p)
{
	free(p->type);
	free(p->subtype);
	p->type = xstrdup("application");
	p->subtype = xstrdup("octet-stream");
}

/*
 * Tests whether the line at pos is "--boundary" or "--boundary--" with
 * only white space after it. Sets *close for the closing form.
 */
static bool
is_boundary_line(const char *msg, size_t pos, size_t end, const char *b,
		 size_t blen, bool *close)
{
	size_t i;

	if (end - pos < blen + 2 || msg[pos] != '-' || msg[pos + 1] != '-' ||
	    memcmp(msg + pos + 2, b, blen) != 0)
		return false;
	i = pos + 2 + blen;
	*close = false;
	if (i + 1 < end && msg[i] == '-' && msg[i + 1] == '-') {
		*close = true;
		i += 2;
	}
	while (i < end && (mime_is_wsp(msg[i]) || msg[i] == '\r'))
		i++;
	return i == end || msg[i] == '\n';
}

static struct mime_part *
add_child(struct mime_part *p, size_t *cap)
{
	struct mime_part *c;

	if (p->nchildren == *cap) {
		*cap = *cap == 0 ? 4 : *cap * 2;
		p->children =
		    xrealloc(p->children, *cap * sizeof(*p->children));
	}
	c = &p->children[p->nchildren++];
	memset(c, 0, sizeof(*c));
	return c;
}

/*
 * Adds one child over [start, end). Once the part limit is reached the
 * child becomes opaque and covers the rest of the multipart body instead;
 * returns false then, so the caller stops splitting.
 */
static bool
split_child(struct parse_ctx *ctx, struct mime_part *p, size_t *cap,
	    size_t start, size_t end, unsigned depth, bool digest)
{
	struct mime_part *c = add_child(p, cap);

	if (ctx->nparts + 1 >= MIME_MAX_PARTS) {
		ctx->nparts++;
		c->header_start = c->header_end = c->body_start = start;
		c->body_end = p->body_end;
		c->body_lines = count_lf(ctx->msg + start, p->body_end - start);
		c->type = xstrdup("application");
		c->subtype = xstrdup("octet-stream");
		return false;
	}
	parse_part(ctx, c, start, end, depth + 1, digest);
	return true;
}

static void
parse_multipart(struct parse_ctx *ctx, struct mime_part *p, unsigned depth)
{
	const char *msg = ctx->msg;
	const char *b = mime_param_get(p->params, p->nparams, "boundary");
	bool digest = strcmp(p->subtype, "digest") == 0;
	size_t blen, pos, cap = 0, part_start = 0;
	bool open = false;

	if (b == NULL || (blen = strlen(b)) == 0)
		return;
	for (pos = p->body_start; pos < p->body_end;) {
		const char *lf = memchr(msg + pos, '\n', p->body_end - pos);
		size_t eol = lf == NULL ? p->body_end : (size_t)(lf - msg);
		size_t next = lf == NULL ? p->body_end : eol + 1;
		bool close;

		if (is_boundary_line(msg, pos, eol, b, blen, &close)) {
			if (open) {
				size_t e = pos;

				if (e > part_start && msg[e - 1] == '\n')
					e--;
				if (e > part_start && msg[e - 1] == '\r')
					e--;
				if (!split_child(ctx, p, &cap, part_start, e,
						 depth, digest))
					return;
			}
			if (close)
				return;
			open = true;
			part_start = next;
		}
		pos = next;
	}
	if (open)
		split_child(ctx, p, &cap, part_start, p->body_end, depth,
			    digest);
}

static void
parse_part(struct parse_ctx *ctx, struct mime_part *p, size_t start, size_t end,
	   unsigned depth, bool in_digest)
{
	bool multipart, message;

	ctx->nparts++;
	p->header_start = start;
	hdr_bounds(ctx->msg, start, end, &p->header_end, &p->body_start);
	p->body_end = end;
	p->body_lines =
	    count_lf(ctx->msg + p->body_start, p->body_end - p->body_start);
	read_content_fields(ctx, p, in_digest);

	multipart = strcmp(p->type, "multipart") == 0;
	message = strcmp(p->type, "message") == 0 &&
		  strcmp(p->subtype, "rfc822") == 0;
	if (!multipart && !message)
		return;
	if (depth + 1 >= MIME_MAX_DEPTH || ctx->nparts >= MIME_MAX_PARTS) {
		make_opaque(p);
		return;
	}
	if (multipart) {
		parse_multipart(ctx, p, depth);
		return;
	}
	p->message = xcalloc(1, sizeof(*p->message));
	parse_part(ctx, p->message, p->body_start, p->body_end, depth + 1,
		   false);
}

struct mime_part *
mime_parse(const char *msg, size_t len)
{
	struct parse_ctx ctx = {msg == NULL ? "" : msg, 0};
	struct mime_part *root = xcalloc(1, sizeof(*root));

	parse_part(&ctx, root, 0, len, 0, false);
	return root;
}

static void
free_part_members(struct mime_part *p)
{
	size_t i;

	free(p->type);
	free(p->subtype);
	mime_free_params(p->params, p->nparams);
	free(p->id);
	free(p->description);
	free(p->encoding);
	free(p->disposition);
	mime_free_params(p->disp_params, p->ndisp_params);
	free(p->language);
	free(p->location);
	free(p->md5);
	for (i = 0; i < p->nchildren; i++)
		free_part_members(&p->children[i]);
	free(p->children);
	if (p->message != NULL) {
		free_part_members(p->message);
		free(p->message);
	}
}

void
mime_free(struct mime_part *root)
{
	if (root == NULL)
		return;
	free_part_members(root);
	free(root);
}
