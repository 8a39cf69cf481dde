/*
 * address - RFC 5322 address lists for the IMAP ENVELOPE
 *
 * The value is split into tokens (atoms, quoted strings, domain literals,
 * dots and specials, with comments and white space skipped), then read
 * as mailboxes, angle addresses with optional obsolete routes, and
 * groups. Anything that fits none of these is skipped one token at a
 * time, so every input ends and gives a best-effort list. Following
 * Dovecot's convention an address with no domain gets the host
 * "MISSING_DOMAIN" and one with no local part the mailbox
 * "MISSING_MAILBOX", since a NIL host would read as a group marker.
 * Display names keep RFC 2047 encoded words as they are; clients decode.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "mime-internal.h"
#include "xalloc.h"

enum tok_kind { TOK_ATOM, TOK_QUOTED, TOK_DOT, TOK_DOMLIT, TOK_SPECIAL };

struct tok {
	enum tok_kind kind;
	char c;		   /* TOK_SPECIAL: the character */
	char *text;	   /* ATOM, QUOTED (unescaped), DOMLIT (raw) */
	bool space_before; /* white space or a comment before it */
};

struct toklist {
	struct tok *v;
	size_t n, cap;
};

struct addrlist {
	struct mime_addr *v;
	size_t n, cap;
};

static bool
is_special(unsigned char c)
{
	return strchr("()<>[]:;@\\,.\"", c) != NULL;
}

static bool
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void
push_tok(struct toklist *l, enum tok_kind kind, char c, char *text, bool space)
{
	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 16 : l->cap * 2;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n].kind = kind;
	l->v[l->n].c = c;
	l->v[l->n].text = text;
	l->v[l->n].space_before = space;
	l->n++;
}

static void
tokenize(const char *s, size_t n, struct toklist *l)
{
	size_t i = 0;
	bool space = false;

	while (i < n) {
		unsigned char c = (unsigned char)s[i];

		if (is_space(c)) {
			space = true;
			i++;
		} else if (c == '(') {
			int level = 0;

			do {
				if (s[i] == '\\' && i + 1 < n)
					i++;
				else if (s[i] == '(')
					level++;
				else if (s[i] == ')')
					level--;
				i++;
			} while (i < n && level > 0);
			space = true;
		} else if (c == '"') {
			struct buf b = BUF_INIT;

			for (i++; i < n && s[i] != '"'; i++) {
				if (s[i] == '\\' && i + 1 < n)
					i++;
				buf_putc(&b, s[i]);
			}
			i++;
			push_tok(l, TOK_QUOTED, 0,
				 xstrndup(b.data == NULL ? "" : b.data, b.len),
				 space);
			buf_free(&b);
			space = false;
		} else if (c == '[') {
			size_t start = i;

			while (i < n && s[i] != ']')
				i++;
			if (i < n)
				i++;
			push_tok(l, TOK_DOMLIT, 0,
				 xstrndup(s + start, i - start), space);
			space = false;
		} else if (c == '.') {
			push_tok(l, TOK_DOT, '.', NULL, space);
			space = false;
			i++;
		} else if (is_special(c)) {
			push_tok(l, TOK_SPECIAL, (char)c, NULL, space);
			space = false;
			i++;
		} else {
			size_t start = i;

			while (i < n && !is_space((unsigned char)s[i]) &&
			       !is_special((unsigned char)s[i]))
				i++;
			push_tok(l, TOK_ATOM, 0, xstrndup(s + start, i - start),
				 space);
			space = false;
		}
	}
}

static bool
is_word(const struct tok *t)
{
	return t->kind == TOK_ATOM || t->kind == TOK_QUOTED ||
	       t->kind == TOK_DOT;
}

static bool
is_special_tok(const struct toklist *l, size_t i, char c)
{
	return i < l->n && l->v[i].kind == TOK_SPECIAL && l->v[i].c == c;
}

/* Joins words [from, to) as a display name, or NULL if it is empty. */
static char *
join_phrase(const struct toklist *l, size_t from, size_t to)
{
	struct buf b = BUF_INIT;
	size_t i;
	char *s;

	for (i = from; i < to; i++) {
		const struct tok *t = &l->v[i];

		if (i > from && t->space_before)
			buf_putc(&b, ' ');
		buf_puts(&b, t->kind == TOK_DOT ? "." : t->text);
	}
	if (b.len == 0) {
		buf_free(&b);
		return NULL;
	}
	s = xstrndup(b.data, b.len);
	buf_free(&b);
	return s;
}

static bool
is_dot_atom(const char *s)
{
	const char *p;

	if (*s == '\0' || *s == '.')
		return false;
	for (p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '.' && (p[1] == '.' || p[1] == '\0'))
			return false;
		if (c != '.' && (c <= ' ' || c == 0x7f || is_special(c)))
			return false;
	}
	return true;
}

/* Joins words [from, to) as a local part, quoting it if it needs that. */
static char *
join_local(const struct toklist *l, size_t from, size_t to)
{
	struct buf b = BUF_INIT, q = BUF_INIT;
	size_t i;
	char *s;

	for (i = from; i < to; i++)
		buf_puts(&b, l->v[i].kind == TOK_DOT ? "." : l->v[i].text);
	if (b.len == 0) {
		buf_free(&b);
		return xstrdup("MISSING_MAILBOX");
	}
	if (is_dot_atom(buf_cstr(&b))) {
		s = xstrndup(b.data, b.len);
		buf_free(&b);
		return s;
	}
	buf_putc(&q, '"');
	for (i = 0; i < b.len; i++) {
		if (b.data[i] == '"' || b.data[i] == '\\')
			buf_putc(&q, '\\');
		buf_putc(&q, b.data[i]);
	}
	buf_putc(&q, '"');
	s = xstrndup(q.data, q.len);
	buf_free(&b);
	buf_free(&q);
	return s;
}

/* Reads a domain (atoms and dots, or a literal) at *i. */
static char *
read_domain(const struct toklist *l, size_t *i)
{
	struct buf b = BUF_INIT;
	size_t j = *i;
	char *s;

	while (j < l->n) {
		const struct tok *t = &l->v[j];

		if (t->kind == TOK_DOT) {
			buf_putc(&b, '.');
		} else if (t->kind == TOK_ATOM || t->kind == TOK_DOMLIT) {
			/* "a@b c@d": a new atom after a gap starts anew. */
			if (b.len > 0 && t->space_before &&
			    b.data[b.len - 1] != '.')
				break;
			buf_puts(&b, t->text);
		} else {
			break;
		}
		j++;
	}
	*i = j;
	if (b.len == 0) {
		buf_free(&b);
		return xstrdup("MISSING_DOMAIN");
	}
	s = xstrndup(b.data, b.len);
	buf_free(&b);
	return s;
}

static void
push_addr(struct addrlist *a, char *name, char *adl, char *mailbox, char *host)
{
	if (a->n == a->cap) {
		a->cap = a->cap == 0 ? 4 : a->cap * 2;
		a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
	}
	a->v[a->n].name = name;
	a->v[a->n].adl = adl;
	a->v[a->n].mailbox = mailbox;
	a->v[a->n].host = host;
	a->n++;
}

/* Reads "<[@route,@route:]local@domain>" with *i just past the '<'. */
static void
read_angle_addr(const struct toklist *l, size_t *i, char *name,
		struct addrlist *out)
{
	size_t j = *i, from;
	char *adl = NULL, *mailbox, *host;

	if (is_special_tok(l, j, '@')) {
		struct buf b = BUF_INIT;
		size_t k = j;

		/* Only '@', ',' and domains may appear in a route, so the
		 * scan stops early and a list of '<' stays linear. */
		while (k < l->n && (l->v[k].kind != TOK_SPECIAL ||
				    l->v[k].c == '@' || l->v[k].c == ',')) {
			const struct tok *t = &l->v[k];

			if (t->kind == TOK_SPECIAL)
				buf_putc(&b, t->c);
			else
				buf_puts(&b,
					 t->kind == TOK_DOT ? "." : t->text);
			k++;
		}
		if (is_special_tok(l, k, ':')) {
			adl = xstrndup(b.data, b.len);
			j = k + 1;
		}
		buf_free(&b);
	}
	from = j;
	while (j < l->n && is_word(&l->v[j]))
		j++;
	if (is_special_tok(l, j, '>') && j == from && adl == NULL) {
		/* "<>", the null reverse path. */
		push_addr(out, name, NULL, xstrdup(""), xstrdup(""));
		*i = j + 1;
		return;
	}
	mailbox = join_local(l, from, j);
	if (is_special_tok(l, j, '@')) {
		j++;
		host = read_domain(l, &j);
	} else {
		host = xstrdup("MISSING_DOMAIN");
	}
	while (j < l->n && !is_special_tok(l, j, '>') &&
	       !is_special_tok(l, j, ','))
		j++;
	if (is_special_tok(l, j, '>'))
		j++;
	push_addr(out, name, adl, mailbox, host);
	*i = j;
}

/*
 * Reads one mailbox at *i: "phrase <addr>", "local@domain" or a bare word.
 * Always consumes at least one token.
 */
static void
read_mailbox(const struct toklist *l, size_t *i, struct addrlist *out)
{
	size_t from = *i, j = *i;

	while (j < l->n && is_word(&l->v[j]))
		j++;
	if (is_special_tok(l, j, '<')) {
		*i = j + 1;
		read_angle_addr(l, i, join_phrase(l, from, j), out);
		return;
	}
	if (is_special_tok(l, j, '@')) {
		char *mailbox = join_local(l, from, j);

		j++;
		push_addr(out, NULL, NULL, mailbox, read_domain(l, &j));
		*i = j;
		return;
	}
	if (j > from) {
		char *mailbox = join_phrase(l, from, j);

		if (mailbox == NULL)
			mailbox = xstrdup("MISSING_MAILBOX");
		push_addr(out, NULL, NULL, mailbox, xstrdup("MISSING_DOMAIN"));
		*i = j;
		return;
	}
	*i = j + 1; /* a stray special */
}

size_t
mime_parse_addresses(const char *s, size_t n, struct mime_addr **addrs)
{
	struct toklist l = {NULL, 0, 0};
	struct addrlist out = {NULL, 0, 0};
	size_t i = 0, k;

	tokenize(s, n, &l);
	while (i < l.n) {
		size_t j = i;

		if (is_special_tok(&l, i, ',') || is_special_tok(&l, i, ';') ||
		    is_special_tok(&l, i, '>')) {
			i++;
			continue;
		}
		while (j < l.n && is_word(&l.v[j]))
			j++;
		if (!is_special_tok(&l, j, ':')) {
			read_mailbox(&l, &i, &out);
			continue;
		}
		push_addr(&out, NULL, NULL, join_phrase(&l, i, j), NULL);
		if (out.v[out.n - 1].mailbox == NULL)
			out.v[out.n - 1].mailbox = xstrdup("");
		i = j + 1;
		while (i < l.n && !is_special_tok(&l, i, ';')) {
			if (is_special_tok(&l, i, ',') ||
			    is_special_tok(&l, i, ':') ||
			    is_special_tok(&l, i, '>')) {
				i++;
				continue;
			}
			read_mailbox(&l, &i, &out);
		}
		if (i < l.n)
			i++;
		push_addr(&out, NULL, NULL, NULL, NULL);
	}
	for (k = 0; k < l.n; k++)
		free(l.v[k].text);
	free(l.v);
	*addrs = out.v;
	return out.n;
}

void
mime_free_addresses(struct mime_addr *addrs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(addrs[i].name);
		free(addrs[i].adl);
		free(addrs[i].mailbox);
		free(addrs[i].host);
	}
	free(addrs);
}
